//! How a node votes on its own: `manual` (never), `policy` (ordered rules), `rego` (a Rego
//! policy) or `command` (an external program).
//!
//! The config section, the policy rules and Rego evaluation are pure and live in
//! [`swarmvote_protocol::policy`] (the simulator votes by them too); this module reads the
//! Rego policy file, runs them, and runs the `command` evaluator.
//!
//! A `rego` policy is compiled once, at start, and evaluated inline for each proposal
//! (bounded by an instruction cap, so a few milliseconds at worst). A policy error
//! (evaluation failed, ran past the cap, or answered something other than a verdict)
//! casts no vote and logs a warning naming the policy file and line.
//!
//! A `command` evaluator runs a program (no shell) once per proposal, asynchronously, with
//! the proposal as JSON on stdin: `{"id", "action", "payload", "proposer": {"name",
//! "key"}, "created_at", "expires_at"}` ([`proposal_input`]: ids and keys in hex, times in
//! unix ms, the payload as a JSON value). Its stdout
//! is either a first line `yes` or `no`, optionally followed by whitespace and a reason,
//! or a single JSON object `{"vote": "yes"|"no", "reason": "..."}` (no other fields).
//! Anything else, a non-zero exit, a failure to start or running past `timeout_ms` (the
//! process group is then killed) casts no vote and logs a warning naming the proposal:
//! the node never casts a vote it did not mean. At most 16 programs run at once; up to
//! 1,024 more proposals wait for a slot, and beyond that a proposal is not evaluated (a
//! warning says so). A verdict goes back to the driver, which votes through the engine's
//! own-vote guard like any other vote.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;
use swarmvote_protocol::policy::{Checked, RegoPolicy, Rules, proposal_input, read_source};
use swarmvote_protocol::{ProposalId, Reason, SignedProposal, Vote};
use tokio::sync::{Semaphore, mpsc};
use tracing::{debug, warn};

use crate::daemon::executor::{OUTPUT_LIMIT, run_bounded};

/// Command evaluations running at once.
const MAX_RUNNING: usize = 16;
/// Command evaluations waiting for a slot; more are skipped with a warning.
const MAX_QUEUED: usize = 1024;

pub use swarmvote_protocol::policy::{
    EvaluatorError, EvaluatorKind, EvaluatorSection, RuleSection,
};

/// A verdict of the command evaluator, for the driver to cast.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CommandVerdict {
    /// The proposal it is about.
    pub proposal: ProposalId,
    /// The vote.
    pub vote: Vote,
    /// Why.
    pub reason: Option<Reason>,
}

struct CommandRunner {
    argv: Arc<[String]>,
    timeout: Duration,
    /// Evaluations queued or running: the bound on waiting work.
    slots: Arc<Semaphore>,
    /// Evaluations running.
    running: Arc<Semaphore>,
    tx: mpsc::Sender<CommandVerdict>,
    rx: mpsc::Receiver<CommandVerdict>,
}

/// A compiled evaluator.
pub struct Evaluator {
    rules: Option<Rules>,
    rego: Option<RegoPolicy>,
    command: Option<CommandRunner>,
}

/// Reads a Rego policy file, bounded (a file too large is refused by its size).
pub fn read_policy(path: &Path) -> Result<String, String> {
    std::fs::File::open(path)
        .and_then(read_source)
        .map_err(|e| e.to_string())
}

impl Evaluator {
    /// Compiles the config section, reading a `rego` policy file (a path as given: the
    /// config resolves it).
    pub fn new(section: &EvaluatorSection) -> Result<Self, EvaluatorError> {
        let none = Self {
            rules: None,
            rego: None,
            command: None,
        };
        match section.check_with(&read_policy)? {
            Checked::Manual => Ok(none),
            Checked::Policy(rules) => Ok(Self {
                rules: Some(rules),
                ..none
            }),
            Checked::Rego(policy) => Ok(Self {
                rego: Some(policy),
                ..none
            }),
            Checked::Command => {
                // Every queued evaluation may hold a verdict: the channel never blocks a
                // finished evaluation for long.
                let (tx, rx) = mpsc::channel(MAX_RUNNING);
                Ok(Self {
                    command: Some(CommandRunner {
                        argv: section.command.clone().into(),
                        timeout: Duration::from_millis(section.timeout_ms),
                        slots: Arc::new(Semaphore::new(MAX_RUNNING.saturating_add(MAX_QUEUED))),
                        running: Arc::new(Semaphore::new(MAX_RUNNING)),
                        tx,
                        rx,
                    }),
                    ..none
                })
            }
        }
    }

