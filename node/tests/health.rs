//! Degraded-voter detection with real `swarmvote run` processes on 127.0.0.1.
//!
//! Three members: node0 and node1 vote YES by policy on `ops.test`; node2 votes NO on
//! proposals marked `mode = "dissent"` and YES otherwise, and proposes, so its ballot is
//! always in before the decision. For the equivocation, the test signs a NO ballot with
//! node2's key itself (a stolen key) and plants it in node1's store while node1 is
//! stopped: an engine never signs against its own tally, so a real node cannot be made
//! to equivocate on cue (node2, receiving that ballot in its name, stops with exit code 5
//! by doppelganger protection and is restarted). node0 POSTs health changes to a webhook server in this test,
//! which checks every HMAC; node1's webhook points at a closed port.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{BufRead, BufReader};
use std::time::Duration;

use hmac::{KeyInit, Mac};
use serde_json::{Value, json};
use swarmvote_node::daemon::store::Store;
use swarmvote_node::dev::cluster::{ApiClient, Cluster, free_port, wait_for};
use swarmvote_node::keyfile;
use swarmvote_protocol::engine::Record;
use swarmvote_protocol::{Ballot, ProposalId, Vote};

mod common;
use common::webhook::{Hook, wait_hooks, webhook_server};
use common::{DEADLINE, cluster_with, ready_all};

const SECRET: &str = "test-webhook-secret-0123456789";

/// Checks the signature the way a receiver would; returns the parsed body.
fn verified(hook: &Hook) -> Value {
    let ts = hook
        .header("x-swarmvote-timestamp")
        .expect("timestamp header");
    let sig = hook
        .header("x-swarmvote-signature")
        .expect("signature header");
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
    mac.update(format!("{ts}.{}", hook.body).as_bytes());
    let hex_sig = sig.strip_prefix("sha256=").expect("sha256= prefix");
    mac.verify_slice(&hex::decode(hex_sig).unwrap())
        .expect("the HMAC verifies");
    // And a tampered body does not.
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
    mac.update(format!("{ts}.{} ", hook.body).as_bytes());
    assert!(mac.verify_slice(&hex::decode(hex_sig).unwrap()).is_err());
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let ts: u64 = ts.parse().unwrap();
    assert!(ts.abs_diff(now) < 300, "timestamp {ts} vs now {now}");
    serde_json::from_str(&hook.body).unwrap()
}

/// A policy: (action glob, optional payload mode, vote), first match wins.
fn policy(rules: &[(&str, Option<&str>, &str)]) -> String {
    let mut out = String::from("[evaluator]\nkind = \"policy\"\n");
    for (action, mode, vote) in rules {
        out.push_str(&format!("[[evaluator.rules]]\naction = \"{action}\"\n"));
        if let Some(mode) = mode {
            out.push_str(&format!("payload = {{ mode = \"{mode}\" }}\n"));
        }
        out.push_str(&format!("vote = \"{vote}\"\nreason = \"test\"\n"));
    }
    out
}

const HEALTH: &str = "[health]\nwindow = 4\ndissent_fraction = 0.5\nmissed_fraction = 1.0\n\
                      degrade_after = 1\nrecover_after = 1\ngrace_ms = 300\n";

fn webhook(port: u16) -> String {
    format!(
        "[webhook]\nurl = \"http://127.0.0.1:{port}/hook\"\nsecret = \"{SECRET}\"\ntimeout_ms = 300\nmax_retries = 1\n"
    )
}

/// Proposes `ops.test` on node2 and waits until node0 has approved it.
fn propose(proposer: &ApiClient, observer: &ApiClient, mode: &str) -> String {
    let id = proposer
        .propose("ops.test", json!({ "mode": mode }), 60_000)
        .unwrap();
    wait_for(&format!("{id} approved"), DEADLINE, || {
        Ok(observer
            .proposal(&id)?
            .filter(|p| p["status"] == "approved"))
    })
    .unwrap();
    id
}

fn ballots(c: &ApiClient, id: &str) -> usize {
    c.proposal(id)
        .unwrap()
        .and_then(|p| p["ballots"].as_array().map(Vec::len))
        .unwrap_or(0)
}

