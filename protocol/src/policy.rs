//! The `[evaluator]` config section and its pure policy rules, shared by the node (which
//! votes by them) and the simulator (whose policy members vote as the node would).
//!
//! A policy rule matches the proposal's action with a glob and, optionally, string fields
//! of the payload with globs (`payload = { path = "/backup/**" }`) and numeric fields with
//! bounds (`above = { replicas = 10 }`). The first matching rule decides the vote and its
//! reason. When no rule matches, the vote is left to the agent (manual).
//!
//! Running a `command` evaluator is I/O and stays in the node; here it is only a config
//! whose fields are checked.

use std::collections::BTreeMap;

use globset::{Glob, GlobMatcher};
use serde::{Deserialize, Serialize};

use crate::message::{Proposal, Reason, Vote};

fn default_timeout_ms() -> u64 {
    5_000
}

/// `[evaluator]` as written in the config.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EvaluatorSection {
    /// `manual`, `policy` or `command`.
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
}

impl Default for EvaluatorSection {
    fn default() -> Self {
        Self {
            kind: EvaluatorKind::default(),
            rules: Vec::new(),
            command: Vec::new(),
            timeout_ms: default_timeout_ms(),
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
}

/// A checked `[evaluator]` section: what the node runs.
#[derive(Debug)]
pub enum Checked {
    /// `manual`: never votes on its own.
    Manual,
    /// `policy`: the compiled rules.
    Policy(Rules),
    /// `command`: the section's `command` and `timeout_ms` are usable.
    Command,
}

impl EvaluatorSection {
    /// Checks the section and compiles its rules. Fields another kind uses are refused,
    /// the first problem found is reported.
    pub fn check(&self) -> Result<Checked, EvaluatorError> {
        if self.kind != EvaluatorKind::Command && !self.command.is_empty() {
            return Err(EvaluatorError::WrongKind {
                field: "command",
                kind: "command",
            });
        }
        if self.timeout_ms == 0 {
            return Err(EvaluatorError::ZeroTimeout);
        }
        match self.kind {
            EvaluatorKind::Manual => Ok(Checked::Manual),
            EvaluatorKind::Command => {
                if !self.rules.is_empty() {
                    return Err(EvaluatorError::WrongKind {
                        field: "rules",
                        kind: "policy",
                    });
                }
                if self.command.first().is_none_or(String::is_empty) {
                    return Err(EvaluatorError::NoCommand);
                }
                Ok(Checked::Command)
            }
            EvaluatorKind::Policy => Rules::compile(&self.rules).map(Checked::Policy),
        }
    }
}

#[derive(Debug)]
struct Rule {
    action: GlobMatcher,
    payload: Vec<(String, GlobMatcher)>,
    above: Vec<(String, f64)>,
    vote: Vote,
    reason: Option<Reason>,
}

/// Compiled policy rules, in order.
#[derive(Debug)]
pub struct Rules(Vec<Rule>);

fn glob(index: usize, field: &str, pattern: &str) -> Result<GlobMatcher, EvaluatorError> {
    Glob::new(pattern)
        .map(|g| g.compile_matcher())
        .map_err(|e| EvaluatorError::Glob {
            index,
            field: field.to_owned(),
            message: e.to_string(),
        })
}

impl Rules {
    /// Compiles `rules`; a policy needs at least one.
    pub fn compile(rules: &[RuleSection]) -> Result<Self, EvaluatorError> {
        if rules.is_empty() {
            return Err(EvaluatorError::NoRules);
        }
        rules
            .iter()
            .enumerate()
            .map(|(index, r)| {
                let payload = r
                    .payload
                    .iter()
                    .map(|(k, v)| Ok((k.clone(), glob(index, &format!("payload.{k}"), v)?)))
                    .collect::<Result<Vec<_>, EvaluatorError>>()?;
                let reason = r.reason.clone().map(Reason::new).transpose().map_err(|e| {
                    EvaluatorError::Reason {
                        index,
                        message: e.to_string(),
                    }
                })?;
                Ok(Rule {
                    action: glob(index, "action", &r.action)?,
                    payload,
                    above: r.above.iter().map(|(k, v)| (k.clone(), *v)).collect(),
                    vote: r.vote,
                    reason,
                })
            })
            .collect::<Result<Vec<_>, EvaluatorError>>()
            .map(Self)
    }

    /// The vote and reason of the first rule that matches `proposal`, if any.
    pub fn decide(&self, proposal: &Proposal) -> Option<(Vote, Option<Reason>)> {
        let payload = proposal.payload.to_value();
        self.0.iter().find_map(|rule| {
            if !rule.action.is_match(proposal.action.as_str()) {
                return None;
            }
            let strings_match = rule.payload.iter().all(|(field, g)| {
                payload
                    .get(field)
                    .and_then(|v| v.as_str())
                    .is_some_and(|s| g.is_match(s))
            });
            let numbers_match = rule.above.iter().all(|(field, bound)| {
                payload
                    .get(field)
                    .and_then(|v| v.as_f64())
                    .is_some_and(|x| x > *bound)
            });
            (strings_match && numbers_match).then(|| (rule.vote, rule.reason.clone()))
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use serde_json::json;

    use super::*;
    use crate::{Action, Payload, RosterDigest, SwarmId, UnixMillis, VoterId};

    fn proposal(action: &str, payload: serde_json::Value) -> Proposal {
        Proposal {
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

    #[test]
    fn the_first_matching_rule_decides() {
        let section: EvaluatorSection = toml::from_str(
            r#"
            kind = "policy"
            [[rules]]
            action = "fs.delete"
            payload = { path = "/backup/**" }
            vote = "no"
            reason = "backups stay"
            [[rules]]
            action = "k8s.*"
            above = { replicas = 10 }
            vote = "no"
            [[rules]]
            action = "*"
            vote = "yes"
            "#,
        )
        .unwrap();
        let Ok(Checked::Policy(rules)) = section.check() else {
            unreachable!("a valid policy");
        };
        let decide = |a, p| {
            rules
                .decide(&proposal(a, p))
                .map(|(v, r)| (v, r.map(|r| r.to_string())))
        };
        assert_eq!(
            decide("fs.delete", json!({"path": "/backup/a"})),
            Some((Vote::No, Some("backups stay".to_string())))
        );
        assert_eq!(
            decide("fs.delete", json!({"path": "/tmp/a"})),
            Some((Vote::Yes, None))
        );
        assert_eq!(
            decide("fs.delete", json!({"path": 3})),
            Some((Vote::Yes, None))
        );
        assert_eq!(
            decide("k8s.scale", json!({"replicas": 11})),
            Some((Vote::No, None))
        );
        assert_eq!(
            decide("k8s.scale", json!({"replicas": 10})),
            Some((Vote::Yes, None))
        );
    }

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
