//! The history the engine no longer holds: proposals read back from the store and
//! recounted (every signature checked again), for the API's history listing, for one
//! old proposal's report and certificate, and for the audit export's pages.

use swarmvote_protocol::receipt::{self, SignedReceipt};
use swarmvote_protocol::recount::Recount;
use swarmvote_protocol::{Certificate, ProposalId, Signature, UnixMillis};
use tracing::warn;

use super::{Driver, ListFilter};
use crate::api::{EXPORT_FORMAT, EXPORT_VERSION};
use crate::api::{
    ExportEntry, ExportHeader, ProposalPage, ProposalReport, ProposalSummary, ReceiptReport,
};
use crate::daemon::store::{Archived, StoreError, TimeKey};

/// Index entries one history page looks at, at most, whatever the filters match: a page
/// can come back short (even empty) with a `next_cursor`, and the client goes on.
const MAX_SCAN: usize = 10_000;

/// Proposals per export page.
pub(super) const EXPORT_PAGE: usize = 256;

/// What an export asks for.
#[derive(Clone, Copy, Debug)]
pub struct ExportRequest {
    /// Proposals created at or after this.
    pub since: UnixMillis,
    /// ... and before this.
    pub until: Option<UnixMillis>,
    /// Continue after this position (`None`: the first page, which starts with the
    /// header and the roster steps).
    pub after: Option<TimeKey>,
}

/// One page of an export.
#[derive(Clone, Debug, Default)]
pub struct ExportPage {
    /// The entries, in file order.
    pub entries: Vec<ExportEntry>,
    /// Proposals in this page.
    pub proposals: u64,
    /// Where the next page starts; `None` when this was the last.
    pub next: Option<TimeKey>,
}

impl Driver {
    /// A page of the whole stored history, newest first (see [`MAX_SCAN`]).
    pub(super) fn list_history(&self, filter: &ListFilter, t: UnixMillis) -> ProposalPage {
        let limit = filter.limit.clamp(1, 1000);
        let before = filter.cursor.map(|(at, id)| (UnixMillis(at), id));
        let mut rows: Vec<ProposalSummary> = Vec::new();
        let mut next_cursor = None;
        let mut last = None;
        for (scanned, key) in self.store.newest_first(before).enumerate() {
            let key = match key {
                Ok(k) => k,
                Err(e) => {
                    warn!(error = %e, "cannot read the history index");
                    break;
                }
            };
            if filter.since.is_some_and(|s| key.0 < s) {
                break;
            }
            if rows.len() == limit || scanned == MAX_SCAN {
                // More remain: continue after the last one looked at.
                next_cursor = last.map(|(at, id): TimeKey| format!("{}-{id}", at.0));
                break;
            }
            last = Some(key);
            let Some(row) = self.summary(&key.1, t) else {
                continue;
            };
            let keep = filter.status.is_none_or(|s| s == row.status)
                && filter
                    .action
                    .as_deref()
                    .is_none_or(|a| a == row.action.as_str());
            if keep {
                rows.push(row);
            }
        }
        ProposalPage {
            proposals: rows,
            next_cursor,
        }
    }

    /// One proposal's summary: from the engine if it holds it, else recounted from the
    /// store.
    fn summary(&self, id: &ProposalId, t: UnixMillis) -> Option<ProposalSummary> {
        if let Some(v) = self.engine.proposal(id) {
            return Some(ProposalSummary::new(
                v.proposal(),
                v.status(t),
                &v.outcome(),
            ));
        }
        let archived = self.archived(id)?;
        let recount = self.recount(&archived)?;
        Some(ProposalSummary::new(
            &archived.proposal,
            recount.status(t),
            &recount.tally().outcome(),
        ))
    }

    /// A proposal the engine no longer holds, as the API reports it.
    pub(super) fn archived_report(&self, id: &ProposalId, t: UnixMillis) -> Option<ProposalReport> {
        let archived = self.archived(id)?;
        let recount = self.recount(&archived)?;
        Some(ProposalReport {
            id: *id,
            status: recount.status(t),
            tally: recount.tally().outcome(),
            ballots: recount.tally().ballots().cloned().collect(),
            equivocations: archived.evidence,
            decided_at: archived.decision.map(|d| d.decided_at),
            decided_at_us: None,
            own_ballot: archived.own_ballot,
            execution: archived.execution,
            // Arrival times are kept in memory only, for the proposals the engine holds.
            ballot_latencies: Vec::new(),
            certificate: recount.certificate().map(|c| self.check_certificate(c)),
            receipts: super::queries::without_certificates(
                self.judge_receipts(&recount, archived.receipts),
            ),
            proposal: archived.proposal,
        })
    }

    /// The receipts of a proposal the engine no longer holds, judged against its recount;
    /// `None` if the store does not hold the proposal either.
    pub(super) fn archived_receipts(&self, id: &ProposalId) -> Option<Vec<ReceiptReport>> {
        let archived = self.archived(id)?;
        let recount = self.recount(&archived)?;
        Some(self.judge_receipts(&recount, archived.receipts))
    }

