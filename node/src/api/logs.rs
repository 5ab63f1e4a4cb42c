//! The node's recent WARN and ERROR log lines (`GET /v1/logs`), as the in-memory ring
//! (`daemon::log_ring`) keeps them for the web console.

use serde::{Deserialize, Serialize};
use swarmvote_protocol::UnixMillis;
use utoipa::ToSchema;

/// One log line.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct LogLine {
    /// When it was logged (unix ms).
    pub at: UnixMillis,
    /// `WARN` or `ERROR`.
    pub level: String,
    /// The module that logged it.
    pub target: String,
    /// The message.
    pub message: String,
    /// Its structured fields, as `key=value` pairs separated by spaces.
    pub fields: String,
}

/// The recent WARN and ERROR lines, oldest first.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct LogPage {
    /// The lines still in the ring, oldest first.
    pub lines: Vec<LogLine>,
    /// How many lines the ring holds at most.
    pub capacity: u32,
    /// Lines logged since start that no longer fit (the oldest are dropped first).
    pub dropped: u64,
}
