//! `GET /metrics` with real `swarmvote run` processes: the text parses as Prometheus
//! exposition (with `prometheus-parse`), and the counters match a known sequence of
//! proposals and ballots. Served on the API listener behind the token, and on the
//! separate `[metrics] listen` address without one.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;

use prometheus_parse::{Scrape, Value};
use serde_json::json;
use swarmvote_node::dev::cluster::{ApiClient, wait_for};

mod common;
use common::{DEADLINE, cluster_with, ready_all};

/// Every sample as `name{k="v",...}` (labels sorted) → value; histograms by their
/// bucket count.
fn parse(text: &str) -> BTreeMap<String, f64> {
    let scrape = Scrape::parse(text.lines().map(|l| Ok(l.to_owned()))).unwrap();
    // Every sample line became a sample (histogram buckets fold into one).
    let lines = text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty() && !l.contains("_bucket{"))
        .count();
    let histograms = scrape
        .samples
        .iter()
        .filter(|s| matches!(s.value, Value::Histogram(_)))
        .count();
    assert_eq!(scrape.samples.len() - histograms, lines, "{text}");
    assert!(
        histograms >= 1,
        "the latency histogram parses as one: {text}"
    );
    scrape
        .samples
        .into_iter()
        .map(|s| {
            let mut labels: Vec<String> = s
                .labels
                .iter()
                .map(|(k, v)| format!("{k}=\"{v}\""))
                .collect();
            labels.sort();
            let key = if labels.is_empty() {
                s.metric.clone()
            } else {
                format!("{}{{{}}}", s.metric, labels.join(","))
            };
            let value = match s.value {
                Value::Counter(v) | Value::Gauge(v) | Value::Untyped(v) => v,
                Value::Histogram(b) => b.iter().map(|h| h.count).fold(0.0, f64::max),
                Value::Summary(_) => f64::NAN,
            };
            (key, value)
        })
        .collect()
}

fn decided(c: &ApiClient, id: &str, status: &str, ballots: usize) {
    wait_for(
        &format!("{id} {status} with {ballots} ballots"),
        DEADLINE,
        || {
            Ok(c.proposal(id)?.filter(|p| {
                p["status"] == status && p["ballots"].as_array().map(Vec::len) == Some(ballots)
            }))
        },
    )
    .unwrap();
}

#[test]
fn metrics_parse_and_count_a_known_sequence() {
    let dir = tempfile::tempdir().unwrap();
    // Port 0: the node picks a free port and writes it to metrics.addr, so no other
    // process can take it between choosing and binding.
    let extra = move |i: usize| {
        let listen = if i == 0 {
            "[metrics]\nlisten = \"127.0.0.1:0\"\n".to_string()
        } else {
            String::new()
        };
        // node0 (the proposer, so its ballot is always first) and node1 vote by policy;
        // node2 never votes. Each decision then needs node1's ballot: exactly 2 ballots per
        // proposal, whatever the timing.
        let evaluator = if i == 2 {
            ""
        } else {
            "[evaluator]\nkind = \"policy\"\n[[evaluator.rules]]\naction = \"deny.*\"\nvote = \"no\"\n\
             [[evaluator.rules]]\naction = \"*\"\nvote = \"yes\"\n"
        };
        format!("{evaluator}{listen}")
    };
    let mut c = cluster_with(dir.path(), 3, "2/3", &extra);
    c.start_all().unwrap();
    let clients = ready_all(&mut c, 2);
    let n0 = &clients[0];

    // 3 approvals and 1 rejection, with 2 ballots each.
    let mut ids = Vec::new();
    for i in 0..3 {
        ids.push((
            n0.propose("ops.ok", json!({ "i": i }), 60_000).unwrap(),
            "approved",
        ));
    }
    ids.push((
        n0.propose("deny.it", json!({}), 60_000).unwrap(),
        "rejected",
    ));
    for (id, status) in &ids {
        decided(n0, id, status, 2);
    }

    let token = std::fs::read_to_string(c.nodes[0].dir.join("data/api.cookie")).unwrap();
    let api = format!("http://{}/metrics", c.nodes[0].api);
    assert_eq!(
        common::http_get(&api, None).0,
        401,
        "the API listener needs the token"
    );
    let (status, text) = common::http_get(&api, Some(token.trim()));
    assert_eq!(status, 200);
    let m = parse(&text);
    let v = |k: &str| *m.get(k).unwrap_or_else(|| panic!("no {k} in {m:?}"));

    assert_eq!(v("swarmvote_proposals_seen_total"), 4.0);
    assert_eq!(v("swarmvote_ballots_accepted_total{vote=\"yes\"}"), 6.0);
    assert_eq!(v("swarmvote_ballots_accepted_total{vote=\"no\"}"), 2.0);
    assert_eq!(v("swarmvote_decisions_total{verdict=\"approved\"}"), 3.0);
    assert_eq!(v("swarmvote_decisions_total{verdict=\"rejected\"}"), 1.0);
    assert_eq!(v("swarmvote_decision_latency_seconds_count"), 4.0);
    assert_eq!(v("swarmvote_proposals{status=\"approved\"}"), 3.0);
    assert_eq!(v("swarmvote_proposals{status=\"rejected\"}"), 1.0);
    assert_eq!(v("swarmvote_proposals{status=\"pending\"}"), 0.0);
    assert_eq!(v("swarmvote_peers"), 2.0);
    assert_eq!(v("swarmvote_admitted_peers"), 2.0);
    assert_eq!(v("swarmvote_equivocations_total"), 0.0);
    // node0 published 4 proposals and its 4 ballots; it received node1's 4 ballots.
    assert!(v("swarmvote_gossip_messages_total{direction=\"out\"}") >= 8.0);
    assert!(v("swarmvote_gossip_messages_total{direction=\"in\"}") >= 4.0);
    assert!(v("swarmvote_gossip_bytes_total{direction=\"out\"}") > 8.0 * 100.0);
    for name in ["node0", "node1", "node2"] {
        assert_eq!(
            v(&format!("swarmvote_voter_degraded{{voter=\"{name}\"}}")),
            0.0
        );
    }
    // Catch-up ran with the peers at connect.
    assert!(
        m.iter()
            .any(|(k, v)| k.starts_with("swarmvote_catchup_syncs_total") && *v >= 1.0),
        "{m:?}"
    );
    // The latency histogram holds the 4 decisions in its buckets.
    assert_eq!(v("swarmvote_decision_latency_seconds"), 4.0);

    // The separate listener serves the same without a token.
    let addr_file = c.nodes[0].dir.join("data").join("metrics.addr");
    let metrics_addr = wait_for("metrics.addr", DEADLINE, || {
        Ok(std::fs::read_to_string(&addr_file)
            .ok()
            .map(|a| a.trim().to_string())
            .filter(|a| !a.is_empty()))
    })
    .unwrap();
    let (status, text) = common::http_get(&format!("http://{metrics_addr}/metrics"), None);
    assert_eq!(status, 200);
    let m2 = parse(&text);
    assert_eq!(m2["swarmvote_ballots_accepted_total{vote=\"yes\"}"], 6.0);
    assert_eq!(
        common::http_get(&format!("http://{metrics_addr}/v1/status"), None).0,
        404,
        "only /metrics is served there"
    );
}