/// One sample of node `i`'s `/metrics` (exact series name with labels), 0 if absent.
fn metric(c: &Cluster, i: usize, series: &str) -> f64 {
    let node = &c.nodes[i];
    let token = std::fs::read_to_string(node.dir.join("data/api.cookie")).unwrap();
    let text = ureq::get(format!("http://{}/metrics", node.api))
        .header("Authorization", format!("Bearer {}", token.trim()))
        .call()
        .unwrap()
        .body_mut()
        .read_to_string()
        .unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix(series).and_then(|v| v.trim().parse().ok()))
        .unwrap_or(0.0)
}

/// Reads node0's event stream backlog until an event of `kind` shows; returns its data.
fn event(c: &Cluster, kind: &str) -> Value {
    let node = &c.nodes[0];
    let token = std::fs::read_to_string(node.dir.join("data/api.cookie")).unwrap();
    let agent = ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(10)))
        .build()
        .new_agent();
    let mut response = agent
        .get(format!("http://{}/v1/events?after=0", node.api))
        .header("Authorization", format!("Bearer {}", token.trim()))
        .call()
        .unwrap();
    let reader = BufReader::new(response.body_mut().as_reader());
    let mut current = String::new();
    for line in reader.lines() {
        let line = line.unwrap();
        if let Some(e) = line.strip_prefix("event: ") {
            current = e.to_owned();
        } else if let Some(d) = line.strip_prefix("data: ")
            && current == kind
        {
            return serde_json::from_str(d).unwrap();
        }
    }
    panic!("no {kind} event");
}

