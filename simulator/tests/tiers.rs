//! Thresholds tiered by risk in the simulator: scenarios with `[roster]` rules, groups and
//! four-eyes run deterministically, exercise every tier and hold the wrong-tier check;
//! four-eyes and group requirements change outcomes as the roster says; and the check
//! fails on engines that judge a rule at a lowered tier and on fabricated outcomes.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::path::PathBuf;

use swarmvote_protocol::certificate::TierLabel;
use swarmvote_protocol::ids::TierName;
use swarmvote_protocol::message::{Ballot, Proposal};
use swarmvote_protocol::{
    Action, Certificate, Nonce, Payload, Roster, SecretKey, SignedProposal, Tally, UnixMillis,
    Verdict, Verified, Vote,
};
use swarmvote_sim::checks::{self, HeldTier};
use swarmvote_sim::report::{Violation, ViolationKind};
use swarmvote_sim::scenario::{RosterSection, ScenarioError};
use swarmvote_sim::swarm::{self, START_MS};
use swarmvote_sim::{Report, Scenario, run};

fn shipped(name: &str) -> Scenario {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../configs/scenarios")
        .join(format!("{name}.toml"));
    Scenario::load(&path).unwrap()
}

const SHIPPED: [&str; 2] = ["three-agents-deletes", "four-eyes-security"];

/// The tiers of a report by name: (q, proposals, approved).
fn tiers(r: &Report) -> BTreeMap<String, (u32, u64, u64)> {
    r.tiers
        .iter()
        .map(|t| (t.tier.clone(), (t.q, t.proposals, t.approved)))
        .collect()
}

fn wrong_tier(r: &Report) -> Vec<&Violation> {
    r.invariants
        .violations
        .iter()
        .filter(|v| v.kind == ViolationKind::WrongTier)
        .collect()
}

#[test]
fn tiered_scenarios_are_deterministic_exercise_every_tier_and_hold() {
    for name in SHIPPED {
        let s = shipped(name);
        let a = run(s.clone(), 1).unwrap();
        let b = run(s, 1).unwrap();
        assert_eq!(a.to_json(), b.to_json(), "{name}");
        assert_eq!(a.to_table(), b.to_table(), "{name}");
        assert_eq!(a.trace.hash, b.trace.hash, "{name}");
        assert!(a.invariants.hold(), "{name}: {:?}", a.invariants.violations);
        assert_eq!(a.invariants.no_wrong_tier, Some(true), "{name}");
        // Every tier approved something, and the tiers add up to the whole.
        assert!(a.tiers.len() >= 2, "{name}: {:?}", a.tiers);
        for t in &a.tiers {
            assert!(t.approved > 0, "{name}: tier {} approved nothing", t.tier);
        }
        let sum = |f: fn(&swarmvote_sim::report::TierCount) -> u64| -> u64 {
            a.tiers.iter().map(f).sum()
        };
        assert_eq!(sum(|t| t.proposals), a.proposals.created, "{name}");
        assert_eq!(sum(|t| t.approved), a.proposals.approved, "{name}");
        assert_eq!(sum(|t| t.rejected), a.proposals.rejected, "{name}");
        assert_eq!(sum(|t| t.anomalous), a.security.anomalous, "{name}");
        // Both forms of the report show the tiers and the check.
        assert!(a.to_json().contains("\"no_wrong_tier\": true"), "{name}");
        assert!(a.to_table().contains("wrong tier"), "{name}");
        assert!(
            a.to_table().contains("tier                  default"),
            "{name}"
        );
    }
    let three = run(shipped("three-agents-deletes"), 1).unwrap();
    let t = tiers(&three);
    assert_eq!(t.keys().collect::<Vec<_>>(), ["default", "deletes"]);
    assert_eq!((t["deletes"].0, t["default"].0), (3, 2));
    let four = run(shipped("four-eyes-security"), 1).unwrap();
    let t = tiers(&four);
    let q: Vec<(&str, u32)> = t.iter().map(|(k, v)| (k.as_str(), v.0)).collect();
    assert_eq!(
        q,
        [
            ("backup-deletes", 4),
            ("default", 3),
            ("grants", 3),
            ("restarts", 2)
        ]
    );
    let fe: Vec<bool> = four.tiers.iter().map(|t| t.four_eyes).collect();
    // Rules in roster order, then the default; restarts opt out of four-eyes.
    assert_eq!(fe, [true, true, false, true]);
}

#[test]
fn tiered_scenarios_hold_over_seeds() {
    for name in SHIPPED {
        let mut s = shipped(name);
        s.workload.proposals = 30;
        for seed in 0..8 {
            let r = run(s.clone(), seed).unwrap();
            assert!(
                r.invariants.hold(),
                "{name} seed {seed}: {:?}",
                r.invariants.violations
            );
            assert_eq!(r.invariants.no_wrong_tier, Some(true));
        }
    }
}

