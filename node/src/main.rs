//! `swarmvote`: the node binary and its operator commands.

mod cmd;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};
use swarmvote_node::config::{self, NodeConfig, Overrides};
use swarmvote_node::store::Store;
use swarmvote_protocol::keyfile;
use swarmvote_protocol::{MemberName, PublicKey, Quorum, Roster, SecretKey, SwarmId};

/// A peer-to-peer voting gate for the critical actions of autonomous agents.
#[derive(Parser)]
#[command(name = "swarmvote", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the node until SIGINT or SIGTERM.
    Run {
        /// The node config file.
        #[arg(long, value_name = "FILE")]
        config: PathBuf,
        #[command(flatten)]
        overrides: Overrides,
    },
    /// Create the data dir and the node's transport identity; print its peer id.
    Init {
        /// The node config file.
        #[arg(long, value_name = "FILE")]
        config: PathBuf,
        #[command(flatten)]
        overrides: Overrides,
    },
    /// Create a voter key file (mode 0600) and print its public key.
    Keygen {
        /// Where to write the secret key. An existing file is never overwritten.
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
    },
    /// Create or inspect a roster.
    Roster {
        #[command(subcommand)]
        command: RosterCommand,
    },
    /// Validate a node config.
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
    /// Inspect a node's data dir.
    Store {
        #[command(subcommand)]
        command: StoreCommand,
    },
    /// Benchmarks.
    Bench {
        #[command(subcommand)]
        command: BenchCommand,
    },
    /// Test support.
    #[command(hide = true)]
    Debug {
        #[command(subcommand)]
        command: DebugCommand,
    },
}

