//! The deterministic simulation: one event queue in virtual microseconds, one seeded RNG,
//! N engines.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet};

use radix_heap::RadixHeapMap;
use std::rc::Rc;

use sha2::{Digest, Sha256};
use swarmvote_protocol::crypto::sha256;
use swarmvote_protocol::engine::{
    CommandError, Config, Engine, Event, IgnoreReason, MessageTag, Output, PeerTag, SyncRequest,
    SyncResponse, SyncTag, Validation,
};
use swarmvote_protocol::engine::{EngineError, Pause};
use swarmvote_protocol::{
    Action, Nonce, Payload, ProposalId, Roster, SecretKey, SignatureCache, Status, UnixMillis,
    Verdict, VoterId, codec,
};

use crate::behaviour::{
    Decision, FieldError, Judge, Policy, Seen, cloned, equivocator, flooder, forger, replayer,
};
use crate::checks::{self, Truth};
use crate::network::{Fate, Mesh, Network, Topology};
use crate::report::{Proposals, Report, Storage, Traffic};
use crate::rng::SimRng;
use crate::scenario;
use crate::scenario::{Behaviour, MAX_FLOOD_PER_NODE, Scenario};
use crate::storage::Store;
use crate::swarm::{self, MembersError};
// Where they were first defined; they belong to every run, model or live.
pub use crate::swarm::{START_MS, member_key};

mod clones;
mod copies;
mod epochs;
mod finish;

use clones::Clones;
use copies::{Msg, copy_key, copy_offsets};

/// Follow-up round trips allowed in one catch-up exchange (the engine converges in a
/// handful; this only stops a runaway).
const MAX_SYNC_ROUNDS: u32 = 64;
/// How often convergence is probed after the last heal.
const PROBE_US: u64 = 100_000;
/// The most ballots one replayer replays (each twice): enough to show none is counted,
/// few enough to keep runs fast.
const MAX_REPLAYS_PER_NODE: u32 = 500;

