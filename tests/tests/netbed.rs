//! The multi-host test bed's scenarios: real `swarmvote run` processes, each in its own
//! network namespace with its own address, under partitions, one-way cuts, latency,
//! loss, pauses and kills; after the heal, the checker judges every node's history.
//!
//! Needs root, iproute2 and nftables. Without them each test prints why and passes,
//! except when `CI` is set: CI's own run must not skip them. The `swarmvote` binary is
//! the one built next to this test (`cargo test --workspace` builds it), or
//! `$SWARMVOTE_BIN`.
//!
//! The nemesis (random faults for minutes, seeded) runs on request:
//! `SWARMVOTE_NEMESIS_MINUTES=5 cargo test -p swarmvote-tests --test netbed nemesis -- --ignored --nocapture`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use swarmvote_node::dev::cluster::{ApiClient, ClusterOptions, wait_for};
use swarmvote_node::dev::hosts::{Bed, BedSpec, Fault, unavailable};
use swarmvote_protocol::Verdict;
use swarmvote_sim::report::{Violation, ViolationKind};
use swarmvote_tests::checker::{self, NO_SEED, Swarm};
use swarmvote_tests::history::{self, History, percentile};

/// How long the nodes get to start and connect.
const READY: Duration = Duration::from_secs(60);
/// Proposals live long enough to outlast every fault of a scenario.
const TTL: Duration = Duration::from_secs(120);

/// The `swarmvote` binary, or why not.
fn binary() -> PathBuf {
    if let Ok(p) = std::env::var("SWARMVOTE_BIN") {
        return PathBuf::from(p);
    }
    // target/debug/deps/netbed-… → target/debug/swarmvote
    let exe = std::env::current_exe().unwrap();
    let bin = exe
        .parent()
        .and_then(|d| d.parent())
        .map(|d| d.join("swarmvote"))
        .unwrap();
    assert!(
        bin.exists(),
        "{} missing: run `cargo build -p swarmvote-node --bin swarmvote` first, or set SWARMVOTE_BIN",
        bin.display()
    );
    bin
}

/// Whether the bed can run here; if not, says why (and fails under `CI`).
fn bed_available(test: &str) -> bool {
    match unavailable() {
        None => true,
        Some(why) => {
            assert!(
                std::env::var_os("CI").is_none(),
                "{test}: the test bed cannot run in CI: {why}"
            );
            println!("{test}: skipped: {why}");
            false
        }
    }
}

/// Every node approves everything except actions under `deny.`, which all refuse; a
/// catch-up round every second.
fn policy(_: usize) -> String {
    "[evaluator]\nkind = \"policy\"\n\n[[evaluator.rules]]\naction = \"deny.*\"\nvote = \"no\"\nreason = \"denied\"\n\n[[evaluator.rules]]\naction = \"*\"\nvote = \"yes\"\nreason = \"fine\"\n\n[network]\nsync_interval_secs = 1\n".into()
}

/// A bed of `nodes` with quorum `quorum`, started and connected.
fn bed(nodes: usize, quorum: &str, env: &[&str]) -> (Bed, Vec<ApiClient>) {
    let binary = binary();
    let mut bed = Bed::create(&BedSpec {
        binary: &binary,
        nodes,
        quorum,
        extra: &policy,
        bootstrap: None,
        dir: None,
        env: env.iter().map(|s| (*s).to_owned()).collect(),
        options: ClusterOptions {
            swarm_id: "netbed".into(),
            ..ClusterOptions::default()
        },
    })
    .unwrap();
    bed.start_all().unwrap();
    let clients = bed.wait_all_ready(READY).unwrap();
    (bed, clients)
}

