//! The `rego` evaluator: a Rego (OPA) policy, compiled once and asked for a verdict on
//! each proposal, deterministically.
//!
//! The policy's entry point (by default `data.swarmvote.decision`) is evaluated with the
//! proposal as `input` (see [`super::proposal_input`]). It must be either undefined (the
//! policy has no opinion: no vote, the agent decides) or an object
//! `{"vote": "yes" | "no", "reason": "..."}` (`reason` optional). Anything else is a
//! policy error, as is a failure to evaluate: the caller casts no vote and warns.
//!
//! Determinism: the same policy text and input give the same result on every machine.
//! regorus is built without the builtins that read the clock, the network, the
//! environment or OS randomness (`time.*`, `http.send`, `uuid.*`, `rand.*`, `opa.runtime`;
//! a policy that calls one does not compile), and policies run on regorus's bytecode VM,
//! whose cap is a count of executed instructions ([`MAX_INSTRUCTIONS`]), not a wall
//! clock, so a policy that runs too long fails the same way on a fast and a slow machine.
//! The source is capped too ([`MAX_POLICY_BYTES`], [`MAX_POLICY_LINES`]).

use std::io::Read;
use std::num::{NonZeroU32, NonZeroUsize};
use std::sync::Arc;

use regorus::languages::rego::compiler::Compiler;
use regorus::rvm::program::Program;
use regorus::rvm::vm::{RegoVM, VmError};
use regorus::{Engine, PolicyLengthConfig, Value};
use serde::Deserialize;

use crate::message::{Reason, Vote};

/// The entry point asked for when the config names none.
pub const DEFAULT_ENTRYPOINT: &str = "data.swarmvote.decision";
/// The largest policy source, in bytes.
pub const MAX_POLICY_BYTES: usize = 256 * 1024;
/// The most lines a policy source may have.
pub const MAX_POLICY_LINES: usize = 10_000;
/// The longest line of a policy source, in bytes.
pub const MAX_POLICY_COLUMNS: u32 = 1024;
/// Bytecode instructions one evaluation may execute. The example policy needs a few
/// hundred per proposal; reaching the cap takes about 2.3 ms in a release build (the
/// `rego` bench), so the node can evaluate inline, in its event loop.
pub const MAX_INSTRUCTIONS: usize = 100_000;

/// Why a Rego policy did not compile, or did not give a verdict.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RegoError {
    /// The source is over [`MAX_POLICY_BYTES`].
    #[error("{file}: policy is {bytes} bytes; at most {limit} are allowed")]
    TooLarge {
        /// The policy's name (its file).
        file: String,
        /// Its size.
        bytes: usize,
        /// The limit.
        limit: usize,
    },
    /// The source does not parse or compile, or lacks the entry point.
    #[error("{location}: {message}")]
    Compile {
        /// `file:line:col`, or the file alone when regorus gives no position.
        location: String,
        /// What is wrong.
        message: String,
    },
    /// Evaluation failed, such as by running past [`MAX_INSTRUCTIONS`].
    #[error("{location}: {message}")]
    Eval {
        /// `file:line:col` of the instruction that failed, or the file.
        location: String,
        /// What went wrong.
        message: String,
    },
    /// The entry point gave something other than undefined or `{"vote", "reason"}`.
    #[error(
        "{file}: {entrypoint} must be {{\"vote\": \"yes\"|\"no\", \"reason\": \"...\"}} or undefined, not {found}"
    )]
    BadResult {
        /// The policy's name.
        file: String,
        /// The entry point.
        entrypoint: String,
        /// What it gave (shortened).
        found: String,
    },
    /// The reason is not a valid ballot reason.
    #[error("{file}: {entrypoint}.reason: {message}")]
    Reason {
        /// The policy's name.
        file: String,
        /// The entry point.
        entrypoint: String,
        /// What is wrong with it.
        message: String,
    },
}

/// A compiled Rego policy: cheap to clone, shareable across threads.
#[derive(Clone)]
pub struct RegoPolicy {
    file: Arc<str>,
    entrypoint: Arc<str>,
    program: Arc<Program>,
}

impl std::fmt::Debug for RegoPolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegoPolicy")
            .field("file", &self.file)
            .field("entrypoint", &self.entrypoint)
            .field("instructions", &self.program.instructions.len())
            .finish()
    }
}

/// The `{"vote", "reason"}` a policy answers.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Verdict {
    vote: Vote,
    #[serde(default)]
    reason: Option<String>,
}

