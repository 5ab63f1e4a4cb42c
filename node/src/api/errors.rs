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
    /// `decided`, `expired`, `not_approved`, `capacity`, `too_large`, `shutting_down`.
    #[schema(example = "already_voted")]
    pub code: String,
    /// For people; may change.
    pub message: String,
}
