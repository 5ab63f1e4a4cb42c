//! `swarmvote config check`: the effective config, and whether its key, roster and data
//! dir will do.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use clap::Subcommand;
use swarmvote_node::config::{NodeConfig, Overrides};

#[derive(Subcommand)]
pub enum ConfigCommand {
    /// Check a node config, its key, roster and data dir; print the effective config.
    Check {
        /// The node config file.
        file: PathBuf,
        #[command(flatten)]
        overrides: Overrides,
    },
}

/// Runs a `config` subcommand.
pub fn run(command: ConfigCommand) -> anyhow::Result<()> {
    match command {
        ConfigCommand::Check { file, overrides } => check(&file, &overrides),
    }
}

fn check(file: &Path, overrides: &Overrides) -> anyhow::Result<()> {
    let config = NodeConfig::load(file, overrides)?;
    let (roster, key) = config.load_identity()?;
    check_data_dir(&config.data_dir)?;
    let me = roster
        .member(&key.voter_id())
        .map(|m| m.name.to_string())
        .unwrap_or_default();
    println!("# effective config of {}", file.display());
    print!("{}", config.to_toml());
    println!();
    println!(
        "# voter {me} ({}), swarm {}, n = {}, q = {}",
        key.voter_id(),
        roster.swarm(),
        roster.len(),
        roster.required()
    );
    if roster.member(&key.voter_id()).is_none() {
        println!(
            "# joining: the roster file does not list this key; the node signs nothing until \
             a roster change that adds it reaches it (its data dir may already hold one)"
        );
    }
    for w in roster.report().warnings {
        println!("# warning: {w}");
    }
    eprintln!("config ok");
    Ok(())
}

/// The data dir must be a directory we can write, or creatable. Its contents are checked
/// by `store info`, which takes the lock.
fn check_data_dir(dir: &Path) -> anyhow::Result<()> {
    if dir.exists() {
        let meta = std::fs::metadata(dir).with_context(|| format!("data_dir {}", dir.display()))?;
        if !meta.is_dir() {
            bail!("data_dir {}: not a directory", dir.display());
        }
        if meta.permissions().readonly() {
            bail!("data_dir {}: not writable", dir.display());
        }
        std::fs::read_dir(dir)
            .with_context(|| format!("data_dir {}: cannot read", dir.display()))?;
    } else {
        let parent = dir
            .ancestors()
            .skip(1)
            .find(|p| p.exists())
            .unwrap_or(Path::new("."));
        if std::fs::metadata(parent)
            .map(|m| m.permissions().readonly())
            .unwrap_or(true)
        {
            bail!(
                "data_dir {}: does not exist and {} is not writable",
                dir.display(),
                parent.display()
            );
        }
    }
    Ok(())
}
