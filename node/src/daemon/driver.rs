//! The driver: the only place that touches both the engine and I/O.
//!
//! It owns the engine, the store and the libp2p swarm. Inputs (gossip messages, catch-up
//! requests and responses, commands from the API, timers) go to the engine; its outputs
//! are acted on in order through [`persist::drain`], so an own ballot is on disk before
//! it is published. Other tasks talk to it through a [`Client`]: a bounded channel of
//! commands with one-shot replies.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures::{FutureExt, StreamExt};
use libp2p::gossipsub::{self, IdentTopic, MessageAcceptance, MessageId, PublishError};
use libp2p::request_response::{self, OutboundRequestId, ResponseChannel};
use libp2p::swarm::SwarmEvent;
use libp2p::{Multiaddr, PeerId, Swarm, identify};
use swarmvote_protocol::engine::{
    CommandError, Engine, Event, IgnoreReason, MessageTag, Output, PeerTag, RejectReason,
    SyncRequest, SyncResponse, SyncTag, Validation,
};
use swarmvote_protocol::{
    Action, Certificate, Kind, Nonce, Payload, ProposalId, Reason, SignedBallot, Status,
    UnixMillis, Verdict, Vote, VoterId, codec,
};
use tokio::sync::{broadcast, mpsc, oneshot};
use tokio::time::{Instant, MissedTickBehavior};
use tracing::{debug, info, warn};

use crate::api::{
    HealthChange, HealthEvent, NodeEvent, Numbered, PeerReport, ProposalPage, ProposalReport,
    ProposalSummary, StatusReport, Traffic, VoterHealthReport,
};
use crate::daemon::evaluator::{CommandVerdict, Evaluator};
use crate::daemon::executor::{Done, ExecutionRecord, Executor};
use crate::daemon::health::{Monitor, Settled, Thresholds, Transition};
use crate::daemon::metrics::{
    DirectionLabel, Metrics, ReasonLabel, ResultLabel, StatusLabel, SyncLabel, VerdictLabel,
    VoteLabel, VoterCountLabel, VoterLabel,
};
use crate::daemon::network::refusals::{Refusal, Refusals};
use crate::daemon::network::{self, Behaviour, BehaviourEvent};
use crate::daemon::persist;
use crate::daemon::store::{ExecutionState, Store, StoreError};
use crate::daemon::webhook::Webhook;

/// Commands queued from other tasks.
const COMMAND_QUEUE: usize = 1024;
/// Commands, or network events, handled before outputs are drained: under load, one
/// fsync then covers the own ballots of the whole batch.
const COMMAND_BATCH: usize = 256;
/// Broadcasts waiting for peers or for the rate limit.
const OUTBOX: usize = 10_000;
/// Gossip messages awaiting their validation result.
const PENDING_VALIDATIONS: usize = 10_000;
/// Catch-up requests awaiting the engine's answer.
const PENDING_ANSWERS: usize = 1_024;

/// The wall clock as the engine wants it.
pub fn now() -> UnixMillis {
    let ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0);
    UnixMillis(ms)
}

/// Events kept for clients that resume a stream (`Last-Event-ID`).
const EVENT_LOG: usize = 10_000;

/// Filters for a proposal list.
#[derive(Clone, Debug, Default)]
pub struct ListFilter {
    /// Only this status.
    pub status: Option<Status>,
    /// Only this action.
    pub action: Option<String>,
    /// Only proposals created at or after this time.
    pub since: Option<UnixMillis>,
    /// Page size.
    pub limit: usize,
    /// Continue after this cursor (`<created_at>-<id>` of the last item seen).
    pub cursor: Option<(u64, ProposalId)>,
}

/// What the API can ask.
pub enum Command {
    /// List proposals.
    List {
        /// Filters and paging.
        filter: ListFilter,
        /// Reply.
        reply: oneshot::Sender<ProposalPage>,
    },
    /// Stored events after `after`, and a live subscription from there on, with no gap.
    Events {
        /// The last id the client saw.
        after: Option<u64>,
        /// Reply.
        reply: oneshot::Sender<(Vec<Numbered>, broadcast::Receiver<Numbered>)>,
    },
    /// Submit a proposal.
    Propose {
        /// Action.
        action: Action,
        /// Payload.
        payload: Payload,
        /// Lifetime.
        ttl_ms: u64,
        /// Reply.
        reply: oneshot::Sender<Result<ProposalId, CommandError>>,
    },
    /// Cast this node's ballot.
    Vote {
        /// The proposal.
        proposal: ProposalId,
        /// The vote.
        vote: Vote,
        /// Why.
        reason: Option<Reason>,
        /// Reply.
        reply: oneshot::Sender<Result<SignedBallot, CommandError>>,
    },
    /// One proposal.
    Get {
        /// Its id.
        proposal: ProposalId,
        /// Reply.
        reply: oneshot::Sender<Option<ProposalReport>>,
    },
    /// A certificate.
    Certificate {
        /// Its proposal.
        proposal: ProposalId,
        /// Reply: `None` if unknown, `Some(None)` if not approved.
        reply: oneshot::Sender<Option<Option<Certificate>>>,
    },
    /// The node's status.
    Status {
        /// Reply.
        reply: oneshot::Sender<StatusReport>,
    },
}

/// The handle other tasks use.
#[derive(Clone)]
pub struct Client {
    pub(crate) commands: mpsc::Sender<Command>,
    pub(crate) events: broadcast::Sender<Numbered>,
}

/// The driver stopped.
#[derive(Debug, thiserror::Error)]
#[error("the node is shutting down")]
pub struct Stopped;

impl Client {
    async fn ask<T>(&self, make: impl FnOnce(oneshot::Sender<T>) -> Command) -> Result<T, Stopped> {
        let (tx, rx) = oneshot::channel();
        self.commands.send(make(tx)).await.map_err(|_| Stopped)?;
        rx.await.map_err(|_| Stopped)
    }

    /// Submits a proposal.
    pub async fn propose(
        &self,
        action: Action,
        payload: Payload,
        ttl_ms: u64,
    ) -> Result<Result<ProposalId, CommandError>, Stopped> {
        self.ask(|reply| Command::Propose {
            action,
            payload,
            ttl_ms,
            reply,
        })
        .await
    }

    /// Casts this node's ballot.
    pub async fn vote(
        &self,
        proposal: ProposalId,
        vote: Vote,
        reason: Option<Reason>,
    ) -> Result<Result<SignedBallot, CommandError>, Stopped> {
        self.ask(|reply| Command::Vote {
            proposal,
            vote,
            reason,
            reply,
        })
        .await
    }

