//! A local swarm of real node processes on 127.0.0.1: keys, roster and configs
//! generated in a directory, nodes started and stopped as child processes, and a small
//! API client. Used by the multi-process tests and `swarmvote bench cluster`.
//!
//! Each node is a `swarmvote run` process, so it is assembled exactly as in production,
//! by [`crate::assembly::assemble`] through `run`; nothing here builds a node in-process.
//!
//! Dropping a [`Cluster`] kills every node it started: nothing outlives it. Each node runs
//! in its own process group (a terminal's Ctrl-C reaches only the supervisor, which stops
//! the nodes in order) and asks the kernel for SIGTERM when its supervisor dies, even by
//! SIGKILL (see [`die_with_parent`]).

use std::fs::File;
use std::net::{SocketAddr, TcpListener};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStderr, ChildStdout, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use crate::api::{ProposalReport, Proposed, StatusReport};
use crate::keyfile;
use swarmvote_protocol::{MemberName, PublicKey, Quorum, Roster, SecretKey, SwarmId, VoterId};

use crate::daemon::identity;

/// Why the cluster failed.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    /// File or process trouble.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// Building the swarm's files failed.
    #[error("setup: {0}")]
    Setup(String),
    /// An API call failed.
    #[error("node {node}: {message}")]
    Api {
        /// The node.
        node: String,
        /// What went wrong.
        message: String,
    },
    /// A condition was not met in time.
    #[error("timed out after {after:?} waiting for {what}")]
    Timeout {
        /// The condition.
        what: String,
        /// How long we waited.
        after: Duration,
    },
}

fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> ClusterError {
    let what = what.into();
    move |source| ClusterError::Io { what, source }
}

/// The environment variable through which a supervisor asks a node to die with it: the
/// supervisor's pid.
pub const PARENT_PID_ENV: &str = "SWARMVOTE_PARENT_PID";

/// Called first by `swarmvote run`: when [`PARENT_PID_ENV`] names our parent, ask the
/// kernel to send us SIGTERM (a clean shutdown) when that parent goes away, so a node
/// never outlives the cluster or devnet that started it, even if that was SIGKILLed.
/// Returns false when the parent is already gone (we were reparented before asking): the
/// caller should exit at once.
pub fn die_with_parent() -> bool {
    let Some(expected) = std::env::var(PARENT_PID_ENV)
        .ok()
        .and_then(|v| v.parse::<u32>().ok())
    else {
        return true;
    };
    // The signal fires when the thread that spawned us exits; supervisors spawn nodes
    // from the thread that owns them for their whole life.
    #[cfg(target_os = "linux")]
    if let Err(e) = nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGTERM) {
        tracing::warn!(error = %e, "cannot ask to be stopped with the supervisor");
    }
    std::os::unix::process::parent_id() == expected
}

/// A free TCP port on 127.0.0.1 (bound and released; a race is possible but unlikely,
/// which is why listeners that can bind port 0 and report their address, as the metrics
/// listener does through `metrics.addr`, should).
pub fn free_port() -> Result<u16, ClusterError> {
    let l = TcpListener::bind("127.0.0.1:0").map_err(io("find a free port"))?;
    Ok(l.local_addr().map_err(io("find a free port"))?.port())
}

/// Every node on 127.0.0.1 with two free ports, bootstrapping with every other.
fn local_placement(nodes: usize, bootstrap: Bootstrap) -> Result<Vec<Placement>, ClusterError> {
    let ports = (0..nodes)
        .map(|_| Ok((free_port()?, free_port()?)))
        .collect::<Result<Vec<_>, ClusterError>>()?;
    Ok(ports
        .iter()
        .enumerate()
        .map(|(i, &(p2p_port, api_port))| Placement {
            ip: std::net::IpAddr::from([127, 0, 0, 1]),
            p2p_port,
            api_port,
            bootstrap: ports
                .iter()
                .enumerate()
                .filter_map(|(j, (p, _))| match bootstrap {
                    Bootstrap::All => (j != i).then(|| format!("/ip4/127.0.0.1/tcp/{p}")),
                    Bootstrap::Seed { seed, by_name } => (j == seed && i != seed).then(|| {
                        let host = if by_name {
                            "dns4/localhost"
                        } else {
                            "ip4/127.0.0.1"
                        };
                        format!("/{host}/tcp/{p}")
                    }),
                })
                .collect(),
            prefix: Vec::new(),
        })
        .collect())
}

