//! How a node votes on its own: `manual` (never) or `policy` (ordered rules).
//!
//! A policy rule matches the proposal's action with a glob and, optionally, string fields
//! of the payload with globs (`payload = { path = "/backup/**" }`) and numeric fields with
//! bounds (`max = { replicas = 10 }`). The first matching rule decides the vote and its
//! reason. When no rule matches, the vote is left to the agent (manual).

use std::collections::BTreeMap;

use globset::{Glob, GlobMatcher};
use serde::{Deserialize, Serialize};
use swarmvote_protocol::{Reason, SignedProposal, Vote};

/// `[evaluator]` as written in the config.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EvaluatorSection {
    /// `manual` or `policy`.
    #[serde(default)]
    pub kind: EvaluatorKind,
    /// The rules, in order, for `policy`.
    #[serde(default)]
    pub rules: Vec<RuleSection>,
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
}

struct Rule {
    action: GlobMatcher,
    payload: Vec<(String, GlobMatcher)>,
    above: Vec<(String, f64)>,
    vote: Vote,
    reason: Option<Reason>,
}

/// A compiled evaluator.
pub struct Evaluator {
    rules: Vec<Rule>,
}

fn glob(index: usize, field: &str, pattern: &str) -> Result<GlobMatcher, EvaluatorError> {
    Glob::new(pattern)
        .map(|g| g.compile_matcher())
        .map_err(|e| EvaluatorError::Glob {
            index,
            field: field.to_owned(),
            message: e.to_string(),
        })
}

impl Evaluator {
    /// Compiles the config section.
    pub fn new(section: &EvaluatorSection) -> Result<Self, EvaluatorError> {
        if section.kind == EvaluatorKind::Manual {
            return Ok(Self { rules: Vec::new() });
        }
        if section.rules.is_empty() {
            return Err(EvaluatorError::NoRules);
        }
        let rules = section
            .rules
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
            .collect::<Result<Vec<_>, EvaluatorError>>()?;
        Ok(Self { rules })
    }

    /// The vote this node casts on its own, if any rule matches.
    pub fn evaluate(&self, proposal: &SignedProposal) -> Option<(Vote, Option<Reason>)> {
        let p = proposal.proposal();
        let payload = p.payload.to_value();
        self.rules.iter().find_map(|rule| {
            if !rule.action.is_match(p.action.as_str()) {
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