impl RegoPolicy {
    /// Compiles `source`, named `file` in messages, for `entrypoint` (a rule path such as
    /// `data.swarmvote.decision`). Errors name the file, and the line when regorus knows it.
    pub fn compile(file: &str, source: &str, entrypoint: &str) -> Result<Self, RegoError> {
        if source.len() > MAX_POLICY_BYTES {
            return Err(RegoError::TooLarge {
                file: file.to_owned(),
                bytes: source.len(),
                limit: MAX_POLICY_BYTES,
            });
        }
        let mut engine = Engine::new();
        engine.set_policy_length_config(length_limits());
        engine
            .add_policy(file.to_owned(), source.to_owned())
            .map_err(|e| compile_error(file, e))?;
        let compiled = engine
            .compile_with_entrypoint(&entrypoint.into())
            .map_err(|e| compile_error(file, e))?;
        let program = Compiler::compile_from_policy(&compiled, &[entrypoint])
            .map_err(|e| compile_error(file, e))?;
        Ok(Self {
            file: file.into(),
            entrypoint: entrypoint.into(),
            program,
        })
    }

    /// The policy's name, as given to [`RegoPolicy::compile`].
    pub fn file(&self) -> &str {
        &self.file
    }

    /// Asks the policy about `input` (see [`super::proposal_input`]): a vote and its
    /// reason, or `None` when the entry point is undefined.
    pub fn decide(
        &self,
        input: &serde_json::Value,
    ) -> Result<Option<(Vote, Option<Reason>)>, RegoError> {
        let mut vm = RegoVM::new();
        vm.load_program(Arc::clone(&self.program));
        vm.set_max_instructions(MAX_INSTRUCTIONS);
        vm.set_input(Value::from(input.clone()));
        let result = vm
            .execute_entry_point_by_name(&self.entrypoint)
            .map_err(|e| self.eval_error(&vm, &e))?;
        self.verdict(result)
    }

    fn verdict(&self, result: Value) -> Result<Option<(Vote, Option<Reason>)>, RegoError> {
        if result == Value::Undefined {
            return Ok(None);
        }
        let bad = || RegoError::BadResult {
            file: self.file.to_string(),
            entrypoint: self.entrypoint.to_string(),
            found: excerpt(&result),
        };
        let json = serde_json::to_value(&result).map_err(|_| bad())?;
        let v: Verdict = serde_json::from_value(json).map_err(|_| bad())?;
        let reason = v
            .reason
            .filter(|r| !r.trim().is_empty())
            .map(Reason::new)
            .transpose()
            .map_err(|e| RegoError::Reason {
                file: self.file.to_string(),
                entrypoint: self.entrypoint.to_string(),
                message: e.to_string(),
            })?;
        Ok(Some((v.vote, reason)))
    }

    /// An evaluation error, placed at the source line of the instruction that failed.
    fn eval_error(&self, vm: &RegoVM, e: &VmError) -> RegoError {
        let program = &self.program;
        let location = program
            .get_instruction_span(vm.get_pc())
            .map(|span| {
                let file = program
                    .get_source_name(span.source_index)
                    .unwrap_or(&self.file);
                format!("{file}:{}:{}", span.line, span.column)
            })
            .unwrap_or_else(|| self.file.to_string());
        let message = match e {
            VmError::InstructionLimitExceeded { limit, .. } => {
                format!("evaluation stopped after {limit} instructions (the cap)")
            }
            other => other.to_string(),
        };
        RegoError::Eval { location, message }
    }
}

/// Reads a policy source from `reader` (the caller opens the file), at most one byte
/// past [`MAX_POLICY_BYTES`]: a source too large is then refused by its size, without
/// reading all of it.
pub fn read_source(reader: impl Read) -> std::io::Result<String> {
    let limit = u64::try_from(MAX_POLICY_BYTES)
        .unwrap_or(u64::MAX)
        .saturating_add(1);
    let mut text = String::new();
    reader.take(limit).read_to_string(&mut text)?;
    Ok(text)
}

/// A compile error from regorus (an `anyhow` chain, shown whole with `{:#}`).
fn compile_error(file: &str, e: impl std::fmt::Display) -> RegoError {
    let (location, message) = split_located(file, &format!("{e:#}"));
    RegoError::Compile { location, message }
}

/// The source limits regorus enforces while parsing.
fn length_limits() -> PolicyLengthConfig {
    let mut limits = PolicyLengthConfig::default();
    if let (Some(max_col), Some(max_file_bytes), Some(max_lines)) = (
        NonZeroU32::new(MAX_POLICY_COLUMNS),
        NonZeroUsize::new(MAX_POLICY_BYTES),
        NonZeroUsize::new(MAX_POLICY_LINES),
    ) {
        limits = PolicyLengthConfig {
            max_col,
            max_file_bytes,
            max_lines,
        };
    }
    limits
}