/// A roster with tiers: the plain roster's fields, then `rules` (TOML whose top-level
/// keys come first, then its tables), then the members. Refused with the roster's own
/// message if the rules do not hold.
pub fn governed_roster(
    swarm: &SwarmId,
    quorum: Quorum,
    members: &[(MemberName, PublicKey)],
    rules: &str,
) -> Result<Roster, ClusterError> {
    let mut text = format!("swarm_id = \"{swarm}\"\nquorum = \"{quorum}\"\n{rules}\n");
    for (name, key) in members {
        text.push_str(&format!(
            "\n[[members]]\nname = \"{name}\"\nkey = \"{key}\"\n"
        ));
    }
    Roster::from_toml(&text).map_err(|e| ClusterError::Setup(format!("roster rules: {e}")))
}

/// One node of the cluster.
pub struct ClusterNode {
    /// Its roster name.
    pub name: String,
    /// Its directory (config, keys, data, log).
    pub dir: PathBuf,
    /// Its config file.
    pub config: PathBuf,
    /// Its libp2p listen address.
    pub p2p: String,
    /// Its API address.
    pub api: SocketAddr,
    /// Its peer id.
    pub peer_id: String,
    /// Its voter id.
    pub voter: VoterId,
    /// Its stderr log.
    pub log: PathBuf,
    /// The command `swarmvote run` is started under ([`Placement::prefix`]).
    pub prefix: Vec<String>,
    child: Option<Child>,
    /// Started by [`Cluster::start`] (logging to `log`), so the harness may start it again
    /// on other ports if one was taken (see [`Cluster::wait_ready`]).
    logs_to_file: bool,
}

impl ClusterNode {
    /// Whether its process is running.
    pub fn running(&mut self) -> bool {
        match self.child.as_mut() {
            Some(c) => matches!(c.try_wait(), Ok(None)),
            None => false,
        }
    }

    /// Whether its process was started and has exited (not stopped or killed by the
    /// harness, which forgets the process).
    pub fn exited(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|c| matches!(c.try_wait(), Ok(Some(_))))
    }

    /// Its process id, while it has one.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// How its process ended, if it has (the status stays readable until it is started
    /// again or stopped).
    pub fn exit_status(&mut self) -> Option<ExitStatus> {
        self.child
            .as_mut()
            .and_then(|c| c.try_wait().ok().flatten())
    }

    /// What its process is doing, for a test that gives up waiting on it: each thread's
    /// name, state and kernel wait channel from `/proc`, and every thread's backtrace
    /// when `gdb` is installed (bounded to 30 s). Empty if it is not running.
    pub fn diagnose(&self) -> String {
        let Some(pid) = self.pid() else {
            return String::new();
        };
        let mut out = format!("process {pid}\n");
        let tasks = std::path::PathBuf::from(format!("/proc/{pid}/task"));
        if let Ok(dir) = std::fs::read_dir(&tasks) {
            let mut ids: Vec<_> = dir.flatten().map(|e| e.path()).collect();
            ids.sort();
            for t in ids {
                let read = |f: &str| {
                    std::fs::read_to_string(t.join(f))
                        .unwrap_or_default()
                        .trim()
                        .to_owned()
                };
                // Field 3 of `stat` (after the parenthesised name) is the state.
                let stat = read("stat");
                let state = stat
                    .rsplit_once(") ")
                    .and_then(|(_, rest)| rest.split(' ').next())
                    .unwrap_or("?")
                    .to_owned();
                out.push_str(&format!(
                    "  thread {} {:?}: state {state}, wchan {}\n",
                    t.file_name().and_then(|n| n.to_str()).unwrap_or("?"),
                    read("comm"),
                    read("wchan"),
                ));
            }
        }
        let gdb = Command::new("timeout")
            .args([
                "30",
                "gdb",
                "-p",
                &pid.to_string(),
                "-batch",
                "-ex",
                "thread apply all bt 30",
            ])
            .stdin(Stdio::null())
            .output();
        if let Ok(o) = gdb
            && o.status.success()
        {
            out.push_str(&String::from_utf8_lossy(&o.stdout));
        }
        out
    }

    /// The log so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

