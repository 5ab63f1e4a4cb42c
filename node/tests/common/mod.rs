//! Shared by the multi-process tests: start a local cluster, wait until it is ready.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;
use std::time::Duration;

use serde_json::Value;
use swarmvote_node::dev::cluster::{ApiClient, Cluster, ClusterOptions, ClusterSpec, wait_for};

pub mod webhook;

/// A policy evaluator: `deploy` to staging yes, to prod no ("not today"), anything else
/// unvoted.
pub const DEPLOY_POLICY: &str = r#"
[evaluator]
kind = "policy"
[[evaluator.rules]]
action = "deploy"
payload = { target = "prod" }
vote = "no"
reason = "not today"
[[evaluator.rules]]
action = "deploy"
payload = { target = "staging" }
vote = "yes"
"#;

/// Runs the `swarmvote` binary (logging at warn).
pub fn sv(args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_swarmvote"))
        .args(args)
        .env("RUST_LOG", "warn")
        .output()
        .unwrap()
}

/// Runs `swarmvote`, which must exit 0; its standard output.
pub fn ok(args: &[&str]) -> String {
    let out = sv(args);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{args:?} failed: {err}");
    String::from_utf8(out.stdout).unwrap()
}

/// Runs `swarmvote`, which must exit 1 with every one of `needles` on stderr; its stderr.
pub fn fails(args: &[&str], needles: &[&str]) -> String {
    let out = sv(args);
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(1), "{args:?}: stderr: {err}");
    for n in needles {
        assert!(err.contains(n), "{args:?}: {n:?} not in: {err}");
    }
    err
}

/// A plain GET (with a bearer token, if given): the status and the body as text.
pub fn http_get(url: &str, token: Option<&str>) -> (u16, String) {
    let agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .new_agent();
    let mut req = agent.get(url);
    if let Some(t) = token {
        req = req.header("Authorization", format!("Bearer {t}"));
    }
    let mut r = req.call().unwrap();
    (r.status().as_u16(), r.body_mut().read_to_string().unwrap())
}

/// How long any condition may take to become true.
pub const DEADLINE: Duration = Duration::from_secs(60);

/// A cluster of `n` real nodes in `dir`, with `extra` TOML appended to node `i`'s config.
pub fn cluster_with(
    dir: &Path,
    n: usize,
    quorum: &str,
    extra: &dyn Fn(usize) -> String,
) -> Cluster {
    cluster_with_options(dir, n, quorum, extra, &ClusterOptions::default())
}

/// [`cluster_with`], with less common settings (such as the roster's tier rules).
pub fn cluster_with_options(
    dir: &Path,
    n: usize,
    quorum: &str,
    extra: &dyn Fn(usize) -> String,
    options: &ClusterOptions,
) -> Cluster {
    Cluster::create_with(
        &ClusterSpec {
            binary: Path::new(env!("CARGO_BIN_EXE_swarmvote")),
            dir,
            nodes: n,
            quorum,
            extra,
        },
        options,
    )
    .unwrap()
}

/// Waits until every node has `peers` admitted peers; returns their API clients. On a
/// timeout it prints what every node logged and what the awaited one is doing.
pub fn ready_all(c: &mut Cluster, peers: usize) -> Vec<ApiClient> {
    (0..c.nodes.len())
        .map(|i| match c.wait_ready(i, peers, DEADLINE) {
            Ok(client) => client,
            Err(e) => {
                for n in &c.nodes {
                    eprintln!("==== {} log:\n{}", n.name, n.log_text());
                }
                eprintln!("==== {}:\n{}", c.nodes[i].name, c.nodes[i].diagnose());
                panic!("{e}");
            }
        })
        .collect()
}

/// Waits until proposal `id` has `status` at `client`; returns its report.
pub fn wait_status(client: &ApiClient, id: &str, status: &str) -> Value {
    wait_for(&format!("{id} {status}"), DEADLINE, || {
        Ok(client.proposal(id)?.filter(|p| p["status"] == status))
    })
    .unwrap()
}

/// (voter, vote, reason) of every kept ballot.
pub fn ballots(p: &Value) -> Vec<(String, String, Option<String>)> {
    p["ballots"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| {
            let b = &b["ballot"];
            (
                b["voter"].as_str().unwrap().to_owned(),
                b["vote"].as_str().unwrap().to_owned(),
                b["reason"].as_str().map(str::to_owned),
            )
        })
        .collect()
}

/// Node `i`'s voter id, as the API writes it.
pub fn voter(c: &Cluster, i: usize) -> String {
    c.nodes[i].voter.to_string()
}
