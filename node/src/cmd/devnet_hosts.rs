//! `swarmvote devnet --hosts`: the devnet with each node in its own network namespace,
//! at its own address on a bridge, as if each ran on its own host; every link goes
//! through the test bed's relay (see [`swarmvote_node::dev::hosts`]). Needs root.
//! `--partition-demo` splits the swarm while proposals arrive, shows what each side
//! decides, heals it and shows every node agree.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use swarmvote_node::dev::cluster::{ApiClient, ClusterOptions, wait_for};
use swarmvote_node::dev::hosts::{Bed, BedSpec, Fault, unavailable};
use swarmvote_protocol::{Quorum, Verdict};

use super::devnet::DevnetArgs;
use super::devnet_demo::policy_toml;
use super::devnet_term::Stop;

/// How long the nodes may take to start and see each other.
const READY: Duration = Duration::from_secs(60);
/// How long the split lasts in the partition demo.
const SPLIT: Duration = Duration::from_secs(8);

/// Runs the devnet on namespaces. Returns the exit code.
pub fn run(args: &DevnetArgs, binary: &Path, quorum: &Quorum) -> anyhow::Result<u8> {
    if let Some(why) = unavailable() {
        bail!("--hosts: {why}; run it as root (sudo swarmvote devnet --hosts)");
    }
    let n = usize::from(args.nodes);
    let stop = Stop::listen()?;
    let policy = |_: usize| {
        format!(
            "{}\n[network]\nsync_interval_secs = 1\n",
            policy_toml(false)
        )
    };
    let mut bed = Bed::create(&BedSpec {
        binary,
        nodes: n,
        quorum: &args.quorum,
        extra: &policy,
        bootstrap: None,
        dir: None,
        env: Vec::new(),
        options: ClusterOptions {
            swarm_id: "devnet".into(),
            status_interval_secs: 10,
            log_filter: std::env::var("RUST_LOG").ok(),
            ..ClusterOptions::default()
        },
    })
    .context("cannot build the namespaces")?;
    let q = quorum.required(u32::try_from(n).unwrap_or(u32::MAX));
    println!(
        "swarmvote devnet --hosts: {n} nodes, quorum {q} of {n}, each in its own network namespace"
    );
    for (i, node) in bed.cluster.nodes.iter().enumerate() {
        println!(
            "  {}  namespace {}  libp2p {}  api http://{}",
            node.name,
            bed.net.namespace(i)?,
            node.p2p,
            node.api
        );
    }
    println!(
        "  try: ip netns exec {} {} status --config {}",
        bed.net.namespace(0)?,
        binary.display(),
        bed.cluster
            .nodes
            .first()
            .map(|n| n.config.display().to_string())
            .unwrap_or_default()
    );
    bed.start_all()?;
    let clients = bed
        .wait_all_ready(READY)
        .context("the nodes did not connect")?;
    println!("all {n} nodes connected, every link through its relay");
    if args.partition_demo {
        return partition_demo(&mut bed, &clients, q, &stop);
    }
    println!("running; Ctrl-C stops every node and removes the namespaces");
    while stop.signalled().is_none() {
        std::thread::sleep(Duration::from_millis(200));
    }
    Ok(0)
}

/// Splits the swarm, proposes on both sides, heals, and reports.
fn partition_demo(bed: &mut Bed, clients: &[ApiClient], q: u32, stop: &Stop) -> anyhow::Result<u8> {
    let n = clients.len();
    let small: Vec<usize> = (0..n / 2).collect();
    let big: Vec<usize> = (n / 2..n).collect();
    if small.is_empty() {
        bail!("--partition-demo: needs at least 2 nodes");
    }
    println!(
        "\nsplitting: {:?} | {:?} (quorum {q}: only a side with {q} nodes can approve)",
        small, big
    );
    bed.apply(&Fault::Partition(vec![small.clone(), big.clone()]))?;
    let mut ids: Vec<(usize, String)> = Vec::new();
    let start = Instant::now();
    let sides = [small.first().copied(), big.first().copied()];
    for (k, side) in sides.iter().flatten().enumerate() {
        let id = clients.get(*side).context("no client")?.propose(
            "net.call",
            serde_json::json!({ "demo": k }),
            120_000,
        )?;
        println!("  proposed {id} at node{side}");
        ids.push((*side, id));
    }
    while start.elapsed() < SPLIT && stop.signalled().is_none() {
        std::thread::sleep(Duration::from_millis(200));
    }
    show(clients, &ids, "while split");
    let healed = Instant::now();
    bed.apply(&Fault::Heal)?;
    println!("\nhealed");
    let agreed = wait_for("agreement", Duration::from_secs(60), || {
        let all = verdicts(clients, &ids);
        let decided = all
            .values()
            .all(|v| v.iter().all(|x| *x != Verdict::Pending));
        let same = all
            .values()
            .collect::<std::collections::BTreeSet<_>>()
            .len()
            == 1;
        Ok((decided && same && all.len() == n).then_some(()))
    });
    show(clients, &ids, "after heal");
    match agreed {
        Ok(()) => {
            println!("every node agrees, {:?} after the heal", healed.elapsed());
            Ok(0)
        }
        Err(e) => {
            println!("{e}");
            Ok(1)
        }
    }
}

/// Each node's verdict for each proposal (pending if it does not hold it or answer).
fn verdicts(clients: &[ApiClient], ids: &[(usize, String)]) -> BTreeMap<usize, Vec<Verdict>> {
    clients
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let c = c.with_timeout(Duration::from_secs(2));
            let v = ids
                .iter()
                .map(|(_, id)| {
                    c.proposal_report(id)
                        .ok()
                        .flatten()
                        .map_or(Verdict::Pending, |r| r.tally.verdict)
                })
                .collect();
            (i, v)
        })
        .collect()
}

fn show(clients: &[ApiClient], ids: &[(usize, String)], when: &str) {
    println!("{when}:");
    for (i, v) in verdicts(clients, ids) {
        let cells: Vec<String> = ids
            .iter()
            .zip(&v)
            .map(|((from, _), v)| format!("node{from}'s proposal {v:?}"))
            .collect();
        println!("  node{i}: {}", cells.join(", "));
    }
}
