//! The live mode: real node stacks on loopback decide a small workload with agreement,
//! and scenarios the live mode cannot express are refused by name.
//!
//! Every wait inside a live run is a condition with a deadline; the run stops every node
//! before it returns.
#![cfg(feature = "live")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::PathBuf;
use std::process::Command;

use swarmvote_sim::Scenario;
use swarmvote_sim::live::{LiveError, run_libp2p};

const NODES3: &str = "[[nodes]]\ncount = 3\nbehaviour = { kind = 'honest', error_rate = 0.0 }";

fn text(nodes: &str, extra: &str) -> String {
    format!(
        "name = 'live-test'\nquorum = '2/3'\nquiet_ms = 5000\n{nodes}\n{extra}\n\
         [workload]\nproposals = 8\nrate_per_sec = 40.0\nanomalous_fraction = 0.5\n\
         ttl_ms = 15000\neval_delay_ms = 0\n"
    )
}

fn scenario(nodes: &str, extra: &str) -> Scenario {
    Scenario::parse("live-test", &text(nodes, extra)).unwrap()
}

#[test]
fn three_honest_nodes_decide_everything_with_agreement() {
    let s = scenario(NODES3, "");
    let r = run_libp2p(&s, 4).unwrap();
    let p = &r.proposals;
    let x = &r.security;
    assert_eq!(r.started, 3);
    assert_eq!(p.created, 8, "{}", r.to_table());
    // Seed 4 draws both kinds, so both verdicts are exercised.
    assert!(x.anomalous > 0 && x.anomalous < 8, "{}", r.to_table());
    // Honest voters without errors: every anomaly rejected, every benign one approved.
    assert_eq!(p.rejected, x.anomalous, "{}", r.to_table());
    assert_eq!(p.approved, 8 - x.anomalous, "{}", r.to_table());
    assert_eq!((x.false_approvals, x.false_rejections), (0, 0));
    assert_eq!(x.block_rate, 1.0);
    assert!(r.invariants.hold(), "{:?}", r.invariants.violations);
    assert!(r.invariants.agreement && r.invariants.validity);
    assert_eq!(r.invariants.honest_checked, 3);
    // Every node decided every proposal, and each node signed once per proposal (the
    // last voter may find it decided already).
    assert_eq!(r.latency.proposer.count, 8);
    assert_eq!(r.latency.last_honest.count, 8);
    assert!(r.latency.proposer.p50_ms > 0.0);
    assert_eq!(p.votes_cast + p.votes_refused, 24, "{}", r.to_table());
    assert!(r.traffic.published >= 8 + 2 * 8, "{:?}", r.traffic);
    assert!(r.not_imposed.iter().any(|n| n.contains("latency")));
    // The run's runtime threads are gone (this is the only in-process live run here, so
    // no other run's threads can be counted); sled's and futures-timer's process-wide pools
    // stay, as in any process that used them.
    #[cfg(target_os = "linux")]
    {
        let live_threads = std::fs::read_dir("/proc/self/task")
            .unwrap()
            .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("comm")).ok())
            .filter(|name| name.starts_with("swarmvote-live"))
            .count();
        assert_eq!(live_threads, 0);
    }
}

#[test]
fn unsupported_behaviours_and_partitions_are_refused_by_name() {
    let s = scenario(
        "[[nodes]]\ncount = 2\nbehaviour = { kind = 'honest' }\n\
         [[nodes]]\nbehaviour = { kind = 'equivocator' }",
        "",
    );
    match run_libp2p(&s, 1) {
        Err(e @ LiveError::Unsupported { .. }) => {
            let m = e.to_string();
            assert!(m.contains("equivocator") && m.contains("n2"), "{m}");
        }
        other => panic!("expected Unsupported, got {other:?}"),
    }

    let s = scenario(
        "[[nodes]]\ncount = 3\nbehaviour = { kind = 'honest' }",
        "[[partitions]]\nstart_ms = 10\na = [0]\nb = [1, 2]",
    );
    let e = run_libp2p(&s, 1).unwrap_err();
    assert!(e.to_string().contains("partitions"), "{e}");

    let s = scenario(
        "[[nodes]]\ncount = 3\nbehaviour = { kind = 'crash', at_ms = 100 }",
        "",
    );
    let e = run_libp2p(&s, 1).unwrap_err();
    assert!(e.to_string().contains("crash"), "{e}");

    let s = scenario(
        "[[nodes]]\ncount = 3\nbehaviour = { kind = 'honest' }\n\
         [[nodes]]\nbehaviour = { kind = 'cloned' }",
        "",
    );
    let e = run_libp2p(&s, 1).unwrap_err();
    assert!(
        e.to_string().contains("cloned") && e.to_string().contains("n3"),
        "{e}"
    );

    let mut s = scenario("[[nodes]]\ncount = 3\nbehaviour = { kind = 'honest' }", "");
    s.workload.eval_delay = Some(swarmvote_sim::scenario::Latency::Fixed { ms: 5.0 });
    let e = run_libp2p(&s, 1).unwrap_err();
    assert!(e.to_string().contains("workload.eval_delay"), "{e}");
}