    /// The vote this node casts on its own now, if a policy rule matches or the Rego
    /// policy answers. `proposer_name` is the proposer's roster name, for the evaluators'
    /// input. A `command` evaluator starts its program here and returns `None`; its
    /// verdict comes later from [`Evaluator::next_verdict`]. Call it from within the tokio
    /// runtime.
    pub fn evaluate(
        &self,
        proposal: &SignedProposal,
        proposer_name: Option<&str>,
    ) -> Option<(Vote, Option<Reason>)> {
        if let Some(runner) = &self.command {
            runner.start(proposal, proposer_name);
            return None;
        }
        if let Some(policy) = &self.rego {
            return decide_rego(policy, proposal, proposer_name);
        }
        self.rules.as_ref()?.decide(proposal.proposal())
    }
}

impl Evaluator {
    /// The next verdict of the command evaluator. Pending forever for the other kinds.
    pub async fn next_verdict(&mut self) -> CommandVerdict {
        match &mut self.command {
            Some(runner) => match runner.rx.recv().await {
                Some(v) => v,
                // Unreachable while the runner holds a sender.
                None => std::future::pending().await,
            },
            None => std::future::pending().await,
        }
    }
}

/// The Rego policy's verdict; an error casts no vote and warns (the error names the
/// policy file and line).
fn decide_rego(
    policy: &RegoPolicy,
    proposal: &SignedProposal,
    proposer_name: Option<&str>,
) -> Option<(Vote, Option<Reason>)> {
    let id = proposal.id();
    let input = proposal_input(id, proposal.proposal(), proposer_name);
    match policy.decide(&input) {
        Ok(verdict) => {
            if verdict.is_none() {
                debug!(proposal = %id.short(), policy = policy.file(), "rego policy has no opinion");
            }
            verdict
        }
        Err(e) => {
            warn!(
                proposal = %id.short(),
                action = %proposal.proposal().action,
                policy = policy.file(),
                error = %e,
                "rego policy cast no vote"
            );
            None
        }
    }
}

impl CommandRunner {
    fn start(&self, proposal: &SignedProposal, proposer_name: Option<&str>) {
        let id = proposal.id();
        let p = proposal.proposal();
        let Ok(slot) = Arc::clone(&self.slots).try_acquire_owned() else {
            warn!(
                proposal = %id.short(),
                action = %p.action,
                queued = MAX_QUEUED,
                "evaluator queue full; not evaluating this proposal (no vote)"
            );
            return;
        };
        let Ok(handle) = tokio::runtime::Handle::try_current() else {
            warn!(proposal = %id.short(), "no async runtime for the evaluator (no vote)");
            return;
        };
        let input = proposal_input(id, p, proposer_name);
        let mut stdin = input.to_string().into_bytes();
        stdin.push(b'\n');
        let action = p.action.to_string();
        let (argv, timeout) = (Arc::clone(&self.argv), self.timeout);
        let (running, tx) = (Arc::clone(&self.running), self.tx.clone());
        handle.spawn(async move {
            let _slot = slot;
            let Ok(_permit) = running.acquire_owned().await else {
                return;
            };
            let captured = run_bounded(&argv, &[], stdin, timeout, OUTPUT_LIMIT).await;
            let verdict = match captured.failure() {
                Some(why) => Err(why),
                None => parse_verdict(&captured.stdout.bytes).map_err(|e| e.to_string()),
            };
            match verdict {
                Ok((vote, reason)) => {
                    debug!(proposal = %id.short(), %vote, "evaluator command answered");
                    let _ = tx
                        .send(CommandVerdict {
                            proposal: id,
                            vote,
                            reason,
                        })
                        .await;
                }
                Err(mut why) => {
                    let stderr = excerpt(&String::from_utf8_lossy(&captured.stderr.bytes));
                    if !stderr.is_empty() {
                        why = format!("{why} (stderr: {stderr})");
                    }
                    warn!(
                        proposal = %id.short(),
                        %action,
                        reason = %why,
                        "evaluator cast no vote"
                    );
                }
            }
        });
    }
}

/// The `{"vote", "reason"}` form.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct JsonVerdict {
    vote: Vote,
    #[serde(default)]
    reason: Option<String>,
}

/// One line of at most 200 characters, for a log field.
fn excerpt(text: &str) -> String {
    let line = text.trim().lines().next().unwrap_or_default();
    let mut out: String = line.chars().take(200).collect();
    if out.len() < line.len() {
        out.push('…');
    }
    out
}

