//! Thresholds tiered by risk, four-eyes and group requirements with real `swarmvote run`
//! processes: three nodes that vote only by hand, under a roster whose rules put deletes
//! under /backup at 3/3, secret rotations under four-eyes and table drops behind a YES
//! from `security`. Each test leaves a proposal pending with the votes that do not
//! suffice, checks that every node and every view (`show`, `watch`, `propose --wait`,
//! MCP) says why, adds the vote that does, and checks the certificate with `verify-cert`.
//!
//! Every wait is on a condition with a deadline; dropping a cluster kills its nodes.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Instant;

use serde_json::{Value, json};
use swarmvote_node::api::ProposalReport;
use swarmvote_node::dev::cluster::{ApiClient, Cluster, ClusterOptions, wait_for};
use swarmvote_protocol::Status;

mod common;
#[path = "common/mcp.rs"]
mod mcp_client;
use common::{DEADLINE, cluster_with_options, ready_all};

const BIN: &str = env!("CARGO_BIN_EXE_swarmvote");

/// The roster's rules: node2 alone is `security`.
const RULES: &str = r#"
[groups]
security = ["node2"]

[[rules]]
name = "backup-deletes"
action = "fs.delete"
payload = { path = "/backup/**" }
quorum = "1"

[[rules]]
name = "secret-rotation"
action = "secrets.*"
four_eyes = true

[[rules]]
name = "db-drops"
action = "db.drop"
require = [{ group = "security", yes = 1 }]
"#;

/// Three nodes at 2/3 under [`RULES`], every one voting by hand; running and connected.
fn swarm(dir: &Path) -> (Cluster, Vec<ApiClient>) {
    let options = ClusterOptions {
        roster_rules: RULES.to_owned(),
        ..ClusterOptions::default()
    };
    let mut c = cluster_with_options(dir, 3, "2/3", &|_| String::new(), &options);
    c.start_all().unwrap();
    let api = ready_all(&mut c, 2);
    (c, api)
}

/// `swarmvote ARGS`, run to the end.
fn swarmvote(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .env("RUST_LOG", "warn")
        .output()
        .unwrap()
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Node `i`'s config, for the CLI (which then names members as the roster does).
fn config(c: &Cluster, i: usize) -> String {
    c.nodes[i].config.display().to_string()
}

/// Casts `vote` at node `i` once it knows the proposal.
fn vote(api: &[ApiClient], i: usize, id: &str, vote: &str) {
    wait_for(&format!("node{i} knows {id}"), DEADLINE, || {
        api[i].proposal(id)
    })
    .unwrap();
    let (status, body) = api[i].vote(id, vote).unwrap();
    assert_eq!(status, 200, "node{i} {vote}: {body}");
}

/// Each node's report once it holds `ballots` ballots for `id`.
fn at_every_node(api: &[ApiClient], id: &str, ballots: usize) -> Vec<ProposalReport> {
    api.iter()
        .enumerate()
        .map(|(i, a)| {
            wait_for(&format!("{ballots} ballots at node{i}"), DEADLINE, || {
                Ok(a.proposal_report(id)?
                    .filter(|r| r.ballots.len() >= ballots))
            })
            .unwrap()
        })
        .collect()
}

/// Each node's report once it decided `id`.
fn decided_everywhere(api: &[ApiClient], id: &str) -> Vec<ProposalReport> {
    api.iter()
        .enumerate()
        .map(|(i, a)| {
            wait_for(&format!("node{i} decides {id}"), DEADLINE, || {
                Ok(a.proposal_report(id)?
                    .filter(|r| r.status != Status::Pending))
            })
            .unwrap()
        })
        .collect()
}

/// Writes `cert` to `dir/name` and runs `verify-cert` on it against the cluster's roster.
fn verify_cert(dir: &Path, name: &str, cert: &Value) -> Output {
    let path = dir.join(name);
    std::fs::write(&path, serde_json::to_string_pretty(cert).unwrap()).unwrap();
    let roster = dir.join("roster.toml");
    swarmvote(&[
        "verify-cert",
        path.to_str().unwrap(),
        "--roster",
        roster.to_str().unwrap(),
    ])
}

/// The certificate without the YES ballot of `voter`.
fn without(cert: &Value, voter: &str) -> Value {
    let mut cert = cert.clone();
    cert["ballots"]
        .as_array_mut()
        .unwrap()
        .retain(|b| b["ballot"]["voter"] != voter);
    cert
}

/// Follows `swarmvote watch` until a line contains `needle`; fails after the deadline.
fn watch_until(c: &Cluster, needle: &str) -> String {
    let mut child = Command::new(BIN)
        .args(["watch", "--config", &config(c, 0)])
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let (tx, rx) = mpsc::channel();
    let out = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines() {
            let Ok(line) = line else { return };
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    let deadline = Instant::now() + DEADLINE;
    let mut seen = String::new();
    let found = loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) => {
                seen.push_str(&line);
                seen.push('\n');
                if line.contains(needle) {
                    break true;
                }
            }
            Err(_) => break false,
        }
    };
    let _ = child.kill();
    let _ = child.wait();
    assert!(found, "watch never printed {needle:?}:\n{seen}");
    seen
}

