//! `swarmvote`: the node binary and its operator commands.

mod cmd;

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};
use swarmvote_node::cli::client::{
    self, ClientError, Flow, ListQuery, Locator, Names, NodeClient, PageView, ReportView,
    WatchOptions, parse_proposal_id, render_event, render_list, render_status,
};
use swarmvote_node::config::{self, NodeConfig, Overrides};
use swarmvote_node::daemon::store::Store;
use swarmvote_node::keyfile;
use swarmvote_protocol::{MemberName, PublicKey, Quorum, Roster, SecretKey, Status, SwarmId, Vote};

/// Exit codes of every command.
const EXIT_CODES: &str = "Exit codes: 0 success, 1 error (the message names the file, field, node or \
proposal at fault), 2 command-line usage error; `propose --wait` also exits 3 when the \
proposal is rejected and 4 when it expired or is still pending at --timeout-ms.";

/// `propose --wait`: rejected.
const EXIT_REJECTED: u8 = 3;
/// `propose --wait`: expired, or still pending at the timeout.
const EXIT_UNDECIDED: u8 = 4;

/// A peer-to-peer voting gate for the critical actions of autonomous agents.
#[derive(Parser)]
#[command(name = "swarmvote", version, about, after_help = EXIT_CODES)]
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
    /// Submit a proposal to a running node; print its id (and, with --wait, the verdict).
    #[command(
        after_help = "Exit codes: 0 submitted (with --wait: approved), 3 rejected \
(--wait), 4 expired or still pending at --timeout-ms (--wait), 1 error, 2 usage error."
    )]
    Propose {
        #[command(flatten)]
        node: NodeArgs,
        /// The action, such as fs.delete.
        #[arg(long)]
        action: String,
        /// The payload: JSON text, or @FILE to read it from a file.
        #[arg(long, value_name = "JSON")]
        payload: String,
        /// Lifetime in ms (the node's default: 60000).
        #[arg(long, value_name = "MS")]
        ttl_ms: Option<u64>,
        /// Wait until the proposal is decided or expired, and print the tally.
        #[arg(long)]
        wait: bool,
        /// With --wait: stop waiting after this many ms (exit 4) [default: 60000].
        #[arg(long, value_name = "MS", requires = "wait")]
        timeout_ms: Option<u64>,
        /// Print the API's JSON answer.
        #[arg(long)]
        json: bool,
    },
    /// Cast this node's ballot on a proposal.
    #[command(after_help = EXIT_CODES)]
    Vote {
        #[command(flatten)]
        node: NodeArgs,
        /// The proposal id (64 hex characters).
        id: String,
        /// yes or no.
        vote: VoteArg,
        /// Why (at most 1 KiB; kept in the signed ballot).
        #[arg(long, value_name = "TEXT")]
        reason: Option<String>,
        /// Print the signed ballot as JSON.
        #[arg(long)]
        json: bool,
    },
    /// List proposals, newest first.
    #[command(after_help = EXIT_CODES)]
    Proposals {
        #[command(flatten)]
        node: NodeArgs,
        /// Only this status.
        #[arg(long)]
        status: Option<StatusArg>,
        /// Only this action.
        #[arg(long)]
        action: Option<String>,
        /// Only proposals created at or after this time (unix ms).
        #[arg(long, value_name = "MS")]
        since: Option<u64>,
        /// Page size (the node caps it at 1000).
        #[arg(long, value_name = "N")]
        limit: Option<usize>,
        /// Start at this cursor (printed after a page when more remain).
        #[arg(long, value_name = "CURSOR")]
        cursor: Option<String>,
        /// Follow the cursors and list every page.
        #[arg(long)]
        all: bool,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Show one proposal: payload, status, tally, ballots with reasons, evidence, execution.
    #[command(after_help = EXIT_CODES)]
    Show {
        #[command(flatten)]
        node: NodeArgs,
        /// The proposal id (64 hex characters).
        id: String,
        /// Print the API's JSON report.
        #[arg(long)]
        json: bool,
    },
    /// Follow the node's events, one line each; reconnects (resuming) if the stream drops.
    #[command(after_help = EXIT_CODES)]
    Watch {
        #[command(flatten)]
        node: NodeArgs,
        /// Start after this event id (earlier events the node still holds are replayed).
        #[arg(long, value_name = "ID")]
        after: Option<u64>,
        /// Consecutive failed reconnects before giving up (exit 1).
        #[arg(long, value_name = "N", default_value_t = 8)]
        retries: u32,
        /// Print each event's JSON on one line.
        #[arg(long)]
        json: bool,
    },
    /// Show the node's status: peers, counts, roster, traffic, version.
    #[command(after_help = EXIT_CODES)]
    Status {
        #[command(flatten)]
        node: NodeArgs,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Print an approved proposal's quorum certificate (JSON) on standard output.
    #[command(after_help = EXIT_CODES)]
    Cert {
        #[command(flatten)]
        node: NodeArgs,
        /// The proposal id (64 hex characters).
        id: String,
        /// Accepted for symmetry: the certificate is always JSON.
        #[arg(long)]
        json: bool,
    },
    /// Check a certificate file against a roster, offline (no node needed).
    #[command(
        after_help = "Exit codes: 0 the certificate is valid, 1 it is not (or a file \
cannot be read); the message names the file, field or ballot at fault. 2 usage error."
    )]
    VerifyCert {
        /// The certificate JSON file (at most 32 MiB).
        file: PathBuf,
        /// The swarm's roster file.
        #[arg(long, value_name = "FILE")]
        roster: PathBuf,
        /// Print the summary as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Start a local swarm of real nodes on 127.0.0.1 and stream their logs; with
    /// --demo, show a benign and a dangerous proposal decided, then stop.
    #[command(
        after_help = "Start here: `swarmvote devnet --demo`. The nodes run until Ctrl-C \
(or SIGTERM), which stops them all (SIGTERM, then SIGKILL after 10 s); they also stop if \
devnet itself is killed. Exit codes: 0 stopped cleanly (--demo: every step went as \
expected), 1 error (a node failed, or a --demo verdict was wrong), 130 --demo interrupted, \
2 usage error."
    )]
    Devnet {
        /// Number of nodes (1 to 16).
        #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u16).range(1..=16))]
        nodes: u16,
        /// The quorum: "2/3", "0.66" or "66%".
        #[arg(long, default_value = "2/3")]
        quorum: String,
        /// Keep keys, configs, data and logs in DIR (created if missing; a devnet dir is
        /// reused with its keys and data; any other non-empty dir is refused). Default: a
        /// temporary dir, removed at exit.
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
        /// Keep the temporary dir at exit and print its path.
        #[arg(long, conflicts_with = "dir")]
        keep: bool,
        /// Submit a benign and a dangerous proposal, show both decisions with their
        /// ballots and tallies, verify the approval's certificate, then stop.
        #[arg(long)]
        demo: bool,
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

/// How a client command finds its node.
#[derive(clap::Args)]
#[group(id = "node", required = true, multiple = false)]
struct NodeArgs {
    /// The node's config: address from <data_dir>/api.addr (else api.listen), token from
    /// `[api] token` (else <data_dir>/api.cookie); member names from its roster.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// The node's data dir: address from api.addr, token from api.cookie.
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
}

impl NodeArgs {
    fn locator(&self) -> Locator {
        match (&self.config, &self.data_dir) {
            (Some(c), _) => Locator::Config(c.clone()),
            (None, Some(d)) => Locator::DataDir(d.clone()),
            // clap requires one of the two.
            (None, None) => Locator::DataDir(PathBuf::from(".")),
        }
    }

    /// Member names from the config's roster, if a config was given and its roster reads.
    fn names(&self) -> Names {
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

    fn client(&self) -> anyhow::Result<NodeClient> {
        Ok(NodeClient::new(self.locator().resolve()?))
    }
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum VoteArg {
    Yes,
    No,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum StatusArg {
    Pending,
    Approved,
    Rejected,
    Expired,
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
        Command::Run { config, overrides } => {
            if !swarmvote_node::dev::cluster::die_with_parent() {
                eprintln!("error: the process that started this node has exited");
                return ExitCode::FAILURE;
            }
            start(&config, &overrides).map(|()| 0)
        }
        Command::Devnet {
            nodes,
            quorum,
            dir,
            keep,
            demo,
        } => std::env::current_exe()
            .context("cannot find this binary")
            .and_then(|binary| {
                let args = cmd::devnet::DevnetArgs {
                    nodes: usize::from(nodes),
                    quorum,
                    dir,
                    keep,
                    demo,
                };
                cmd::devnet::run(&args, &binary, cmd::colours_wanted())
            }),
        command @ (Command::Propose { .. }
        | Command::Vote { .. }
        | Command::Proposals { .. }
        | Command::Show { .. }
        | Command::Watch { .. }
        | Command::Status { .. }
        | Command::Cert { .. }
        | Command::VerifyCert { .. }) => client_command(command),
        other => {
            cmd::init_logging(config::LogFormat::Text);
            run(other).map(|()| 0)
        }
    };
    match result {
        Ok(code) => ExitCode::from(code),
        // A reader that went away (`swarmvote watch | head`) is not an error.
        Err(e)
            if matches!(
                e.downcast_ref::<ClientError>(),
                Some(ClientError::Output(io)) if io.kind() == std::io::ErrorKind::BrokenPipe
            ) =>
        {
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Writes to standard output; errors (a closed pipe) are returned, never a panic.
fn emit(text: &str) -> Result<(), ClientError> {
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())
        .and_then(|()| out.flush())
        .map_err(ClientError::Output)
}

fn emit_json(value: &impl serde::Serialize) -> anyhow::Result<()> {
    let mut text = serde_json::to_string_pretty(value)?;
    text.push('\n');
    Ok(emit(&text)?)
}

/// `--payload`: JSON text, or `@FILE`.
fn read_payload(arg: &str) -> anyhow::Result<serde_json::Value> {
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

fn client_command(command: Command) -> anyhow::Result<u8> {
    match command {
        Command::Propose {
            node,
            action,
            payload,
            ttl_ms,
            wait,
            timeout_ms,
            json,
        } => {
            let payload = read_payload(&payload)?;
            let client = node.client()?;
            if !wait {
                let answer = client.propose(&action, payload, ttl_ms, None)?;
                if json {
                    emit_json(&answer)?;
                } else {
                    let id = answer["id"]
                        .as_str()
                        .context("the node's answer has no id")?;
                    emit(&format!("{id}\n"))?;
                }
                return Ok(0);
            }
            propose_and_wait(&client, &node, &action, payload, ttl_ms, timeout_ms, json)
        }
        Command::Vote {
            node,
            id,
            vote,
            reason,
            json,
        } => {
            let id = parse_proposal_id(&id)?;
            let vote = match vote {
                VoteArg::Yes => Vote::Yes,
                VoteArg::No => Vote::No,
            };
            let ballot = node.client()?.vote(&id, vote, reason.as_deref())?;
            if json {
                emit_json(&ballot)?;
            } else {
                let voter = ballot["ballot"]["voter"].as_str().unwrap_or("?");
                emit(&format!(
                    "{} voted {vote} on {id}\n",
                    node.names().of_str(voter)
                ))?;
            }
            Ok(0)
        }
        Command::Proposals {
            node,
            status,
            action,
            since,
            limit,
            cursor,
            all,
            json,
        } => {
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
            };
            let mut rows: Vec<serde_json::Value> = Vec::new();
            let mut seen_cursors = std::collections::BTreeSet::new();
            let next = loop {
                let page = client.list(&query)?;
                if !all && json {
                    emit_json(&page)?;
                    return Ok(0);
                }
                rows.extend(page["proposals"].as_array().cloned().unwrap_or_default());
                let next = page["next_cursor"].as_str().map(str::to_owned);
                match next {
                    // A cursor seen before would loop forever.
                    Some(c) if all && seen_cursors.insert(c.clone()) => query.cursor = Some(c),
                    other => break other,
                }
            };
            if json {
                emit_json(&serde_json::json!({ "proposals": rows }))?;
                return Ok(0);
            }
            let page = PageView::from_json(&serde_json::json!({ "proposals": rows }))?;
            let mut text = render_list(&page.proposals, &node.names());
            if let (Some(c), false) = (next, all) {
                text.push_str(&format!("more: --cursor {c} (or --all)\n"));
            }
            emit(&text)?;
            Ok(0)
        }
        Command::Show { node, id, json } => {
            let id = parse_proposal_id(&id)?;
            let report = node.client()?.proposal(&id)?;
            if json {
                emit_json(&report)?;
            } else {
                emit(&ReportView::from_json(&report)?.render(&node.names()))?;
            }
            Ok(0)
        }
        Command::Watch {
            node,
            after,
            retries,
            json,
        } => {
            let names = node.names();
            let options = WatchOptions {
                after,
                retries,
                ..WatchOptions::default()
            };
            client::watch(
                &node.locator(),
                &options,
                &mut |event| {
                    let line = if json {
                        event.data.clone()
                    } else {
                        render_event(event, &names)
                    };
                    let mut out = std::io::stdout().lock();
                    writeln!(out, "{line}")?;
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
        Command::Status { node, json } => {
            let status = node.client()?.status()?;
            if json {
                emit_json(&status)?;
            } else {
                emit(&render_status(&status))?;
            }
            Ok(0)
        }
        Command::Cert { node, id, json: _ } => {
            let id = parse_proposal_id(&id)?;
            emit_json(&node.client()?.certificate(&id)?)?;
            Ok(0)
        }
        Command::VerifyCert { file, roster, json } => {
            let summary = client::verify_certificate_file(&file, &roster)?;
            if json {
                emit_json(&summary)?;
            } else {
                emit(&summary.to_string())?;
            }
            Ok(0)
        }
        _ => bail!("not a client command"),
    }
}

/// `propose --wait`: submits, waits for the verdict, prints it; the exit code tells it.
fn propose_and_wait(
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
    let answer = client.propose(
        action,
        payload,
        ttl_ms,
        Some(timeout.min(client::MAX_SERVER_WAIT_MS)),
    )?;
    let id = parse_proposal_id(
        answer["id"]
            .as_str()
            .context("the node's answer has no id")?,
    )?;
    let mut report = answer["proposal"].clone();
    // The server waits at most 300 s per request; poll for the rest of a longer timeout.
    while report["status"] == "pending" || report.is_null() {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break;
        }
        std::thread::sleep(left.min(Duration::from_millis(250)));
        report = client.proposal(&id)?;
    }
    let view = ReportView::from_json(&report)?;
    if json {
        emit_json(&serde_json::json!({ "id": id, "proposal": report }))?;
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
            let report = swarmvote_node::dev::bench::run(&swarmvote_node::dev::bench::BenchSpec {
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
            swarmvote_node::dev::crashtest::run(
                &data_dir,
                proposals,
                seed,
                flip,
                &mut stdout.lock(),
            )?;
            Ok(())
        }
        // Dispatched by `main` (they have their own exit codes).
        command => client_command(command).map(|_| ()),
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
