//! The live mode (`swarmvote-sim run --network libp2p`): the scenario's members run as
//! real node stacks in this process, to check the model against the real thing.
//!
//! Each member that is up gets what `swarmvote run` builds: an engine with the
//! simulator's deterministic member key, a sled store and journal in its own temporary
//! directory, a fresh libp2p identity listening on `127.0.0.1:0` (TCP, noise, yamux,
//! gossipsub, request-response catch-up) and the driver, all on one tokio runtime. Each
//! node dials up to [`BOOTSTRAP_PEERS`] earlier nodes, chosen by the seed. The run waits
//! until every node is connected to all its peers and has a gossip mesh, then plays the
//! workload: proposals arrive at the scenario's times (the same arrival draws as the
//! model) and each node's agent votes through the node's [`Client`], as an agent would.
//!
//! What it is not: deterministic (threads, sockets and the wall clock decide the order),
//! and it cannot impose the scenario's network model (latency, loss, duplication,
//! fanout) on loopback; the report says so. Behaviours that need a fault injected below
//! the API (crash, slow links, forged or replayed messages, floods) and partitions are
//! refused with [`LiveError::Unsupported`].
//!
//! The ground truth travels in the payload: a benign proposal deletes `/data/<k>`, an
//! anomalous one `/backup/<k>`, so each agent judges from what it reads, not from shared
//! state. Whether a voter errs on proposal `k` is a hash of (seed, node, k), so the
//! votes are a function of the seed even though their timing is not.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use libp2p::Multiaddr;
use serde::Serialize;
use swarmvote_node::api::{NodeEvent, Numbered};
use swarmvote_node::assembly::{self, Knobs, Node};
use swarmvote_node::config::{
    ApiSection, DoppelgangerSection, HealthSection, LogSection, MetricsSection, NetworkSection,
    NodeConfig,
};
use swarmvote_node::daemon::clock;
use swarmvote_node::daemon::driver::{Client, ListFilter};
use swarmvote_node::daemon::evaluator::EvaluatorSection;
use swarmvote_node::daemon::executor::ExecutorSection;
use swarmvote_node::gate::GateSection;
use swarmvote_protocol::crypto::sha256;
use swarmvote_protocol::engine::Event;
use swarmvote_protocol::{
    Action, Certificate, Payload, ProposalId, Roster, SecretKey, SignedProposal, Status,
    UnixMillis, Verdict, Vote, VoterId,
};
use tokio::sync::{broadcast, oneshot, watch};
use tokio::task::{JoinHandle, JoinSet};
use tokio::time::Instant;

use crate::behaviour::{flip, right_vote};
use crate::checks::{self, Held, Truth};
use crate::report::{
    Invariants, Latency, Percentiles, Proposals, Security, TierCount, invariant_rows, ms,
    outcome_rows, per_decision, render_rows, tier_rows, write_violations,
};
use crate::rng::SimRng;
use crate::scenario::{Behaviour, Scenario};
use crate::swarm::{self, MembersError, member_key};

/// Earlier nodes each node dials at start-up. Connections are two-way, so a node ends up
/// with at least this many peers once there are enough nodes; gossipsub builds its mesh
/// (D = 6) among them.
pub const BOOTSTRAP_PEERS: usize = 8;
/// The most nodes a live run starts: each is a full node stack in this process.
pub const MAX_LIVE_NODES: usize = 64;
/// A node's mesh counts as formed at this many mesh peers (or all its peers, if fewer).
const MESH_READY: usize = 4;
/// Condition polling period.
const POLL: Duration = Duration::from_millis(20);
/// How long a node may take to report its listen address.
const LISTEN_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a driver may take to stop and flush.
const STOP_TIMEOUT: Duration = Duration::from_secs(10);
/// Margin after the last expiry before outcomes are read.
const EXPIRY_MARGIN: Duration = Duration::from_secs(2);
/// The action every workload proposal asks for.
const ACTION: &str = "fs.delete";
/// Where anomalous proposals point.
const ANOMALOUS_PREFIX: &str = "/backup/";