/// Waits until every node holds a verdict for every proposal, all the same; returns how
/// long it took, or the error.
fn wait_agreement(
    history: &mut History,
    clients: &[ApiClient],
    timeout: Duration,
) -> Result<Duration, String> {
    let start = Instant::now();
    wait_for("every node the same verdict", timeout, || {
        let finals = match history::read_final(history, clients) {
            Ok(f) => f,
            Err(_) => return Ok(None),
        };
        let verdicts: BTreeSet<Vec<Option<Verdict>>> = finals
            .values()
            .map(|r| {
                r.iter()
                    .map(|r| r.as_ref().map(|r| r.tally.verdict))
                    .collect()
            })
            .collect();
        let done = verdicts.len() == 1
            && verdicts
                .iter()
                .flatten()
                .all(|v| matches!(v, Some(Verdict::Approved | Verdict::Rejected)));
        Ok(done.then(|| start.elapsed()))
    })
    .map_err(|e| e.to_string())
}

/// The checker's verdict on a run, after a final read of every node.
fn violations(bed: &Bed, history: &mut History, clients: &[ApiClient]) -> Vec<Violation> {
    let finals = history::read_final(history, clients).unwrap();
    let voters: Vec<_> = bed.cluster.nodes.iter().map(|n| n.voter).collect();
    checker::check(
        NO_SEED,
        history,
        &finals,
        &Swarm {
            roster: &bed.cluster.roster,
            voters: &voters,
            faulty: &BTreeSet::new(),
            clients,
        },
    )
}

/// Observes every node once.
fn observe_all(history: &mut History, clients: &[ApiClient]) {
    for (i, c) in clients.iter().enumerate() {
        history.observe(i, c);
    }
}

/// The 2|3 split with proposals on both sides: returns the bed, history and clients
/// after the heal (not yet checked).
fn split_and_heal(env: &[&str], reset: bool) -> (Bed, History, Vec<ApiClient>) {
    let (mut bed, clients) = bed(5, "3/5", env);
    bed.reset_on_cut(reset).unwrap();
    let mut h = History::default();
    let minority = [0usize, 1];
    let schedule = vec![
        (
            Duration::ZERO,
            Fault::Partition(vec![vec![0, 1], vec![2, 3, 4]]),
        ),
        (Duration::from_secs(6), Fault::Heal),
    ];
    let mut next = Instant::now() + Duration::from_millis(500);
    let mut k = 0usize;
    bed.run_schedule(&schedule, |bed| {
        // A proposal every 500 ms while split, alternating sides.
        if !bed.net.namespaces.is_empty() && Instant::now() >= next && k < 10 {
            let at = [0usize, 2, 1, 3, 4][k % 5];
            h.propose(&clients[at], at, "net.call", TTL);
            k += 1;
            next += Duration::from_millis(500);
        }
        observe_all(&mut h, &clients);
        Ok(())
    })
    .unwrap();
    // While split, the minority approved nothing, anywhere.
    let before_heal: Vec<_> = h
        .decided
        .iter()
        .filter(|((node, id), _)| {
            minority.contains(node)
                || h.proposed
                    .iter()
                    .any(|p| &p.id == id && minority.contains(&p.proposer))
        })
        .collect();
    assert!(
        before_heal.is_empty(),
        "decided on the minority side while split: {before_heal:?}"
    );
    assert!(h.proposed.len() >= 8, "proposals made: {:?}", h.refused);
    (bed, h, clients)
}

#[test]
fn partition_2_3_minority_approves_nothing_and_all_agree_after_heal() {
    if !bed_available("partition") {
        return;
    }
    // Silent drops: the connections survive the split. (With cuts that reset them, a
    // loaded machine has twice taken over 60 s to agree after the heal; see the
    // README's test bed section. The no-catch-up test below resets them.)
    let (bed, mut h, clients) = split_and_heal(&[], false);
    let took = wait_agreement(&mut h, &clients, Duration::from_secs(60)).unwrap();
    println!(
        "partition 2|3: {} proposals, time to agreement after heal {took:?}",
        h.proposed.len()
    );
    let v = violations(&bed, &mut h, &clients);
    assert!(v.is_empty(), "{v:#?}");
}

