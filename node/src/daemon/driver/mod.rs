//! The driver: the only place that touches both the engine and I/O.
//!
//! It owns the engine, the store and the libp2p swarm. Inputs (gossip messages, catch-up
//! requests and responses, commands from the API, timers) go to the engine; its outputs
//! are acted on in order through [`persist::drain`], so an own ballot is on disk before
//! it is published. Other tasks talk to it through a [`Client`]: a bounded channel of
//! commands with one-shot replies.
//!
//! This module holds the select loop, the dispatch of inputs and the drain; each concern
//! it dispatches to keeps its state in its own module: `peers` (tags, admission,
//! refusals), `sync` (catch-up), `inbox` (gossip validation), `outbox` (rate-limited
//! publishing), `bootstrap` (configured peers: redial, failures), `discovery` (finding
//! the other members), `queries` (the API's questions), `roster` (what follows a roster
//! epoch change), `events` (the API's event stream), `telemetry` (log lines, metrics,
//! health), `executions` (the executor's outcomes, recorded) and `doppelganger` (the
//! start-up listening window and the stop when another instance of the voter key signs).

mod bootstrap;
mod discovery;
mod doppelganger;
mod events;
pub(crate) mod executions;
mod handle;
mod history;
mod inbox;
mod outbox;
mod peers;
mod queries;
mod roster;
mod sync;
mod telemetry;

use std::time::Duration;

use futures::{FutureExt, StreamExt};
use libp2p::swarm::SwarmEvent;
use libp2p::{Multiaddr, Swarm, identify};
use libp2p::{gossipsub, request_response};
use swarmvote_protocol::engine::{
    CommandError, Engine, Event, MessageTag, Output, PeerTag, SyncRequest, SyncResponse, SyncTag,
    Validation,
};
use swarmvote_protocol::{Nonce, ProposalId, Reason, SignedBallot, Verdict, Vote};
use tokio::sync::{broadcast, mpsc, oneshot};
use tokio::time::{Instant, MissedTickBehavior};
use tracing::{debug, info, warn};

use self::bootstrap::Bootstrap;
pub use self::doppelganger::EXIT_CODE as DOPPELGANGER_EXIT_CODE;
use self::doppelganger::Guard;
use self::events::EventLog;
pub use self::handle::{Client, Command, ListFilter, Stopped};
pub use self::history::{ExportPage, ExportRequest};
use self::inbox::Inbox;
use self::outbox::Outbox;
use self::peers::Peers;
use self::sync::Syncs;
use self::telemetry::Telemetry;
use crate::api::{NodeEvent, RosterHistory, RosterView};
use crate::daemon::clock::now;
use crate::daemon::evaluator::{CommandVerdict, Evaluator};
use crate::daemon::executor::{Done, Executor};
use crate::daemon::health::Thresholds;
use crate::daemon::metrics::Metrics;
use crate::daemon::network::codec::SyncCodec;
use crate::daemon::network::discovery::Pace;
use crate::daemon::network::{self, Behaviour, BehaviourEvent};
use crate::daemon::persist::{self, Durable};
use crate::daemon::store::{Store, StoreError};
use crate::daemon::webhook::Webhook;

/// Commands queued from other tasks.
const COMMAND_QUEUE: usize = 1024;
/// Commands, or network events, handled before outputs are drained: under load, one
/// fsync then covers the own ballots of the whole batch.
const COMMAND_BATCH: usize = 256;

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
    /// Where health transitions and doppelganger alarms are POSTed.
    pub webhook: Option<Webhook>,
    /// How long to listen for another instance of the voter key before signing; zero
    /// turns the window off.
    pub doppelganger_listen: Duration,
}

/// Why [`Driver::run`] returned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exit {
    /// The shutdown future resolved (a signal), or every client went away.
    Stopped,
    /// Another instance of this node's voter key signed: this node stopped signing and
    /// must exit with [`DOPPELGANGER_EXIT_CODE`].
    Doppelganger,
}

/// A reply held until the outputs it depends on are durable.
enum PendingReply {
    Vote(
        oneshot::Sender<Result<SignedBallot, CommandError>>,
        Result<SignedBallot, CommandError>,
    ),
}

/// The periods of the loop's timers.
struct Timers {
    status: Duration,
    sync: Duration,
}

