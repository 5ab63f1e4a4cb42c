//! Golden reports: for seed 1, every shipped scenario's report (JSON and table) and
//! trace hash, a small sweep and a small seed table must stay byte-identical. They were
//! recorded before the code was restructured, so a refactor that changes what the
//! simulator computes fails here. After an intended change of behaviour, re-record with
//! `SWARMVOTE_BLESS=1 cargo test -p swarmvote-sim --test golden` and say why in the
//! commit.
//!
//! large-1000 runs here with its workload cut to 2 proposals (the full run takes minutes
//! in a release build); `SIM_GOLDEN_FULL=1` adds the full workload, which is recorded too.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::PathBuf;

use sha2::{Digest, Sha256};
use swarmvote_sim::{Scenario, run, study};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn golden_file() -> PathBuf {
    root().join("tests/golden/reports.tsv")
}

fn sha(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}

/// The shipped scenarios, sorted by file name, each with the proposal caps to run.
fn cases() -> Vec<(String, Scenario, Option<u32>)> {
    let dir = root().join("../configs/scenarios");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    files.sort();
    let full = std::env::var_os("SIM_GOLDEN_FULL").is_some();
    let mut out = Vec::new();
    for file in files {
        let name = file.file_stem().unwrap().to_string_lossy().into_owned();
        let scenario = Scenario::load(&file).unwrap();
        if scenario.behaviours().len() >= 1000 {
            out.push((name.clone(), scenario.clone(), Some(2)));
            if full {
                out.push((name, scenario, None));
            }
        } else {
            out.push((name, scenario, None));
        }
    }
    out
}

/// One line per run: name, cap, SHA-256 of the JSON report, of the table, trace hash.
fn line(name: &str, mut scenario: Scenario, cap: Option<u32>) -> String {
    if let Some(cap) = cap {
        scenario.workload.proposals = scenario.workload.proposals.min(cap);
    }
    let report = run(scenario, 1).unwrap();
    let cap = cap.map_or_else(|| "full".to_string(), |c| c.to_string());
    format!(
        "{name}\t{cap}\t{}\t{}\t{}",
        sha(&report.to_json()),
        sha(&report.to_table()),
        report.trace.hash
    )
}

fn studies() -> Vec<String> {
    let base = Scenario::load(&root().join("../configs/scenarios/drift-sweep.toml")).unwrap();
    let rows = study::sweep(&base, &[1, 3, 5], &[0.0, 0.2], 2).unwrap();
    let sweep = study::sweep_table(&rows);
    let csv = study::sweep_csv(&rows);
    let seed_base = study::seed_base(20).unwrap();
    let seed_rows = study::seed_table(&seed_base, 0.05, 2).unwrap();
    let seed = study::seed_table_text(&seed_rows, 0.05, 2, 20);
    vec![
        format!("sweep-table\t-\t{}\t-\t-", sha(&sweep)),
        format!("sweep-csv\t-\t{}\t-\t-", sha(&csv)),
        format!("seed-table\t-\t{}\t-\t-", sha(&seed)),
    ]
}

#[test]
fn reports_are_byte_identical_to_the_recorded_ones() {
    let mut lines: Vec<String> = cases()
        .into_iter()
        .map(|(name, s, cap)| line(&name, s, cap))
        .collect();
    lines.extend(studies());
    let mut text = String::new();
    for l in &lines {
        writeln!(text, "{l}").unwrap();
    }
    let path = golden_file();
    if std::env::var_os("SWARMVOTE_BLESS").is_some() {
        // Keep recorded lines this run did not produce (the full large run).
        let mut all: BTreeMap<(String, String), String> = BTreeMap::new();
        if let Ok(old) = std::fs::read_to_string(&path) {
            for l in old.lines() {
                let mut f = l.split('\t');
                let key = (
                    f.next().unwrap_or("").to_string(),
                    f.next().unwrap_or("").to_string(),
                );
                all.insert(key, l.to_string());
            }
        }
        for l in &lines {
            let mut f = l.split('\t');
            let key = (
                f.next().unwrap_or("").to_string(),
                f.next().unwrap_or("").to_string(),
            );
            all.insert(key, l.clone());
        }
        let body: String = all.values().map(|l| format!("{l}\n")).collect();
        std::fs::write(&path, body).unwrap();
        return;
    }
    let recorded = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e}; record it with SWARMVOTE_BLESS=1", path.display()));
    let recorded: BTreeMap<(String, String), String> = recorded
        .lines()
        .map(|l| {
            let mut f = l.split('\t');
            let key = (
                f.next().unwrap_or("").to_string(),
                f.next().unwrap_or("").to_string(),
            );
            (key, l.to_string())
        })
        .collect();
    let mut diffs = Vec::new();
    for l in &lines {
        let mut f = l.split('\t');
        let key = (
            f.next().unwrap_or("").to_string(),
            f.next().unwrap_or("").to_string(),
        );
        match recorded.get(&key) {
            Some(r) if r == l => {}
            Some(r) => diffs.push(format!("changed:\n  recorded {r}\n  now      {l}")),
            None => diffs.push(format!("not recorded: {l}")),
        }
    }
    assert!(diffs.is_empty(), "{}", diffs.join("\n"));
}