/// Why a live run could not run or finish.
#[derive(Debug, thiserror::Error)]
pub enum LiveError {
    /// The scenario asks for something the live mode cannot do.
    #[error("--network libp2p does not support {feature}: {why}")]
    Unsupported {
        /// The behaviour or scenario feature, naming the node or field.
        feature: String,
        /// Why, and what to use instead.
        why: String,
    },
    /// The roster could not be built.
    #[error("roster: {0}")]
    Roster(#[from] MembersError),
    /// A node could not be started.
    #[error("node n{node}: {message}")]
    Setup {
        /// The node index.
        node: usize,
        /// What failed.
        message: String,
    },
    /// A condition was not reached in time.
    #[error("{what}: not reached within {after:?}")]
    Timeout {
        /// The condition.
        what: String,
        /// The deadline it had.
        after: Duration,
    },
    /// A node's driver stopped while the run still needed it.
    #[error("node n{node} stopped during the run")]
    Stopped {
        /// The node index.
        node: usize,
    },
    /// The tokio runtime could not be built.
    #[error("runtime: {0}")]
    Runtime(String),
}

/// Gossip traffic of all nodes together (application payloads; libp2p framing, gossip
/// control messages and catch-up not included).
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct LiveTraffic {
    /// Messages published by their origin.
    pub published: u64,
    /// Their bytes.
    pub published_bytes: u64,
    /// Messages handed to an engine (gossipsub delivers each message once per node).
    pub received: u64,
    /// Their bytes.
    pub received_bytes: u64,
    /// Published messages per decided proposal.
    pub published_per_decision: f64,
    /// Received messages per decided proposal.
    pub received_per_decision: f64,
    /// Published bytes per decided proposal.
    pub bytes_per_decision: f64,
}

/// What a live run measured and checked.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LiveReport {
    /// Scenario name.
    pub scenario: String,
    /// Always `libp2p`.
    pub network: String,
    /// The seed: it fixes keys, arrivals, ground truth and votes, not timing.
    pub seed: u64,
    /// Members, by behaviour.
    pub nodes: Vec<(String, u32)>,
    /// Members in the roster.
    pub n: u32,
    /// YES votes needed.
    pub q: u32,
    /// Node stacks started (members not offline).
    pub started: u32,
    /// The transport.
    pub transport: String,
    /// Wall ms from the first node's start until every mesh was formed.
    pub mesh_ready_ms: f64,
    /// Wall ms from the first arrival until every proposal was decided everywhere (or
    /// the last one expired).
    pub workload_ms: f64,
    /// Wall ms after that until every honest node held the same tallies.
    pub converge_ms: f64,
    /// What happened to the proposals, as the first honest node holds them.
    pub proposals: Proposals,
    /// Decision latency, wall clock: from just before the proposer's `propose` call to
    /// the decision's time stamp at the proposer and at the last honest node.
    pub latency: Latency,
    /// Blocking and safety.
    pub security: Security,
    /// Proposals and outcomes per tier: only when the roster has rules.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tiers: Vec<TierCount>,
    /// Gossip traffic.
    pub traffic: LiveTraffic,
    /// The end-of-run checks (agreement, validity, no honest equivocation, and with a
    /// `[roster]` section no wrong tier).
    pub invariants: Invariants,
    /// Parts of the scenario a live run cannot impose.
    pub not_imposed: Vec<String>,
}

impl LiveReport {
    /// Pretty JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
    }

    /// A readable table, in the shape of the model's report.
    pub fn to_table(&self) -> String {
        let nodes: Vec<String> = self.nodes.iter().map(|(b, c)| format!("{c} {b}")).collect();
        let p = &self.proposals;
        let l = &self.latency;
        let x = &self.security;
        let t = &self.traffic;
        let i = &self.invariants;
        let mut rows: Vec<(&str, String)> = vec![
            (
                "scenario",
                format!("{} (seed {}, network libp2p)", self.scenario, self.seed),
            ),
            (
                "nodes",
                format!(
                    "{} (n={}, q={}, {} started)",
                    nodes.join(", "),
                    self.n,
                    self.q,
                    self.started
                ),
            ),
            ("transport", self.transport.clone()),
            ("mesh formed", format!("{:.0} ms", self.mesh_ready_ms)),
            (
                "wall time",
                format!(
                    "{:.3} s workload, {:.0} ms to converge",
                    self.workload_ms / 1000.0,
                    self.converge_ms
                ),
            ),
        ];
        rows.extend(outcome_rows(p, l, x));
        rows.extend([
            (
                "invalid messages",
                format!("{} rejected", x.invalid_rejected),
            ),
            (
                "gossip",
                format!(
                    "{} published ({} bytes), {} received ({} bytes)",
                    t.published, t.published_bytes, t.received, t.received_bytes
                ),
            ),
            (
                "per decision",
                format!(
                    "{:.1} published, {:.1} received, {:.1} bytes published",
                    t.published_per_decision, t.received_per_decision, t.bytes_per_decision
                ),
            ),
        ]);
        rows.extend(tier_rows(&self.tiers));
        rows.extend(invariant_rows(i));
        let mut s = render_rows(&rows);
        for note in &self.not_imposed {
            let _ = writeln!(s, "not imposed: {note}");
        }
        let _ = writeln!(
            s,
            "note: a live run is not deterministic; the seed fixes keys, arrivals, ground truth and votes, not timing"
        );
        write_violations(&mut s, &i.violations);
        s
    }
}

/// Checks that `scenario` can run live: only behaviours an agent expresses through the
/// API (honest, drift, offline, compromised, colluding), no partitions, at most
/// [`MAX_LIVE_NODES`] nodes.
pub fn check(scenario: &Scenario) -> Result<(), LiveError> {
    let behaviours = scenario.behaviours();
    if behaviours.len() > MAX_LIVE_NODES {
        return Err(LiveError::Unsupported {
            feature: format!("{} nodes", behaviours.len()),
            why: format!(
                "at most {MAX_LIVE_NODES} node stacks run in one process; use the model for larger swarms"
            ),
        });
    }
    for (i, b) in behaviours.iter().enumerate() {
        let why = match b {
            Behaviour::Honest { .. } if b.uses_policy() => {
                "the policy evaluator runs only in the model; a real node runs it from its own [evaluator] config"
            }
            Behaviour::Honest { .. }
            | Behaviour::Drift { .. }
            | Behaviour::Offline
            | Behaviour::Compromised
            | Behaviour::Colluding { .. } => continue,
            Behaviour::Crash { .. } => {
                "crashing and restarting a node in-process is not implemented; the SIGKILL crash test (node/tests/crash.rs) covers the real node"
            }
            Behaviour::Slow { .. } => "loopback TCP has no per-link latency to add",
            Behaviour::Cloned { .. } => {
                "a second node stack with a member's key would stop the member (a real node exits on the doppelganger alarm); node/tests/doppelganger.rs covers the real node"
            }
            _ => {
                "only behaviours an agent expresses through the node's API run live (honest, drift, offline, compromised, colluding); use the model"
            }
        };
        return Err(LiveError::Unsupported {
            feature: format!("behaviour `{}` (node n{i})", b.label()),
            why: why.to_string(),
        });
    }
    if scenario.workload.eval_delay.is_some() {
        return Err(LiveError::Unsupported {
            feature: "workload.eval_delay".to_string(),
            why: "live agents wait a fixed time; use eval_delay_ms, or the model".to_string(),
        });
    }
    if !scenario.partitions.is_empty() {
        return Err(LiveError::Unsupported {
            feature: "partitions".to_string(),
            why: "loopback connections cannot be cut on a schedule; use the model".to_string(),
        });
    }
    if !scenario.roster_changes.is_empty() {
        return Err(LiveError::Unsupported {
            feature: "roster_changes".to_string(),
            why: "the live harness proposes no roster changes yet; use the model".to_string(),
        });
    }
    if !scenario.testing.skip_steps.is_empty() {
        return Err(LiveError::Unsupported {
            feature: "testing.skip_steps".to_string(),
            why: "the knob exists only in the model".to_string(),
        });
    }
    if !scenario.testing.lowered_rules.is_empty() {
        return Err(LiveError::Unsupported {
            feature: "testing.lowered_rules".to_string(),
            why:
                "a real node judges with the roster it is given; the knob exists only in the model"
                    .to_string(),
        });
    }
    Ok(())
}

