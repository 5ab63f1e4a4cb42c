//! `honest`: a member that follows the protocol and votes what it believes.
//!
//! Two ways to believe, chosen per node group with `evaluator`:
//!
//! * **`oracle`** (the default): the member sees the workload's ground-truth label and
//!   votes YES on benign, NO on anomalous, wrong with probability `error_rate` (one RNG
//!   draw per vote). This models an agent that is right except for random slips.
//! * **`policy`**: the member votes as a node running the `policy` or `rego` evaluator
//!   does (the code of `swarmvote_protocol::policy`, which the node runs too), over the
//!   scenario's top-level `[evaluator]` table, written exactly as in a node's config:
//!   `kind = "policy"` with ordered `[[evaluator.rules]]` (the first rule that matches
//!   the proposal's action and payload decides the vote, and its `reason` goes into the
//!   ballot), or `kind = "rego"` with `policy = "file.rego"` (relative to the scenario
//!   file; read once, when the scenario is loaded), whose entry point gives the vote and
//!   reason. For a proposal no rule matches, or that the Rego policy leaves undefined or
//!   fails on (the node would cast no vote and warn), `unmatched` decides: `abstain` (the
//!   default: the node leaves it to the agent, so the member casts nothing), `yes`, `no`,
//!   or `oracle` (the ground truth, with `error_rate`). Policy votes never draw from the
//!   RNG, and a Rego policy runs under an instruction cap, not a clock, so a seeded run
//!   is the same on every machine.
//!
//! The ground truth stays the workload's label either way, so a policy run's report shows
//! how well the rules block anomalous commands: an anomaly no rule catches and
//! `unmatched = "yes"` lets through is a false approval; a benign command a rule denies
//! is a false rejection.
//!
//! What the swarm should do: nothing special. Honest members' votes are the baseline
//! every other behaviour is measured against; agreement and validity must hold.

use serde::Deserialize;
use swarmvote_protocol::policy::{
    Checked, EvaluatorError, EvaluatorKind, EvaluatorSection, RegoPolicy, Rules, proposal_input,
};
use swarmvote_protocol::{Reason, SignedProposal, Vote};

use super::{Decision, FieldError, flip, right_vote};
use crate::rng::SimRng;

/// Who decides an honest member's vote.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HonestEvaluator {
    /// The ground-truth label, wrong with probability `error_rate`.
    #[default]
    Oracle,
    /// The scenario's `[evaluator]`: policy rules or a Rego policy.
    Policy,
}

/// The vote of a policy member on a proposal no rule matches.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Unmatched {
    /// Cast nothing, as the node leaves unmatched proposals to its agent.
    #[default]
    Abstain,
    /// Approve: a deny-list policy.
    Yes,
    /// Reject: an allow-list policy.
    No,
    /// The ground truth, wrong with probability `error_rate`: the agent decides.
    Oracle,
}

/// The oracle's vote: the ground truth, flipped with probability `error_rate` (exactly
/// one draw).
pub fn oracle(anomalous: bool, error_rate: f64, rng: &mut SimRng) -> Vote {
    flip(right_vote(anomalous), rng.chance(error_rate))
}

/// A proposal as a member's engine holds it, for the policy evaluator.
#[derive(Clone, Copy)]
pub struct Seen<'a> {
    /// The signed proposal.
    pub proposal: &'a SignedProposal,
    /// The proposer's roster name (the Rego policy's `input.proposer.name`).
    pub proposer_name: Option<&'a str>,
}

/// What the node's evaluator runs, compiled from a scenario's `[evaluator]` table.
enum Evaluator {
    Rules(Rules),
    Rego(RegoPolicy),
}

/// The node's policy evaluator, compiled from a scenario's `[evaluator]` table.
pub struct Policy(Evaluator);