    /// One proposal.
    pub async fn get(&self, proposal: ProposalId) -> Result<Option<ProposalReport>, Stopped> {
        self.ask(|reply| Command::Get { proposal, reply }).await
    }

    /// A certificate.
    pub async fn certificate(
        &self,
        proposal: ProposalId,
    ) -> Result<Option<Option<Certificate>>, Stopped> {
        self.ask(|reply| Command::Certificate { proposal, reply })
            .await
    }

    /// The node's status.
    pub async fn status(&self) -> Result<StatusReport, Stopped> {
        self.ask(|reply| Command::Status { reply }).await
    }

    /// Engine events from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Numbered> {
        self.events.subscribe()
    }

    /// Stored events after `after` and a live subscription continuing them.
    pub async fn events(
        &self,
        after: Option<u64>,
    ) -> Result<(Vec<Numbered>, broadcast::Receiver<Numbered>), Stopped> {
        self.ask(|reply| Command::Events { after, reply }).await
    }

    /// A page of proposals.
    pub async fn list(&self, filter: ListFilter) -> Result<ProposalPage, Stopped> {
        self.ask(|reply| Command::List { filter, reply }).await
    }
}

/// Settings the driver needs beyond the engine.
pub struct DriverSettings {
    /// Bootstrap peers.
    pub bootstrap: Vec<Multiaddr>,
    /// Status line period; zero disables.
    pub status_interval: Duration,
    /// Catch-up period.
    pub sync_interval: Duration,
    /// Broadcasts per second.
    pub publish_rate: u32,
    /// Where counters go.
    pub metrics: Metrics,
    /// Degraded-voter thresholds.
    pub health: Thresholds,
    /// How long after a decision or expiry late ballots still count for health.
    pub health_grace: Duration,
    /// Where health transitions are POSTed.
    pub webhook: Option<Webhook>,
}

struct Redial {
    addr: Multiaddr,
    connected: bool,
    next: Instant,
    backoff: Duration,
}

/// A reply held until the outputs it depends on are durable.
enum PendingReply {
    Vote(
        oneshot::Sender<Result<SignedBallot, CommandError>>,
        Result<SignedBallot, CommandError>,
    ),
}

/// Decision times kept for the API (microsecond wall clock), bounded.
const DECISION_TIMES: usize = 200_000;
/// Proposals waiting for their health evaluation; beyond, the oldest is evaluated early.
const HEALTH_DUE: usize = 100_000;

/// Degraded-voter detection: the monitor and the proposals waiting for their grace period.
struct HealthState {
    monitor: Monitor,
    grace: Duration,
    due: VecDeque<(Instant, ProposalId)>,
    /// Proposals due or already evaluated (bounded like `due`): a proposal enters the
    /// window once, even if an equivocation turns its rejection into an approval.
    seen: BTreeSet<ProposalId>,
    seen_order: VecDeque<ProposalId>,
}

/// Counters for the status line and the API.
#[derive(Default)]
struct Stats {
    last_decision_ms: Option<u64>,
    below_quorum: bool,
    traffic: Traffic,
    decided_us: BTreeMap<ProposalId, u64>,
    decided_order: VecDeque<ProposalId>,
}

/// The wall clock in microseconds since the epoch.
pub fn now_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// The event loop.
pub struct Driver {
    engine: Engine,
    store: Store,
    swarm: Swarm<Behaviour>,
    topic: IdentTopic,
    version: String,
    evaluator: Evaluator,
    executor: Executor,
    settings: DriverSettings,
    commands: mpsc::Receiver<Command>,
    events: broadcast::Sender<Numbered>,
    event_log: VecDeque<Numbered>,
    next_event: u64,
    tags: BTreeMap<PeerId, PeerTag>,
    peers_by_tag: BTreeMap<PeerTag, PeerId>,
    next_peer: u64,
    admitted: BTreeSet<PeerId>,
    /// Refused peers still connected until our identify answer reaches them.
    refusing: Refusals,
    pending: BTreeMap<MessageTag, (MessageId, PeerId, Option<Kind>)>,
    next_message: u64,
    outbox: VecDeque<Vec<u8>>,
    tokens: f64,
    refilled: Instant,
    syncs: BTreeMap<OutboundRequestId, PeerId>,
    /// Where to send each catch-up answer the engine has yet to output.
    answers: BTreeMap<SyncTag, ResponseChannel<Vec<u8>>>,
    next_sync: u64,
    redial: Vec<Redial>,
    stats: Stats,
    pending_replies: Vec<PendingReply>,
    metrics: Metrics,
    health: HealthState,
    webhook: Option<Webhook>,
    /// Our executions that were started and have not finished, for the metrics.
    running: BTreeSet<ProposalId>,
}

impl Driver {
    /// Builds the driver and the client that talks to it.
    pub fn new(
        engine: Engine,
        store: Store,
        swarm: Swarm<Behaviour>,
        evaluator: Evaluator,
        executor: Executor,
        settings: DriverSettings,
    ) -> (Self, Client) {
        let (tx, rx) = mpsc::channel(COMMAND_QUEUE);
        let (events, _) = broadcast::channel(4096);
        let topic = network::topic(engine.roster().swarm());
        let version = network::protocol_version(engine.roster());
        let redial = settings
            .bootstrap
            .iter()
            .map(|addr| Redial {
                addr: addr.clone(),
                connected: false,
                next: Instant::now(),
                backoff: Duration::from_millis(250),
            })
            .collect();
        let tokens = f64::from(settings.publish_rate);
        let health = HealthState {
            monitor: Monitor::new(
                settings.health.clone(),
                engine.roster().members().map(|(v, _)| *v),
            ),
            grace: settings.health_grace,
            due: VecDeque::new(),
            seen: BTreeSet::new(),
            seen_order: VecDeque::new(),
        };
        let metrics = settings.metrics.clone();
        let webhook = settings.webhook.clone();
        let client = Client {
            commands: tx,
            events: events.clone(),
        };
        (
            Self {
                engine,
                store,
                swarm,
                topic,
                version,
                evaluator,
                executor,
                settings,
                commands: rx,
                events,
                event_log: VecDeque::new(),
                next_event: now_us(),
                tags: BTreeMap::new(),
                peers_by_tag: BTreeMap::new(),
                next_peer: 0,
                admitted: BTreeSet::new(),
                refusing: Refusals::default(),
                pending: BTreeMap::new(),
                next_message: 0,
                outbox: VecDeque::new(),
                tokens,
                refilled: Instant::now(),
                syncs: BTreeMap::new(),
                answers: BTreeMap::new(),
                next_sync: 0,
                redial,
                stats: Stats::default(),
                pending_replies: Vec::new(),
                metrics,
                health,
                webhook,
                running: BTreeSet::new(),
            },
            client,
        )
    }

