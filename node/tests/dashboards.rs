//! The shipped Grafana dashboard (`configs/grafana/`) and Prometheus alert rules
//! (`configs/prometheus/`) name only metrics a real node exports, and the rules pass
//! `promtool check rules` (required under CI, where `.ci/run` installs it).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde_json::{Value, json};

mod common;
use common::{cluster_with, ready_all};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Every `swarmvote_…` name in `text`.
fn names_in(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut rest = text;
    while let Some(i) = rest.find("swarmvote_") {
        let tail = &rest[i..];
        let end = tail
            .find(|c: char| !(c.is_ascii_lowercase() || c == '_'))
            .unwrap_or(tail.len());
        out.insert(tail[..end].to_string());
        rest = &tail[end..];
    }
    out
}

/// The sample names a `/metrics` text can hold, from its `# TYPE` lines: a counter
/// `x` gives `x_total`, a histogram `x_bucket`, `x_sum` and `x_count`. Families with no
/// sample yet (no execution ran) still have their TYPE line.
fn exported(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for line in text.lines() {
        let mut parts = line.split_whitespace();
        if parts.next() != Some("#") || parts.next() != Some("TYPE") {
            continue;
        }
        let (Some(name), Some(kind)) = (parts.next(), parts.next()) else {
            continue;
        };
        match kind {
            "counter" => {
                out.insert(format!("{name}_total"));
            }
            "histogram" => {
                for s in ["bucket", "sum", "count"] {
                    out.insert(format!("{name}_{s}"));
                }
            }
            _ => {
                out.insert(name.to_string());
            }
        }
    }
    out
}

/// Every PromQL expression of the dashboard.
fn dashboard_exprs(dashboard: &Value) -> Vec<String> {
    let mut out = Vec::new();
    for panel in dashboard["panels"].as_array().unwrap() {
        let targets = panel["targets"].as_array().unwrap();
        assert!(!targets.is_empty(), "panel {} has no query", panel["title"]);
        for t in targets {
            out.push(t["expr"].as_str().unwrap().to_string());
        }
    }
    if let Some(vars) = dashboard["templating"]["list"].as_array() {
        for v in vars {
            if let Some(q) = v["query"]["query"].as_str() {
                out.push(q.to_string());
            }
        }
    }
    out
}

#[test]
fn every_metric_in_the_dashboard_and_the_rules_is_exported_by_a_node() {
    let dashboard: Value = serde_json::from_str(
        &std::fs::read_to_string(repo().join("configs/grafana/swarmvote.json")).unwrap(),
    )
    .unwrap();
    let exprs = dashboard_exprs(&dashboard);
    let rules =
        std::fs::read_to_string(repo().join("configs/prometheus/swarmvote.rules.yml")).unwrap();
    let mut used: BTreeSet<String> = exprs.iter().flat_map(|e| names_in(e)).collect();
    let from_rules = names_in(&rules);
    assert!(from_rules.len() >= 6, "{from_rules:?}");
    used.extend(from_rules);
    // The panels the issue names are all there.
    let titles: Vec<&str> = dashboard["panels"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["title"].as_str().unwrap())
        .collect();
    for want in [
        "Decisions by outcome",
        "Decision latency",
        "Voter health: degraded",
        "Peers and mesh",
        "Gossip traffic",
        "Catch-up",
        "Executions",
        "Webhooks",
    ] {
        assert!(titles.contains(&want), "no panel {want:?} in {titles:?}");
    }

    // A real node, after a decision, so every family has its TYPE line.
    let dir = tempfile::tempdir().unwrap();
    let extra = |_: usize| {
        "[evaluator]\nkind = \"policy\"\n[[evaluator.rules]]\naction = \"*\"\nvote = \"yes\"\n"
            .to_string()
    };
    let mut c = cluster_with(dir.path(), 2, "1/2", &extra);
    c.start_all().unwrap();
    let clients = ready_all(&mut c, 1);
    let id = clients[0]
        .propose("ops.check", json!({ "dashboards": true }), 60_000)
        .unwrap();
    swarmvote_node::dev::cluster::wait_for("the proposal approved", common::DEADLINE, || {
        Ok(clients[0]
            .proposal(&id)?
            .filter(|p| p["status"] == "approved"))
    })
    .unwrap();
    let token = std::fs::read_to_string(c.nodes[0].dir.join("data/api.cookie")).unwrap();
    let text = ureq::get(&format!("http://{}/metrics", c.nodes[0].api))
        .header("Authorization", &format!("Bearer {}", token.trim()))
        .call()
        .unwrap()
        .into_body()
        .read_to_string()
        .unwrap();
    let have = exported(&text);
    let missing: Vec<&String> = used.iter().filter(|n| !have.contains(*n)).collect();
    assert!(
        missing.is_empty(),
        "the dashboard or the rules use metrics no node exports: {missing:?}\nexported: {have:?}"
    );
}

#[test]
fn the_alert_rules_pass_promtool() {
    let rules = repo().join("configs/prometheus/swarmvote.rules.yml");
    let out = match std::process::Command::new("promtool")
        .args(["check", "rules"])
        .arg(&rules)
        .output()
    {
        Ok(out) => out,
        Err(e) => {
            // `.ci/run` installs promtool (Debian's `prometheus`); elsewhere it may be absent.
            assert!(
                std::env::var_os("CI").is_none(),
                "promtool is required under CI: {e}"
            );
            eprintln!("skipped: promtool not installed ({e})");
            return;
        }
    };
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "promtool check rules failed:\n{text}");
    assert!(text.contains("SUCCESS"), "{text}");
}
