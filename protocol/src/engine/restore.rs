//! Restoring an engine from stored records after a restart: every record is verified
//! again against the roster, the own-vote guard is rebuilt from the own ballots, and
//! what does not verify is skipped and named.

use std::sync::Arc;

use super::{Engine, Output, Record, split_evidence};
use crate::chain::ChainError;
use crate::codec;
use crate::evidence::EvidenceError;
use crate::ids::{ProposalId, UnixMillis};
use crate::message::VerifyError;

/// What [`Engine::restore`] found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RestoreReport {
    /// Proposals restored.
    pub proposals: usize,
    /// Peer ballots restored.
    pub ballots: usize,
    /// Own ballots restored.
    pub own_ballots: usize,
    /// Evidence records restored.
    pub evidence: usize,
    /// Decision times restored.
    pub decisions: usize,
    /// Roster steps restored (verified against their parents).
    pub steps: usize,
    /// Execution receipts restored.
    pub receipts: usize,
    /// Records that did not verify against the roster, and why.
    pub skipped: Vec<SkippedRecord>,
}

/// A stored record [`Engine::restore`] left out, and why. Its text names the record.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SkippedRecord {
    /// A proposal that does not verify.
    #[error("proposal {proposal}: {error}")]
    Proposal {
        /// Its id.
        proposal: ProposalId,
        /// Why it does not verify.
        error: VerifyError,
    },
    /// An own ballot signed by another voter than this node.
    #[error("own ballot on {proposal}: signed by another voter")]
    OwnBallotByAnother {
        /// The proposal it is on.
        proposal: ProposalId,
    },
    /// An own ballot that does not verify.
    #[error("own ballot on {proposal}: {error}")]
    OwnBallot {
        /// The proposal it is on.
        proposal: ProposalId,
        /// Why it does not verify.
        error: VerifyError,
    },
    /// A peer's ballot that does not verify.
    #[error("ballot on {proposal}: {error}")]
    Ballot {
        /// The proposal it is on.
        proposal: ProposalId,
        /// Why it does not verify.
        error: VerifyError,
    },
    /// A roster step that does not verify, or whose parent roster is missing.
    #[error("roster step {proposal}: {error}")]
    Step {
        /// The change proposal.
        proposal: ProposalId,
        /// Why it was left out.
        error: ChainError,
    },
    /// An execution receipt whose signature does not verify.
    #[error("receipt on {proposal}: does not verify")]
    Receipt {
        /// The proposal it claims to have run.
        proposal: ProposalId,
    },
    /// Evidence that is not evidence.
    #[error("evidence on {proposal}: {error}")]
    Evidence {
        /// The proposal it is about.
        proposal: ProposalId,
        /// Why it is refused.
        error: EvidenceError,
    },
}

