//! The client commands about the node itself: its status, and its events as they come.

use std::io::Write;

use swarmvote_node::cli::render::{render_event, render_status};
use swarmvote_node::cli::watch::{self, Flow, TierLines, WatchOptions};

use super::client::{NodeArgs, emit, emit_json};

/// `swarmvote watch`'s arguments.
#[derive(clap::Args)]
pub struct WatchArgs {
    #[command(flatten)]
    pub node: NodeArgs,
    /// Start after this event id (earlier events the node still holds are replayed).
    #[arg(long, value_name = "ID")]
    pub after: Option<u64>,
    /// Consecutive failed reconnects before giving up (exit 1).
    #[arg(long, value_name = "N", default_value_t = 8)]
    pub retries: u32,
    /// Print each event's JSON on one line.
    #[arg(long)]
    pub json: bool,
}

/// `swarmvote status`'s arguments.
#[derive(clap::Args)]
pub struct StatusArgs {
    #[command(flatten)]
    pub node: NodeArgs,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// `swarmvote watch`: one line per event until the stream ends or the retries run out.
pub fn watch(args: WatchArgs) -> anyhow::Result<u8> {
    let WatchArgs {
        node,
        after,
        retries,
        json,
    } = args;
    let names = node.names();
    let mut tiers = TierLines::new(node.locator());
    let options = WatchOptions {
        after,
        retries,
        ..WatchOptions::default()
    };
    watch::watch(
        &node.locator(),
        &options,
        &mut |event| {
            let line = if json {
                event.data.clone()
            } else {
                render_event(event, &names)
            };
            let progress = if json {
                None
            } else {
                tiers.after(event, &names)
            };
            let mut out = std::io::stdout().lock();
            writeln!(out, "{line}")?;
            if let Some(progress) = progress {
                // Under the event's detail column.
                let indent = event.id.as_deref().map_or(1, str::len).saturating_add(19);
                writeln!(out, "{:indent$}{progress}", "")?;
            }
            out.flush()?;
            Ok(Flow::Continue)
        },
        &mut |error, attempt, backoff| {
            eprintln!(
                "event stream: {error}; reconnecting in {} ms (attempt {attempt} of {retries})",
                backoff.as_millis()
            );
        },
    )?;
    Ok(0)
}

/// `swarmvote status`.
pub fn status(args: StatusArgs) -> anyhow::Result<u8> {
    let StatusArgs { node, json } = args;
    let status = node.client()?.status()?;
    if json {
        emit_json(&status)?;
    } else {
        emit(&render_status(&status))?;
    }
    Ok(0)
}
