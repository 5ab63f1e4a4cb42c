//! Telemetry: engine events as log lines and metrics, the status line, traffic
//! counters, and degraded-voter detection (feeding the monitor, settling proposals after
//! their grace period, reporting transitions).

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::Duration;

use swarmvote_protocol::engine::{Event, IgnoreReason, RejectReason};
use swarmvote_protocol::{ProposalId, Verdict, Vote, VoterId};
use tokio::time::Instant;
use tracing::{debug, error, info, warn};

use super::Driver;
use crate::api::{BallotLatency, HealthChange, HealthEvent, NodeEvent, Traffic};
use crate::daemon::clock::{now, now_us};
use crate::daemon::health::{Monitor, Settled, Thresholds, Transition};
use crate::daemon::metrics::{
    DirectionLabel, Metrics, ReasonLabel, ResultLabel, SyncLabel, VerdictLabel, VoteLabel,
    VoterCountLabel, VoterLabel,
};
use crate::daemon::webhook::{self, Webhook};

/// Decision times kept for the API (microsecond wall clock), bounded.
const DECISION_TIMES: usize = 200_000;
/// Proposals whose ballots' acceptance times are kept for the API, bounded.
const BALLOT_TIMES: usize = 10_000;
/// Proposals waiting for their health evaluation; beyond, the oldest is evaluated early.
const HEALTH_DUE: usize = 100_000;

/// Metrics, counters, degraded-voter detection and the webhook.
pub(super) struct Telemetry {
    pub(super) metrics: Metrics,
    pub(super) stats: Stats,
    pub(super) health: HealthState,
    pub(super) webhook: Option<Webhook>,
}

/// Degraded-voter detection: the monitor and the proposals waiting for their grace period.
pub(super) struct HealthState {
    pub(super) monitor: Monitor,
    grace: Duration,
    due: VecDeque<(Instant, ProposalId)>,
    /// Proposals due or already evaluated (bounded like `due`): a proposal enters the
    /// window once, even if an equivocation turns its rejection into an approval.
    seen: BTreeSet<ProposalId>,
    seen_order: VecDeque<ProposalId>,
}

/// Counters for the status line and the API.
#[derive(Default)]
pub(super) struct Stats {
    pub(super) last_decision_ms: Option<u64>,
    pub(super) traffic: Traffic,
    pub(super) decided_us: BTreeMap<ProposalId, u64>,
    decided_order: VecDeque<ProposalId>,
    /// When each ballot was accepted, as ms after its proposal's creation. One entry per
    /// member (ballots come only from members), for the last [`BALLOT_TIMES`] proposals.
    pub(super) ballot_ms: BTreeMap<ProposalId, Vec<BallotLatency>>,
    ballot_order: VecDeque<ProposalId>,
}

impl Stats {
    fn ballot_accepted(&mut self, proposal: ProposalId, voter: VoterId, latency_ms: u64) {
        if !self.ballot_ms.contains_key(&proposal) {
            if self.ballot_order.len() >= BALLOT_TIMES
                && let Some(old) = self.ballot_order.pop_front()
            {
                self.ballot_ms.remove(&old);
            }
            self.ballot_order.push_back(proposal);
        }
        let list = self.ballot_ms.entry(proposal).or_default();
        // The first ballot of a voter counts (an equivocator's second one does not).
        if !list.iter().any(|b| b.voter == voter) {
            list.push(BallotLatency { voter, latency_ms });
        }
    }
}

impl Telemetry {
    pub(super) fn new(
        metrics: Metrics,
        thresholds: Thresholds,
        grace: Duration,
        members: impl IntoIterator<Item = VoterId>,
        webhook: Option<Webhook>,
    ) -> Self {
        Self {
            metrics,
            stats: Stats::default(),
            health: HealthState {
                monitor: Monitor::new(thresholds, members),
                grace,
                due: VecDeque::new(),
                seen: BTreeSet::new(),
                seen_order: VecDeque::new(),
            },
            webhook,
        }
    }

