//! The API listener under hostile local clients, with real processes: slow clients
//! (slowloris) that hold every connection slot neither stall the node's decisions nor
//! keep their slots past the header deadline; a trickled body is cut off; failed
//! authentications are refused, counted by reason, and logged once per window without
//! the token.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::{DEADLINE, cluster_with, ready_all, wait_status};
use swarmvote_node::dev::cluster::{ApiClient, wait_for};

const SLOTS: usize = 4;
const LIMITS: &str =
    "[api.limits]\nmax_connections = 4\nheader_timeout_ms = 800\nbody_timeout_ms = 800\n";
const YES: &str =
    "[evaluator]\nkind = \"policy\"\n[[evaluator.rules]]\naction = \"*\"\nvote = \"yes\"\n";

/// A connection that sends the start of a request's headers and then nothing.
fn slow_client(api: std::net::SocketAddr) -> TcpStream {
    let mut s = TcpStream::connect(api).unwrap();
    s.write_all(b"GET /v1/status HTTP/1.1\r\nHost: x\r\n")
        .unwrap();
    s
}

/// Reads until the server closes the connection (or answers and closes); what it sent.
fn until_closed(mut s: TcpStream, within: Duration) -> String {
    s.set_read_timeout(Some(within)).unwrap();
    let mut out = Vec::new();
    let mut buf = [0u8; 1024];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return String::from_utf8_lossy(&out).into_owned(),
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e) => panic!("the server kept a slow connection open past {within:?}: {e}"),
        }
    }
}

fn metric(api: std::net::SocketAddr, token: &str, name: &str) -> u64 {
    let (status, text) = common::http_get(&format!("http://{api}/metrics"), Some(token));
    assert_eq!(status, 200);
    text.lines()
        .find(|l| l.starts_with(name))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse::<f64>().ok())
        .map(|v| v as u64)
        .unwrap_or_else(|| panic!("no {name} in /metrics"))
}

#[test]
fn slow_clients_hold_no_slot_past_the_deadline_and_starve_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let extra = |i: usize| {
        if i == 0 {
            format!("{YES}{LIMITS}")
        } else {
            YES.to_owned()
        }
    };
    let mut c = cluster_with(&dir.path().join("c"), 3, "1/1", &extra);
    c.start_all().unwrap();
    let api = ready_all(&mut c, 2);
    let addr = c.nodes[0].api;

    // Every slot of node 0's API taken by a client that never finishes its headers.
    let slow: Vec<TcpStream> = (0..SLOTS).map(|_| slow_client(addr)).collect();
    // Meanwhile the swarm decides, node 0 included: 1/1 needs node 0's YES, which its
    // driver signs while its API is full.
    let id = api[1]
        .propose("ops.restart", serde_json::json!({"service": "web"}), 60_000)
        .unwrap();
    wait_status(&api[1], &id, "approved");
    // The slow clients are cut off at the header deadline (408 or a plain close), not
    // left to hold their slots.
    let started = Instant::now();
    for s in slow {
        let answer = until_closed(s, Duration::from_secs(10));
        assert!(
            answer.is_empty() || answer.starts_with("HTTP/1.1 408"),
            "{answer}"
        );
    }
    assert!(started.elapsed() < Duration::from_secs(10));
    // And node 0 answers again, with the decision its driver reached meanwhile.
    let report = wait_for("node 0 answers", DEADLINE, || {
        Ok(api[0].proposal(&id)?.filter(|p| p["status"] == "approved"))
    })
    .unwrap();
    assert_eq!(report["status"], "approved");

    // A body trickled slower than the deadline is refused with 408, naming it.
    let mut s = TcpStream::connect(addr).unwrap();
    let token = std::fs::read_to_string(c.nodes[0].dir.join("data").join("api.cookie")).unwrap();
    write!(
        s,
        "POST /v1/proposals HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\n\
         Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{{\"action\":",
        token.trim()
    )
    .unwrap();
    let answer = until_closed(s, Duration::from_secs(10));
    assert!(
        answer.starts_with("HTTP/1.1 408") && answer.contains("did not arrive within 800 ms"),
        "{answer}"
    );

    // Failed authentications: refused, counted by reason, logged once per window, and
    // the wrong token never appears in the log.
    let name = "swarmvote_api_auth_failures_total{reason=\"wrong_token\"}";
    let before = metric(addr, token.trim(), name);
    let wrong = ApiClient::new("node0", addr, "not-the-token-zq81");
    for _ in 0..20 {
        let (status, _) = wrong.call("GET", "/v1/status", None).unwrap();
        assert_eq!(status, 401);
    }
    let after = metric(addr, token.trim(), name);
    assert_eq!(after - before, 20);
    let log = wait_for("the failure logged", DEADLINE, || {
        let log = c.nodes[0].log_text();
        Ok(log.contains("api authentication failed").then_some(log))
    })
    .unwrap();
    assert_eq!(log.matches("api authentication failed").count(), 1, "{log}");
    assert!(
        !log.contains("not-the-token-zq81"),
        "the log names the token"
    );
    c.stop_all(Duration::from_secs(10)).unwrap();
}