    /// Runs until `shutdown` resolves, then flushes the store.
    pub async fn run(
        mut self,
        shutdown: impl std::future::Future<Output = ()>,
    ) -> Result<(), StoreError> {
        // Own ballots re-sent by restore, and anything else queued before the loop.
        self.drain()?;
        let mut status = tokio::time::interval(if self.settings.status_interval.is_zero() {
            Duration::from_secs(3600 * 24 * 365)
        } else {
            self.settings.status_interval
        });
        status.set_missed_tick_behavior(MissedTickBehavior::Delay);
        status.tick().await;
        let mut sync =
            tokio::time::interval(self.settings.sync_interval.max(Duration::from_millis(100)));
        sync.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut housekeeping = tokio::time::interval(Duration::from_millis(100));
        housekeeping.set_missed_tick_behavior(MissedTickBehavior::Delay);
        tokio::pin!(shutdown);
        loop {
            let deadline = self.tick_deadline();
            tokio::select! {
                biased;
                () = &mut shutdown => break,
                event = self.swarm.select_next_some() => {
                    self.on_swarm_event(event);
                    for _ in 1..COMMAND_BATCH {
                        match self.swarm.next().now_or_never() {
                            Some(Some(e)) => self.on_swarm_event(e),
                            _ => break,
                        }
                    }
                }
                command = self.commands.recv() => {
                    let Some(command) = command else { break };
                    self.on_command(command);
                    for _ in 1..COMMAND_BATCH {
                        match self.commands.try_recv() {
                            Ok(c) => self.on_command(c),
                            Err(_) => break,
                        }
                    }
                }
                verdict = self.evaluator.next_verdict() => self.on_verdict(verdict),
                done = self.executor.next_done() => self.on_execution_done(done),
                () = tokio::time::sleep_until(deadline) => self.engine.tick(now()),
                _ = status.tick() => self.log_status(),
                _ = sync.tick() => self.sync_all(),
                _ = housekeeping.tick() => {
                    self.block_refused();
                    self.redial();
                    self.flush_outbox();
                    self.settle_due(false);
                }
            }
            self.drain()?;
        }
        info!("shutting down");
        self.store.sync()?;
        self.store.flush()?;
        Ok(())
    }

    fn tick_deadline(&self) -> Instant {
        let far = Instant::now() + Duration::from_secs(3600);
        match self.engine.poll_timeout() {
            Some(at) => {
                let wait = at.0.saturating_sub(now().0);
                Instant::now() + Duration::from_millis(wait.min(3_600_000))
            }
            None => far,
        }
    }

    fn tag(&mut self, peer: PeerId) -> PeerTag {
        if let Some(t) = self.tags.get(&peer) {
            return *t;
        }
        self.next_peer = self.next_peer.wrapping_add(1);
        let t = PeerTag(self.next_peer);
        self.tags.insert(peer, t);
        self.peers_by_tag.insert(t, peer);
        t
    }

    fn forget(&mut self, peer: &PeerId) {
        if let Some(t) = self.tags.remove(peer) {
            self.peers_by_tag.remove(&t);
        }
        self.admitted.remove(peer);
    }

    fn peer_name(&self, tag: PeerTag) -> String {
        self.peers_by_tag
            .get(&tag)
            .map_or_else(|| format!("peer#{}", tag.0), ToString::to_string)
    }

    // -----------------------------------------------------------------------------------
    // Swarm events
    // -----------------------------------------------------------------------------------

    fn on_swarm_event(&mut self, event: SwarmEvent<BehaviourEvent>) {
        match event {
            SwarmEvent::Behaviour(BehaviourEvent::Gossipsub(gossipsub::Event::Message {
                propagation_source,
                message_id,
                message,
            })) => {
                let peer = self.tag(propagation_source);
                self.next_message = self.next_message.wrapping_add(1);
                let tag = MessageTag(self.next_message);
                if self.pending.len() >= PENDING_VALIDATIONS {
                    // The engine answers synchronously, so this only fills if outputs are
                    // not drained; drop the oldest rather than grow.
                    self.pending.pop_first();
                }
                // The kind labels validation metrics; the engine judges undecodable bytes.
                let kind = codec::kind_of(&message.data).ok();
                self.pending
                    .insert(tag, (message_id, propagation_source, kind));
                self.count_traffic("in", message.data.len());
                self.stats.traffic.messages_in = self.stats.traffic.messages_in.saturating_add(1);
                self.stats.traffic.bytes_in = self
                    .stats
                    .traffic
                    .bytes_in
                    .saturating_add(u64::try_from(message.data.len()).unwrap_or(u64::MAX));
                self.engine.handle_message(now(), peer, tag, &message.data);
            }
            SwarmEvent::Behaviour(BehaviourEvent::Sync(event)) => self.on_sync(event),
            SwarmEvent::Behaviour(BehaviourEvent::Identify(identify::Event::Received {
                peer_id,
                info,
                ..
            })) => self.on_identify(peer_id, &info),
            SwarmEvent::Behaviour(BehaviourEvent::Identify(identify::Event::Sent {
                peer_id,
                ..
            })) => {
                // Our answer is on its way: a refused peer can go shortly.
                self.refusing.sent(&peer_id, Instant::now().into_std());
            }
            SwarmEvent::Behaviour(BehaviourEvent::Mdns(libp2p::mdns::Event::Discovered(found))) => {
                for (peer, addr) in found {
                    debug!(%peer, %addr, "mdns discovered");
                    let _ = self.swarm.dial(addr);
                }
            }
            SwarmEvent::NewListenAddr { address, .. } => {
                info!(address = %address, "listening");
            }
            SwarmEvent::ConnectionEstablished {
                peer_id, endpoint, ..
            } => {
                debug!(peer = %peer_id, addr = %endpoint.get_remote_address(), "connected");
                if let libp2p::core::ConnectedPoint::Dialer { address, .. } = &endpoint {
                    for r in &mut self.redial {
                        if &r.addr == address {
                            r.connected = true;
                            r.backoff = Duration::from_millis(250);
                        }
                    }
                }
            }
            SwarmEvent::ConnectionClosed {
                peer_id,
                endpoint,
                num_established,
                ..
            } => {
                if let libp2p::core::ConnectedPoint::Dialer { address, .. } = &endpoint {
                    for r in &mut self.redial {
                        if &r.addr == address {
                            r.connected = false;
                            r.next = Instant::now() + r.backoff;
                        }
                    }
                }
                if num_established == 0 {
                    debug!(peer = %peer_id, "disconnected");
                    if self.refusing.closed(&peer_id) {
                        self.swarm.behaviour_mut().blocked.block_peer(peer_id);
                    }
                    self.forget(&peer_id);
                    self.check_quorum_connectivity();
                }
            }
            SwarmEvent::OutgoingConnectionError { error, .. } => {
                debug!(%error, "dial failed");
            }
            SwarmEvent::ListenerError { error, .. } => warn!(%error, "listener error"),
            _ => {}
        }
    }