#[test]
fn a_dissenter_and_an_equivocator_are_reported_by_signed_webhooks_and_recover() {
    let dir = tempfile::tempdir().unwrap();
    let (port, hooks) = webhook_server();
    let dead = free_port().unwrap();
    let extra = move |i: usize| -> String {
        let evaluator = match i {
            2 => policy(&[("*", Some("dissent"), "no"), ("*", None, "yes")]),
            _ => policy(&[("ops.test", None, "yes")]),
        };
        let hook = match i {
            0 => webhook(port),
            1 => webhook(dead),
            _ => String::new(),
        };
        format!("{evaluator}\n{HEALTH}\n{hook}")
    };
    let mut c = cluster_with(dir.path(), 3, "2/3", &extra);
    c.start_all().unwrap();
    let clients = ready_all(&mut c, 2);
    let (n0, n2) = (&clients[0], &clients[2]);

    // 1. node2 dissents twice: 2 of a window of 4, degraded at the first evaluation.
    let d1 = propose(n2, n0, "dissent");
    let d2 = propose(n2, n0, "dissent");
    let got = wait_hooks(&hooks, 1);
    let body = verified(&got[0]);
    assert_eq!(body["event"], "voter_degraded", "{body}");
    assert_eq!(body["voter_name"], "node2");
    assert_eq!(body["reasons"], json!(["dissent"]));
    assert_eq!(body["counts"]["dissent"], 2);
    assert_eq!(body["window"]["size"], 4);
    assert_eq!(body["node"]["name"], "node0");
    assert_eq!(body["evidence"], json!([d1, d2]));
    assert!(got[0].header("x-swarmvote-delivery").is_some());

    // The API and the CLI show it, with its reasons.
    let status = n0.status().unwrap();
    assert_eq!(status["degraded"], json!(["node2"]), "{status}");
    let h2 = status["health"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["name"] == "node2")
        .unwrap();
    assert_eq!(h2["reasons"], json!(["dissent"]));
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_swarmvote"))
        .args(["status", "--data-dir"])
        .arg(c.nodes[0].dir.join("data"))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("DEGRADED node2  dissent"), "{text}");
    let e = event(&c, "voter_degraded");
    assert_eq!(
        (e["name"].as_str(), e["reasons"].clone()),
        (Some("node2"), json!(["dissent"]))
    );
    assert!(
        c.nodes[0]
            .log_text()
            .lines()
            .any(|l| l.contains("WARN") && l.contains("voter degraded") && l.contains("node2"))
    );

    // 2. It behaves: once at most 1 of the last 4 is a dissent, it recovers.
    for _ in 0..3 {
        propose(n2, n0, "ok");
    }
    let got = wait_hooks(&hooks, 2);
    let body = verified(&got[1]);
    assert_eq!(body["event"], "voter_recovered", "{body}");
    assert_eq!(body["voter_name"], "node2");
    assert_eq!(body["counts"]["dissent"], 1);
    assert_eq!(n0.status().unwrap()["degraded"], json!([]));

    // 3. Its key signs both ways: node2 votes YES on `ops.split` (nobody else votes on
    // it by policy); a NO signed with its key appears in node1's store and reaches node0
    // by catch-up. Degraded at once, with the proposal as evidence.
    let e1 = n2.propose("ops.split", json!({}), 60_000).unwrap();
    for client in [n0, &clients[1]] {
        wait_for("node2's ballot everywhere", DEADLINE, || {
            Ok((ballots(client, &e1) == 1).then_some(()))
        })
        .unwrap();
    }
    // node1's endpoint is down: it gave up on its deliveries (degraded, recovered) and
    // went on deciding.
    wait_for("node1 webhook failures", DEADLINE, || {
        Ok((metric(&c, 1, "swarmvote_webhooks_total{result=\"failed\"}") >= 1.0).then_some(()))
    })
    .unwrap();
    wait_for("node1 decided all 5 so far", DEADLINE, || {
        Ok((clients[1].status()?["counts"]["approved"] == 5).then_some(()))
    })
    .unwrap();
    c.stop(1, Duration::from_secs(10)).unwrap();
    let key = keyfile::read_secret_key(&c.nodes[2].dir.join("voter.key")).unwrap();
    let no = Ballot {
        swarm: c.roster.swarm().clone(),
        proposal: e1.parse::<ProposalId>().unwrap(),
        voter: key.voter_id(),
        vote: Vote::No,
        reason: None,
    }
    .sign(&key);
    {
        let (mut store, _) = Store::open(&c.nodes[1].dir.join("data")).unwrap();
        store
            .apply(&Record::Ballot(std::sync::Arc::new(no)))
            .unwrap();
        store.sync().unwrap();
        store.flush().unwrap();
    }
    c.start(1).unwrap();
    let n1 = c.wait_ready(1, 2, DEADLINE).unwrap();
    let got = wait_hooks(&hooks, 3);
    let body = verified(&got[2]);
    assert_eq!(body["event"], "voter_degraded", "{body}");
    assert_eq!(body["voter_name"], "node2");
    assert_eq!(body["reasons"], json!(["equivocation"]));
    assert_eq!(body["counts"]["equivocations"], 1);
    assert_eq!(body["evidence"], json!([e1]));
    // node0 approves it, so it settles into the window.
    let (status, body) = n0.vote(&e1, "yes").unwrap();
    assert_eq!(status, 200, "{body}");
    // node2 received the NO in its name too: doppelganger protection stops it (exit 5).
    // Its operator restarts it; the stored NO no longer raises the alarm.
    let exit = wait_for(
        "node2 stops on the ballot it did not sign",
        DEADLINE,
        || Ok(c.nodes[2].exit_status()),
    )
    .unwrap();
    assert_eq!(exit.code(), Some(5), "{}", c.nodes[2].log_text());
    c.start(2).unwrap();
    let n2 = &c.wait_ready(2, 2, DEADLINE).unwrap();

    // 4. The equivocation leaves the window after 4 more settled proposals.
    for _ in 0..4 {
        propose(n2, n0, "ok");
    }
    let got = wait_hooks(&hooks, 4);
    let body = verified(&got[3]);
    assert_eq!(body["event"], "voter_recovered", "{body}");
    assert_eq!(body["reasons"], json!(["equivocation"]));
    assert_eq!(got.len(), 4, "no other transition");

    // node1, restarted, holds every decision.
    wait_for("node1 decided all 10", DEADLINE, || {
        Ok((n1.status()?["counts"]["approved"] == 10).then_some(()))
    })
    .unwrap();
    assert_eq!(
        metric(
            &c,
            0,
            "swarmvote_health_transitions_total{result=\"degraded\"}"
        ),
        2.0
    );
}
