//! Doppelganger protection in the simulator: a `cloned` node runs an honest member's key,
//! the member's engine raises the alarm, the member stops signing, and the cloned-key
//! check holds, or fails when the alarm is ignored.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::PathBuf;

use swarmvote_sim::report::{ClonedKeys, ViolationKind};
use swarmvote_sim::{Report, Scenario, run};

fn shipped() -> Scenario {
    let path =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../configs/scenarios/cloned-key.toml");
    Scenario::load(&path).unwrap()
}

/// Four honest members at 3/4 and, after them, `clone` (a behaviour table); `tail` adds
/// tables after the workload.
fn inline(clone: &str, tail: &str) -> Scenario {
    let text = format!(
        "name = \"inline-clone\"\nquorum = \"3/4\"\n\
         [[nodes]]\ncount = 4\nbehaviour = {{ kind = \"honest\" }}\n\
         [[nodes]]\nbehaviour = {clone}\n\
         [network.default]\nlatency = {{ kind = \"uniform\", min_ms = 5.0, max_ms = 30.0 }}\n\
         [workload]\nproposals = 20\nrate_per_sec = 8.0\nanomalous_fraction = 0.3\nttl_ms = 10000\n{tail}"
    );
    Scenario::parse("inline-clone.toml", &text).unwrap()
}

fn clones(r: &Report) -> &ClonedKeys {
    r.cloned_keys
        .as_ref()
        .expect("a run with a clone reports it")
}

/// The clone signed, its ballots reached honest nodes, and the member it clones, and
/// only that member, raised the alarm and then withheld its votes.
fn assert_caught(r: &Report) {
    assert!(
        r.invariants.hold(),
        "seed {}: {:?}",
        r.seed,
        r.invariants.violations
    );
    assert_eq!(
        r.invariants.cloned_key_caught,
        Some(true),
        "seed {}",
        r.seed
    );
    let c = clones(r);
    assert_eq!(c.clones.len(), 1);
    let clone = &c.clones[0];
    assert!(clone.ballots_signed > 0, "seed {}: {c:?}", r.seed);
    assert!(clone.reached_honest, "seed {}: {c:?}", r.seed);
    let nodes: Vec<usize> = c.detections.iter().map(|d| d.node).collect();
    assert_eq!(nodes, vec![clone.of], "seed {}: {c:?}", r.seed);
    assert!(c.alarms >= 1, "seed {}", r.seed);
    assert!(
        c.votes_withheld > 0,
        "seed {}: the member kept signing after the alarm: {c:?}",
        r.seed
    );
}

#[test]
fn the_shipped_clone_is_caught_and_the_same_seed_gives_the_same_report() {
    let s = shipped();
    let a = run(s.clone(), 1).unwrap();
    let b = run(s, 1).unwrap();
    assert_eq!(a.to_json(), b.to_json());
    assert_eq!(a.to_table(), b.to_table());
    assert_eq!(a.trace.hash, b.trace.hash);
    assert_caught(&a);
    // The clone signs the wrong vote, so the key equivocates: the evidence is counted,
    // but it is the clone's, not the member's.
    assert!(a.security.equivocations_detected > 0);
    assert_eq!(a.security.equivocations_by_honest, 0);
    assert!(a.invariants.no_honest_equivocation);
    // The report shows it.
    let json = a.to_json();
    assert!(
        json.contains("\"cloned_keys\"") && json.contains("\"cloned_key_caught\": true"),
        "{json}"
    );
    let table = a.to_table();
    let of = clones(&a).clones[0].of;
    assert!(table.contains(&format!("runs n{of}'s key")), "{table}");
    assert!(table.contains("cloned key caught     ok"), "{table}");
}

#[test]
fn the_clone_is_caught_over_20_seeds_whichever_member_it_clones() {
    let mut s = shipped();
    s.workload.proposals = 10;
    let mut targets = std::collections::BTreeSet::new();
    for seed in 0..20 {
        let r = run(s.clone(), seed).unwrap();
        assert_caught(&r);
        targets.insert(clones(&r).clones[0].of);
    }
    // The member is drawn from the seed.
    assert!(targets.len() > 1, "{targets:?}");
}

#[test]
fn a_clone_voting_the_same_way_is_caught_by_the_alarm_alone() {
    // The same vote with another reason: no equivocation evidence exists anywhere, so
    // only the doppelganger alarm can tell the key runs twice.
    let s = inline("{ kind = \"cloned\", of = 2, votes = \"same\" }", "");
    for seed in 0..5 {
        let r = run(s.clone(), seed).unwrap();
        assert_caught(&r);
        assert_eq!(clones(&r).clones[0].of, 2);
        assert_eq!(r.security.equivocations_detected, 0, "seed {seed}");
    }
}