#[test]
fn a_plain_scenario_reports_no_tiers() {
    let r = run(shipped("baseline-3"), 1).unwrap();
    assert!(r.tiers.is_empty());
    assert_eq!(r.invariants.no_wrong_tier, None);
    let json = r.to_json();
    assert!(!json.contains("tiers") && !json.contains("no_wrong_tier"));
    assert!(!r.to_table().contains("tier"));
}

/// Three honest members, one of them (n2) offline, at 2/3, with `roster` tables.
fn one_offline(roster: &str) -> Scenario {
    let text = format!(
        "name = \"one-offline\"\nquorum = \"2/3\"\n\
         [[nodes]]\ncount = 2\nbehaviour = {{ kind = \"honest\" }}\n\
         [[nodes]]\nbehaviour = {{ kind = \"offline\" }}\n\
         [workload]\nproposals = 12\nrate_per_sec = 5.0\nanomalous_fraction = 0.0\nttl_ms = 4000\n\
         {roster}"
    );
    Scenario::parse("one-offline.toml", &text).unwrap()
}

#[test]
fn four_eyes_keeps_the_proposers_yes_out_of_the_count() {
    // Without four-eyes the proposer and the other member make q = 2.
    let plain = run(one_offline(""), 3).unwrap();
    assert_eq!(plain.proposals.approved, 12, "{}", plain.to_table());
    // Under four-eyes only one other member is up: nothing can reach q = 2.
    let r = run(one_offline("[roster]\nfour_eyes = true\n"), 3).unwrap();
    assert!(r.invariants.hold(), "{:?}", r.invariants.violations);
    assert_eq!(r.invariants.no_wrong_tier, Some(true));
    assert_eq!(r.proposals.approved, 0, "{}", r.to_table());
    assert_eq!(r.proposals.expired, 12, "{}", r.to_table());
    // A rule that opts restarts out of four-eyes lets them through again.
    let r = run(
        one_offline(
            "[roster]\nfour_eyes = true\n[[roster.rules]]\nname = \"restarts\"\n\
             action = \"service.restart\"\nfour_eyes = false\n",
        ),
        3,
    )
    .unwrap();
    assert!(r.invariants.hold(), "{:?}", r.invariants.violations);
    let t = tiers(&r);
    assert!(t["restarts"].1 > 0, "{t:?}");
    assert_eq!(t["restarts"].2, t["restarts"].1, "{t:?}");
    assert_eq!(t["default"].2, 0, "{t:?}");
}

#[test]
fn a_group_requirement_holds_back_its_tier_alone() {
    // Restarts need a YES from n2, which is offline: they never pass; the rest do.
    let r = run(
        one_offline(
            "[roster.groups]\nops = [\"n2\"]\n[[roster.rules]]\nname = \"restarts\"\n\
             action = \"service.restart\"\nrequire = [{ group = \"ops\", yes = 1 }]\n",
        ),
        3,
    )
    .unwrap();
    assert!(r.invariants.hold(), "{:?}", r.invariants.violations);
    let t = tiers(&r);
    assert!(t["restarts"].1 > 0 && t["default"].1 > 0, "{t:?}");
    assert_eq!(t["restarts"].2, 0, "{t:?}");
    assert_eq!(t["default"].2, t["default"].1, "{t:?}");
}

#[test]
fn engines_judging_a_lowered_rule_fail_the_check_and_restoring_it_passes() {
    // Deletes at 2/3 in every engine, while the roster as written says 3/3.
    let mut broken = shipped("three-agents-deletes");
    broken.testing.lowered_rules = vec!["deletes".to_string()];
    let r = run(broken.clone(), 1).unwrap();
    assert_eq!(r.invariants.no_wrong_tier, Some(false));
    assert!(!r.invariants.hold());
    // Agreement and validity cannot see it: every engine agrees, and each certificate
    // is valid under the engines' roster.
    assert!(r.invariants.agreement && r.invariants.validity);
    let found = wrong_tier(&r);
    assert!(!found.is_empty());
    assert!(found.iter().all(|v| v.seed == 1 && v.proposal.is_some()));
    let details: Vec<&str> = found.iter().map(|v| v.detail.as_str()).collect();
    assert!(
        details.iter().any(|d| d.contains(
            "nodes n0, n1, n2 decided it under tier deletes (q = 2), but the roster gives tier deletes (q = 3)"
        )),
        "{details:#?}"
    );
    assert!(
        details
            .iter()
            .any(|d| d.contains("certificate records tier deletes (q = 2)")),
        "{details:#?}"
    );
    // An approval with two YES where three are needed.
    assert!(
        details
            .iter()
            .any(|d| d.contains("2 YES ballots that count, tier deletes needs q = 3")),
        "{details:#?}"
    );
    assert!(r.to_table().contains("wrong tier            VIOLATED"));
    // Restored: the same scenario and seed without the knob holds.
    broken.testing.lowered_rules.clear();
    let r = run(broken, 1).unwrap();
    assert!(r.invariants.hold(), "{:?}", r.invariants.violations);

    // A lowered group requirement: grants approved without a security YES are reported.
    let mut broken = shipped("four-eyes-security");
    broken.testing.lowered_rules = vec!["grants".to_string()];
    let r = run(broken, 1).unwrap();
    let details: Vec<&str> = wrong_tier(&r).iter().map(|v| v.detail.as_str()).collect();
    assert!(
        details
            .iter()
            .any(|d| d.contains("YES ballots from group security that count, tier grants needs 1")),
        "{details:#?}"
    );
}