#[derive(Subcommand)]
enum RosterCommand {
    /// Write a roster file from members and a quorum.
    Init {
        /// The swarm's name; every signature commits to it.
        #[arg(long, value_name = "ID")]
        swarm_id: String,
        /// The quorum: "2/3", "0.66" or "66%".
        #[arg(long)]
        quorum: String,
        /// A member as name=PUBLIC_KEY (64 hex characters); repeat for each member.
        #[arg(long = "member", value_name = "NAME=KEY", required = true)]
        members: Vec<String>,
        /// Write to this file (never overwritten) instead of standard output.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
    /// Print a roster's size, quorum and what it tolerates.
    Show {
        /// The roster file.
        file: PathBuf,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum ConfigCommand {
    /// Check a node config, its key, roster and data dir; print the effective config.
    Check {
        /// The node config file.
        file: PathBuf,
        #[command(flatten)]
        overrides: Overrides,
    },
}

#[derive(Subcommand)]
enum StoreCommand {
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

#[derive(Subcommand)]
enum BenchCommand {
    /// Start N node processes on 127.0.0.1 and measure decision latency and throughput.
    Cluster {
        /// Number of nodes.
        #[arg(long, default_value_t = 3)]
        nodes: usize,
        /// Proposals decided one at a time for the latency figures.
        #[arg(long, default_value_t = 200)]
        latency_samples: usize,
        /// Proposals submitted at saturation for the throughput figure.
        #[arg(long, default_value_t = 2000)]
        proposals: usize,
        /// Client threads submitting at saturation.
        #[arg(long, default_value_t = 8)]
        clients: usize,
        /// Print JSON.
        #[arg(long)]
        json: bool,
        /// Keep the nodes' files here (default: a temporary dir, removed after).
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum DebugCommand {
    /// Run the crash-test voting workload on a data dir.
    CrashVoter {
        #[arg(long)]
        data_dir: PathBuf,
        #[arg(long, default_value_t = 50)]
        proposals: u32,
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// Try to vote the opposite way of the scenario's intent.
        #[arg(long)]
        flip: bool,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Run { config, overrides } => start(&config, &overrides),
        other => {
            cmd::init_logging(config::LogFormat::Text);
            run(other)
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn start(config: &Path, overrides: &Overrides) -> anyhow::Result<()> {
    let config = cmd::run::load(config, overrides)?;
    cmd::init_logging(config.log.format);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(cmd::run::run(config))
}

fn run(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Run { config, overrides } => start(&config, &overrides),
        Command::Init { config, overrides } => cmd::run::init(&config, &overrides),
        Command::Keygen { out } => keygen(&out),
        Command::Roster {
            command:
                RosterCommand::Init {
                    swarm_id,
                    quorum,
                    members,
                    out,
                },
        } => roster_init(&swarm_id, &quorum, &members, out.as_deref()),
        Command::Roster {
            command: RosterCommand::Show { file, json },
        } => roster_show(&file, json),
        Command::Config {
            command: ConfigCommand::Check { file, overrides },
        } => config_check(&file, &overrides),
        Command::Store {
            command: StoreCommand::Info { config, data_dir },
        } => store_info(config.as_deref(), data_dir.as_deref()),
        Command::Bench {
            command:
                BenchCommand::Cluster {
                    nodes,
                    latency_samples,
                    proposals,
                    clients,
                    json,
                    dir,
                },
        } => {
            let binary = std::env::current_exe().context("cannot find this binary")?;
            let temp = tempfile::tempdir().context("cannot create a temporary dir")?;
            let dir = dir.unwrap_or_else(|| temp.path().to_owned());
            let report = swarmvote_node::bench::run(&swarmvote_node::bench::BenchSpec {
                binary: &binary,
                dir: &dir,
                nodes,
                latency_samples,
                proposals,
                clients,
            })?;
            if json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                print!("{report}");
            }
            Ok(())
        }
        Command::Debug {
            command:
                DebugCommand::CrashVoter {
                    data_dir,
                    proposals,
                    seed,
                    flip,
                },
        } => {
            let stdout = std::io::stdout();
            swarmvote_node::crashtest::run(&data_dir, proposals, seed, flip, &mut stdout.lock())?;
            Ok(())
        }
    }
}

fn keygen(out: &Path) -> anyhow::Result<()> {
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed).map_err(|e| anyhow::anyhow!("no OS randomness: {e}"))?;
    let key = SecretKey::from_seed(seed);
    keyfile::write_secret_key(out, &key)?;
    println!("{}", key.voter_id());
    eprintln!(
        "wrote secret key {} (mode 0600); the line above is its public key",
        out.display()
    );
    Ok(())
}

fn roster_init(
    swarm_id: &str,
    quorum: &str,
    members: &[String],
    out: Option<&Path>,
) -> anyhow::Result<()> {
    let swarm = SwarmId::new(swarm_id).context("--swarm-id")?;
    let quorum: Quorum = quorum.parse().context("--quorum")?;
    let mut parsed = Vec::with_capacity(members.len());
    for m in members {
        let Some((name, key)) = m.split_once('=') else {
            bail!("--member {m:?}: expected NAME=PUBLIC_KEY");
        };
        let name = MemberName::new(name).with_context(|| format!("--member {m:?}"))?;
        let key: PublicKey = key
            .parse()
            .with_context(|| format!("--member {name}: key"))?;
        parsed.push((name, key));
    }
    let roster = Roster::new(swarm, quorum, parsed)?;
    let text = roster.to_toml();
    match out {
        Some(path) => {
            let mut file = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(path)
                .with_context(|| {
                    format!(
                        "{}: cannot create (an existing roster is never overwritten)",
                        path.display()
                    )
                })?;
            file.write_all(text.as_bytes())
                .with_context(|| format!("{}: write", path.display()))?;
            eprint!("{}", roster.report());
            eprintln!("wrote {}", path.display());
        }
        None => print!("{text}"),
    }
    Ok(())
}

fn roster_show(file: &Path, json: bool) -> anyhow::Result<()> {
    let roster = config::load_roster(file)?;
    let report = roster.report();
    if json {
        let members: Vec<_> = roster
            .members()
            .map(|(id, m)| serde_json::json!({ "name": m.name, "key": id }))
            .collect();
        let doc = serde_json::json!({ "report": report, "members": members });
        println!("{}", serde_json::to_string_pretty(&doc)?);
    } else {
        print!("{report}");
        for (id, m) in roster.members() {
            println!("member         {:<16} {id}", m.name.as_str());
        }
    }
    Ok(())
}

fn config_check(file: &Path, overrides: &Overrides) -> anyhow::Result<()> {
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

fn store_info(config: Option<&Path>, data_dir: Option<&Path>) -> anyhow::Result<()> {
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
    println!("schema         {}", swarmvote_node::store::SCHEMA_VERSION);
    println!("proposals      {}", stats.proposals);
    println!("ballots        {}", stats.ballots);
    println!("own ballots    {}", stats.own_ballots);
    println!("evidence       {}", stats.evidence);
    println!("decisions      {}", stats.decisions);
    println!("records ok     {}", records.len());
    Ok(())
}
