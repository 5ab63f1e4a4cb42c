//! `swarmvote roster propose` and `swarmvote roster history`: changing the roster by a
//! quorum's approval, and the chain of approved changes, through a running node.

use anyhow::{Context, bail};
use swarmvote_node::api::{Proposed, RosterHistory, RosterView};
use swarmvote_node::cli::roster_edit::{RosterEdit, next_roster};
use swarmvote_protocol::Roster;
use swarmvote_protocol::chain::ROSTER_ACTION;

use super::client::{NodeArgs, emit, emit_json};
use super::proposals::propose_and_wait;

/// `roster propose`'s default lifetime: people approve roster changes, not programs.
const DEFAULT_TTL_S: u64 = 3600;

/// `swarmvote roster propose`'s arguments.
#[derive(clap::Args)]
pub struct ProposeArgs {
    #[command(flatten)]
    pub node: NodeArgs,
    /// Add a member as NAME=PUBLIC_KEY (64 hex characters); repeat for several.
    #[arg(long = "add", value_name = "NAME=KEY")]
    pub add: Vec<String>,
    /// Remove a member (for example one whose key was stolen); repeat for several.
    #[arg(long = "remove", value_name = "NAME")]
    pub remove: Vec<String>,
    /// Give a member a new key as NAME=NEW_PUBLIC_KEY; repeat for several.
    #[arg(long = "rotate", value_name = "NAME=NEWKEY")]
    pub rotate: Vec<String>,
    /// The new default quorum: "2/3", "0.66" or "66%".
    #[arg(long, value_name = "F")]
    pub quorum: Option<String>,
    /// The change proposal's lifetime in seconds.
    #[arg(long, value_name = "N", default_value_t = DEFAULT_TTL_S)]
    pub ttl_s: u64,
    /// Wait up to N seconds for the verdict and print the tally (exit 3 if rejected, 4
    /// if expired or still pending).
    #[arg(long, value_name = "N")]
    pub wait_s: Option<u64>,
    /// Check the change and print the next roster's document; propose nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Print the API's JSON answer.
    #[arg(long)]
    pub json: bool,
}

/// `swarmvote roster history`'s arguments.
#[derive(clap::Args)]
pub struct HistoryArgs {
    #[command(flatten)]
    pub node: NodeArgs,
    /// Print the API's JSON: a chain file for `verify-cert --chain`.
    #[arg(long)]
    pub json: bool,
}

/// `swarmvote roster propose`: the head roster from the node, edited, checked as the
/// swarm will check it, proposed with action `swarmvote.roster`.
pub fn propose(args: ProposeArgs) -> anyhow::Result<u8> {
    let ProposeArgs {
        node,
        add,
        remove,
        rotate,
        quorum,
        ttl_s,
        wait_s,
        dry_run,
        json,
    } = args;
    let client = node.client()?;
    let view = RosterView::from_json(&client.roster()?)?;
    let current = Roster::from_document(&view.document)
        .context("the node's head roster document does not validate")?;
    if current.digest() != view.digest {
        bail!(
            "the node's head roster document has digest {}, but the node names {}",
            current.digest(),
            view.digest
        );
    }
    let edit = RosterEdit {
        add,
        remove,
        rotate,
        quorum,
    };
    let next = next_roster(&current, &edit)?;
    eprint!("{}", describe(&current, &next.roster));
    if dry_run {
        emit_json(&next.payload)?;
        return Ok(0);
    }
    let ttl_ms = ttl_s.saturating_mul(1000);
    match wait_s {
        Some(wait) => propose_and_wait(
            &client,
            &node,
            ROSTER_ACTION,
            next.payload,
            Some(ttl_ms),
            Some(wait.saturating_mul(1000)),
            json,
        ),
        None => {
            let answer = client.propose(ROSTER_ACTION, next.payload, Some(ttl_ms), None)?;
            if json {
                emit_json(&answer)?;
            } else {
                let proposed: Proposed = serde_json::from_value(answer)
                    .context("the node's answer is not a proposal id")?;
                emit(&format!("{}\n", proposed.id))?;
            }
            Ok(0)
        }
    }
}

/// What a change does, for people: members in and out, n and q before and after, and
/// the tier that judges it.
fn describe(current: &Roster, next: &Roster) -> String {
    let names = |from: &Roster, to: &Roster| -> Vec<String> {
        to.members()
            .filter(|(v, _)| from.member(v).is_none())
            .map(|(_, m)| m.name.to_string())
            .collect()
    };
    let (added, removed) = (names(current, next), names(next, current));
    let change = current.change_tier();
    let mut out = format!(
        "roster change: epoch {} -> {}, n {} -> {}, q {} -> {} (quorum {} -> {})\n",
        current.epoch(),
        next.epoch(),
        current.len(),
        next.len(),
        current.required(),
        next.required(),
        current.quorum(),
        next.quorum()
    );
    if !added.is_empty() {
        out.push_str(&format!("  new keys for: {}\n", added.join(", ")));
    }
    if !removed.is_empty() {
        out.push_str(&format!("  keys removed from: {}\n", removed.join(", ")));
    }
    out.push_str(&format!(
        "  needs {} YES of {} under tier {} of roster {} (epoch {})\n",
        change.required(),
        change.electorate(current.len()),
        change.name(),
        current.digest().short(),
        current.epoch()
    ));
    out
}

/// `swarmvote roster history`.
pub fn history(args: HistoryArgs) -> anyhow::Result<u8> {
    let HistoryArgs { node, json } = args;
    let answer = node.client()?.roster_history()?;
    if json {
        emit_json(&answer)?;
    } else {
        emit(&RosterHistory::from_json(&answer)?.render())?;
    }
    Ok(0)
}