/// A node's standard output and error, for a supervisor that shows them
/// ([`Cluster::start_piped`]).
pub struct NodeOutput {
    /// Standard output.
    pub stdout: ChildStdout,
    /// Standard error (the log).
    pub stderr: ChildStderr,
}

/// The swarm.
pub struct Cluster {
    binary: PathBuf,
    log_filter: Option<String>,
    /// The nodes.
    pub nodes: Vec<ClusterNode>,
    /// The roster.
    pub roster: Roster,
}

/// How to generate a cluster.
pub struct ClusterSpec<'a> {
    /// The `swarmvote` binary.
    pub binary: &'a Path,
    /// Where to put everything.
    pub dir: &'a Path,
    /// Number of nodes.
    pub nodes: usize,
    /// The quorum, such as `"2/3"`.
    pub quorum: &'a str,
    /// Extra TOML appended to node `i`'s config (sections such as `[evaluator]`).
    pub extra: &'a dyn Fn(usize) -> String,
}

/// Less common settings of a cluster.
#[derive(Clone, Debug)]
pub struct ClusterOptions {
    /// The swarm id.
    pub swarm_id: String,
    /// `[log] status_interval_secs` of every node.
    pub status_interval_secs: u64,
    /// `RUST_LOG` for the nodes; by default `$SWARMVOTE_NODE_LOG`, else `info`.
    pub log_filter: Option<String>,
    /// Which peers each node's `bootstrap` lists.
    pub bootstrap: Bootstrap,
    /// Where each node lives, one entry per node; empty: all on 127.0.0.1 with free
    /// ports, bootstrapping as `bootstrap` says (the default).
    pub placement: Vec<Placement>,
    /// `[doppelganger] listen_secs` of every node. 0 by default: every node of a
    /// cluster has its own key, and tests and demos want votes at once.
    pub doppelganger_listen_secs: u64,
    /// How many of the last nodes are members-to-be: they have keys and configs, but
    /// the genesis roster does not list them, and their configs say `[network] join =
    /// true`, so they start and wait for a roster change to add them. 0 by default.
    pub joiners: usize,
    /// The roster's governance, as roster TOML: a top-level `four_eyes`, then `[groups]`,
    /// `[change]` and `[[rules]]` naming members `node0`, `node1`, ... Empty: a plain
    /// roster (one quorum for everything).
    pub roster_rules: String,
}

/// Which peers each node of a cluster is told about.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Bootstrap {
    /// Every other node, by IP address.
    #[default]
    All,
    /// Only node `seed` (which is told about nobody); the others must discover each
    /// other. With `by_name`, the address is `/dns4/localhost/tcp/PORT`.
    Seed {
        /// The node every other one bootstraps from.
        seed: usize,
        /// Name the seed by DNS instead of by IP address.
        by_name: bool,
    },
}

/// Where one node lives when it is not on 127.0.0.1 (see
/// [`crate::dev::hosts`]): its own address, its ports, whom it dials first, and the
/// command its `swarmvote run` is started under (such as `ip netns exec NS`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Placement {
    /// The address its libp2p and API listeners bind.
    pub ip: std::net::IpAddr,
    /// Its libp2p port.
    pub p2p_port: u16,
    /// Its API port.
    pub api_port: u16,
    /// Its `bootstrap` multiaddrs.
    pub bootstrap: Vec<String>,
    /// The program and arguments that `swarmvote run` is appended to; empty: none.
    pub prefix: Vec<String>,
}

impl Default for ClusterOptions {
    fn default() -> Self {
        Self {
            swarm_id: "local".to_owned(),
            status_interval_secs: 2,
            log_filter: None,
            bootstrap: Bootstrap::All,
            placement: Vec::new(),
            doppelganger_listen_secs: 0,
            joiners: 0,
            roster_rules: String::new(),
        }
    }
}

impl Cluster {
    /// Generates keys, the roster and every node's config. Starts nothing.
    pub fn create(spec: &ClusterSpec<'_>) -> Result<Self, ClusterError> {
        Self::create_with(spec, &ClusterOptions::default())
    }

