//! `swarmvote devnet`: a newcomer's first command. Generates keys, a roster and node
//! configs with sensible policies, starts N real `swarmvote run` processes (this same
//! binary) on free loopback ports, prints how to talk to them and streams their logs,
//! each line labelled with its node. `--demo` then runs the script of
//! [`super::devnet_demo`]: a benign, a dangerous and a four-eyes proposal, each decision
//! shown and every approval's certificate verified offline.
//!
//! Nothing outlives it: the nodes run in their own process group (so a terminal's Ctrl-C
//! reaches only devnet, which stops them in order: SIGTERM, a deadline, then SIGKILL),
//! and each asks the kernel for SIGTERM if devnet dies, even by SIGKILL.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde::{Deserialize, Serialize};
use swarmvote_node::dev::cluster::{ApiClient, Cluster, ClusterError, ClusterOptions, ClusterSpec};
use swarmvote_protocol::Quorum;

use super::devnet_demo::{Demo, Plan};
use super::devnet_term::{Interrupted, Out, Stop};

/// The file that marks a directory as a devnet's (and lets `--dir` reuse it).
const MARKER: &str = "devnet.toml";
/// How long the nodes may take to start and see each other.
const READY_TIMEOUT: Duration = Duration::from_secs(60);
/// How long the nodes get to stop after SIGTERM before they are killed.
const STOP_GRACE: Duration = Duration::from_secs(10);
/// Exit code when a signal interrupted the demo (128 + SIGINT, as shells report it).
const EXIT_INTERRUPTED: u8 = 130;

/// What `swarmvote devnet` was asked to do.
#[derive(clap::Args)]
pub struct DevnetArgs {
    /// Number of nodes (1 to 16).
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u16).range(1..=16))]
    pub nodes: u16,
    /// The quorum: "2/3", "0.66" or "66%".
    #[arg(long, default_value = "2/3")]
    pub quorum: String,
    /// Keep keys, configs, data and logs in DIR (created if missing; a devnet dir is
    /// reused with its keys and data; any other non-empty dir is refused). Default: a
    /// temporary dir, removed at exit.
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
    /// Keep the temporary dir at exit and print its path.
    #[arg(long, conflicts_with = "dir")]
    pub keep: bool,
    /// Submit a benign and a dangerous proposal and (with 3 nodes or more) a four-eyes
    /// one that needs a vote by hand; show each decision with its ballots and tally,
    /// verify every approval's certificate, then stop.
    #[arg(long)]
    pub demo: bool,
    /// Put each node in its own network namespace with its own address on a bridge, as
    /// if on its own host (needs root, iproute2 and nftables).
    #[arg(long, conflicts_with_all = ["dir", "keep"])]
    pub hosts: bool,
    /// With --hosts: split the nodes in two while proposals arrive, print what each side
    /// decides, heal, and show every node agree; then stop.
    #[arg(long, requires = "hosts", conflicts_with = "demo")]
    pub partition_demo: bool,
}

/// `devnet.toml`: what this dir holds, so a later run can reuse it.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Marker {
    nodes: usize,
    quorum: String,
}

/// `--nodes` and `--quorum`, checked (shared with `devnet --hosts`).
pub(crate) fn quorum_of(args: &DevnetArgs) -> anyhow::Result<Quorum> {
    if args.nodes == 0 {
        bail!("--nodes: at least 1");
    }
    args.quorum
        .parse()
        .with_context(|| format!("--quorum {}", args.quorum))
}