    fn on_identify(&mut self, peer: PeerId, info: &identify::Info) {
        if self.refusing.contains(&peer) {
            // Refused already; its grace only lets our answer reach it.
            return;
        }
        if info.protocol_version == self.version {
            if self.admitted.insert(peer) {
                debug!(%peer, "peer admitted");
                self.check_quorum_connectivity();
                self.sync_with(peer);
            }
        } else if info.protocol_version.starts_with("/swarmvote/") {
            warn!(
                %peer,
                theirs = %info.protocol_version,
                ours = %self.version,
                "peer refused: roster mismatch"
            );
            self.refuse(peer);
        } else {
            warn!(%peer, protocol = %info.protocol_version, "peer refused: not a swarmvote node");
            self.refuse(peer);
        }
    }

    /// Blocks `peer` once our identify answer has had time to reach it (never admitted
    /// meanwhile; see [`crate::daemon::network::refusals`]).
    fn refuse(&mut self, peer: PeerId) {
        self.admitted.remove(&peer);
        if self.refusing.refuse(peer, Instant::now().into_std()) == Refusal::BlockNow {
            self.swarm.behaviour_mut().blocked.block_peer(peer);
        }
    }

    /// Blocks the refused peers whose time is up.
    fn block_refused(&mut self) {
        for peer in self.refusing.due(Instant::now().into_std()) {
            debug!(%peer, "refused peer blocked");
            self.swarm.behaviour_mut().blocked.block_peer(peer);
        }
    }

    fn check_quorum_connectivity(&mut self) {
        let reachable = u32::try_from(self.admitted.len())
            .unwrap_or(u32::MAX)
            .saturating_add(1);
        let q = self.engine.roster().required();
        let below = reachable < q;
        if below && !self.stats.below_quorum {
            warn!(
                reachable,
                q, "lost connectivity to a quorum: approvals cannot complete"
            );
        } else if !below && self.stats.below_quorum {
            info!(reachable, q, "connectivity to a quorum restored");
        }
        self.stats.below_quorum = below;
    }

    // -----------------------------------------------------------------------------------
    // Catch-up
    // -----------------------------------------------------------------------------------

    fn sync_all(&mut self) {
        let peers: Vec<PeerId> = self.admitted.iter().copied().collect();
        for p in peers {
            self.sync_with(p);
        }
    }

    fn sync_with(&mut self, peer: PeerId) {
        // One round at a time per peer.
        if self.syncs.values().any(|p| *p == peer) {
            return;
        }
        let request = self.engine.sync_request(now());
        self.send_sync(peer, &request);
    }

    fn send_sync(&mut self, peer: PeerId, request: &SyncRequest) {
        match codec::encode(request) {
            Ok(bytes) => {
                let id = self.swarm.behaviour_mut().sync.send_request(&peer, bytes);
                self.syncs.insert(id, peer);
            }
            Err(e) => warn!(%peer, error = %e, "cannot encode sync request"),
        }
    }

    /// A new handle for one catch-up exchange.
    fn sync_tag(&mut self) -> SyncTag {
        self.next_sync = self.next_sync.wrapping_add(1);
        SyncTag(self.next_sync)
    }

    /// Sends the engine's answer on the channel its request came with.
    fn answer_sync(&mut self, peer: PeerTag, tag: SyncTag, response: &SyncResponse) {
        let Some(channel) = self.answers.remove(&tag) else {
            return;
        };
        match codec::encode(response) {
            Ok(bytes) => {
                let _ = self
                    .swarm
                    .behaviour_mut()
                    .sync
                    .send_response(channel, bytes);
            }
            Err(e) => {
                warn!(peer = %self.peer_name(peer), error = %e, "cannot encode sync response");
            }
        }
    }

    /// Sends the engine's follow-up request to the peer that answered.
    fn follow_up_sync(&mut self, peer: PeerTag, request: &SyncRequest) {
        if let Some(&peer) = self.peers_by_tag.get(&peer) {
            self.send_sync(peer, request);
        }
    }

    fn on_sync(&mut self, event: request_response::Event<Vec<u8>, Vec<u8>>) {
        match event {
            request_response::Event::Message { peer, message, .. } => match message {
                request_response::Message::Request {
                    request, channel, ..
                } => {
                    let tag = self.tag(peer);
                    let req = match codec::decode::<SyncRequest>(&request) {
                        Ok(req) => req,
                        Err(e) => {
                            warn!(%peer, error = %e, "invalid sync request");
                            self.count_sync("server", "failed");
                            return;
                        }
                    };
                    self.count_sync("server", "ok");
                    // The answer is an output: keep the channel until it is drained.
                    if self.answers.len() >= PENDING_ANSWERS {
                        // Only fills if outputs are not drained; drop the oldest (its
                        // peer sees the request fail) rather than grow.
                        self.answers.pop_first();
                    }
                    let sync = self.sync_tag();
                    self.answers.insert(sync, channel);
                    self.engine.handle_sync_request(now(), tag, sync, &req);
                }
                request_response::Message::Response {
                    request_id,
                    response,
                } => {
                    self.syncs.remove(&request_id);
                    let tag = self.tag(peer);
                    match codec::decode::<SyncResponse>(&response) {
                        Ok(resp) => {
                            self.count_sync("client", "ok");
                            // Follow-ups are outputs, sent by `drain`.
                            let sync = self.sync_tag();
                            self.engine.handle_sync_response(now(), tag, sync, resp);
                        }
                        Err(e) => {
                            self.count_sync("client", "failed");
                            warn!(%peer, error = %e, "invalid sync response");
                        }
                    }
                }
            },
            request_response::Event::OutboundFailure {
                peer,
                request_id,
                error,
                ..
            } => {
                self.syncs.remove(&request_id);
                self.count_sync("client", "failed");
                debug!(%peer, %error, "sync request failed");
            }
            request_response::Event::InboundFailure { peer, error, .. } => {
                self.count_sync("server", "failed");
                debug!(%peer, %error, "sync answer failed");
            }
            request_response::Event::ResponseSent { .. } => {}
        }
    }

