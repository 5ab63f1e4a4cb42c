//! `swarmvote mcp`: the MCP server on stdio, for clients that start it as a child process.

use anyhow::Context;
use swarmvote_node::mcp;

use super::client::NodeArgs;

/// `swarmvote mcp`.
#[derive(clap::Args)]
pub struct McpArgs {
    #[command(flatten)]
    node: NodeArgs,
}

/// Serves until the client closes stdin. Logs go to stderr (stdout carries the protocol),
/// at `warn` unless `RUST_LOG` says otherwise, so a client's log view stays quiet.
pub fn run(args: &McpArgs) -> anyhow::Result<u8> {
    super::init_logging_at(swarmvote_node::config::LogFormat::Text, "warn");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(mcp::serve_stdio(args.node.locator()))?;
    Ok(0)
}