/// Why a run could not start.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// The roster could not be built.
    #[error("roster: {0}")]
    Roster(#[from] MembersError),
    /// A member's engine refused the roster or its key.
    #[error("roster: {source}")]
    Engine {
        /// The member.
        node: usize,
        /// Why.
        source: EngineError,
    },
    /// The scenario's `[evaluator]` does not compile.
    #[error("{0}")]
    Evaluator(#[from] FieldError),
    /// A `cloned` node's member cannot be cloned, or a member node follows a clone.
    #[error("node n{node}: {message}")]
    Cloned {
        /// The node.
        node: usize,
        /// What is wrong.
        message: String,
    },
}

/// Something that happens at one virtual instant.
enum Ev {
    /// The earliest queued copy of gossip message number `msg` (see `Sim::msgs`) is due:
    /// the message's own queue says to whom (see [`Msg::pending`]). Stale when the key
    /// is not the message's current `cursor`.
    Copies { msg: u32 },
    /// Gossip message number `msg` arrives at `to` from `from` (a copy whose time or
    /// sequence number is too far from its message's base to sit in its queue).
    Gossip { to: u32, from: u32, msg: u32 },
    /// A catch-up request arrives. (Boxed, like the response: the queue moves events
    /// around on every push and pop, so they must stay small.)
    SyncReq(Box<SyncMsg<SyncRequest>>),
    /// A catch-up response arrives.
    SyncResp(Box<SyncMsg<SyncResponse>>),
    /// A node has judged a proposal and acts on it.
    Judge(Box<Judging>),
    /// Proposal number `k` of the workload arrives.
    Arrival { k: u32 },
    /// A node's store flushes.
    Flush { node: u32 },
    /// A node runs its anti-entropy round.
    SyncTick { node: u32 },
    /// A node's engine asked to be ticked now.
    Tick { node: u32, life: u32 },
    /// A node crashes.
    Crash { node: u32 },
    /// A node restarts.
    Restart { node: u32 },
    /// Check whether the honest nodes agree yet (after the last heal).
    Probe,
    /// A flooder sends its next garbage message.
    Flood { node: u32 },
    /// The scenario's roster change number `k` is proposed.
    RosterChange { k: u32 },
}

/// A node's judgement of a proposal, due. (Boxed: events stay 16 bytes, so a queue of
/// millions of gossip copies stays small.)
struct Judging {
    node: usize,
    life: u32,
    proposal: ProposalId,
}

/// A node index in an event (a run has fewer than 2³² nodes).
fn ix(i: usize) -> u32 {
    u32::try_from(i).unwrap_or(u32::MAX)
}

/// A catch-up message in flight.
struct SyncMsg<T> {
    to: usize,
    from: usize,
    body: T,
    id: [u8; 32],
    round: u32,
}

/// The catch-up round a [`SyncTag`] carries (see `send_catch_up`).
fn round_of(tag: SyncTag) -> u32 {
    u32::try_from(tag.0).unwrap_or(MAX_SYNC_ROUNDS)
}

/// An event's place in the queue: its time in the high 64 bits and its sequence number
/// in the low 64, so keys are unique and order by (time, sequence).
fn queue_key(time: u64, seq: u64) -> Reverse<u128> {
    Reverse((u128::from(time) << 64) | u128::from(seq))
}

/// The time part of a queue key.
fn key_time(key: Reverse<u128>) -> u64 {
    u64::try_from(key.0 >> 64).unwrap_or(u64::MAX)
}

/// The sequence part of a queue key.
fn key_seq(key: Reverse<u128>) -> u64 {
    // The low 64 bits, by construction.
    #[allow(clippy::cast_possible_truncation)]
    let seq = key.0 as u64;
    seq
}

/// Trace record kinds (one byte in the canonical log).
#[derive(Clone, Copy)]
#[repr(u8)]
enum Kind {
    Gossip = 1,
    SyncReq = 2,
    SyncResp = 3,
    Judge = 4,
    Propose = 5,
    Tick = 6,
    Crash = 7,
    Restart = 8,
}

struct Node {
    behaviour: Behaviour,
    key: SecretKey,
    voter: VoterId,
    /// `None` while down.
    engine: Option<Engine>,
    store: Store,
    /// Bumped at each crash, so events of an earlier life are dropped.
    life: u32,
    next_tick: Option<u64>,
    /// Attack messages sent so far (replays or garbage), against the per-node cap.
    attacks: u32,
    /// Whether this node is up for the whole run (not offline, never crashes), so what
    /// it has received only ever grows: then a copy that is sure to arrive as a duplicate
    /// is counted at send time instead of being queued (see [`Sim::deliver_later`]).
    stable: bool,
}

#[derive(Default)]
struct Counters {
    proposals: Proposals,
    traffic: Traffic,
    storage: Storage,
    invalid_rejected: u64,
    ignored: u64,
    forged_sent: u64,
    replayed_sent: u64,
    garbage_sent: u64,
}

/// One run of a scenario with one seed.
pub struct Sim {
    scenario: Scenario,
    seed: u64,
    /// The roster every engine judges with.
    roster: Roster,
    /// The roster as the scenario writes it, which the checks hold the engines to: the
    /// same as `roster` unless `testing.lowered_rules` lowers rules for the engines.
    written: Roster,
    nodes: Vec<Node>,
    net: Network,
    topology: Topology,
    /// Each node's gossip mesh (the peers it forwards to).
    mesh: Mesh,
    rng: SimRng,
    /// Pending events. A radix heap: a run never schedules an event before the one being
    /// handled (times are `now` plus a delay, sequence numbers grow), and for such
    /// monotone keys pushes are O(1) and pops are amortized O(log) without the cache
    /// misses of a binary heap holding millions of gossip copies.
    queue: RadixHeapMap<Reverse<u128>, Ev>,
    seq: u64,
    now_us: u64,
    end_us: u64,
    arrivals: Vec<u64>,
    truth: BTreeMap<ProposalId, Truth>,
    /// Per proposal, per node: when it first decided there, and its latest verdict.
    decided: BTreeMap<ProposalId, BTreeMap<usize, (u64, Verdict)>>,
    /// (member, proposal) pairs honest nodes caught equivocating.
    evidence: BTreeSet<(VoterId, ProposalId)>,
    /// The clones' ballots and the honest nodes' doppelganger alarms.
    clones: Clones,
    converged_us: Option<u64>,
    counters: Counters,
    trace: Sha256,
    trace_events: u64,
    next_tag: u64,
    /// What members decide when they judge: the blocs' shared coins and the compiled
    /// policy evaluator (see [`crate::behaviour`]).
    judging: Judge,
    /// Every distinct gossip message of the run, numbered in order of first publication:
    /// its bytes (shared by every copy in flight) and its id (SHA-256 of the bytes,
    /// gossipsub's content-addressed message id).
    msgs: Vec<Msg>,
    /// Message id to number.
    msg_numbers: BTreeMap<[u8; 32], u32>,
    /// One signature cache for every engine of the run: each distinct signature is
    /// verified once, however many nodes receive it.
    sigs: SignatureCache,
    /// Whether certain duplicates are settled at send time (see [`Sim::deliver_later`]).
    prune: bool,
    /// Whether gossip copies wait in their message's queue (see [`Msg::pending`]) rather
    /// than each in the run's queue.
    copy_queues: bool,
    /// The scenario's roster changes, as proposed.
    changes: epochs::Changes,
}

/// The seed of a run's mesh stream: SHA-256 of a label and the run's seed, so the mesh
/// neither shares nor shifts the run's main stream.
fn mesh_seed(seed: u64) -> u64 {
    let mut bytes = b"swarmvote-sim mesh".to_vec();
    bytes.extend_from_slice(&seed.to_le_bytes());
    let h = sha256(&bytes);
    let mut first = [0u8; 8];
    first.copy_from_slice(h.get(..8).unwrap_or(&[0; 8]));
    u64::from_le_bytes(first)
}

fn ms_to_us(ms: u64) -> u64 {
    ms.saturating_mul(1000)
}

impl Sim {
    /// Sets up a run: keys, roster, engines, the arrival times and the first events.
    pub fn new(scenario: Scenario, seed: u64) -> Result<Self, SimError> {
        let behaviours = scenario.behaviours();
        let quorum = scenario.parsed_quorum().map_err(MembersError::from)?;
        // Clones are not members: they come last and run a member's key.
        let targets = cloned::targets(&behaviours, seed)
            .map_err(|(node, message)| SimError::Cloned { node, message })?;
        let members = cloned::members(&behaviours);
        let section = scenario.roster.as_ref();
        let (written, keys) = swarm::roster_with(members, quorum, section, seed)?;
        let lowered = &scenario.testing.lowered_rules;
        let roster = match section {
            // Test-only: the engines judge some rules at the default tier.
            Some(s) if !lowered.is_empty() => {
                swarm::roster_with(members, quorum, Some(&s.lowered(lowered)), seed)?.0
            }
            _ => written.clone(),
        };
        let mut rng = SimRng::new(seed);

        // Arrival times first, from their own draws, so the run length is known up front.
        let w = &scenario.workload;
        let arrivals = checks::arrivals(w, &mut rng);
        let mut last = arrivals
            .last()
            .copied()
            .unwrap_or(0)
            .saturating_add(ms_to_us(w.ttl_ms));
        for b in &behaviours {
            if let Behaviour::Crash {
                at_ms,
                restart_at_ms,
                ..
            } = b
            {
                last = last.max(ms_to_us(*at_ms));
                last = last.max(restart_at_ms.map_or(0, ms_to_us));
            }
        }
        for p in &scenario.partitions {
            last = last.max(ms_to_us(p.start_ms));
            last = last.max(p.heal_ms.map_or(0, ms_to_us));
        }
        for c in &scenario.roster_changes {
            last = last.max(ms_to_us(c.at_ms.saturating_add(w.ttl_ms)));
        }
        let heal_all_us = last;
        let end_us = last.saturating_add(ms_to_us(scenario.quiet_ms));
        let extra: Vec<u64> = behaviours
            .iter()
            .map(|b| match b {
                Behaviour::Slow { extra_ms, .. } => ms_to_us(*extra_ms),
                _ => 0,
            })
            .collect();
        let net =
            Network::new(&scenario.network, &scenario.partitions, heal_all_us).with_extra(extra);
        let topology = Topology::build(behaviours.len(), scenario.network.max_peers, &mut rng);
        let mesh = Mesh::build(
            behaviours.len(),
            scenario.network.fanout,
            &topology,
            &mut SimRng::new(mesh_seed(seed)),
        );

        let nodes: Vec<Node> = behaviours
            .into_iter()
            .enumerate()
            .filter_map(|(i, behaviour)| {
                let key = keys.get(targets.get(i).copied().flatten().unwrap_or(i))?;
                Some((behaviour, key.clone()))
            })
            .map(|(behaviour, key)| Node {
                voter: key.voter_id(),
                // Only a node that can crash ever reads its store back.
                store: Store::new(matches!(behaviour, Behaviour::Crash { .. })),
                // Only crash nodes ever go down (or come back), and offline nodes are
                // never up.
                stable: !matches!(behaviour, Behaviour::Crash { .. } | Behaviour::Offline),
                behaviour,
                key,
                engine: None,
                life: 0,
                next_tick: None,
                attacks: 0,
            })
            .collect();
        // Room for every signature of the run (a proposal and a ballot or two per member
        // each), so the cache never forgets one mid-run.
        let cache_capacity = usize::try_from(scenario.workload.proposals)
            .unwrap_or(usize::MAX)
            .saturating_add(1)
            .saturating_mul(nodes.len())
            .saturating_mul(4)
            .max(65_536);
        // The policy evaluator of honest members with `evaluator = "policy"` (checked at
        // load; checked again here for scenarios built in code).
        let policy = scenario
            .evaluator
            .as_ref()
            .map(|section| Policy::new(section, scenario.rego_source.as_deref()))
            .transpose()?;
        let mut sim = Self {
            scenario,
            seed,
            roster,
            written,
            nodes,
            net,
            topology,
            mesh,
            rng,
            queue: RadixHeapMap::new(),
            seq: 0,
            now_us: 0,
            end_us,
            arrivals,
            truth: BTreeMap::new(),
            decided: BTreeMap::new(),
            evidence: BTreeSet::new(),
            clones: Clones::new(&targets),
            converged_us: None,
            counters: Counters::default(),
            trace: Sha256::new(),
            trace_events: 0,
            next_tag: 0,
            judging: Judge::new(policy),
            msgs: Vec::new(),
            msg_numbers: BTreeMap::new(),
            sigs: SignatureCache::new(cache_capacity),
            prune: true,
            copy_queues: true,
            changes: epochs::Changes::default(),
        };
        sim.start()?;
        Ok(sim)
    }

    fn start(&mut self) -> Result<(), SimError> {
        let flush = ms_to_us(self.scenario.network.flush_interval_ms);
        let sync = ms_to_us(self.scenario.network.sync_interval_ms);
        for i in 0..self.nodes.len() {
            let behaviour = self.nodes.get(i).map(|n| n.behaviour.clone());
            if behaviour == Some(Behaviour::Offline) {
                continue;
            }
            self.boot(i, false)?;
            // Random phases, so nodes do not flush or sync in lockstep.
            let f = self.rng.below(usize::try_from(flush).unwrap_or(usize::MAX));
            self.at(u64::try_from(f).unwrap_or(0), Ev::Flush { node: ix(i) });
            let s = self.rng.below(usize::try_from(sync).unwrap_or(usize::MAX));
            self.at(u64::try_from(s).unwrap_or(0), Ev::SyncTick { node: ix(i) });
            if let Some(Behaviour::Crash {
                at_ms,
                restart_at_ms,
                ..
            }) = behaviour
            {
                self.at(ms_to_us(at_ms), Ev::Crash { node: ix(i) });
                if let Some(r) = restart_at_ms {
                    self.at(ms_to_us(r), Ev::Restart { node: ix(i) });
                }
            }
            if let Some(Behaviour::Flooder { rate_per_s }) = behaviour {
                let gap = flood_gap_us(rate_per_s);
                self.at(gap, Ev::Flood { node: ix(i) });
            }
        }
        if let Some(&first) = self.arrivals.first() {
            self.at(first, Ev::Arrival { k: 0 });
        }
        let changes: Vec<u64> = self
            .scenario
            .roster_changes
            .iter()
            .map(|c| ms_to_us(c.at_ms))
            .collect();
        for (k, at) in changes.into_iter().enumerate() {
            self.at(at, Ev::RosterChange { k: ix(k) });
        }
        let heal = self.net.last_heal_us();
        if heal > 0 {
            self.at(heal, Ev::Probe);
        }
        Ok(())
    }

    /// Queues every gossip copy, as before duplicate pruning: the same report, a longer
    /// trace. For tests that check the pruning changes nothing else.
    #[must_use]
    pub fn without_duplicate_pruning(mut self) -> Self {
        self.prune = false;
        self
    }

    /// Queues every gossip copy in the run's queue instead of its message's: the same
    /// events in the same order, so the same report and trace. For tests that check so.
    #[must_use]
    pub fn without_copy_queues(mut self) -> Self {
        self.copy_queues = false;
        self
    }

    /// Runs to the end and checks the invariants.
    pub fn run(self) -> Report {
        self.run_counted().0
    }

    /// Like [`Sim::run`], also returning how many events were processed (every event
    /// taken off the queue, including those that find their node down): the bench's
    /// events/s.
    pub fn run_counted(mut self) -> (Report, u64) {
        let mut events = 0u64;
        while let Some((key, event)) = self.queue.pop() {
            let time = key_time(key);
            if time > self.end_us {
                break;
            }
            events = events.saturating_add(1);
            self.now_us = time;
            self.handle((time, key_seq(key)), event);
        }
        self.now_us = self.end_us;
        (self.finish(), events)
    }

    // -----------------------------------------------------------------------------------
    // Plumbing
    // -----------------------------------------------------------------------------------

    fn at(&mut self, time: u64, event: Ev) {
        let seq = self.next_seq();
        self.push(time, seq, event);
    }

    /// The next sequence number.
    fn next_seq(&mut self) -> u64 {
        let seq = self.seq;
        self.seq = self.seq.saturating_add(1);
        seq
    }

    fn push(&mut self, time: u64, seq: u64, event: Ev) {
        // Never before the event being handled (the queue requires it, and every caller
        // schedules `now` or later anyway).
        debug_assert!(time >= self.now_us, "event scheduled in the past");
        let time = time.max(self.now_us);
        self.queue.push(queue_key(time, seq), event);
    }

    fn after(&mut self, delay_us: u64, event: Ev) {
        self.at(self.now_us.saturating_add(delay_us), event);
    }

    fn now(&self) -> UnixMillis {
        UnixMillis(START_MS.saturating_add(self.now_us / 1000))
    }

    fn log(&mut self, node: usize, kind: Kind, id: &[u8; 32]) {
        self.trace.update(self.now_us.to_le_bytes());
        self.trace
            .update(u64::try_from(node).unwrap_or(u64::MAX).to_le_bytes());
        self.trace.update([kind as u8]);
        self.trace.update(id);
        self.trace_events = self.trace_events.saturating_add(1);
    }

    fn is_up(&self, i: usize) -> bool {
        self.nodes.get(i).is_some_and(|n| n.engine.is_some())
    }

    fn life(&self, i: usize) -> u32 {
        self.nodes.get(i).map_or(0, |n| n.life)
    }

    fn is_honest(&self, i: usize) -> bool {
        self.nodes.get(i).is_some_and(|n| n.behaviour.is_honest())
    }

    /// Up peers of `i` it has a connection to (not cut `i → j`), except `except`.
    fn reachable(&self, i: usize, except: Option<usize>) -> Vec<usize> {
        match self.topology.peers(i) {
            None => (0..self.nodes.len())
                .filter(|&j| self.is_peer(i, except, j))
                .collect(),
            Some(peers) => peers
                .iter()
                .map(|&j| j as usize)
                .filter(|&j| self.is_peer(i, except, j))
                .collect(),
        }
    }

    fn is_peer(&self, i: usize, except: Option<usize>, j: usize) -> bool {
        j != i
            && Some(j) != except
            && self.is_up(j)
            && !self.net.is_cut(i, j, self.now_us)
            && self.topology.connected(i, j)
    }

    /// `k` distinct random peers of `i` (as [`Sim::reachable`]; all of them if fewer), in
    /// random order. Draws node indices and rejects non-peers, so a pick costs O(k)
    /// instead of a scan of every node; when peers are scarce it falls back to the scan.
    /// Each chosen peer is uniform over the peers not chosen yet, either way.
    fn pick_peers(&mut self, i: usize, except: Option<usize>, k: usize) -> Vec<usize> {
        let n = self.nodes.len();
        let mut chosen: Vec<usize> = Vec::with_capacity(k);
        let mut tries = k.saturating_mul(4).saturating_add(16);
        while chosen.len() < k && tries > 0 {
            tries -= 1;
            // A random node of the swarm, or of `i`'s peer set in a sparse topology.
            let j = match self.topology.peers(i) {
                None => self.rng.below(n),
                Some(peers) => {
                    let at = self.rng.below(peers.len());
                    peers.get(at).map_or(i, |&j| j as usize)
                }
            };
            if self.is_peer(i, except, j) && !chosen.contains(&j) {
                chosen.push(j);
            }
        }
        if chosen.len() < k {
            let rest: Vec<usize> = self
                .reachable(i, except)
                .into_iter()
                .filter(|j| !chosen.contains(j))
                .collect();
            let more = self.rng.pick(&rest, k.saturating_sub(chosen.len()));
            chosen.extend(more);
        }
        chosen
    }

    // -----------------------------------------------------------------------------------
    // Events
    // -----------------------------------------------------------------------------------

    fn handle(&mut self, key: (u64, u64), ev: Ev) {
        match ev {
            Ev::Copies { msg } => self.on_copies(msg, key),
            Ev::Gossip { to, from, msg } => self.on_gossip(to as usize, from as usize, msg),
            Ev::SyncReq(m) => self.on_sync(*m, Kind::SyncReq, |engine, now, peer, tag, request| {
                engine.handle_sync_request(now, peer, tag, &request);
            }),
            Ev::SyncResp(mut m) => {
                m.body = self.strip_steps(m.to, m.body);
                self.note_clone_sync(m.to, &m.body);
                self.on_sync(*m, Kind::SyncResp, |engine, now, peer, tag, response| {
                    engine.handle_sync_response(now, peer, tag, response);
                })
            }
            Ev::Judge(j) => {
                let Judging {
                    node,
                    life,
                    proposal,
                } = *j;
                if self.is_up(node) && self.life(node) == life {
                    self.log(node, Kind::Judge, proposal.as_bytes());
                    self.judge(node, proposal);
                }
            }
            Ev::Arrival { k } => self.on_arrival(k),
            Ev::Flush { node } => {
                if let Some(n) = self.nodes.get_mut(node as usize) {
                    n.store.flush();
                }
                let every = ms_to_us(self.scenario.network.flush_interval_ms);
                self.after(every, Ev::Flush { node });
            }
            Ev::SyncTick { node } => {
                let (ev_node, node) = (node, node as usize);
                let every = ms_to_us(self.scenario.network.sync_interval_ms);
                self.after(every, Ev::SyncTick { node: ev_node });
                let peers = if self.is_up(node) {
                    self.pick_peers(node, None, 1)
                } else {
                    Vec::new()
                };
                if let Some(&peer) = peers.first() {
                    let now = self.now();
                    if let Some(engine) = self.engine(node) {
                        let request = engine.sync_request(now);
                        self.sync_request(node, peer, request, 0);
                    }
                }
            }
            Ev::Tick { node, life } => {
                let node = node as usize;
                let due = self.nodes.get(node).is_some_and(|n| {
                    n.life == life && n.engine.is_some() && n.next_tick == Some(self.now_us)
                });
                if due {
                    self.log(node, Kind::Tick, &[0; 32]);
                    let now = self.now();
                    if let Some(n) = self.nodes.get_mut(node) {
                        n.next_tick = None;
                        if let Some(e) = n.engine.as_mut() {
                            e.tick(now);
                        }
                    }
                    self.drain(node, None);
                }
            }
            Ev::Crash { node } => {
                let node = node as usize;
                if self.is_up(node) {
                    self.log(node, Kind::Crash, &[0; 32]);
                    if let Some(n) = self.nodes.get_mut(node) {
                        n.engine = None;
                        n.store.crash();
                        n.life = n.life.saturating_add(1);
                        n.next_tick = None;
                    }
                    // Its duplicate cache is lost with it.
                    for m in &mut self.msgs {
                        m.forget(node);
                    }
                    self.counters.storage.crashes = self.counters.storage.crashes.saturating_add(1);
                }
            }
            Ev::Restart { node } => {
                let node = node as usize;
                if !self.is_up(node) {
                    self.log(node, Kind::Restart, &[0; 32]);
                    // A member of the roster by construction, so boot cannot fail here.
                    if self.boot(node, true).is_ok() {
                        self.counters.storage.restarts =
                            self.counters.storage.restarts.saturating_add(1);
                    }
                }
            }
            Ev::Probe => {
                if self.honest_digests_agree() {
                    self.converged_us = Some(self.now_us);
                } else {
                    self.after(PROBE_US, Ev::Probe);
                }
            }
            Ev::Flood { node } => self.flood(node as usize),
            Ev::RosterChange { k } => self.on_roster_change(k as usize),
        }
    }

    /// How long a member takes to judge: the workload's fixed delay, or a draw from its
    /// distribution (only then is the RNG drawn, so runs without one are unchanged).
    /// A catch-up message arrives at a node that is up: logged, handed to its engine
    /// under a tag that carries the round (so the answer, an output, keeps it), and the
    /// engine drained.
    fn on_sync<T>(
        &mut self,
        m: SyncMsg<T>,
        kind: Kind,
        handle: impl FnOnce(&mut Engine, UnixMillis, PeerTag, SyncTag, T),
    ) {
        let SyncMsg {
            to,
            from,
            body,
            id,
            round,
        } = m;
        if !self.is_up(to) {
            return;
        }
        self.log(to, kind, &id);
        let now = self.now();
        let Some(engine) = self.engine(to) else {
            return;
        };
        handle(
            engine,
            now,
            PeerTag(from as u64),
            SyncTag(u64::from(round)),
            body,
        );
        self.drain(to, None);
    }

    fn eval_delay_us(&mut self) -> u64 {
        let w = &self.scenario.workload;
        match &w.eval_delay {
            Some(d) => crate::network::sample_us(d, &mut self.rng),
            None => ms_to_us(w.fixed_eval_delay_ms()),
        }
    }

    fn engine(&mut self, i: usize) -> Option<&mut Engine> {
        self.nodes.get_mut(i).and_then(|n| n.engine.as_mut())
    }

    /// Brings a node up: a fresh engine, restored from its durable records on a restart.
    fn boot(&mut self, i: usize, restart: bool) -> Result<(), SimError> {
        let now = self.now();
        let Some(n) = self.nodes.get_mut(i) else {
            return Ok(());
        };
        let mut engine = Engine::new(self.roster.clone(), n.key.clone(), Config::default())
            .map_err(|source| SimError::Engine { node: i, source })?
            .with_signature_cache(self.sigs.clone());
        if self.scenario.testing.broken_guard.contains(&i) {
            engine.disable_own_vote_guard_for_testing(); // test-only: scenario [testing]
        }
        if restart {
            engine.restore(now, n.store.durable().to_vec());
        }
        // A node that saw its key signing elsewhere stays stopped until an operator acts.
        if self.clones.stopped(i) {
            engine.pause_signing(Pause::Doppelganger);
        }
        n.engine = Some(engine);
        self.drain(i, None);
        if restart {
            // The node re-judges every proposal still open, as a restarted node's
            // evaluator would. Its own-vote guard must refuse any that contradicts a
            // ballot it signed before the crash.
            let open: Vec<ProposalId> = self
                .nodes
                .get(i)
                .and_then(|n| n.engine.as_ref())
                .map(|e| {
                    e.proposals()
                        .filter(|v| v.status(now) == Status::Pending)
                        .map(|v| v.proposal().id())
                        .collect()
                })
                .unwrap_or_default();
            let life = self.life(i);
            for proposal in open {
                let delay = self.eval_delay_us();
                self.after(
                    delay,
                    Ev::Judge(Box::new(Judging {
                        node: i,
                        life,
                        proposal,
                    })),
                );
            }
        }
        Ok(())
    }

    /// Message `msg`'s earliest queued copy is due (if `key` is still its cursor): takes
    /// it from the message's queue, puts the next one's cursor in the run's queue, and
    /// delivers it.
    fn on_copies(&mut self, msg: u32, key: (u64, u64)) {
        let Some(m) = self.msgs.get_mut(msg as usize) else {
            return;
        };
        if m.cursor != Some(key) {
            return;
        }
        let Some(Reverse((_, to, from))) = m.pending.pop() else {
            m.cursor = None;
            return;
        };
        let next = m.pending.peek().map(|Reverse((key, _, _))| {
            let (at_off, seq_off) = copy_offsets(*key);
            (
                m.base.saturating_add(at_off),
                m.base_seq.saturating_add(seq_off),
            )
        });
        m.cursor = next;
        if let Some((time, seq)) = next {
            self.push(time, seq, Ev::Copies { msg });
        }
        self.on_gossip(to as usize, from as usize, msg);
    }

    fn on_gossip(&mut self, to: usize, from: usize, msg: u32) {
        let up = self.is_up(to);
        let Some(m) = self.msgs.get_mut(msg as usize) else {
            return;
        };
        m.landed(to);
        if !up {
            return;
        }
        // The first copy to arrive: from now on `seen` answers for later ones.
        let fresh = m.see(to);
        let (bytes, id) = (Rc::clone(&m.inbound), m.id);
        self.log(to, Kind::Gossip, &id);
        if fresh && self.withholds_gossip(to, bytes.bytes()) {
            return;
        }
        if !fresh {
            self.counters.traffic.duplicates_suppressed = self
                .counters
                .traffic
                .duplicates_suppressed
                .saturating_add(1);
            return;
        }
        self.note_clone_gossip(to, msg);
        let now = self.now();
        let tag = self.next_tag;
        self.next_tag = self.next_tag.saturating_add(1);
        if let Some(e) = self.engine(to) {
            e.handle_inbound(now, PeerTag(from as u64), MessageTag(tag), &bytes);
        }
        self.drain(to, Some((from, msg)));
        if matches!(
            self.nodes.get(to).map(|n| &n.behaviour),
            Some(Behaviour::Replayer)
        ) {
            self.replay(to, bytes.bytes());
        }
    }

    /// Acts on every output of node `i`'s engine, in order. `msg` is the gossip message
    /// being validated, if any: accepted ones are forwarded.
    fn drain(&mut self, i: usize, msg: Option<(usize, u32)>) {
        let outputs: Vec<Output> = match self.engine(i) {
            Some(e) => std::iter::from_fn(|| e.poll_output()).collect(),
            None => return,
        };
        // Catch-up messages go out after the tick is scheduled, as they did when the
        // engine returned them after its outputs: the event order stays the same.
        let mut catch_up = Vec::new();
        for out in outputs {
            match out {
                Output::Validation { result, .. } => match (result, msg) {
                    (Validation::Accept, Some((from, msg))) => {
                        self.forward(i, from, msg);
                    }
                    (Validation::Ignore(reason), _)
                        if reason != IgnoreReason::Duplicate && self.is_honest(i) =>
                    {
                        self.counters.ignored = self.counters.ignored.saturating_add(1);
                    }
                    _ => {}
                },
                // In order: an own ballot is durable before the broadcast after it.
                Output::Persist(record) => {
                    if let Some(n) = self.nodes.get_mut(i) {
                        n.store.persist(record);
                    }
                }
                Output::Broadcast(bytes) => self.publish(i, &bytes, None),
                Output::Event(e) => self.on_event(i, e),
                out @ (Output::SyncResponse { .. } | Output::SyncRequest { .. }) => {
                    catch_up.push(out);
                }
            }
        }
        self.schedule_tick(i);
        for out in catch_up {
            self.send_catch_up(i, out);
        }
    }

    /// Sends node `i`'s catch-up output to its peer. The tag is the exchange's round: an
    /// answer keeps it, a follow-up starts the next one, up to [`MAX_SYNC_ROUNDS`].
    fn send_catch_up(&mut self, i: usize, out: Output) {
        match out {
            Output::SyncResponse {
                peer,
                tag,
                response,
            } => {
                let (to, round) = (peer.0 as usize, round_of(tag));
                if let Ok(bytes) = codec::encode(&response) {
                    self.send_sync(i, to, bytes.len(), sha256(&bytes), |id| {
                        Ev::SyncResp(Box::new(SyncMsg {
                            to,
                            from: i,
                            body: response,
                            id,
                            round,
                        }))
                    });
                }
            }
            Output::SyncRequest { peer, tag, request } => {
                let round = round_of(tag);
                if round < MAX_SYNC_ROUNDS {
                    self.sync_request(i, peer.0 as usize, request, round.saturating_add(1));
                }
            }
            _ => {}
        }
    }

    fn schedule_tick(&mut self, i: usize) {
        let Some(n) = self.nodes.get(i) else { return };
        let Some(t) = n.engine.as_ref().and_then(Engine::poll_timeout) else {
            return;
        };
        let t_us = ms_to_us(t.0.saturating_sub(START_MS)).max(self.now_us.saturating_add(1000));
        if t_us > self.end_us || n.next_tick.is_some_and(|x| x <= t_us) {
            return;
        }
        let life = n.life;
        if let Some(n) = self.nodes.get_mut(i) {
            n.next_tick = Some(t_us);
        }
        self.at(t_us, Ev::Tick { node: ix(i), life });
    }

    fn on_event(&mut self, i: usize, e: Event) {
        let honest = self.is_honest(i);
        match e {
            Event::ProposalSeen { proposal, .. } => {
                let votes = !matches!(
                    self.nodes.get(i).map(|n| &n.behaviour),
                    Some(Behaviour::Offline) | None
                );
                if votes {
                    let life = self.life(i);
                    let delay = self.eval_delay_us();
                    self.after(
                        delay,
                        Ev::Judge(Box::new(Judging {
                            node: i,
                            life,
                            proposal,
                        })),
                    );
                }
            }
            Event::Decided {
                proposal, verdict, ..
            } => {
                let now = self.now_us;
                let at = self
                    .decided
                    .entry(proposal)
                    .or_default()
                    .entry(i)
                    .or_insert((now, verdict));
                at.1 = verdict;
            }
            Event::Equivocation { evidence } if honest => {
                self.evidence
                    .insert((evidence.voter(), evidence.proposal()));
            }
            Event::Doppelganger { proposal, vote, .. } if honest => {
                self.on_doppelganger(i, proposal, vote);
            }
            Event::InvalidMessage { .. } if honest => {
                self.counters.invalid_rejected = self.counters.invalid_rejected.saturating_add(1);
            }
            _ => {}
        }
    }

    // -----------------------------------------------------------------------------------
    // Dissemination
    // -----------------------------------------------------------------------------------

    /// Origin publish: to every reachable peer (gossipsub's flood publish), or to `only`.
    fn publish(&mut self, i: usize, bytes: &[u8], only: Option<&[usize]>) {
        let msg = self.intern(bytes);
        if let Some(m) = self.msgs.get_mut(msg as usize) {
            m.see(i);
        }
        let len = bytes.len();
        match only {
            Some(list) => {
                for &j in list {
                    self.transmit(i, j, msg, len);
                }
            }
            None => {
                for j in self.reachable(i, None) {
                    self.transmit(i, j, msg, len);
                }
            }
        }
    }

    /// The number of message `bytes`, assigned on first publication.
    fn intern(&mut self, bytes: &[u8]) -> u32 {
        let id = sha256(bytes);
        if let Some(&m) = self.msg_numbers.get(&id) {
            return m;
        }
        let m = u32::try_from(self.msgs.len()).unwrap_or(u32::MAX);
        self.msgs.push(Msg::new(bytes, id));
        self.msg_numbers.insert(id, m);
        m
    }

    /// Relay after an Accept: to the node's mesh peers, never back to the sender
    /// (gossipsub's mesh forwarding).
    ///
    /// A node whose mesh is all of its peers sends to every reachable one in random order.
    /// Otherwise it sends to its reachable mesh peers, and when crashes or cuts leave it
    /// fewer than `fanout` of them, also to random other reachable peers to make up the
    /// difference, as gossipsub grafts replacements at its next heartbeat (here at once,
    /// for this message only).
    fn forward(&mut self, i: usize, from: usize, msg: u32) {
        let len = self
            .msgs
            .get(msg as usize)
            .map_or(0, |m| m.inbound.bytes().len());
        let d = self.scenario.network.fanout;
        let chosen = if self.mesh.is_complete(i) {
            self.pick_peers(i, Some(from), d)
        } else {
            let mut live = 0usize;
            let mut chosen = Vec::with_capacity(d.saturating_mul(2));
            for &j in self.mesh.peers(i) {
                let j = j as usize;
                if self.is_peer(i, None, j) {
                    live = live.saturating_add(1);
                    if j != from {
                        chosen.push(j);
                    }
                }
            }
            if live < d {
                let mesh = self.mesh.peers(i);
                let rest: Vec<usize> = self
                    .reachable(i, Some(from))
                    .into_iter()
                    .filter(|&j| u32::try_from(j).is_ok_and(|j| !mesh.contains(&j)))
                    .collect();
                let more = self.rng.pick(&rest, d.saturating_sub(live));
                chosen.extend(more);
            }
            chosen
        };
        for j in chosen {
            self.transmit(i, j, msg, len);
        }
    }

    fn transmit(&mut self, from: usize, to: usize, msg: u32, len: usize) {
        let t = &mut self.counters.traffic;
        match self.net.gossip(from, to, self.now_us, &mut self.rng) {
            Fate::Cut => t.cut = t.cut.saturating_add(1),
            Fate::Lost => {
                t.gossip_messages = t.gossip_messages.saturating_add(1);
                t.gossip_bytes = t.gossip_bytes.saturating_add(len as u64);
                t.lost = t.lost.saturating_add(1);
            }
            Fate::Arrives(d, copy) => {
                t.gossip_messages = t.gossip_messages.saturating_add(1);
                t.gossip_bytes = t.gossip_bytes.saturating_add(len as u64);
                self.deliver_later(from, to, msg, d);
                if let Some(d2) = copy {
                    let t = &mut self.counters.traffic;
                    t.duplicated = t.duplicated.saturating_add(1);
                    self.deliver_later(from, to, msg, d2);
                }
            }
        }
    }

    /// Queues one copy of gossip message `msg` to `to`, arriving `delay_us` from now.
    ///
    /// Most copies are duplicates: flood publish plus forwarding bring each node about
    /// seven copies of every message, and a duplicate's arrival changes nothing but the
    /// `duplicates_suppressed` count and the trace. So when the outcome of a copy is
    /// already certain, it is settled here instead of costing an event:
    ///
    /// - it arrives after the end of the run: it would never be handled, so it is
    ///   dropped (and not counted, as before);
    /// - `to` has already received the message, or a copy to it is queued that arrives
    ///   no later: it will be a duplicate, so it is counted now. On a tie in time the
    ///   queued copy was scheduled first, so its lower sequence number delivers it first.
    ///
    /// Only for stable nodes (up for the whole run), whose `seen` set never resets. The
    /// report is unchanged except the trace: pruned copies are not logged, so the trace
    /// hash and its event count differ from runs before this pruning (a run is as
    /// deterministic as before).
    fn deliver_later(&mut self, from: usize, to: usize, msg: u32, delay_us: u64) {
        let at = self.now_us.saturating_add(delay_us);
        let (end_us, nodes) = (self.end_us, self.nodes.len());
        let stable = self.prune && self.nodes.get(to).is_some_and(|n| n.stable);
        let copy_queues = self.copy_queues;
        let Some(m) = self.msgs.get_mut(msg as usize) else {
            return;
        };
        if stable {
            if at > end_us {
                return;
            }
            let duplicate = m.seen_by(to) || m.first_at(to).is_some_and(|first| first <= at);
            if duplicate {
                let t = &mut self.counters.traffic;
                t.duplicates_suppressed = t.duplicates_suppressed.saturating_add(1);
                return;
            }
        }
        let seq = self.seq;
        self.seq = self.seq.saturating_add(1);
        m.take_off(self.now_us, seq);
        if stable {
            // The earliest copy in flight to `to` (any queued one arrives later).
            m.set_first(to, at, nodes);
        }
        let offsets = (
            at.checked_sub(m.base).and_then(|d| u32::try_from(d).ok()),
            seq.checked_sub(m.base_seq)
                .and_then(|d| u32::try_from(d).ok()),
        );
        let (to, from) = (ix(to), ix(from));
        if let (true, Some(at_off), Some(seq_off)) = (copy_queues, offsets.0, offsets.1) {
            m.pending
                .push(Reverse((copy_key(at_off, seq_off), to, from)));
            // Only a copy earlier than the cursor's needs a new cursor (the old one goes
            // stale).
            if m.cursor.is_none_or(|c| (at, seq) < c) {
                m.cursor = Some((at, seq));
                self.push(at, seq, Ev::Copies { msg });
            }
        } else {
            // Too far from the bases to fit the message's queue: in the run's queue,
            // which keeps the same order.
            self.push(at, seq, Ev::Gossip { to, from, msg });
        }
    }

    fn sync_request(&mut self, from: usize, to: usize, request: SyncRequest, round: u32) {
        if let Ok(bytes) = codec::encode(&request) {
            self.send_sync(from, to, bytes.len(), sha256(&bytes), |id| {
                Ev::SyncReq(Box::new(SyncMsg {
                    to,
                    from,
                    body: request,
                    id,
                    round,
                }))
            });
        }
    }

    /// A point-to-point catch-up message: reliable (request-response runs over a
    /// connection), delayed by the link latency, not sent across a cut link.
    fn send_sync(
        &mut self,
        from: usize,
        to: usize,
        len: usize,
        id: [u8; 32],
        ev: impl FnOnce([u8; 32]) -> Ev,
    ) {
        if self.net.is_cut(from, to, self.now_us) {
            self.counters.traffic.cut = self.counters.traffic.cut.saturating_add(1);
            return;
        }
        let t = &mut self.counters.traffic;
        t.sync_messages = t.sync_messages.saturating_add(1);
        t.sync_bytes = t.sync_bytes.saturating_add(len as u64);
        let d = self.net.latency_us(from, to, &mut self.rng);
        self.after(d, ev(id));
    }

    // -----------------------------------------------------------------------------------
    // Workload and behaviours
    // -----------------------------------------------------------------------------------

    fn on_arrival(&mut self, k: u32) {
        let next = usize::try_from(k.saturating_add(1)).unwrap_or(usize::MAX);
        if let Some(&t) = self.arrivals.get(next) {
            self.at(
                t,
                Ev::Arrival {
                    k: k.saturating_add(1),
                },
            );
        }
        // A node that stopped signing after a doppelganger alarm proposes nothing more.
        let candidates: Vec<usize> = (0..self.nodes.len())
            .filter(|&i| {
                self.is_honest(i) && self.is_up(i) && !self.clones.stopped(i) && self.listed(i)
            })
            .collect();
        if candidates.is_empty() {
            self.counters.proposals.skipped = self.counters.proposals.skipped.saturating_add(1);
            return;
        }
        let proposer = candidates
            .get(self.rng.below(candidates.len()))
            .copied()
            .unwrap_or(0);
        let anomalous = self.rng.chance(self.scenario.workload.anomalous_fraction);
        let nonce = Nonce(self.rng.bytes16());
        let now = self.now();
        let ttl = self.scenario.workload.ttl_ms;
        // The action comes from the workload's mix for its ground truth; what a member
        // votes still follows the label, so the mix only shapes the proposals' bytes.
        let mix = if anomalous {
            &self.scenario.workload.anomalous
        } else {
            &self.scenario.workload.benign
        };
        let Some((name, value)) = scenario::pick(mix, self.rng.unit()).map(|e| e.render(k)) else {
            return;
        };
        let (Ok(action), Ok(payload)) = (Action::new(&name), Payload::from_value(&value)) else {
            return;
        };
        let tier = self
            .written
            .tier_for(action.as_str(), || payload.to_value());
        let Some(engine) = self.engine(proposer) else {
            return;
        };
        match engine.propose(now, action, payload, ttl, nonce) {
            Ok(id) => {
                self.log(proposer, Kind::Propose, id.as_bytes());
                self.truth.insert(
                    id,
                    Truth {
                        anomalous,
                        created_us: self.now_us,
                        proposer,
                        expires_at: UnixMillis(now.0.saturating_add(ttl)),
                        tier,
                    },
                );
                self.counters.proposals.created = self.counters.proposals.created.saturating_add(1);
                self.drain(proposer, None);
            }
            Err(_) => {
                self.counters.proposals.skipped = self.counters.proposals.skipped.saturating_add(1);
            }
        }
    }

    fn judge(&mut self, i: usize, proposal: ProposalId) {
        if let Some(decision) = self.change_decision(i, proposal) {
            return self.act(i, proposal, decision);
        }
        let Some(truth) = self.truth.get(&proposal) else {
            return;
        };
        let Some(n) = self.nodes.get(i) else { return };
        // The policy evaluator reads the proposal as this member's engine holds it.
        let held = n
            .engine
            .as_ref()
            .and_then(|e| Some((e.proposal(&proposal)?, e.roster())));
        let seen = held.as_ref().map(|(view, roster)| {
            let proposal = view.proposal();
            Seen {
                proposal,
                proposer_name: roster
                    .member(&proposal.proposal().proposer)
                    .map(|m| m.name.as_str()),
            }
        });
        let decision =
            self.judging
                .decide(&n.behaviour, proposal, truth.anomalous, seen, &mut self.rng);
        self.act(i, proposal, decision);
    }

    /// Carries out node `i`'s decision on a proposal: a vote through its engine (counted
    /// as cast or refused), or its behaviour's attack.
    fn act(&mut self, i: usize, proposal: ProposalId, decision: Decision) {
        let (vote, reason) = match decision {
            Decision::Vote { vote, reason } => (vote, reason),
            Decision::Equivocate => return self.equivocate(i, proposal),
            Decision::Forge => return self.forge(i, proposal),
            Decision::Clone(vote) => return self.clone_vote(i, proposal, vote),
            Decision::Abstain => return,
        };
        let now = self.now();
        let Some(result) = self.engine(i).map(|e| e.vote(now, proposal, vote, reason)) else {
            return;
        };
        let p = &mut self.counters.proposals;
        match result {
            Ok(_) => p.votes_cast = p.votes_cast.saturating_add(1),
            // Stopped by a doppelganger alarm: not the own-vote guard's refusal.
            Err(CommandError::Paused { .. }) => self.clones.withhold(),
            // A removed member, or a proposal whose proposer was removed: the roster's
            // doing, not the own-vote guard's refusal of a contradiction.
            Err(CommandError::NotAMember { .. } | CommandError::ProposerRemoved { .. }) => {}
            Err(_) => p.votes_refused = p.votes_refused.saturating_add(1),
        }
        self.drain(i, None);
    }

    /// Signs both ways outside its engine and sends YES to one half of its peers, NO to
    /// the other.
    fn equivocate(&mut self, i: usize, proposal: ProposalId) {
        let Some(n) = self.nodes.get(i) else { return };
        let (yes, no) = equivocator::ballots(self.roster.swarm(), proposal, &n.key, n.voter);
        let peers = self.reachable(i, None);
        let (a, b) = equivocator::split(&peers, &mut self.rng);
        if let (Ok(y), Ok(n)) = (codec::encode(&yes), codec::encode(&no)) {
            self.publish(i, &y, Some(&a));
            self.publish(i, &n, Some(&b));
        }
    }

    /// Sends a ballot in its own name with a corrupted signature and one in another
    /// member's name signed with its own key.
    fn forge(&mut self, i: usize, proposal: ProposalId) {
        let Some(n) = self.nodes.get(i) else { return };
        let victim = forger::victim(i, self.nodes.iter().map(|m| m.voter)).unwrap_or(n.voter);
        let forged = forger::ballots(self.roster.swarm(), proposal, &n.key, n.voter, victim);
        for b in forged {
            if let Ok(bytes) = codec::encode(&b) {
                self.counters.forged_sent = self.counters.forged_sent.saturating_add(1);
                self.publish(i, &bytes, None);
            }
        }
    }

    /// Replays a foreign ballot node `i` just received: once retargeted at another known
    /// proposal with the same signature (which then no longer verifies), once re-addressed
    /// to another swarm. Bounded by [`MAX_REPLAYS_PER_NODE`].
    fn replay(&mut self, i: usize, bytes: &[u8]) {
        let Some(n) = self.nodes.get(i) else { return };
        if n.attacks >= MAX_REPLAYS_PER_NODE {
            return;
        }
        let known = self.truth.keys().copied();
        let Some(replays) = replayer::replays(bytes, n.voter, known, &mut self.rng) else {
            return;
        };
        if let Some(n) = self.nodes.get_mut(i) {
            n.attacks = n.attacks.saturating_add(1);
        }
        for r in replays {
            if let Ok(out) = codec::encode(&r) {
                self.counters.replayed_sent = self.counters.replayed_sent.saturating_add(1);
                self.publish(i, &out, None);
            }
        }
    }

    /// Sends one garbage message (16 to 128 random bytes) to every reachable peer and
    /// schedules the next, until the cap or the last arrival.
    fn flood(&mut self, i: usize) {
        let Some(n) = self.nodes.get(i) else { return };
        let Behaviour::Flooder { rate_per_s } = n.behaviour else {
            return;
        };
        if n.attacks >= MAX_FLOOD_PER_NODE || !self.is_up(i) {
            return;
        }
        let bytes = flooder::garbage(&mut self.rng);
        if let Some(n) = self.nodes.get_mut(i) {
            n.attacks = n.attacks.saturating_add(1);
        }
        self.counters.garbage_sent = self.counters.garbage_sent.saturating_add(1);
        self.publish(i, &bytes, None);
        let last = self.arrivals.last().copied().unwrap_or(0);
        if self.now_us < last {
            self.after(flood_gap_us(rate_per_s), Ev::Flood { node: ix(i) });
        }
    }

    // -----------------------------------------------------------------------------------
    // The end
    // -----------------------------------------------------------------------------------

    fn honest_up(&self) -> Vec<usize> {
        (0..self.nodes.len())
            .filter(|&i| self.is_honest(i) && self.is_up(i))
            .collect()
    }

    fn honest_digests_agree(&self) -> bool {
        let digests: BTreeSet<[u8; 32]> = self
            .honest_up()
            .into_iter()
            .filter_map(|i| self.nodes.get(i).and_then(|n| n.engine.as_ref()))
            .map(Engine::tallies_digest)
            .collect();
        digests.len() <= 1
    }
}

/// The gap between two garbage messages at `rate_per_s` (at least 1 us, so a huge rate
/// cannot stall virtual time).
fn flood_gap_us(rate_per_s: f64) -> u64 {
    flooder::gap_us(rate_per_s)
}