#[test]
fn backup_deletes_need_every_member_and_verify_cert_recomputes_the_tier() {
    let dir = tempfile::tempdir().unwrap();
    let (c, api) = swarm(dir.path());
    let id = api[0]
        .propose("fs.delete", json!({"path": "/backup/db.tar"}), 120_000)
        .unwrap();
    vote(&api, 0, &id, "yes");
    vote(&api, 1, &id, "yes");
    // Two YES of three approve by default, not under backup-deletes: every node holds
    // both ballots and still says pending, under the tier with q = 3.
    for r in at_every_node(&api, &id, 2) {
        assert_eq!(r.status, Status::Pending);
        assert_eq!(r.tally.tier.as_str(), "backup-deletes");
        assert_eq!((r.tally.n, r.tally.q, r.tally.four_eyes), (3, 3, false));
    }
    let show = swarmvote(&["show", "--config", &config(&c, 0), &id]);
    let text = stdout(&show);
    assert!(
        text.contains("tier       backup-deletes: yes 2/3\n           needs 1 more YES\n"),
        "{text}"
    );
    // `watch` follows the ballots with the tier's progress.
    watch_until(&c, "tier backup-deletes: yes 2/3; needs 1 more YES");

    vote(&api, 2, &id, "yes");
    for r in decided_everywhere(&api, &id) {
        assert_eq!(r.status, Status::Approved);
    }
    let cert = api[1].certificate(&id).unwrap();
    assert_eq!(
        cert["tier"],
        json!({"name": "backup-deletes", "required": 3})
    );
    let ok = verify_cert(dir.path(), "cert.json", &cert);
    assert!(ok.status.success(), "{}", stderr(&ok));
    assert!(
        stdout(&ok).contains("tier       backup-deletes\n"),
        "{}",
        stdout(&ok)
    );
    assert!(
        stdout(&ok).contains("quorum     3 of 3 signed yes (q = 3)"),
        "{}",
        stdout(&ok)
    );

    // The same certificate claiming the default tier (q = 2): refused, naming both.
    let mut lowered = cert.clone();
    lowered["tier"] = json!({"name": "default", "required": 2});
    let refused = verify_cert(dir.path(), "lowered.json", &lowered);
    assert_eq!(refused.status.code(), Some(1), "{}", stdout(&refused));
    let err = stderr(&refused);
    assert!(
        err.contains("records tier default (q = 2)")
            && err.contains("puts this proposal in tier backup-deletes (q = 3)"),
        "{err}"
    );
    // Two of its three ballots, with or without the label: short of q = 3.
    let short = verify_cert(
        dir.path(),
        "short.json",
        &without(&cert, &c.nodes[2].voter.to_string()),
    );
    assert_eq!(short.status.code(), Some(1));
    assert!(stderr(&short).contains('3'), "{}", stderr(&short));
}