/// Runs `scenario` with real node stacks on loopback and reports like the model does.
///
/// Builds its own tokio runtime, so it must not be called from inside one. Every node,
/// task and temporary directory is gone when it returns, whatever the result.
pub fn run_libp2p(scenario: &Scenario, seed: u64) -> Result<LiveReport, LiveError> {
    check(scenario)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("swarmvote-live")
        .build()
        .map_err(|e| LiveError::Runtime(e.to_string()))?;
    let result = runtime.block_on(async {
        let mut live = Live::default();
        let result = live.run(scenario, seed).await;
        live.shutdown().await;
        result
    });
    runtime.shutdown_timeout(STOP_TIMEOUT);
    result
}

/// The roster the model builds for `seed`, tiers and all (see [`swarm::roster_with`]).
fn roster(scenario: &Scenario, seed: u64) -> Result<(Roster, Vec<SecretKey>), LiveError> {
    let quorum = scenario.parsed_quorum().map_err(MembersError::from)?;
    Ok(swarm::roster_with(
        scenario.behaviours().len(),
        quorum,
        scenario.roster.as_ref(),
        seed,
    )?)
}

/// What the seed fixes before anything starts.
struct Plan {
    /// Arrival offsets in µs: the model's own draws (the first draws of its stream).
    arrivals: Vec<u64>,
    /// Per arrival: proposer and whether it is anomalous.
    picks: Vec<(usize, bool)>,
    /// Per node that is up: the earlier nodes it dials.
    dials: BTreeMap<usize, Vec<usize>>,
}

impl Plan {
    fn new(scenario: &Scenario, seed: u64, up: &[usize], proposers: &[usize]) -> Self {
        let w = &scenario.workload;
        // The same draws, in the same order, as the model's arrival times.
        let arrivals = checks::arrivals(w, &mut SimRng::new(seed));
        // Everything else from a stream of its own.
        let mut rng = SimRng::new(seed ^ 0x6c69_7665_6c69_7665);
        let picks = (0..w.proposals)
            .map(|_| {
                let proposer = proposers
                    .get(rng.below(proposers.len()))
                    .copied()
                    .unwrap_or(0);
                (proposer, rng.chance(w.anomalous_fraction))
            })
            .collect();
        let dials = up
            .iter()
            .enumerate()
            .map(|(j, &node)| {
                let earlier = up.get(..j).unwrap_or_default();
                (node, rng.pick(earlier, BOOTSTRAP_PEERS))
            })
            .collect();
        Self {
            arrivals,
            picks,
            dials,
        }
    }

    /// Peers each node will be connected to once every dial succeeded.
    fn degree(&self, node: usize) -> usize {
        let own = self.dials.get(&node).map_or(0, Vec::len);
        let incoming = self.dials.values().filter(|d| d.contains(&node)).count();
        own.saturating_add(incoming)
    }
}

/// A uniform draw in [0, 1) from a hash of the seed and `parts`: the same inputs give
/// the same coin whichever task flips it and whenever.
fn coin(seed: u64, parts: &[&[u8]]) -> f64 {
    let mut bytes = seed.to_le_bytes().to_vec();
    for p in parts {
        bytes.extend_from_slice(&(p.len() as u64).to_le_bytes());
        bytes.extend_from_slice(p);
    }
    let h = sha256(&bytes);
    let mut first = [0u8; 8];
    first.copy_from_slice(h.get(..8).unwrap_or(&[0; 8]));
    // 53 random bits make an exact double in [0, 1).
    #[allow(clippy::cast_precision_loss)]
    let v = (u64::from_le_bytes(first) >> 11) as f64 / (1u64 << 53) as f64;
    v
}

/// How member `node` votes on proposal `k`, as the model's behaviours do.
fn decide(behaviour: &Behaviour, seed: u64, node: usize, k: u64, anomalous: bool) -> Option<Vote> {
    let right = right_vote(anomalous);
    let flip = |wrong: bool| flip(right, wrong);
    let own = |p: f64| {
        coin(
            seed,
            &[b"err", &(node as u64).to_le_bytes(), &k.to_le_bytes()],
        ) < p
    };
    match behaviour {
        Behaviour::Honest { error_rate, .. } => Some(flip(own(*error_rate))),
        Behaviour::Drift { p } => Some(flip(own(*p))),
        // The thief wants anomalies through and stays quiet otherwise.
        Behaviour::Compromised => Some(Vote::Yes),
        Behaviour::Colluding { bloc, p } => Some(flip(
            coin(seed, &[b"bloc", bloc.as_bytes(), &k.to_le_bytes()]) < *p,
        )),
        _ => None,
    }
}