    // -----------------------------------------------------------------------------------
    // Commands
    // -----------------------------------------------------------------------------------

    fn on_command(&mut self, command: Command) {
        let t = now();
        match command {
            Command::Propose {
                action,
                payload,
                ttl_ms,
                reply,
            } => {
                let mut nonce = [0u8; 16];
                if let Err(e) = getrandom::fill(&mut nonce) {
                    warn!(error = %e, "no OS randomness for a nonce; using the clock");
                    nonce[..8].copy_from_slice(&t.0.to_le_bytes());
                }
                let r = self
                    .engine
                    .propose(t, action, payload, ttl_ms, Nonce(nonce));
                let _ = reply.send(r);
            }
            Command::Vote {
                proposal,
                vote,
                reason,
                reply,
            } => {
                let r = self.engine.vote(t, proposal, vote, reason);
                // The reply waits until the ballot is durable: see `drain`.
                self.pending_replies.push(PendingReply::Vote(reply, r));
            }
            Command::Get { proposal, reply } => {
                let _ = reply.send(self.report(&proposal, t));
            }
            Command::Certificate { proposal, reply } => {
                let r = self.engine.proposal(&proposal).map(|v| v.certificate());
                let _ = reply.send(r);
            }
            Command::List { filter, reply } => {
                let _ = reply.send(self.list(&filter, t));
            }
            Command::Events { after, reply } => {
                // One step of the single-threaded loop: nothing can slip between the
                // snapshot and the subscription.
                let backlog = self
                    .event_log
                    .iter()
                    .filter(|e| after.is_none_or(|a| e.id > a))
                    .cloned()
                    .collect();
                let _ = reply.send((backlog, self.events.subscribe()));
            }
            Command::Status { reply } => {
                let _ = reply.send(self.status_report());
            }
        }
    }

    fn publish_event(&mut self, event: NodeEvent) {
        let numbered = Numbered {
            id: self.next_event,
            event,
        };
        self.next_event = self.next_event.saturating_add(1);
        if self.event_log.len() >= EVENT_LOG {
            self.event_log.pop_front();
        }
        self.event_log.push_back(numbered.clone());
        let _ = self.events.send(numbered);
    }

    fn list(&self, filter: &ListFilter, t: UnixMillis) -> ProposalPage {
        let mut rows: Vec<ProposalSummary> = self
            .engine
            .proposals()
            .filter_map(|v| {
                let p = v.proposal().proposal();
                let status = v.status(t);
                let keep = filter.status.is_none_or(|s| s == status)
                    && filter
                        .action
                        .as_deref()
                        .is_none_or(|a| a == p.action.as_str())
                    && filter.since.is_none_or(|s| p.created_at >= s)
                    && filter
                        .cursor
                        .is_none_or(|(at, id)| (p.created_at.0, v.proposal().id()) < (at, id));
                keep.then(|| {
                    let outcome = v.outcome();
                    ProposalSummary {
                        id: v.proposal().id(),
                        action: p.action.clone(),
                        proposer: p.proposer,
                        created_at: p.created_at,
                        expires_at: p.expires_at,
                        status,
                        yes: outcome.yes.len(),
                        no: outcome.no.len(),
                    }
                })
            })
            .collect();
        // Newest first; ties broken by id, so paging is stable.
        rows.sort_by_key(|r| std::cmp::Reverse((r.created_at, r.id)));
        let limit = filter.limit.clamp(1, 1000);
        let next_cursor = (rows.len() > limit)
            .then(|| rows.get(limit.saturating_sub(1)))
            .flatten()
            .map(|r| format!("{}-{}", r.created_at.0, r.id));
        rows.truncate(limit);
        ProposalPage {
            proposals: rows,
            next_cursor,
        }
    }

    fn report(&self, id: &ProposalId, t: UnixMillis) -> Option<ProposalReport> {
        let view = self.engine.proposal(id)?;
        Some(ProposalReport {
            id: *id,
            proposal: view.proposal().clone(),
            status: view.status(t),
            tally: view.outcome(),
            ballots: view.tally().ballots().cloned().collect(),
            equivocations: view.tally().equivocations(),
            decided_at: view.decision().map(|d| d.decided_at),
            decided_at_us: self.stats.decided_us.get(id).copied(),
            own_ballot: view.own_ballot().cloned(),
            execution: self.execution_record(id),
        })
    }

    fn status_report(&self) -> StatusReport {
        let t = now();
        let roster = self.engine.roster();
        let me = self.engine.voter_id();
        let mut by_status = [0usize; 4];
        for v in self.engine.proposals() {
            let i = match v.status(t) {
                Status::Pending => 0,
                Status::Approved => 1,
                Status::Rejected => 2,
                Status::Expired => 3,
            };
            if let Some(n) = by_status.get_mut(i) {
                *n = n.saturating_add(1);
            }
        }
        let counts: BTreeMap<String, usize> = ["pending", "approved", "rejected", "expired"]
            .iter()
            .zip(by_status)
            .map(|(k, n)| ((*k).to_owned(), n))
            .collect();
        let health: Vec<VoterHealthReport> = self
            .health
            .monitor
            .report()
            .into_iter()
            .map(|h| VoterHealthReport {
                name: self.member_name(&h.voter),
                health: h,
            })
            .collect();
        let gossip = &self.swarm.behaviour().gossipsub;
        let peers = self
            .swarm
            .connected_peers()
            .map(|p| PeerReport {
                peer_id: p.to_string(),
                admitted: self.admitted.contains(p),
                score: gossip.peer_score(p),
            })
            .collect();
        let report = StatusReport {
            version: env!("CARGO_PKG_VERSION").to_owned(),
            voter: me,
            name: roster
                .member(&me)
                .map(|m| m.name.to_string())
                .unwrap_or_default(),
            peer_id: self.swarm.local_peer_id().to_string(),
            swarm: roster.swarm().to_string(),
            roster_digest: roster.digest().to_string(),
            n: roster.len(),
            q: roster.required(),
            peers,
            mesh_peers: gossip.mesh_peers(&self.topic.hash()).count(),
            counts,
            orphans: self.engine.orphan_count(),
            last_decision_ms: self.stats.last_decision_ms,
            traffic: self.stats.traffic,
            degraded: health
                .iter()
                .filter(|h| h.health.degraded)
                .map(|h| h.name.clone())
                .collect(),
            health,
            health_window: (
                self.health.monitor.window_len(),
                self.health.monitor.thresholds().window,
            ),
        };
        self.refresh_gauges(&report);
        report
    }