#[test]
fn four_eyes_leaves_the_proposers_own_yes_out() {
    let dir = tempfile::tempdir().unwrap();
    let (c, api) = swarm(dir.path());
    let id = api[0]
        .propose("secrets.rotate", json!({"name": "db-password"}), 120_000)
        .unwrap();
    // The proposer's YES and one other's: two YES, q = 2, yet pending, because the
    // proposer's own YES does not count.
    vote(&api, 0, &id, "yes");
    vote(&api, 1, &id, "yes");
    for r in at_every_node(&api, &id, 2) {
        assert_eq!(r.status, Status::Pending);
        assert_eq!(r.tally.tier.as_str(), "secret-rotation");
        assert!(r.tally.four_eyes);
        assert_eq!((r.tally.yes.len(), r.tally.q), (2, 2));
    }
    let show = stdout(&swarmvote(&["show", "--config", &config(&c, 0), &id]));
    for needle in [
        "tier       secret-rotation (four-eyes): yes 1/2\n",
        "needs 1 more YES; node0's own YES does not count (four-eyes",
    ] {
        assert!(show.contains(needle), "no {needle:?} in:\n{show}");
    }
    // The MCP view tells the agent the same.
    let mcp_config = config(&c, 0);
    let view = tokio::runtime::Runtime::new().unwrap().block_on(async {
        let client = mcp_client::stdio_client(&["--config", &mcp_config]).await;
        let view = mcp_client::ok(&client, "get_proposal", json!({ "id": id })).await;
        client.cancel().await.unwrap();
        view
    });
    let tally = &view["tally"];
    assert_eq!(tally["tier"], "secret-rotation", "{view}");
    assert_eq!(tally["four_eyes"], true, "{view}");
    assert_eq!(
        (&tally["yes"], &tally["counted_yes"], &tally["needed"]),
        (&json!(2), &json!(1), &json!(2)),
        "{view}"
    );
    let next = view["next"].as_str().unwrap();
    assert!(
        next.contains(
            "Under tier secret-rotation it needs 1 more YES; node0's own YES does not count"
        ),
        "{next}"
    );

    // A second member besides the proposer approves.
    vote(&api, 2, &id, "yes");
    for r in decided_everywhere(&api, &id) {
        assert_eq!(r.status, Status::Approved);
    }
    let cert = api[2].certificate(&id).unwrap();
    assert_eq!(
        cert["tier"],
        json!({"name": "secret-rotation", "required": 2})
    );
    let ok = verify_cert(dir.path(), "cert.json", &cert);
    assert!(ok.status.success(), "{}", stderr(&ok));
    assert!(
        stdout(&ok).contains(
            "tier       secret-rotation (four-eyes: the proposer's own yes does not count)"
        ),
        "{}",
        stdout(&ok)
    );
    // Without node2's ballot it holds two YES, the proposer's among them: not enough.
    let short = verify_cert(
        dir.path(),
        "short.json",
        &without(&cert, &c.nodes[2].voter.to_string()),
    );
    assert_eq!(short.status.code(), Some(1), "{}", stdout(&short));
}

#[test]
fn a_group_requirement_blocks_approval_until_a_member_votes_yes() {
    let dir = tempfile::tempdir().unwrap();
    let (c, api) = swarm(dir.path());
    // `propose --wait` that nobody answers in time says what the proposal needs.
    let waited = swarmvote(&[
        "propose",
        "--config",
        &config(&c, 0),
        "--action",
        "db.drop",
        "--payload",
        r#"{"table":"orders"}"#,
        "--wait",
        "--timeout-ms",
        "1000",
    ]);
    let text = stdout(&waited);
    assert!(
        text.contains("  tier db-drops: yes 0/2, security 0/1\n  needs 2 more YES and 1 more YES from security\n"),
        "{text}{}",
        stderr(&waited)
    );
    let id = text.lines().next().unwrap().trim().to_owned();
    // Two YES outside the group meet q = 2, but not the group's requirement.
    vote(&api, 0, &id, "yes");
    vote(&api, 1, &id, "yes");
    for r in at_every_node(&api, &id, 2) {
        assert_eq!(r.status, Status::Pending);
        assert_eq!(r.tally.tier.as_str(), "db-drops");
        assert_eq!(r.tally.groups.len(), 1);
        assert_eq!((r.tally.groups[0].yes, r.tally.groups[0].need), (0, 1));
    }
    let show = stdout(&swarmvote(&["show", "--config", &config(&c, 1), &id]));
    assert!(
        show.contains("tier       db-drops: yes 2/2, security 0/1\n           needs 1 more YES from security\n"),
        "{show}"
    );
    // node2, the group, approves.
    vote(&api, 2, &id, "yes");
    for r in decided_everywhere(&api, &id) {
        assert_eq!(r.status, Status::Approved);
        assert_eq!(r.tally.groups[0].yes, 1);
    }
    let cert = api[0].certificate(&id).unwrap();
    let ok = verify_cert(dir.path(), "cert.json", &cert);
    assert!(ok.status.success(), "{}", stderr(&ok));
    // Without node2's ballot the quorum still holds, the group does not.
    let short = verify_cert(
        dir.path(),
        "short.json",
        &without(&cert, &c.nodes[2].voter.to_string()),
    );
    assert_eq!(short.status.code(), Some(1));
    assert!(
        stderr(&short)
            .contains("requires 1 YES ballots from group security, the certificate has 0"),
        "{}",
        stderr(&short)
    );
}
