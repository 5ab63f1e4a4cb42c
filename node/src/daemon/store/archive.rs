//! The store as an archive: every proposal in time order (the `by_time` index), one
//! stored proposal with everything recorded about it, and pruning.
//!
//! The engine holds a proposal in memory until `[retention] listed_secs` after it
//! expires; the store keeps it until an operator prunes it. So the history that the API
//! pages through and that `swarmvote export` writes is read from here.
//!
//! `by_time` keys are `created_at` (8 bytes, big-endian) · proposal id (32), with empty
//! values, so a range scan walks proposals in creation order. The index entry is written
//! before the proposal (sled recovers a prefix of its writes after a crash), so a crash can
//! leave an index entry without its proposal but never a proposal missing from the index;
//! readers skip dangling entries.

use std::collections::BTreeSet;

use swarmvote_protocol::engine::Decision;
use swarmvote_protocol::receipt::SignedReceipt;
use swarmvote_protocol::{Equivocation, ProposalId, SignedBallot, SignedProposal, UnixMillis};

use super::{ExecutionRecord, Store, StoreError};

/// The `meta` key set once the `by_time` index covers every proposal (data dirs written
/// before the index existed get it built on first open).
pub(super) const INDEXED_KEY: &[u8] = b"by_time_index";

/// A position in creation order: `(created_at, id)`, the order of the `by_time` keys and of
/// the API's cursors.
pub type TimeKey = (UnixMillis, ProposalId);

/// The `by_time` key of a position.
pub(super) fn time_key((at, id): TimeKey) -> [u8; 40] {
    let mut key = [0u8; 40];
    key[..8].copy_from_slice(&at.0.to_be_bytes());
    key[8..].copy_from_slice(id.as_bytes());
    key
}

fn parse_time_key(key: &[u8]) -> Option<TimeKey> {
    let at = u64::from_be_bytes(key.get(..8)?.try_into().ok()?);
    let id: [u8; 32] = key.get(8..40)?.try_into().ok()?;
    (key.len() == 40).then_some((UnixMillis(at), ProposalId::from_bytes(id)))
}

/// Everything the store holds about one proposal.
#[derive(Clone, Debug)]
pub struct Archived {
    /// The proposal.
    pub proposal: SignedProposal,
    /// Every stored ballot on it (this node's included), in key order: voter, then vote.
    pub ballots: Vec<SignedBallot>,
    /// Equivocation evidence about it.
    pub evidence: Vec<Equivocation>,
    /// The decision reached here, if any.
    pub decision: Option<Decision>,
    /// This node's ballot on it.
    pub own_ballot: Option<SignedBallot>,
    /// The executor's record, if this node ran (or refused) its action.
    pub execution: Option<ExecutionRecord>,
    /// Signed execution receipts for it, from whichever node ran it.
    pub receipts: Vec<SignedReceipt>,
}

/// What `prune` removed (or, in a dry run, would remove).
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct PruneReport {
    /// Proposals removed.
    pub proposals: usize,
    /// Ballots removed (own ones included).
    pub ballots: usize,
    /// Own ballots removed, from sled and from the own-ballot journal.
    pub own_ballots: usize,
    /// Equivocation evidence removed.
    pub evidence: usize,
    /// Decisions removed.
    pub decisions: usize,
    /// Execution receipts removed.
    pub receipts: usize,
    /// Execution records removed from sled (the execution journal's marks stay: they are
    /// what keeps an action from ever running twice).
    pub executions: usize,
    /// Proposals created before the cut that were kept because the engine still holds
    /// them (they expire, or left the retention window, after `now`).
    pub kept_in_window: usize,
}

impl Store {
    /// Builds the `by_time` index if this data dir predates it. Called by `open`.
    pub(super) fn ensure_time_index(&self) -> Result<(), StoreError> {
        let meta = self.db.open_tree("meta").map_err(|e| self.sled_error(e))?;
        if meta
            .get(INDEXED_KEY)
            .map_err(|e| self.sled_error(e))?
            .is_some()
        {
            return Ok(());
        }
        for p in self.scan::<SignedProposal>(&self.proposals, "proposals", b"")? {
            self.by_time
                .insert(time_key((p.proposal().created_at, p.id())), &[])
                .map_err(|e| self.sled_error(e))?;
        }
        meta.insert(INDEXED_KEY, &[1u8])
            .map_err(|e| self.sled_error(e))?;
        self.db.flush().map_err(|e| self.sled_error(e))?;
        Ok(())
    }

