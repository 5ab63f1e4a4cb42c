//! Discovery and DNS with real `swarmvote run` processes on 127.0.0.1: nodes told about
//! one seed find all the others, a seed named by DNS is dialled, an unreachable
//! configured peer is one warning and counted, and a node of another roster is refused.
//!
//! Every wait is on a condition with a deadline; dropping a cluster kills its nodes.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;
use std::time::{Duration, Instant};

use swarmvote_node::dev::cluster::{
    Bootstrap, Cluster, ClusterOptions, ClusterSpec, free_port, wait_for,
};

mod common;
use common::DEADLINE;

/// How long a node told about one seed may take to be connected to every other member.
const DISCOVERY_DEADLINE: Duration = Duration::from_secs(30);

fn nothing(_: usize) -> String {
    String::new()
}

fn cluster(dir: &Path, n: usize, quorum: &str, bootstrap: Bootstrap, swarm: &str) -> Cluster {
    Cluster::create_with(
        &ClusterSpec {
            binary: Path::new(env!("CARGO_BIN_EXE_swarmvote")),
            dir,
            nodes: n,
            quorum,
            extra: &nothing,
        },
        &ClusterOptions {
            bootstrap,
            swarm_id: swarm.to_owned(),
            ..ClusterOptions::default()
        },
    )
    .unwrap()
}

/// Waits until every node has `peers` admitted peers; on a timeout prints every log.
fn all_admitted(c: &mut Cluster, peers: usize, timeout: Duration) {
    for i in 0..c.nodes.len() {
        if let Err(e) = c.wait_ready(i, peers, timeout) {
            for n in &c.nodes {
                eprintln!("==== {} log:\n{}", n.name, n.log_text());
            }
            panic!("{e}");
        }
    }
}

/// Replaces the `bootstrap = [...]` line of node `i`'s config.
fn set_bootstrap(c: &Cluster, i: usize, addrs: &[String]) {
    let path = &c.nodes[i].config;
    let text = std::fs::read_to_string(path).unwrap();
    let line = text
        .lines()
        .find(|l| l.starts_with("bootstrap = "))
        .unwrap()
        .to_owned();
    let quoted: Vec<String> = addrs.iter().map(|a| format!("{a:?}")).collect();
    let text = text.replacen(&line, &format!("bootstrap = [{}]", quoted.join(", ")), 1);
    std::fs::write(path, text).unwrap();
}

#[test]
fn five_nodes_told_about_one_seed_find_all_the_others() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = cluster(
        dir.path(),
        5,
        "3/5",
        Bootstrap::Seed {
            seed: 0,
            by_name: false,
        },
        "local",
    );
    let t0 = Instant::now();
    c.start_all().unwrap();
    all_admitted(&mut c, 4, DISCOVERY_DEADLINE);
    eprintln!(
        "discovery: 5 nodes, every node admitted the 4 others {} ms after start",
        t0.elapsed().as_millis()
    );
    // Nobody but the seed was configured: node1..4 know each other through discovery.
    for i in 1..5 {
        let text = std::fs::read_to_string(&c.nodes[i].config).unwrap();
        let bootstrap = text.lines().find(|l| l.starts_with("bootstrap")).unwrap();
        assert_eq!(bootstrap.matches("/tcp/").count(), 1, "node{i}: {text}");
    }
}

#[test]
fn a_seed_named_by_dns_is_dialled_and_leads_to_the_others() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = cluster(
        dir.path(),
        3,
        "2/3",
        Bootstrap::Seed {
            seed: 0,
            by_name: true,
        },
        "local",
    );
    let text = std::fs::read_to_string(&c.nodes[1].config).unwrap();
    assert!(text.contains("\"/dns4/localhost/tcp/"), "{text}");
    c.start_all().unwrap();
    all_admitted(&mut c, 2, DISCOVERY_DEADLINE);
    let status = c.client(1).unwrap().status_report().unwrap();
    assert!(status.unreachable.is_empty(), "{:?}", status.unreachable);
}

#[test]
fn an_unreachable_configured_peer_is_one_warning_and_counted() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = cluster(dir.path(), 2, "2/2", Bootstrap::All, "local");
    // Nothing listens there: its dials are refused.
    let dead = format!("/ip4/127.0.0.1/tcp/{}", free_port().unwrap());
    let live = c.nodes[1].p2p.clone();
    set_bootstrap(&c, 0, &[live, dead.clone()]);
    c.start_all().unwrap();
    all_admitted(&mut c, 1, DEADLINE);
    let api = c.client(0).unwrap();
    // Several failures, all within the rate limit's period.
    let unreachable = wait_for("three failed dials", DEADLINE, || {
        let s = api.status_report()?;
        Ok(s.unreachable.first().filter(|u| u.failures >= 3).cloned())
    })
    .unwrap();
    assert_eq!(unreachable.address, dead);
    assert!(!unreachable.error.is_empty());
    assert_eq!(api.status_report().unwrap().unreachable.len(), 1);
    let node = &c.nodes[0];
    wait_for("a status line with unreachable=1", DEADLINE, || {
        Ok(node
            .log_text()
            .lines()
            .any(|l| l.contains(" status") && l.contains("unreachable=1"))
            .then_some(()))
    })
    .unwrap();
    let log = node.log_text();
    let warnings: Vec<&str> = log
        .lines()
        // Only the dead peer's: node1 may not listen yet when node0 first dials it.
        .filter(|l| l.contains("configured peer unreachable") && l.contains(&dead))
        .collect();
    assert_eq!(warnings.len(), 1, "{log}");
    assert!(
        warnings[0].contains("WARN") && warnings[0].contains(&dead),
        "{}",
        warnings[0]
    );
    // The reachable peer is not counted.
    assert!(!log.contains("unreachable=2"), "{log}");
}

#[test]
fn a_node_of_another_roster_is_refused_even_when_it_knows_a_member() {
    let dir = tempfile::tempdir().unwrap();
    let mut members = cluster(
        &dir.path().join("members"),
        3,
        "2/3",
        Bootstrap::Seed {
            seed: 0,
            by_name: false,
        },
        "local",
    );
    // Same swarm id, another roster: it dials the seed and asks it for members.
    let mut stranger = cluster(
        &dir.path().join("stranger"),
        1,
        "1/1",
        Bootstrap::All,
        "local",
    );
    set_bootstrap(&stranger, 0, &[members.nodes[0].p2p.clone()]);
    members.start_all().unwrap();
    stranger.start_all().unwrap();
    all_admitted(&mut members, 2, DISCOVERY_DEADLINE);
    let seed = &members.nodes[0];
    wait_for("the seed refuses the stranger", DEADLINE, || {
        Ok(seed.log_text().contains("roster mismatch").then_some(()))
    })
    .unwrap();
    let them = stranger.nodes[0].peer_id.clone();
    wait_for("the stranger is disconnected", DEADLINE, || {
        let s = members.client(0)?.status_report()?;
        Ok((!s.peers.iter().any(|p| p.peer_id == them)).then_some(()))
    })
    .unwrap();
    let s = stranger.client(0).unwrap().status_report().unwrap();
    assert!(s.peers.iter().all(|p| !p.admitted), "{:?}", s.peers);
    for i in 0..3 {
        let s = members.client(i).unwrap().status_report().unwrap();
        assert_eq!(s.peers.iter().filter(|p| p.admitted).count(), 2);
        assert!(
            !s.peers.iter().any(|p| p.peer_id == them && p.admitted),
            "node{i} admitted the stranger"
        );
    }
}
