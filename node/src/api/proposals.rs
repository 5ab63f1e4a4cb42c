//! Proposals as the API shows them: the full report, list pages and the answer to a
//! submission.

use serde::{Deserialize, Serialize};
use swarmvote_protocol::{
    Action, Equivocation, Outcome, ProposalId, SignedBallot, SignedProposal, Status, UnixMillis,
    VoterId,
};
use utoipa::ToSchema;

use super::{ExecutionRecord, ReceiptReport};

/// A proposal as the API shows it.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct ProposalReport {
    /// Its id.
    pub id: ProposalId,
    /// The signed proposal.
    pub proposal: SignedProposal,
    /// Its status now.
    pub status: Status,
    /// The tally.
    pub tally: Outcome,
    /// Every kept ballot.
    pub ballots: Vec<SignedBallot>,
    /// Equivocation evidence.
    pub equivocations: Vec<Equivocation>,
    /// When it was decided here.
    pub decided_at: Option<UnixMillis>,
    /// The same, in microseconds (kept for recent decisions only).
    #[schema(minimum = 0)]
    pub decided_at_us: Option<u64>,
    /// This node's ballot.
    pub own_ballot: Option<SignedBallot>,
    /// The executor's run of this proposal (proposer's node only).
    pub execution: Option<ExecutionRecord>,
    /// Signed execution receipts for it, from every node that ran it, each with its
    /// standing here (an unbacked one is evidence against its executor). Absent in
    /// reports from nodes older than receipts.
    #[serde(default)]
    pub receipts: Vec<ReceiptReport>,
}

/// The answer to `POST /v1/proposals`.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct Proposed {
    /// The new proposal's id.
    pub id: ProposalId,
    /// With `wait_ms`: the proposal once decided or expired, or as it is when the wait
    /// ended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub proposal: Option<ProposalReport>,
}

/// A page of proposals.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct ProposalPage {
    /// Summaries, newest first.
    pub proposals: Vec<ProposalSummary>,
    /// Pass as `cursor` to get the next page; absent on the last page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false, pattern = "^[0-9]{1,20}-[0-9a-f]{64}$")]
    pub next_cursor: Option<String>,
}

/// One line of a proposal list.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct ProposalSummary {
    /// Its id.
    pub id: ProposalId,
    /// What it asks.
    pub action: Action,
    /// Who proposed it.
    pub proposer: VoterId,
    /// When it was created.
    pub created_at: UnixMillis,
    /// When it expires.
    pub expires_at: UnixMillis,
    /// Its status now.
    pub status: Status,
    /// Distinct YES signers.
    pub yes: usize,
    /// Distinct NO signers.
    pub no: usize,
}
