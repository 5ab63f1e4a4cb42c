//! `swarmvote`: the node binary and its operator commands. This file only parses the
//! command line and dispatches; each command group lives in its own file under `cmd/`.

mod cmd;

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use swarmvote_node::cli::client::ClientError;
use swarmvote_node::config::LogFormat;

/// Exit codes of every command.
const EXIT_CODES: &str = "Exit codes: 0 success, 1 error (the message names the file, field, node or \
proposal at fault), 2 command-line usage error; `run` exits 5 when another instance of its \
voter key signed (doppelganger protection); `propose --wait` also exits 3 when the \
proposal is rejected and 4 when it expired or is still pending at --timeout-ms; `gate exec` \
exits with its program's code, or 80-84 when the program did not run (see its --help).";

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
    Run(cmd::run::ConfigArgs),
    /// Create the data dir and the node's transport identity; print its peer id.
    Init(cmd::run::ConfigArgs),
    /// Create a voter key file (mode 0600) and print its public key.
    Keygen(cmd::keys::KeygenArgs),
    /// Create or inspect a roster; propose a change to it, or list the changes approved.
    Roster {
        #[command(subcommand)]
        command: cmd::roster::RosterCommand,
    },
    /// Validate a node config.
    Config {
        #[command(subcommand)]
        command: cmd::config::ConfigCommand,
    },
    /// Test a Rego policy offline, against sample proposals.
    Policy {
        #[command(subcommand)]
        command: cmd::policy::PolicyCommand,
    },
    /// Inspect a node's data dir.
    Store {
        #[command(subcommand)]
        command: cmd::store::StoreCommand,
    },
    /// Submit a proposal to a running node; print its id (and, with --wait, the verdict).
    #[command(
        after_help = "Exit codes: 0 submitted (with --wait: approved), 3 rejected \
(--wait), 4 expired or still pending at --timeout-ms (--wait), 1 error, 2 usage error."
    )]
    Propose(cmd::proposals::ProposeArgs),
    /// Cast this node's ballot on a proposal.
    #[command(after_help = EXIT_CODES)]
    Vote(cmd::proposals::VoteArgs),
    /// List proposals, newest first.
    #[command(after_help = EXIT_CODES)]
    Proposals(cmd::proposals::ProposalsArgs),
    /// Show one proposal: payload, status, tally, ballots with reasons, evidence, execution.
    #[command(after_help = EXIT_CODES)]
    Show(cmd::proposals::ShowArgs),
    /// Follow the node's events, one line each; reconnects (resuming) if the stream drops.
    #[command(after_help = EXIT_CODES)]
    Watch(cmd::status::WatchArgs),
    /// Show the node's status: peers, counts, roster, traffic, version.
    #[command(after_help = EXIT_CODES)]
    Status(cmd::status::StatusArgs),
    /// Print an approved proposal's quorum certificate (JSON) on standard output.
    #[command(after_help = EXIT_CODES)]
    Cert(cmd::proposals::CertArgs),
    /// Check a certificate file against a roster (or a genesis roster and its chain of
    /// approved changes), offline (no node needed).
    #[command(
        after_help = "Exit codes: 0 the certificate is valid, 1 it is not (or a file \
cannot be read); the message names the file, field or ballot at fault. 2 usage error."
    )]
    VerifyCert(cmd::proposals::VerifyCertArgs),
    /// Save a running node's audit export (proposals, ballots, decisions, certificates,
    /// evidence, roster steps, executions: a sealed hash chain of JSON lines); `export
    /// verify` checks such a file offline.
    #[command(
        after_help = "Example: swarmvote export --config node.toml --since 7d --out audit.jsonl; swarmvote export verify audit.jsonl --roster roster.toml. Exit codes: 0 written (verify: valid), 1 error (verify: the file is not valid; the message names the first line at fault), 2 usage error."
    )]
    Export(cmd::export::ExportArgs),
    /// Print a proposal's execution receipt file (`{"receipt": …, "certificate": …}`),
    /// signed by the member whose node ran it.
    #[command(after_help = EXIT_CODES)]
    Receipt(cmd::receipts::ReceiptArgs),
    /// Check an execution receipt file against a roster (or a genesis roster and its
    /// chain), with the certificate it names, offline (no node needed).
    #[command(
        after_help = "Exit codes: 0 the receipt is signed by a member and backed by a \
verifying certificate of the same proposal, with the digest it names; 1 it is not (a bad \
signature, or an UNBACKED execution: no certificate, another proposal's, another digest, \
or one that does not verify), or a file cannot be read; the message names what. 2 usage \
error."
    )]
    VerifyReceipt(cmd::receipts::VerifyReceiptArgs),
    /// Serve the node's tools to an AI agent over MCP on standard input and output (for
    /// MCP clients that start servers as child processes).
    #[command(
        after_help = "The node must be running; every tool call goes through its \
HTTP API. A running node also serves MCP over Streamable HTTP at /mcp on its API listener. \
Exit codes: 0 the client closed the session, 1 error, 2 usage error."
    )]
    Mcp(cmd::mcp::McpArgs),
    /// Start a local swarm of real nodes on 127.0.0.1 and stream their logs; with
    /// --demo, show a benign, a dangerous and a four-eyes proposal decided, then stop.
    #[command(
        after_help = "Start here: `swarmvote devnet --demo`. The nodes run until Ctrl-C \
(or SIGTERM), which stops them all (SIGTERM, then SIGKILL after 10 s); they also stop if \
devnet itself is killed. Exit codes: 0 stopped cleanly (--demo: every step went as \
expected), 1 error (a node failed, or a --demo verdict was wrong), 130 --demo interrupted, \
2 usage error."
    )]
    Devnet(cmd::devnet::DevnetArgs),
    /// A gate in front of commands (`gate exec`, like sudo for agents) and agent tool
    /// calls (`gate hook`, for Claude Code's PreToolUse hook).
    Gate {
        #[command(subcommand)]
        command: cmd::gate::GateCommand,
    },
    /// Benchmarks.
    Bench {
        #[command(subcommand)]
        command: cmd::dev::BenchCommand,
    },
    /// Test support.
    #[command(hide = true)]
    Debug {
        #[command(subcommand)]
        command: cmd::dev::DebugCommand,
    },
}