/// The event loop.
pub struct Driver {
    engine: Engine,
    store: Store,
    swarm: Swarm<Behaviour>,
    evaluator: Evaluator,
    executor: Executor,
    timers: Timers,
    commands: mpsc::Receiver<Command>,
    events: EventLog,
    peers: Peers,
    inbox: Inbox,
    outbox: Outbox,
    bootstrap: Bootstrap,
    /// When to look for members, and when to dial those found again.
    pace: Pace,
    syncs: Syncs,
    telemetry: Telemetry,
    /// Replies waiting for the next drain to make what they report durable.
    pending_replies: Vec<PendingReply>,
    /// The start-up window's length.
    doppelganger_listen: Duration,
    /// Doppelganger protection: the window and the stop.
    guard: Guard,
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
        // The genesis roster names the swarm for good: nodes at different epochs (one
        // catching up) must still admit each other.
        let version = network::protocol_version(engine.chain().genesis());
        let telemetry = Telemetry::new(
            settings.metrics,
            settings.health,
            settings.health_grace,
            engine.roster().members().map(|(v, _)| *v),
            settings.webhook,
        );
        let client = Client {
            commands: tx,
            events: events.clone(),
        };
        (
            Self {
                engine,
                store,
                swarm,
                evaluator,
                executor,
                timers: Timers {
                    status: settings.status_interval,
                    sync: settings.sync_interval,
                },
                commands: rx,
                events: EventLog::new(events),
                peers: Peers::new(version),
                inbox: Inbox::default(),
                outbox: Outbox::new(topic, settings.publish_rate),
                bootstrap: Bootstrap::new(&settings.bootstrap),
                pace: discovery::pace(),
                syncs: Syncs::default(),
                telemetry,
                pending_replies: Vec::new(),
                doppelganger_listen: settings.doppelganger_listen,
                guard: Guard::idle(),
            },
            client,
        )
    }

    /// Waits for the swarm's next listen address (before [`Driver::run`]; logged as the
    /// loop would), for callers that bound port 0 and must tell others where it is.
    pub async fn next_listen_addr(&mut self) -> Multiaddr {
        loop {
            if let SwarmEvent::NewListenAddr { address, .. } = self.swarm.select_next_some().await {
                info!(address = %address, "listening");
                return address;
            }
        }
    }

    /// Runs until `shutdown` resolves, or a doppelganger alarm stops the node, then
    /// flushes the store.
    pub async fn run(
        mut self,
        shutdown: impl std::future::Future<Output = ()>,
    ) -> Result<Exit, StoreError> {
        // Nothing is signed before this: restore only re-sends ballots signed before.
        self.guard = Guard::start(&mut self.engine, self.doppelganger_listen, Instant::now());
        // Own ballots re-sent by restore, and anything else queued before the loop.
        self.drain()?;
        // No peer is admitted yet: a quorum is reachable alone only at q = 1.
        let q = self.engine.roster().required();
        self.telemetry.metrics.quorum_required.set(i64::from(q));
        self.telemetry
            .metrics
            .quorum_reachable
            .set(i64::from(q <= 1));
        let mut exit = Exit::Stopped;
        let mut status = tokio::time::interval(if self.timers.status.is_zero() {
            Duration::from_secs(3600 * 24 * 365)
        } else {
            self.timers.status
        });
        status.set_missed_tick_behavior(MissedTickBehavior::Delay);
        status.tick().await;
        let mut sync = tokio::time::interval(self.timers.sync.max(Duration::from_millis(100)));
        sync.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut housekeeping = tokio::time::interval(Duration::from_millis(100));
        housekeeping.set_missed_tick_behavior(MissedTickBehavior::Delay);
        tokio::pin!(shutdown);
        loop {
            let deadline = self.tick_deadline();
            let guard_at = self
                .guard
                .deadline()
                .unwrap_or_else(|| Instant::now() + Duration::from_secs(3600));
            tokio::select! {
                biased;
                () = &mut shutdown => break,
                () = tokio::time::sleep_until(guard_at) => {
                    let now_i = Instant::now();
                    if self.guard.must_exit(now_i) {
                        exit = Exit::Doppelganger;
                        break;
                    }
                    for (id, vote, reason) in self.guard.end_window(&mut self.engine, now_i) {
                        self.cast_evaluator_vote(id, vote, reason);
                    }
                }
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
                    self.bootstrap.redial(&mut self.swarm);
                    self.walk();
                    self.outbox.flush(&mut self.swarm.behaviour_mut().gossipsub, &mut self.telemetry);
                    self.settle_due(false);
                }
            }
            self.drain()?;
        }
        info!("shutting down");
        self.store.sync()?;
        self.store.flush()?;
        Ok(exit)
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

    // -----------------------------------------------------------------------------------
    // Swarm events
    // -----------------------------------------------------------------------------------

    fn on_swarm_event(&mut self, event: SwarmEvent<BehaviourEvent>) {
        match event {
            SwarmEvent::Behaviour(BehaviourEvent::Gossipsub(gossipsub::Event::Message {
                propagation_source,
                message_id,
                message,
            })) => self.on_gossip(propagation_source, message_id, &message),
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
                self.peers
                    .refusing
                    .sent(&peer_id, Instant::now().into_std());
            }
            SwarmEvent::Behaviour(BehaviourEvent::Mdns(libp2p::mdns::Event::Discovered(found))) => {
                for (peer, addr) in found {
                    debug!(%peer, %addr, "mdns discovered");
                    let _ = self.swarm.dial(addr);
                }
            }
            SwarmEvent::Behaviour(BehaviourEvent::Kad(event)) => self.on_kad(event),
            SwarmEvent::NewListenAddr { address, .. } => {
                info!(address = %address, "listening");
            }
            SwarmEvent::ConnectionEstablished {
                peer_id,
                connection_id,
                endpoint,
                ..
            } => {
                debug!(peer = %peer_id, addr = %endpoint.get_remote_address(), "connected");
                self.bootstrap.established(connection_id, peer_id);
                self.pace.connected(&peer_id);
            }
            SwarmEvent::ConnectionClosed {
                peer_id,
                connection_id,
                num_established,
                ..
            } => {
                self.bootstrap.closed(connection_id);
                if num_established == 0 {
                    self.on_disconnected(peer_id);
                }
            }
            SwarmEvent::OutgoingConnectionError {
                connection_id,
                peer_id,
                error,
            } => {
                // A configured peer's failure is logged (rate-limited) by `bootstrap`.
                let configured = self.bootstrap.failed(connection_id, &error);
                if !configured {
                    debug!(peer = ?peer_id, %error, "dial failed");
                }
            }
            SwarmEvent::ListenerError { error, .. } => warn!(%error, "listener error"),
            _ => {}
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
                let r = self
                    .report(&proposal, t)
                    .or_else(|| self.archived_report(&proposal, t));
                let _ = reply.send(r);
            }
            Command::Receipts { proposal, reply } => {
                let _ = reply.send(self.receipt_reports(&proposal));
            }
            Command::Certificate { proposal, reply } => {
                let _ = reply.send(self.any_certificate(&proposal));
            }
            Command::Export { request, reply } => {
                let r = self.export_page(&request, t).map_err(|e| e.to_string());
                let _ = reply.send(r);
            }
            Command::Seal {
                chain,
                lines,
                reply,
            } => {
                let _ = reply.send(self.seal(&chain, lines));
            }
            Command::List { filter, reply } => {
                let page = if filter.history {
                    self.list_history(&filter, t)
                } else {
                    self.list(&filter, t)
                };
                let _ = reply.send(page);
            }
            Command::Events { after, reply } => {
                let _ = reply.send(self.events.resume(after));
            }
            Command::Status { reply } => {
                let _ = reply.send(self.status_report());
            }
            Command::Roster { reply } => {
                let _ = reply.send(RosterView::head(self.engine.chain()));
            }
            Command::RosterHistory { reply } => {
                let _ = reply.send(RosterHistory::of(self.engine.chain()));
            }
        }
    }

    fn publish_event(&mut self, event: NodeEvent) {
        self.events.publish(event);
    }

    // -----------------------------------------------------------------------------------
    // Outputs
    // -----------------------------------------------------------------------------------

    fn drain(&mut self) -> Result<(), StoreError> {
        // Evaluator votes can produce more outputs; loop until quiet.
        loop {
            let behaviour = self.swarm.behaviour_mut();
            let mut net = Net {
                gossipsub: &mut behaviour.gossipsub,
                sync: &mut behaviour.sync,
                syncs: &mut self.syncs,
                peers: &self.peers,
                outbox: &mut self.outbox,
                inbox: &mut self.inbox,
                telemetry: &mut self.telemetry,
            };
            let events = drain_round(
                &mut self.engine,
                &mut self.store,
                &mut net,
                &mut self.pending_replies,
            )?;
            if events.is_empty() {
                return Ok(());
            }
            let mut votes = Vec::new();
            let mut approved = Vec::new();
            for e in events {
                self.on_doppelganger(&e);
                if let Event::ProposalSeen { proposal, .. } = &e
                    && let Some(view) = self.engine.proposal(proposal)
                    && let Some((vote, reason)) = self.evaluator.evaluate(
                        view.proposal(),
                        self.engine
                            .roster()
                            .member(&view.proposal().proposal().proposer)
                            .map(|m| m.name.as_str()),
                    )
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
                self.on_epoch_event(&e);
                self.publish_event(NodeEvent::Engine(e));
            }
            for (id, vote, reason) in votes {
                if !self.guard.hold(&self.engine, (id, vote, reason.clone())) {
                    self.cast_evaluator_vote(id, vote, reason);
                }
            }
            for id in approved {
                executions::on_approved(
                    &mut self.executor,
                    &self.engine,
                    &mut self.store,
                    &self.telemetry.metrics,
                    id,
                    now(),
                );
            }
        }
    }

    // -----------------------------------------------------------------------------------
    // Command evaluator and executor hooks
    // -----------------------------------------------------------------------------------

    /// An evaluator's verdict, cast now through the own-vote guard.
    fn cast_evaluator_vote(&mut self, id: ProposalId, vote: Vote, reason: Option<Reason>) {
        match self.engine.vote(now(), id, vote, reason) {
            Ok(_) => debug!(proposal = %id.short(), %vote, "evaluator voted"),
            Err(e) => debug!(proposal = %id.short(), error = %e, "evaluator vote refused"),
        }
    }

    /// A doppelganger alarm stops signing for good; the first one also goes to the
    /// webhook. (The ERROR line and the gauge come from `telemetry`.)
    fn on_doppelganger(&mut self, e: &Event) {
        let Some((proposal, vote, peer)) = self.guard.observe(&mut self.engine, e, Instant::now())
        else {
            return;
        };
        if let Some(hook) = &self.telemetry.webhook {
            let node = self.node_info();
            let peer = peer.map_or_else(|| "unknown".to_string(), |p| self.peers.name(p));
            hook.send(&crate::daemon::webhook::doppelganger_body(
                &proposal, vote, &peer, &node,
            ));
        }
    }

    /// A command evaluator's verdict: held during the doppelganger window, else cast
    /// through the own-vote guard; the loop's `drain` then makes it durable before it is
    /// broadcast.
    fn on_verdict(&mut self, v: CommandVerdict) {
        if self
            .guard
            .hold(&self.engine, (v.proposal, v.vote, v.reason.clone()))
        {
            return;
        }
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
        executions::on_done(
            &mut self.executor,
            &mut self.engine,
            &mut self.store,
            &self.telemetry.metrics,
            done,
            now(),
        );
    }
}

