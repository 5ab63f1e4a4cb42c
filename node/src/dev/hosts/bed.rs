//! A test bed: real `swarmvote run` processes, each in its own network namespace with its
//! own address, every link through a delaying relay, and the faults applied on command
//! or on a schedule. Built on [`Cluster`] for keys, roster, configs and processes.
//!
//! Dropping a bed kills its nodes, stops its relays, deletes its namespaces and bridge
//! and removes its directory, in that order, also while a test panics.

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use super::HostsError;
use super::faults::{Fault, NetFaults};
use super::netns::{Net, run_input};
use super::relay::{MARK, NodeRelays, RELAY_BASE, RelayPlan, Shapes};
use crate::dev::cluster::{ApiClient, Cluster, ClusterOptions, ClusterSpec, Placement};

/// Every node's libp2p port, in its own namespace.
pub const P2P_PORT: u16 = 7000;
/// Every node's API port, in its own namespace.
pub const API_PORT: u16 = 7100;

/// How to build a bed.
pub struct BedSpec<'a> {
    /// The `swarmvote` binary.
    pub binary: &'a Path,
    /// Number of nodes.
    pub nodes: usize,
    /// The quorum, such as `"3/5"`.
    pub quorum: &'a str,
    /// Extra TOML for node `i`'s config (`[evaluator]`, `[network]` timings).
    pub extra: &'a dyn Fn(usize) -> String,
    /// Where node `i` dials node `j`: `None` through the relays (the default, which
    /// latency needs); `Some` to give explicit bootstrap lists, such as DNS names.
    pub bootstrap: Option<&'a dyn Fn(usize, usize) -> Option<String>>,
    /// Where to keep the files; default a temporary dir removed on drop.
    pub dir: Option<PathBuf>,
    /// `KEY=VALUE` settings for every node's environment (test-only switches).
    pub env: Vec<String>,
    /// Cluster options (swarm id, status interval, log filter; placement is the bed's).
    pub options: ClusterOptions,
}

/// A running bed. Fields drop in order: nodes, relays, namespaces, files.
pub struct Bed {
    /// The nodes.
    pub cluster: Cluster,
    relays: Vec<NodeRelays>,
    /// The namespaces.
    pub net: Net,
    shapes: Arc<Shapes>,
    faults: NetFaults,
    /// What was injected, with when (from the bed's start).
    pub injected: Vec<(Duration, Fault)>,
    started: Instant,
    /// The bed's directory.
    pub dir: PathBuf,
    _temp: Option<tempfile::TempDir>,
}

impl Bed {
    /// Creates the namespaces, relays and node files; starts no node.
    pub fn create(spec: &BedSpec<'_>) -> Result<Self, HostsError> {
        let net = Net::create(spec.nodes)?;
        let (temp, dir) = match &spec.dir {
            Some(d) => (None, d.clone()),
            None => {
                let t = tempfile::Builder::new()
                    .prefix("swarmvote-bed-")
                    .tempdir()
                    .map_err(|e| HostsError::Setup(format!("temp dir: {e}")))?;
                let d = t.path().to_owned();
                (Some(t), d)
            }
        };
        let shapes = Arc::new(Shapes::new(spec.nodes));
        let peers: Vec<SocketAddr> = net
            .ips
            .iter()
            .map(|ip| SocketAddr::new(IpAddr::V4(*ip), P2P_PORT))
            .collect();
        let mut placement = Vec::new();
        for i in 0..spec.nodes {
            let bootstrap = (0..spec.nodes)
                .filter(|j| *j != i)
                .filter_map(|j| match spec.bootstrap {
                    Some(f) => f(i, j),
                    None => Some(format!(
                        "/ip4/127.0.0.1/tcp/{}",
                        RELAY_BASE.saturating_add(u16::try_from(j).unwrap_or(u16::MAX))
                    )),
                })
                .collect();
            placement.push(Placement {
                ip: IpAddr::V4(
                    *net.ips
                        .get(i)
                        .ok_or_else(|| HostsError::Setup(format!("no address for node {i}")))?,
                ),
                p2p_port: P2P_PORT,
                api_port: API_PORT,
                bootstrap,
                prefix: {
                    let mut p = net.exec_prefix(i)?;
                    if !spec.env.is_empty() {
                        p.push("env".into());
                        p.extend(spec.env.iter().cloned());
                    }
                    p
                },
            });
        }
        let cluster = Cluster::create_with(
            &ClusterSpec {
                binary: spec.binary,
                dir: &dir,
                nodes: spec.nodes,
                quorum: spec.quorum,
                extra: spec.extra,
            },
            &ClusterOptions {
                placement,
                ..spec.options.clone()
            },
        )?;
        let mut relays = Vec::new();
        for i in 0..spec.nodes {
            relays.push(NodeRelays::start(
                RelayPlan {
                    me: i,
                    namespace: net.namespace(i)?.to_owned(),
                    peers: peers.clone(),
                },
                shapes.clone(),
            )?);
        }
        let bed = Self {
            cluster,
            relays,
            net,
            shapes,
            faults: NetFaults::default(),
            injected: Vec::new(),
            started: Instant::now(),
            dir,
            _temp: temp,
        };
        bed.write_rules()?;
        Ok(bed)
    }