/// The workload proposal number `k`.
fn payload(k: u64, anomalous: bool) -> serde_json::Value {
    let dir = if anomalous {
        ANOMALOUS_PREFIX
    } else {
        "/data/"
    };
    serde_json::json!({ "k": k, "path": format!("{dir}{k}") })
}

/// What an agent reads back from a payload: the proposal number and whether it is
/// anomalous. `None` for anything that is not a workload proposal.
fn read_payload(p: &Payload) -> Option<(u64, bool)> {
    let v: serde_json::Value = serde_json::from_slice(p.as_bytes()).ok()?;
    let k = v.get("k")?.as_u64()?;
    let path = v.get("path")?.as_str()?;
    Some((k, path.starts_with(ANOMALOUS_PREFIX)))
}

/// Counters shared by the agents.
#[derive(Default)]
struct Shared {
    votes_cast: AtomicU64,
    votes_refused: AtomicU64,
    invalid_rejected: AtomicU64,
}

/// A node's agent: votes on every proposal its node sees, after the evaluation delay.
struct Agent {
    node: usize,
    behaviour: Behaviour,
    seed: u64,
    client: Client,
    eval_delay: Duration,
    shared: Arc<Shared>,
}

impl Agent {
    async fn run(self, mut events: broadcast::Receiver<Numbered>, mut stop: watch::Receiver<bool>) {
        let agent = Arc::new(self);
        // One entry per proposal seen: bounded by the scenario's workload.
        let mut judged: BTreeSet<ProposalId> = BTreeSet::new();
        let mut work = JoinSet::new();
        loop {
            let seen = tokio::select! {
                _ = stop.wait_for(|s| *s) => break,
                Some(_) = work.join_next(), if !work.is_empty() => continue,
                e = events.recv() => e,
            };
            let ids = match seen {
                Ok(Numbered {
                    event: NodeEvent::Engine(Event::ProposalSeen { proposal, .. }),
                    ..
                }) => vec![proposal],
                Ok(Numbered {
                    event: NodeEvent::Engine(Event::InvalidMessage { .. }),
                    ..
                }) => {
                    if agent.behaviour.is_honest() {
                        agent
                            .shared
                            .invalid_rejected
                            .fetch_add(1, Ordering::Relaxed);
                    }
                    continue;
                }
                Ok(_) => continue,
                // Events were dropped: judge whatever is still open instead.
                Err(broadcast::error::RecvError::Lagged(_)) => agent.open().await,
                Err(broadcast::error::RecvError::Closed) => break,
            };
            for id in ids {
                if judged.insert(id) {
                    let a = Arc::clone(&agent);
                    work.spawn(async move { a.judge(id).await });
                }
            }
        }
        work.shutdown().await;
    }

    /// Proposals still pending at this node, page by page.
    async fn open(&self) -> Vec<ProposalId> {
        let mut ids = Vec::new();
        let mut cursor = None;
        loop {
            let filter = ListFilter {
                status: Some(Status::Pending),
                limit: 1000,
                cursor,
                ..ListFilter::default()
            };
            let Ok(page) = self.client.list(filter).await else {
                return ids;
            };
            cursor = page.proposals.last().map(|p| (p.created_at.0, p.id));
            ids.extend(page.proposals.iter().map(|p| p.id));
            if page.next_cursor.is_none() || cursor.is_none() {
                return ids;
            }
        }
    }

    async fn judge(&self, id: ProposalId) {
        if !self.eval_delay.is_zero() {
            // The scenario's evaluation time: the agent thinking, not synchronisation.
            tokio::time::sleep(self.eval_delay).await;
        }
        let Ok(Some(report)) = self.client.get(id).await else {
            return;
        };
        let Some((k, anomalous)) = read_payload(&report.proposal.proposal().payload) else {
            return;
        };
        let Some(vote) = decide(&self.behaviour, self.seed, self.node, k, anomalous) else {
            return;
        };
        match self.client.vote(id, vote, None).await {
            Ok(Ok(_)) => self.shared.votes_cast.fetch_add(1, Ordering::Relaxed),
            Ok(Err(_)) => self.shared.votes_refused.fetch_add(1, Ordering::Relaxed),
            Err(_) => 0,
        };
    }
}

/// One running node stack.
struct LiveNode {
    index: usize,
    behaviour: Behaviour,
    client: Client,
    /// Dropping or sending stops the driver.
    stop: Option<oneshot::Sender<()>>,
    driver: Option<
        JoinHandle<
            Result<swarmvote_node::daemon::driver::Exit, swarmvote_node::daemon::store::StoreError>,
        >,
    >,
    /// Removed after the driver stopped.
    dir: Option<tempfile::TempDir>,
}

/// One submitted proposal and its ground truth.
struct Submitted {
    id: ProposalId,
    truth: Truth,
}

/// What an honest node holds for one proposal: verdict, YES and NO voters.
#[derive(PartialEq)]
struct Tally(Verdict, BTreeSet<VoterId>, BTreeSet<VoterId>);

impl Held for Tally {
    fn describe(&self) -> String {
        format!(
            "{:?} with {} YES, {} NO",
            self.0,
            self.1.len(),
            self.2.len()
        )
    }
}

/// Every running node and agent of a run.
#[derive(Default)]
struct Live {
    nodes: Vec<LiveNode>,
    agents: Vec<JoinHandle<()>>,
    stop_agents: Option<watch::Sender<bool>>,
}

impl Live {
    fn node(&self, index: usize) -> Option<&LiveNode> {
        self.nodes.iter().find(|n| n.index == index)
    }

