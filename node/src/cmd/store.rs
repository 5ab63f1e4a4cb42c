//! `swarmvote store info`: open a data dir (taking its lock) and say what it holds;
//! `store export-votes` and `store import-votes`: a stopped node's signing history (see
//! [`swarmvote_node::daemon::store::history`]); `store prune`: remove old history.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use clap::Subcommand;
use swarmvote_node::cli::when::{format_time, parse_time};
use swarmvote_node::config::{NodeConfig, Overrides};
use swarmvote_node::daemon::store::{Store, history};
use swarmvote_protocol::{Roster, VoterId};

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
    /// Print this node's signing history (its own proposals and ballots) as JSON, for
    /// `import-votes` on the machine its voter key moves to. The node must be stopped.
    ExportVotes {
        /// The node config (its data dir, key and roster).
        #[arg(long, value_name = "FILE")]
        config: PathBuf,
    },
    /// Add a signing history written by `export-votes` to this node's data dir, after
    /// checking every signature, the swarm, the roster and the voter, and that nothing
    /// in it contradicts a ballot the data dir holds. The node must be stopped.
    ImportVotes {
        /// The node config (its data dir, key and roster).
        #[arg(long, value_name = "FILE")]
        config: PathBuf,
        /// The history file (`-`: standard input).
        #[arg(value_name = "FILE")]
        file: PathBuf,
    },
    /// Remove proposals created before a time, with their ballots, evidence, decisions
    /// and execution records, and say what went. Only proposals past the retention window
    /// (`[retention] listed_secs` after they expire) go; roster steps always stay. The
    /// node must be stopped. Export first: `swarmvote export` keeps an audit copy.
    Prune {
        /// The node config (its data dir and retention window).
        #[arg(long, value_name = "FILE")]
        config: PathBuf,
        /// Remove proposals created before this: an RFC 3339 time, unix ms, or a
        /// duration back from now (`90d`).
        #[arg(long, value_name = "TIME")]
        before: String,
        /// Only say what would be removed.
        #[arg(long)]
        dry_run: bool,
    },
}

/// Runs a `store` subcommand.
pub fn run(command: StoreCommand) -> anyhow::Result<()> {
    match command {
        StoreCommand::Info { config, data_dir } => info(config.as_deref(), data_dir.as_deref()),
        StoreCommand::ExportVotes { config } => export_votes(&config),
        StoreCommand::ImportVotes { config, file } => import_votes(&config, &file),
        StoreCommand::Prune {
            config,
            before,
            dry_run,
        } => prune(&config, &before, dry_run),
    }
}

/// The config's data dir (opened, locked) and its roster and voter.
fn open_node(config: &Path) -> anyhow::Result<(Store, Roster, VoterId)> {
    let config = NodeConfig::load(config, &Overrides::default())?;
    let (roster, key) = config.load_identity()?;
    let (store, _) = Store::open(&config.data_dir)?;
    Ok((store, roster, key.voter_id()))
}

fn export_votes(config: &Path) -> anyhow::Result<()> {
    let (store, roster, voter) = open_node(config)?;
    let now = swarmvote_node::daemon::clock::now();
    let doc = history::export(&store, &roster, voter, now)?;
    let text = serde_json::to_string_pretty(&doc).context("cannot render the history")?;
    println!("{text}");
    tracing::info!(
        proposals = doc.proposals.len(),
        ballots = doc.ballots.len(),
        "signing history exported"
    );
    Ok(())
}

fn import_votes(config: &Path, file: &Path) -> anyhow::Result<()> {
    let text = if file == Path::new("-") {
        std::io::read_to_string(std::io::stdin()).context("cannot read standard input")?
    } else {
        std::fs::read_to_string(file).with_context(|| format!("{}: cannot read", file.display()))?
    };
    let doc: history::SigningHistory = serde_json::from_str(&text)
        .with_context(|| format!("{}: not a signing history", file.display()))?;
    let (mut store, roster, voter) = open_node(config)?;
    let report = history::import(&mut store, &roster, voter, doc)
        .with_context(|| format!("{}: refused; nothing was written", file.display()))?;
    println!(
        "imported {} proposals and {} ballots ({} already held)",
        report.proposals, report.ballots, report.already_held
    );
    Ok(())
}

fn prune(config: &Path, before: &str, dry_run: bool) -> anyhow::Result<()> {
    let config = NodeConfig::load(config, &Overrides::default())?;
    let now = swarmvote_node::daemon::clock::now();
    let before = parse_time(before, now).map_err(|e| anyhow::anyhow!("--before {e}"))?;
    if !config.data_dir.exists() {
        bail!("{}: no such data dir", config.data_dir.display());
    }
    let (mut store, _) = Store::open(&config.data_dir)?;
    let r = store.prune(before, config.retention.listed_ms(), now, dry_run)?;
    let verb = if dry_run { "would remove" } else { "removed" };
    println!(
        "{verb} {} proposals created before {}: {} ballots ({} own), {} evidence, {} decisions, {} execution records, {} receipts",
        r.proposals,
        format_time(before),
        r.ballots,
        r.own_ballots,
        r.evidence,
        r.decisions,
        r.executions,
        r.receipts,
    );
    if r.kept_in_window > 0 {
        println!(
            "kept {} proposals created before then that are still within the retention window ([retention] listed_secs = {})",
            r.kept_in_window, config.retention.listed_secs
        );
    }
    Ok(())
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