impl Policy {
    /// Compiles `section`. Only `kind = "policy"` (with at least one rule) and `kind =
    /// "rego"` run in the simulator (a `command` would need a process per vote, `manual`
    /// never votes). `rego_source` is the text of a `rego` section's policy file, read by
    /// the caller. Errors name the field at fault.
    pub fn new(section: &EvaluatorSection, rego_source: Option<&str>) -> Result<Self, FieldError> {
        let unsupported = || {
            FieldError::new(
                "evaluator.kind",
                "only kind = \"policy\" or kind = \"rego\" runs in the simulator",
            )
        };
        if !matches!(section.kind, EvaluatorKind::Policy | EvaluatorKind::Rego) {
            return Err(unsupported());
        }
        let read = |_: &std::path::Path| {
            rego_source
                .map(str::to_owned)
                .ok_or_else(|| "the policy file was not read".to_owned())
        };
        // The node's own check, so a scenario's table is refused where a config would be.
        match section.check_with(&read).map_err(|e| describe(&e))? {
            Checked::Policy(rules) => Ok(Self(Evaluator::Rules(rules))),
            Checked::Rego(policy) => Ok(Self(Evaluator::Rego(policy))),
            Checked::Manual | Checked::Command => Err(unsupported()),
        }
    }

    /// The decision on `seen` (ground truth `anomalous`): the first matching rule's or
    /// the Rego policy's vote and reason, else as `unmatched` says.
    pub fn decide(
        &self,
        seen: Seen<'_>,
        unmatched: Unmatched,
        anomalous: bool,
        error_rate: f64,
        rng: &mut SimRng,
    ) -> Decision {
        if let Some((vote, reason)) = self.verdict(seen) {
            return Decision::Vote { vote, reason };
        }
        let vote = match unmatched {
            Unmatched::Abstain => return Decision::Abstain,
            Unmatched::Yes => Vote::Yes,
            Unmatched::No => Vote::No,
            Unmatched::Oracle => oracle(anomalous, error_rate, rng),
        };
        Decision::Vote { vote, reason: None }
    }

    /// The evaluator's own verdict, if it has one. A Rego policy error is no verdict, as
    /// on a node (which also logs a warning).
    fn verdict(&self, seen: Seen<'_>) -> Option<(Vote, Option<Reason>)> {
        let p = seen.proposal;
        match &self.0 {
            Evaluator::Rules(rules) => rules.decide(p.proposal()),
            Evaluator::Rego(policy) => {
                let input = proposal_input(p.id(), p.proposal(), seen.proposer_name);
                policy.decide(&input).ok().flatten()
            }
        }
    }
}

