//! The network tier with real `swarmvote run` processes on 127.0.0.1: agreement, catch-up
//! after a restart, a healed partition, a rogue peer, and a roster mismatch.
//!
//! Every wait is on a condition with a deadline; dropping a cluster kills its nodes.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeSet;
use std::time::Duration;

use serde_json::Value;
use swarmvote_node::dev::cluster::{ApiClient, wait_for};
use swarmvote_protocol::{Certificate, Roster};

mod common;
use common::{DEADLINE, cluster_with as cluster, ready_all};

fn manual(_: usize) -> String {
    String::new()
}

fn auto_yes(_: usize) -> String {
    "[evaluator]\nkind = \"policy\"\n[[evaluator.rules]]\naction = \"*\"\nvote = \"yes\"\n".into()
}

/// (status, yes voters, no voters) of a proposal at one node.
fn tally(p: &Value) -> (String, BTreeSet<String>, BTreeSet<String>) {
    let set = |k: &str| {
        p["tally"][k]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap().to_owned())
            .collect()
    };
    (
        p["status"].as_str().unwrap().to_owned(),
        set("yes"),
        set("no"),
    )
}

fn wait_status(client: &ApiClient, id: &str, status: &str) -> Value {
    wait_for(&format!("{id} {status}"), DEADLINE, || {
        Ok(client.proposal(id)?.filter(|p| p["status"] == status))
    })
    .unwrap()
}

fn wait_known(client: &ApiClient, id: &str) {
    wait_for(&format!("{id} known"), DEADLINE, || client.proposal(id)).unwrap();
}

fn verify(cert: &Value, roster: &Roster) {
    let cert: Certificate = serde_json::from_value(cert.clone()).unwrap();
    cert.verify(roster).expect("certificate verifies offline");
}

#[test]
fn three_nodes_decide_identically() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = cluster(dir.path(), 3, "2/3", &manual);
    c.start_all().unwrap();
    let api = ready_all(&mut c, 2);

    let id = api[0]
        .propose("fs.delete", serde_json::json!({"path": "/tmp/x"}), 60_000)
        .unwrap();
    for a in &api[1..] {
        wait_known(a, &id);
    }
    assert_eq!(api[1].vote(&id, "yes").unwrap().0, 200);
    assert_eq!(api[2].vote(&id, "yes").unwrap().0, 200);
    let decided: Vec<Value> = api
        .iter()
        .map(|a| wait_status(a, &id, "approved"))
        .collect();
    let tallies: Vec<_> = decided.iter().map(tally).collect();
    assert!(tallies.windows(2).all(|w| w[0] == w[1]), "{tallies:?}");
    assert_eq!(tallies[0].1.len(), 2);
    let certs: Vec<Value> = api.iter().map(|a| a.certificate(&id).unwrap()).collect();
    assert!(
        certs.windows(2).all(|w| w[0] == w[1]),
        "certificates differ"
    );
    verify(&certs[0], &c.roster);
    // A third vote after the decision is refused, not counted.
    let (status, body) = api[0].vote(&id, "no").unwrap();
    assert_eq!(status, 409, "{body}");
    // The per-decision log line.
    let log = c.nodes[0].log_text();
    assert!(
        log.contains("decided") && log.contains("outcome=approved"),
        "{log}"
    );
    for i in 0..3 {
        let status = c.stop(i, Duration::from_secs(10)).unwrap().unwrap();
        assert!(
            status.success(),
            "node {i} did not exit cleanly: {status:?}"
        );
    }
}

#[test]
fn a_restarted_node_catches_up() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = cluster(dir.path(), 5, "3/5", &auto_yes);
    c.start_all().unwrap();
    let api = ready_all(&mut c, 4);
    let mut ids = Vec::new();
    for k in 0..50 {
        if k == 10 {
            c.stop(4, Duration::from_secs(10)).unwrap();
        }
        let id = api[k % 4]
            .propose("deploy", serde_json::json!({"k": k}), 600_000)
            .unwrap();
        ids.push(id);
    }
    for id in &ids {
        wait_status(&api[0], id, "approved");
    }
    c.start(4).unwrap();
    let back = c.wait_ready(4, 4, DEADLINE).unwrap();
    // Within the deadline node 4 holds the same tally as node 0 for all 50.
    wait_for("node 4 caught up", DEADLINE, || {
        for id in &ids {
            let (Some(mine), Some(theirs)) = (back.proposal(id)?, api[0].proposal(id)?) else {
                return Ok(None);
            };
            if tally(&mine) != tally(&theirs) {
                return Ok(None);
            }
        }
        Ok(Some(()))
    })
    .unwrap();
}

