//! The MCP server with a real MCP client (rmcp's), over a child process's stdio and over
//! Streamable HTTP at `/mcp`, against a cluster of real `swarmvote run` processes.
//!
//! The cluster: node0 is the agent's own node and votes by hand (`manual`); node1 and
//! node2 vote by policy. Both refuse deleting under `/backup`; node2 also refuses
//! `ops.restart`, so that proposal is decided by node0's own `cast_vote`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;

use rmcp::model::Tool;
use serde_json::{Value, json};
use swarmvote_node::dev::cluster::Cluster;

mod common;
#[path = "common/mcp.rs"]
mod mcp_client;
use common::{cluster_with, ready_all};
use mcp_client::{Client, http_client, ok, stdio_client, tool_error};

const TOOLS: [&str; 7] = [
    "await_decision",
    "cast_vote",
    "get_certificate",
    "get_proposal",
    "list_proposals",
    "propose_action",
    "verify_certificate",
];

fn policy(i: usize) -> String {
    let restart = if i == 2 {
        "[[evaluator.rules]]\naction = \"ops.restart\"\nvote = \"no\"\nreason = \"restarts need a human here\"\n"
    } else {
        ""
    };
    match i {
        0 => String::new(),
        _ => format!(
            "[evaluator]\nkind = \"policy\"\n\
             [[evaluator.rules]]\naction = \"fs.delete\"\npayload = {{ path = \"/backup/**\" }}\n\
             vote = \"no\"\nreason = \"backups are protected\"\n{restart}\
             [[evaluator.rules]]\naction = \"*\"\nvote = \"yes\"\nreason = \"benign\"\n"
        ),
    }
}

fn swarm(dir: &Path) -> Cluster {
    let mut c = cluster_with(dir, 3, "2/3", &policy);
    c.start_all().unwrap();
    ready_all(&mut c, 2);
    c
}

fn schema_compiles(tool: &Tool) {
    let input = Value::Object((*tool.input_schema).clone());
    jsonschema::validator_for(&input)
        .unwrap_or_else(|e| panic!("{}: input schema does not compile: {e}", tool.name));
    let output = tool
        .output_schema
        .as_ref()
        .unwrap_or_else(|| panic!("{}: no output schema", tool.name));
    jsonschema::validator_for(&Value::Object((**output).clone()))
        .unwrap_or_else(|e| panic!("{}: output schema does not compile: {e}", tool.name));
    assert!(
        tool.description.as_ref().is_some_and(|d| d.len() > 40),
        "{}: no real description",
        tool.name
    );
    assert!(tool.annotations.is_some(), "{}: no annotations", tool.name);
}

