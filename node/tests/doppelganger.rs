//! Doppelganger protection with real processes: a second node started with a voter key
//! that is already voting finds the other instance's ballot during its start-up window,
//! signs nothing, and exits with code 5; and a node in its window answers API votes 503.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::Path;
use std::time::Duration;

use common::*;
use swarmvote_node::dev::cluster::{Cluster, ClusterOptions, ClusterSpec, wait_for};

/// The documented exit code (`swarmvote --help`).
const DOPPELGANGER_EXIT: i32 = 5;

#[test]
fn a_second_instance_of_a_voting_key_signs_nothing_and_exits_5() {
    let dir = tempfile::tempdir().unwrap();
    // Four members; node 3 will run with node 0's key instead of its own.
    let mut c = cluster_with(dir.path(), 4, "2/4", &|_| String::new());
    for i in 0..3 {
        c.start(i).unwrap();
    }
    let clients: Vec<_> = (0..3)
        .map(|i| c.wait_ready(i, 2, DEADLINE).unwrap())
        .collect();
    let id = clients[1]
        .propose(
            "fs.delete",
            serde_json::json!({ "path": "/tmp/x" }),
            600_000,
        )
        .unwrap();
    wait_for("node 0 sees the proposal", DEADLINE, || {
        Ok(clients[0].proposal(&id)?.map(|_| ()))
    })
    .unwrap();
    let (status, body) = clients[0].vote(&id, "yes").unwrap();
    assert_eq!(status, 200, "{body}");
    let report = wait_for("node 2 holds node 0's ballot", DEADLINE, || {
        Ok(clients[2].proposal_report(&id)?.filter(|r| {
            r.ballots
                .iter()
                .any(|b| b.ballot().voter == c.nodes[0].voter)
        }))
    })
    .unwrap();
    assert!(report.equivocations.is_empty());

    // The clone: node 0's key, node 3's data dir and ports, a long window.
    std::fs::copy(
        c.nodes[0].dir.join("voter.key"),
        c.nodes[3].dir.join("voter.key"),
    )
    .unwrap();
    let config = std::fs::read_to_string(&c.nodes[3].config).unwrap();
    assert!(config.contains("listen_secs = 0"), "{config}");
    std::fs::write(
        &c.nodes[3].config,
        config.replace("listen_secs = 0", "listen_secs = 120"),
    )
    .unwrap();
    c.start(3).unwrap();
    let status = wait_for("the clone exits", DEADLINE, || Ok(c.nodes[3].exit_status()))
        .unwrap_or_else(|e| panic!("{e}\n{}", c.nodes[3].log_text()));
    let log = c.nodes[3].log_text();
    assert_eq!(status.code(), Some(DOPPELGANGER_EXIT), "{log}");
    assert!(log.contains("doppelganger"), "{log}");
    assert!(log.contains("ERROR"), "{log}");

    // Nothing was signed twice: no node holds evidence, node 0's one ballot stands, and
    // the original keeps running.
    assert!(c.nodes[0].running(), "{}", c.nodes[0].log_text());
    for (i, client) in clients.iter().enumerate() {
        let r = client.proposal_report(&id).unwrap().unwrap();
        assert!(
            r.equivocations.is_empty(),
            "node {i}: {:?}",
            r.equivocations
        );
        let mine: Vec<_> = r
            .ballots
            .iter()
            .filter(|b| b.ballot().voter == c.nodes[0].voter)
            .collect();
        assert_eq!(mine.len(), 1, "node {i}: {mine:?}");
    }
    c.stop_all(Duration::from_secs(10)).unwrap();
}

#[test]
fn a_node_in_its_window_answers_votes_503_and_votes_after_it() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = Cluster::create_with(
        &ClusterSpec {
            binary: Path::new(env!("CARGO_BIN_EXE_swarmvote")),
            dir: dir.path(),
            nodes: 3,
            quorum: "2/3",
            extra: &|_| String::new(),
        },
        &ClusterOptions {
            doppelganger_listen_secs: 20,
            ..ClusterOptions::default()
        },
    )
    .unwrap();
    c.start_all().unwrap();
    let clients = ready_all(&mut c, 2);
    let (status, body) = clients[0]
        .call(
            "POST",
            "/v1/proposals",
            Some(&serde_json::json!({
                "action": "fs.delete", "payload": { "path": "/x" }, "ttl_ms": 600_000
            })),
        )
        .unwrap();
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["error"]["code"], "doppelganger_listening", "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("listening for another instance"),
        "{body}"
    );
    // After the window, the same request goes through.
    let id = wait_for("the window ends", DEADLINE, || {
        let (status, body) = clients[0].call(
            "POST",
            "/v1/proposals",
            Some(&serde_json::json!({
                "action": "fs.delete", "payload": { "path": "/x" }, "ttl_ms": 600_000
            })),
        )?;
        Ok((status == 200 || status == 201).then(|| body["id"].as_str().unwrap().to_owned()))
    })
    .unwrap();
    wait_for("node 1 sees it", DEADLINE, || {
        Ok(clients[1].proposal(&id)?.map(|_| ()))
    })
    .unwrap();
    // Node 1's window ends about when node 0's does: until it has, its votes get 503 too.
    wait_for("node 1 votes", DEADLINE, || {
        let (status, body) = clients[1].vote(&id, "yes")?;
        if status != 200 {
            assert_eq!(status, 503, "{body}");
            assert_eq!(body["error"]["code"], "doppelganger_listening", "{body}");
        }
        Ok((status == 200).then_some(()))
    })
    .unwrap();
    c.stop_all(Duration::from_secs(10)).unwrap();
}

