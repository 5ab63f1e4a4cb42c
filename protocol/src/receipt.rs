//! Execution receipts: what a member's executor ran for an approved proposal, signed
//! with its voter key, and how a receipt is judged against a certificate.
//!
//! A receipt names the proposal, the digest of the certificate the executor ran under
//! and the voters whose YES ballots that certificate carries (so any node holding those
//! ballots rebuilds the exact certificate and checks the digest), the command, the exit
//! code, SHA-256 digests of the whole stdout and stderr, and the start and end times.
//! It is signed over `signing_bytes(Domain::Receipt, swarm, body)`, like every other
//! signature.
//!
//! **Standing.** A receipt is *backed* when a certificate whose digest it names approves
//! the same proposal, verifies under the roster that judges it, and was proposed by the
//! receipt's executor (only the proposer's node runs an action). Anything else is
//! *unbacked*: a signed statement by the executor that it ran something the swarm did
//! not approve (or not in this form), which is evidence against that member.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::certificate::Certificate;
use crate::codec::{self, Kind, Message};
use crate::crypto::{self, Domain, SecretKey, Signature, Verified};
use crate::ids::{
    CertificateDigest, MAX_MEMBERS, OutputDigest, ProposalId, SwarmId, UnixMillis, VoterId,
};
use crate::message::{SignedProposal, VerifyError, Vote};
use crate::roster::Roster;
use crate::sigcache::SignatureCache;
use crate::tally::{Tally, Verdict};

/// Longest command line a receipt carries, in bytes.
pub const MAX_COMMAND_BYTES: usize = 4 * 1024;

/// Why a receipt's fields are not acceptable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReceiptError {
    /// The command line is longer than [`MAX_COMMAND_BYTES`].
    #[error("command is {len} bytes; at most {MAX_COMMAND_BYTES} are allowed")]
    CommandTooLong {
        /// Its length.
        len: usize,
    },
    /// The approvers are not strictly ascending, or too many.
    #[error("approvers must be distinct, in ascending order, and at most {MAX_MEMBERS}")]
    Approvers,
    /// The run ended before it started.
    #[error("finished_at {finished_at} is before started_at {started_at}")]
    Window {
        /// Start.
        started_at: UnixMillis,
        /// End.
        finished_at: UnixMillis,
    },
}

/// What an executor ran, and how it ended.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(try_from = "ReceiptFields")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Receipt {
    /// The swarm.
    pub swarm: SwarmId,
    /// The approved proposal that was run.
    pub proposal: ProposalId,
    /// The digest of the certificate the executor ran under.
    pub certificate: CertificateDigest,
    /// The voters whose YES ballots that certificate carries, ascending.
    pub approvers: Vec<VoterId>,
    /// The member whose node ran it (and signs this receipt).
    pub executor: VoterId,
    /// The command line, arguments separated by spaces (at most 4 KiB).
    pub command: String,
    /// The exit code; none when the process was killed or never started.
    pub exit_code: Option<i32>,
    /// SHA-256 of the whole standard output.
    pub stdout: OutputDigest,
    /// SHA-256 of the whole standard error.
    pub stderr: OutputDigest,
    /// When the run started (Unix ms).
    pub started_at: UnixMillis,
    /// When it ended (Unix ms).
    pub finished_at: UnixMillis,
}

/// The same fields, unchecked: what deserialization reads before [`Receipt::validate`].
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ReceiptFields {
    swarm: SwarmId,
    proposal: ProposalId,
    certificate: CertificateDigest,
    approvers: Vec<VoterId>,
    executor: VoterId,
    command: String,
    exit_code: Option<i32>,
    stdout: OutputDigest,
    stderr: OutputDigest,
    started_at: UnixMillis,
    finished_at: UnixMillis,
}

impl TryFrom<ReceiptFields> for Receipt {
    type Error = ReceiptError;
    fn try_from(f: ReceiptFields) -> Result<Self, ReceiptError> {
        let r = Receipt {
            swarm: f.swarm,
            proposal: f.proposal,
            certificate: f.certificate,
            approvers: f.approvers,
            executor: f.executor,
            command: f.command,
            exit_code: f.exit_code,
            stdout: f.stdout,
            stderr: f.stderr,
            started_at: f.started_at,
            finished_at: f.finished_at,
        };
        r.validate()?;
        Ok(r)
    }
}

