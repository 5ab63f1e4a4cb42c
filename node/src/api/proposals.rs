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
    /// When this node accepted each ballot, as ms after the proposal's `created_at`
    /// (kept for recent proposals only; empty after a restart).
    #[serde(default)]
    pub ballot_latencies: Vec<BallotLatency>,
    /// The approved proposal's certificate, checked here against the roster that judged
    /// it; absent unless approved.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub certificate: Option<CertificateCheck>,
    /// Signed execution receipts for it, from every node that ran it, each with its
    /// standing here (an unbacked one is evidence against its executor). Absent in
    /// reports from nodes older than receipts.
    #[serde(default)]
    pub receipts: Vec<ReceiptReport>,
}

/// When this node accepted one member's ballot.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct BallotLatency {
    /// The member.
    pub voter: VoterId,
    /// Milliseconds from the proposal's creation (the proposer's clock) to acceptance
    /// here (this node's clock).
    #[schema(minimum = 0)]
    pub latency_ms: u64,
}

/// The result of checking an approved proposal's certificate on this node, as
/// `swarmvote verify-cert` would offline.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct CertificateCheck {
    /// Whether every signature and the quorum check out.
    pub valid: bool,
    /// The tier that approved it.
    pub tier: Option<String>,
    /// YES votes needed under that tier.
    pub required: Option<u32>,
    /// YES ballots in the certificate.
    #[schema(minimum = 0)]
    pub signers: usize,
    /// Why it does not verify.
    pub error: Option<String>,
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
    /// Members of the roster that judges it.
    #[serde(default)]
    pub n: u32,
    /// YES votes it needs (its tier's `q`).
    #[serde(default)]
    pub q: u32,
}

impl ProposalSummary {
    /// The summary of `proposal`, with its status and tally outcome.
    pub fn new(proposal: &SignedProposal, status: Status, outcome: &Outcome) -> Self {
        let p = proposal.proposal();
        Self {
            id: proposal.id(),
            action: p.action.clone(),
            proposer: p.proposer,
            created_at: p.created_at,
            expires_at: p.expires_at,
            status,
            yes: outcome.yes.len(),
            no: outcome.no.len(),
            n: outcome.n,
            q: outcome.q,
        }
    }
}