impl Engine {
    /// Rebuilds state from stored records, before any other input. Emits no outputs
    /// except a re-broadcast of own ballots on proposals still open, so peers that missed
    /// them get them again.
    pub fn restore(
        &mut self,
        now: UnixMillis,
        records: impl IntoIterator<Item = Record>,
    ) -> RestoreReport {
        let mut report = RestoreReport::default();
        let (mut proposals, mut own, mut ballots, mut evidence, mut decisions) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
        let (mut steps, mut receipts) = (Vec::new(), Vec::new());
        for r in records {
            match r {
                Record::Proposal(p) => proposals.push(Arc::unwrap_or_clone(p)),
                Record::OwnBallot(b) => own.push(Arc::unwrap_or_clone(b)),
                Record::Ballot(b) => ballots.push(Arc::unwrap_or_clone(b)),
                Record::Evidence(e) => evidence.push(Arc::unwrap_or_clone(e)),
                Record::Decision(d) => decisions.push(d),
                Record::RosterStep(c) => steps.push(Arc::unwrap_or_clone(c)),
                Record::Receipt(r) => receipts.push(Arc::unwrap_or_clone(r)),
            }
        }
        // Steps first: every roster must be known before the proposals it judges.
        let offered = steps.len();
        let refused = self.chain.add_all(steps);
        report.steps = offered.saturating_sub(refused.len());
        report.skipped.extend(
            refused
                .into_iter()
                .map(|(proposal, error)| SkippedRecord::Step { proposal, error }),
        );
        let largest = self.chain.rosters().map(|r| r.len()).max().unwrap_or(0);
        self.orphans.allow_per_proposal(
            usize::try_from(largest)
                .unwrap_or(usize::MAX)
                .saturating_mul(2),
        );
        for p in proposals {
            let id = p.id();
            let horizon = p
                .proposal()
                .expires_at
                .checked_add(self.config.retention_ms);
            if self.entries.contains_key(&id) || horizon.is_none_or(|h| now >= h) {
                continue;
            }
            let roster = self
                .chain
                .get(&p.proposal().roster)
                .unwrap_or(self.chain.head());
            match p.verify_cached(roster, &self.sigs) {
                Ok(v) => {
                    self.insert_proposal(now, v, false);
                    report.proposals = report.proposals.saturating_add(1);
                }
                Err(error) => report.skipped.push(SkippedRecord::Proposal {
                    proposal: id,
                    error,
                }),
            }
        }
        for b in own {
            let id = b.ballot().proposal;
            if b.ballot().voter != self.me {
                report
                    .skipped
                    .push(SkippedRecord::OwnBallotByAnother { proposal: id });
                continue;
            }
            let roster = self.ballot_roster(b.ballot()).unwrap_or(self.chain.head());
            match b.clone().verify(roster) {
                Ok(v) => {
                    self.own.insert(id, b);
                    if self.entries.contains_key(&id) {
                        self.apply_ballot(now, v.map(Arc::new), true);
                    }
                    report.own_ballots = report.own_ballots.saturating_add(1);
                }
                Err(error) => report.skipped.push(SkippedRecord::OwnBallot {
                    proposal: id,
                    error,
                }),
            }
        }
        for b in ballots {
            let id = b.ballot().proposal;
            let roster = self.ballot_roster(b.ballot()).unwrap_or(self.chain.head());
            match b.verify_cached(roster, &self.sigs) {
                Ok(v) if self.entries.contains_key(&id) => {
                    self.apply_ballot(now, v.map(Arc::new), false);
                    report.ballots = report.ballots.saturating_add(1);
                }
                Ok(_) => {}
                Err(error) => report.skipped.push(SkippedRecord::Ballot {
                    proposal: id,
                    error,
                }),
            }
        }
        for e in evidence {
            let id = e.proposal();
            let roster = self
                .ballot_roster(e.yes().ballot())
                .unwrap_or(self.chain.head());
            match e.verify(roster) {
                Ok(v) => {
                    let (yes, no) = split_evidence(v);
                    if self.entries.contains_key(&id) {
                        self.apply_ballot(now, yes.map(Arc::new), false);
                        self.apply_ballot(now, no.map(Arc::new), false);
                    }
                    report.evidence = report.evidence.saturating_add(1);
                }
                Err(error) => report.skipped.push(SkippedRecord::Evidence {
                    proposal: id,
                    error,
                }),
            }
        }
        let ids: Vec<ProposalId> = self.entries.keys().copied().collect();
        for id in &ids {
            self.check_decision(now, id);
        }
        // Decisions were re-derived with `now`; put back the stored times where the
        // verdict is the same.
        for d in decisions {
            if let Some(entry) = self.entries.get_mut(&d.proposal)
                && entry.tally.verdict() == d.verdict
            {
                entry.decision = Some(d);
                report.decisions = report.decisions.saturating_add(1);
            }
        }
        // Receipts last: their standing depends on the proposals and ballots above.
        let (kept, refused) = self.restore_receipts(receipts);
        report.receipts = kept;
        report.skipped.extend(
            refused
                .into_iter()
                .map(|proposal| SkippedRecord::Receipt { proposal }),
        );
        self.outputs.clear();
        let resend: Vec<Vec<u8>> = self
            .own
            .iter()
            .filter(|(id, _)| {
                self.entries
                    .get(id)
                    .is_some_and(|e| e.open && !e.tally.verdict().is_decided())
            })
            .filter_map(|(_, b)| codec::encode(b).ok())
            .collect();
        let receipts = self.own_receipts_to_resend();
        self.outputs
            .extend(resend.into_iter().chain(receipts).map(Output::Broadcast));
        report
    }
}