    /// Gauges read at scrape time: every status report (and so every scrape) sets them.
    fn refresh_gauges(&self, s: &StatusReport) {
        let m = &self.metrics;
        for (status, n) in &s.counts {
            let status = match status.as_str() {
                "pending" => "pending",
                "approved" => "approved",
                "rejected" => "rejected",
                _ => "expired",
            };
            m.proposals
                .get_or_create(&StatusLabel { status })
                .set(i64::try_from(*n).unwrap_or(i64::MAX));
        }
        let gauge = |n: usize| i64::try_from(n).unwrap_or(i64::MAX);
        m.peers.set(gauge(s.peers.len()));
        m.admitted_peers
            .set(gauge(s.peers.iter().filter(|p| p.admitted).count()));
        m.mesh_peers.set(gauge(s.mesh_peers));
    }

    fn member_name(&self, v: &VoterId) -> String {
        self.engine
            .roster()
            .member(v)
            .map_or_else(|| v.short(), |m| m.name.to_string())
    }

    fn count_traffic(&self, direction: &'static str, bytes: usize) {
        let label = DirectionLabel { direction };
        self.metrics.gossip_messages.get_or_create(&label).inc();
        self.metrics
            .gossip_bytes
            .get_or_create(&label)
            .inc_by(u64::try_from(bytes).unwrap_or(u64::MAX));
    }

    fn count_sync(&self, role: &'static str, result: &'static str) {
        Metrics::inc(&self.metrics.syncs, SyncLabel { role, result });
    }

    // -----------------------------------------------------------------------------------
    // Metrics and degraded-voter detection
    // -----------------------------------------------------------------------------------

    /// Counts an engine event and feeds the health monitor.
    fn observe(&mut self, e: &Event) {
        let m = &self.metrics;
        match e {
            Event::ProposalSeen { .. } => {
                m.proposals_seen.inc();
            }
            Event::BallotAccepted { vote, .. } => {
                let vote = match vote {
                    Vote::Yes => "yes",
                    Vote::No => "no",
                };
                Metrics::inc(&m.ballots_accepted, VoteLabel { vote });
            }
            Event::Decided {
                proposal,
                verdict,
                latency_ms,
                ..
            } => {
                let verdict = match verdict {
                    Verdict::Approved => "approved",
                    Verdict::Rejected => "rejected",
                    Verdict::Pending => "pending",
                };
                Metrics::inc(&m.decisions, VerdictLabel { verdict });
                #[allow(clippy::cast_precision_loss)]
                m.decision_latency.observe(*latency_ms as f64 / 1000.0);
                self.schedule_settle(*proposal);
            }
            Event::Expired { proposal } => {
                m.expired.inc();
                self.schedule_settle(*proposal);
            }
            Event::Equivocation { evidence } => {
                m.equivocations.inc();
                if let Some(t) = self
                    .health
                    .monitor
                    .equivocation(&evidence.voter(), evidence.proposal())
                {
                    self.on_transition(t);
                }
            }
            Event::InvalidMessage { reason, .. } => {
                Metrics::inc(
                    &m.invalid_messages,
                    ReasonLabel {
                        reason: reject_label(reason),
                    },
                );
                // The claimed signer: a member, unless the roster says otherwise. Anyone can
                // put a member's id on a bad signature, so this is a hint, not proof.
                if let RejectReason::BadSignature { signer } = reason {
                    self.health.monitor.invalid_signature(signer);
                }
            }
        }
    }

    /// Queues a decided or expired proposal for its health evaluation after the grace
    /// period, once.
    fn schedule_settle(&mut self, id: ProposalId) {
        let h = &mut self.health;
        if !h.seen.insert(id) {
            return;
        }
        h.seen_order.push_back(id);
        if h.seen_order.len() > HEALTH_DUE.saturating_mul(2)
            && let Some(old) = h.seen_order.pop_front()
        {
            h.seen.remove(&old);
        }
        h.due.push_back((Instant::now() + h.grace, id));
        if h.due.len() > HEALTH_DUE {
            self.settle_due(true);
        }
    }

    /// Evaluates every proposal whose grace period is over (with `one_early`, also the
    /// oldest waiting one, to keep the queue bounded).
    fn settle_due(&mut self, one_early: bool) {
        let t = Instant::now();
        let mut early = one_early;
        while let Some(&(at, id)) = self.health.due.front() {
            if at > t && !early {
                break;
            }
            early = false;
            self.health.due.pop_front();
            let Some(view) = self.engine.proposal(&id) else {
                continue;
            };
            let o = view.outcome();
            let settled = Settled {
                proposal: id,
                outcome: match o.verdict {
                    Verdict::Approved => Some(Vote::Yes),
                    Verdict::Rejected => Some(Vote::No),
                    Verdict::Pending => None,
                },
                yes: o.yes,
                no: o.no,
            };
            for tr in self.health.monitor.settle(&settled) {
                self.on_transition(tr);
            }
            self.refresh_health_gauges();
        }
    }

    fn refresh_health_gauges(&self) {
        for h in self.health.monitor.report() {
            let voter = self.member_name(&h.voter);
            let c = h.counts;
            for (kind, n) in [
                ("dissent", c.dissent),
                ("missed", c.missed),
                ("invalid_signatures", c.invalid_signatures),
                ("equivocations", c.equivocations),
            ] {
                self.metrics
                    .voter_window
                    .get_or_create(&VoterCountLabel {
                        voter: voter.clone(),
                        kind,
                    })
                    .set(i64::from(n));
            }
        }
    }

