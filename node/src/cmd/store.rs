//! `swarmvote store info`: open a data dir (taking its lock) and say what it holds.

use std::path::{Path, PathBuf};

use anyhow::bail;
use clap::Subcommand;
use swarmvote_node::config::{NodeConfig, Overrides};
use swarmvote_node::daemon::store::Store;

#[derive(Subcommand)]
pub enum StoreCommand {
    /// Open a data dir (taking its lock) and print what it holds.
    Info {
        /// The node config whose data dir to open.
        #[arg(
            long,
            value_name = "FILE",
            conflicts_with = "data_dir",
            required_unless_present = "data_dir"
        )]
        config: Option<PathBuf>,
        /// The data dir to open.
        #[arg(long, value_name = "DIR")]
        data_dir: Option<PathBuf>,
    },
}

/// Runs a `store` subcommand.
pub fn run(command: StoreCommand) -> anyhow::Result<()> {
    match command {
        StoreCommand::Info { config, data_dir } => info(config.as_deref(), data_dir.as_deref()),
    }
}

fn info(config: Option<&Path>, data_dir: Option<&Path>) -> anyhow::Result<()> {
    let dir = match (config, data_dir) {
        (_, Some(d)) => d.to_owned(),
        (Some(c), None) => NodeConfig::load(c, &Overrides::default())?.data_dir,
        (None, None) => bail!("give --config or --data-dir"),
    };
    if !dir.exists() {
        bail!("{}: no such data dir", dir.display());
    }
    let (store, report) = Store::open(&dir)?;
    if report.recovered_from_journal > 0 {
        tracing::warn!(
            count = report.recovered_from_journal,
            "own ballots recovered from the journal"
        );
    }
    if report.journal_truncated > 0 {
        tracing::warn!(
            bytes = report.journal_truncated,
            "unsynced journal tail cut off"
        );
    }
    let stats = store.stats();
    // Reading every record proves they all decode.
    let records = store.load()?;
    println!("data dir       {}", dir.display());
    println!(
        "schema         {}",
        swarmvote_node::daemon::store::SCHEMA_VERSION
    );
    println!("proposals      {}", stats.proposals);
    println!("ballots        {}", stats.ballots);
    println!("own ballots    {}", stats.own_ballots);
    println!("evidence       {}", stats.evidence);
    println!("decisions      {}", stats.decisions);
    println!("records ok     {}", records.len());
    Ok(())
}
