//! The client commands about proposals: propose (and wait), vote, list, show, and the
//! certificate (fetched, or checked offline).

use std::io::Read;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Context;
use swarmvote_node::api::{ProposalPage, ProposalReport, Proposed};
use swarmvote_node::cli::certificate::verify_certificate_in_chain;
use swarmvote_node::cli::client::{Followed, ListQuery, NodeClient, parse_proposal_id};
use swarmvote_node::cli::render::render_list;
use swarmvote_protocol::{SignedBallot, Status, Vote};

use super::client::{NodeArgs, OfflineArgs, emit, emit_json, emit_summary};

/// `propose --wait`: rejected.
const EXIT_REJECTED: u8 = 3;
/// `propose --wait`: expired, or still pending at the timeout.
const EXIT_UNDECIDED: u8 = 4;

/// `swarmvote propose`'s arguments.
#[derive(clap::Args)]
pub struct ProposeArgs {
    #[command(flatten)]
    pub node: NodeArgs,
    /// The action, such as fs.delete.
    #[arg(long)]
    pub action: String,
    /// The payload: JSON text, or @FILE to read it from a file.
    #[arg(long, value_name = "JSON")]
    pub payload: String,
    /// Lifetime in ms (the node's default: 60000).
    #[arg(long, value_name = "MS")]
    pub ttl_ms: Option<u64>,
    /// Wait until the proposal is decided or expired, and print the tally.
    #[arg(long)]
    pub wait: bool,
    /// With --wait: stop waiting after this many ms (exit 4) [default: 60000].
    #[arg(long, value_name = "MS", requires = "wait")]
    pub timeout_ms: Option<u64>,
    /// Print the API's JSON answer.
    #[arg(long)]
    pub json: bool,
}

/// `swarmvote vote`'s arguments.
#[derive(clap::Args)]
pub struct VoteArgs {
    #[command(flatten)]
    pub node: NodeArgs,
    /// The proposal id (64 hex characters).
    pub id: String,
    /// yes or no.
    pub vote: VoteArg,
    /// Why (at most 1 KiB; kept in the signed ballot).
    #[arg(long, value_name = "TEXT")]
    pub reason: Option<String>,
    /// Print the signed ballot as JSON.
    #[arg(long)]
    pub json: bool,
}

