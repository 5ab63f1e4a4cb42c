//! Execution receipts in the engine: admitting gossiped ones (verified, one per
//! proposal and executor, unbacked ones bounded per executor), signing this node's own
//! after its executor ran, and judging any of them against what the engine holds.

use std::sync::Arc;

use super::{
    CommandError, Engine, Event, IgnoreReason, Output, PeerTag, Record, Validation, verify_failure,
};
use crate::certificate::Certificate;
use crate::codec;
use crate::crypto::Verified;
use crate::ids::{OutputDigest, ProposalId, UnixMillis, VoterId};
use crate::receipt::{self, Receipt, SignedReceipt, Standing, UnbackedReason};
use crate::roster::Roster;

/// A receipt the engine holds, and whether it counts against its executor's allowance
/// of unbacked receipts (decided when it was admitted).
pub(super) struct Held {
    pub(super) receipt: Arc<SignedReceipt>,
    pub(super) counted: bool,
}

/// What this node's executor did, for [`Engine::sign_receipt`].
#[derive(Clone, Debug)]
pub struct Run<'a> {
    /// The certificate the run was handed (its digest and approvers go into the receipt).
    pub certificate: &'a Certificate,
    /// The command line.
    pub command: &'a str,
    /// The exit code, if the process exited.
    pub exit_code: Option<i32>,
    /// SHA-256 of the whole stdout.
    pub stdout: OutputDigest,
    /// SHA-256 of the whole stderr.
    pub stderr: OutputDigest,
    /// When it started.
    pub started_at: UnixMillis,
    /// When it ended.
    pub finished_at: UnixMillis,
}

impl Engine {
    /// Signs a receipt for a run of this node's executor, keeps it, and emits it as a
    /// [`Record::Receipt`] and then a broadcast. Refused while signing is paused.
    pub fn sign_receipt(&mut self, run: &Run<'_>) -> Result<SignedReceipt, CommandError> {
        if let Some(pause) = self.paused {
            return Err(CommandError::Paused { pause });
        }
        let cert = run.certificate;
        let proposal = cert.proposal().id();
        let swarm = cert.proposal().proposal().swarm.clone();
        let signed = Receipt {
            swarm,
            proposal,
            certificate: cert.digest(),
            approvers: cert.ballots().iter().map(|b| b.ballot().voter).collect(),
            executor: self.me,
            command: receipt::bounded_command(run.command),
            exit_code: run.exit_code,
            stdout: run.stdout,
            stderr: run.stderr,
            started_at: run.started_at,
            finished_at: run.finished_at.max(run.started_at),
        }
        .sign(&self.key)
        .map_err(CommandError::Receipt)?;
        let bytes = codec::encode(&signed)?;
        let shared = Arc::new(signed.clone());
        let standing = self.receipt_standing(&shared).0;
        self.keep_receipt(Arc::clone(&shared), !standing.is_backed());
        self.outputs.push_back(Output::Broadcast(bytes));
        self.receipt_event(&shared, standing);
        Ok(signed)
    }

    /// A receipt from a peer.
    pub(super) fn on_receipt(&mut self, peer: PeerTag, r: SignedReceipt) -> Validation {
        let _ = peer;
        let inner = r.receipt();
        if &inner.swarm != self.chain.head().swarm() {
            return Validation::Ignore(IgnoreReason::OtherSwarm);
        }
        let key = (inner.proposal, inner.executor);
        if let Some(held) = self.receipts.get(&key) {
            // One receipt per run: the first kept stands; a second, different one from
            // the same executor is not forwarded.
            let _ = held;
            return Validation::Ignore(IgnoreReason::Duplicate);
        }
        let verified = match r.verify_cached(self.receipt_roster(&key.0), &self.sigs) {
            Ok(v) => v,
            Err(e) => return verify_failure(e),
        };
        self.admit_receipt(verified, true)
    }

    /// Keeps a verified receipt (from a peer or from the store) unless its executor's
    /// allowance of unbacked receipts is used up.
    pub(super) fn admit_receipt(&mut self, r: Verified<SignedReceipt>, emit: bool) -> Validation {
        let shared = Arc::new(r.into_inner());
        let standing = self.receipt_standing(&shared).0;
        let unbacked = !standing.is_backed();
        let executor = shared.receipt().executor;
        if unbacked
            && self.unbacked_receipts.get(&executor).copied().unwrap_or(0)
                >= self.config.max_unbacked_receipts_per_executor
        {
            return Validation::Ignore(IgnoreReason::Capacity);
        }
        self.keep_receipt(Arc::clone(&shared), unbacked);
        if emit {
            self.receipt_event(&shared, standing);
        }
        Validation::Accept
    }

