//! Answers to the API's questions: proposal pages, one proposal's report, the node's
//! status (which also sets the gauges read at scrape time).

use std::collections::BTreeMap;

use swarmvote_protocol::{Certificate, ProposalId, Status, UnixMillis, VoterId};
use tracing::warn;

use super::{Driver, ListFilter};
use crate::api::{
    CertificateCheck, PeerReport, ProposalPage, ProposalReport, ProposalSummary, ReceiptReport,
    StatusReport, VoterHealthReport,
};
use crate::daemon::clock::now;
use crate::daemon::executor::ExecutionRecord;
use crate::daemon::metrics::StatusLabel;

impl Driver {
    pub(super) fn list(&self, filter: &ListFilter, t: UnixMillis) -> ProposalPage {
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
                keep.then(|| ProposalSummary::new(v.proposal(), status, &v.outcome()))
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

    pub(super) fn report(&self, id: &ProposalId, t: UnixMillis) -> Option<ProposalReport> {
        let view = self.engine.proposal(id)?;
        Some(ProposalReport {
            id: *id,
            proposal: view.proposal().clone(),
            status: view.status(t),
            tally: view.outcome(),
            ballots: view.tally().ballots().cloned().collect(),
            equivocations: view.tally().equivocations(),
            decided_at: view.decision().map(|d| d.decided_at),
            decided_at_us: self.telemetry.stats.decided_us.get(id).copied(),
            own_ballot: view.own_ballot().cloned(),
            execution: self.execution_record(id),
            ballot_latencies: self
                .telemetry
                .stats
                .ballot_ms
                .get(id)
                .cloned()
                .unwrap_or_default(),
            certificate: view.certificate().map(|c| self.check_certificate(c)),
            receipts: self.receipts_in_report(id),
        })
    }

    /// Checks a certificate as `swarmvote verify-cert` would, against the roster it
    /// names in this node's chain.
    pub(super) fn check_certificate(&self, cert: Certificate) -> CertificateCheck {
        let tier = cert.tier().map(|t| (t.name.to_string(), t.required));
        let signers = cert.ballots().len();
        let digest = cert.proposal().proposal().roster;
        let result = match self.engine.chain().get(&digest) {
            None => Err(format!("roster {digest} is not in this node's chain")),
            Some(roster) => cert.verify(roster).map(|_| ()).map_err(|e| e.to_string()),
        };
        CertificateCheck {
            valid: result.is_ok(),
            tier: tier.as_ref().map(|t| t.0.clone()),
            required: tier.map(|t| t.1),
            signers,
            error: result.err(),
        }
    }

    /// The receipts as a proposal's report carries them: without their certificates
    /// (the report has its own).
    pub(super) fn receipts_in_report(&self, id: &ProposalId) -> Vec<ReceiptReport> {
        without_certificates(self.receipt_reports(id))
    }

    /// Every receipt stored for a proposal (known here or not), judged by the engine,
    /// with the certificate each names when the engine can rebuild it.
    pub(super) fn receipt_reports(&self, id: &ProposalId) -> Vec<ReceiptReport> {
        if self.engine.proposal(id).is_none()
            && let Some(reports) = self.archived_receipts(id)
        {
            return reports;
        }
        let stored = self.store.receipts_of(id).unwrap_or_else(|e| {
            warn!(proposal = %id.short(), error = %e, "cannot read receipts");
            Vec::new()
        });
        stored
            .into_iter()
            .map(|receipt| {
                let (standing, certificate) = self.engine.receipt_standing(&receipt);
                ReceiptReport {
                    receipt,
                    standing,
                    certificate,
                }
            })
            .collect()
    }

    pub(super) fn status_report(&self) -> StatusReport {
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
            .telemetry
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
                admitted: self.peers.admitted.contains(p),
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
            epoch: roster.epoch(),
            genesis_digest: self.engine.chain().genesis().digest().to_string(),
            member: roster.member(&me).is_some(),
            n: roster.len(),
            q: roster.required(),
            peers,
            mesh_peers: gossip.mesh_peers(&self.outbox.topic().hash()).count(),
            unreachable: self.bootstrap.unreachable(&self.swarm),
            refused: self.peers.refused.iter().cloned().collect(),
            counts,
            orphans: self.engine.orphan_count(),
            last_decision_ms: self.telemetry.stats.last_decision_ms,
            traffic: self.telemetry.stats.traffic,
            degraded: health
                .iter()
                .filter(|h| h.health.degraded)
                .map(|h| h.name.clone())
                .collect(),
            health,
            health_window: (
                self.telemetry.health.monitor.window_len(),
                self.telemetry.health.monitor.thresholds().window,
            ),
        };
        self.refresh_gauges(&report);
        report
    }

    /// Gauges read at scrape time: every status report (and so every scrape) sets them.
    fn refresh_gauges(&self, s: &StatusReport) {
        let m = &self.telemetry.metrics;
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

    pub(super) fn member_name(&self, v: &VoterId) -> String {
        self.engine
            .roster()
            .member(v)
            .map_or_else(|| v.short(), |m| m.name.to_string())
    }

    fn execution_record(&self, id: &ProposalId) -> Option<ExecutionRecord> {
        self.store.execution(id).unwrap_or_else(|e| {
            warn!(proposal = %id.short(), error = %e, "cannot read the execution record");
            None
        })
    }
}

/// Receipts as a proposal's report carries them: without the certificates they name
/// (the report has its own).
pub(super) fn without_certificates(receipts: Vec<ReceiptReport>) -> Vec<ReceiptReport> {
    receipts
        .into_iter()
        .map(|mut r| {
            r.certificate = None;
            r
        })
        .collect()
}
