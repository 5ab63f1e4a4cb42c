//! Prometheus metrics: one registry per node, served as OpenMetrics text on `GET /metrics`.
//!
//! Every label takes values from a fixed set (statuses, votes, reasons) or from the roster
//! (member names), so no label can grow without bound. The driver updates counters as
//! events happen and refreshes the gauges (proposals by status, peers) just before each
//! scrape.

use std::sync::Arc;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// The content type of [`Metrics::encode`]'s output.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// A label with one value from a fixed set.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StatusLabel {
    /// pending, approved, rejected or expired.
    pub status: &'static str,
}

/// A vote.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct VoteLabel {
    /// yes or no.
    pub vote: &'static str,
}

/// A reason from the engine's fixed lists.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReasonLabel {
    /// The reason, snake case.
    pub reason: &'static str,
}

/// A verdict.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct VerdictLabel {
    /// approved or rejected.
    pub verdict: &'static str,
}

/// A direction of traffic.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DirectionLabel {
    /// in or out.
    pub direction: &'static str,
}

/// A result.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ResultLabel {
    /// What happened.
    pub result: &'static str,
}

/// A catch-up round from one side.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct SyncLabel {
    /// `client` (we asked) or `server` (we answered).
    pub role: &'static str,
    /// ok or failed.
    pub result: &'static str,
}

/// A roster member (bounded by the roster).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct VoterLabel {
    /// The member's roster name.
    pub voter: String,
}

/// A member and one of its health counts.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct VoterCountLabel {
    /// The member's roster name.
    pub voter: String,
    /// dissent, missed, invalid_signatures or equivocations.
    pub kind: &'static str,
}

/// Every metric of the node. Cloning shares them.
#[derive(Clone)]
pub struct Metrics {
    registry: Arc<Registry>,
    /// Proposals held, by status.
    pub proposals: Family<StatusLabel, Gauge>,
    /// Proposals accepted (seen) since start.
    pub proposals_seen: Counter,
    /// Ballots added to a tally, by vote.
    pub ballots_accepted: Family<VoteLabel, Counter>,
    /// Gossiped ballots refused, by reason (provable faults and ignored ones).
    pub ballots_rejected: Family<ReasonLabel, Counter>,
    /// Gossiped ballots ignored (not faults: duplicates, expired, ...), by reason.
    pub ballots_ignored: Family<ReasonLabel, Counter>,
    /// Provably invalid messages (gossip or catch-up), by reason.
    pub invalid_messages: Family<ReasonLabel, Counter>,
    /// Decisions, by verdict.
    pub decisions: Family<VerdictLabel, Counter>,
    /// Proposals that expired undecided.
    pub expired: Counter,
    /// Seconds from a proposal's creation to its decision here.
    pub decision_latency: Histogram,
    /// Connected peers.
    pub peers: Gauge,
    /// Connected peers with the same roster.
    pub admitted_peers: Gauge,
    /// Peers in the gossip mesh.
    pub mesh_peers: Gauge,
    /// Gossip messages, by direction.
    pub gossip_messages: Family<DirectionLabel, Counter>,
    /// Gossip payload bytes, by direction.
    pub gossip_bytes: Family<DirectionLabel, Counter>,
    /// Catch-up rounds, by role and result.
    pub syncs: Family<SyncLabel, Counter>,
    /// Equivocations detected.
    pub equivocations: Counter,
    /// 1 once another instance of this node's voter key was detected (the node then stops
    /// signing and exits), else 0.
    pub doppelganger_detected: Gauge,
    /// The roster chain's head epoch.
    pub roster_epoch: Gauge,
    /// YES votes the head roster's default tier needs (q).
    pub quorum_required: Gauge,
    /// 1 while this node is connected to enough peers for a quorum (itself plus
    /// admitted peers reach q), else 0.
    pub quorum_reachable: Gauge,
    /// Webhook bodies waiting to be delivered.
    pub webhook_queue: Gauge,
    /// API requests refused for their token, by reason.
    pub api_auth_failures: Family<ReasonLabel, Counter>,
    /// Executor runs, by result.
    pub executions: Family<ResultLabel, Counter>,
    /// 1 if the member is degraded, else 0.
    pub voter_degraded: Family<VoterLabel, Gauge>,
    /// A member's counts over the health window.
    pub voter_window: Family<VoterCountLabel, Gauge>,
    /// Health transitions, by result (degraded or recovered).
    pub health_transitions: Family<ResultLabel, Counter>,
    /// Webhook deliveries, by result (delivered, failed, dropped).
    pub webhooks: Family<ResultLabel, Counter>,
}