    /// [`Cluster::create`] with options. A node whose `voter.key` already exists keeps
    /// it (and its transport identity and data), so a directory can be reused; the
    /// roster and configs are written anew (with fresh ports).
    pub fn create_with(
        spec: &ClusterSpec<'_>,
        options: &ClusterOptions,
    ) -> Result<Self, ClusterError> {
        let setup = |e: &dyn std::fmt::Display| ClusterError::Setup(e.to_string());
        std::fs::create_dir_all(spec.dir).map_err(io(format!("create {}", spec.dir.display())))?;
        let mut keys = Vec::new();
        for i in 0..spec.nodes {
            let dir = spec.dir.join(format!("node{i}"));
            std::fs::create_dir_all(&dir).map_err(io(format!("create {}", dir.display())))?;
            let path = dir.join("voter.key");
            let key = if path.exists() {
                keyfile::read_secret_key(&path).map_err(|e| setup(&e))?
            } else {
                let mut seed = [0u8; 32];
                getrandom::fill(&mut seed).map_err(|e| setup(&e))?;
                let key = SecretKey::from_seed(seed);
                keyfile::write_secret_key(&path, &key).map_err(|e| setup(&e))?;
                key
            };
            keys.push(key);
        }
        let quorum: Quorum = spec.quorum.parse().map_err(|e| setup(&e))?;
        let members_n = spec.nodes.checked_sub(options.joiners).ok_or_else(|| {
            ClusterError::Setup(format!(
                "{} joiners among {} nodes",
                options.joiners, spec.nodes
            ))
        })?;
        let members = keys
            .iter()
            .take(members_n)
            .enumerate()
            .map(|(i, k)| {
                Ok((
                    MemberName::new(format!("node{i}")).map_err(|e| setup(&e))?,
                    k.public().map_err(|e| setup(&e))?,
                ))
            })
            .collect::<Result<Vec<_>, ClusterError>>()?;
        let swarm = SwarmId::new(options.swarm_id.as_str()).map_err(|e| setup(&e))?;
        let roster = if options.roster_rules.trim().is_empty() {
            Roster::new(swarm, quorum, members).map_err(|e| setup(&e))?
        } else {
            governed_roster(&swarm, quorum, &members, &options.roster_rules)?
        };
        let roster_path = spec.dir.join("roster.toml");
        std::fs::write(&roster_path, roster.to_toml()).map_err(io("write roster"))?;

        if !options.placement.is_empty() && options.placement.len() != spec.nodes {
            return Err(ClusterError::Setup(format!(
                "{} placements for {} nodes",
                options.placement.len(),
                spec.nodes
            )));
        }
        let placement = if options.placement.is_empty() {
            local_placement(spec.nodes, options.bootstrap)?
        } else {
            options.placement.clone()
        };
        let mut nodes = Vec::new();
        for (i, key) in keys.iter().enumerate() {
            let dir = spec.dir.join(format!("node{i}"));
            let here = placement
                .get(i)
                .cloned()
                .ok_or_else(|| ClusterError::Setup(format!("no placement for node {i}")))?;
            let ip_proto = if here.ip.is_ipv4() { "ip4" } else { "ip6" };
            let p2p = format!("/{ip_proto}/{}/tcp/{}", here.ip, here.p2p_port);
            let api_addr = SocketAddr::new(here.ip, here.api_port);
            let bootstrap: Vec<String> =
                here.bootstrap.iter().map(|a| format!("\"{a}\"")).collect();
            let (p2p_key, _) = identity::load_or_create(&dir.join("data").join("p2p.key"))
                .map_err(|e| setup(&e))?;
            let config = format!(
                "data_dir = \"data\"\nkey_file = \"voter.key\"\nroster_file = \"{}\"\nlisten = [\"{p2p}\"]\nbootstrap = [{}]\n\n[api]\nlisten = \"{api_addr}\"\n{}\n[log]\nstatus_interval_secs = {}\n\n[doppelganger]\nlisten_secs = {}\n\n{}{}\n",
                roster_path.display(),
                bootstrap.join(", "),
                // A node on its own address (a test bed's namespace) serves its API there.
                if here.ip.is_loopback() {
                    ""
                } else {
                    "allow_remote = true\n"
                },
                options.status_interval_secs,
                options.doppelganger_listen_secs,
                if i >= members_n {
                    "[network]\njoin = true\n\n"
                } else {
                    ""
                },
                (spec.extra)(i)
            );
            let config_path = dir.join("node.toml");
            std::fs::write(&config_path, config).map_err(io("write config"))?;
            nodes.push(ClusterNode {
                name: format!("node{i}"),
                log: dir.join("node.log"),
                dir,
                config: config_path,
                p2p,
                api: api_addr,
                peer_id: p2p_key.public().to_peer_id().to_string(),
                voter: key.voter_id(),
                prefix: here.prefix,
                child: None,
                logs_to_file: false,
            });
        }
        Ok(Self {
            binary: spec.binary.to_owned(),
            log_filter: options.log_filter.clone(),
            nodes,
            roster,
        })
    }