/// The dotted field an evaluator error is about, and what is wrong with it.
fn describe(e: &EvaluatorError) -> FieldError {
    match e {
        EvaluatorError::Glob {
            index,
            field,
            message,
        } => FieldError::new(format!("evaluator.rules[{index}].{field}"), message.clone()),
        EvaluatorError::Reason { index, message } => {
            FieldError::new(format!("evaluator.rules[{index}].reason"), message.clone())
        }
        EvaluatorError::NoRules => FieldError::new(
            "evaluator.rules",
            "kind = \"policy\" needs at least one [[evaluator.rules]]",
        ),
        EvaluatorError::WrongKind { field, kind } => FieldError::new(
            format!("evaluator.{field}"),
            format!("only used with kind = \"{kind}\""),
        ),
        EvaluatorError::NoPolicy => FieldError::new(
            "evaluator.policy",
            "kind = \"rego\" needs policy = \"path/to/policy.rego\"",
        ),
        EvaluatorError::PolicyRead { path, message } => FieldError::new(
            "evaluator.policy",
            format!("cannot read {}: {message}", path.display()),
        ),
        EvaluatorError::Rego(e) => FieldError::new("evaluator.policy", e.to_string()),
        // The kind is checked first, so these name fields a policy does not use.
        other => FieldError::new("evaluator", other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use serde_json::json;
    use swarmvote_protocol::Reason;

    use super::*;
    use crate::behaviour::testkit;

    fn section(text: &str) -> EvaluatorSection {
        toml::from_str(text).unwrap()
    }

    fn seen(proposal: &SignedProposal) -> Seen<'_> {
        Seen {
            proposal,
            proposer_name: None,
        }
    }

    const RULES: &str = r#"
        kind = "policy"
        [[rules]]
        action = "fs.delete"
        payload = { path = "/backup/**" }
        vote = "no"
        reason = "backups stay"
        [[rules]]
        action = "db.*"
        vote = "no"
    "#;

    #[test]
    fn the_oracle_is_right_without_error_and_always_wrong_at_one() {
        let mut rng = SimRng::new(1);
        for anomalous in [false, true] {
            assert_eq!(oracle(anomalous, 0.0, &mut rng), right_vote(anomalous));
            assert_eq!(
                oracle(anomalous, 1.0, &mut rng),
                right_vote(anomalous).other()
            );
        }
    }

    #[test]
    fn the_policy_votes_by_the_first_matching_rule_and_else_by_unmatched() {
        let policy = Policy::new(&section(RULES), None).unwrap();
        let (keys, roster) = testkit::roster(3);
        let mut engine = testkit::engine(&keys, &roster);
        let (_, backup) = testkit::propose(
            &mut engine,
            "fs.delete",
            json!({"path": "/backup/1.tar"}),
            1,
        );
        let (_, drop) = testkit::propose(&mut engine, "db.drop", json!({"name": "prod"}), 2);
        let (_, scratch) = testkit::propose(
            &mut engine,
            "fs.delete",
            json!({"path": "/tmp/scratch/1.log"}),
            3,
        );
        let mut rng = SimRng::new(1);
        let mut decide =
            |p, unmatched, anomalous| policy.decide(seen(p), unmatched, anomalous, 0.0, &mut rng);
        // Rule 0 matches, with its reason; rule 1 matches without one.
        assert_eq!(
            decide(&backup, Unmatched::Yes, true),
            Decision::Vote {
                vote: Vote::No,
                reason: Some(Reason::new("backups stay").unwrap())
            }
        );
        assert_eq!(
            decide(&drop, Unmatched::Yes, false),
            Decision::Vote {
                vote: Vote::No,
                reason: None
            }
        );
        // The ground truth does not sway a rule (a benign db.drop is still refused), but
        // it is what `unmatched = "oracle"` goes by.
        let vote = |d| match d {
            Decision::Vote { vote, .. } => Some(vote),
            _ => None,
        };
        assert_eq!(vote(decide(&scratch, Unmatched::Abstain, false)), None);
        assert_eq!(
            vote(decide(&scratch, Unmatched::Yes, true)),
            Some(Vote::Yes)
        );
        assert_eq!(vote(decide(&scratch, Unmatched::No, false)), Some(Vote::No));
        assert_eq!(
            vote(decide(&scratch, Unmatched::Oracle, true)),
            Some(Vote::No)
        );
        assert_eq!(
            vote(decide(&scratch, Unmatched::Oracle, false)),
            Some(Vote::Yes)
        );
    }

    #[test]
    fn a_rule_vote_draws_nothing_and_an_oracle_fallback_draws_once() {
        let policy = Policy::new(&section(RULES), None).unwrap();
        let (keys, roster) = testkit::roster(3);
        let mut engine = testkit::engine(&keys, &roster);
        let (_, drop) = testkit::propose(&mut engine, "db.drop", json!({"name": "x"}), 1);
        let (_, other) = testkit::propose(&mut engine, "svc.restart", json!({"name": "x"}), 2);
        let (mut a, mut b) = (SimRng::new(4), SimRng::new(4));
        policy.decide(seen(&drop), Unmatched::Oracle, true, 0.5, &mut a);
        assert_eq!(a.unit().to_bits(), b.unit().to_bits());
        policy.decide(seen(&other), Unmatched::Oracle, true, 0.5, &mut a);
        b.unit();
        assert_eq!(a.unit().to_bits(), b.unit().to_bits());
    }

    /// Three policy members over 20 proposals, half anomalous, with `rules`.
    fn run_policy(rules: &str, unmatched: &str) -> crate::Report {
        let text = format!(
            "name = \"policy\"\nquorum = \"2/3\"\n[[nodes]]\ncount = 3\nbehaviour = {{ kind = \"honest\", evaluator = \"policy\", unmatched = \"{unmatched}\" }}\n[evaluator]\nkind = \"policy\"\n{rules}\n[workload]\nproposals = 20\nrate_per_sec = 10.0\nanomalous_fraction = 0.5\nttl_ms = 5000\n"
        );
        let scenario = crate::Scenario::parse("policy.toml", &text).unwrap();
        crate::run(scenario, 2).unwrap()
    }

    #[test]
    fn a_swarm_votes_by_its_policy_not_by_the_ground_truth() {
        // Deny deleting backups (3 in 10 anomalies by weight in the default mix),
        // approve the rest: only the other anomalies get through.
        let backups = "[[evaluator.rules]]\naction = \"fs.delete\"\npayload = { path = \"/backup/**\" }\nvote = \"no\"\n";
        let r = run_policy(backups, "yes");
        assert!(r.invariants.hold(), "{:?}", r.invariants.violations);
        let s = &r.security;
        assert!(
            s.anomalous > 0 && s.blocked > 0 && s.false_approvals > 0,
            "{s:?}"
        );
        assert_eq!(s.blocked + s.false_approvals, s.anomalous);
        assert_eq!(s.false_rejections, 0);
        // A rule that denies everything blocks every anomaly and every benign command.
        let deny_all = "[[evaluator.rules]]\naction = \"*\"\nvote = \"no\"\n";
        let r = run_policy(deny_all, "yes");
        assert_eq!(r.proposals.approved, 0);
        assert_eq!(r.security.blocked, r.security.anomalous);
        assert_eq!(
            r.security.false_rejections,
            r.proposals.created - r.security.anomalous
        );
        // Abstaining on what no rule matches leaves those proposals to expire.
        let r = run_policy(backups, "abstain");
        assert_eq!(r.security.false_approvals, 0);
        assert!(r.proposals.expired > 0);
        assert_eq!(r.proposals.approved, 0);
    }

    #[test]
    fn bad_evaluator_config_names_the_field() {
        let field = |text: &str| Policy::new(&section(text), None).err().map(|e| e.field);
        assert_eq!(
            field("kind = \"policy\"").as_deref(),
            Some("evaluator.rules")
        );
        assert_eq!(
            field("kind = \"manual\"").as_deref(),
            Some("evaluator.kind")
        );
        assert_eq!(
            field("kind = \"command\"\ncommand = [\"/bin/true\"]").as_deref(),
            Some("evaluator.kind")
        );
        assert_eq!(
            field("kind = \"policy\"\n[[rules]]\naction = \"fs.[\"\nvote = \"no\"").as_deref(),
            Some("evaluator.rules[0].action")
        );
        assert_eq!(
            field(
                "kind = \"policy\"\n[[rules]]\naction = \"a.b\"\npayload = { path = \"[\" }\nvote = \"no\""
            )
            .as_deref(),
            Some("evaluator.rules[0].payload.path")
        );
        assert_eq!(
            field("kind = \"policy\"\n[[rules]]\naction = \"a.b\"\nvote = \"no\"\nreason = \"\"")
                .as_deref(),
            Some("evaluator.rules[0].reason")
        );
    }

    /// Five members voting by the example Rego policy, read from the shipped scenario.
    fn rego_scenario() -> crate::Scenario {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../configs/scenarios/policy-guard-rego.toml");
        let mut s = crate::Scenario::load(&path).unwrap();
        s.workload.proposals = 30;
        s
    }

    #[test]
    fn a_rego_swarm_votes_by_its_policy_with_reasons_and_the_same_every_run() {
        let s = rego_scenario();
        assert!(
            s.rego_source
                .as_deref()
                .is_some_and(|t| t.contains("package swarmvote"))
        );
        let r = crate::run(s.clone(), 7).unwrap();
        assert!(r.invariants.hold(), "{:?}", r.invariants.violations);
        let sec = &r.security;
        // Backups, production drops and admin grants are blocked; `net.allow 0.0.0.0/0`
        // is the policy's blind spot; nothing benign is refused.
        assert!(sec.anomalous > 0 && sec.blocked > 0, "{sec:?}");
        assert_eq!(sec.false_rejections, 0, "{sec:?}");
        assert_eq!(sec.blocked + sec.false_approvals, sec.anomalous, "{sec:?}");
        // The same seed, the same report, byte for byte.
        assert_eq!(crate::run(s, 7).unwrap().to_json(), r.to_json());
    }

    #[test]
    fn the_rego_member_votes_the_policys_verdict_and_reason() {
        let s = rego_scenario();
        let policy = Policy::new(s.evaluator.as_ref().unwrap(), s.rego_source.as_deref()).unwrap();
        let (keys, roster) = testkit::roster(3);
        let mut engine = testkit::engine(&keys, &roster);
        let (_, backup) = testkit::propose(
            &mut engine,
            "fs.delete",
            json!({"path": "/backup/1.tar"}),
            1,
        );
        let (_, fine) =
            testkit::propose(&mut engine, "service.restart", json!({"name": "web-1"}), 2);
        let mut rng = SimRng::new(1);
        assert_eq!(
            policy.decide(seen(&backup), Unmatched::Yes, false, 0.0, &mut rng),
            Decision::Vote {
                vote: Vote::No,
                reason: Some(
                    Reason::new("/backup/1.tar is a backup: backups are protected").unwrap()
                )
            }
        );
        assert!(matches!(
            policy.decide(seen(&fine), Unmatched::No, true, 0.0, &mut rng),
            Decision::Vote {
                vote: Vote::Yes,
                ..
            }
        ));
        // A policy that fails is no verdict: `unmatched` decides, as for undefined.
        let looping = "package swarmvote\ndecision := {\"vote\": \"yes\"} if count([1 | some i in numbers.range(1, 2000); some j in numbers.range(1, 2000); i != j]) > 0\n";
        let section = section("kind = \"rego\"\npolicy = \"loop.rego\"");
        let policy = Policy::new(&section, Some(looping)).unwrap();
        assert_eq!(
            policy.decide(seen(&fine), Unmatched::Abstain, false, 0.0, &mut rng),
            Decision::Abstain
        );
    }

    #[test]
    fn bad_rego_config_names_the_policy_field() {
        let field = |text: &str, source: Option<&str>| {
            Policy::new(&section(text), source)
                .err()
                .map(|e| (e.field, e.message))
        };
        let (f, _) = field("kind = \"rego\"", None).unwrap();
        assert_eq!(f, "evaluator.policy");
        let (f, m) = field(
            "kind = \"rego\"\npolicy = \"p.rego\"",
            Some("package swarmvote\ndecision := {\n"),
        )
        .unwrap();
        assert_eq!(f, "evaluator.policy");
        assert!(m.starts_with("p.rego:"), "{m}");
        let (f, _) = field(
            "kind = \"policy\"\npolicy = \"p.rego\"\n[[rules]]\naction = \"a\"\nvote = \"no\"",
            None,
        )
        .unwrap();
        assert_eq!(f, "evaluator.policy");
        // A scenario whose policy file cannot be read is refused when it is parsed.
        let text = "name = \"r\"\nquorum = \"2/3\"\n[[nodes]]\ncount = 3\nbehaviour = { kind = \"honest\", evaluator = \"policy\" }\n[evaluator]\nkind = \"rego\"\npolicy = \"no-such.rego\"\n[workload]\nproposals = 1\nrate_per_sec = 1.0\n";
        let e = crate::Scenario::parse("/nonexistent/s.toml", text)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("evaluator.policy") && e.contains("/nonexistent/no-such.rego"),
            "{e}"
        );
    }
}