impl Receipt {
    /// Checks what a signature cannot: the command's length, the approvers' order, the
    /// time window.
    pub fn validate(&self) -> Result<(), ReceiptError> {
        if self.command.len() > MAX_COMMAND_BYTES {
            return Err(ReceiptError::CommandTooLong {
                len: self.command.len(),
            });
        }
        if self.approvers.len() > MAX_MEMBERS
            || self.approvers.windows(2).any(|w| w.first() >= w.get(1))
        {
            return Err(ReceiptError::Approvers);
        }
        if self.finished_at < self.started_at {
            return Err(ReceiptError::Window {
                started_at: self.started_at,
                finished_at: self.finished_at,
            });
        }
        Ok(())
    }

    /// Signs as `key`; the executor field must be `key`'s voter id.
    pub fn sign(self, key: &SecretKey) -> Result<SignedReceipt, ReceiptError> {
        self.validate()?;
        let signature = key.sign(Domain::Receipt, &self.swarm, &codec::encode_body(&self));
        Ok(SignedReceipt {
            receipt: self,
            signature,
        })
    }
}

/// Cuts `command` to at most [`MAX_COMMAND_BYTES`] on a character boundary, marking the
/// cut with `…`, so a receipt can always carry it.
pub fn bounded_command(command: &str) -> String {
    if command.len() <= MAX_COMMAND_BYTES {
        return command.to_owned();
    }
    let room = MAX_COMMAND_BYTES.saturating_sub('…'.len_utf8());
    let mut end = room;
    while !command.is_char_boundary(end) {
        end = end.saturating_sub(1);
    }
    let mut out = command.get(..end).unwrap_or_default().to_owned();
    out.push('…');
    out
}

/// A receipt with its executor's signature.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SignedReceipt {
    receipt: Receipt,
    signature: Signature,
}

impl SignedReceipt {
    /// Builds from parts received from elsewhere; the signature is not checked.
    pub fn from_parts(receipt: Receipt, signature: Signature) -> Result<Self, ReceiptError> {
        receipt.validate()?;
        Ok(Self { receipt, signature })
    }

    /// The unsigned receipt.
    pub fn receipt(&self) -> &Receipt {
        &self.receipt
    }

    /// The executor's signature.
    pub fn signature(&self) -> &Signature {
        &self.signature
    }

    /// Checks swarm, the executor's membership and the signature (strictly).
    pub fn verify(self, roster: &Roster) -> Result<Verified<SignedReceipt>, VerifyError> {
        self.check_with(roster, None)?;
        Ok(Verified::new(self, roster.digest()))
    }

    /// Like [`SignedReceipt::verify`], answered from `cache` when this exact signed
    /// receipt verified before.
    pub fn verify_cached(
        self,
        roster: &Roster,
        cache: &SignatureCache,
    ) -> Result<Verified<SignedReceipt>, VerifyError> {
        self.check_with(roster, Some(cache))?;
        Ok(Verified::new(self, roster.digest()))
    }

    fn check_with(
        &self,
        roster: &Roster,
        cache: Option<&SignatureCache>,
    ) -> Result<(), VerifyError> {
        let r = &self.receipt;
        if &r.swarm != roster.swarm() {
            return Err(VerifyError::WrongSwarm {
                expected: roster.swarm().clone(),
                found: r.swarm.clone(),
            });
        }
        roster
            .member(&r.executor)
            .ok_or(VerifyError::NotAMember { voter: r.executor })?
            .key
            .verify_cached(
                Domain::Receipt,
                &r.swarm,
                &codec::encode_body(r),
                &self.signature,
                cache,
            )
            .map_err(|_| VerifyError::BadSignature { signer: r.executor })
    }
}

impl Message for SignedReceipt {
    const KIND: Kind = Kind::Receipt;
}

/// Why a receipt is not backed by an approval.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum UnbackedReason {
    /// No certificate was offered with it (offline), or this node knows no such
    /// proposal.
    NoCertificate,
    /// The proposal is known here but not approved (pending, rejected or expired).
    NotApproved,
    /// The executor is not the proposal's proposer; only the proposer's node runs it.
    NotProposer,
    /// The certificate offered is not the one the receipt names: another proposal,
    /// another digest, or ballots this node does not hold.
    CertificateMismatch,
    /// The certificate does not verify under the roster.
    CertificateInvalid,
}

impl fmt::Display for UnbackedReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            UnbackedReason::NoCertificate => "no certificate",
            UnbackedReason::NotApproved => "proposal not approved",
            UnbackedReason::NotProposer => "executor is not the proposer",
            UnbackedReason::CertificateMismatch => "certificate does not match",
            UnbackedReason::CertificateInvalid => "certificate does not verify",
        })
    }
}