fn swarmvote(args: &[&std::ffi::OsStr]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_swarmvote"))
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn an_exported_history_imported_on_a_new_machine_refuses_a_contradicting_vote() {
    let dir = tempfile::tempdir().unwrap();
    // Node 3 is the new machine node 0's key moves to.
    let mut c = cluster_with(dir.path(), 4, "3/4", &|_| String::new());
    for i in 0..3 {
        c.start(i).unwrap();
    }
    let clients: Vec<_> = (0..3)
        .map(|i| c.wait_ready(i, 2, DEADLINE).unwrap())
        .collect();
    let id = clients[0]
        .propose(
            "fs.delete",
            serde_json::json!({ "path": "/tmp/y" }),
            600_000,
        )
        .unwrap();
    let (status, body) = clients[0].vote(&id, "yes").unwrap();
    assert_eq!(status, 200, "{body}");
    wait_for("node 1 holds node 0's ballot", DEADLINE, || {
        Ok(clients[1].proposal_report(&id)?.filter(|r| {
            r.ballots
                .iter()
                .any(|b| b.ballot().voter == c.nodes[0].voter)
        }))
    })
    .unwrap();
    // Node 1's ballot too, so that node 3 is seen to catch up below.
    let (status, body) = clients[1].vote(&id, "yes").unwrap();
    assert_eq!(status, 200, "{body}");
    wait_for("node 2 holds both ballots", DEADLINE, || {
        Ok(clients[2]
            .proposal_report(&id)?
            .filter(|r| r.ballots.len() == 2))
    })
    .unwrap();
    c.stop(0, Duration::from_secs(10)).unwrap();

    let out = swarmvote(&[
        "store".as_ref(),
        "export-votes".as_ref(),
        "--config".as_ref(),
        c.nodes[0].config.as_os_str(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let history: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(history["format"], "swarmvote-signing-history");
    assert_eq!(history["version"], 1);
    assert_eq!(history["ballots"].as_array().unwrap().len(), 1);
    assert_eq!(history["proposals"].as_array().unwrap().len(), 1);

    std::fs::copy(
        c.nodes[0].dir.join("voter.key"),
        c.nodes[3].dir.join("voter.key"),
    )
    .unwrap();
    let import = |file: &Path| {
        swarmvote(&[
            "store".as_ref(),
            "import-votes".as_ref(),
            "--config".as_ref(),
            c.nodes[3].config.as_os_str(),
            file.as_os_str(),
        ])
    };
    // A forged history (the vote changed after signing) is refused, naming the ballot.
    let forged = dir.path().join("forged.json");
    let text = serde_json::to_string(&history).unwrap();
    assert!(text.contains("\"vote\":\"yes\""), "{text}");
    std::fs::write(&forged, text.replace("\"vote\":\"yes\"", "\"vote\":\"no\"")).unwrap();
    let out = import(&forged);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("ballot 0") && err.contains("signature"),
        "{err}"
    );
    // The real one goes in.
    let good = dir.path().join("votes.json");
    std::fs::write(&good, serde_json::to_vec(&history).unwrap()).unwrap();
    let out = import(&good);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // The new machine starts with the old one's guard: the contradicting vote is refused,
    // and the old ballots that come back from peers raise no doppelganger alarm.
    c.start(3).unwrap();
    let new = c.wait_ready(3, 2, DEADLINE).unwrap();
    let (status, body) = new.vote(&id, "no").unwrap();
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["error"]["code"], "already_voted", "{body}");
    let (status, body) = new.vote(&id, "yes").unwrap();
    assert_eq!(status, 200, "{body}");
    wait_for("node 3 caught up", DEADLINE, || {
        Ok(new.proposal_report(&id)?.filter(|r| r.ballots.len() == 2))
    })
    .unwrap();
    assert!(c.nodes[3].running(), "{}", c.nodes[3].log_text());
    assert!(!c.nodes[3].log_text().contains("doppelganger: a message"));
    c.stop_all(Duration::from_secs(10)).unwrap();
}
