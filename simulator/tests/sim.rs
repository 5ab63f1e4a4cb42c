//! End-to-end runs: determinism, the invariants on every shipped scenario, and each
//! behaviour doing (and being caught doing) what it should.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::PathBuf;

use swarmvote_sim::report::ViolationKind;
use swarmvote_sim::scenario::Latency;
use swarmvote_sim::{Report, Scenario, Sim, run};

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

/// A knob from the environment, for running the matrix deeper by hand.
fn env_knob(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The seed matrix. CI runs the fast profile: 50 seeds of every shipped scenario with at
/// most 5 proposals each (crashes, partitions and attacks still happen on schedule). For a
/// deeper run: `SIM_MATRIX_SEEDS=500 SIM_MATRIX_PROPOSALS=60 cargo test -p swarmvote-sim
/// --release --test sim invariants_hold`.
#[test]
fn invariants_hold_for_every_shipped_scenario_over_50_seeds() {
    let seeds = env_knob("SIM_MATRIX_SEEDS", 50);
    let proposals = u32::try_from(env_knob("SIM_MATRIX_PROPOSALS", 5)).unwrap();
    let mut files: Vec<PathBuf> = std::fs::read_dir(scenarios_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    files.sort();
    assert!(files.len() >= 4, "{files:?}");
    for f in files {
        let s = small(Scenario::load(&f).unwrap(), proposals);
        // Scale scenarios (large-1000) are for `run` and `bench`, not for a seed matrix;
        // `the_large_scenario_parses` covers the file.
        if s.behaviours().len() > 100 {
            continue;
        }
        for seed in 0..seeds {
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

/// Like `inline` with `proposals` proposals, no loss, fixed latency.
fn inline_n(nodes: &str, quorum: &str, proposals: u32) -> Scenario {
    let mut s = inline(nodes, quorum);
    s.workload.proposals = proposals;
    s
}

#[test]
fn a_compromised_minority_never_gets_an_anomalous_command_through() {
    // 1 stolen key of 3 with q = 2: the thief's YES alone is not a quorum.
    let s = inline_n(
        "[[nodes]]\ncount = 2\nbehaviour = { kind = \"honest\" }\n[[nodes]]\nbehaviour = { kind = \"compromised\" }",
        "2/3",
        20,
    );
    for seed in 0..10 {
        let r = run(s.clone(), seed).unwrap();
        check(&r);
        assert!(r.security.anomalous > 0, "seed {seed}");
        assert_eq!(r.security.false_approvals, 0, "seed {seed}");
    }
    // Sanity: with q = 1 the same thief does get them through, so the test can fail.
    let s = inline_n(
        "[[nodes]]\ncount = 2\nbehaviour = { kind = \"honest\" }\n[[nodes]]\nbehaviour = { kind = \"compromised\" }",
        "1/3",
        20,
    );
    let r = run(s, 1).unwrap();
    check(&r);
    assert_eq!(r.security.false_approvals, r.security.anomalous);
}

#[test]
fn a_colluding_bloc_of_quorum_size_passes_anomalies_a_smaller_one_cannot() {
    let bloc = |k: u32| {
        inline_n(
            &format!(
                "[[nodes]]\ncount = {}\nbehaviour = {{ kind = \"honest\", error_rate = 0.0 }}\n[[nodes]]\ncount = {k}\nbehaviour = {{ kind = \"colluding\", bloc = \"x\", p = 0.5 }}",
                5 - k
            ),
            "3/5",
            20,
        )
    };
    let (mut big, mut small_bloc) = (0, 0);
    for seed in 0..10 {
        let r = run(bloc(3), seed).unwrap();
        check(&r);
        big += r.security.false_approvals;
        let r = run(bloc(2), seed).unwrap();
        check(&r);
        small_bloc += r.security.false_approvals;
    }
    assert!(big > 0, "a bloc of q = 3 never got an anomaly through");
    assert_eq!(small_bloc, 0, "a bloc of 2 < q got an anomaly through");
}

#[test]
fn a_colluding_bloc_flips_together() {
    // p = 1: the bloc is always wrong, together; 3 of 3 colluding at q = 2 inverts all.
    let s = inline_n(
        "[[nodes]]\ncount = 3\nbehaviour = { kind = \"colluding\", bloc = \"x\", p = 1.0 }\n[[nodes]]\nbehaviour = { kind = \"honest\" }",
        "2/4",
        20,
    );
    let r = run(s, 2).unwrap();
    check(&r);
    assert_eq!(r.security.false_approvals, r.security.anomalous);
}

#[test]
fn a_slow_node_decides_later_but_correctly() {
    let fast = inline_n(
        "[[nodes]]\ncount = 3\nbehaviour = { kind = \"honest\" }",
        "3/3",
        10,
    );
    let slow = inline_n(
        "[[nodes]]\ncount = 2\nbehaviour = { kind = \"honest\" }\n[[nodes]]\nbehaviour = { kind = \"slow\", extra_ms = 200 }",
        "3/3",
        10,
    );
    // All benign: at q = n every approval needs the slow node's YES.
    let (mut fast, mut slow) = (fast, slow);
    fast.workload.anomalous_fraction = 0.0;
    slow.workload.anomalous_fraction = 0.0;
    let a = run(fast, 4).unwrap();
    let b = run(slow, 4).unwrap();
    check(&a);
    check(&b);
    assert_eq!(b.security.false_approvals, 0);
    assert_eq!(b.invariants.honest_checked, 3, "slow nodes are honest");
    // Every decision at q = n waits for the slow node's ballot: >= 2 x 200 ms round trip.
    assert!(b.latency.proposer.p50_ms >= 400.0, "{:?}", b.latency);
    assert!(a.latency.proposer.p50_ms < 100.0, "{:?}", a.latency);
}

#[test]
fn replayed_ballots_are_never_counted() {
    let s = inline_n(
        "[[nodes]]\ncount = 3\nbehaviour = { kind = \"honest\" }\n[[nodes]]\nbehaviour = { kind = \"replayer\" }",
        "3/4",
        15,
    );
    for seed in 0..5 {
        let r = run(s.clone(), seed).unwrap();
        check(&r);
        assert!(r.security.replayed_sent > 0, "seed {seed}");
        // Retargeted replays fail the signature check; re-addressed ones are ignored.
        assert!(r.security.invalid_rejected > 0, "seed {seed}");
        assert!(r.security.ignored > 0, "seed {seed}");
        assert_eq!(r.security.false_approvals, 0, "seed {seed}");
        assert_eq!(r.security.false_rejections, 0, "seed {seed}");
        // The replayer never votes, so every honest node's tally holds only the 3 honest
        // ballots: 3/4 needs all of them and every proposal is still decided.
        assert_eq!(
            r.proposals.approved + r.proposals.rejected,
            r.proposals.created,
            "seed {seed}"
        );
    }
}

#[test]
fn flooded_garbage_is_rejected_and_honest_nodes_keep_deciding() {
    let s = inline_n(
        "[[nodes]]\ncount = 3\nbehaviour = { kind = \"honest\" }\n[[nodes]]\nbehaviour = { kind = \"flooder\", rate_per_s = 200.0 }",
        "2/4",
        20,
    );
    for seed in 0..5 {
        let r = run(s.clone(), seed).unwrap();
        check(&r);
        assert!(r.security.garbage_sent > 10, "seed {seed}");
        // No loss: each of the 3 honest nodes rejects every garbage message.
        assert_eq!(
            r.security.invalid_rejected,
            r.security.garbage_sent * 3,
            "seed {seed}"
        );
        assert_eq!(
            r.proposals.approved + r.proposals.rejected,
            r.proposals.created,
            "seed {seed}"
        );
        assert_eq!(r.security.false_approvals, 0, "seed {seed}");
    }
}

#[test]
fn the_compromised_key_and_flood_scenarios_do_what_they_say() {
    let s = small(load("compromised-key.toml"), 30);
    let mut false_approvals = 0;
    for seed in 0..5 {
        let r = run(s.clone(), seed).unwrap();
        check(&r);
        false_approvals += r.security.false_approvals;
    }
    // The thief plus the pair reach q = 3 whenever the pair's coin comes up.
    assert!(false_approvals > 0);
    let s = small(load("flood.toml"), 15);
    for seed in 0..3 {
        let r = run(s.clone(), seed).unwrap();
        check(&r);
        assert!(r.security.garbage_sent > 0 && r.security.replayed_sent > 0);
        assert_eq!(r.security.false_approvals, 0, "seed {seed}");
        assert_eq!(
            r.proposals.approved + r.proposals.rejected,
            r.proposals.created,
            "seed {seed}"
        );
    }
}

#[test]
fn sweep_csv_has_one_row_per_cell_and_no_false_approvals_without_drift() {
    let base = small(load("drift-sweep.toml"), 15);
    let (ns, ps) = ([1, 2, 3], [0.0, 0.3]);
    let rows = swarmvote_sim::study::sweep(&base, &ns, &ps, 2).unwrap();
    let csv = swarmvote_sim::study::sweep_csv(&rows);
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 1 + ns.len() * ps.len(), "{csv}");
    for r in &rows {
        assert_eq!(r.violations, 0);
        if r.p == 0.0 {
            assert_eq!(r.false_approval_rate, 0.0, "{r:?}");
            assert_eq!(r.block_rate, 1.0, "{r:?}");
        }
    }
    // Deterministic: the same sweep prints the same CSV.
    let again = swarmvote_sim::study::sweep(&base, &ns, &ps, 2).unwrap();
    assert_eq!(csv, swarmvote_sim::study::sweep_csv(&again));
}

#[test]
fn seed_table_measures_quorums_and_tolerance() {
    use swarmvote_sim::study;
    let base = study::seed_base(30).unwrap();
    let rows = study::seed_table(&base, 0.05, 2).unwrap();
    let got: Vec<(u32, u32, u32)> = rows.iter().map(|r| (r.n, r.q, r.tolerance)).collect();
    // 51% of 2 is 2 (unanimity), 0.66 of 3 is 2; tolerance q - 1. Deletes at 3/3 leave
    // the default tier's q = 2, so one stolen key too many still approves the rest.
    assert_eq!(got, vec![(1, 1, 0), (2, 2, 1), (3, 2, 1), (3, 2, 1)]);
    // Tier by tier: deletes need all three and tolerate two stolen keys.
    let tiers: Vec<(&str, u32, u32)> = rows[3]
        .tiers
        .iter()
        .map(|t| (t.tier.as_str(), t.q, t.tolerance))
        .collect();
    assert_eq!(tiers, vec![("deletes", 3, 2), ("default", 2, 1)]);
    assert!(rows[..3].iter().all(|r| r.tiers.is_empty()));
    for r in &rows {
        assert!(r.latency_ms > 0.0 && r.latency_ms < 20.0, "{r:?}");
    }
    assert!((study::binomial_tail(3, 2, 0.05) - 0.00725).abs() < 1e-9);
}

/// A node that crashes and restarts while every proposal is still open, and re-judges
/// them all with a fair coin, so about half its second judgements contradict its first.
/// Nothing can be decided: with two of four members offline at q = 3, YES never reaches
/// 3 and NO never exceeds n - q = 1 (the honest node votes YES on every benign proposal).
/// With `broken`, the crashing node's own-vote guard is off.
fn rejudging(broken: bool) -> Scenario {
    let mut s = inline_n(
        "[[nodes]]\nbehaviour = { kind = \"honest\" }\n\
         [[nodes]]\ncount = 2\nbehaviour = { kind = \"offline\" }\n\
         [[nodes]]\nbehaviour = { kind = \"crash\", error_rate = 0.5, at_ms = 3000, restart_at_ms = 3500 }",
        "3/4",
        10,
    );
    s.workload.anomalous_fraction = 0.0;
    s.quiet_ms = 2000;
    if broken {
        s.testing.broken_guard = vec![3];
    }
    s
}

#[test]
fn a_broken_own_vote_guard_is_reported_by_the_invariant_checker() {
    // This proves the checker can fail: with the guard off, the restarted node signs a
    // second, contradicting ballot whenever its new judgement differs from its first.
    for seed in 0..3 {
        let r = run(rejudging(true), seed).unwrap();
        assert!(
            !r.invariants.hold(),
            "seed {seed}: the broken guard went unseen"
        );
        assert!(!r.invariants.no_honest_equivocation, "seed {seed}");
        assert!(r.security.equivocations_by_honest > 0, "seed {seed}");
        let mut named = 0;
        for v in &r.invariants.violations {
            assert_eq!(v.seed, seed, "{v:?}");
            if v.kind == ViolationKind::HonestEquivocation {
                let id = v.proposal.as_deref().unwrap();
                assert!(
                    id.len() == 64 && id.bytes().all(|b| b.is_ascii_hexdigit()),
                    "{v:?}"
                );
                assert!(v.detail.contains("n3"), "{v:?}");
                named += 1;
            }
        }
        assert!(named > 0, "seed {seed}: {:?}", r.invariants.violations);

        // The same run with the guard on: it refuses the contradicting votes instead.
        let r = run(rejudging(false), seed).unwrap();
        check(&r);
        assert!(
            r.proposals.votes_refused > 0,
            "seed {seed}: the guard was not exercised"
        );
    }
}

#[test]
fn the_broken_guard_knob_only_names_honest_nodes() {
    let text = |nodes: &str| {
        format!(
            "name = \"a\"\nquorum = \"2/3\"\n{nodes}\n[workload]\nproposals = 1\nrate_per_sec = 1.0\n[testing]\nbroken_guard = [1]\n"
        )
    };
    let honest = text("[[nodes]]\ncount = 2\nbehaviour = { kind = \"honest\" }");
    let s = Scenario::parse("t.toml", &honest).unwrap();
    assert_eq!(s.testing.broken_guard, vec![1]);
    let equivocator = text(
        "[[nodes]]\nbehaviour = { kind = \"honest\" }\n[[nodes]]\nbehaviour = { kind = \"equivocator\" }",
    );
    let e = Scenario::parse("t.toml", &equivocator)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("t.toml") && e.contains("testing.broken_guard[0]"),
        "{e}"
    );
    let out_of_range = text("[[nodes]]\nbehaviour = { kind = \"honest\" }");
    let e = Scenario::parse("t.toml", &out_of_range)
        .unwrap_err()
        .to_string();
    assert!(e.contains("testing.broken_guard[0]"), "{e}");
}

#[test]
fn the_large_scenario_parses() {
    let s = load("large-1000.toml");
    assert_eq!(s.behaviours().len(), 1000);
    assert!(s.behaviours().iter().all(|b| b.is_honest()));
    assert_eq!(s.workload.proposals, 100);
}

#[test]
fn the_bench_logic_measures_a_tiny_swarm() {
    use swarmvote_sim::bench;
    let m = bench::run_one(4, bench::Overrides::default()).unwrap();
    assert!(m.ok, "{m:?}");
    let w = bench::workload(4);
    assert_eq!(m.proposals, u64::from(w.proposals));
    assert_eq!(m.decisions, m.proposals, "every proposal decided: {m:?}");
    assert!(m.events > 0 && m.virtual_s > 0.0 && m.wall_s > 0.0, "{m:?}");
    if cfg!(target_os = "linux") {
        assert!(m.peak_rss_kib.is_some_and(|k| k > 0), "{m:?}");
    }
    // What a child prints, its parent reads back.
    let back = bench::Measurement::from_line(&m.to_line()).unwrap();
    assert_eq!(back.events, m.events);
    assert_eq!(back.decisions, m.decisions);
    assert!(bench::Measurement::from_line("nodes=4 junk").is_err());
    // The median of three, and the largest RSS.
    let runs: Vec<_> = [3.0, 1.0, 2.0]
        .iter()
        .zip([10, 30, 20])
        .map(|(&wall_s, rss)| bench::Measurement {
            wall_s,
            peak_rss_kib: Some(rss),
            ..m.clone()
        })
        .collect();
    let s = bench::summarise(runs).unwrap();
    assert_eq!((s.wall_s, s.peak_rss_kib), (2.0, Some(30)));
    let table = bench::table(&[s], 3, bench::Overrides::default());
    assert!(table.contains(&w.label), "{table}");
    assert!(table.contains("median of 3"), "{table}");
    // A changed workload runs what it says and says what it ran.
    let o = bench::Overrides {
        proposals: Some(3),
        rate_per_sec: Some(0.5),
    };
    let m3 = bench::run_one(4, o).unwrap();
    assert_eq!((m3.proposals, m3.decisions), (3, 3), "{m3:?}");
    assert!(m3.virtual_s < m.virtual_s, "3 proposals end sooner: {m3:?}");
    let table = bench::table(&[m3], 1, o);
    assert!(table.contains("set: 3 proposals at 0.5/s"), "{table}");
    assert!(!table.contains(&w.label), "{table}");
}

/// A mixed swarm on a lossy, duplicating network with a partition: crashes, restarts,
/// offline and slow nodes, attackers, a clone of the restarting member's key and the
/// network's own duplicates.
const MIXED: &str = "name = \"prune\"\nquorum = \"2/3\"\n\
    [[nodes]]\ncount = 6\nbehaviour = { kind = \"honest\", error_rate = 0.1 }\n\
    [[nodes]]\nbehaviour = { kind = \"crash\", error_rate = 0.3, at_ms = 1200, restart_at_ms = 1500 }\n\
    [[nodes]]\nbehaviour = { kind = \"crash\", at_ms = 3000 }\n\
    [[nodes]]\nbehaviour = { kind = \"offline\" }\n\
    [[nodes]]\nbehaviour = { kind = \"slow\", extra_ms = 30 }\n\
    [[nodes]]\nbehaviour = { kind = \"replayer\" }\n\
    [[nodes]]\nbehaviour = { kind = \"equivocator\" }\n\
    [[nodes]]\nbehaviour = { kind = \"flooder\", rate_per_s = 20.0 }\n\
    [[nodes]]\nbehaviour = { kind = \"drift\", p = 0.2 }\n\
    [[nodes]]\nbehaviour = { kind = \"cloned\", of = 6 }\n\
    [network]\nfanout = 4\nsync_interval_ms = 1000\n\
    [network.default]\nlatency = { kind = \"uniform\", min_ms = 5.0, max_ms = 40.0 }\n\
    loss = 0.05\nduplicate = 0.3\n\
    [[partitions]]\nstart_ms = 1000\nheal_ms = 2000\na = [0, 1]\nb = [2, 3, 4, 5, 6, 7]\n\
    [workload]\nproposals = 12\nrate_per_sec = 8.0\nanomalous_fraction = 0.3\nttl_ms = 3000\n";

/// Duplicate copies settled at send time (instead of queued) must leave every report
/// number as it was: only the trace, which logs each delivery, gets shorter. A mixed swarm
/// on a lossy, duplicating network with a partition, so crashes, restarts, offline and
/// slow nodes, attackers and the network's own duplicates all meet the pruning.
#[test]
fn pruning_duplicate_copies_changes_nothing_but_the_trace() {
    let s = Scenario::parse("prune.toml", MIXED).unwrap();
    for seed in 0..6 {
        let pruned = Sim::new(s.clone(), seed).unwrap().run();
        let full = Sim::new(s.clone(), seed)
            .unwrap()
            .without_duplicate_pruning()
            .run();
        check(&pruned);
        assert!(full.traffic.duplicated > 0, "seed {seed}");
        assert!(full.traffic.duplicates_suppressed > 0, "seed {seed}");
        assert!(
            pruned.trace.events < full.trace.events,
            "seed {seed}: nothing pruned ({} events)",
            full.trace.events
        );
        let same_trace = Report {
            trace: full.trace.clone(),
            ..pruned
        };
        assert_eq!(same_trace, full, "seed {seed}");
    }
}

/// Gossip copies wait in their message's own queue, with only the earliest in the run's
/// queue. That must run every event in the order one queue of every copy would: the same
/// report and the same trace, on the mixed swarm of the pruning test (every behaviour,
/// crashes, a partition, loss and duplicates), with and without pruning.
#[test]
fn per_message_copy_queues_run_events_in_the_order_of_one_queue() {
    let s = Scenario::parse("prune.toml", MIXED).unwrap();
    for seed in 0..4 {
        let queued = Sim::new(s.clone(), seed).unwrap().run();
        let single = Sim::new(s.clone(), seed)
            .unwrap()
            .without_copy_queues()
            .run();
        check(&queued);
        assert!(queued.proposals.created > 0, "seed {seed}");
        assert_eq!(queued, single, "seed {seed}");
        let unpruned = |q: bool| {
            let sim = Sim::new(s.clone(), seed)
                .unwrap()
                .without_duplicate_pruning();
            if q { sim } else { sim.without_copy_queues() }.run()
        };
        assert_eq!(unpruned(true), unpruned(false), "seed {seed}");
    }
}

#[test]
fn members_can_take_a_drawn_time_to_judge() {
    let base = inline(
        "[[nodes]]\ncount = 5\nbehaviour = { kind = \"honest\" }",
        "3/5",
    );
    // A distribution that always gives 1 ms is the default fixed delay: same report.
    let mut fixed = base.clone();
    fixed.workload.eval_delay = Some(Latency::Fixed { ms: 1.0 });
    assert_eq!(run(fixed, 2).unwrap(), run(base.clone(), 2).unwrap());
    // Members taking 0.5 to 1.5 s: no decision before the third vote, so none before
    // 0.5 s, and the decisions spread with the draws.
    let mut slow = base;
    slow.workload.eval_delay = Some(Latency::Uniform {
        min_ms: 500.0,
        max_ms: 1_500.0,
    });
    let r = run(slow, 2).unwrap();
    check(&r);
    assert_eq!(
        r.proposals.approved + r.proposals.rejected,
        r.proposals.created
    );
    let p = &r.latency.proposer;
    assert!(p.count > 0);
    assert!(p.p50_ms >= 500.0 && p.p99_ms <= 1_700.0, "{p:?}");
    assert!(p.p99_ms - p.p50_ms > 50.0, "no spread: {p:?}");
}

#[test]
fn mesh_forwarding_alone_brings_every_message_to_every_node() {
    // 300 members with at most 16 connections each, and catch-up too rare to help: every
    // honest node must decide every proposal from gossip alone, within a few hops.
    // Forwarding to 6 fresh random peers per message would miss each node e^-6 of the
    // time, about 0.7 nodes per proposal here, and those would wait for catch-up.
    let mut s = inline_n(
        "[[nodes]]\ncount = 300\nbehaviour = { kind = \"honest\" }",
        "2/3",
        4,
    );
    s.network.max_peers = 16;
    s.network.sync_interval_ms = 600_000;
    for seed in 0..2 {
        let r = run(s.clone(), seed).unwrap();
        check(&r);
        assert_eq!(
            r.latency.last_honest.count, 4,
            "seed {seed}: {:?}",
            r.latency
        );
        assert!(
            r.latency.last_honest.p99_ms < 1_000.0,
            "seed {seed}: {:?}",
            r.latency
        );
    }
}

#[test]
fn a_swarm_larger_than_its_peer_limit_still_reaches_everyone() {
    // 150 members with at most 12 connections each: flood publish reaches a node's
    // peers only, and forwarding plus catch-up must carry every message to everyone.
    let mut s = inline_n(
        "[[nodes]]\ncount = 150\nbehaviour = { kind = \"honest\" }",
        "2/3",
        3,
    );
    s.network.max_peers = 12;
    let r = run(s.clone(), 5).unwrap();
    check(&r);
    assert_eq!(r.proposals.created, 3);
    assert_eq!(r.proposals.approved + r.proposals.rejected, 3);
    // Every honest node decided every proposal (agreement alone would accept "all
    // pending"), and the last one to decide did so well within the TTL.
    assert_eq!(r.latency.last_honest.count, 3, "{:?}", r.latency);
    assert!(r.latency.last_honest.p99_ms < 10_000.0, "{:?}", r.latency);
    // Fewer copies than a full mesh: each message is published to about 12 peers, not
    // 149, and forwarded as before.
    s.network.max_peers = 200;
    let full = run(s, 5).unwrap();
    check(&full);
    assert!(
        r.traffic.gossip_messages < full.traffic.gossip_messages,
        "sparse {} vs full {}",
        r.traffic.gossip_messages,
        full.traffic.gossip_messages
    );
}