/// `swarmvote devnet` on 127.0.0.1 (`--hosts` is [`super::devnet_hosts`]). Returns the
/// exit code.
pub fn run(args: &DevnetArgs, binary: &Path, colours: bool) -> anyhow::Result<u8> {
    let out = Out::new(colours);
    let nodes = usize::from(args.nodes);
    let quorum = quorum_of(args)?;
    let stop = Stop::listen()?;

    let temp = match &args.dir {
        Some(d) => {
            prepare_dir(d, nodes, &args.quorum)?;
            None
        }
        None => Some(
            tempfile::Builder::new()
                .prefix("swarmvote-devnet-")
                .tempdir()
                .context("cannot create a temporary dir")?,
        ),
    };
    let dir = match (&args.dir, &temp) {
        (Some(d), _) => d.clone(),
        (None, Some(t)) => t.path().to_owned(),
        (None, None) => bail!("no dir"),
    };
    let dir = std::path::absolute(&dir).unwrap_or(dir);

    // Who votes how, and the roster's tiers: see `devnet_demo`.
    let n = nodes;
    let q = quorum_required(&quorum, n)?;
    let plan = Plan::new(n, q);
    let policy = |i: usize| plan.policy(i);
    let mut cluster = Cluster::create_with(
        &ClusterSpec {
            binary,
            dir: &dir,
            nodes: n,
            quorum: &args.quorum,
            extra: &policy,
        },
        &ClusterOptions {
            swarm_id: "devnet".to_owned(),
            status_interval_secs: 10,
            log_filter: std::env::var("RUST_LOG").ok(),
            roster_rules: plan.roster_rules(),
            ..ClusterOptions::default()
        },
    )?;
    let marker = Marker {
        nodes: n,
        quorum: args.quorum.clone(),
    };
    let marker_text = format!(
        "# Written by `swarmvote devnet`; `swarmvote devnet --dir` reuses this dir.\n{}",
        toml::to_string(&marker).context("devnet.toml")?
    );
    std::fs::write(dir.join(MARKER), marker_text)
        .with_context(|| format!("{}: cannot write", dir.join(MARKER).display()))?;

    describe(out, &cluster, &dir, args, q, &plan);
    let mut readers = Vec::new();
    let result = start_and_serve(&mut cluster, &stop, out, &dir, args, binary, &mut readers);
    match &result {
        Err(e) if e.downcast_ref::<Interrupted>().is_some() => out.line(&out.bold(&format!("{e}"))),
        Err(e) => eprintln!("error: {e:#}"),
        Ok(()) => {}
    }

    // Whatever happened, stop every node before returning.
    let running = cluster.nodes.iter().filter(|n| n.pid().is_some()).count();
    if running > 0 {
        out.line(&format!(
            "stopping {running} node{} (SIGTERM; SIGKILL after {} s or at a second Ctrl-C)",
            if running == 1 { "" } else { "s" },
            STOP_GRACE.as_secs()
        ));
    }
    // Signals so far; one more kills the nodes at once.
    let seen = stop.count();
    let stopped = cluster.stop_all_or_force(STOP_GRACE, || stop.count() > seen);
    for r in readers {
        let _ = r.join();
    }
    let mut clean = true;
    if let Ok(results) = &stopped {
        for (node, (status, killed)) in cluster.nodes.iter().zip(results) {
            match (status, killed) {
                (Some(_), true) => {
                    clean = false;
                    out.line(&format!("{}: killed", node.name));
                }
                (Some(s), false) if !s.success() => {
                    clean = false;
                    out.line(&format!("{}: exited with {s}", node.name));
                }
                _ => {}
            }
        }
    }
    let stopped = stopped.context("stopping the nodes")?;
    if running > 0 && clean {
        out.line(&format!("all {} nodes stopped cleanly", stopped.len()));
    }
    match (&args.dir, args.keep, temp) {
        (None, true, Some(t)) => {
            out.line(&format!("kept {}", t.keep().display()));
        }
        (None, _, Some(t)) => {
            let path = t.path().to_owned();
            t.close()
                .with_context(|| format!("{}: cannot remove", path.display()))?;
        }
        _ => out.line(&format!(
            "kept {} (run `swarmvote devnet --dir {}` again to reuse it)",
            dir.display(),
            dir.display()
        )),
    }
    match result {
        Ok(()) if clean || !args.demo => Ok(0),
        Ok(()) => bail!("a node did not stop cleanly"),
        Err(e) if e.downcast_ref::<Interrupted>().is_some() => {
            Ok(if args.demo { EXIT_INTERRUPTED } else { 0 })
        }
        // Printed above, before the nodes' shutdown lines; the exit code says the rest.
        Err(_) => Ok(1),
    }
}

/// `q` for `n` members under `quorum`, as the roster computes it.
fn quorum_required(quorum: &Quorum, n: usize) -> anyhow::Result<usize> {
    let n = u32::try_from(n).context("--nodes: too many")?;
    let q = quorum.required(n);
    Ok(usize::try_from(q).unwrap_or(usize::MAX))
}

