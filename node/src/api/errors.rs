//! The body of every error answer: `{"error": {"code", "message"}}`.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// An error answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ErrorBody {
    /// What went wrong.
    pub error: ErrorDetail,
}

/// What went wrong: a stable code and a message for people.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ErrorDetail {
    /// Stable: `bad_request`, `unauthorized`, `unknown_proposal`, `already_voted`,
    /// `decided`, `expired`, `not_approved`, `capacity`, `too_large`, `shutting_down`,
    /// `doppelganger_listening`, `doppelganger_detected`, and for roster epochs
    /// `not_a_member` (this node's key is not in the roster that judges the proposal:
    /// joining, or removed), `invalid_roster_change`, `stale_roster_change`,
    /// `roster_change_conflict` and `proposer_removed`.
    #[schema(example = "already_voted")]
    pub code: String,
    /// For people; may change.
    pub message: String,
}
