//! End-to-end runs: determinism, the invariants on every shipped scenario, and each
//! behaviour doing (and being caught doing) what it should.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::PathBuf;

use swarmvote_sim::{Report, Scenario, run};

fn scenarios_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../configs/scenarios")
}

fn load(name: &str) -> Scenario {
    Scenario::load(&scenarios_dir().join(name)).unwrap()
}

/// A smaller workload, to keep many-seed loops fast.
fn small(mut s: Scenario, proposals: u32) -> Scenario {
    s.workload.proposals = s.workload.proposals.min(proposals);
    s
}

fn check(r: &Report) {
    assert!(
        r.invariants.hold(),
        "{} seed {}: {:?}",
        r.scenario,
        r.seed,
        r.invariants.violations
    );
}

#[test]
fn same_seed_gives_identical_report_and_trace() {
    let s = small(load("baseline-3.toml"), 30);
    let a = run(s.clone(), 7).unwrap();
    let b = run(s.clone(), 7).unwrap();
    assert_eq!(a.to_json(), b.to_json());
    assert_eq!(a.trace.hash, b.trace.hash);
    let c = run(s, 8).unwrap();
    assert_ne!(
        a.trace.hash, c.trace.hash,
        "a different seed must change the run"
    );
}

#[test]
fn invariants_hold_for_every_shipped_scenario_over_20_seeds() {
    let mut files: Vec<PathBuf> = std::fs::read_dir(scenarios_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    files.sort();
    assert!(files.len() >= 4, "{files:?}");
    for f in files {
        let s = small(Scenario::load(&f).unwrap(), 20);
        for seed in 0..20 {
            let r = run(s.clone(), seed).unwrap();
            check(&r);
            assert!(
                r.invariants.honest_checked > 0,
                "{} seed {seed}",
                r.scenario
            );
            assert!(r.proposals.created > 0, "{} seed {seed}", r.scenario);
        }
    }
}

#[test]
fn partition_heal_converges() {
    let s = small(load("partition-heal.toml"), 25);
    for seed in 0..10 {
        let r = run(s.clone(), seed).unwrap();
        check(&r);
        assert!(
            r.traffic.converge_after_heal_ms.is_some(),
            "seed {seed}: never converged after the heal"
        );
        assert_eq!(r.proposals.missing, 0, "seed {seed}");
        assert_eq!(r.invariants.honest_checked, 5, "seed {seed}");
    }
}

#[test]
fn crash_restart_never_makes_an_honest_node_equivocate() {
    let s = load("crash-restart.toml");
    let mut refused = 0;
    for seed in 0..20 {
        let r = run(s.clone(), seed).unwrap();
        assert_eq!(
            r.security.equivocations_by_honest, 0,
            "seed {seed}: {:?}",
            r.invariants.violations
        );
        check(&r);
        assert_eq!(
            (r.storage.crashes, r.storage.restarts),
            (2, 2),
            "seed {seed}"
        );
        refused += r.proposals.votes_refused;
    }
    // The restarted nodes did try to vote again: the guard was exercised.
    assert!(refused > 0);
}

#[test]
fn the_equivocator_is_caught_and_breaks_nothing() {
    let s = small(load("byzantine-equivocation.toml"), 15);
    for seed in 0..10 {
        let r = run(s.clone(), seed).unwrap();
        check(&r);
        assert!(r.security.equivocations_detected > 0, "seed {seed}");
        assert_eq!(r.security.equivocations_by_honest, 0, "seed {seed}");
    }
}

#[test]
fn forged_ballots_are_rejected() {
    let s = small(load("byzantine-forger.toml"), 15);
    for seed in 0..10 {
        let r = run(s.clone(), seed).unwrap();
        check(&r);
        assert!(r.security.forged_sent > 0, "seed {seed}");
        // No loss in this scenario: each of the 3 honest nodes rejects every forgery.
        assert_eq!(
            r.security.invalid_rejected,
            r.security.forged_sent * 3,
            "seed {seed}"
        );
    }
}

fn inline(nodes: &str, quorum: &str) -> Scenario {
    let text = format!(
        "name = \"inline\"\nquorum = \"{quorum}\"\n{nodes}\n[workload]\nproposals = 20\nrate_per_sec = 10.0\nanomalous_fraction = 0.5\nttl_ms = 10000\n"
    );
    Scenario::parse("inline.toml", &text).unwrap()
}

#[test]
fn honest_nodes_vote_by_ground_truth() {
    let s = inline(
        "[[nodes]]\ncount = 3\nbehaviour = { kind = \"honest\" }",
        "2/3",
    );
    let r = run(s, 3).unwrap();
    check(&r);
    assert!(r.security.anomalous > 0);
    assert_eq!(r.security.false_approvals, 0);
    assert_eq!(r.security.false_rejections, 0);
    assert_eq!(
        r.proposals.approved + r.proposals.rejected,
        r.proposals.created
    );
}

#[test]
fn drift_always_wrong_inverts_every_outcome() {
    let s = inline(
        "[[nodes]]\ncount = 3\nbehaviour = { kind = \"drift\", p = 1.0 }",
        "2/3",
    );
    let r = run(s, 3).unwrap();
    check(&r);
    assert_eq!(r.security.false_approvals, r.security.anomalous);
    assert_eq!(r.security.blocked, 0);
    assert_eq!(
        r.security.false_rejections,
        r.proposals.created - r.security.anomalous
    );
}

#[test]
fn offline_nodes_never_come_up() {
    let s = inline(
        "[[nodes]]\ncount = 2\nbehaviour = { kind = \"honest\" }\n[[nodes]]\nbehaviour = { kind = \"offline\" }",
        "2/3",
    );
    let r = run(s, 3).unwrap();
    check(&r);
    assert_eq!(r.invariants.honest_checked, 2);
    assert_eq!(r.proposals.votes_cast, 2 * r.proposals.created);
    // With q = 3 of 3 nothing can pass while one member is offline.
    let s = inline(
        "[[nodes]]\ncount = 2\nbehaviour = { kind = \"honest\" }\n[[nodes]]\nbehaviour = { kind = \"offline\" }",
        "3/3",
    );
    let r = run(s, 3).unwrap();
    assert_eq!(r.proposals.approved, 0);
}

#[test]
fn scenario_errors_name_the_file_and_field() {
    let e = Scenario::parse("x.toml", "name = \"a\"\nquorum = \"2/3\"\nbogus = 1\n")
        .unwrap_err()
        .to_string();
    assert!(e.contains("x.toml") && e.contains("bogus"), "{e}");
    let text = "name = \"a\"\nquorum = \"2/3\"\n[[nodes]]\nbehaviour = { kind = \"honest\", error_rate = 2.0 }\n[workload]\nproposals = 1\nrate_per_sec = 1.0\n";
    let e = Scenario::parse("y.toml", text).unwrap_err().to_string();
    assert!(
        e.contains("y.toml") && e.contains("nodes[0].behaviour"),
        "{e}"
    );
    let text = "name = \"a\"\nquorum = \"2/3\"\n[[nodes]]\nbehaviour = { kind = \"honest\", typo = 1 }\n[workload]\nproposals = 1\nrate_per_sec = 1.0\n";
    let e = Scenario::parse("z.toml", text).unwrap_err().to_string();
    assert!(e.contains("z.toml") && e.contains("typo"), "{e}");
}