#[test]
fn a_healed_partition_converges_without_false_approvals() {
    let dir = tempfile::tempdir().unwrap();
    // Peer ids are known before start, so each side can block the other.
    let mut c = cluster(dir.path(), 5, "3/5", &manual);
    let ids: Vec<String> = c.nodes.iter().map(|n| n.peer_id.clone()).collect();
    let side = |i: usize| usize::from(i >= 2);
    for i in 0..5 {
        let blocked: Vec<String> = (0..5)
            .filter(|j| side(*j) != side(i))
            .map(|j| format!("\"{}\"", ids[j]))
            .collect();
        let path = c.nodes[i].config.clone();
        let text = std::fs::read_to_string(&path).unwrap();
        std::fs::write(
            &path,
            format!(
                "{text}\n[network]\nsync_interval_secs = 1\nblocklist = [{}]\n",
                blocked.join(", ")
            ),
        )
        .unwrap();
    }
    c.start_all().unwrap();
    let api: Vec<ApiClient> = (0..5)
        .map(|i| {
            c.wait_ready(i, if i < 2 { 1 } else { 2 }, DEADLINE)
                .unwrap()
        })
        .collect();

    // Minority side: two YES votes are not enough.
    let small = api[0]
        .propose("fs.delete", serde_json::json!({"side": "a"}), 600_000)
        .unwrap();
    wait_known(&api[1], &small);
    api[0].vote(&small, "yes").unwrap();
    api[1].vote(&small, "yes").unwrap();
    // Majority side: three YES approve.
    let big = api[2]
        .propose("fs.delete", serde_json::json!({"side": "b"}), 600_000)
        .unwrap();
    for a in &api[3..] {
        wait_known(a, &big);
    }
    for a in &api[2..] {
        a.vote(&big, "yes").unwrap();
    }
    wait_status(&api[4], &big, "approved");
    let p = wait_for("two votes on the small side", DEADLINE, || {
        Ok(api[1].proposal(&small)?.filter(|p| tally(p).1.len() == 2))
    })
    .unwrap();
    assert_eq!(p["status"], "pending", "approved without q YES: {p}");
    assert!(
        api[2].proposal(&small).unwrap().is_none(),
        "the partition leaked"
    );

    // Heal: restart everyone without the block list.
    for i in 0..5 {
        c.stop(i, Duration::from_secs(10)).unwrap();
        let path = c.nodes[i].config.clone();
        let text = std::fs::read_to_string(&path).unwrap();
        let healed: String = text
            .lines()
            .filter(|l| !l.starts_with("blocklist"))
            .map(|l| format!("{l}\n"))
            .collect();
        std::fs::write(&path, healed).unwrap();
    }
    c.start_all().unwrap();
    let api = ready_all(&mut c, 4);
    wait_for("convergence", DEADLINE, || {
        let mut seen = Vec::new();
        for a in &api {
            let (Some(s), Some(b)) = (a.proposal(&small)?, a.proposal(&big)?) else {
                return Ok(None);
            };
            seen.push((tally(&s), tally(&b)));
        }
        Ok(seen.windows(2).all(|w| w[0] == w[1]).then_some(()))
    })
    .unwrap();
    let s = api[3].proposal(&small).unwrap().unwrap();
    assert_eq!(tally(&s).0, "pending");
    verify(&api[0].certificate(&big).unwrap(), &c.roster);
}

#[test]
fn a_roster_mismatch_is_refused_with_a_clear_log_line() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = cluster(&dir.path().join("good"), 3, "2/3", &manual);
    c.start_all().unwrap();
    let api = ready_all(&mut c, 2);
    // Another swarm with the same name but a different roster, dialing node 0.
    let mut other = cluster(&dir.path().join("other"), 1, "1", &manual);
    let path = other.nodes[0].config.clone();
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(
        &path,
        text.replace(
            "bootstrap = []",
            &format!("bootstrap = [\"{}\"]", c.nodes[0].p2p),
        ),
    )
    .unwrap();
    other.start(0).unwrap();
    // Both sides say so. Each side refuses when it receives the other's identify answer;
    // a side that closed at once could do so before sending its own, and under CI load
    // the good node then never heard of the stranger. Refused peers now stay connected
    // until our answer has gone out (at most a second).
    wait_for("mismatch logged on both sides", DEADLINE, || {
        let logged = |log: String| log.contains("peer refused: roster mismatch");
        Ok((logged(c.nodes[0].log_text()) && logged(other.nodes[0].log_text())).then_some(()))
    })
    .unwrap_or_else(|e| {
        panic!(
            "{e}\n--- good node0 log:\n{}\n--- stranger log:\n{}\n--- stranger threads:\n{}",
            c.nodes[0].log_text(),
            other.nodes[0].log_text(),
            other.nodes[0].diagnose()
        )
    });
    // The good node keeps working, did not admit the stranger, and lets it go once the
    // grace is over.
    wait_for("stranger disconnected", DEADLINE, || {
        let status = api[0].status()?;
        let peers = status["peers"].as_array().cloned().unwrap_or_default();
        let admitted = peers.iter().filter(|p| p["admitted"] == true).count();
        assert_eq!(admitted, 2, "{status}");
        Ok((peers.len() == 2).then_some(()))
    })
    .unwrap();
    let id = api[0].propose("x", serde_json::json!({}), 60_000).unwrap();
    wait_known(&api[1], &id);
}

