//! The executor's record of one run, as stored and as the API shows it. The executor
//! (`daemon::executor`) and the store (`daemon::store::executions`) own its life; these
//! are only the data.

use std::fmt;

use serde::{Deserialize, Serialize};
use swarmvote_protocol::{ProposalId, UnixMillis};
use utoipa::ToSchema;

/// Where an execution is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ExecutionState {
    /// Recorded (durably) as started; the process is running, or the node stopped while
    /// it ran (then the next start marks it `interrupted`).
    Started,
    /// The process ended, or could not be started or was killed at its timeout (see
    /// `exit_code` and `error`).
    Finished,
    /// The node stopped while the process ran. Never re-run: it may have had effects.
    Interrupted,
    /// Not run: expired, no valid certificate, or the certificate could not be handed over.
    Refused,
}

impl ExecutionState {
    /// Whether nothing more will happen to it.
    pub fn is_terminal(self) -> bool {
        !matches!(self, ExecutionState::Started)
    }
}

impl fmt::Display for ExecutionState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ExecutionState::Started => "started",
            ExecutionState::Finished => "finished",
            ExecutionState::Interrupted => "interrupted",
            ExecutionState::Refused => "refused",
        })
    }
}

/// One execution of an approved proposal's action on this (the proposer's) node.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ExecutionRecord {
    /// The proposal.
    pub proposal: ProposalId,
    /// Its action.
    pub action: String,
    /// Where it is.
    pub state: ExecutionState,
    /// The process's exit code, if it exited (not when killed by a signal).
    pub exit_code: Option<i32>,
    /// The start of its standard output (lossy UTF-8, at most 64 KiB).
    pub stdout: String,
    /// The start of its standard error (lossy UTF-8, at most 64 KiB).
    pub stderr: String,
    /// Output beyond the captured bytes was discarded.
    pub stdout_truncated: bool,
    /// Same for standard error.
    pub stderr_truncated: bool,
    /// When it was recorded as started (unix ms).
    pub started_at: Option<UnixMillis>,
    /// When it finished, was refused or was found interrupted (unix ms).
    pub finished_at: Option<UnixMillis>,
    /// What went wrong, if anything.
    pub error: Option<String>,
}

impl ExecutionRecord {
    /// A record with no output yet.
    pub fn new(proposal: ProposalId, action: String, state: ExecutionState) -> Self {
        Self {
            proposal,
            action,
            state,
            exit_code: None,
            stdout: String::new(),
            stderr: String::new(),
            stdout_truncated: false,
            stderr_truncated: false,
            started_at: None,
            finished_at: None,
            error: None,
        }
    }
}