/// How a receipt stands against what is known of its proposal.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum Standing {
    /// An approving certificate that verifies, for the same proposal, proposed by the
    /// executor, with the digest the receipt names.
    Backed,
    /// Not backed: evidence that the executor ran something the swarm did not approve.
    Unbacked {
        /// Why, as a fixed word.
        reason: UnbackedReason,
        /// Why, in a sentence that names the proposal, digest or member.
        detail: String,
    },
}

impl Standing {
    /// Whether it is backed.
    pub fn is_backed(&self) -> bool {
        matches!(self, Standing::Backed)
    }

    /// An unbacked standing.
    pub fn unbacked(reason: UnbackedReason, detail: impl Into<String>) -> Self {
        Standing::Unbacked {
            reason,
            detail: detail.into(),
        }
    }
}

impl fmt::Display for Standing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Standing::Backed => f.write_str("backed"),
            Standing::Unbacked { detail, .. } => write!(f, "UNBACKED execution: {detail}"),
        }
    }
}

/// A receipt's standing against a proposal and its tally as a node holds them: the
/// certificate the receipt names is rebuilt from the YES ballots of its `approvers` and
/// judged ([`judge`]). Returns the rebuilt certificate too, when the tally approves.
pub fn standing_under(
    receipt: &Receipt,
    proposal: &Verified<SignedProposal>,
    tally: &Tally,
    roster: &Roster,
    cache: Option<&SignatureCache>,
) -> (Standing, Option<Certificate>) {
    let id = receipt.proposal;
    if proposal.id() != id {
        return (
            Standing::unbacked(
                UnbackedReason::CertificateMismatch,
                format!(
                    "the receipt is for proposal {id}, judged against {}",
                    proposal.id()
                ),
            ),
            None,
        );
    }
    let verdict = tally.verdict();
    if verdict != Verdict::Approved {
        return (
            Standing::unbacked(
                UnbackedReason::NotApproved,
                format!("proposal {id} is {verdict} here, not approved"),
            ),
            None,
        );
    }
    let mut ballots = Vec::with_capacity(receipt.approvers.len());
    for voter in &receipt.approvers {
        match tally.ballot_of(voter, Vote::Yes) {
            Some(b) => ballots.push(b.clone()),
            None => {
                return (
                    Standing::unbacked(
                        UnbackedReason::CertificateMismatch,
                        format!(
                            "the receipt's certificate counts a YES from {voter} on {id}, \
                             which this node does not hold"
                        ),
                    ),
                    None,
                );
            }
        }
    }
    let mut cert = Certificate::new((**proposal).clone(), ballots);
    if let Some(label) = tally.certificate(proposal).and_then(|c| c.tier().cloned()) {
        cert = cert.with_tier(label);
    }
    let standing = judge(receipt, Some(cert.clone()), roster, cache);
    (standing, Some(cert))
}

/// Judges a receipt against a certificate: the pure rule both a node and the offline
/// `verify-receipt` apply. `roster` is the roster that judges the proposal; the receipt's
/// own signature is the caller's to have verified.
pub fn judge(
    receipt: &Receipt,
    certificate: Option<Certificate>,
    roster: &Roster,
    cache: Option<&SignatureCache>,
) -> Standing {
    let Some(cert) = certificate else {
        return Standing::unbacked(
            UnbackedReason::NoCertificate,
            format!("no certificate for proposal {}", receipt.proposal),
        );
    };
    let id = cert.proposal().id();
    if id != receipt.proposal {
        return Standing::unbacked(
            UnbackedReason::CertificateMismatch,
            format!(
                "the certificate is for proposal {id}, the receipt for {}",
                receipt.proposal
            ),
        );
    }
    let proposer = cert.proposal().proposal().proposer;
    if proposer != receipt.executor {
        return Standing::unbacked(
            UnbackedReason::NotProposer,
            format!(
                "executor {} is not the proposer {proposer} of proposal {id}",
                receipt.executor
            ),
        );
    }
    let digest = cert.digest();
    if digest != receipt.certificate {
        return Standing::unbacked(
            UnbackedReason::CertificateMismatch,
            format!(
                "the certificate's digest is {digest}, the receipt names {}",
                receipt.certificate
            ),
        );
    }
    let verified = match cache {
        Some(c) => cert.verify_cached(roster, c),
        None => cert.verify(roster),
    };
    match verified {
        Ok(_) => Standing::Backed,
        Err(e) => Standing::unbacked(
            UnbackedReason::CertificateInvalid,
            format!("the certificate for proposal {id} does not verify: {e}"),
        ),
    }
}

/// The digest the receipt commits an output stream to.
pub fn output_digest(bytes: &[u8]) -> OutputDigest {
    OutputDigest::from_bytes(crypto::sha256(bytes))
}
