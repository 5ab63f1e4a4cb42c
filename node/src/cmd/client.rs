//! What the client commands share: finding the node, and writing to standard output.

use std::io::Write;
use std::path::PathBuf;

use swarmvote_node::cli::client::{ClientError, Locator, NodeClient};
use swarmvote_node::cli::render::Names;
use swarmvote_node::config::{self, NodeConfig, Overrides};

/// How a client command finds its node.
#[derive(clap::Args)]
#[group(id = "node", required = true, multiple = false)]
pub struct NodeArgs {
    /// The node's config: address from <data_dir>/api.addr (else api.listen), token from
    /// `[api] token` (else <data_dir>/api.cookie); member names from its roster.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// The node's data dir: address from api.addr, token from api.cookie.
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
}

impl NodeArgs {
    pub fn locator(&self) -> Locator {
        match (&self.config, &self.data_dir) {
            (Some(c), _) => Locator::Config(c.clone()),
            (None, Some(d)) => Locator::DataDir(d.clone()),
            // clap requires one of the two.
            (None, None) => Locator::DataDir(PathBuf::from(".")),
        }
    }

    /// Member names from the config's roster, if a config was given and its roster reads.
    pub fn names(&self) -> Names {
        let Some(path) = &self.config else {
            return Names::default();
        };
        let roster = NodeConfig::load(path, &Overrides::default())
            .map_err(anyhow::Error::from)
            .and_then(|c| Ok(config::load_roster(&c.roster_file)?));
        match roster {
            Ok(r) => Names::new(Some(r)),
            Err(e) => {
                eprintln!("warning: no member names ({e:#}); showing voter ids");
                Names::default()
            }
        }
    }

    pub fn client(&self) -> anyhow::Result<NodeClient> {
        Ok(NodeClient::new(self.locator().resolve()?))
    }
}

/// Writes to standard output; errors (a closed pipe) are returned, never a panic.
pub fn emit(text: &str) -> Result<(), ClientError> {
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())
        .and_then(|()| out.flush())
        .map_err(ClientError::Output)
}

/// What an offline check (`verify-cert`, `verify-receipt`) checks against, and how it
/// answers.
#[derive(clap::Args)]
pub struct OfflineArgs {
    /// The swarm's roster file; with --chain, its genesis roster (the first one).
    #[arg(long, value_name = "FILE")]
    pub roster: PathBuf,
    /// The roster chain from that genesis roster (`swarmvote roster history --json`):
    /// each step is verified against the roster before it, then the file against the
    /// roster its proposal names.
    #[arg(long, value_name = "STEPS.json")]
    pub chain: Option<PathBuf>,
    /// Print the summary as JSON.
    #[arg(long)]
    pub json: bool,
}

/// A summary as JSON (`--json`) or as its text.
pub fn emit_summary(
    json: bool,
    value: &(impl serde::Serialize + std::fmt::Display),
) -> anyhow::Result<()> {
    if json {
        emit_json(value)
    } else {
        Ok(emit(&value.to_string())?)
    }
}

/// Prints pretty JSON on standard output.
pub fn emit_json(value: &impl serde::Serialize) -> anyhow::Result<()> {
    let mut text = serde_json::to_string_pretty(value)?;
    text.push('\n');
    Ok(emit(&text)?)
}
