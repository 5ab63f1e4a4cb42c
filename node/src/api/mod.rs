//! The HTTP API's contract: the types the node serializes and the CLI client
//! deserializes, the bounds of what clients send, and the OpenAPI document's frame.
//! Nothing here depends on the daemon or the CLI; both depend on this.

mod errors;
mod events;
mod execution;
mod export;
mod health;
mod logs;
pub mod openapi;
mod proposals;
mod receipts;
mod requests;
mod roster;
mod status;

pub use errors::{ErrorBody, ErrorDetail};
pub use events::{HealthChange, HealthEvent, NodeEvent, Numbered};
pub use execution::{ExecutionRecord, ExecutionState};
pub use export::{EXPORT_FORMAT, EXPORT_VERSION, ExportEntry, ExportHeader, ExportLine};
pub use health::{Counts, Mark, RECENT_OUTCOMES, Reason, RecentOutcome, VoterHealth};
pub use logs::{LogLine, LogPage};
pub use proposals::{
    BallotLatency, CertificateCheck, ProposalPage, ProposalReport, ProposalSummary, Proposed,
};
pub use receipts::{ReceiptFile, ReceiptReport};
pub use requests::{
    DEFAULT_LIMIT, DEFAULT_TTL_MS, EventsQuery, ExportQuery, ListQuery, MAX_WAIT_MS, ProposalQuery,
    ProposeBody, VoteBody,
};
pub use roster::{HistoryStep, MemberView, RosterHistory, RosterView, TierView};
pub use status::{
    PeerReport, RefusedPeer, StatusReport, Traffic, UnreachablePeer, VoterHealthReport,
};