    /// Number of nodes.
    pub fn len(&self) -> usize {
        self.cluster.nodes.len()
    }

    /// Whether the bed has no nodes.
    pub fn is_empty(&self) -> bool {
        self.cluster.nodes.is_empty()
    }

    /// Writes every namespace's nftables rules for the faults in force.
    fn write_rules(&self) -> Result<(), HostsError> {
        for (i, ns) in self.net.namespaces.iter().enumerate() {
            let script = self.faults.script(i, &self.net.ips, P2P_PORT, MARK);
            run_input(
                "ip",
                &["netns", "exec", ns, "nft", "-f", "-"],
                Some(&script),
            )?;
        }
        Ok(())
    }

    /// Lets nodes dial each other's real addresses, not only through the relays (for
    /// names that resolve to those addresses; latency then no longer applies).
    pub fn allow_direct_dials(&mut self) -> Result<(), HostsError> {
        self.faults.direct_dials = true;
        self.write_rules()
    }

    /// Makes cuts reset the TCP connections over them (see [`NetFaults::reset`]).
    pub fn reset_on_cut(&mut self, reset: bool) -> Result<(), HostsError> {
        self.faults.reset = reset;
        self.write_rules()
    }

    /// Starts every node.
    pub fn start_all(&mut self) -> Result<(), HostsError> {
        self.started = Instant::now();
        Ok(self.cluster.start_all()?)
    }

    /// Waits until every node answers and has admitted all the others.
    pub fn wait_all_ready(&mut self, timeout: Duration) -> Result<Vec<ApiClient>, HostsError> {
        let n = self.len();
        (0..n)
            .map(|i| Ok(self.cluster.wait_ready(i, n.saturating_sub(1), timeout)?))
            .collect()
    }

    /// An API client for node `i`.
    pub fn client(&self, i: usize) -> Result<ApiClient, HostsError> {
        Ok(self.cluster.client(i)?)
    }

    /// Time since the nodes were started.
    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    fn signal(&self, i: usize, signal: Signal) -> Result<(), HostsError> {
        let pid = self
            .cluster
            .nodes
            .get(i)
            .and_then(|n| n.pid())
            .ok_or_else(|| HostsError::Setup(format!("node {i} is not running")))?;
        kill(
            Pid::from_raw(i32::try_from(pid).unwrap_or(i32::MAX)),
            signal,
        )
        .map_err(|e| HostsError::Setup(format!("{signal} to node {i}: {e}")))
    }

    /// Injects one fault now.
    pub fn apply(&mut self, fault: &Fault) -> Result<(), HostsError> {
        tracing::info!(%fault, "inject");
        self.injected.push((self.elapsed(), fault.clone()));
        let n = self.len();
        if self.faults.apply(fault, n) {
            return self.write_rules();
        }
        match fault {
            Fault::Latency { delay, jitter } => self.shapes.set_all(*delay, *jitter),
            Fault::Pause(i) => self.signal(*i, Signal::SIGSTOP)?,
            Fault::Resume(i) => self.signal(*i, Signal::SIGCONT)?,
            Fault::Kill(i) => self.cluster.kill(*i)?,
            Fault::Restart(i) => self.cluster.start(*i)?,
            _ => {}
        }
        Ok(())
    }

    /// Runs a schedule from now: each fault at its offset; `between` is called about
    /// every 50 ms meanwhile (to propose, or to read the nodes), and once at the end.
    pub fn run_schedule(
        &mut self,
        schedule: &[(Duration, Fault)],
        mut between: impl FnMut(&mut Self) -> Result<(), HostsError>,
    ) -> Result<(), HostsError> {
        let start = Instant::now();
        for (at, fault) in schedule {
            while start.elapsed() < *at {
                between(self)?;
                let left = at.saturating_sub(start.elapsed());
                std::thread::sleep(left.min(Duration::from_millis(50)));
            }
            self.apply(fault)?;
        }
        between(self)
    }

    /// Repairs every fault: resumes paused nodes, restarts killed ones, heals the
    /// network and removes loss and latency.
    pub fn repair_all(&mut self) -> Result<(), HostsError> {
        for i in 0..self.len() {
            let _ = self.signal(i, Signal::SIGCONT);
            let running = self.cluster.nodes.get_mut(i).is_some_and(|n| n.running());
            if !running {
                self.apply(&Fault::Restart(i))?;
            }
        }
        self.apply(&Fault::Heal)?;
        self.apply(&Fault::Loss(0))?;
        self.apply(&Fault::Latency {
            delay: Duration::ZERO,
            jitter: Duration::ZERO,
        })
    }
}

impl Drop for Bed {
    fn drop(&mut self) {
        // Stopped nodes cannot take SIGTERM; the cluster's drop SIGKILLs anyway.
        for i in 0..self.len() {
            let _ = self.signal(i, Signal::SIGCONT);
        }
        self.relays.clear();
    }
}