/// `--dir`: a new or empty dir is used; one holding a devnet of the same shape is
/// reused (keys and data kept); anything else is refused.
fn prepare_dir(dir: &Path, nodes: usize, quorum: &str) -> anyhow::Result<()> {
    if !dir.exists() {
        return std::fs::create_dir_all(dir)
            .with_context(|| format!("--dir {}: cannot create", dir.display()));
    }
    if !dir.is_dir() {
        bail!("--dir {}: not a directory", dir.display());
    }
    let mut entries =
        std::fs::read_dir(dir).with_context(|| format!("--dir {}: cannot read", dir.display()))?;
    if entries.next().is_none() {
        return Ok(());
    }
    let marker_path = dir.join(MARKER);
    let text = match std::fs::read_to_string(&marker_path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => bail!(
            "--dir {}: not empty and not a devnet dir (it has no {MARKER}); choose a new or empty dir",
            dir.display()
        ),
        Err(e) => return Err(e).with_context(|| format!("{}", marker_path.display())),
    };
    let marker: Marker =
        toml::from_str(&text).with_context(|| format!("{}", marker_path.display()))?;
    if marker.nodes != nodes || marker.quorum != quorum {
        bail!(
            "--dir {}: holds a devnet of {} nodes with quorum {}; pass --nodes {} --quorum {} to reuse it, or choose another dir",
            dir.display(),
            marker.nodes,
            marker.quorum,
            marker.nodes,
            marker.quorum
        );
    }
    Ok(())
}

/// What is about to run, and why the policies are what they are.
fn describe(out: Out, cluster: &Cluster, dir: &Path, args: &DevnetArgs, q: usize, plan: &Plan) {
    let n = cluster.nodes.len();
    let kept = match (&args.dir, args.keep) {
        (Some(_), _) => "kept at exit",
        (None, true) => "kept at exit (--keep)",
        (None, false) => "removed at exit; --keep or --dir keeps it",
    };
    out.line(&out.bold(&format!(
        "swarmvote devnet: {n} node{} on 127.0.0.1, quorum {} (q = {q} of {n})",
        if n == 1 { "" } else { "s" },
        args.quorum
    )));
    out.line(&format!("dir: {} ({kept})", dir.display()));
    plan.describe(out, cluster);
}

