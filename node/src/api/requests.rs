//! What clients send: the bodies of `POST /v1/proposals` and `POST /v1/proposals/{id}/vote`
//! and the queries of `GET /v1/proposals`, `GET /v1/proposals/{id}` and `GET /v1/events`, with the bounds the
//! server enforces.

use serde::{Deserialize, Serialize};
use swarmvote_protocol::Vote;
use utoipa::{IntoParams, ToSchema};

/// Default proposal lifetime.
pub const DEFAULT_TTL_MS: u64 = 60_000;
/// Longest `wait_ms` honoured; a longer wait is shortened to this.
pub const MAX_WAIT_MS: u64 = 300_000;
/// Page size when `limit` is absent.
pub const DEFAULT_LIMIT: usize = 100;

/// `POST /v1/proposals` body.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProposeBody {
    /// What it asks, such as `fs.delete`: 1 to 64 of ASCII letters, digits, '.', '_',
    /// '-', ':' and '/'.
    #[schema(value_type = swarmvote_protocol::Action, example = "fs.delete")]
    pub action: String,
    /// Details of the action: any JSON value, stored as canonical JSON of at most 32 KiB
    /// (a larger one is refused with 413).
    #[schema(value_type = Value)]
    pub payload: serde_json::Value,
    /// Lifetime in ms (default 60000, at most 7 days); `null` means the default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 1, maximum = 604_800_000)]
    pub ttl_ms: Option<u64>,
    /// Answer only once the proposal is decided or expired, or after this many ms
    /// (longer waits are shortened to 300000). Absent or `null`: answer at once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 0)]
    pub wait_ms: Option<u64>,
}

/// `POST /v1/proposals/{id}/vote` body.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VoteBody {
    /// The vote.
    pub vote: Vote,
    /// Why, optionally: 1 to 1024 bytes of UTF-8 without control characters other than
    /// newline and tab. Absent or `null`: no reason.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<swarmvote_protocol::Reason>)]
    pub reason: Option<String>,
}

/// `GET /v1/proposals` query.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Only proposals with this status.
    #[param(value_type = Option<swarmvote_protocol::Status>)]
    pub status: Option<String>,
    /// Only this action.
    pub action: Option<String>,
    /// Created at or after (unix ms).
    #[param(minimum = 0)]
    pub since: Option<u64>,
    /// Page size (default 100); values outside 1..=1000 are clamped into it.
    #[param(minimum = 0)]
    pub limit: Option<usize>,
    /// The `next_cursor` of the previous page.
    #[param(pattern = "^[0-9]{1,20}-[0-9a-fA-F]{64}$")]
    pub cursor: Option<String>,
    /// Page through the whole stored history, not only the proposals listed by default
    /// (those within `[retention] listed_secs` of their expiry). A history page looks at
    /// 10000 proposals at most, so with filters it can come back short, even empty, with
    /// a `next_cursor`: keep going until there is none.
    pub history: Option<bool>,
}

/// `GET /v1/export` query.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ExportQuery {
    /// Proposals created at or after this (unix ms).
    #[param(minimum = 0)]
    pub since: u64,
    /// ... and before this (unix ms). Absent: up to now.
    #[param(minimum = 0)]
    pub until: Option<u64>,
}

/// `GET /v1/proposals/{id}` query.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ProposalQuery {
    /// Answer only once the proposal is decided or expired, or after this many ms
    /// (longer waits are shortened to 300000). Absent: answer at once.
    #[param(minimum = 0)]
    pub wait_ms: Option<u64>,
}

/// `GET /v1/events` query.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct EventsQuery {
    /// Resume after this event id (the `Last-Event-ID` header wins when both are given).
    #[param(minimum = 0)]
    pub after: Option<u64>,
}
