//! The catch-up wire messages: what two peers exchange point to point to reconcile the
//! proposals and ballots they hold. How an engine builds and answers them is
//! `engine::sync`; the caps it applies are [`crate::engine::MAX_ENTRIES`] and its siblings.

use serde::{Deserialize, Serialize};

use crate::certificate::Certificate;
use crate::codec::{Kind, Message};
use crate::ids::ProposalId;
use crate::message::{SignedBallot, SignedProposal};
use crate::receipt::SignedReceipt;

/// A range of the key space (created_at, proposal id): proposals with
/// `from <= created_at.0 < to` and whose id starts with `prefix` (0, 1 or 2 bytes).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Range {
    /// First `created_at` included.
    pub from: u64,
    /// First `created_at` excluded.
    pub to: u64,
    /// Leading bytes of the proposal id: 0, 1 or 2 of them.
    pub prefix: Vec<u8>,
}

/// A range with the sender's count and XOR of entry digests in it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RangeSummary {
    /// The range.
    pub range: Range,
    /// Proposals the sender holds in it.
    pub count: u32,
    /// XOR of their entry digests (all zero for none).
    pub digest: [u8; 32],
}

/// A catch-up request, sent point to point.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum SyncRequest {
    /// The sender's summaries. `complete` = these ranges cover every proposal the sender
    /// holds (the top-level request); anything the receiver holds outside them is missing
    /// at the sender.
    Reconcile {
        /// The sender's summaries.
        ranges: Vec<RangeSummary>,
        /// Whether they cover everything the sender holds.
        complete: bool,
    },
    /// Send me these proposals and all their kept ballots.
    Fetch(Vec<ProposalId>),
    /// Send me your roster chain's steps after this epoch (the sender met proposals
    /// under a roster it does not know).
    Steps {
        /// The sender's head epoch.
        after: u64,
    },
}

/// The answer to a [`SyncRequest`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum SyncResponse {
    /// Per-proposal digests for small mismatching ranges, and finer summaries for big ones.
    Reconcile {
        /// (id, entry digest) of proposals in small ranges that differ.
        entries: Vec<(ProposalId, [u8; 32])>,
        /// The responder's summaries of the sub-ranges of big ranges that differ.
        ranges: Vec<RangeSummary>,
    },
    /// Requested proposals with their kept ballots (`tally.ballots()`).
    Items {
        /// The proposals.
        proposals: Vec<SignedProposal>,
        /// Their kept ballots.
        ballots: Vec<SignedBallot>,
    },
    /// Main-chain roster steps after the requested epoch, in epoch order: the
    /// certificates of the approved roster changes.
    Steps(Vec<Certificate>),
    /// [`SyncResponse::Items`], with the execution receipts held for those proposals
    /// (sent instead of `Items` only when there are receipts, so a swarm that executes
    /// nothing exchanges exactly what it always did).
    ItemsWithReceipts {
        /// The proposals.
        proposals: Vec<SignedProposal>,
        /// Their kept ballots.
        ballots: Vec<SignedBallot>,
        /// Their receipts.
        receipts: Vec<SignedReceipt>,
    },
}

impl Message for SyncRequest {
    const KIND: Kind = Kind::SyncRequest;
}

impl Message for SyncResponse {
    const KIND: Kind = Kind::SyncResponse;
}