/// Where the drain sends what is not a record: the network, and the replies it held.
/// The seam the drain's unit tests replace.
trait Effects {
    /// Publishes bytes on the swarm's topic.
    fn broadcast(&mut self, bytes: Vec<u8>);
    /// Tells gossipsub what the engine made of a message.
    fn validation(&mut self, tag: MessageTag, result: Validation);
    /// Sends a reply that waited for durability.
    fn reply(&mut self, reply: PendingReply);
    /// Answers a peer's catch-up request.
    fn sync_answer(&mut self, peer: PeerTag, tag: SyncTag, response: SyncResponse);
    /// Sends a follow-up catch-up request.
    fn sync_request(&mut self, peer: PeerTag, request: SyncRequest);
}

/// The driver's network, borrowed for one drain round.
struct Net<'a> {
    gossipsub: &'a mut gossipsub::Behaviour,
    sync: &'a mut request_response::Behaviour<SyncCodec>,
    syncs: &'a mut Syncs,
    peers: &'a Peers,
    outbox: &'a mut Outbox,
    inbox: &'a mut Inbox,
    telemetry: &'a mut Telemetry,
}

impl Effects for Net<'_> {
    fn broadcast(&mut self, bytes: Vec<u8>) {
        self.outbox.publish(bytes, self.gossipsub, self.telemetry);
    }

    fn validation(&mut self, tag: MessageTag, result: Validation) {
        self.inbox
            .report(tag, result, self.gossipsub, &self.telemetry.metrics);
    }

    fn reply(&mut self, reply: PendingReply) {
        match reply {
            PendingReply::Vote(tx, result) => {
                let _ = tx.send(result);
            }
        }
    }

    fn sync_answer(&mut self, peer: PeerTag, tag: SyncTag, response: SyncResponse) {
        self.syncs
            .answer(self.sync, self.peers, peer, tag, &response);
    }

    fn sync_request(&mut self, peer: PeerTag, request: SyncRequest) {
        self.syncs.follow_up(self.sync, self.peers, peer, &request);
    }
}

/// One round of the drain: every record to `store` (own ballots synced), then the
/// held replies, then broadcasts and validation results in the engine's order. Returns
/// the round's events. If persisting fails, nothing is sent and the replies stay held.
fn drain_round(
    engine: &mut Engine,
    store: &mut impl Durable,
    effects: &mut impl Effects,
    replies: &mut Vec<PendingReply>,
) -> Result<Vec<Event>, StoreError> {
    let mut outputs = Vec::new();
    persist::drain(engine, store, |o| outputs.push(o))?;
    // Everything persisted (own ballots synced): replies may now go out.
    for r in replies.drain(..) {
        effects.reply(r);
    }
    let mut events = Vec::new();
    for o in outputs {
        match o {
            Output::Validation { tag, result, .. } => effects.validation(tag, result),
            Output::Broadcast(bytes) => effects.broadcast(bytes),
            Output::Event(e) => events.push(e),
            Output::Persist(_) => {}
            Output::SyncResponse {
                peer,
                tag,
                response,
            } => effects.sync_answer(peer, tag, response),
            Output::SyncRequest { peer, request, .. } => effects.sync_request(peer, request),
        }
    }
    Ok(events)
}

#[cfg(test)]
mod tests;
