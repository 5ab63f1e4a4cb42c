//! The developer's commands: the local devnet, the cluster benchmark, and the crash
//! test's voting workload.

use std::path::PathBuf;

use anyhow::Context;
use clap::Subcommand;

use super::devnet::{self, DevnetArgs};

#[derive(Subcommand)]
pub enum BenchCommand {
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
pub enum DebugCommand {
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

/// `swarmvote devnet`: its own exit codes (130 when the demo is interrupted).
pub fn devnet(args: &DevnetArgs) -> anyhow::Result<u8> {
    let binary = std::env::current_exe().context("cannot find this binary")?;
    if args.hosts {
        let quorum = devnet::quorum_of(args)?;
        return super::devnet_hosts::run(args, &binary, &quorum);
    }
    devnet::run(args, &binary, super::colours_wanted())
}

/// `swarmvote bench`.
pub fn bench(command: BenchCommand) -> anyhow::Result<()> {
    let BenchCommand::Cluster {
        nodes,
        latency_samples,
        proposals,
        clients,
        json,
        dir,
    } = command;
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

/// `swarmvote debug`: test support.
pub fn debug(command: DebugCommand) -> anyhow::Result<()> {
    let DebugCommand::CrashVoter {
        data_dir,
        proposals,
        seed,
        flip,
    } = command;
    let stdout = std::io::stdout();
    swarmvote_node::dev::crashtest::run(&data_dir, proposals, seed, flip, &mut stdout.lock())?;
    Ok(())
}
