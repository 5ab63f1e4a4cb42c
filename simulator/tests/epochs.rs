//! Roster epochs in the simulator: a scenario that removes a member and then raises the
//! quorum mid-run is deterministic, ends every honest node on epoch 2 with one head,
//! decides proposals made under every epoch by their own roster, and holds the
//! invariants over seeds; bad `[[roster_changes]]` are refused at load naming the field;
//! and the epoch check fails on a node kept from adopting steps and on fabricated heads.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::PathBuf;

use swarmvote_protocol::Quorum;
use swarmvote_sim::checks::{self, HeldChain};
use swarmvote_sim::report::{Violation, ViolationKind};
use swarmvote_sim::scenario::ScenarioError;
use swarmvote_sim::swarm;
use swarmvote_sim::{Report, Scenario, run};

fn shipped(name: &str) -> Scenario {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../configs/scenarios")
        .join(format!("{name}.toml"));
    Scenario::load(&path).unwrap()
}

fn of_kind(r: &Report, kind: ViolationKind) -> Vec<&Violation> {
    r.invariants
        .violations
        .iter()
        .filter(|v| v.kind == kind)
        .collect()
}

#[test]
fn a_run_with_roster_changes_is_deterministic() {
    let s = shipped("roster-change");
    let a = run(s.clone(), 1).unwrap();
    let b = run(s, 1).unwrap();
    assert_eq!(a.to_json(), b.to_json());
    assert_eq!(a.to_table(), b.to_table());
    assert_eq!(a.trace.hash, b.trace.hash);
}

#[test]
fn every_honest_node_ends_on_epoch_two_and_every_epoch_decides_by_its_roster() {
    for seed in 0..6 {
        let r = run(shipped("roster-change"), seed).unwrap();
        assert!(
            r.invariants.hold(),
            "seed {seed}: {:?}",
            r.invariants.violations
        );
        assert_eq!(r.invariants.same_epoch, Some(true), "seed {seed}");
        assert_eq!(r.invariants.no_wrong_tier, Some(true), "seed {seed}");
        let e = r.epochs.as_ref().unwrap();
        assert_eq!(e.head_epoch, 2, "seed {seed}: {e:?}");
        assert_eq!(
            (e.changes_proposed, e.changes_skipped),
            (2, 0),
            "seed {seed}"
        );
        // Epoch 1 removed n4 (q = 3 of 4), epoch 2 raised the quorum to 4/5 (q = 4).
        let steps: Vec<(u64, u32, u32)> = e.steps.iter().map(|s| (s.epoch, s.n, s.q)).collect();
        assert_eq!(steps, vec![(1, 4, 3), (2, 4, 4)], "seed {seed}");
        // Proposals made under each of the three rosters, and approvals under each.
        let epochs: Vec<u64> = e.per_epoch.iter().map(|c| c.epoch).collect();
        assert_eq!(epochs, vec![0, 1, 2], "seed {seed}: {:?}", e.per_epoch);
        assert!(
            e.per_epoch.iter().all(|c| c.approved > 0),
            "seed {seed}: {:?}",
            e.per_epoch
        );
        let total: u64 = e.per_epoch.iter().map(|c| c.proposals).sum();
        assert_eq!(total, r.proposals.created, "seed {seed}");
        // The removed member's key stole nothing: anomalies stay blocked.
        assert_eq!(r.security.false_approvals, 0, "seed {seed}");
    }
}

#[test]
fn a_node_kept_from_adopting_steps_fails_the_epoch_check_and_restoring_it_passes() {
    let mut broken = shipped("roster-change");
    broken.testing.skip_steps = vec![2];
    let r = run(broken.clone(), 1).unwrap();
    assert_eq!(r.invariants.same_epoch, Some(false));
    let found = of_kind(&r, ViolationKind::Epoch);
    assert!(
        found
            .iter()
            .any(|v| v.detail.contains("different rosters") && v.detail.contains("n2 at epoch 0")),
        "{found:?}"
    );
    assert!(
        r.to_table().contains("VIOLATION epoch: seed 1"),
        "{}",
        r.to_table()
    );
    broken.testing.skip_steps.clear();
    let r = run(broken, 1).unwrap();
    assert!(r.invariants.hold(), "{:?}", r.invariants.violations);
    assert_eq!(r.invariants.same_epoch, Some(true));
}

#[test]
fn fabricated_heads_fail_the_epoch_check() {
    let q: Quorum = "2/3".parse().unwrap();
    let (genesis, _) = swarm::roster(3, q, 0).unwrap();
    let (elsewhere, _) = swarm::roster(4, q, 0).unwrap();
    let at = |node: usize, head: &swarmvote_protocol::Roster, epoch: u64| HeldChain {
        node,
        head: head.digest(),
        epoch,
        main: Vec::new(),
        steps: Vec::new(),
    };
    // Two nodes at the genesis roster, as their (no) steps prove: nothing to say.
    let mut v = Vec::new();
    checks::epochs(
        7,
        &genesis,
        &[at(0, &genesis, 0), at(1, &genesis, 0)],
        &mut v,
    );
    assert!(v.is_empty(), "{v:?}");
    // A node claiming a head no step leads to: unproved, and not the others' head.
    let mut v = Vec::new();
    checks::epochs(
        7,
        &genesis,
        &[at(0, &genesis, 0), at(3, &elsewhere, 1)],
        &mut v,
    );
    assert_eq!(v.len(), 2, "{v:?}");
    assert!(
        v.iter()
            .all(|x| x.kind == ViolationKind::Epoch && x.seed == 7)
    );
    assert!(
        v[0].detail.contains("n3's head is epoch 1") && v[0].detail.contains("prove epoch 0"),
        "{}",
        v[0].detail
    );
    assert!(v[1].detail.contains("different rosters"), "{}", v[1].detail);
}

