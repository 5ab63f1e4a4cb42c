//! What a test-bed run recorded: the proposals clients made, and every node's reports of
//! them, read over the API while the faults ran and after the heal. The checker
//! ([`crate::checker`]) judges it.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use swarmvote_node::api::ProposalReport;
use swarmvote_node::dev::cluster::{ApiClient, ClusterError};
use swarmvote_protocol::{Verdict, Vote, VoterId};

/// One proposal a client made.
#[derive(Clone, Debug)]
pub struct Proposed {
    /// Its id.
    pub id: String,
    /// The node it was proposed at.
    pub proposer: usize,
    /// Its action.
    pub action: String,
    /// When it was made.
    pub at: Instant,
}

/// The recorded history of a run.
#[derive(Debug, Default)]
pub struct History {
    /// Every proposal made, in order.
    pub proposed: Vec<Proposed>,
    /// Proposals a client tried to make and could not (the node was cut off, paused or
    /// down): the node's answer.
    pub refused: Vec<(usize, String)>,
    /// Each node's own ballot per proposal, as first reported.
    pub own: BTreeMap<(usize, String), Vote>,
    /// Every (voter, proposal) with each vote any node ever reported for it.
    pub ballots: BTreeMap<(VoterId, String), BTreeSet<Vote>>,
    /// Equivocation evidence any node reported.
    pub evidence: BTreeSet<(VoterId, String)>,
    /// When each node was first seen holding a verdict for a proposal.
    pub decided: BTreeMap<(usize, String), (Verdict, Instant)>,
    /// Reads that failed (the node was cut off, paused or down): how many.
    pub failed_reads: u64,
}

/// A bounded wait for each read during a run, so a paused node does not stall it.
pub const READ_TIMEOUT: Duration = Duration::from_secs(2);

impl History {
    /// Proposes `action` at node `node`; a refusal is recorded, not an error.
    pub fn propose(&mut self, client: &ApiClient, node: usize, action: &str, ttl: Duration) {
        let ttl_ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX);
        match client.with_timeout(READ_TIMEOUT).propose(
            action,
            serde_json::json!({ "n": self.proposed.len() }),
            ttl_ms,
        ) {
            Ok(id) => self.proposed.push(Proposed {
                id,
                proposer: node,
                action: action.to_owned(),
                at: Instant::now(),
            }),
            Err(e) => self.refused.push((node, e.to_string())),
        }
    }

    /// Records node `node`'s report of `id`.
    pub fn record(&mut self, node: usize, id: &str, report: &ProposalReport) {
        if let Some(own) = &report.own_ballot {
            self.own
                .entry((node, id.to_owned()))
                .or_insert(own.ballot().vote);
        }
        for b in &report.ballots {
            let b = b.ballot();
            self.ballots
                .entry((b.voter, id.to_owned()))
                .or_default()
                .insert(b.vote);
        }
        for e in &report.equivocations {
            self.evidence.insert((e.voter(), id.to_owned()));
        }
        if report.tally.verdict != Verdict::Pending {
            self.decided
                .entry((node, id.to_owned()))
                .or_insert((report.tally.verdict, Instant::now()));
        }
    }

    /// Reads every proposal at node `node` (briefly; failures are counted) and records
    /// what it holds.
    pub fn observe(&mut self, node: usize, client: &ApiClient) {
        let client = client.with_timeout(READ_TIMEOUT);
        let ids: Vec<String> = self.proposed.iter().map(|p| p.id.clone()).collect();
        for id in ids {
            match client.proposal_report(&id) {
                Ok(Some(r)) => self.record(node, &id, &r),
                Ok(None) => {}
                Err(_) => {
                    self.failed_reads = self.failed_reads.saturating_add(1);
                    // The node does not answer now: do not wait on it for every id.
                    return;
                }
            }
        }
    }

    /// Decision latencies, each proposal's from its making to the first observation of
    /// its proposer's verdict (bounded by how often the run observes).
    pub fn decision_latencies(&self) -> Vec<Duration> {
        let mut out: Vec<Duration> = self
            .proposed
            .iter()
            .filter_map(|p| {
                self.decided
                    .get(&(p.proposer, p.id.clone()))
                    .map(|(_, at)| at.saturating_duration_since(p.at))
            })
            .collect();
        out.sort();
        out
    }
}

/// The `pct` percentile of sorted `v`, or zero.
pub fn percentile(v: &[Duration], pct: usize) -> Duration {
    if v.is_empty() {
        return Duration::ZERO;
    }
    let i = (v.len().saturating_sub(1) * pct.min(100) + 50) / 100;
    v.get(i).copied().unwrap_or_default()
}

/// Every node's final report of every proposal (`None`: not held), read after the heal.
pub type Final = BTreeMap<usize, Vec<Option<ProposalReport>>>;

/// Reads the final reports from every node, recording them in `history` too.
pub fn read_final(history: &mut History, clients: &[ApiClient]) -> Result<Final, ClusterError> {
    let mut out = Final::new();
    let ids: Vec<String> = history.proposed.iter().map(|p| p.id.clone()).collect();
    for (i, c) in clients.iter().enumerate() {
        let mut reports = Vec::new();
        for id in &ids {
            let r = c.proposal_report(id)?;
            if let Some(r) = &r {
                history.record(i, id, r);
            }
            reports.push(r);
        }
        out.insert(i, reports);
    }
    Ok(out)
}