    fn keep_receipt(&mut self, receipt: Arc<SignedReceipt>, unbacked: bool) {
        let r = receipt.receipt();
        let key = (r.proposal, r.executor);
        if unbacked {
            let n = self.unbacked_receipts.entry(r.executor).or_insert(0);
            *n = n.saturating_add(1);
        }
        self.outputs
            .push_back(Output::Persist(Record::Receipt(Arc::clone(&receipt))));
        let signature = *receipt.signature();
        self.receipts.insert(
            key,
            Held {
                receipt,
                counted: unbacked,
            },
        );
        if let Some(entry) = self.entries.get_mut(&key.0) {
            let at = entry.receipts.partition_point(|(v, _)| *v < key.1);
            entry.receipts.insert(at, (key.1, signature));
            entry.digest.take();
        }
    }

    /// (executor, signature) of the receipts held for a proposal, in executor order.
    pub(super) fn receipt_sigs(&self, id: &ProposalId) -> Vec<(VoterId, crate::crypto::Signature)> {
        self.receipts(id)
            .map(|r| (r.receipt().executor, *r.signature()))
            .collect()
    }

    fn receipt_event(&mut self, r: &SignedReceipt, standing: Standing) {
        let inner = r.receipt();
        self.event(Event::Receipt {
            proposal: inner.proposal,
            executor: inner.executor,
            exit_code: inner.exit_code,
            standing,
        });
    }

    /// Forgets the receipts of a proposal dropped from memory (the store keeps them).
    pub(super) fn forget_receipts(&mut self, id: &ProposalId) {
        let keys: Vec<(ProposalId, VoterId)> = self
            .receipts
            .range((*id, VoterId::from_bytes([0; 32]))..=(*id, VoterId::from_bytes([0xff; 32])))
            .map(|(k, _)| *k)
            .collect();
        for k in keys {
            if let Some(held) = self.receipts.remove(&k)
                && held.counted
                && let Some(n) = self.unbacked_receipts.get_mut(&k.1)
            {
                *n = n.saturating_sub(1);
                if *n == 0 {
                    self.unbacked_receipts.remove(&k.1);
                }
            }
        }
    }

    /// The roster a receipt on `proposal` is checked against: the one that judges the
    /// proposal, or the head if the proposal is unknown here.
    fn receipt_roster(&self, proposal: &ProposalId) -> &Roster {
        self.entries
            .get(proposal)
            .and_then(|e| self.chain.get(&e.proposal.proposal().roster))
            .unwrap_or(self.chain.head())
    }

    /// Every receipt held for a proposal, by executor.
    pub fn receipts(&self, proposal: &ProposalId) -> impl Iterator<Item = &SignedReceipt> {
        self.receipts
            .range(
                (*proposal, VoterId::from_bytes([0; 32]))
                    ..=(*proposal, VoterId::from_bytes([0xff; 32])),
            )
            .map(|(_, h)| &*h.receipt)
    }

    /// How a receipt stands against what this engine holds now, with the certificate it
    /// names when the engine can rebuild it (the proposal and the YES ballots of the
    /// receipt's approvers). The standing can change: a receipt that arrives before the
    /// ballots that approve its proposal is unbacked until they arrive.
    pub fn receipt_standing(&self, r: &SignedReceipt) -> (Standing, Option<Certificate>) {
        let inner = r.receipt();
        let id = inner.proposal;
        let roster = self.receipt_roster(&id);
        let Some(entry) = self.entries.get(&id) else {
            return (
                Standing::unbacked(
                    UnbackedReason::NoCertificate,
                    format!("proposal {id} is unknown here, so no certificate backs it"),
                ),
                None,
            );
        };
        receipt::standing_under(
            inner,
            &entry.proposal,
            &entry.tally,
            roster,
            Some(&self.sigs),
        )
    }

    /// Restores stored receipts (verified again), and re-broadcasts this node's own on
    /// proposals still in memory, for peers that missed them.
    pub(super) fn restore_receipts(
        &mut self,
        receipts: Vec<SignedReceipt>,
    ) -> (usize, Vec<ProposalId>) {
        let (mut kept, mut refused) = (0usize, Vec::new());
        for r in receipts {
            let id = r.receipt().proposal;
            let key = (id, r.receipt().executor);
            if self.receipts.contains_key(&key) {
                continue;
            }
            match r.verify_cached(self.receipt_roster(&id), &self.sigs) {
                Ok(v) => {
                    if self.admit_receipt(v, false) == Validation::Accept {
                        kept = kept.saturating_add(1);
                    }
                }
                Err(_) => refused.push(id),
            }
        }
        (kept, refused)
    }

    /// Encoded own receipts on proposals still in memory.
    pub(super) fn own_receipts_to_resend(&self) -> Vec<Vec<u8>> {
        self.receipts
            .iter()
            .filter(|((id, executor), _)| *executor == self.me && self.entries.contains_key(id))
            .filter_map(|(_, h)| codec::encode(&*h.receipt).ok())
            .collect()
    }
}