#[test]
fn without_catch_up_the_checker_reports_the_disagreement() {
    if !bed_available("no catch-up") {
        return;
    }
    // The deliberately broken node: catch-up off, so what one side decided while split
    // never reaches the other. The split resets the connections: over connections that
    // survive it, TCP would deliver the gossip late and hide the fault.
    // Some runs still agree (about 1 in 3 here): a path not yet found delivers the other
    // side's messages after the heal. A second split then shows the fault; two agreeing
    // runs in a row fail the test.
    let mut attempt = 0;
    let (bed, mut h, clients) = loop {
        attempt += 1;
        let (bed, mut h, clients) = split_and_heal(&["SWARMVOTE_TEST_NO_CATCHUP=1"], true);
        let healed = wait_agreement(&mut h, &clients, Duration::from_secs(15));
        if healed.is_err() {
            break (bed, h, clients);
        }
        for n in &bed.cluster.nodes {
            eprintln!("==== {}:\n{}", n.name, n.log_text());
        }
        assert!(attempt < 2, "agreed without catch-up, twice: {healed:?}");
        eprintln!("attempt {attempt} agreed without catch-up ({healed:?}); splitting again");
    };
    let v = violations(&bed, &mut h, &clients);
    assert!(
        v.iter().any(|v| v.kind == ViolationKind::Agreement),
        "the checker missed the disagreement: {v:#?}"
    );
    println!(
        "no catch-up: the checker reports {} agreement violations, e.g. {:?}",
        v.len(),
        v.first().map(|v| &v.detail)
    );
}

#[test]
fn a_node_paused_20s_catches_up_after_sigcont() {
    if !bed_available("pause") {
        return;
    }
    let (mut bed, clients) = bed(3, "2/3", &[]);
    let mut h = History::default();
    let schedule = vec![
        (Duration::ZERO, Fault::Pause(2)),
        (Duration::from_secs(20), Fault::Resume(2)),
    ];
    let mut made = 0;
    bed.run_schedule(&schedule, |_| {
        if made < 6 {
            let at = made % 2;
            h.propose(&clients[at], at, "net.call", TTL);
            made += 1;
        }
        // The paused node does not answer: observe the others.
        for (i, c) in clients.iter().enumerate().take(2) {
            h.observe(i, c);
        }
        Ok(())
    })
    .unwrap();
    let took = wait_agreement(&mut h, &clients, Duration::from_secs(60)).unwrap();
    println!("pause 20 s: node caught up {took:?} after SIGCONT");
    let v = violations(&bed, &mut h, &clients);
    assert!(v.is_empty(), "{v:#?}");
}

#[test]
fn a_node_that_sends_but_cannot_receive_rejoins() {
    if !bed_available("one-way cut") {
        return;
    }
    let (mut bed, clients) = bed(4, "3/4", &[]);
    let mut h = History::default();
    let schedule = vec![
        (Duration::ZERO, Fault::Deafen(3)),
        (Duration::from_secs(5), Fault::Heal),
    ];
    let mut made = 0;
    bed.run_schedule(&schedule, |_| {
        if made < 4 {
            h.propose(&clients[made % 3], made % 3, "net.call", TTL);
            made += 1;
        }
        observe_all(&mut h, &clients);
        Ok(())
    })
    .unwrap();
    // The three that hear each other decide without it; it catches up after the heal.
    let took = wait_agreement(&mut h, &clients, Duration::from_secs(60)).unwrap();
    println!("one-way cut: agreement {took:?} after heal");
    let v = violations(&bed, &mut h, &clients);
    assert!(v.is_empty(), "{v:#?}");
}

/// Proposes `count` proposals one after another at node `i % n`, observing between, and
/// waits for every decision; returns the decision latencies.
fn decide_under(delay_ms: u64, loss: u8, count: usize) -> Vec<Duration> {
    let (mut bed, clients) = bed(5, "3/5", &[]);
    bed.apply(&Fault::Latency {
        delay: Duration::from_millis(delay_ms),
        jitter: Duration::from_millis(delay_ms / 5),
    })
    .unwrap();
    bed.apply(&Fault::Loss(loss)).unwrap();
    let mut h = History::default();
    for k in 0..count {
        let at = k % clients.len();
        h.propose(&clients[at], at, "net.call", TTL);
        let id = h.proposed.last().unwrap().id.clone();
        // Poll the proposer closely, for the latency.
        wait_for("decided", Duration::from_secs(60), || {
            h.observe(at, &clients[at]);
            Ok(h.decided.contains_key(&(at, id.clone())).then_some(()))
        })
        .unwrap();
    }
    bed.apply(&Fault::Loss(0)).unwrap();
    wait_agreement(&mut h, &clients, Duration::from_secs(60)).unwrap();
    let v = violations(&bed, &mut h, &clients);
    assert!(v.is_empty(), "{v:#?}");
    h.decision_latencies()
}

