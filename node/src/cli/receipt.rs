//! Offline receipt checks: a receipt file (`{"receipt": …, "certificate": …}`) verified
//! against a roster, together with the certificate it names.

use std::fmt;
use std::path::Path;

use serde::Serialize;
use swarmvote_protocol::receipt;
use swarmvote_protocol::{CertificateDigest, OutputDigest, ProposalId, Standing, VoterId};

use super::certificate::roster_named;
use super::client::ClientError;
use super::json_file::{MAX_CERTIFICATE_FILE, read_json_file};
use super::render::format_time;
use crate::api::ReceiptFile;

/// What a backed, verified receipt proves.
#[derive(Clone, Debug, Serialize)]
pub struct ReceiptSummary {
    /// The approved proposal that was run.
    pub proposal: ProposalId,
    /// The executor's roster name.
    pub executor: String,
    /// Its voter id.
    pub executor_id: VoterId,
    /// The certificate's digest.
    pub certificate: CertificateDigest,
    /// The command line.
    pub command: String,
    /// The exit code, if the process exited.
    pub exit_code: Option<i32>,
    /// SHA-256 of the whole stdout.
    pub stdout: OutputDigest,
    /// SHA-256 of the whole stderr.
    pub stderr: OutputDigest,
    /// Start (unix ms).
    pub started_at: u64,
    /// End (unix ms).
    pub finished_at: u64,
}

impl fmt::Display for ReceiptSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "receipt ok: backed by a verifying certificate")?;
        writeln!(f, "proposal     {}", self.proposal)?;
        writeln!(f, "executor     {} ({})", self.executor, self.executor_id)?;
        writeln!(f, "certificate  {}", self.certificate)?;
        writeln!(f, "command      {}", self.command)?;
        match self.exit_code {
            Some(c) => writeln!(f, "exit code    {c}")?,
            None => writeln!(f, "exit code    none (killed, or never started)")?,
        }
        writeln!(f, "stdout       sha256 {}", self.stdout)?;
        writeln!(f, "stderr       sha256 {}", self.stderr)?;
        writeln!(f, "started      {}", format_time(self.started_at))?;
        writeln!(f, "finished     {}", format_time(self.finished_at))
    }
}

/// Reads a receipt file and checks it offline against `roster_path` (with `chain_path`,
/// the genesis roster and its chain, as for certificates): the receipt's signature, the
/// certificate's verification, that the digests and proposal ids agree and that the
/// executor proposed it. A receipt with no certificate, or a non-matching one, is an
/// error that names it an unbacked execution.
pub fn verify_receipt_file(
    path: &Path,
    roster_path: &Path,
    chain_path: Option<&Path>,
) -> Result<ReceiptSummary, ClientError> {
    let bad = |message: String| ClientError::BadFile {
        path: path.to_owned(),
        message,
    };
    let value = read_json_file(path, MAX_CERTIFICATE_FILE)?;
    let file: ReceiptFile = serde_json::from_value(value).map_err(|e| {
        bad(format!(
            "not a receipt file ({{\"receipt\": …, \"certificate\": …}}): {e}"
        ))
    })?;
    let named = file
        .certificate
        .as_ref()
        .map(|c| c.proposal().proposal().roster);
    let (roster, against) = roster_named(path, roster_path, chain_path, named)?;
    let verified = file.receipt.clone().verify(&roster).map_err(|e| {
        bad(format!(
            "the receipt does not verify against {against}: {e}"
        ))
    })?;
    let r = verified.receipt();
    match receipt::judge(r, file.certificate, &roster, None) {
        Standing::Backed => {}
        Standing::Unbacked { reason, detail } => {
            return Err(bad(format!(
                "UNBACKED execution ({reason}): {detail}; the receipt is signed by {}, so it \
                 is evidence that this member ran proposal {} without a matching approval",
                roster
                    .member(&r.executor)
                    .map_or_else(|| r.executor.to_string(), |m| m.name.to_string()),
                r.proposal
            )));
        }
    }
    Ok(ReceiptSummary {
        proposal: r.proposal,
        executor: roster
            .member(&r.executor)
            .map_or_else(|| r.executor.to_string(), |m| m.name.to_string()),
        executor_id: r.executor,
        certificate: r.certificate,
        command: r.command.clone(),
        exit_code: r.exit_code,
        stdout: r.stdout,
        stderr: r.stderr,
        started_at: r.started_at.0,
        finished_at: r.finished_at.0,
    })
}