#[test]
fn the_binary_runs_live_with_json_and_refuses_unsupported_scenarios() {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("live-cli");
    std::fs::create_dir_all(&dir).unwrap();
    let ok = dir.join("ok.toml");
    std::fs::write(&ok, text(NODES3, "")).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_swarmvote-sim"))
        .args([
            "run",
            ok.to_str().unwrap(),
            "--network",
            "libp2p",
            "--json",
            "--seed",
            "4",
        ])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["network"], "libp2p");
    assert_eq!(v["invariants"]["agreement"], true);
    assert_eq!(v["proposals"]["created"], 8);

    let bad = dir.join("bad.toml");
    let nodes = "[[nodes]]\ncount = 2\nbehaviour = { kind = 'honest' }\n\
                 [[nodes]]\nbehaviour = { kind = 'flooder', rate_per_s = 10.0 }";
    std::fs::write(&bad, text(nodes, "")).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_swarmvote-sim"))
        .args(["run", bad.to_str().unwrap(), "--network", "libp2p"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("flooder") && stderr.contains("n2"),
        "{stderr}"
    );
    assert!(out.stdout.is_empty());
}

/// Three honest members under four-eyes, deletes under `/data/` in a tier of their own.
const TIERED: &str = "[roster]\nfour_eyes = true\n[[roster.rules]]\nname = 'data-deletes'\n\
                      action = 'fs.delete'\npayload = { path = '/data/**' }\nquorum = '2/3'\n";

#[test]
fn a_tiered_roster_runs_live_and_holds_the_tier_check() {
    // In a child process, so this run's threads never meet the thread count above.
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("live-tiers");
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("tiers.toml");
    std::fs::write(&file, text(NODES3, TIERED)).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_swarmvote-sim"))
        .args([
            "run",
            file.to_str().unwrap(),
            "--network",
            "libp2p",
            "--json",
        ])
        .args(["--seed", "4"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["invariants"]["no_wrong_tier"], true, "{v}");
    assert_eq!(v["invariants"]["agreement"], true, "{v}");
    // Benign proposals delete under /data/ (the rule's tier), anomalous ones under
    // /backup/ (the default): both tiers decide, each as its honest voters say, with
    // the proposer's own YES left out of every count.
    let tiers = v["tiers"].as_array().unwrap();
    let names: Vec<&str> = tiers.iter().map(|t| t["tier"].as_str().unwrap()).collect();
    assert_eq!(names, ["data-deletes", "default"]);
    let rule = &tiers[0];
    assert_eq!(rule["four_eyes"], true);
    assert!(rule["proposals"].as_u64().unwrap() > 0, "{v}");
    assert_eq!(rule["approved"], rule["proposals"], "{v}");
    assert_eq!(tiers[1]["rejected"], tiers[1]["proposals"], "{v}");
}

#[test]
fn the_lowered_rules_knob_is_refused_live() {
    let mut s = scenario(NODES3, TIERED);
    s.testing.lowered_rules = vec!["data-deletes".to_string()];
    let e = run_libp2p(&s, 1).unwrap_err();
    assert!(
        matches!(e, LiveError::Unsupported { .. }) && e.to_string().contains("lowered_rules"),
        "{e}"
    );
}