/// A peer that speaks gossipsub on the swarm's topic and publishes whatever it is told.
mod rogue {
    use std::time::Duration;

    use futures::StreamExt;
    use libp2p::gossipsub::{self, IdentTopic, MessageAuthenticity, MessageId, ValidationMode};
    use libp2p::swarm::{NetworkBehaviour, SwarmEvent};
    use libp2p::{Multiaddr, identify, noise, tcp, yamux};
    use tokio::sync::mpsc;

    #[derive(NetworkBehaviour)]
    pub struct Rogue {
        gossipsub: gossipsub::Behaviour,
        identify: identify::Behaviour,
    }

    /// Starts the rogue, dials `target`, and publishes every message sent on the returned
    /// channel once the target has subscribed. Returns its peer id.
    pub fn spawn(
        target: Multiaddr,
        topic: IdentTopic,
        version: String,
    ) -> (String, mpsc::Sender<Vec<u8>>) {
        let mut swarm = libp2p::SwarmBuilder::with_new_identity()
            .with_tokio()
            .with_tcp(
                tcp::Config::default(),
                noise::Config::new,
                yamux::Config::default,
            )
            .unwrap()
            .with_behaviour(|key| {
                let config = gossipsub::ConfigBuilder::default()
                    .validation_mode(ValidationMode::Anonymous)
                    .max_transmit_size(1 << 20)
                    .message_id_fn(|m: &gossipsub::Message| {
                        MessageId::from(swarmvote_protocol::crypto::sha256(&m.data)[..20].to_vec())
                    })
                    .build()
                    .unwrap();
                let mut gossipsub =
                    gossipsub::Behaviour::new(MessageAuthenticity::Anonymous, config).unwrap();
                gossipsub.subscribe(&topic).unwrap();
                Rogue {
                    gossipsub,
                    identify: identify::Behaviour::new(identify::Config::new(
                        version,
                        key.public(),
                    )),
                }
            })
            .unwrap()
            .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(600)))
            .build();
        let peer = swarm.local_peer_id().to_string();
        swarm.dial(target).unwrap();
        let (tx, mut rx) = mpsc::channel::<Vec<u8>>(64);
        tokio::spawn(async move {
            let mut ready = false;
            let mut queue = Vec::new();
            loop {
                tokio::select! {
                    event = swarm.select_next_some() => {
                        if let SwarmEvent::Behaviour(RogueEvent::Gossipsub(gossipsub::Event::Subscribed { .. })) = event {
                            ready = true;
                        }
                    }
                    msg = rx.recv() => match msg {
                        Some(m) => queue.push(m),
                        None => return,
                    },
                    () = tokio::time::sleep(Duration::from_millis(50)) => {}
                }
                if ready {
                    for m in queue.drain(..) {
                        let _ = swarm.behaviour_mut().gossipsub.publish(topic.clone(), m);
                    }
                }
            }
        });
        (peer, tx)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rogue_peer_is_rejected_and_penalised() {
    use swarmvote_node::daemon::network;
    use swarmvote_protocol::{Ballot, SecretKey, Vote, codec};

    let dir = tempfile::tempdir().unwrap();
    let mut c = cluster(dir.path(), 3, "2/3", &auto_yes);
    c.start_all().unwrap();
    let api = tokio::task::block_in_place(|| ready_all(&mut c, 2));
    let roster = c.roster.clone();
    let (rogue, tx) = rogue::spawn(
        c.nodes[0].p2p.parse().unwrap(),
        network::topic(roster.swarm()),
        network::protocol_version(&roster),
    );

    // A proposal to vote on, then forged ballots in members' names, garbage, and an
    // oversized message.
    let id = tokio::task::block_in_place(|| {
        api[1]
            .propose("x", serde_json::json!({"n": 1}), 60_000)
            .unwrap()
    });
    let proposal_id: swarmvote_protocol::ProposalId = id.parse().unwrap();
    for (i, voter) in c.nodes.iter().map(|n| n.voter).enumerate() {
        let forged = Ballot {
            swarm: roster.swarm().clone(),
            proposal: proposal_id,
            voter,
            vote: Vote::No,
            reason: None,
        }
        .sign(&SecretKey::from_seed([i as u8 + 1; 32]));
        tx.send(codec::encode(&forged).unwrap()).await.unwrap();
    }
    for k in 0..5u8 {
        tx.send(vec![1, 2, k, 0xff, 0xee]).await.unwrap();
    }
    tx.send(vec![1u8; 200 * 1024]).await.unwrap();

    tokio::task::block_in_place(|| {
        // The rogue's score at node 0 falls below the graylist threshold (-80).
        wait_for("rogue graylisted", DEADLINE, || {
            let status = api[0].status()?;
            let score = status["peers"]
                .as_array()
                .unwrap()
                .iter()
                .find(|p| p["peer_id"] == rogue.as_str())
                .and_then(|p| p["score"].as_f64());
            Ok(score.filter(|s| *s < -80.0))
        })
        .unwrap();
        // Honest nodes keep deciding, and no forged NO counted.
        for a in &api {
            let p = wait_status(a, &id, "approved");
            assert!(tally(&p).2.is_empty(), "a forged ballot counted: {p}");
        }
        let next = api[2]
            .propose("y", serde_json::json!({"n": 2}), 60_000)
            .unwrap();
        wait_status(&api[0], &next, "approved");
        let log = c.nodes[0].log_text();
        assert!(log.contains("invalid message"), "{log}");
    });
    drop(tx);
}

