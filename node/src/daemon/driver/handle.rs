//! The handle other tasks use to talk to the driver: a bounded channel of commands with
//! one-shot replies, and the engine's event stream.

use swarmvote_protocol::engine::CommandError;
use swarmvote_protocol::{
    Action, Certificate, Payload, ProposalId, Reason, Signature, SignedBallot, Status, UnixMillis,
    Vote,
};
use tokio::sync::{broadcast, mpsc, oneshot};

use super::history::{ExportPage, ExportRequest};
use crate::api::{
    Numbered, ProposalPage, ProposalReport, ReceiptReport, RosterHistory, RosterView, StatusReport,
};

/// Filters for a proposal list.
#[derive(Clone, Debug, Default)]
pub struct ListFilter {
    /// Only this status.
    pub status: Option<Status>,
    /// Only this action.
    pub action: Option<String>,
    /// Only proposals created at or after this time.
    pub since: Option<UnixMillis>,
    /// Page size.
    pub limit: usize,
    /// Continue after this cursor (`<created_at>-<id>` of the last item seen).
    pub cursor: Option<(u64, ProposalId)>,
    /// Page through the whole stored history, not only what the engine holds.
    pub history: bool,
}

/// What the API can ask.
pub enum Command {
    /// List proposals.
    List {
        /// Filters and paging.
        filter: ListFilter,
        /// Reply.
        reply: oneshot::Sender<ProposalPage>,
    },
    /// Stored events after `after`, and a live subscription from there on, with no gap.
    Events {
        /// The last id the client saw.
        after: Option<u64>,
        /// Reply.
        reply: oneshot::Sender<(Vec<Numbered>, broadcast::Receiver<Numbered>)>,
    },
    /// Submit a proposal.
    Propose {
        /// Action.
        action: Action,
        /// Payload.
        payload: Payload,
        /// Lifetime.
        ttl_ms: u64,
        /// Reply.
        reply: oneshot::Sender<Result<ProposalId, CommandError>>,
    },
    /// Cast this node's ballot.
    Vote {
        /// The proposal.
        proposal: ProposalId,
        /// The vote.
        vote: Vote,
        /// Why.
        reason: Option<Reason>,
        /// Reply.
        reply: oneshot::Sender<Result<SignedBallot, CommandError>>,
    },
    /// One proposal.
    Get {
        /// Its id.
        proposal: ProposalId,
        /// Reply.
        reply: oneshot::Sender<Option<ProposalReport>>,
    },
    /// A certificate.
    Certificate {
        /// Its proposal.
        proposal: ProposalId,
        /// Reply: `None` if unknown, `Some(None)` if not approved.
        reply: oneshot::Sender<Option<Option<Certificate>>>,
    },
    /// A page of the audit export.
    Export {
        /// What to export, and from where.
        request: ExportRequest,
        /// Reply: the page, or why the store could not be read.
        reply: oneshot::Sender<Result<ExportPage, String>>,
    },
    /// Seal an export: sign its chain hash and line count with the voter key.
    Seal {
        /// The hash of the last line before the seal.
        chain: [u8; 32],
        /// Lines before the seal.
        lines: u64,
        /// Reply.
        reply: oneshot::Sender<Signature>,
    },
    /// The receipts of a proposal, known here or not.
    Receipts {
        /// Its proposal.
        proposal: ProposalId,
        /// Reply.
        reply: oneshot::Sender<Vec<ReceiptReport>>,
    },
    /// The node's status.
    Status {
        /// Reply.
        reply: oneshot::Sender<StatusReport>,
    },
    /// The head roster.
    Roster {
        /// Reply.
        reply: oneshot::Sender<RosterView>,
    },
    /// The roster chain.
    RosterHistory {
        /// Reply.
        reply: oneshot::Sender<RosterHistory>,
    },
}

/// The handle other tasks use.
#[derive(Clone)]
pub struct Client {
    pub(crate) commands: mpsc::Sender<Command>,
    pub(crate) events: broadcast::Sender<Numbered>,
}

/// The driver stopped.
#[derive(Debug, thiserror::Error)]
#[error("the node is shutting down")]
pub struct Stopped;

impl Client {
    async fn ask<T>(&self, make: impl FnOnce(oneshot::Sender<T>) -> Command) -> Result<T, Stopped> {
        let (tx, rx) = oneshot::channel();
        self.commands.send(make(tx)).await.map_err(|_| Stopped)?;
        rx.await.map_err(|_| Stopped)
    }

    /// Submits a proposal.
    pub async fn propose(
        &self,
        action: Action,
        payload: Payload,
        ttl_ms: u64,
    ) -> Result<Result<ProposalId, CommandError>, Stopped> {
        self.ask(|reply| Command::Propose {
            action,
            payload,
            ttl_ms,
            reply,
        })
        .await
    }

    /// Casts this node's ballot.
    pub async fn vote(
        &self,
        proposal: ProposalId,
        vote: Vote,
        reason: Option<Reason>,
    ) -> Result<Result<SignedBallot, CommandError>, Stopped> {
        self.ask(|reply| Command::Vote {
            proposal,
            vote,
            reason,
            reply,
        })
        .await
    }

    /// One proposal.
    pub async fn get(&self, proposal: ProposalId) -> Result<Option<ProposalReport>, Stopped> {
        self.ask(|reply| Command::Get { proposal, reply }).await
    }

    /// A certificate.
    pub async fn certificate(
        &self,
        proposal: ProposalId,
    ) -> Result<Option<Option<Certificate>>, Stopped> {
        self.ask(|reply| Command::Certificate { proposal, reply })
            .await
    }

    /// The receipts of a proposal, with their standing and certificates.
    pub async fn receipts(&self, proposal: ProposalId) -> Result<Vec<ReceiptReport>, Stopped> {
        self.ask(|reply| Command::Receipts { proposal, reply })
            .await
    }

    /// The node's status.
    pub async fn status(&self) -> Result<StatusReport, Stopped> {
        self.ask(|reply| Command::Status { reply }).await
    }

    /// The head roster.
    pub async fn roster(&self) -> Result<RosterView, Stopped> {
        self.ask(|reply| Command::Roster { reply }).await
    }

    /// The roster chain.
    pub async fn roster_history(&self) -> Result<RosterHistory, Stopped> {
        self.ask(|reply| Command::RosterHistory { reply }).await
    }

    /// Engine events from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Numbered> {
        self.events.subscribe()
    }

    /// Stored events after `after` and a live subscription continuing them.
    pub async fn events(
        &self,
        after: Option<u64>,
    ) -> Result<(Vec<Numbered>, broadcast::Receiver<Numbered>), Stopped> {
        self.ask(|reply| Command::Events { after, reply }).await
    }

    /// A page of the audit export.
    pub async fn export_page(
        &self,
        request: ExportRequest,
    ) -> Result<Result<ExportPage, String>, Stopped> {
        self.ask(|reply| Command::Export { request, reply }).await
    }

    /// Seals an export.
    pub async fn seal(&self, chain: [u8; 32], lines: u64) -> Result<Signature, Stopped> {
        self.ask(|reply| Command::Seal {
            chain,
            lines,
            reply,
        })
        .await
    }

    /// A page of proposals.
    pub async fn list(&self, filter: ListFilter) -> Result<ProposalPage, Stopped> {
        self.ask(|reply| Command::List { filter, reply }).await
    }
}