/// Splits a regorus message, which places an error as `--> file:line:col` above a
/// source excerpt and ends with `error: what`, into the location and one line of text.
fn split_located(file: &str, text: &str) -> (String, String) {
    let location = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("--> "))
        .map(str::to_owned);
    let Some(location) = location else {
        let one_line = text.split_whitespace().collect::<Vec<_>>().join(" ");
        return (file.to_owned(), one_line);
    };
    let last = text
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or_default();
    let message = last.trim().strip_prefix("error: ").unwrap_or(last.trim());
    (location, message.to_owned())
}

/// A value's JSON, shortened for a message.
fn excerpt(v: &Value) -> String {
    let text = v.to_json_str().unwrap_or_else(|_| format!("{v:?}"));
    let mut out: String = text.chars().take(120).collect();
    if out.len() < text.len() {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic)]

    use serde_json::json;

    use super::*;

    const EXAMPLE: &str = include_str!("../../../configs/policies/swarmvote.rego");

    fn policy(text: &str) -> RegoPolicy {
        RegoPolicy::compile("test.rego", text, DEFAULT_ENTRYPOINT).unwrap()
    }

    fn input(action: &str, payload: serde_json::Value) -> serde_json::Value {
        json!({
            "id": "00", "action": action, "payload": payload,
            "proposer": {"name": "alice", "key": "00"}, "created_at": 0, "expires_at": 1,
        })
    }

    fn vote(p: &RegoPolicy, action: &str, payload: serde_json::Value) -> Option<Vote> {
        p.decide(&input(action, payload)).unwrap().map(|(v, _)| v)
    }

    #[test]
    fn the_example_policy_votes_with_reasons() {
        let p = policy(EXAMPLE);
        let (v, r) = p
            .decide(&input("fs.delete", json!({"path": "/backup/a.tar"})))
            .unwrap()
            .unwrap();
        assert_eq!(v, Vote::No);
        assert_eq!(
            r.unwrap().as_str(),
            "/backup/a.tar is a backup: backups are protected"
        );
        assert_eq!(
            vote(&p, "fs.delete", json!({"path": "/tmp/a"})),
            Some(Vote::Yes)
        );
        assert_eq!(
            vote(&p, "db.drop", json!({"name": "prod-1"})),
            Some(Vote::No)
        );
        assert_eq!(
            vote(&p, "iam.grant", json!({"role": "admin:x"})),
            Some(Vote::No)
        );
        // Fields of the wrong type make a rule undefined, not an error.
        assert_eq!(vote(&p, "db.drop", json!({"name": 3})), Some(Vote::Yes));
        assert_eq!(vote(&p, "x", json!(null)), Some(Vote::Yes));
    }

    #[test]
    fn undefined_is_no_opinion_and_anything_else_but_a_verdict_is_an_error() {
        let p =
            policy("package swarmvote\ndecision := {\"vote\": \"no\"} if input.action == \"x\"\n");
        assert_eq!(vote(&p, "y", json!({})), None);
        assert_eq!(vote(&p, "x", json!({})), Some(Vote::No));
        for bad in [
            "\"yes\"",
            "{\"vote\": \"maybe\"}",
            "{\"vote\": \"yes\", \"extra\": 1}",
            "{\"vote\": \"yes\", \"reason\": 3}",
            "{\"reason\": \"r\"}",
            "true",
        ] {
            let p = policy(&format!("package swarmvote\ndecision := {bad}\n"));
            let e = p.decide(&input("x", json!({}))).unwrap_err();
            assert!(matches!(e, RegoError::BadResult { .. }), "{bad}: {e}");
        }
        let long = "x".repeat(crate::message::MAX_REASON_BYTES + 1);
        let p = policy(
            "package swarmvote\ndecision := {\"vote\": \"no\", \"reason\": input.payload.r}\n",
        );
        assert!(matches!(
            p.decide(&input("x", json!({"r": long}))),
            Err(RegoError::Reason { .. })
        ));
    }

    #[test]
    fn compile_errors_name_the_file_and_line() {
        let e = RegoPolicy::compile(
            "p.rego",
            "package swarmvote\n\ndecision := {\"vote\": \"yes\"} if {\n  input.x ==\n}\n",
            DEFAULT_ENTRYPOINT,
        )
        .unwrap_err();
        let RegoError::Compile { location, message } = &e else {
            panic!("{e}");
        };
        assert!(location.starts_with("p.rego:5:"), "{e}");
        assert!(!message.contains('\n'), "{message}");
        // A missing entry point is refused at compile time.
        let e = RegoPolicy::compile("p.rego", "package other\nx := 1\n", DEFAULT_ENTRYPOINT)
            .unwrap_err();
        assert!(e.to_string().starts_with("p.rego"), "{e}");
    }

    #[test]
    fn builtins_that_reach_outside_do_not_compile() {
        for call in [
            "rand.intn(\"k\", 10)",
            "time.now_ns()",
            "http.send({\"method\": \"get\", \"url\": \"http://x\"})",
            "uuid.rfc4122(\"k\")",
            "opa.runtime()",
            "net.cidr_contains(\"10.0.0.0/8\", \"10.1.1.1\")",
        ] {
            let text = format!(
                "package swarmvote\ndecision := {{\"vote\": \"yes\", \"reason\": sprintf(\"%v\", [{call}])}}\n"
            );
            let r = RegoPolicy::compile("p.rego", &text, DEFAULT_ENTRYPOINT);
            assert!(
                matches!(r, Err(RegoError::Compile { .. })),
                "{call} compiled"
            );
        }
    }

    #[test]
    fn a_policy_that_runs_too_long_stops_at_the_instruction_cap() {
        let p = policy(
            "package swarmvote\n\
             decision := {\"vote\": \"yes\"} if {\n\
             \tn := count([1 | some i in numbers.range(1, 1000); some j in numbers.range(1, 1000); i != j])\n\
             \tn > 0\n\
             }\n",
        );
        let e = p.decide(&input("x", json!({}))).unwrap_err();
        let RegoError::Eval { location, message } = &e else {
            panic!("{e}");
        };
        assert!(message.contains("instructions"), "{e}");
        assert!(location.starts_with("test.rego:"), "{e}");
        // The same every time: the cap counts instructions, not time.
        assert_eq!(p.decide(&input("x", json!({}))).unwrap_err(), e);
    }

    #[test]
    fn a_policy_too_large_does_not_compile() {
        let text = format!(
            "package swarmvote\n{}decision := {{\"vote\": \"yes\"}}\n",
            "# padding padding padding padding padding padding padding padding\n"
                .repeat(MAX_POLICY_BYTES / 60)
        );
        assert!(matches!(
            RegoPolicy::compile("big.rego", &text, DEFAULT_ENTRYPOINT),
            Err(RegoError::TooLarge { .. })
        ));
        let wide = format!("package swarmvote\n# {}\n", "x".repeat(2000));
        assert!(matches!(
            RegoPolicy::compile("wide.rego", &wide, DEFAULT_ENTRYPOINT),
            Err(RegoError::Compile { .. })
        ));
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]

        /// The same proposal and policy give the same vote and reason: twice, from a
        /// second compilation of the same text, and on another thread.
        #[test]
        fn the_same_proposal_and_policy_always_give_the_same_verdict(
            action in "(fs|db|iam|k8s|svc)\\.(delete|drop|grant|query|move)",
            path in "/(backup|tmp|backups|srv)(/[a-z.]{0,6}){0,3}",
            name in "(prod|staging|dev)-[a-z]{0,5}",
            role in "(admin|reader|Cluster-Admin|writer)(:[a-z]{1,4})?",
            sql in "(DROP|drop|SELECT|Grant) (TABLE|database|x) [a-z]{1,6}",
            env in "(prod|production|dev)",
            paths in proptest::collection::vec("/[a-z]{1,4}(/[a-z]{1,3})?", 0..3),
            created_at in 0u64..4_000_000_000_000,
        ) {
            let first = policy(EXAMPLE);
            let input = json!({
                "id": "ab".repeat(32), "action": action,
                "payload": {"path": path, "name": name, "role": role, "sql": sql, "database": name, "env": env, "paths": paths},
                "proposer": {"name": "alice", "key": "cd".repeat(32)},
                "created_at": created_at, "expires_at": created_at + 60_000,
            });
            let a = first.decide(&input);
            proptest::prop_assert!(matches!(a, Ok(Some(_))), "{a:?}");
            proptest::prop_assert_eq!(&first.decide(&input), &a);
            proptest::prop_assert_eq!(&policy(EXAMPLE).decide(&input), &a);
            let other = std::thread::spawn({
                let (p, input) = (first.clone(), input.clone());
                move || p.decide(&input)
            })
            .join()
            .unwrap();
            proptest::prop_assert_eq!(&other, &a);
        }
    }
}