/// What both transports must do: list tools, approve a benign action with a certificate
/// that verifies, reject a dangerous one with the NO reasons.
async fn approve_and_reject(client: &Client, roster: &str) {
    let tools = client.list_all_tools().await.unwrap();
    let mut names: Vec<&str> = tools.iter().map(|t| t.name.as_ref()).collect();
    names.sort_unstable();
    assert_eq!(names, TOOLS);
    for t in &tools {
        schema_compiles(t);
    }
    let read_only = |name: &str| {
        tools
            .iter()
            .find(|t| t.name == name)
            .and_then(|t| t.annotations.as_ref())
            .and_then(|a| a.read_only_hint)
    };
    assert_eq!(read_only("get_proposal"), Some(true));
    assert_eq!(read_only("propose_action"), Some(false));

    let approved = ok(
        client,
        "propose_action",
        json!({"action": "deploy.service", "payload": {"service": "web"}, "wait_s": 60}),
    )
    .await;
    assert_eq!(approved["status"], "approved", "{approved}");
    assert_eq!(approved["tally"]["needed"], 2);
    let id = approved["id"].as_str().unwrap().to_owned();
    let cert = ok(client, "get_certificate", json!({"id": id})).await;
    let verified = ok(
        client,
        "verify_certificate",
        json!({"certificate": cert["certificate"]}),
    )
    .await;
    assert_eq!(verified["valid"], true, "{verified}");
    assert_eq!(verified["action"], "deploy.service");
    // Against an explicit roster too; a tampered certificate is reported invalid.
    let with_roster = ok(
        client,
        "verify_certificate",
        json!({"certificate": cert["certificate"], "roster": roster}),
    )
    .await;
    assert_eq!(with_roster["valid"], true, "{with_roster}");
    let mut tampered = cert["certificate"].clone();
    tampered["proposal"]["proposal"]["action"] = json!("fs.delete");
    let bad = ok(
        client,
        "verify_certificate",
        json!({"certificate": tampered}),
    )
    .await;
    assert_eq!(bad["valid"], false, "{bad}");

    let rejected = ok(
        client,
        "propose_action",
        json!({"action": "fs.delete", "payload": {"path": "/backup/db"}, "wait_s": 60}),
    )
    .await;
    assert_eq!(rejected["status"], "rejected", "{rejected}");
    let reasons = rejected["no_reasons"].to_string();
    assert!(reasons.contains("backups are protected"), "{rejected}");
    assert!(
        rejected["next"]
            .as_str()
            .unwrap()
            .contains("do not perform")
    );
    let rid = rejected["id"].as_str().unwrap();
    let e = tool_error(client, "get_certificate", json!({"id": rid})).await;
    assert!(e.contains("not approved"), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mcp_over_stdio_and_http_gates_real_proposals() {
    let dir = tempfile::tempdir().unwrap();
    let c = swarm(dir.path());
    let roster = c.roster.to_toml();
    let config = c.nodes[0].config.display().to_string();

    // stdio, the way Claude Desktop or MCPServerStdio starts it.
    let stdio = stdio_client(&["--config", &config]).await;
    approve_and_reject(&stdio, &roster).await;

    // A pending proposal answers `pending` within wait_s, with what to do next; node0's
    // own vote through cast_vote decides it (node1 yes, node2 no).
    let pending = ok(
        &stdio,
        "propose_action",
        json!({"action": "ops.restart", "payload": {"service": "db"}, "wait_s": 5}),
    )
    .await;
    let id = pending["id"].as_str().unwrap().to_owned();
    let waited = ok(&stdio, "await_decision", json!({"id": id, "wait_s": 1})).await;
    assert_eq!(waited["status"], "pending", "{waited}");
    assert!(waited["next"].as_str().unwrap().contains("await_decision"));
    let voted = ok(
        &stdio,
        "cast_vote",
        json!({"id": id, "vote": "yes", "reason": "the on-call human agreed"}),
    )
    .await;
    let decided = ok(&stdio, "await_decision", json!({"id": id, "wait_s": 60})).await;
    assert_eq!(decided["status"], "approved", "{voted} {decided}");
    assert!(
        decided["ballots"]
            .to_string()
            .contains("the on-call human agreed")
    );
    let listed = ok(&stdio, "list_proposals", json!({"action": "ops.restart"})).await;
    assert_eq!(listed["proposals"][0]["id"], id.as_str());
    // Voting again on the decided proposal, the other way: refused, with what to do.
    let e = tool_error(&stdio, "cast_vote", json!({"id": id, "vote": "no"})).await;
    assert!(e.contains("get_proposal"), "{e}");

    // One that nobody decides expires; voting on it then is refused, with what to do.
    let expired = ok(
        &stdio,
        "propose_action",
        json!({"action": "ops.restart", "payload": {"service": "cache"}, "ttl_s": 1, "wait_s": 30}),
    )
    .await;
    assert_eq!(expired["status"], "expired", "{expired}");
    assert!(expired["next"].as_str().unwrap().contains("do not perform"));
    let eid = expired["id"].as_str().unwrap();
    let e = tool_error(&stdio, "cast_vote", json!({"id": eid, "vote": "yes"})).await;
    assert!(e.contains("expired") && e.contains("get_proposal"), "{e}");

    // Bad arguments and unknown ids are tool errors; the server keeps serving.
    let e = tool_error(&stdio, "propose_action", json!({"payload": {}})).await;
    assert!(
        e.contains("invalid arguments for propose_action") && e.contains("action"),
        "{e}"
    );
    let e = tool_error(
        &stdio,
        "propose_action",
        json!({"action": "no spaces allowed"}),
    )
    .await;
    assert!(e.contains("invalid argument"), "{e}");
    let e = tool_error(&stdio, "get_proposal", json!({"id": "xyz"})).await;
    assert!(e.contains("64 hex digits"), "{e}");
    let e = tool_error(&stdio, "get_proposal", json!({"id": "ab".repeat(32)})).await;
    assert!(e.contains("unknown proposal"), "{e}");
    let e = tool_error(&stdio, "list_proposals", json!({"status": "maybe"})).await;
    assert!(
        e.contains("invalid arguments for list_proposals") && e.contains("maybe"),
        "{e}"
    );
    let garbage = ok(
        &stdio,
        "verify_certificate",
        json!({"certificate": {"x": 1}}),
    )
    .await;
    assert_eq!(garbage["valid"], false, "{garbage}");
    assert!(
        garbage["error"].as_str().unwrap().contains("proposal"),
        "{garbage}"
    );
    let e = tool_error(
        &stdio,
        "verify_certificate",
        json!({"certificate": {}, "roster": "not a roster"}),
    )
    .await;
    assert!(e.contains("invalid argument roster"), "{e}");
    let still = ok(&stdio, "list_proposals", json!({"limit": 1})).await;
    assert_eq!(still["proposals"].as_array().unwrap().len(), 1);
    stdio.cancel().await.unwrap();

    // Streamable HTTP at /mcp on node0's API listener, behind its token.
    let token = std::fs::read_to_string(c.nodes[0].dir.join("data").join("api.cookie")).unwrap();
    let http = http_client(c.nodes[0].api, token.trim()).await.unwrap();
    approve_and_reject(&http, &roster).await;
    http.cancel().await.unwrap();
    let refused = http_client(c.nodes[0].api, "wrong").await;
    let Err(e) = refused else {
        panic!("a wrong token must be refused")
    };
    assert!(
        e.contains("401") || e.to_lowercase().contains("unauthorized"),
        "{e}"
    );

    // stdio with a wrong token, and with a node that is down: tool errors that say what
    // to do, and the server answers the next call.
    let fake = dir.path().join("fake");
    std::fs::create_dir_all(&fake).unwrap();
    std::fs::write(fake.join("api.addr"), format!("{}\n", c.nodes[0].api)).unwrap();
    std::fs::write(fake.join("api.cookie"), "wrong\n").unwrap();
    let wrong = stdio_client(&["--data-dir", &fake.display().to_string()]).await;
    let e = tool_error(
        &wrong,
        "propose_action",
        json!({"action": "deploy.service"}),
    )
    .await;
    assert!(e.contains("refused") && e.contains("token"), "{e}");
    let port = swarmvote_node::dev::cluster::free_port().unwrap();
    std::fs::write(fake.join("api.addr"), format!("127.0.0.1:{port}\n")).unwrap();
    let e = tool_error(
        &wrong,
        "propose_action",
        json!({"action": "deploy.service"}),
    )
    .await;
    assert!(
        e.contains("not reachable") && e.contains("must not proceed"),
        "{e}"
    );
    let e = tool_error(&wrong, "get_proposal", json!({"id": "ab".repeat(32)})).await;
    assert!(e.contains("not reachable"), "{e}");
    wrong.cancel().await.unwrap();
}