#[test]
fn latency_100ms_jitter_20ms_loss_5pct_every_proposal_decided() {
    if !bed_available("latency") {
        return;
    }
    for (ms, loss) in [(0, 0), (20, 0), (100, 5)] {
        let lat = decide_under(ms, loss, 10);
        assert_eq!(lat.len(), 10, "every proposal decided");
        println!(
            "link latency {ms} ms ± {} ms, loss {loss}%: decision latency p50 {:?} p99 {:?} (10 proposals)",
            ms / 5,
            percentile(&lat, 50),
            percentile(&lat, 99)
        );
    }
}

#[test]
fn random_sigkills_while_voting_then_restarts_no_node_votes_twice() {
    if !bed_available("kills") {
        return;
    }
    let (mut bed, clients) = bed(5, "3/5", &[]);
    let mut h = History::default();
    // Kill one node at a time while proposals arrive, then start it on its data dir.
    let mut schedule = Vec::new();
    for (k, node) in [1usize, 3, 2, 4].iter().enumerate() {
        let t = Duration::from_millis(1500 * k as u64);
        schedule.push((t, Fault::Kill(*node)));
        schedule.push((t + Duration::from_millis(1000), Fault::Restart(*node)));
    }
    let mut made = 0;
    bed.run_schedule(&schedule, |_| {
        if made < 12 {
            h.propose(&clients[0], 0, "net.call", TTL);
            made += 1;
        }
        observe_all(&mut h, &clients);
        Ok(())
    })
    .unwrap();
    let clients = bed.wait_all_ready(READY).unwrap();
    wait_agreement(&mut h, &clients, Duration::from_secs(60)).unwrap();
    let v = violations(&bed, &mut h, &clients);
    assert!(v.is_empty(), "{v:#?}");
    println!(
        "kills: {} proposals, {} own ballots checked across restarts",
        h.proposed.len(),
        h.own.len()
    );
}

#[test]
fn bootstrap_by_dns_name_and_discovery_from_one_seed() {
    if !bed_available("dns") {
        return;
    }
    let binary = binary();
    // Every node knows only node0, by name; discovery must find the rest. Direct
    // addresses, not relays: a name resolves to an address, not to a relay port.
    let seed_only = |i: usize, j: usize| {
        (i != 0 && j == 0).then(|| {
            format!(
                "/dns4/node0.bed/tcp/{}",
                swarmvote_node::dev::hosts::bed::P2P_PORT
            )
        })
    };
    let mut bed = Bed::create(&BedSpec {
        binary: &binary,
        nodes: 5,
        quorum: "3/5",
        extra: &policy,
        bootstrap: Some(&seed_only),
        dir: None,
        env: Vec::new(),
        options: ClusterOptions::default(),
    })
    .unwrap();
    let names: Vec<_> = bed
        .net
        .ips
        .iter()
        .enumerate()
        .map(|(i, ip)| (format!("node{i}.bed"), *ip))
        .collect();
    bed.net.write_hosts(&names).unwrap();
    bed.allow_direct_dials().unwrap();
    let start = Instant::now();
    bed.start_all().unwrap();
    bed.wait_all_ready(READY).unwrap();
    println!(
        "one seed by name: all 5 connected after {:?}",
        start.elapsed()
    );
}

/// A seeded xorshift64, for the nemesis's choices.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n.max(1)
    }
}