#[test]
fn an_ignored_alarm_is_reported_as_an_uncaught_cloned_key() {
    // This proves the check can fail: the member ignores its engine's alarm.
    let s = inline(
        "{ kind = \"cloned\", of = 1 }",
        "[testing]\nignore_doppelganger = [1]\n",
    );
    for seed in 0..3 {
        let r = run(s.clone(), seed).unwrap();
        assert_eq!(r.invariants.cloned_key_caught, Some(false), "seed {seed}");
        assert!(!r.invariants.hold());
        let c = clones(&r);
        assert!(
            c.clones[0].reached_honest && c.detections.is_empty(),
            "{c:?}"
        );
        assert_eq!(c.votes_withheld, 0);
        let uncaught: Vec<_> = r
            .invariants
            .violations
            .iter()
            .filter(|v| v.kind == ViolationKind::ClonedKeyUncaught)
            .collect();
        assert_eq!(uncaught.len(), 1, "{:?}", r.invariants.violations);
        assert_eq!(uncaught[0].seed, seed);
        assert!(
            uncaught[0].detail.contains("n1") && uncaught[0].detail.contains("n4"),
            "{:?}",
            uncaught[0]
        );
        assert!(r.to_table().contains("cloned key caught     VIOLATED"));
    }
}

#[test]
fn a_member_that_crashes_and_restarts_stays_stopped() {
    // The clone of a member that crashes and restarts: alarmed before the crash or after
    // the restart, it ends up stopped, and the key is caught.
    let text = "name = \"crash-clone\"\nquorum = \"3/4\"\n\
        [[nodes]]\ncount = 3\nbehaviour = { kind = \"honest\" }\n\
        [[nodes]]\nbehaviour = { kind = \"crash\", at_ms = 1500, restart_at_ms = 2500 }\n\
        [[nodes]]\nbehaviour = { kind = \"cloned\", of = 3 }\n\
        [workload]\nproposals = 30\nrate_per_sec = 8.0\nanomalous_fraction = 0.3\nttl_ms = 10000\n";
    let s = Scenario::parse("crash-clone.toml", text).unwrap();
    for seed in 0..5 {
        let r = run(s.clone(), seed).unwrap();
        assert_caught(&r);
        assert_eq!(r.storage.restarts, 1);
    }
}

#[test]
fn a_run_without_clones_reports_nothing_about_them() {
    let s = inline("{ kind = \"honest\" }", "");
    let r = run(s, 1).unwrap();
    assert!(r.cloned_keys.is_none());
    assert_eq!(r.invariants.cloned_key_caught, None);
    assert!(!r.to_json().contains("cloned"), "{}", r.to_json());
    assert!(!r.to_table().contains("cloned"), "{}", r.to_table());
}

#[test]
fn bad_clone_scenarios_are_refused_naming_the_field() {
    let parse = |nodes: &str, tail: &str| {
        let text = format!(
            "name = \"c\"\nquorum = \"2/3\"\n{nodes}\n[workload]\nproposals = 1\nrate_per_sec = 1.0\n{tail}"
        );
        Scenario::parse("c.toml", &text)
            .err()
            .map(|e| e.to_string())
    };
    let honest = "[[nodes]]\ncount = 2\nbehaviour = { kind = \"honest\" }\n";
    let clone = |b: &str| format!("[[nodes]]\nbehaviour = {b}\n");
    assert_eq!(
        parse(&format!("{honest}{}", clone("{ kind = \"cloned\" }")), ""),
        None
    );
    // A member after a clone.
    let e = parse(
        &format!("{honest}{}{honest}", clone("{ kind = \"cloned\" }")),
        "",
    )
    .unwrap();
    assert!(
        e.contains("c.toml") && e.contains("nodes[2]") && e.contains("come last"),
        "{e}"
    );
    // Not an honest member: out of range, an attacker, the clone itself.
    for of in [9, 2] {
        let e = parse(
            &format!(
                "{honest}{}",
                clone(&format!("{{ kind = \"cloned\", of = {of} }}"))
            ),
            "",
        )
        .unwrap();
        assert!(e.contains("nodes[1].behaviour.of"), "{e}");
    }
    let e = parse(
        &format!(
            "{honest}{}{}",
            clone("{ kind = \"forger\" }"),
            clone("{ kind = \"cloned\", of = 2 }")
        ),
        "",
    )
    .unwrap();
    assert!(e.contains("nodes[2].behaviour.of"), "{e}");
    // Unknown vote modes, and the test knob on a clone.
    let e = parse(
        &format!(
            "{honest}{}",
            clone("{ kind = \"cloned\", votes = \"maybe\" }")
        ),
        "",
    )
    .unwrap();
    assert!(e.contains("maybe"), "{e}");
    let e = parse(
        &format!("{honest}{}", clone("{ kind = \"cloned\" }")),
        "[testing]\nignore_doppelganger = [2]\n",
    )
    .unwrap();
    assert!(e.contains("testing.ignore_doppelganger[0]"), "{e}");
}
