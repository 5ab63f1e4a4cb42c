//! The `[evaluator]` config section and its pure evaluators, shared by the node (which
//! votes by them) and the simulator (whose members vote as the node would).
//!
//! * `policy` ([`Rules`]): a rule matches the proposal's action with a glob and,
//!   optionally, string fields of the payload with globs (`payload = { path =
//!   "/backup/**" }`) and numeric fields with bounds (`above = { replicas = 10 }`). The
//!   first matching rule decides the vote and its reason. When no rule matches, the vote
//!   is left to the agent (manual).
//! * `rego` ([`RegoPolicy`]): a Rego policy file judges [`proposal_input`].
//!
//! Reading a `rego` policy file and running a `command` evaluator are I/O and stay with
//! the caller: [`EvaluatorSection::check_with`] is handed the reading.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::message::Vote;

mod input;
mod rego;
mod rules;

pub use input::proposal_input;
pub use rego::{
    DEFAULT_ENTRYPOINT, MAX_INSTRUCTIONS, MAX_POLICY_BYTES, MAX_POLICY_COLUMNS, MAX_POLICY_LINES,
    RegoError, RegoPolicy, read_source,
};
pub use rules::Rules;

fn default_timeout_ms() -> u64 {
    5_000
}

/// `[evaluator]` as written in the config.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EvaluatorSection {
    /// `manual`, `policy`, `rego` or `command`.
    #[serde(default)]
    pub kind: EvaluatorKind,
    /// The rules, in order, for `policy`.
    #[serde(default)]
    pub rules: Vec<RuleSection>,
    /// Program and arguments, for `command`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub command: Vec<String>,
    /// Milliseconds a `command` may run before it is killed and no vote is cast.
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
    /// The policy file, for `rego`. The node resolves a relative path against the config
    /// file's directory, the simulator against the scenario's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy: Option<PathBuf>,
    /// The rule a `rego` policy is asked for; [`DEFAULT_ENTRYPOINT`] if unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entrypoint: Option<String>,
}

impl Default for EvaluatorSection {
    fn default() -> Self {
        Self {
            kind: EvaluatorKind::default(),
            rules: Vec::new(),
            command: Vec::new(),
            timeout_ms: default_timeout_ms(),
            policy: None,
            entrypoint: None,
        }
    }
}

/// Which evaluator.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EvaluatorKind {
    /// The agent votes through the API or CLI.
    #[default]
    Manual,
    /// Ordered rules.
    Policy,
    /// A Rego policy file.
    Rego,
    /// An external program.
    Command,
}

/// One `[[evaluator.rules]]`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleSection {
    /// Glob over the action, such as `fs.*`.
    pub action: String,
    /// Globs over string fields of the payload (top-level keys).
    #[serde(default)]
    pub payload: BTreeMap<String, String>,
    /// Upper bounds for numeric fields of the payload: the rule matches if a field is above.
    #[serde(default)]
    pub above: BTreeMap<String, f64>,
    /// `yes` or `no`.
    pub vote: Vote,
    /// Why; recorded in the ballot.
    #[serde(default)]
    pub reason: Option<String>,
}

/// Why the evaluator config was refused.
#[derive(Debug, thiserror::Error)]
pub enum EvaluatorError {
    /// A glob does not parse.
    #[error("evaluator.rules[{index}].{field}: {message}")]
    Glob {
        /// Rule index.
        index: usize,
        /// The field.
        field: String,
        /// The glob error.
        message: String,
    },
    /// The reason is not a valid ballot reason.
    #[error("evaluator.rules[{index}].reason: {message}")]
    Reason {
        /// Rule index.
        index: usize,
        /// What is wrong.
        message: String,
    },
    /// `policy` with no rules.
    #[error("evaluator: kind = \"policy\" needs at least one [[evaluator.rules]]")]
    NoRules,
    /// `command` with no program.
    #[error("evaluator.command: kind = \"command\" needs command = [\"/path/to/program\", ...]")]
    NoCommand,
    /// A field that the chosen kind does not use.
    #[error("evaluator.{field}: only used with kind = \"{kind}\"")]
    WrongKind {
        /// The field.
        field: &'static str,
        /// The kind that uses it.
        kind: &'static str,
    },
    /// A zero timeout.
    #[error("evaluator.timeout_ms: must be at least 1")]
    ZeroTimeout,
    /// `rego` with no policy file.
    #[error("evaluator.policy: kind = \"rego\" needs policy = \"path/to/policy.rego\"")]
    NoPolicy,
    /// The policy file cannot be read.
    #[error("evaluator.policy: cannot read {}: {message}", path.display())]
    PolicyRead {
        /// The file.
        path: PathBuf,
        /// Why.
        message: String,
    },
    /// The policy does not compile (the message names its file and line).
    #[error("evaluator.policy: {0}")]
    Rego(#[from] RegoError),
}

/// A checked `[evaluator]` section: what the node runs.
#[derive(Debug)]
pub enum Checked {
    /// `manual`: never votes on its own.
    Manual,
    /// `policy`: the compiled rules.
    Policy(Rules),
    /// `rego`: the compiled policy.
    Rego(RegoPolicy),
    /// `command`: the section's `command` and `timeout_ms` are usable.
    Command,
}

impl EvaluatorSection {
    /// Checks the section and compiles its rules, for a caller that reads no files: a
    /// `rego` section is refused ([`EvaluatorSection::check_with`] reads its policy).
    pub fn check(&self) -> Result<Checked, EvaluatorError> {
        self.check_with(&|_| Err("no policy file is read here".to_owned()))
    }