    fn client(&self, index: usize) -> Result<&Client, LiveError> {
        self.node(index)
            .map(|n| &n.client)
            .ok_or(LiveError::Stopped { node: index })
    }

    async fn run(&mut self, scenario: &Scenario, seed: u64) -> Result<LiveReport, LiveError> {
        let behaviours = scenario.behaviours();
        let (roster, keys) = roster(scenario, seed)?;
        let up: Vec<usize> = (0..behaviours.len())
            .filter(|&i| behaviours.get(i) != Some(&Behaviour::Offline))
            .collect();
        let honest: Vec<usize> = up
            .iter()
            .copied()
            .filter(|&i| behaviours.get(i).is_some_and(Behaviour::is_honest))
            .collect();
        let plan = Plan::new(scenario, seed, &up, &honest);
        let sync_interval = Duration::from_millis(scenario.network.sync_interval_ms);

        // Nodes in index order, so every node's dial targets already listen.
        let started_at = Instant::now();
        let mut addrs: BTreeMap<usize, Multiaddr> = BTreeMap::new();
        for &i in &up {
            let bootstrap = plan
                .dials
                .get(&i)
                .map(|d| d.iter().filter_map(|j| addrs.get(j).cloned()).collect())
                .unwrap_or_default();
            let key = keys.get(i).cloned().ok_or(LiveError::Setup {
                node: i,
                message: "no key".to_string(),
            })?;
            let behaviour = behaviours.get(i).cloned().unwrap_or(Behaviour::Offline);
            let (node, addr) = start_node(
                i,
                behaviour,
                key,
                &roster,
                bootstrap,
                sync_interval,
                up.len(),
            )
            .await?;
            self.nodes.push(node);
            addrs.insert(i, addr);
        }

        // Agents subscribe before the first proposal can exist.
        let shared = Arc::new(Shared::default());
        let (stop_tx, stop_rx) = watch::channel(false);
        self.stop_agents = Some(stop_tx);
        for n in &self.nodes {
            let agent = Agent {
                node: n.index,
                behaviour: n.behaviour.clone(),
                seed,
                client: n.client.clone(),
                eval_delay: Duration::from_millis(scenario.workload.fixed_eval_delay_ms()),
                shared: Arc::clone(&shared),
            };
            let events = n.client.subscribe();
            self.agents
                .push(tokio::spawn(agent.run(events, stop_rx.clone())));
        }

        let mesh_deadline = Duration::from_secs(20).saturating_add(Duration::from_millis(
            500u64.saturating_mul(up.len() as u64),
        ));
        self.wait_mesh(&plan, mesh_deadline).await?;
        let mesh_ready_ms = ms(elapsed_us(started_at));

        // The workload, at the scenario's arrival times.
        let w = &scenario.workload;
        let mut truth: Vec<Submitted> = Vec::new();
        let mut skipped = 0u64;
        let t0 = Instant::now();
        for (k, (&at, &(proposer, anomalous))) in plan.arrivals.iter().zip(&plan.picks).enumerate()
        {
            tokio::time::sleep_until(t0 + Duration::from_micros(at)).await;
            let k = k as u64;
            let (Ok(action), Ok(body)) = (
                Action::new(ACTION),
                Payload::from_value(&payload(k, anomalous)),
            ) else {
                skipped = skipped.saturating_add(1);
                continue;
            };
            let tier = roster.tier_for(ACTION, || body.to_value());
            let client = self.client(proposer)?;
            let created_us = clock::now_us();
            match client.propose(action, body, w.ttl_ms).await {
                Ok(Ok(id)) => truth.push(Submitted {
                    id,
                    truth: Truth {
                        anomalous,
                        proposer,
                        created_us,
                        // The node's own expiry, to the millisecond of its clock.
                        expires_at: UnixMillis((created_us / 1000).saturating_add(w.ttl_ms)),
                        tier,
                    },
                }),
                Ok(Err(_)) => skipped = skipped.saturating_add(1),
                Err(_) => return Err(LiveError::Stopped { node: proposer }),
            }
        }

        // Until every honest node decided every proposal, or the last one expired.
        let expiry = t0
            + Duration::from_micros(plan.arrivals.last().copied().unwrap_or(0))
            + Duration::from_millis(w.ttl_ms)
            + EXPIRY_MARGIN;
        self.wait_decided(&honest, &truth, expiry).await?;
        let workload_ms = ms(elapsed_us(t0));

        // Until every honest node holds the same tallies, or the quiet period ran out.
        let converge_start = Instant::now();
        let quiet = Duration::from_millis(scenario.quiet_ms.max(1000));
        let held = self.wait_agreement(&honest, &truth, quiet).await?;
        let converge_ms = ms(elapsed_us(converge_start));

        let mut report = self
            .assess(scenario, seed, &roster, &honest, &truth, held)
            .await?;
        report.proposals.skipped = skipped;
        report.proposals.votes_cast = shared.votes_cast.load(Ordering::Relaxed);
        report.proposals.votes_refused = shared.votes_refused.load(Ordering::Relaxed);
        report.security.invalid_rejected = shared.invalid_rejected.load(Ordering::Relaxed);
        report.started = u32::try_from(up.len()).unwrap_or(u32::MAX);
        report.mesh_ready_ms = mesh_ready_ms;
        report.workload_ms = workload_ms;
        report.converge_ms = converge_ms;
        Ok(report)
    }