    /// Counts one gossip message, in or out, in the metrics and the status counters.
    pub(super) fn count_traffic(&mut self, direction: &'static str, bytes: usize) {
        let label = DirectionLabel { direction };
        self.metrics.gossip_messages.get_or_create(&label).inc();
        let n = u64::try_from(bytes).unwrap_or(u64::MAX);
        self.metrics.gossip_bytes.get_or_create(&label).inc_by(n);
        let t = &mut self.stats.traffic;
        if direction == "in" {
            t.messages_in = t.messages_in.saturating_add(1);
            t.bytes_in = t.bytes_in.saturating_add(n);
        } else {
            t.messages_out = t.messages_out.saturating_add(1);
            t.bytes_out = t.bytes_out.saturating_add(n);
        }
    }
}

impl Driver {
    /// Counts an engine event and feeds the health monitor.
    pub(super) fn observe(&mut self, e: &Event) {
        let m = &self.telemetry.metrics;
        match e {
            Event::ProposalSeen { .. } => {
                m.proposals_seen.inc();
            }
            Event::BallotAccepted {
                proposal,
                voter,
                vote,
                latency_ms,
                ..
            } => {
                self.telemetry
                    .stats
                    .ballot_accepted(*proposal, *voter, *latency_ms);
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
            Event::Doppelganger { .. } => {
                m.doppelganger_detected.set(1);
            }
            Event::EpochChanged { epoch, .. } => {
                m.roster_epoch
                    .set(i64::try_from(*epoch).unwrap_or(i64::MAX));
                m.quorum_required
                    .set(i64::from(self.engine.roster().required()));
            }
            Event::ChangeSuperseded { .. } | Event::Receipt { .. } => {}
            Event::Expired { proposal } => {
                m.expired.inc();
                self.schedule_settle(*proposal);
            }
            Event::Equivocation { evidence } => {
                m.equivocations.inc();
                if let Some(t) = self
                    .telemetry
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
                    self.telemetry.health.monitor.invalid_signature(signer);
                }
            }
        }
    }

    /// Queues a decided or expired proposal for its health evaluation after the grace
    /// period, once.
    fn schedule_settle(&mut self, id: ProposalId) {
        let h = &mut self.telemetry.health;
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
    pub(super) fn settle_due(&mut self, one_early: bool) {
        let t = Instant::now();
        let mut early = one_early;
        while let Some(&(at, id)) = self.telemetry.health.due.front() {
            if at > t && !early {
                break;
            }
            early = false;
            self.telemetry.health.due.pop_front();
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
                electorate: self
                    .engine
                    .chain()
                    .get(&view.proposal().proposal().roster)
                    .map(|r| r.members().map(|(v, _)| *v).collect()),
            };
            for tr in self.telemetry.health.monitor.settle(&settled) {
                self.on_transition(tr);
            }
            self.refresh_health_gauges();
        }
    }