fn start_and_serve(
    cluster: &mut Cluster,
    stop: &Stop,
    out: Out,
    dir: &Path,
    args: &DevnetArgs,
    binary: &Path,
    readers: &mut Vec<JoinHandle<()>>,
) -> anyhow::Result<()> {
    let n = cluster.nodes.len();
    let plan = Plan::of(&cluster.roster);
    let width = cluster
        .nodes
        .iter()
        .map(|x| x.name.len())
        .max()
        .unwrap_or(5);
    out.line(&format!("starting {n} nodes..."));
    let started = Instant::now();
    for i in 0..n {
        let Some(output) = cluster.start_piped(i)? else {
            continue;
        };
        let (name, log) = cluster
            .nodes
            .get(i)
            .map(|x| (x.name.clone(), x.log.clone()))
            .unwrap_or_default();
        let label = out.label(&name, i, width);
        readers.push(relay(output.stdout, label.clone(), log.clone(), out)?);
        readers.push(relay(output.stderr, label, log, out)?);
    }
    let peers = n.saturating_sub(1);
    let mut clients = Vec::with_capacity(n);
    for i in 0..n {
        clients.push(wait_ready(cluster, i, peers, stop)?);
    }
    out.line(&out.bold(&format!(
        "ready in {} ms: every node sees its {peers} peer{}",
        started.elapsed().as_millis(),
        if peers == 1 { "" } else { "s" }
    )));
    print_howto(out, cluster, dir, binary, &plan);
    if args.demo {
        return Demo {
            cluster,
            clients: &clients,
            stop,
            out,
            dir,
            kept: args.dir.is_some() || args.keep,
            plan,
        }
        .run();
    }
    out.line(&out.bold("streaming the nodes' logs; Ctrl-C stops every node"));
    loop {
        check_running(cluster, stop, "exited unexpectedly")?;
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Fails when a signal arrived or a node has exited (`how` says in which phase).
fn check_running(cluster: &mut Cluster, stop: &Stop, how: &str) -> anyhow::Result<()> {
    if let Some(signal) = stop.signalled() {
        return Err(Interrupted(signal).into());
    }
    for node in &mut cluster.nodes {
        if let Some(status) = node.exit_status() {
            bail!(
                "{} {how} ({status}); its log is above and in {}",
                node.name,
                node.log.display()
            );
        }
    }
    Ok(())
}

/// Copies a node's output, line by line, to stdout (labelled) and to its log file.
fn relay(
    stream: impl Read + Send + 'static,
    label: String,
    log: PathBuf,
    out: Out,
) -> anyhow::Result<JoinHandle<()>> {
    let mut file = std::fs::File::options()
        .create(true)
        .append(true)
        .open(&log)
        .with_context(|| format!("{}: cannot open", log.display()))?;
    Ok(std::thread::spawn(move || {
        let mut reader = BufReader::new(stream);
        let mut buf = Vec::new();
        loop {
            buf.clear();
            match reader.read_until(b'\n', &mut buf) {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
            let _ = file.write_all(&buf);
            let text = String::from_utf8_lossy(&buf);
            out.line(&format!("{label} {}", shorten(text.trim_end())));
        }
    }))
}

/// A text log line with its date dropped (`2026-01-02T03:04:05.678901Z  INFO …` becomes
/// `03:04:05.678  INFO …`): the terminal view is for reading; the log file keeps it all.
fn shorten(line: &str) -> String {
    let stamped = line.len() > 27
        && line.get(10..11) == Some("T")
        && line.get(26..27) == Some("Z")
        && line
            .get(..4)
            .is_some_and(|y| y.bytes().all(|b| b.is_ascii_digit()));
    match (stamped, line.get(11..23), line.get(27..)) {
        (true, Some(time), Some(rest)) => format!("{time}{rest}"),
        _ => line.to_owned(),
    }
}

/// Waits until node `i` answers with `peers` admitted peers, a node exits, a signal
/// arrives or [`READY_TIMEOUT`] passes.
fn wait_ready(
    cluster: &mut Cluster,
    i: usize,
    peers: usize,
    stop: &Stop,
) -> anyhow::Result<ApiClient> {
    let deadline = Instant::now() + READY_TIMEOUT;
    loop {
        check_running(cluster, stop, "exited while starting")?;
        match cluster.wait_ready(i, peers, Duration::from_millis(200)) {
            Ok(client) => return Ok(client),
            Err(ClusterError::Timeout { .. }) if Instant::now() < deadline => {}
            Err(ClusterError::Timeout { .. }) => bail!(
                "node{i} did not see its {peers} peers within {} s",
                READY_TIMEOUT.as_secs()
            ),
            Err(e) => return Err(e.into()),
        }
    }
}

/// The CLI path to show: relative to the working dir when it is under it.
fn display_binary(binary: &Path) -> String {
    let relative = std::env::current_dir()
        .ok()
        .and_then(|cwd| binary.strip_prefix(cwd).ok().map(Path::to_owned));
    match relative {
        Some(r) => format!("./{}", r.display()),
        None => binary.display().to_string(),
    }
}

fn print_howto(out: Out, cluster: &Cluster, dir: &Path, binary: &Path, plan: &Plan) {
    let cli = display_binary(binary);
    for node in &cluster.nodes {
        out.line(&format!(
            "  {}  API http://{}  data {}",
            node.name,
            node.api,
            node.dir.join("data").display()
        ));
    }
    let Some(first) = cluster.nodes.first() else {
        return;
    };
    let data = first.dir.join("data");
    let data = data.display();
    out.line("talk to a node (the CLI reads the API address and token from its data dir):");
    out.line(&format!("  {cli} status --data-dir {data}"));
    out.line(&format!(
        "  {cli} propose --data-dir {data} --action fs.delete --payload '{{\"path\":\"/backup/db.tar\"}}' --wait"
    ));
    if let Some(officer) = plan.officer().and_then(|i| cluster.nodes.get(i)) {
        out.line(&format!(
            "  {cli} vote --data-dir {} ID yes   ({} votes by hand)",
            officer.dir.join("data").display(),
            officer.name
        ));
    }
    out.line(&format!("  {cli} proposals --data-dir {data}"));
    out.line(&format!("  {cli} watch --data-dir {data}"));
    out.line(&format!(
        "  curl -H \"Authorization: Bearer $(cat {data}/api.cookie)\" http://{}/v1/status",
        first.api
    ));
    out.line(&format!(
        "  {cli} verify-cert CERT.json --roster {}",
        dir.join("roster.toml").display()
    ));
}