// ---------------------------------------------------------------------------------------
// The check itself, on fabricated outcomes.
// ---------------------------------------------------------------------------------------

/// Five members `n0..n4` (seed 9's keys) at 3/5 under four-eyes, `n3` and `n4` in
/// `security`, and a rule `grants` (any `iam.*`) needing one security YES.
fn five() -> (Roster, Vec<SecretKey>) {
    let section: RosterSection = toml::from_str(
        "four_eyes = true\n[groups]\nsecurity = [\"n3\", \"n4\"]\n\
         [[rules]]\nname = \"grants\"\naction = \"iam.*\"\n\
         require = [{ group = \"security\", yes = 1 }]\n",
    )
    .unwrap();
    swarm::roster_with(5, "3/5".parse().unwrap(), Some(&section), 9).unwrap()
}

fn propose(roster: &Roster, key: &SecretKey, action: &str) -> Verified<SignedProposal> {
    Proposal {
        swarm: roster.swarm().clone(),
        roster: roster.digest(),
        proposer: key.voter_id(),
        action: Action::new(action).unwrap(),
        payload: Payload::from_value(&serde_json::json!({ "role": "viewer" })).unwrap(),
        created_at: UnixMillis(START_MS),
        expires_at: UnixMillis(START_MS + 60_000),
        nonce: Nonce([7; 16]),
    }
    .sign(key)
    .unwrap()
    .verify(roster)
    .unwrap()
}

fn yes(p: &SignedProposal, key: &SecretKey) -> swarmvote_protocol::SignedBallot {
    Ballot {
        swarm: p.proposal().swarm.clone(),
        proposal: p.id(),
        voter: key.voter_id(),
        vote: Vote::Yes,
        reason: None,
    }
    .sign(key)
}

/// YES ballots from `voters` on `p`, in a tally of `roster`.
fn tally(
    roster: &Roster,
    p: &Verified<SignedProposal>,
    keys: &[SecretKey],
    voters: &[usize],
) -> Tally {
    let mut t = Tally::new(roster, p);
    for &i in voters {
        t.add(yes(p, &keys[i]).verify(roster).unwrap()).unwrap();
    }
    t
}

fn held(node: usize, verdict: Verdict, tier: &str, q: u32) -> HeldTier {
    HeldTier {
        node,
        verdict,
        tier: TierName::new(tier).unwrap(),
        q,
    }
}

fn check(
    roster: &Roster,
    p: &SignedProposal,
    h: &[HeldTier],
    certs: &[(usize, &Certificate)],
) -> Vec<String> {
    let mut v = Vec::new();
    checks::wrong_tier(5, roster, p, h, certs, &mut v);
    assert!(
        v.iter()
            .all(|x| x.kind == ViolationKind::WrongTier && x.seed == 5)
    );
    assert!(v.iter().all(|x| x.proposal == Some(p.id().to_string())));
    v.into_iter().map(|x| x.detail).collect()
}

