//! Members' health as the API shows it: the degraded-voter detector's reasons and counts.
//! The detector (`daemon::health`) computes them; these are only the data.

use serde::{Deserialize, Serialize};
use swarmvote_protocol::{ProposalId, Vote, VoterId};
use utoipa::ToSchema;

/// Why a member is (or was) degraded.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
// Named apart from the ballot's `Reason` in the document.
#[schema(as = HealthReason)]
pub enum Reason {
    /// It signed both YES and NO on a proposal.
    Equivocation,
    /// Messages naming it as signer had signatures that do not verify.
    InvalidSignatures,
    /// Its ballots too often went against the outcome.
    Dissent,
    /// It too often cast no ballot before the decision (or expiry) plus the grace period.
    Missed,
}

impl Reason {
    /// Its name on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Equivocation => "equivocation",
            Reason::InvalidSignatures => "invalid_signatures",
            Reason::Dissent => "dissent",
            Reason::Missed => "missed",
        }
    }
}

/// Per-member counts over the window (plus anything seen since the last evaluation).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Counts {
    /// Ballots against the outcome.
    pub dissent: u32,
    /// Proposals without its ballot.
    pub missed: u32,
    /// Invalid signatures attributed to it.
    pub invalid_signatures: u32,
    /// Equivocations.
    pub equivocations: u32,
}

/// One member's health, for the API.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct VoterHealth {
    /// The member.
    pub voter: VoterId,
    /// Degraded now.
    pub degraded: bool,
    /// Why it is degraded, or over which thresholds it is now.
    pub reasons: Vec<Reason>,
    /// Counts over the window.
    pub counts: Counts,
    /// Consecutive evaluations towards the next transition.
    pub streak: u32,
    /// Its part in the window's most recent settled proposals (at most
    /// [`RECENT_OUTCOMES`]), oldest first: what the console charts.
    #[serde(default)]
    pub recent: Vec<RecentOutcome>,
}

/// Most entries in [`VoterHealth::recent`].
pub const RECENT_OUTCOMES: usize = 50;

/// What one member did on one settled proposal.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct RecentOutcome {
    /// The proposal.
    pub proposal: ProposalId,
    /// Its ballot, if it cast one (`None` also when it equivocated).
    pub vote: Option<Vote>,
    /// How that counted.
    pub mark: Mark,
}

/// How a member's part in one settled proposal counted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Mark {
    /// It voted with the outcome (or voted on a proposal that expired undecided).
    Agreed,
    /// It voted against the outcome.
    Dissent,
    /// It cast no ballot in time.
    Missed,
    /// It signed both YES and NO.
    Equivocation,
    /// It was not in the roster that judged the proposal.
    NotEligible,
}