    /// Judges receipts against a recounted proposal (see [`receipt::standing_under`]).
    fn judge_receipts(
        &self,
        recount: &Recount<'_>,
        receipts: Vec<SignedReceipt>,
    ) -> Vec<ReceiptReport> {
        let digest = recount.proposal().proposal().roster;
        let Some(roster) = self.engine.chain().get(&digest) else {
            return Vec::new();
        };
        receipts
            .into_iter()
            .map(|receipt| {
                let (standing, certificate) = receipt::standing_under(
                    receipt.receipt(),
                    recount.proposal(),
                    recount.tally(),
                    roster,
                    Some(self.engine.signature_cache()),
                );
                ReceiptReport {
                    receipt,
                    standing,
                    certificate,
                }
            })
            .collect()
    }

    /// A certificate: from the engine if it holds the proposal, else recounted from the
    /// store. `None` if unknown, `Some(None)` if not approved.
    pub(super) fn any_certificate(&self, id: &ProposalId) -> Option<Option<Certificate>> {
        if let Some(v) = self.engine.proposal(id) {
            return Some(v.certificate());
        }
        let archived = self.archived(id)?;
        Some(self.recount(&archived)?.certificate())
    }

    fn archived(&self, id: &ProposalId) -> Option<Archived> {
        self.store.archived(id).unwrap_or_else(|e| {
            warn!(proposal = %id.short(), error = %e, "cannot read a stored proposal");
            None
        })
    }

    /// Recounts a stored proposal. A stored message that no longer verifies means the
    /// store was damaged: logged, and the proposal is left out rather than misreported.
    fn recount<'a>(&'a self, archived: &Archived) -> Option<Recount<'a>> {
        let id = archived.proposal.id();
        let result = Recount::new(
            self.engine.chain(),
            archived.proposal.clone(),
            Some(self.engine.signature_cache()),
        )
        .and_then(|mut r| {
            for b in &archived.ballots {
                r.add(b.clone())?;
            }
            Ok(r)
        });
        result
            .inspect_err(
                |e| warn!(proposal = %id.short(), error = %e, "stored proposal does not recount"),
            )
            .ok()
    }

    /// One page of the audit export, read from the store (see [`crate::api::ExportLine`]).
    pub(super) fn export_page(
        &self,
        request: &ExportRequest,
        t: UnixMillis,
    ) -> Result<ExportPage, StoreError> {
        let mut page = ExportPage::default();
        let start = match request.after {
            Some(after) => Some(after),
            None => {
                let header = ExportHeader {
                    format: EXPORT_FORMAT.into(),
                    version: EXPORT_VERSION,
                    swarm: self.engine.roster().swarm().to_string(),
                    genesis: self.engine.chain().genesis().digest(),
                    node: self.engine.voter_id(),
                    since: request.since,
                    until: request.until,
                    exported_at: t,
                };
                page.entries.push(ExportEntry::Header { header });
                page.entries.extend(
                    self.store
                        .roster_steps()?
                        .into_iter()
                        .map(|certificate| ExportEntry::RosterStep { certificate }),
                );
                // Everything created at or after `since`: start just below it.
                request
                    .since
                    .0
                    .checked_sub(1)
                    .map(|at| (UnixMillis(at), ProposalId::from_bytes([0xff; 32])))
            }
        };
        let mut last = None;
        for key in self.store.oldest_first(start) {
            let key = key?;
            if key.0 < request.since {
                continue;
            }
            if request.until.is_some_and(|u| key.0 >= u) {
                break;
            }
            if page.proposals == EXPORT_PAGE as u64 {
                // More remain: the next page starts after the last one written.
                page.next = last;
                break;
            }
            last = Some(key);
            let Some(a) = self.store.archived(&key.1)? else {
                continue;
            };
            let certificate = self.recount(&a).and_then(|r| r.certificate());
            page.entries.push(ExportEntry::Proposal {
                proposal: a.proposal,
            });
            page.entries.extend(
                a.ballots
                    .into_iter()
                    .map(|ballot| ExportEntry::Ballot { ballot }),
            );
            page.entries.extend(
                a.evidence
                    .into_iter()
                    .map(|evidence| ExportEntry::Evidence { evidence }),
            );
            if let Some(decision) = a.decision {
                page.entries.push(ExportEntry::Decision { decision });
            }
            if let Some(certificate) = certificate {
                page.entries.push(ExportEntry::Certificate { certificate });
            }
            if let Some(execution) = a.execution {
                page.entries.push(ExportEntry::Execution { execution });
            }
            page.entries.extend(
                a.receipts
                    .into_iter()
                    .map(|receipt| ExportEntry::Receipt { receipt }),
            );
            page.proposals = page.proposals.saturating_add(1);
        }
        if page.next.is_none() {
            // The last page: receipts for proposals this node never held (evidence of an
            // execution nobody approved, or of a proposal still on its way), by start time.
            for r in self.store.all_receipts() {
                let r = r?;
                let inner = r.receipt();
                let started = inner.started_at;
                if started < request.since
                    || request.until.is_some_and(|u| started >= u)
                    || self.store.proposal(&inner.proposal)?.is_some()
                {
                    continue;
                }
                page.entries.push(ExportEntry::Receipt { receipt: r });
            }
        }
        Ok(page)
    }

    /// Seals an export (see [`swarmvote_protocol::seal`]).
    pub(super) fn seal(&self, chain: &[u8; 32], lines: u64) -> Signature {
        self.engine.seal_export(chain, lines)
    }
}