    /// Checks the section and compiles its rules or its Rego policy, which `read` returns
    /// the text of (or why not). Fields another kind uses are refused, the first problem
    /// found is reported.
    pub fn check_with(
        &self,
        read: &dyn Fn(&Path) -> Result<String, String>,
    ) -> Result<Checked, EvaluatorError> {
        let only = |used: bool, field, kind| match used {
            true => Err(EvaluatorError::WrongKind { field, kind }),
            false => Ok(()),
        };
        only(
            self.kind != EvaluatorKind::Command && !self.command.is_empty(),
            "command",
            "command",
        )?;
        only(
            self.kind != EvaluatorKind::Policy && !self.rules.is_empty(),
            "rules",
            "policy",
        )?;
        only(
            self.kind != EvaluatorKind::Rego && self.policy.is_some(),
            "policy",
            "rego",
        )?;
        only(
            self.kind != EvaluatorKind::Rego && self.entrypoint.is_some(),
            "entrypoint",
            "rego",
        )?;
        if self.timeout_ms == 0 {
            return Err(EvaluatorError::ZeroTimeout);
        }
        match self.kind {
            EvaluatorKind::Manual => Ok(Checked::Manual),
            EvaluatorKind::Command => {
                if self.command.first().is_none_or(String::is_empty) {
                    return Err(EvaluatorError::NoCommand);
                }
                Ok(Checked::Command)
            }
            EvaluatorKind::Policy => Rules::compile(&self.rules).map(Checked::Policy),
            EvaluatorKind::Rego => {
                let path = self.policy.as_deref().ok_or(EvaluatorError::NoPolicy)?;
                let text = read(path).map_err(|message| EvaluatorError::PolicyRead {
                    path: path.to_owned(),
                    message,
                })?;
                let entrypoint = self.entrypoint.as_deref().unwrap_or(DEFAULT_ENTRYPOINT);
                let name = path.display().to_string();
                Ok(Checked::Rego(RegoPolicy::compile(
                    &name, &text, entrypoint,
                )?))
            }
        }
    }
}

/// A proposal for tests: `action` and `payload`, the other fields fixed.
#[cfg(test)]
#[allow(clippy::unwrap_used)]
pub(crate) fn test_proposal(action: &str, payload: serde_json::Value) -> crate::message::Proposal {
    use crate::{Action, Payload, RosterDigest, SwarmId, UnixMillis, VoterId};
    crate::message::Proposal {
        swarm: SwarmId::new("s").unwrap(),
        roster: RosterDigest::from_bytes([0; 32]),
        proposer: VoterId::from_bytes([0; 32]),
        action: Action::new(action).unwrap(),
        payload: Payload::from_value(&payload).unwrap(),
        created_at: UnixMillis(0),
        expires_at: UnixMillis(1),
        nonce: crate::Nonce([0; 16]),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn sections_refuse_fields_of_other_kinds() {
        let check = |text: &str| {
            toml::from_str::<EvaluatorSection>(text)
                .unwrap()
                .check()
                .err()
        };
        assert!(matches!(
            check("kind = \"policy\""),
            Some(EvaluatorError::NoRules)
        ));
        assert!(matches!(
            check("command = [\"/bin/true\"]"),
            Some(EvaluatorError::WrongKind {
                field: "command",
                ..
            })
        ));
        assert!(matches!(
            check(
                "kind = \"command\"\ncommand = [\"x\"]\n[[rules]]\naction = \"a\"\nvote = \"no\""
            ),
            Some(EvaluatorError::WrongKind { field: "rules", .. })
        ));
        assert!(matches!(
            check("kind = \"policy\"\n[[rules]]\naction = \"[\"\nvote = \"no\""),
            Some(EvaluatorError::Glob { index: 0, .. })
        ));
        assert!(matches!(
            check("timeout_ms = 0"),
            Some(EvaluatorError::ZeroTimeout)
        ));
        assert!(check("").is_none());
    }
}