fn main() -> ExitCode {
    let result = match Cli::parse().command {
        Command::Run(args) => {
            if !swarmvote_node::dev::cluster::die_with_parent() {
                eprintln!("error: the process that started this node has exited");
                return ExitCode::FAILURE;
            }
            cmd::run::start(&args)
        }
        Command::Mcp(args) => cmd::mcp::run(&args),
        Command::Devnet(args) => cmd::dev::devnet(&args),
        Command::Propose(args) => cmd::proposals::propose(args),
        Command::Vote(args) => cmd::proposals::vote(args),
        Command::Proposals(args) => cmd::proposals::list(args),
        Command::Show(args) => cmd::proposals::show(args),
        Command::Watch(args) => cmd::status::watch(args),
        Command::Status(args) => cmd::status::status(args),
        Command::Cert(args) => cmd::proposals::cert(args),
        Command::VerifyCert(args) => cmd::proposals::verify_cert(args),
        Command::Export(args) => cmd::export::run(args),
        Command::Receipt(args) => cmd::receipts::receipt(args),
        Command::VerifyReceipt(args) => cmd::receipts::verify_receipt(args),
        Command::Gate { command } => cmd::gate::run(command),
        Command::Init(args) => offline(|| cmd::run::init(&args)),
        Command::Keygen(args) => offline(|| cmd::keys::keygen(&args.out)),
        Command::Roster { command } if command.is_online() => cmd::roster::run_online(command),
        Command::Roster { command } => offline(|| cmd::roster::run(command)),
        Command::Config { command } => offline(|| cmd::config::run(command)),
        Command::Policy { command } => offline(|| cmd::policy::run(command)),
        Command::Store { command } => offline(|| cmd::store::run(command)),
        Command::Bench { command } => offline(|| cmd::dev::bench(command)),
        Command::Debug { command } => offline(|| cmd::dev::debug(command)),
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

/// The commands that neither serve nor talk to a node: text logs, exit 0 on success.
fn offline(command: impl FnOnce() -> anyhow::Result<()>) -> anyhow::Result<u8> {
    cmd::init_logging(LogFormat::Text);
    command().map(|()| 0)
}