    /// Stored proposals in creation order, newest first, strictly before `before` (all if
    /// `None`). Lazily read: stop when you have enough.
    pub fn newest_first(
        &self,
        before: Option<TimeKey>,
    ) -> impl Iterator<Item = Result<TimeKey, StoreError>> + '_ {
        let end = before.map(time_key);
        let range = match end {
            Some(end) => self.by_time.range(..end.to_vec()),
            None => self.by_time.range::<Vec<u8>, _>(..),
        };
        range.rev().map(|item| self.index_entry(item))
    }

    /// Stored proposals in creation order, oldest first, strictly after `after` (from
    /// the start if `None`).
    pub fn oldest_first(
        &self,
        after: Option<TimeKey>,
    ) -> impl Iterator<Item = Result<TimeKey, StoreError>> + '_ {
        let range = match after {
            // The smallest key above `after`: the same key with a zero byte appended.
            Some(after) => {
                let mut start = time_key(after).to_vec();
                start.push(0);
                self.by_time.range(start..)
            }
            None => self.by_time.range::<Vec<u8>, _>(..),
        };
        range.map(|item| self.index_entry(item))
    }

    fn index_entry(
        &self,
        item: Result<(sled::IVec, sled::IVec), sled::Error>,
    ) -> Result<TimeKey, StoreError> {
        let (key, _) = item.map_err(|e| self.sled_error(e))?;
        parse_time_key(&key).ok_or_else(|| StoreError::Corrupt {
            path: self.db_path.clone(),
            detail: format!("tree by_time: key {} is not a time key", hex::encode(&key)),
        })
    }

    /// One stored proposal, if the store holds it.
    pub fn proposal(&self, id: &ProposalId) -> Result<Option<SignedProposal>, StoreError> {
        Ok(self
            .scan::<SignedProposal>(&self.proposals, "proposals", id.as_bytes())?
            .into_iter()
            .next())
    }

    /// The stored decision on a proposal.
    pub fn decision(&self, id: &ProposalId) -> Result<Option<Decision>, StoreError> {
        Ok(self
            .scan::<Decision>(&self.decisions, "decisions", id.as_bytes())?
            .into_iter()
            .next())
    }

    /// Everything stored about one proposal, if the store holds it.
    pub fn archived(&self, id: &ProposalId) -> Result<Option<Archived>, StoreError> {
        let Some(proposal) = self.proposal(id)? else {
            return Ok(None);
        };
        Ok(Some(Archived {
            proposal,
            ballots: self.ballots_of(id)?,
            evidence: self.scan(&self.evidence, "evidence", id.as_bytes())?,
            decision: self.decision(id)?,
            own_ballot: self.own_ballot(id)?,
            execution: self.execution(id)?,
            receipts: self.receipts_of(id)?,
        }))
    }

    /// Removes every proposal created before `before` whose retention window has passed
    /// (`expires_at + retention_ms <= now`), with everything recorded about it, and says
    /// what went. A dry run only counts. Roster steps are never removed: the chain needs
    /// them. Own ballots leave the journal too, which is rewritten without them.
    pub fn prune(
        &mut self,
        before: UnixMillis,
        retention_ms: u64,
        now: UnixMillis,
        dry_run: bool,
    ) -> Result<PruneReport, StoreError> {
        let mut report = PruneReport::default();
        let mut gone = BTreeSet::new();
        let cut = self
            .oldest_first(None)
            .take_while(|k| k.as_ref().map_or(true, |(at, _)| *at < before))
            .collect::<Result<Vec<_>, _>>()?;
        for key in cut {
            let (_, id) = key;
            let Some(p) = self.proposal(&id)? else {
                // A dangling index entry (see the module documentation).
                if !dry_run {
                    self.by_time
                        .remove(time_key(key))
                        .map_err(|e| self.sled_error(e))?;
                }
                continue;
            };
            let horizon = p.proposal().expires_at.checked_add(retention_ms);
            if horizon.is_none_or(|h| h > now) {
                report.kept_in_window = report.kept_in_window.saturating_add(1);
                continue;
            }
            let count = |tree: &sled::Tree| tree.scan_prefix(id.as_bytes()).count();
            report.proposals = report.proposals.saturating_add(1);
            report.ballots = report.ballots.saturating_add(count(&self.ballots));
            report.evidence = report.evidence.saturating_add(count(&self.evidence));
            report.own_ballots = report.own_ballots.saturating_add(count(&self.own));
            report.decisions = report.decisions.saturating_add(count(&self.decisions));
            report.receipts = report.receipts.saturating_add(count(&self.receipts));
            let executed = self.executions.stored(&id)?;
            report.executions = report.executions.saturating_add(usize::from(executed));
            gone.insert(id);
            if dry_run {
                continue;
            }
            for tree in [&self.ballots, &self.evidence, &self.receipts] {
                for item in tree.scan_prefix(id.as_bytes()).keys() {
                    let k = item.map_err(|e| self.sled_error(e))?;
                    tree.remove(k).map_err(|e| self.sled_error(e))?;
                }
            }
            for tree in [&self.own, &self.decisions, &self.proposals] {
                tree.remove(id.as_bytes()).map_err(|e| self.sled_error(e))?;
            }
            self.executions.forget(&id)?;
            self.by_time
                .remove(time_key(key))
                .map_err(|e| self.sled_error(e))?;
        }
        if !dry_run && report.own_ballots > 0 {
            self.rewrite_journal_without(&gone)?;
        }
        if !dry_run {
            self.db.flush().map_err(|e| self.sled_error(e))?;
        }
        Ok(report)
    }
}