/// Why a command's output is not a verdict.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerdictError {
    /// The output is not UTF-8.
    #[error("output is not UTF-8")]
    NotUtf8,
    /// Nothing but whitespace.
    #[error("no output")]
    Empty,
    /// A JSON object that is not `{"vote", "reason"}`.
    #[error("unrecognised JSON verdict ({error}): {excerpt}")]
    Json {
        /// serde_json's message.
        error: String,
        /// The output's first line, shortened.
        excerpt: String,
    },
    /// A first word other than `yes` or `no`.
    #[error("unrecognised output: {excerpt}")]
    Unrecognised {
        /// The output's first line, shortened.
        excerpt: String,
    },
    /// The reason is not a valid ballot reason.
    #[error("invalid reason: {message}")]
    Reason {
        /// What is wrong with it.
        message: String,
    },
}

/// Reads a command's answer; anything not clearly a verdict is an error.
pub fn parse_verdict(stdout: &[u8]) -> Result<(Vote, Option<Reason>), VerdictError> {
    let text = std::str::from_utf8(stdout).map_err(|_| VerdictError::NotUtf8)?;
    let text = text.trim();
    if text.is_empty() {
        return Err(VerdictError::Empty);
    }
    let (vote, reason) = if text.starts_with('{') {
        let v: JsonVerdict = serde_json::from_str(text).map_err(|e| VerdictError::Json {
            error: e.to_string(),
            excerpt: excerpt(text),
        })?;
        (v.vote, v.reason.filter(|r| !r.trim().is_empty()))
    } else {
        let line = text.lines().next().unwrap_or_default().trim();
        let (word, rest) = line.split_once(char::is_whitespace).unwrap_or((line, ""));
        let vote = match word {
            "yes" => Vote::Yes,
            "no" => Vote::No,
            _ => {
                return Err(VerdictError::Unrecognised {
                    excerpt: excerpt(text),
                });
            }
        };
        let rest = rest.trim();
        (vote, (!rest.is_empty()).then(|| rest.to_owned()))
    };
    let reason = reason
        .map(Reason::new)
        .transpose()
        .map_err(|e| VerdictError::Reason {
            message: e.to_string(),
        })?;
    Ok((vote, reason))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;

    #[test]
    fn verdicts_parse_strictly() {
        let ok = |s: &str| parse_verdict(s.as_bytes()).unwrap();
        let reason = |s: &str| Some(Reason::new(s).unwrap());
        assert_eq!(ok("yes\n"), (Vote::Yes, None));
        assert_eq!(
            ok("no  protects /backup \nmore"),
            (Vote::No, reason("protects /backup"))
        );
        assert_eq!(ok("yes\tfine"), (Vote::Yes, reason("fine")));
        assert_eq!(
            ok(r#"{"vote":"no","reason":"nope"}"#),
            (Vote::No, reason("nope"))
        );
        assert_eq!(ok("{\"vote\": \"yes\"}\n"), (Vote::Yes, None));
        for bad in [
            "",
            "  \n",
            "maybe",
            "yesno",
            "Yes",
            "y",
            "nope",
            r#"{"vote":"maybe"}"#,
            r#"{"vote":"yes","extra":1}"#,
            r#"{"vote":"yes"} trailing"#,
            r#"{"reason":"no vote"}"#,
        ] {
            assert!(parse_verdict(bad.as_bytes()).is_err(), "{bad:?} accepted");
        }
        assert!(parse_verdict(b"yes \xff").is_err());
        let long = format!("yes {}", "x".repeat(5000));
        assert!(parse_verdict(long.as_bytes()).is_err());
    }

    #[test]
    fn command_config_is_checked() {
        let mut s = EvaluatorSection {
            kind: EvaluatorKind::Command,
            ..EvaluatorSection::default()
        };
        assert!(matches!(Evaluator::new(&s), Err(EvaluatorError::NoCommand)));
        s.command = vec!["/bin/true".into()];
        assert!(Evaluator::new(&s).is_ok());
        s.timeout_ms = 0;
        assert!(matches!(
            Evaluator::new(&s),
            Err(EvaluatorError::ZeroTimeout)
        ));
        s.timeout_ms = 10;
        s.kind = EvaluatorKind::Manual;
        assert!(matches!(
            Evaluator::new(&s),
            Err(EvaluatorError::WrongKind { .. })
        ));
    }
}
