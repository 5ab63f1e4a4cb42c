//! The `policy` evaluator's ordered rules: compiled from `[[evaluator.rules]]`, the first
//! rule matching a proposal's action and payload decides the vote and its reason.

use globset::{Glob, GlobMatcher};

use super::{EvaluatorError, RuleSection};
use crate::message::{Proposal, Reason, Vote};

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
    use crate::policy::{Checked, EvaluatorSection, test_proposal as proposal};

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
}
