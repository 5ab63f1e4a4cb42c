//! The audit export's lines (`GET /v1/export`, `swarmvote export`): JSON lines that form
//! a hash chain, ending in a line sealed by the exporting node's voter key.
//!
//! Every line is `{"n": <1-based line number>, "prev": <hex SHA-256 of the previous
//! line's bytes, without its newline; 64 zeros on line 1>, "entry": {...}}`. The first
//! entry is the header, then every roster step (the chain from the genesis roster), then
//! for each proposal created in the window, oldest first: the proposal, its ballots, its
//! equivocation evidence, the decision reached, its certificate if approved, the
//! execution record if this node ran its action, and the signed execution receipts; then
//! receipts for proposals this node never held. The last entry is the end, whose seal
//! signs the hash of the line before it and the number of lines before it.

use serde::{Deserialize, Serialize};
use swarmvote_protocol::engine::Decision;
use swarmvote_protocol::receipt::SignedReceipt;
use swarmvote_protocol::{
    Certificate, Equivocation, RosterDigest, Signature, SignedBallot, SignedProposal, UnixMillis,
    VoterId,
};
use utoipa::ToSchema;

use super::ExecutionRecord;

/// The header's `format`.
pub const EXPORT_FORMAT: &str = "swarmvote-export";
/// The version this code writes and reads.
pub const EXPORT_VERSION: u32 = 1;

/// One line of an export.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ExportLine {
    /// The line's number, from 1.
    pub n: u64,
    /// Hex SHA-256 of the previous line's bytes (64 zeros on line 1).
    #[schema(pattern = "^[0-9a-f]{64}$")]
    pub prev: String,
    /// What the line records.
    pub entry: ExportEntry,
}

/// What one line records.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum ExportEntry {
    /// The first line: what the file is.
    Header {
        /// What the file is.
        header: ExportHeader,
    },
    /// An approved roster change: its certificate, checked against the roster before it.
    RosterStep {
        /// The certificate.
        certificate: Certificate,
    },
    /// A proposal.
    Proposal {
        /// The signed proposal.
        proposal: SignedProposal,
    },
    /// A ballot on the proposal before it.
    Ballot {
        /// The signed ballot.
        ballot: SignedBallot,
    },
    /// Proof that a voter signed both YES and NO on the proposal.
    Evidence {
        /// The two ballots.
        evidence: Equivocation,
    },
    /// The verdict this node reached, and when.
    Decision {
        /// The decision.
        #[schema(value_type = Object)]
        decision: Decision,
    },
    /// The quorum certificate of an approved proposal.
    Certificate {
        /// The certificate.
        certificate: Certificate,
    },
    /// This node's executor record for the proposal (not signed: it is this node's
    /// account; the chain and the seal cover it).
    Execution {
        /// The record.
        execution: ExecutionRecord,
    },
    /// A signed execution receipt: after its proposal's lines, or, for a proposal this
    /// node never held, after all proposals. Checked, then judged against the lines of
    /// its proposal: one no certificate backs is evidence against its executor.
    Receipt {
        /// The signed receipt.
        receipt: SignedReceipt,
    },
    /// The last line.
    End {
        /// Lines before this one.
        lines: u64,
        /// Proposals in the file.
        proposals: u64,
        /// The exporting node's signature over the hash of the line before this one and
        /// `lines` (domain `swarmvote/v1/export-seal`).
        seal: Signature,
    },
}

/// The first line's entry.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ExportHeader {
    /// Always `swarmvote-export`.
    pub format: String,
    /// Always 1 for this code.
    pub version: u32,
    /// The swarm.
    pub swarm: String,
    /// The genesis roster's digest: verify against this roster.
    pub genesis: RosterDigest,
    /// The exporting node's voter id: the key of the seal.
    pub node: VoterId,
    /// Proposals created at or after this (unix ms) are included.
    pub since: UnixMillis,
    /// ... and before this (unix ms), if set.
    #[schema(nullable = true)]
    pub until: Option<UnixMillis>,
    /// When the export was written (unix ms).
    pub exported_at: UnixMillis,
}