impl Metrics {
    /// A fresh registry with every metric registered under `swarmvote_`, and per-member
    /// series created for `members` (roster names) so they show before anything happens.
    pub fn new<'a>(members: impl IntoIterator<Item = &'a str>) -> Self {
        let mut r = Registry::with_prefix("swarmvote");
        let m = Self {
            registry: Arc::new(Registry::default()),
            proposals: Family::default(),
            proposals_seen: Counter::default(),
            ballots_accepted: Family::default(),
            ballots_rejected: Family::default(),
            ballots_ignored: Family::default(),
            invalid_messages: Family::default(),
            decisions: Family::default(),
            expired: Counter::default(),
            // 1 ms to about 70 minutes.
            decision_latency: Histogram::new(exponential_buckets(0.001, 2.0, 23)),
            peers: Gauge::default(),
            admitted_peers: Gauge::default(),
            mesh_peers: Gauge::default(),
            gossip_messages: Family::default(),
            gossip_bytes: Family::default(),
            syncs: Family::default(),
            equivocations: Counter::default(),
            doppelganger_detected: Gauge::default(),
            roster_epoch: Gauge::default(),
            quorum_required: Gauge::default(),
            quorum_reachable: Gauge::default(),
            webhook_queue: Gauge::default(),
            api_auth_failures: Family::default(),
            executions: Family::default(),
            voter_degraded: Family::default(),
            voter_window: Family::default(),
            health_transitions: Family::default(),
            webhooks: Family::default(),
        };
        r.register(
            "proposals",
            "Proposals held, by status",
            m.proposals.clone(),
        );
        r.register(
            "proposals_seen",
            "Proposals accepted since start",
            m.proposals_seen.clone(),
        );
        r.register(
            "ballots_accepted",
            "Ballots added to a tally, by vote",
            m.ballots_accepted.clone(),
        );
        r.register(
            "ballots_rejected",
            "Gossiped ballots refused, by reason",
            m.ballots_rejected.clone(),
        );
        r.register(
            "ballots_ignored",
            "Gossiped ballots ignored (duplicates, expired, other swarm...), by reason",
            m.ballots_ignored.clone(),
        );
        r.register(
            "invalid_messages",
            "Provably invalid messages from peers, by reason",
            m.invalid_messages.clone(),
        );
        r.register("decisions", "Decisions, by verdict", m.decisions.clone());
        r.register(
            "expired",
            "Proposals that expired undecided",
            m.expired.clone(),
        );
        r.register(
            "decision_latency_seconds",
            "Seconds from a proposal's creation to its decision here",
            m.decision_latency.clone(),
        );
        r.register("peers", "Connected peers", m.peers.clone());
        r.register(
            "admitted_peers",
            "Connected peers with the same roster",
            m.admitted_peers.clone(),
        );
        r.register(
            "mesh_peers",
            "Peers in the gossip mesh",
            m.mesh_peers.clone(),
        );
        r.register(
            "gossip_messages",
            "Gossip messages, by direction",
            m.gossip_messages.clone(),
        );
        r.register(
            "gossip_bytes",
            "Gossip payload bytes, by direction",
            m.gossip_bytes.clone(),
        );
        r.register(
            "catchup_syncs",
            "Catch-up rounds, by role and result",
            m.syncs.clone(),
        );
        r.register(
            "equivocations",
            "Equivocations detected",
            m.equivocations.clone(),
        );
        r.register(
            "doppelganger_detected",
            "1 once another instance of this node's voter key was detected",
            m.doppelganger_detected.clone(),
        );
        r.register(
            "roster_epoch",
            "The roster chain's head epoch (0 until a roster change is approved)",
            m.roster_epoch.clone(),
        );
        r.register(
            "quorum_required",
            "YES votes the head roster's default tier needs (q)",
            m.quorum_required.clone(),
        );
        r.register(
            "quorum_reachable",
            "1 while this node and its admitted peers reach q, else 0",
            m.quorum_reachable.clone(),
        );
        r.register(
            "api_auth_failures",
            "API requests refused for their token, by reason (missing, wrong_token, cookie_not_allowed)",
            m.api_auth_failures.clone(),
        );
        r.register(
            "webhook_queue",
            "Webhook bodies waiting to be delivered",
            m.webhook_queue.clone(),
        );
        r.register(
            "executions",
            "Executor runs, by result",
            m.executions.clone(),
        );
        r.register(
            "voter_degraded",
            "1 if the member is degraded",
            m.voter_degraded.clone(),
        );
        r.register(
            "voter_window",
            "A member's counts over the health window, by kind",
            m.voter_window.clone(),
        );
        r.register(
            "health_transitions",
            "Members degraded or recovered",
            m.health_transitions.clone(),
        );
        r.register(
            "webhooks",
            "Webhook deliveries, by result",
            m.webhooks.clone(),
        );
        for status in ["pending", "approved", "rejected", "expired"] {
            let _ = m.proposals.get_or_create(&StatusLabel { status });
        }
        for vote in ["yes", "no"] {
            let _ = m.ballots_accepted.get_or_create(&VoteLabel { vote });
        }
        for verdict in ["approved", "rejected"] {
            let _ = m.decisions.get_or_create(&VerdictLabel { verdict });
        }
        // Every result and reason at zero from the start, so dashboards and alert rules
        // (rate, increase) see the series before the first event.
        for result in ["ok", "failed", "refused", "interrupted"] {
            let _ = m.executions.get_or_create(&ResultLabel { result });
        }
        for result in ["delivered", "failed", "dropped"] {
            let _ = m.webhooks.get_or_create(&ResultLabel { result });
        }
        for result in ["degraded", "recovered"] {
            let _ = m.health_transitions.get_or_create(&ResultLabel { result });
        }
        for reason in ["missing", "wrong_token", "cookie_not_allowed"] {
            let _ = m.api_auth_failures.get_or_create(&ReasonLabel { reason });
        }
        for reason in [
            "malformed",
            "bad_signature",
            "not_a_member",
            "invalid_evidence",
            "invalid_change",
            "invalid_step",
        ] {
            let _ = m.ballots_rejected.get_or_create(&ReasonLabel { reason });
            let _ = m.invalid_messages.get_or_create(&ReasonLabel { reason });
        }
        for reason in [
            "duplicate",
            "other_swarm",
            "unknown_roster",
            "expired",
            "from_the_future",
            "buffer_full",
            "capacity",
        ] {
            let _ = m.ballots_ignored.get_or_create(&ReasonLabel { reason });
        }
        for direction in ["in", "out"] {
            let _ = m
                .gossip_messages
                .get_or_create(&DirectionLabel { direction });
            let _ = m.gossip_bytes.get_or_create(&DirectionLabel { direction });
        }
        for name in members {
            let _ = m.voter_degraded.get_or_create(&VoterLabel {
                voter: name.to_owned(),
            });
            for kind in ["dissent", "missed", "invalid_signatures", "equivocations"] {
                let _ = m.voter_window.get_or_create(&VoterCountLabel {
                    voter: name.to_owned(),
                    kind,
                });
            }
        }
        Self {
            registry: Arc::new(r),
            ..m
        }
    }

    /// The OpenMetrics text of every metric.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing to a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }

    /// Counts one increment of `family` at `label`.
    pub fn inc<L>(family: &Family<L, Counter>, label: L)
    where
        L: Clone + std::hash::Hash + Eq + EncodeLabelSet + std::fmt::Debug + Send + Sync,
    {
        family.get_or_create(&label).inc();
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new([])
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn encodes_with_prefix_and_preset_series() {
        let m = Metrics::new(["alice", "bob"]);
        m.ballots_accepted
            .get_or_create(&VoteLabel { vote: "yes" })
            .inc();
        m.decision_latency.observe(0.003);
        let text = m.encode();
        assert!(
            text.contains("swarmvote_ballots_accepted_total{vote=\"yes\"} 1"),
            "{text}"
        );
        assert!(text.contains("swarmvote_voter_degraded{voter=\"bob\"} 0"));
        assert!(text.contains("swarmvote_decision_latency_seconds_count 1"));
        assert!(text.ends_with("# EOF\n"));
    }
}
