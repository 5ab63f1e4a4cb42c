//! The `swarmvote-sim` binary's `sweep` and `seed-table` wrappers: what they print and
//! write, and how they refuse bad arguments. Parameters are tiny so each run is quick.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A small scenario: 3 honest nodes, 4 proposals, a short quiet period.
const TINY: &str = "name = \"tiny\"\nquorum = \"2/3\"\nquiet_ms = 2000\n\
    [[nodes]]\ncount = 3\nbehaviour = { kind = \"honest\" }\n\
    [network.default]\nlatency = { kind = \"lognormal\", median_ms = 0.2, sigma = 0.5 }\n\
    [workload]\nproposals = 4\nrate_per_sec = 20.0\nanomalous_fraction = 0.5\nttl_ms = 5000\n";

/// A fresh directory for one test.
fn scratch(test: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("cli-{test}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

fn sim(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_swarmvote-sim"))
        .args(args)
        .output()
        .unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn sweep_writes_the_table_csv_and_charts() {
    let dir = scratch("sweep");
    let scenario = write(&dir, "tiny.toml", TINY);
    let csv = dir.join("out.csv");
    let svg = dir.join("charts");
    let args = [
        "sweep",
        scenario.to_str().unwrap(),
        "--n",
        "1,3",
        "--p",
        "0,0.5",
        "--seeds",
        "2",
        "--csv",
        csv.to_str().unwrap(),
        "--svg",
        svg.to_str().unwrap(),
    ];
    let out = sim(&args);
    assert!(out.status.success(), "{}", text(&out.stderr));
    // stderr is not a terminal here, so no progress bar is drawn.
    assert_eq!(text(&out.stderr), "");
    let stdout = text(&out.stdout);
    assert_eq!(stdout.lines().count(), 1 + 4, "{stdout}");
    assert!(
        stdout.starts_with("   n    q      p   block rate"),
        "{stdout}"
    );

    let csv = std::fs::read_to_string(&csv).unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(
        lines.first().copied(),
        Some(
            "n,q,p,seeds,block_rate,false_approval_rate,mean_latency_ms,p50_latency_ms,\
             p99_latency_ms,violations"
        )
    );
    assert_eq!(lines.len(), 1 + 2 * 2, "{csv}");
    // No drift: every anomaly blocked, none approved.
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("3,2,0,2,1.000000,0.000000,")),
        "{csv}"
    );
    for name in ["block-rate.svg", "false-approval-rate.svg", "latency.svg"] {
        let s = std::fs::read_to_string(svg.join(name)).unwrap();
        assert!(
            s.starts_with("<svg") && s.trim_end().ends_with("</svg>"),
            "{name}"
        );
    }

    // --quiet prints the same report bytes: the bar never touches stdout.
    let mut quiet = args.to_vec();
    quiet.push("--quiet");
    let again = sim(&quiet);
    assert!(again.status.success());
    assert_eq!(again.stdout, out.stdout);
}

#[test]
fn seed_table_prints_claims_beside_measurements_and_where_they_fail() {
    let out = sim(&["seed-table", "--seeds", "1", "--proposals", "10", "--quiet"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let s = text(&out.stdout);
    let row = |label: &str| {
        s.lines()
            .find(|l| l.starts_with(label))
            .unwrap_or_else(|| panic!("no row {label}: {s}"))
            .to_string()
    };
    // The seed's claims stand beside our figures.
    let single = row("single node");
    assert!(
        single.contains("<5 ms") && single.contains("0%"),
        "{single}"
    );
    let two = row("2 agents, 51%");
    assert!(two.contains("145 ms") && two.contains("88.5%"), "{two}");
    let three = row("3 agents, 66%");
    assert!(
        three.contains("280 ms") && three.contains("100%"),
        "{three}"
    );
    // Simulated latency is a few ms: "<5 ms" holds, "145 ms" does not.
    assert!(single.contains(" ms      <5 ms    ok |"), "{single}");
    assert!(two.contains("FAILS"), "{two}");
    // And the failures are spelled out.
    assert!(s.contains("Where the seed's claims do not hold:"), "{s}");
    assert!(
        s.contains("- 2 agents, 51%: latency: the seed says 145 ms, measured"),
        "{s}"
    );
    assert!(
        s.contains("- single node: block rate: the seed says 0%, measured"),
        "{s}"
    );
    assert!(s.contains("Assumptions:"), "{s}");
}

/// Runs `args`, expects a usage failure, and returns stderr.
fn refused(args: &[&str]) -> String {
    let out = sim(args);
    assert_eq!(
        out.status.code(),
        Some(2),
        "{args:?}: {}",
        text(&out.stdout)
    );
    assert!(out.stdout.is_empty(), "{args:?}");
    text(&out.stderr)
}

#[test]
fn bad_arguments_exit_non_zero_naming_the_problem() {
    let dir = scratch("bad");
    let tiny = write(&dir, "tiny.toml", TINY);
    let tiny = tiny.to_str().unwrap();

    let e = refused(&["sweep", tiny, "--p", "0,1.5", "--seeds", "1"]);
    assert!(e.contains("--p 1.5") && e.contains("[0, 1]"), "{e}");
    let e = refused(&["sweep", tiny, "--p=-0.1", "--seeds", "1"]);
    assert!(e.contains("--p -0.1"), "{e}");
    let e = refused(&["sweep", tiny, "--n", "0,3", "--seeds", "1"]);
    assert!(e.contains("--n"), "{e}");
    let e = refused(&["sweep", tiny, "--seeds", "0"]);
    assert!(e.contains("--seeds"), "{e}");

    let missing = dir.join("no-such.toml");
    let e = refused(&["sweep", missing.to_str().unwrap(), "--seeds", "1"]);
    assert!(
        e.contains("no-such.toml") && e.contains("cannot read"),
        "{e}"
    );
    let e = refused(&["run", missing.to_str().unwrap()]);
    assert!(e.contains("no-such.toml"), "{e}");

    let broken = write(
        &dir,
        "broken.toml",
        "name = \"x\"\nquorum = \"2/3\"\nnodes = 3\n",
    );
    let e = refused(&["sweep", broken.to_str().unwrap(), "--seeds", "1"]);
    assert!(e.contains("broken.toml") && e.contains("nodes"), "{e}");
    let invalid = write(&dir, "invalid.toml", &TINY.replace("\"2/3\"", "\"7/3\""));
    let e = refused(&["run", invalid.to_str().unwrap()]);
    assert!(e.contains("invalid.toml") && e.contains("quorum"), "{e}");

    let e = refused(&["seed-table", "--drift", "2"]);
    assert!(e.contains("--drift 2"), "{e}");
    let e = refused(&["seed-table", "--proposals", "0"]);
    assert!(e.contains("--proposals"), "{e}");
    // clap's own usage errors also exit 2 and name the flag.
    let e = refused(&["sweep", tiny, "--n", "x"]);
    assert!(e.contains("--n"), "{e}");
    for rate in ["0", "-1", "inf", "NaN", "fast"] {
        let e = refused(&["bench", "--nodes", "3", &format!("--rate={rate}")]);
        assert!(e.contains("--rate") && e.contains(rate), "{e}");
    }
    let e = refused(&["bench", "--nodes", "3", "--proposals", "0"]);
    assert!(e.contains("--proposals"), "{e}");
}

/// Built without the `live` feature, `--network libp2p` is refused with the feature's
/// name, and the model still runs.
#[cfg(not(feature = "live"))]
#[test]
fn without_the_live_feature_libp2p_is_refused_by_name() {
    let dir = scratch("no-live");
    let tiny = write(&dir, "tiny.toml", TINY);
    let tiny = tiny.to_str().unwrap();
    let e = refused(&["run", tiny, "--network", "libp2p"]);
    assert!(
        e.contains("`live` feature") && e.contains("tiny.toml"),
        "{e}"
    );
    assert!(sim(&["run", tiny]).status.success());
}