/// One random fault on `n` nodes, with its repair.
fn random_fault(rng: &mut Rng, n: usize) -> (Fault, Fault) {
    let node = rng.below(n as u64) as usize;
    match rng.below(6) {
        0 => {
            let mut a = Vec::new();
            let mut b = Vec::new();
            for i in 0..n {
                if rng.below(2) == 0 {
                    a.push(i)
                } else {
                    b.push(i)
                }
            }
            (Fault::Partition(vec![a, b]), Fault::Heal)
        }
        1 => (Fault::Deafen(node), Fault::Heal),
        2 => (Fault::Pause(node), Fault::Resume(node)),
        3 => (Fault::Kill(node), Fault::Restart(node)),
        4 => (
            Fault::Latency {
                delay: Duration::from_millis(rng.below(200)),
                jitter: Duration::from_millis(rng.below(40)),
            },
            Fault::Latency {
                delay: Duration::ZERO,
                jitter: Duration::ZERO,
            },
        ),
        _ => (Fault::Loss(1 + rng.below(20) as u8), Fault::Loss(0)),
    }
}

#[test]
#[ignore = "minutes long: SWARMVOTE_NEMESIS_MINUTES=5 cargo test -p swarmvote-tests --test netbed nemesis -- --ignored --nocapture"]
fn nemesis() {
    if !bed_available("nemesis") {
        return;
    }
    let minutes: f64 = std::env::var("SWARMVOTE_NEMESIS_MINUTES")
        .ok()
        .and_then(|m| m.parse().ok())
        .unwrap_or(1.0);
    let seed: u64 = std::env::var("SWARMVOTE_NEMESIS_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(1, |d| d.as_nanos() as u64)
        });
    println!(
        "nemesis: seed {seed}, {minutes} minutes (SWARMVOTE_NEMESIS_SEED={seed} repeats the choices)"
    );
    let mut rng = Rng(seed | 1);
    let (mut bed, _) = bed(5, "3/5", &[]);
    let mut h = History::default();
    let end = Duration::from_secs_f64(minutes * 60.0);
    let mut schedule = Vec::new();
    let mut t = Duration::from_secs(1);
    while t < end {
        let (fault, repair) = random_fault(&mut rng, 5);
        let hold = Duration::from_millis(2_000 + rng.below(8_000));
        schedule.push((t, fault));
        schedule.push((t + hold, repair));
        t += hold + Duration::from_millis(500 + rng.below(3_000));
    }
    let mut next = Instant::now();
    let mut tick = 0u64;
    bed.run_schedule(&schedule, |bed| {
        if Instant::now() >= next {
            let at = (tick % 5) as usize;
            let running = bed.cluster.nodes.get_mut(at).is_some_and(|n| n.running());
            // A fresh client each time: a restarted node has a new API token.
            if running && let Ok(client) = bed.client(at) {
                let action = if tick % 4 == 3 {
                    "deny.call"
                } else {
                    "net.call"
                };
                h.propose(&client, at, action, TTL);
            }
            tick += 1;
            next += Duration::from_millis(1_000);
            // Observe one node per proposal, round robin, to keep the run light.
            let o = (tick % 5) as usize;
            if let Ok(client) = bed.client(o) {
                h.observe(o, &client);
            }
        }
        Ok(())
    })
    .unwrap();
    bed.repair_all().unwrap();
    let clients = bed.wait_all_ready(READY).unwrap();
    let took = wait_agreement(&mut h, &clients, Duration::from_secs(120));
    let v = violations(&bed, &mut h, &clients);
    println!(
        "nemesis: seed {seed}, {:.1} minutes, {} faults injected, {} proposals ({} refused while faulted), agreement after repair: {took:?}, violations: {}",
        bed.elapsed().as_secs_f64() / 60.0,
        bed.injected.len(),
        h.proposed.len(),
        h.refused.len(),
        v.len()
    );
    // Why proposals were refused: a paused node's API times out, a killed one refuses.
    let mut why: BTreeMap<String, usize> = BTreeMap::new();
    for (_, e) in &h.refused {
        let short: String = e.chars().take(60).collect();
        *why.entry(short).or_default() += 1;
    }
    for (reason, count) in &why {
        println!("  refused {count:>4}: {reason}");
    }
    for (at, f) in &bed.injected {
        println!("  {at:>8.1?}  {f}");
    }
    assert!(took.is_ok() && v.is_empty(), "{v:#?}");
}