    /// Every node connected to all its planned peers, admitted by identify, with a mesh.
    async fn wait_mesh(&self, plan: &Plan, limit: Duration) -> Result<(), LiveError> {
        let deadline = Instant::now() + limit;
        let mut waiting: BTreeSet<usize> = self.nodes.iter().map(|n| n.index).collect();
        loop {
            let mut still = BTreeSet::new();
            for &i in &waiting {
                let s = self
                    .client(i)?
                    .status()
                    .await
                    .map_err(|_| LiveError::Stopped { node: i })?;
                let degree = plan.degree(i);
                let admitted = s.peers.iter().filter(|p| p.admitted).count();
                if admitted < degree || s.mesh_peers < degree.min(MESH_READY) {
                    still.insert(i);
                }
            }
            waiting = still;
            if waiting.is_empty() {
                return Ok(());
            }
            if Instant::now() >= deadline {
                let names: Vec<String> = waiting.iter().map(|i| format!("n{i}")).collect();
                return Err(LiveError::Timeout {
                    what: format!("gossip mesh (waiting for {})", names.join(", ")),
                    after: limit,
                });
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Polls until every honest node holds a verdict for every proposal, or `deadline`.
    async fn wait_decided(
        &self,
        honest: &[usize],
        truth: &[Submitted],
        deadline: Instant,
    ) -> Result<(), LiveError> {
        let mut open: BTreeSet<(usize, usize)> = honest
            .iter()
            .flat_map(|&i| (0..truth.len()).map(move |t| (i, t)))
            .collect();
        loop {
            let mut still = BTreeSet::new();
            for &(i, t) in &open {
                let Some(id) = truth.get(t).map(|x| x.id) else {
                    continue;
                };
                let r = self
                    .client(i)?
                    .get(id)
                    .await
                    .map_err(|_| LiveError::Stopped { node: i })?;
                if r.is_none_or(|r| r.tally.verdict == Verdict::Pending) {
                    still.insert((i, t));
                }
            }
            open = still;
            if open.is_empty() || Instant::now() >= deadline {
                return Ok(());
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// What each honest node holds for each proposal.
    async fn snapshot(
        &self,
        honest: &[usize],
        truth: &[Submitted],
    ) -> Result<BTreeMap<usize, Vec<Option<Tally>>>, LiveError> {
        let mut all = BTreeMap::new();
        for &i in honest {
            let client = self.client(i)?;
            let mut held = Vec::with_capacity(truth.len());
            for t in truth {
                let r = client
                    .get(t.id)
                    .await
                    .map_err(|_| LiveError::Stopped { node: i })?;
                held.push(r.map(|r| Tally(r.tally.verdict, r.tally.yes, r.tally.no)));
            }
            all.insert(i, held);
        }
        Ok(all)
    }

    /// Polls until every honest node holds the same tallies, or `limit` passed; returns
    /// the last snapshot either way (the checks then name any difference).
    async fn wait_agreement(
        &self,
        honest: &[usize],
        truth: &[Submitted],
        limit: Duration,
    ) -> Result<BTreeMap<usize, Vec<Option<Tally>>>, LiveError> {
        let deadline = Instant::now() + limit;
        loop {
            let held = self.snapshot(honest, truth).await?;
            let mut distinct = held.values().collect::<Vec<_>>();
            distinct.dedup();
            if distinct.len() <= 1 || Instant::now() >= deadline {
                return Ok(held);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The checks and figures, from the final snapshot and each node's reports.
    async fn assess(
        &self,
        scenario: &Scenario,
        seed: u64,
        roster: &Roster,
        honest: &[usize],
        truth: &[Submitted],
        held: BTreeMap<usize, Vec<Option<Tally>>>,
    ) -> Result<LiveReport, LiveError> {
        let mut violations = Vec::new();
        let reference = honest.first().copied();
        let want = reference.and_then(|r| held.get(&r));

        // Agreement: every honest node holds what the first one holds.
        if let (Some(r), Some(want)) = (reference, want) {
            for (&i, got) in held.iter().filter(|(i, _)| **i != r) {
                let pairs = truth
                    .iter()
                    .zip(want.iter().zip(got))
                    .map(|(t, (a, b))| (t.id, a.as_ref(), b.as_ref()));
                checks::disagreements(seed, (r, i), pairs, &mut violations);
            }
        }

        // Validity and equivocation, from each honest node's full report.
        let honest_voters = checks::honest_voters(scenario.behaviours().iter(), |i| {
            Some(member_key(seed, u32::try_from(i).unwrap_or(u32::MAX)).voter_id())
        });
        let mut evidence: BTreeSet<(VoterId, ProposalId)> = BTreeSet::new();
        let mut decided_us: BTreeMap<(usize, usize), u64> = BTreeMap::new();
        // Per proposal, for the wrong-tier check: the proposal, each honest node's tier,
        // and each approving node's certificate.
        let mut tiers_held: BTreeMap<usize, TiersHeld> = BTreeMap::new();
        for &i in honest {
            let client = self.client(i)?;
            for (t, x) in truth.iter().enumerate() {
                let Some(r) = client
                    .get(x.id)
                    .await
                    .map_err(|_| LiveError::Stopped { node: i })?
                else {
                    continue;
                };
                for e in &r.equivocations {
                    evidence.insert((e.voter(), e.proposal()));
                }
                if r.tally.verdict != Verdict::Pending
                    && let Some(at) = r.decided_at_us
                {
                    decided_us.insert((i, t), at);
                }
                let entry = tiers_held.entry(t).or_insert_with(|| TiersHeld {
                    proposal: r.proposal.clone(),
                    held: Vec::new(),
                    certificates: Vec::new(),
                });
                entry.held.push(checks::HeldTier {
                    node: i,
                    verdict: r.tally.verdict,
                    tier: r.tally.tier.clone(),
                    q: r.tally.q,
                });
                if r.tally.verdict != Verdict::Approved {
                    continue;
                }
                let cert = client
                    .certificate(x.id)
                    .await
                    .map_err(|_| LiveError::Stopped { node: i })?
                    .flatten();
                let verified = cert.as_ref().map(|c| c.clone().verify(roster).map(|_| ()));
                checks::check_certificate(seed, i, x.id, verified, &mut violations);
                if let Some(c) = cert {
                    entry.certificates.push((i, c));
                }
            }
        }
        for t in tiers_held.values() {
            let certificates: Vec<(usize, &Certificate)> =
                t.certificates.iter().map(|(i, c)| (*i, c)).collect();
            checks::wrong_tier(
                seed,
                roster,
                &t.proposal,
                &t.held,
                &certificates,
                &mut violations,
            );
        }
        let by_honest =
            checks::honest_equivocations(&evidence, &honest_voters, seed, &mut violations);

        // Outcomes, as the reference node holds them.
        let now = clock::now();
        let mut p = Proposals {
            created: truth.len() as u64,
            ..Proposals::default()
        };
        let mut x = Security::default();
        let mut tiers = checks::tier_counts(roster);
        let mut proposer_lat = Vec::new();
        let mut last_lat = Vec::new();
        for (t, Submitted { truth: tr, .. }) in truth.iter().enumerate() {
            let verdict = want
                .and_then(|w| w.get(t))
                .and_then(|h| h.as_ref().map(|h| h.0));
            checks::count_outcome(&mut p, &mut x, tr, verdict, now);
            checks::count_tier(&mut tiers, tr, verdict);
            let honest_at: Vec<Option<u64>> = honest
                .iter()
                .map(|&i| decided_us.get(&(i, t)).copied())
                .collect();
            checks::push_latencies(
                tr.created_us,
                decided_us.get(&(tr.proposer, t)).copied(),
                &honest_at,
                &mut proposer_lat,
                &mut last_lat,
            );
        }
        x.finish_block_rate();
        x.equivocations_detected = evidence.len() as u64;
        x.equivocations_by_honest = by_honest;

        let mut traffic = LiveTraffic::default();
        for n in &self.nodes {
            let s = n
                .client
                .status()
                .await
                .map_err(|_| LiveError::Stopped { node: n.index })?;
            traffic.published = traffic.published.saturating_add(s.traffic.messages_out);
            traffic.published_bytes = traffic.published_bytes.saturating_add(s.traffic.bytes_out);
            traffic.received = traffic.received.saturating_add(s.traffic.messages_in);
            traffic.received_bytes = traffic.received_bytes.saturating_add(s.traffic.bytes_in);
        }
        let decisions = p.approved.saturating_add(p.rejected);
        traffic.published_per_decision = per_decision(traffic.published, decisions);
        traffic.received_per_decision = per_decision(traffic.received, decisions);
        traffic.bytes_per_decision = per_decision(traffic.published_bytes, decisions);
        Ok(LiveReport {
            scenario: scenario.name.clone(),
            network: "libp2p".to_string(),
            seed,
            nodes: checks::node_groups(scenario.behaviours().iter()),
            n: roster.len(),
            q: roster.required(),
            started: 0,
            transport: "TCP on 127.0.0.1, noise, yamux, gossipsub (D=6), catch-up".to_string(),
            mesh_ready_ms: 0.0,
            workload_ms: 0.0,
            converge_ms: 0.0,
            proposals: p,
            latency: Latency {
                proposer: Percentiles::of(proposer_lat),
                last_honest: Percentiles::of(last_lat),
            },
            security: x,
            tiers,
            traffic,
            invariants: {
                let i = Invariants::from_violations(
                    u32::try_from(honest.len()).unwrap_or(u32::MAX),
                    violations,
                );
                if scenario.roster.is_some() {
                    i.with_tier_check()
                } else {
                    i
                }
            },
            not_imposed: not_imposed(scenario),
        })
    }

    /// Stops the agents, then every driver (which flushes its store), then removes the
    /// temporary directories. Safe to call whatever state the run stopped in.
    async fn shutdown(&mut self) {
        if let Some(stop) = self.stop_agents.take() {
            let _ = stop.send(true);
        }
        for a in self.agents.drain(..) {
            let _ = a.await;
        }
        for n in &mut self.nodes {
            if let Some(stop) = n.stop.take() {
                let _ = stop.send(());
            }
        }
        for n in &mut self.nodes {
            if let Some(d) = n.driver.take() {
                let abort = d.abort_handle();
                if tokio::time::timeout(STOP_TIMEOUT, d).await.is_err() {
                    abort.abort();
                }
            }
            drop(n.dir.take());
        }
        self.nodes.clear();
    }
}

/// Starts node `i` and returns it with its listen address.
async fn start_node(
    i: usize,
    behaviour: Behaviour,
    key: SecretKey,
    roster: &Roster,
    bootstrap: Vec<Multiaddr>,
    sync_interval: Duration,
    nodes: usize,
) -> Result<(LiveNode, Multiaddr), LiveError> {
    let setup = |e: &dyn std::fmt::Display| LiveError::Setup {
        node: i,
        message: e.to_string(),
    };
    let dir = tempfile::Builder::new()
        .prefix("swarmvote-live-")
        .tempdir()
        .map_err(|e| setup(&e))?;
    let data_dir = dir.path().join("data");
    // The node `swarmvote run` runs, with the defaults of its config (the publish rate
    // and the degraded-voter detector among them), on loopback, without status lines.
    let config = NodeConfig {
        source: dir.path().join("live.toml"),
        key_file: dir.path().join("voter.key"),
        roster_file: dir.path().join("roster.toml"),
        listen: vec!["/ip4/127.0.0.1/tcp/0".to_owned()],
        bootstrap: bootstrap.iter().map(ToString::to_string).collect(),
        api: ApiSection::default(),
        log: LogSection {
            status_interval_secs: 0,
            ..LogSection::default()
        },
        network: NetworkSection {
            // Two connections per peer at most, as the node allows.
            max_connections: u32::try_from(nodes.saturating_mul(2).max(128)).unwrap_or(u32::MAX),
            ..NetworkSection::default()
        },
        evaluator: EvaluatorSection::default(),
        executor: ExecutorSection::default(),
        metrics: MetricsSection::default(),
        health: HealthSection::default(),
        // Every live node has its own key: no start-up window, so it votes at once as
        // the simulated nodes do (the check on every message still runs).
        doppelganger: DoppelgangerSection { listen_secs: 0 },
        webhook: None,
        gate: GateSection::default(),
        retention: Default::default(),
        data_dir,
    };
    let knobs = Knobs {
        identity: Some((roster.clone(), key)),
        sync_interval: Some(sync_interval),
    };
    let Node {
        mut driver, client, ..
    } = assembly::assemble(&config, knobs).map_err(|e| setup(&e))?;
    let addr = tokio::time::timeout(LISTEN_TIMEOUT, driver.next_listen_addr())
        .await
        .map_err(|_| setup(&"no listen address within 10 s"))?;
    let (stop, stopped) = oneshot::channel::<()>();
    let handle = tokio::spawn(driver.run(async move {
        let _ = stopped.await;
    }));
    Ok((
        LiveNode {
            index: i,
            behaviour,
            client,
            stop: Some(stop),
            driver: Some(handle),
            dir: Some(dir),
        },
        addr,
    ))
}

/// What the honest nodes hold for one proposal, for the wrong-tier check.
struct TiersHeld {
    proposal: SignedProposal,
    held: Vec<checks::HeldTier>,
    certificates: Vec<(usize, Certificate)>,
}

/// The parts of the scenario loopback cannot reproduce.
fn not_imposed(scenario: &Scenario) -> Vec<String> {
    let net = &scenario.network;
    let mut notes = vec![format!(
        "network.default.latency {:?}: loopback TCP has its own latency (tens of µs per hop plus processing)",
        net.default.latency
    )];
    if net.default.loss > 0.0 || net.default.duplicate > 0.0 {
        notes.push(format!(
            "network.default loss {} and duplicate {}: TCP neither loses nor duplicates",
            net.default.loss, net.default.duplicate
        ));
    }
    if !net.links.is_empty() {
        notes.push(format!(
            "network.links ({} overrides): every link is loopback",
            net.links.len()
        ));
    }
    notes.push(format!(
        "network.fanout {}: gossipsub keeps its own mesh (D=6) over up to {BOOTSTRAP_PEERS} dialled peers per node",
        net.fanout
    ));
    notes.push(format!(
        "network.flush_interval_ms {}: sled flushes on its own schedule; own ballots are fsync'd",
        net.flush_interval_ms
    ));
    notes
}

fn elapsed_us(since: Instant) -> u64 {
    u64::try_from(since.elapsed().as_micros()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payload_round_trips_the_ground_truth() {
        for (k, anomalous) in [(0, false), (7, true)] {
            let p = Payload::from_value(&payload(k, anomalous)).unwrap();
            assert_eq!(read_payload(&p), Some((k, anomalous)));
        }
        let other = Payload::from_value(&serde_json::json!({"path": "/x"})).unwrap();
        assert_eq!(read_payload(&other), None);
    }

    #[test]
    fn coins_are_fixed_by_their_inputs_and_spread() {
        let a = coin(1, &[b"err", &[1]]);
        assert_eq!(a, coin(1, &[b"err", &[1]]));
        assert_ne!(a, coin(2, &[b"err", &[1]]));
        let below_half = (0u64..1000)
            .filter(|k| coin(9, &[b"err", &k.to_le_bytes()]) < 0.5)
            .count();
        assert!((400..600).contains(&below_half), "{below_half}");
    }

    #[test]
    fn plan_arrivals_match_the_model_and_the_graph_is_connected() {
        let s = Scenario::parse(
            "t",
            "name='t'\nquorum='2/3'\n[[nodes]]\ncount=20\nbehaviour={kind='honest'}\n[workload]\nproposals=5\nrate_per_sec=10.0\n",
        )
        .unwrap();
        let up: Vec<usize> = (0..20).collect();
        let plan = Plan::new(&s, 3, &up, &up);
        assert_eq!(plan.arrivals.len(), 5);
        assert!(plan.arrivals.windows(2).all(|w| w[0] <= w[1]));
        // Every node but the first dials at least one earlier node: connected.
        for (&node, dials) in &plan.dials {
            assert_eq!(dials.is_empty(), node == 0);
            assert!(dials.iter().all(|&d| d < node));
            assert!(plan.degree(node) >= BOOTSTRAP_PEERS.min(19) || node < BOOTSTRAP_PEERS);
        }
    }

    #[test]
    fn decide_follows_the_behaviour() {
        let honest = Behaviour::honest(0.0);
        assert_eq!(decide(&honest, 1, 0, 0, false), Some(Vote::Yes));
        assert_eq!(decide(&honest, 1, 0, 0, true), Some(Vote::No));
        let always_wrong = Behaviour::Drift { p: 1.0 };
        assert_eq!(decide(&always_wrong, 1, 0, 0, true), Some(Vote::Yes));
        assert_eq!(
            decide(&Behaviour::Compromised, 1, 0, 0, true),
            Some(Vote::Yes)
        );
        assert_eq!(decide(&Behaviour::Offline, 1, 0, 0, true), None);
    }
}