#[test]
fn a_port_in_use_is_a_clear_error_and_json_logs_are_json() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = cluster(dir.path(), 1, "1", &manual);
    // Occupy the node's libp2p port.
    let port: u16 = c.nodes[0].p2p.rsplit('/').next().unwrap().parse().unwrap();
    let blocker = std::net::TcpListener::bind(("127.0.0.1", port)).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_swarmvote"))
        .args(["run", "--config"])
        .arg(&c.nodes[0].config)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains(&format!("tcp/{port}")) && err.contains("listen"),
        "{err}"
    );
    drop(blocker);

    // With --log-format json every line is a JSON object.
    let path = c.nodes[0].config.clone();
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, text.replace("[log]\n", "[log]\nformat = \"json\"\n")).unwrap();
    c.start(0).unwrap();
    c.wait_ready(0, 0, DEADLINE).unwrap();
    c.stop(0, Duration::from_secs(10)).unwrap();
    let log = c.nodes[0].log_text();
    let lines: Vec<&str> = log.lines().filter(|l| !l.trim().is_empty()).collect();
    assert!(lines.len() >= 2, "{log}");
    for l in &lines {
        let v: Value = serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}"));
        assert!(v["level"].is_string() && v["timestamp"].is_string(), "{l}");
    }
    assert!(
        lines
            .iter()
            .any(|l| l.contains("\"node started\"") && l.contains("peer_id")),
        "{log}"
    );
}

#[test]
fn the_harness_moves_a_peer_whose_p2p_port_was_taken() {
    // The same race on a libp2p port: the node cannot listen and exits. Waiting for its
    // peer, the harness gives it another port and starts it again; it dials the peer
    // (whose bootstrap list still names the old port) and both become ready.
    let dir = tempfile::tempdir().unwrap();
    let mut c = cluster(dir.path(), 2, "2/2", &manual);
    let taken = c.nodes[1].p2p.clone();
    let port: u16 = taken.rsplit('/').next().unwrap().parse().unwrap();
    let blocker = std::net::TcpListener::bind(("127.0.0.1", port)).unwrap();
    c.start_all().unwrap();
    let clients = ready_all(&mut c, 1);
    assert_eq!(clients.len(), 2);
    assert_ne!(c.nodes[1].p2p, taken);
    let log = c.nodes[1].log_text();
    assert!(
        log.contains("listen address") && log.contains("cannot listen"),
        "{log}"
    );
    drop(blocker);
}

#[test]
fn the_harness_moves_a_node_whose_api_port_was_taken() {
    // free_port releases the port it found; if something takes it before the node
    // binds it, wait_ready starts the node again on another API port instead of failing.
    let dir = tempfile::tempdir().unwrap();
    let mut c = cluster(dir.path(), 1, "1", &manual);
    let taken = c.nodes[0].api;
    let blocker = std::net::TcpListener::bind(taken).unwrap();
    c.start(0).unwrap();
    let client = c
        .wait_ready(0, 0, DEADLINE)
        .unwrap_or_else(|e| panic!("{e}; log:\n{}", c.nodes[0].log_text()));
    assert_ne!(c.nodes[0].api, taken);
    assert!(client.status().is_ok());
    // What a timed-out test prints about a node: its threads and their states.
    let d = c.nodes[0].diagnose();
    assert!(d.contains("thread") && d.contains("state"), "{d}");
    let log = c.nodes[0].log_text();
    assert!(
        log.contains("api.listen") && log.contains("cannot bind"),
        "{log}"
    );
    drop(blocker);
}