    fn node(&mut self, i: usize) -> Result<&mut ClusterNode, ClusterError> {
        self.nodes
            .get_mut(i)
            .ok_or_else(|| ClusterError::Setup(format!("no node {i}")))
    }

    /// Starts node `i` (its stderr goes to its log, appended).
    pub fn start(&mut self, i: usize) -> Result<(), ClusterError> {
        let log = self.node(i)?.log.clone();
        let log = File::options()
            .create(true)
            .append(true)
            .open(&log)
            .map_err(io("open node log"))?;
        self.spawn(i, Stdio::null(), Stdio::from(log))?;
        self.node(i)?.logs_to_file = true;
        Ok(())
    }

    /// Starts node `i` with its stdout and stderr piped to the caller, who must keep
    /// reading them (a full pipe stalls the node). `None` if it was already running.
    pub fn start_piped(&mut self, i: usize) -> Result<Option<NodeOutput>, ClusterError> {
        let Some(child) = self.spawn(i, Stdio::piped(), Stdio::piped())? else {
            return Ok(None);
        };
        match (child.stdout.take(), child.stderr.take()) {
            (Some(stdout), Some(stderr)) => Ok(Some(NodeOutput { stdout, stderr })),
            _ => Err(ClusterError::Setup("node output was not piped".into())),
        }
    }

    fn spawn(
        &mut self,
        i: usize,
        stdout: Stdio,
        stderr: Stdio,
    ) -> Result<Option<&mut Child>, ClusterError> {
        let binary = self.binary.clone();
        let filter = self.log_filter.clone().unwrap_or_else(|| {
            std::env::var("SWARMVOTE_NODE_LOG").unwrap_or_else(|_| "info".into())
        });
        let node = self.node(i)?;
        if node.running() {
            return Ok(None);
        }
        let mut command = match node.prefix.split_first() {
            Some((program, args)) => {
                let mut c = Command::new(program);
                c.args(args).arg(&binary);
                c
            }
            None => Command::new(&binary),
        };
        let child = command
            .arg("run")
            .arg("--config")
            .arg(&node.config)
            .env("RUST_LOG", filter)
            .env(PARENT_PID_ENV, std::process::id().to_string())
            // Our own group: a terminal's Ctrl-C goes to the supervisor, which stops
            // the nodes itself.
            .process_group(0)
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(stderr)
            .spawn()
            .map_err(io(format!("start {}", binary.display())))?;
        Ok(Some(node.child.insert(child)))
    }

    /// Starts every node.
    pub fn start_all(&mut self) -> Result<(), ClusterError> {
        (0..self.nodes.len()).try_for_each(|i| self.start(i))
    }