#[test]
fn scenarios_without_changes_report_no_epochs() {
    let r = run(shipped("baseline-3"), 1).unwrap();
    assert!(r.epochs.is_none());
    assert!(r.invariants.same_epoch.is_none());
    assert!(!r.to_json().contains("epoch"));
    assert!(!r.to_table().contains("epoch"));
}

/// Loads a five-node (four honest, one offline) scenario with `extra` appended, and
/// returns "ok" or the invalid field's error as `field: message`.
fn field(extra: &str) -> String {
    let text = format!(
        "name = \"x\"\nquorum = \"2/3\"\n\
         [[nodes]]\ncount = 4\nbehaviour = {{ kind = \"honest\" }}\n\
         [[nodes]]\nbehaviour = {{ kind = \"offline\" }}\n\
         [workload]\nproposals = 5\nrate_per_sec = 5.0\n{extra}"
    );
    match Scenario::parse("c.toml", &text) {
        Ok(_) => "ok".to_string(),
        Err(ScenarioError::Invalid { field, message, .. }) => format!("{field}: {message}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn bad_roster_changes_are_refused_naming_the_field() {
    let change = |body: &str| format!("[[roster_changes]]\nat_ms = 1000\n{body}");
    assert_eq!(field(&change("remove = [\"n4\"]\n")), "ok");
    let e = field(&change("remove = [\"n9\"]\n"));
    assert!(
        e.starts_with("roster_changes[0].remove: ") && e.contains("n9"),
        "{e}"
    );
    let e = field(&change("by = \"n7\"\n"));
    assert!(
        e.starts_with("roster_changes[0].by: ") && e.contains("n7"),
        "{e}"
    );
    let e = field(&change("quorum = \"7/5\"\n"));
    assert!(e.starts_with("roster_changes[0].quorum: "), "{e}");
    // Five members, n4 offline. Without n0 at 1/1: three members can vote, q = 4.
    let e = field(&change("remove = [\"n0\"]\nquorum = \"1/1\"\n"));
    assert!(
        e.starts_with("roster_changes[0].quorum: ") && e.contains("no quorum"),
        "{e}"
    );
    // Without n0..n2: n3 alone can vote, 2/3 of two needs q = 2.
    let e = field(&change("remove = [\"n0\", \"n1\", \"n2\"]\n"));
    assert!(
        e.starts_with("roster_changes[0].remove: ") && e.contains("no quorum"),
        "{e}"
    );
    // A member removed twice, or proposing after its removal.
    let twice = format!(
        "{}{}",
        change("remove = [\"n4\"]\n"),
        change("remove = [\"n4\"]\n")
    );
    let e = field(&twice.replacen("at_ms = 1000", "at_ms = 500", 1));
    assert!(e.starts_with("roster_changes[1].remove: "), "{e}");
    let after = format!(
        "{}[[roster_changes]]\nat_ms = 2000\nby = \"n4\"\nfour_eyes = true\n",
        change("remove = [\"n4\"]\n")
    );
    let e = field(&after);
    assert!(
        e.starts_with("roster_changes[1].by: ") && e.contains("removed"),
        "{e}"
    );
    // Out of time order.
    let e = field(&format!(
        "{}{}",
        change("four_eyes = true\n"),
        change("four_eyes = false\n")
    ));
    assert!(e.starts_with("roster_changes[1].at_ms: "), "{e}");
    // The test-only knobs.
    let e = field(&format!(
        "{}[testing]\nskip_steps = [4]\n",
        change("remove = [\"n4\"]\n")
    ));
    assert!(e.starts_with("testing.skip_steps[0]: "), "{e}");
    assert_eq!(
        field(&format!(
            "{}[testing]\nskip_steps = [3]\n",
            change("remove = [\"n4\"]\n")
        )),
        "ok"
    );
}

#[test]
fn lowered_rules_and_roster_changes_are_refused_together() {
    let text = "name = \"x\"\nquorum = \"2/3\"\n\
         [roster]\n[[roster.rules]]\nname = \"deletes\"\naction = \"fs.delete\"\nquorum = \"1/1\"\n\
         [[nodes]]\ncount = 4\nbehaviour = { kind = \"honest\" }\n\
         [workload]\nproposals = 5\nrate_per_sec = 5.0\n\
         [[roster_changes]]\nat_ms = 1000\nfour_eyes = true\n\
         [testing]\nlowered_rules = [\"deletes\"]\n";
    match Scenario::parse("c.toml", text) {
        Err(ScenarioError::Invalid { field, message, .. }) => {
            assert_eq!(field, "testing.lowered_rules");
            assert!(message.contains("roster_changes"), "{message}");
        }
        other => panic!("{other:?}"),
    }
}