#[test]
fn the_check_passes_a_real_approval_and_fails_fabricated_ones() {
    let (roster, keys) = five();
    // n0 asks for a grant; n1, n2 and n3 (security) say YES, and so does n0 itself.
    let p = propose(&roster, &keys[0], "iam.grant");
    let t = tally(&roster, &p, &keys, &[0, 1, 2, 3]);
    assert_eq!(t.verdict(), Verdict::Approved);
    assert_eq!(t.tier_name().as_str(), "grants");
    let cert = t.certificate(&p).unwrap();
    let all = [
        held(0, Verdict::Approved, "grants", 3),
        held(1, Verdict::Approved, "grants", 3),
        held(4, Verdict::Pending, "default", 3),
    ];
    // The real thing passes; a node still pending is not held to a tier.
    assert_eq!(
        check(&roster, &p, &all, &[(0, &cert)]),
        Vec::<String>::new()
    );

    // One node decided under another tier: both halves of the check speak.
    let split = [
        held(0, Verdict::Approved, "grants", 3),
        held(2, Verdict::Approved, "default", 3),
    ];
    let found = check(&roster, &p, &split, &[]);
    assert_eq!(found.len(), 2, "{found:#?}");
    assert!(
        found[0].contains("different tiers: n2 under default (q = 3); n0 under grants (q = 3)"),
        "{found:#?}"
    );
    assert!(
        found[1].contains("node n2 decided it under tier default (q = 3), but the roster gives tier grants (q = 3)"),
        "{found:#?}"
    );

    // Three YES but one of them the proposer's: four-eyes counts two.
    let own = Certificate::new(
        (*p).clone(),
        [0, 1, 3].iter().map(|&i| yes(&p, &keys[i])).collect(),
    )
    .with_tier(TierLabel {
        name: TierName::new("grants").unwrap(),
        required: 3,
    });
    let found = check(&roster, &p, &[], &[(1, &own)]);
    assert_eq!(
        found,
        [
            "node n1's certificate has 2 YES ballots that count (the proposer's left out: four-eyes), tier grants needs q = 3"
        ]
    );

    // Enough YES, none from security.
    let no_security = Certificate::new(
        (*p).clone(),
        [1, 2, 0].iter().map(|&i| yes(&p, &keys[i])).collect(),
    );
    let found = check(&roster, &p, &[], &[(2, &no_security)]);
    assert_eq!(found.len(), 3, "{found:#?}");
    assert_eq!(found[0], "node n2's certificate records no tier");
    assert!(
        found[1].contains("has 2 YES ballots that count"),
        "{found:#?}"
    );
    assert_eq!(
        found[2],
        "node n2's certificate has 0 YES ballots from group security that count, tier grants needs 1"
    );

    // The right ballots under a lowered label.
    let lowered = Certificate::new((*p).clone(), cert.ballots().to_vec()).with_tier(TierLabel {
        name: TierName::new("default").unwrap(),
        required: 2,
    });
    let found = check(&roster, &p, &[], &[(3, &lowered)]);
    assert_eq!(
        found,
        [
            "node n3's certificate records tier default (q = 2), but the roster gives tier grants (q = 3)"
        ]
    );
}

#[test]
fn a_bad_roster_section_is_refused_naming_the_field() {
    let field = |roster: &str, testing: &str| -> String {
        let text = format!(
            "name = \"r\"\nquorum = \"2/3\"\n[[nodes]]\ncount = 3\n\
             behaviour = {{ kind = \"honest\" }}\n[workload]\nproposals = 1\nrate_per_sec = 1.0\n\
             {roster}{testing}"
        );
        match Scenario::parse("r.toml", &text) {
            Ok(_) => "ok".to_string(),
            Err(ScenarioError::Invalid { field, message, .. }) => format!("{field}: {message}"),
            Err(e) => e.to_string(),
        }
    };
    let rule = "[[roster.rules]]\nname = \"deletes\"\naction = \"fs.delete\"\nquorum = \"1\"\n";
    assert_eq!(field(rule, ""), "ok");
    // A group naming a node that is not a member.
    let e = field("[roster.groups]\nsecurity = [\"n7\"]\n", "");
    assert!(
        e.starts_with("roster.groups.security: ") && e.contains("\"n7\""),
        "{e}"
    );
    // A rule no proposal could ever pass: four-eyes leaves two voters for q = 3.
    let e = field(&format!("[roster]\nfour_eyes = true\n{rule}"), "");
    assert!(
        e.starts_with("roster.rules[0]: ") && e.contains("four-eyes"),
        "{e}"
    );
    // A requirement on an undefined group.
    let e = field(
        "[[roster.rules]]\nname = \"x\"\naction = \"a.*\"\nrequire = [{ group = \"ops\", yes = 1 }]\n",
        "",
    );
    assert!(
        e.starts_with("roster.rules[0]: ") && e.contains("\"ops\""),
        "{e}"
    );
    // Unknown fields, in the roster document's own types, are named by the parser.
    let e = field(&format!("{rule}colour = \"red\"\n"), "");
    assert!(e.contains("colour") && e.contains("r.toml"), "{e}");
    // The test-only knob must name a rule.
    let e = field(rule, "[testing]\nlowered_rules = [\"restarts\"]\n");
    assert!(
        e.starts_with("testing.lowered_rules[0]: ") && e.contains("restarts"),
        "{e}"
    );
    assert_eq!(
        field(rule, "[testing]\nlowered_rules = [\"deletes\"]\n"),
        "ok"
    );
}
