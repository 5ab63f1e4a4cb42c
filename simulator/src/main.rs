//! The `swarmvote-sim` binary: runs a scenario file and prints its report.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use swarmvote_sim::Scenario;

#[derive(Parser)]
#[command(
    name = "swarmvote-sim",
    version,
    about = "Deterministic swarmvote simulator"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Runs a scenario; exits 1 if an invariant is violated.
    Run {
        /// The scenario TOML file.
        file: PathBuf,
        /// Overrides the scenario's seed.
        #[arg(long)]
        seed: Option<u64>,
        /// Prints the report as JSON.
        #[arg(long)]
        json: bool,
    },
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            // Help and version are not errors.
            return if e.use_stderr() {
                ExitCode::from(2)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    match cli.command {
        Command::Run { file, seed, json } => {
            let scenario = match Scenario::load(&file) {
                Ok(s) => s,
                Err(e) => {
                    eprintln!("error: {e}");
                    return ExitCode::from(2);
                }
            };
            let seed = seed.unwrap_or(scenario.seed);
            let report = match swarmvote_sim::run(scenario, seed) {
                Ok(r) => r,
                Err(e) => {
                    eprintln!("error: {}: {e}", file.display());
                    return ExitCode::from(2);
                }
            };
            if json {
                println!("{}", report.to_json());
            } else {
                print!("{}", report.to_table());
            }
            if report.invariants.hold() {
                ExitCode::SUCCESS
            } else {
                for v in &report.invariants.violations {
                    eprintln!(
                        "violation: {} (seed {}, proposal {}): {}",
                        v.kind,
                        v.seed,
                        v.proposal.as_deref().unwrap_or("-"),
                        v.detail
                    );
                }
                ExitCode::from(1)
            }
        }
    }
}