    /// A member became degraded or recovered: log, gauge, API event, webhook.
    fn on_transition(&mut self, t: Transition) {
        let name = self.member_name(&t.voter);
        let reasons: Vec<String> = t
            .reasons
            .iter()
            .map(|r| {
                serde_json::to_value(r)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .unwrap_or_default()
            })
            .collect();
        let c = t.counts;
        if t.degraded {
            warn!(
                voter = %name,
                reasons = %reasons.join(","),
                dissent = c.dissent,
                missed = c.missed,
                invalid_signatures = c.invalid_signatures,
                equivocations = c.equivocations,
                window = t.window,
                "voter degraded"
            );
        } else {
            info!(
                voter = %name,
                was = %reasons.join(","),
                dissent = c.dissent,
                missed = c.missed,
                window = t.window,
                "voter recovered"
            );
        }
        self.metrics
            .voter_degraded
            .get_or_create(&VoterLabel {
                voter: name.clone(),
            })
            .set(i64::from(t.degraded));
        Metrics::inc(
            &self.metrics.health_transitions,
            ResultLabel {
                result: if t.degraded { "degraded" } else { "recovered" },
            },
        );
        self.refresh_health_gauges();
        let change = HealthChange {
            voter: t.voter,
            name: name.clone(),
            reasons: t.reasons.clone(),
            counts: c,
            window: t.window,
            evidence: t.evidence.clone(),
            at: now(),
        };
        if let Some(hook) = &self.webhook {
            let th = self.health.monitor.thresholds();
            let me = self.engine.voter_id();
            let body = serde_json::json!({
                "event": if t.degraded { "voter_degraded" } else { "voter_recovered" },
                "voter": t.voter,
                "voter_name": name,
                "degraded": t.degraded,
                "reasons": t.reasons,
                "counts": c,
                "window": { "settled": t.window, "size": th.window },
                "thresholds": {
                    "dissent": th.dissent,
                    "missed": th.missed,
                    "invalid_signatures": th.invalid_signatures,
                    "degrade_after": th.degrade_after,
                    "recover_after": th.recover_after,
                },
                "evidence": t.evidence,
                "node": {
                    "name": self.member_name(&me),
                    "voter": me,
                    "peer_id": self.swarm.local_peer_id().to_string(),
                    "swarm": self.engine.roster().swarm().to_string(),
                },
                "at": change.at,
            });
            hook.send(&body);
        }
        self.publish_event(NodeEvent::Health(if t.degraded {
            HealthEvent::VoterDegraded(change)
        } else {
            HealthEvent::VoterRecovered(change)
        }));
    }

    fn log_status(&self) {
        let s = self.status_report();
        let count = |k: &str| s.counts.get(k).copied().unwrap_or(0);
        info!(
            peers = s.peers.len(),
            mesh = s.mesh_peers,
            pending = count("pending"),
            approved = count("approved"),
            rejected = count("rejected"),
            expired = count("expired"),
            orphans = s.orphans,
            last_decision_ms = s.last_decision_ms,
            "status"
        );
    }

    // -----------------------------------------------------------------------------------
    // Outputs
    // -----------------------------------------------------------------------------------

    fn drain(&mut self) -> Result<(), StoreError> {
        // Evaluator votes can produce more outputs; loop until quiet.
        loop {
            let mut outputs = Vec::new();
            persist::drain(&mut self.engine, &mut self.store, |o| outputs.push(o))?;
            // Everything persisted (own ballots synced): replies may now go out.
            for r in self.pending_replies.drain(..) {
                match r {
                    PendingReply::Vote(tx, result) => {
                        let _ = tx.send(result);
                    }
                }
            }
            if outputs.is_empty() {
                return Ok(());
            }
            let mut votes = Vec::new();
            let mut approved = Vec::new();
            for o in outputs {
                match o {
                    Output::Validation { tag, result, .. } => self.report_validation(tag, result),
                    Output::Broadcast(bytes) => self.publish(bytes),
                    Output::Event(e) => {
                        if let Event::ProposalSeen { proposal, .. } = &e
                            && let Some(view) = self.engine.proposal(proposal)
                            && let Some((vote, reason)) = self.evaluator.evaluate(view.proposal())
                        {
                            votes.push((*proposal, vote, reason));
                        }
                        if let Event::Decided {
                            proposal,
                            verdict: Verdict::Approved,
                            ..
                        } = &e
                        {
                            approved.push(*proposal);
                        }
                        self.log_event(&e);
                        self.observe(&e);
                        self.publish_event(NodeEvent::Engine(e));
                    }
                    Output::Persist(_) => {}
                    Output::SyncResponse {
                        peer,
                        tag,
                        response,
                    } => self.answer_sync(peer, tag, &response),
                    Output::SyncRequest { peer, request, .. } => {
                        self.follow_up_sync(peer, &request);
                    }
                }
            }
            let t = now();
            for (id, vote, reason) in votes {
                match self.engine.vote(t, id, vote, reason) {
                    Ok(_) => debug!(proposal = %id.short(), %vote, "evaluator voted"),
                    Err(e) => debug!(proposal = %id.short(), error = %e, "evaluator vote refused"),
                }
            }
            for id in approved {
                self.executor
                    .on_approved(&self.engine, &mut self.store, id, now());
                match self.store.execution(&id) {
                    Ok(Some(r)) if r.state == ExecutionState::Refused => {
                        Metrics::inc(&self.metrics.executions, ResultLabel { result: "refused" });
                    }
                    Ok(Some(r)) if r.state == ExecutionState::Started => {
                        self.running.insert(id);
                    }
                    _ => {}
                }
            }
        }
    }

    // -----------------------------------------------------------------------------------
    // Command evaluator and executor hooks
    // -----------------------------------------------------------------------------------

    /// A command evaluator's verdict: cast through the own-vote guard; the loop's `drain`
    /// then makes it durable before it is broadcast.
    fn on_verdict(&mut self, v: CommandVerdict) {
        let id = v.proposal;
        match self.engine.vote(now(), id, v.vote, v.reason) {
            Ok(_) => debug!(proposal = %id.short(), vote = %v.vote, "evaluator voted"),
            Err(e @ CommandError::AlreadyVoted { .. }) => {
                warn!(proposal = %id.short(), error = %e, "evaluator vote refused");
            }
            Err(e) => debug!(proposal = %id.short(), error = %e, "evaluator vote refused"),
        }
    }