/// `swarmvote proposals`'s arguments.
#[derive(clap::Args)]
pub struct ProposalsArgs {
    #[command(flatten)]
    pub node: NodeArgs,
    /// Only this status.
    #[arg(long)]
    pub status: Option<StatusArg>,
    /// Only this action.
    #[arg(long)]
    pub action: Option<String>,
    /// Only proposals created at or after this time (unix ms).
    #[arg(long, value_name = "MS")]
    pub since: Option<u64>,
    /// Page size (the node caps it at 1000).
    #[arg(long, value_name = "N")]
    pub limit: Option<usize>,
    /// Start at this cursor (printed after a page when more remain).
    #[arg(long, value_name = "CURSOR")]
    pub cursor: Option<String>,
    /// Follow the cursors and list every page.
    #[arg(long)]
    pub all: bool,
    /// Page through the node's whole stored history, not only the proposals listed by
    /// default (those within `[retention] listed_secs` of their expiry).
    #[arg(long)]
    pub history: bool,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// `swarmvote show`'s arguments.
#[derive(clap::Args)]
pub struct ShowArgs {
    #[command(flatten)]
    pub node: NodeArgs,
    /// The proposal id (64 hex characters).
    pub id: String,
    /// Print the API's JSON report.
    #[arg(long)]
    pub json: bool,
}

/// `swarmvote cert`'s arguments.
#[derive(clap::Args)]
pub struct CertArgs {
    #[command(flatten)]
    pub node: NodeArgs,
    /// The proposal id (64 hex characters).
    pub id: String,
    /// Accepted for symmetry: the certificate is always JSON.
    #[arg(long)]
    pub json: bool,
}

/// `swarmvote verify-cert`'s arguments.
#[derive(clap::Args)]
pub struct VerifyCertArgs {
    /// The certificate JSON file (at most 32 MiB).
    pub file: PathBuf,
    #[command(flatten)]
    pub against: OfflineArgs,
}

#[derive(Clone, Copy, clap::ValueEnum)]
pub enum VoteArg {
    Yes,
    No,
}

#[derive(Clone, Copy, clap::ValueEnum)]
pub enum StatusArg {
    Pending,
    Approved,
    Rejected,
    Expired,
}

/// `swarmvote propose`.
pub fn propose(args: ProposeArgs) -> anyhow::Result<u8> {
    let ProposeArgs {
        node,
        action,
        payload,
        ttl_ms,
        wait,
        timeout_ms,
        json,
    } = args;
    let payload = read_payload(&payload)?;
    let client = node.client()?;
    if !wait {
        let answer = client.propose(&action, payload, ttl_ms, None)?;
        if json {
            emit_json(&answer)?;
        } else {
            let proposed: Proposed =
                serde_json::from_value(answer).context("the node's answer is not a proposal id")?;
            emit(&format!("{}\n", proposed.id))?;
        }
        return Ok(0);
    }
    propose_and_wait(&client, &node, &action, payload, ttl_ms, timeout_ms, json)
}

/// `swarmvote vote`.
pub fn vote(args: VoteArgs) -> anyhow::Result<u8> {
    let VoteArgs {
        node,
        id,
        vote,
        reason,
        json,
    } = args;
    let id = parse_proposal_id(&id)?;
    let vote = match vote {
        VoteArg::Yes => Vote::Yes,
        VoteArg::No => Vote::No,
    };
    let ballot = node.client()?.vote(&id, vote, reason.as_deref())?;
    if json {
        emit_json(&ballot)?;
    } else {
        let signed: SignedBallot =
            serde_json::from_value(ballot).context("the node's answer is not a signed ballot")?;
        emit(&format!(
            "{} voted {vote} on {id}\n",
            node.names().of(&signed.ballot().voter)
        ))?;
    }
    Ok(0)
}

/// `swarmvote proposals`: one page, or every page with `--all`.
pub fn list(args: ProposalsArgs) -> anyhow::Result<u8> {
    let ProposalsArgs {
        node,
        status,
        action,
        since,
        limit,
        cursor,
        all,
        history,
        json,
    } = args;
    let client = node.client()?;
    let mut query = ListQuery {
        status: status.map(|s| {
            match s {
                StatusArg::Pending => "pending",
                StatusArg::Approved => "approved",
                StatusArg::Rejected => "rejected",
                StatusArg::Expired => "expired",
            }
            .to_owned()
        }),
        action,
        since,
        limit,
        cursor,
        history: history.then_some(true),
    };
    // The rows as the node sent them (for --json) and as the API's types (to render).
    let mut rows: Vec<serde_json::Value> = Vec::new();
    let mut summaries = Vec::new();
    let mut seen_cursors = std::collections::BTreeSet::new();
    let next = loop {
        let page = client.list(&query)?;
        if !all && json {
            emit_json(&page)?;
            return Ok(0);
        }
        let typed = ProposalPage::from_json(&page)?;
        rows.extend(page["proposals"].as_array().cloned().unwrap_or_default());
        summaries.extend(typed.proposals);
        match typed.next_cursor {
            // A cursor seen before would loop forever.
            Some(c) if all && seen_cursors.insert(c.clone()) => query.cursor = Some(c),
            other => break other,
        }
    };
    if json {
        emit_json(&serde_json::json!({ "proposals": rows }))?;
        return Ok(0);
    }
    let mut text = render_list(&summaries, &node.names());
    if let (Some(c), false) = (next, all) {
        text.push_str(&format!("more: --cursor {c} (or --all)\n"));
    }
    emit(&text)?;
    Ok(0)
}

/// `swarmvote show`.
pub fn show(args: ShowArgs) -> anyhow::Result<u8> {
    let ShowArgs { node, id, json } = args;
    let id = parse_proposal_id(&id)?;
    let report = node.client()?.proposal(&id)?;
    if json {
        emit_json(&report)?;
    } else {
        emit(&ProposalReport::from_json(&report)?.render(&node.names()))?;
    }
    Ok(0)
}

/// `swarmvote cert`.
pub fn cert(args: CertArgs) -> anyhow::Result<u8> {
    let CertArgs { node, id, json: _ } = args;
    let id = parse_proposal_id(&id)?;
    emit_json(&node.client()?.certificate(&id)?)?;
    Ok(0)
}

/// `swarmvote verify-cert`: offline, no node needed.
pub fn verify_cert(args: VerifyCertArgs) -> anyhow::Result<u8> {
    let VerifyCertArgs { file, against } = args;
    let summary = verify_certificate_in_chain(&file, &against.roster, against.chain.as_deref())?;
    emit_summary(against.json, &summary)?;
    Ok(0)
}

/// `--payload`: JSON text, or `@FILE`.
pub fn read_payload(arg: &str) -> anyhow::Result<serde_json::Value> {
    let (text, origin) = match arg.strip_prefix('@') {
        Some(path) => {
            // Far above the node's limits (it answers 413 with the exact one).
            let mut text = String::new();
            std::fs::File::open(path)
                .and_then(|f| f.take(1 << 20).read_to_string(&mut text))
                .with_context(|| format!("--payload {arg}: cannot read {path}"))?;
            (text, format!("--payload {arg}"))
        }
        None => (arg.to_owned(), "--payload".to_owned()),
    };
    serde_json::from_str(&text).with_context(|| format!("{origin}: not valid JSON"))
}

/// `propose --wait`: submits, waits for the verdict, prints it; the exit code tells it.
pub fn propose_and_wait(
    client: &NodeClient,
    node: &NodeArgs,
    action: &str,
    payload: serde_json::Value,
    ttl_ms: Option<u64>,
    timeout_ms: Option<u64>,
    json: bool,
) -> anyhow::Result<u8> {
    let timeout = timeout_ms.unwrap_or(60_000);
    let deadline = Instant::now() + Duration::from_millis(timeout);
    let Followed {
        id,
        raw,
        report: view,
    } = client.propose_and_follow(action, payload, ttl_ms, deadline)?;
    if json {
        emit_json(&serde_json::json!({ "id": id, "proposal": raw }))?;
    } else {
        let mut text = format!("{id}\n");
        if view.status == Status::Pending {
            text.push_str(&format!("still undecided after {timeout} ms\n"));
        }
        text.push_str(&view.outcome(&node.names()));
        emit(&text)?;
    }
    Ok(match view.status {
        Status::Approved => 0,
        Status::Rejected => EXIT_REJECTED,
        Status::Pending | Status::Expired => EXIT_UNDECIDED,
    })
}
