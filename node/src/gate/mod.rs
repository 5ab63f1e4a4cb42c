//! `swarmvote gate`: a gate in front of commands (`gate exec`, like `sudo` for agents)
//! and agent tool calls (`gate hook`, Claude Code's `PreToolUse`).
//!
//! Both ask the same question through the node's API: submit a proposal, follow it until
//! it is decided, it expires or the caller's deadline passes, and, when it is approved,
//! fetch its quorum certificate and verify it locally against the roster (after roster
//! changes, against the roster the node's chain reaches from it, every step verified).
//! An approval whose certificate does not verify, or proves another proposal, counts for
//! nothing.
//!
//! - [`crate::config::gate`]: `[gate]` in the node config (which tool calls are critical);
//! - [`hook`]: the agent hook's event in and answer out;
//! - [`exec`]: running the gated program and its exit codes.

pub mod exec;
pub mod hook;

use std::fmt::Write as _;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use serde_json::Value;
use swarmvote_protocol::{Certificate, Payload, ProposalId, Roster, Status, Vote};

use crate::api::ProposalReport;
use crate::cli::certificate::{CertificateSummary, verify_certificate};
use crate::cli::client::{ClientError, Followed, NodeClient};
use crate::cli::render::Names;

pub use crate::config::gate::{GateConfigError, GateRules, GateSection, Unmatched};

/// How a gated request ended, when the node answered.
#[derive(Clone, Debug)]
pub enum Verdict {
    /// Approved, with a certificate that verifies against the roster and proves this
    /// very proposal.
    Approved {
        /// The proposal.
        id: ProposalId,
        /// Its report.
        report: Box<ProposalReport>,
        /// The certificate, as the node sent it.
        certificate: Value,
        /// What the certificate proves.
        summary: Box<CertificateSummary>,
    },
    /// Rejected by a quorum of NO votes.
    Rejected {
        /// The proposal.
        id: ProposalId,
        /// Its report (ballots with reasons).
        report: Box<ProposalReport>,
    },
    /// Expired undecided.
    Expired {
        /// The proposal.
        id: ProposalId,
        /// Its report.
        report: Box<ProposalReport>,
    },
    /// Still pending at the caller's deadline.
    Undecided {
        /// The proposal.
        id: ProposalId,
        /// Its report.
        report: Box<ProposalReport>,
    },
}

/// Why a gated request got no verdict.
#[derive(Debug, thiserror::Error)]
pub enum GateError {
    /// The node could not be reached, refused the token or the request, or answered
    /// something unexpected.
    #[error("{0}")]
    Client(#[from] ClientError),
    /// The node says approved, but its certificate does not hold: nothing may run.
    #[error("proposal {id} is reported approved, but its certificate is refused: {reason}")]
    Certificate {
        /// The proposal.
        id: ProposalId,
        /// What is wrong with the certificate.
        reason: String,
    },
}

/// What the gate asks for.
#[derive(Clone, Debug)]
pub struct Request<'a> {
    /// The action.
    pub action: &'a str,
    /// The payload.
    pub payload: Value,
    /// Proposal lifetime, ms (`None`: the node's default).
    pub ttl_ms: Option<u64>,
    /// When to stop waiting for the decision; no request to the node runs past it.
    pub deadline: Instant,
}

/// Proposes `request` through `client` and follows it to a verdict; an approval is
/// checked against `roster` before it is believed.
pub fn seek_approval(
    client: NodeClient,
    roster: &Roster,
    request: Request<'_>,
) -> Result<Verdict, GateError> {
    let client = client.with_deadline(request.deadline);
    let Followed { id, report, .. } = client.propose_and_follow(
        request.action,
        request.payload.clone(),
        request.ttl_ms,
        request.deadline,
    )?;
    let report = Box::new(report);
    Ok(match report.status {
        Status::Rejected => Verdict::Rejected { id, report },
        Status::Expired => Verdict::Expired { id, report },
        Status::Pending => Verdict::Undecided { id, report },
        Status::Approved => {
            let certificate = client.certificate(&id)?;
            let summary = judged_by(&client, roster, &certificate)
                .and_then(|roster| check_certificate(&certificate, &roster, id, &request))
                .map_err(|reason| GateError::Certificate { id, reason })?;
            Verdict::Approved {
                id,
                report,
                certificate,
                summary: Box::new(summary),
            }
        }
    })
}

/// The roster the certificate's proposal names: `roster` itself, or, after roster
/// changes, the roster the node's chain reaches from it, every step verified against
/// the roster before it (so the node cannot lie about it).
fn judged_by(client: &NodeClient, roster: &Roster, certificate: &Value) -> Result<Roster, String> {
    let named = serde_json::from_value::<Certificate>(certificate.clone())
        .ok()
        .map(|c| c.proposal().proposal().roster);
    match named {
        Some(digest) if digest != roster.digest() => {
            let history = client.roster_history().map_err(|e| e.to_string())?;
            let chain = crate::cli::roster::chain_from(roster.clone(), "the roster file", &history)
                .map_err(|e| format!("the node's roster chain: {e}"))?;
            chain.get(&digest).cloned().ok_or_else(|| {
                format!(
                    "its proposal commits to roster {digest}, which the node's roster chain \
                     does not reach from the roster file ({})",
                    roster.digest()
                )
            })
        }
        // Not named, or the roster itself: the check says what is wrong, if anything.
        _ => Ok(roster.clone()),
    }
}

/// The certificate verifies against the roster, proves proposal `id` with the requested
/// action and payload, and has not expired.
fn check_certificate(
    certificate: &Value,
    roster: &Roster,
    id: ProposalId,
    request: &Request<'_>,
) -> Result<CertificateSummary, String> {
    let summary = verify_certificate(certificate, roster).map_err(|e| e.to_string())?;
    if summary.proposal != id {
        return Err(format!("it proves proposal {}, not {id}", summary.proposal));
    }
    if summary.action != request.action {
        return Err(format!(
            "it approves action {:?}, not {:?}",
            summary.action, request.action
        ));
    }
    let same_payload = match (
        Payload::from_value(&summary.payload),
        Payload::from_value(&request.payload),
    ) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    };
    if !same_payload {
        return Err("it approves another payload than the one requested".into());
    }
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0);
    if now >= summary.expires_at {
        return Err(format!(
            "the proposal expired at {} (unix ms); an approval is good only until then",
            summary.expires_at
        ));
    }
    Ok(summary)
}

/// `2 yes, 1 no (n = 3, q = 2)`.
pub fn tally_text(report: &ProposalReport) -> String {
    let t = &report.tally;
    format!(
        "{} yes, {} no (n = {}, q = {})",
        t.yes.len(),
        t.no.len(),
        t.n,
        t.q
    )
}

/// The NO ballots as `name: "reason"` (or `name: no reason given`).
pub fn no_reasons(report: &ProposalReport, names: &Names) -> Vec<String> {
    report
        .ballots
        .iter()
        .map(|b| b.ballot())
        .filter(|b| b.vote == Vote::No)
        .map(|b| {
            let mut line = names.of(&b.voter);
            match &b.reason {
                Some(r) => {
                    let _ = write!(line, ": {:?}", r.as_str());
                }
                None => line.push_str(": no reason given"),
            }
            line
        })
        .collect()
}