    /// An executor process ended: record its result.
    fn on_execution_done(&mut self, done: Done) {
        self.executor.on_done(&mut self.store, done, now());
        // `Done` does not name its proposal; find which of ours finished.
        let finished: Vec<(ProposalId, &'static str)> = self
            .running
            .iter()
            .filter_map(|id| match self.store.execution(id) {
                Ok(Some(r)) if r.state.is_terminal() => {
                    let ok = r.state == ExecutionState::Finished
                        && r.exit_code == Some(0)
                        && r.error.is_none();
                    Some((*id, if ok { "ok" } else { "failed" }))
                }
                _ => None,
            })
            .collect();
        for (id, result) in finished {
            self.running.remove(&id);
            Metrics::inc(&self.metrics.executions, ResultLabel { result });
        }
    }

    fn execution_record(&self, id: &ProposalId) -> Option<ExecutionRecord> {
        self.store.execution(id).unwrap_or_else(|e| {
            warn!(proposal = %id.short(), error = %e, "cannot read the execution record");
            None
        })
    }

    fn report_validation(&mut self, tag: MessageTag, result: Validation) {
        let Some((id, source, kind)) = self.pending.remove(&tag) else {
            return;
        };
        if kind == Some(Kind::Ballot) {
            match &result {
                Validation::Accept => {}
                Validation::Reject(r) => Metrics::inc(
                    &self.metrics.ballots_rejected,
                    ReasonLabel {
                        reason: reject_label(r),
                    },
                ),
                Validation::Ignore(r) => Metrics::inc(
                    &self.metrics.ballots_ignored,
                    ReasonLabel {
                        reason: ignore_label(r),
                    },
                ),
            }
        }
        let acceptance = match result {
            Validation::Accept => MessageAcceptance::Accept,
            Validation::Ignore(_) => MessageAcceptance::Ignore,
            Validation::Reject(_) => MessageAcceptance::Reject,
        };
        self.swarm
            .behaviour_mut()
            .gossipsub
            .report_message_validation_result(&id, &source, acceptance);
    }

    fn publish(&mut self, bytes: Vec<u8>) {
        if self.outbox.len() >= OUTBOX {
            warn!(
                queued = self.outbox.len(),
                "publish queue full; dropping the oldest (catch-up repairs it)"
            );
            self.outbox.pop_front();
        }
        self.outbox.push_back(bytes);
        self.flush_outbox();
    }

    fn flush_outbox(&mut self) {
        let rate = f64::from(self.settings.publish_rate.max(1));
        let elapsed = self.refilled.elapsed().as_secs_f64();
        self.refilled = Instant::now();
        self.tokens = (self.tokens + elapsed * rate).min(rate);
        while self.tokens >= 1.0 {
            let Some(bytes) = self.outbox.pop_front() else {
                return;
            };
            match self
                .swarm
                .behaviour_mut()
                .gossipsub
                .publish(self.topic.clone(), bytes.clone())
            {
                Ok(_) => {
                    self.tokens -= 1.0;
                    self.count_traffic("out", bytes.len());
                    let t = &mut self.stats.traffic;
                    t.messages_out = t.messages_out.saturating_add(1);
                    t.bytes_out = t
                        .bytes_out
                        .saturating_add(u64::try_from(bytes.len()).unwrap_or(u64::MAX));
                }
                Err(PublishError::Duplicate) => self.tokens -= 1.0,
                Err(PublishError::NoPeersSubscribedToTopic | PublishError::AllQueuesFull(_)) => {
                    // No mesh yet, or peers are slow: keep it and retry shortly.
                    self.outbox.push_front(bytes);
                    return;
                }
                Err(e) => {
                    warn!(error = %e, "publish failed; dropping the message");
                    self.tokens -= 1.0;
                }
            }
        }
    }

    fn redial(&mut self) {
        let t = Instant::now();
        for i in 0..self.redial.len() {
            let Some(r) = self.redial.get_mut(i) else {
                break;
            };
            if r.connected || t < r.next {
                continue;
            }
            r.next = t + r.backoff;
            r.backoff = (r.backoff * 2).min(Duration::from_secs(30));
            let addr = r.addr.clone();
            if let Err(e) = self.swarm.dial(addr.clone()) {
                debug!(%addr, error = %e, "dial");
            }
        }
    }

    fn log_event(&mut self, e: &Event) {
        let name = |v: &VoterId, roster: &swarmvote_protocol::Roster| {
            roster
                .member(v)
                .map_or_else(|| v.short(), |m| m.name.to_string())
        };
        match e {
            Event::ProposalSeen {
                proposal,
                action,
                local,
                ..
            } => debug!(proposal = %proposal.short(), %action, local, "proposal seen"),
            Event::BallotAccepted {
                proposal,
                voter,
                vote,
                latency_ms,
                own,
            } => debug!(
                proposal = %proposal.short(),
                voter = %name(voter, self.engine.roster()),
                %vote,
                latency_ms,
                own,
                "ballot accepted"
            ),
            Event::Decided {
                proposal,
                action,
                verdict,
                yes,
                no,
                latency_ms,
                conflicting,
            } => {
                self.stats.last_decision_ms = Some(*latency_ms);
                if self.stats.decided_order.len() >= DECISION_TIMES
                    && let Some(old) = self.stats.decided_order.pop_front()
                {
                    self.stats.decided_us.remove(&old);
                }
                if self.stats.decided_us.insert(*proposal, now_us()).is_none() {
                    self.stats.decided_order.push_back(*proposal);
                }
                info!(
                    proposal = %proposal.short(),
                    %action,
                    outcome = %verdict,
                    yes,
                    no,
                    latency_ms,
                    conflicting,
                    "decided"
                );
            }
            Event::Equivocation { evidence } => warn!(
                proposal = %evidence.proposal().short(),
                voter = %name(&evidence.voter(), self.engine.roster()),
                "equivocation"
            ),
            Event::InvalidMessage { peer, reason } => warn!(
                peer = %self.peer_name(*peer),
                %reason,
                "invalid message"
            ),
            Event::Expired { proposal } => info!(proposal = %proposal.short(), "expired"),
        }
    }
}

/// A rejection reason as a metric label.
fn reject_label(r: &RejectReason) -> &'static str {
    match r {
        RejectReason::Malformed(_) => "malformed",
        RejectReason::BadSignature { .. } => "bad_signature",
        RejectReason::NotAMember { .. } => "not_a_member",
        RejectReason::InvalidEvidence(_) => "invalid_evidence",
    }
}

/// An ignore reason as a metric label.
fn ignore_label(r: &IgnoreReason) -> &'static str {
    match r {
        IgnoreReason::Duplicate => "duplicate",
        IgnoreReason::OtherSwarm => "other_swarm",
        IgnoreReason::UnknownRoster => "unknown_roster",
        IgnoreReason::Expired => "expired",
        IgnoreReason::FromTheFuture => "from_the_future",
        IgnoreReason::BufferFull => "buffer_full",
        IgnoreReason::Capacity => "capacity",
    }
}