    fn refresh_health_gauges(&self) {
        for h in self.telemetry.health.monitor.report() {
            let voter = self.member_name(&h.voter);
            let c = h.counts;
            for (kind, n) in [
                ("dissent", c.dissent),
                ("missed", c.missed),
                ("invalid_signatures", c.invalid_signatures),
                ("equivocations", c.equivocations),
            ] {
                self.telemetry
                    .metrics
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
    pub(super) fn on_transition(&mut self, t: Transition) {
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
        self.telemetry
            .metrics
            .voter_degraded
            .get_or_create(&VoterLabel {
                voter: name.clone(),
            })
            .set(i64::from(t.degraded));
        Metrics::inc(
            &self.telemetry.metrics.health_transitions,
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
        if let Some(hook) = &self.telemetry.webhook {
            let node = self.node_info();
            hook.send(&webhook::health_body(
                &change,
                t.degraded,
                self.telemetry.health.monitor.thresholds(),
                &node,
            ));
        }
        self.publish_event(NodeEvent::Health(if t.degraded {
            HealthEvent::VoterDegraded(change)
        } else {
            HealthEvent::VoterRecovered(change)
        }));
    }

    /// This node, as webhook bodies name it.
    pub(super) fn node_info(&self) -> webhook::NodeInfo {
        let me = self.engine.voter_id();
        webhook::NodeInfo {
            name: self.member_name(&me),
            voter: me,
            peer_id: self.swarm.local_peer_id().to_string(),
            swarm: self.engine.roster().swarm().to_string(),
        }
    }

    pub(super) fn log_status(&self) {
        let s = self.status_report();
        let count = |k: &str| s.counts.get(k).copied().unwrap_or(0);
        info!(
            peers = s.peers.len(),
            mesh = s.mesh_peers,
            unreachable = s.unreachable.len(),
            pending = count("pending"),
            approved = count("approved"),
            rejected = count("rejected"),
            expired = count("expired"),
            orphans = s.orphans,
            last_decision_ms = s.last_decision_ms,
            "status"
        );
    }

    pub(super) fn log_event(&mut self, e: &Event) {
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
                self.telemetry.stats.last_decision_ms = Some(*latency_ms);
                if self.telemetry.stats.decided_order.len() >= DECISION_TIMES
                    && let Some(old) = self.telemetry.stats.decided_order.pop_front()
                {
                    self.telemetry.stats.decided_us.remove(&old);
                }
                if self
                    .telemetry
                    .stats
                    .decided_us
                    .insert(*proposal, now_us())
                    .is_none()
                {
                    self.telemetry.stats.decided_order.push_back(*proposal);
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
                peer = %self.peers.name(*peer),
                %reason,
                "invalid message"
            ),
            Event::Expired { proposal } => info!(proposal = %proposal.short(), "expired"),
            Event::Receipt {
                proposal,
                executor,
                exit_code,
                standing,
            } if standing.is_backed() => info!(
                proposal = %proposal.short(),
                executor = %name(executor, self.engine.roster()),
                exit_code,
                "execution receipt"
            ),
            Event::Receipt {
                proposal,
                executor,
                exit_code,
                standing,
            } => warn!(
                proposal = %proposal.short(),
                executor = %name(executor, self.engine.roster()),
                exit_code,
                %standing,
                "unbacked execution receipt: evidence against its executor"
            ),
            Event::EpochChanged {
                epoch,
                roster,
                proposal,
                member,
            } if *member => info!(
                epoch,
                roster = %roster.short(),
                proposal = %proposal.short(),
                "roster epoch changed"
            ),
            Event::EpochChanged {
                epoch,
                roster,
                proposal,
                ..
            } => warn!(
                epoch,
                roster = %roster.short(),
                proposal = %proposal.short(),
                "roster epoch changed: this node's key is no longer a member"
            ),
            Event::ChangeSuperseded { proposal, epoch } => warn!(
                proposal = %proposal.short(),
                epoch,
                "roster change approved but superseded by a lower-id change at its epoch"
            ),
            Event::Doppelganger {
                proposal,
                vote,
                peer,
            } => error!(
                proposal = %proposal.short(),
                message = %format!("ballot {vote}"),
                peer = %peer.map_or_else(|| "unknown".to_string(), |p| self.peers.name(p)),
                voter = %self.engine.voter_id().short(),
                "doppelganger: a message signed with this node's voter key that this node did not sign"
            ),
        }
    }

    pub(super) fn count_sync(&self, role: &'static str, result: &'static str) {
        Metrics::inc(&self.telemetry.metrics.syncs, SyncLabel { role, result });
    }
}

/// A rejection reason as a metric label.
pub(super) fn reject_label(r: &RejectReason) -> &'static str {
    match r {
        RejectReason::Malformed(_) => "malformed",
        RejectReason::BadSignature { .. } => "bad_signature",
        RejectReason::NotAMember { .. } => "not_a_member",
        RejectReason::InvalidEvidence(_) => "invalid_evidence",
        RejectReason::InvalidChange(_) => "invalid_change",
        RejectReason::InvalidStep(_) => "invalid_step",
    }
}

/// An ignore reason as a metric label.
pub(super) fn ignore_label(r: &IgnoreReason) -> &'static str {
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