    /// Stops node `i` with SIGTERM and waits for it (killing it after `grace`).
    pub fn stop(&mut self, i: usize, grace: Duration) -> Result<Option<ExitStatus>, ClusterError> {
        let node = self.node(i)?;
        let Some(mut child) = node.child.take() else {
            return Ok(None);
        };
        let pid = nix::unistd::Pid::from_raw(i32::try_from(child.id()).unwrap_or(i32::MAX));
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
        let deadline = Instant::now() + grace;
        loop {
            if let Some(status) = child.try_wait().map_err(io("wait for node"))? {
                return Ok(Some(status));
            }
            if Instant::now() >= deadline {
                let _ = child.kill();
                return child.wait().map(Some).map_err(io("wait for node"));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Stops every node: SIGTERM to all at once, then waits until `grace` has passed and
    /// SIGKILLs the rest. Returns each node's exit status (`None` if it was not running)
    /// and whether it had to be killed.
    pub fn stop_all(
        &mut self,
        grace: Duration,
    ) -> Result<Vec<(Option<ExitStatus>, bool)>, ClusterError> {
        self.stop_all_or_force(grace, || false)
    }

    /// [`Cluster::stop_all`], killing the rest at once when `force()` turns true (a second
    /// Ctrl-C).
    pub fn stop_all_or_force(
        &mut self,
        grace: Duration,
        mut force: impl FnMut() -> bool,
    ) -> Result<Vec<(Option<ExitStatus>, bool)>, ClusterError> {
        for node in &mut self.nodes {
            if let Some(child) = node.child.as_mut()
                && matches!(child.try_wait(), Ok(None))
            {
                let pid = nix::unistd::Pid::from_raw(i32::try_from(child.id()).unwrap_or(i32::MAX));
                let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
            }
        }
        let deadline = Instant::now() + grace;
        let mut results = Vec::with_capacity(self.nodes.len());
        for node in &mut self.nodes {
            let Some(mut child) = node.child.take() else {
                results.push((None, false));
                continue;
            };
            let outcome = loop {
                if let Some(status) = child.try_wait().map_err(io("wait for node"))? {
                    break (Some(status), false);
                }
                if Instant::now() >= deadline || force() {
                    let _ = child.kill();
                    break (Some(child.wait().map_err(io("wait for node"))?), true);
                }
                std::thread::sleep(Duration::from_millis(20));
            };
            results.push(outcome);
        }
        Ok(results)
    }

    /// Kills node `i` with SIGKILL.
    pub fn kill(&mut self, i: usize) -> Result<(), ClusterError> {
        if let Some(mut child) = self.node(i)?.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        Ok(())
    }

    /// An API client for node `i`, once its cookie exists.
    pub fn client(&self, i: usize) -> Result<ApiClient, ClusterError> {
        let node = self
            .nodes
            .get(i)
            .ok_or_else(|| ClusterError::Setup(format!("no node {i}")))?;
        let cookie = node.dir.join("data").join("api.cookie");
        let token =
            std::fs::read_to_string(&cookie).map_err(io(format!("read {}", cookie.display())))?;
        Ok(ApiClient::new(&node.name, node.api, token.trim()))
    }

    /// Waits until node `i` answers and has at least `peers` admitted peers.
    pub fn wait_ready(
        &mut self,
        i: usize,
        peers: usize,
        timeout: Duration,
    ) -> Result<ApiClient, ClusterError> {
        let name = self.node(i)?.name.clone();
        let mut rebinds = 0u32;
        wait_for(&format!("{name} ready with {peers} peers"), timeout, || {
            // `free_port` releases the ports it found, and another process (often an
            // outgoing connection of a test running alongside) can take one before the
            // node binds it. The harness gives such a node other ports and starts it
            // again, a bounded number of times in all: node `i`, or one of the peers it
            // is waiting for.
            for j in 0..self.nodes.len() {
                if j != i && self.nodes.get_mut(j).is_some_and(ClusterNode::exited) {
                    self.revive(j, &mut rebinds)?;
                }
            }
            if !self.nodes.get_mut(i).is_some_and(ClusterNode::running) {
                if self.revive(i, &mut rebinds)? {
                    return Ok(None);
                }
                return Err(ClusterError::Api {
                    node: name.clone(),
                    message: format!(
                        "exited; log:\n{}",
                        self.nodes
                            .get(i)
                            .map(ClusterNode::log_text)
                            .unwrap_or_default()
                    ),
                });
            }
            let Ok(client) = self.client(i) else {
                return Ok(None);
            };
            // Briefly: until the node has bound its API port, whatever holds that port
            // may accept the connection and never answer.
            let Ok(status) = client.with_timeout(PROBE_TIMEOUT).status_report() else {
                return Ok(None);
            };
            let admitted = status.peers.iter().filter(|p| p.admitted).count();
            Ok((admitted >= peers).then_some(client))
        })
    }
}

/// How long one readiness probe of [`Cluster::wait_ready`] waits for an answer.
const PROBE_TIMEOUT: Duration = Duration::from_secs(5);

/// How many times one [`Cluster::wait_ready`] moves nodes whose ports were taken.
const MAX_API_REBINDS: u32 = 3;

/// Which of a node's ports was taken when it started.
enum TakenPort {
    Api,
    P2p,
}

impl Cluster {
    /// Whether node `i` stopped because a port it was given was in use, and which (the
    /// last line of its log says so: an earlier start may have said it too).
    fn taken_port(&self, i: usize) -> Option<TakenPort> {
        let node = self.nodes.get(i).filter(|n| n.logs_to_file)?;
        let log = node.log_text();
        let last = log.lines().rev().find(|l| !l.trim().is_empty())?;
        if last.contains("api.listen") && last.contains("cannot bind") {
            Some(TakenPort::Api)
        } else if last.contains("listen address") && last.contains("cannot listen") {
            Some(TakenPort::P2p)
        } else {
            None
        }
    }

    /// If node `i` exited because a port was taken, gives it another and starts it
    /// again (at most [`MAX_API_REBINDS`] times per `rebinds`). True if it did.
    fn revive(&mut self, i: usize, rebinds: &mut u32) -> Result<bool, ClusterError> {
        if *rebinds >= MAX_API_REBINDS {
            return Ok(false);
        }
        match self.taken_port(i) {
            Some(TakenPort::Api) => self.move_api(i)?,
            // Other nodes' bootstrap lists keep the old address; this node dials them
            // all, which connects it as well.
            Some(TakenPort::P2p) => self.move_p2p(i)?,
            None => return Ok(false),
        }
        *rebinds = rebinds.saturating_add(1);
        self.start(i)?;
        Ok(true)
    }

    /// Gives node `i` a fresh libp2p listen port in its config.
    fn move_p2p(&mut self, i: usize) -> Result<(), ClusterError> {
        let port = free_port()?;
        let node = self.node(i)?;
        let new_addr = format!("/ip4/127.0.0.1/tcp/{port}");
        replace_in_config(
            node,
            &format!("listen = [\"{}\"]", node.p2p),
            &format!("listen = [\"{new_addr}\"]"),
        )?;
        tracing::warn!(node = %node.name, from = %node.p2p, to = %new_addr, "p2p port was taken, moving");
        node.p2p = new_addr;
        Ok(())
    }

    /// Gives node `i` a fresh API port in its config.
    fn move_api(&mut self, i: usize) -> Result<(), ClusterError> {
        let port = free_port()?;
        let node = self.node(i)?;
        let new_addr = SocketAddr::from(([127, 0, 0, 1], port));
        replace_in_config(
            node,
            &format!("listen = \"{}\"", node.api),
            &format!("listen = \"{new_addr}\""),
        )?;
        tracing::warn!(node = %node.name, from = %node.api, to = %new_addr, "api port was taken, moving");
        node.api = new_addr;
        Ok(())
    }
}

/// Replaces the first `old` in `node`'s config file with `new`; an error if it has none.
fn replace_in_config(node: &ClusterNode, old: &str, new: &str) -> Result<(), ClusterError> {
    let text = std::fs::read_to_string(&node.config).map_err(io("read node config"))?;
    if !text.contains(old) {
        return Err(ClusterError::Setup(format!(
            "{}: no `{old}` to move",
            node.config.display()
        )));
    }
    std::fs::write(&node.config, text.replacen(old, new, 1)).map_err(io("write node config"))
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for node in &mut self.nodes {
            if let Some(mut child) = node.child.take() {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
    }
}

/// Polls `f` every 20 ms until it returns `Some`, fails, or `timeout` passes.
pub fn wait_for<T>(
    what: &str,
    timeout: Duration,
    mut f: impl FnMut() -> Result<Option<T>, ClusterError>,
) -> Result<T, ClusterError> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f()? {
            return Ok(v);
        }
        if Instant::now() >= deadline {
            return Err(ClusterError::Timeout {
                what: what.to_owned(),
                after: timeout,
            });
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// An HTTP agent whose every request is bounded by `timeout`.
fn agent(timeout: Duration) -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(timeout))
        // Keep a connection per client thread alive instead of reconnecting.
        .max_idle_connections(64)
        .max_idle_connections_per_host(16)
        .build()
        .new_agent()
}

/// A blocking client for one node's API.
#[derive(Clone)]
pub struct ApiClient {
    node: String,
    base: String,
    token: String,
    agent: ureq::Agent,
}

impl ApiClient {
    /// A client for `addr` with `token`.
    pub fn new(node: &str, addr: SocketAddr, token: &str) -> Self {
        Self {
            node: node.to_owned(),
            base: format!("http://{addr}"),
            token: token.to_owned(),
            agent: agent(Duration::from_secs(60)),
        }
    }

    /// The same client with requests bounded by `timeout`.
    pub fn with_timeout(&self, timeout: Duration) -> Self {
        Self {
            agent: agent(timeout),
            ..self.clone()
        }
    }

    fn err(&self, message: impl Into<String>) -> ClusterError {
        ClusterError::Api {
            node: self.node.clone(),
            message: message.into(),
        }
    }

    /// Sends a request; returns the status and the JSON body.
    pub fn call(
        &self,
        method: &str,
        path: &str,
        body: Option<&serde_json::Value>,
    ) -> Result<(u16, serde_json::Value), ClusterError> {
        let url = format!("{}{path}", self.base);
        let auth = format!("Bearer {}", self.token);
        let response = match (method, body) {
            ("GET", _) => self.agent.get(&url).header("Authorization", &auth).call(),
            (_, Some(b)) => self
                .agent
                .post(&url)
                .header("Authorization", &auth)
                .send_json(b),
            (_, None) => self
                .agent
                .post(&url)
                .header("Authorization", &auth)
                .send_empty(),
        };
        let mut response = response.map_err(|e| self.err(format!("{method} {path}: {e}")))?;
        let status = response.status().as_u16();
        let text = response
            .body_mut()
            .read_to_string()
            .map_err(|e| self.err(format!("{method} {path}: {e}")))?;
        let json = if text.is_empty() {
            serde_json::Value::Null
        } else {
            serde_json::from_str(&text)
                .map_err(|e| self.err(format!("{method} {path}: {e}: {text}")))?
        };
        Ok((status, json))
    }

    fn ok(
        &self,
        method: &str,
        path: &str,
        body: Option<&serde_json::Value>,
    ) -> Result<serde_json::Value, ClusterError> {
        let (status, json) = self.call(method, path, body)?;
        if (200..300).contains(&status) {
            Ok(json)
        } else {
            Err(self.err(format!("{method} {path}: HTTP {status}: {json}")))
        }
    }

    /// `GET /v1/status`.
    pub fn status(&self) -> Result<serde_json::Value, ClusterError> {
        self.ok("GET", "/v1/status", None)
    }

    /// `GET /v1/status`, decoded as the API's type.
    pub fn status_report(&self) -> Result<StatusReport, ClusterError> {
        self.decode("status", self.status()?)
    }

    /// Decodes an answer as one of the API's types; a mismatch names the node and what.
    fn decode<T: serde::de::DeserializeOwned>(
        &self,
        what: &str,
        json: serde_json::Value,
    ) -> Result<T, ClusterError> {
        serde_json::from_value(json)
            .map_err(|e| self.err(format!("{what}: not the API's answer: {e}")))
    }

    /// `POST /v1/proposals`; returns the id.
    pub fn propose(
        &self,
        action: &str,
        payload: serde_json::Value,
        ttl_ms: u64,
    ) -> Result<String, ClusterError> {
        let body = serde_json::json!({ "action": action, "payload": payload, "ttl_ms": ttl_ms });
        let json = self.ok("POST", "/v1/proposals", Some(&body))?;
        let proposed: Proposed = self.decode("propose", json)?;
        Ok(proposed.id.to_string())
    }

    /// `POST /v1/proposals/{id}/vote`.
    pub fn vote(&self, id: &str, vote: &str) -> Result<(u16, serde_json::Value), ClusterError> {
        self.call(
            "POST",
            &format!("/v1/proposals/{id}/vote"),
            Some(&serde_json::json!({ "vote": vote })),
        )
    }

    /// `GET /v1/proposals/{id}`, or `None` if unknown.
    pub fn proposal(&self, id: &str) -> Result<Option<serde_json::Value>, ClusterError> {
        let (status, json) = self.call("GET", &format!("/v1/proposals/{id}"), None)?;
        match status {
            200 => Ok(Some(json)),
            404 => Ok(None),
            s => Err(self.err(format!("GET proposal: HTTP {s}: {json}"))),
        }
    }

    /// `GET /v1/proposals/{id}`, decoded as the API's type, or `None` if unknown.
    pub fn proposal_report(&self, id: &str) -> Result<Option<ProposalReport>, ClusterError> {
        self.proposal(id)?
            .map(|json| self.decode("proposal", json))
            .transpose()
    }

    /// `GET /v1/proposals/{id}/certificate`.
    pub fn certificate(&self, id: &str) -> Result<serde_json::Value, ClusterError> {
        self.ok("GET", &format!("/v1/proposals/{id}/certificate"), None)
    }
}
