//! The client commands about execution receipts: fetch one as a receipt file, and check
//! a receipt file offline.

use std::path::PathBuf;

use anyhow::Context;
use swarmvote_node::api::{ReceiptFile, ReceiptReport};
use swarmvote_node::cli::client::parse_proposal_id;
use swarmvote_node::cli::receipt::verify_receipt_file;

use super::client::{NodeArgs, OfflineArgs, emit_json, emit_summary};

/// `swarmvote receipt`'s arguments.
#[derive(clap::Args)]
pub struct ReceiptArgs {
    #[command(flatten)]
    pub node: NodeArgs,
    /// The proposal id (64 hex characters).
    pub id: String,
    /// The executor's voter id or roster name, when several members sent receipts
    /// (default: the first, by voter id).
    #[arg(long, value_name = "VOTER")]
    pub executor: Option<String>,
    /// Write the receipt file here instead of standard output.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
}

/// `swarmvote verify-receipt`'s arguments.
#[derive(clap::Args)]
pub struct VerifyReceiptArgs {
    /// The receipt file (`swarmvote receipt ID --out FILE`).
    pub file: PathBuf,
    #[command(flatten)]
    pub against: OfflineArgs,
}

/// `swarmvote receipt`: the receipt file `{"receipt": …, "certificate": …}`.
pub fn receipt(args: ReceiptArgs) -> anyhow::Result<u8> {
    let ReceiptArgs {
        node,
        id,
        executor,
        out,
    } = args;
    let id = parse_proposal_id(&id)?;
    let value = node.client()?.receipts(&id)?;
    let reports: Vec<ReceiptReport> = serde_json::from_value(value)
        .with_context(|| format!("GET /v1/proposals/{id}/receipts: unexpected answer"))?;
    let names = node.names();
    let chosen = reports.into_iter().find(|r| {
        let e = r.receipt.receipt().executor;
        executor
            .as_deref()
            .is_none_or(|want| e.to_string() == want || names.of(&e) == want)
    });
    let Some(report) = chosen else {
        anyhow::bail!(
            "the node holds no execution receipt for proposal {id}{}",
            executor.map(|e| format!(" from {e}")).unwrap_or_default()
        );
    };
    let file = ReceiptFile {
        receipt: report.receipt,
        certificate: report.certificate,
    };
    match out {
        Some(path) => {
            let text = serde_json::to_string_pretty(&file)?;
            std::fs::write(&path, text + "\n")
                .with_context(|| format!("cannot write {}", path.display()))?;
        }
        None => emit_json(&file)?,
    }
    Ok(0)
}

/// `swarmvote verify-receipt`: offline, no node needed.
pub fn verify_receipt(args: VerifyReceiptArgs) -> anyhow::Result<u8> {
    let VerifyReceiptArgs { file, against } = args;
    let summary = verify_receipt_file(&file, &against.roster, against.chain.as_deref())?;
    emit_summary(against.json, &summary)?;
    Ok(0)
}
