//! The `swarmvote-sim` binary: runs a scenario file and prints its report.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use swarmvote_sim::{Scenario, study};

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
    /// Runs a base scenario for every (n, p): n members all drifting with probability p,
    /// the scenario's quorum, over seeds 0..seeds; prints block and false-approval rates.
    Sweep {
        /// The base scenario TOML file.
        file: PathBuf,
        /// Member counts, comma-separated.
        #[arg(long, value_delimiter = ',', default_value = "1,2,3,5,7")]
        n: Vec<u32>,
        /// Drift probabilities, comma-separated.
        #[arg(long, value_delimiter = ',', default_value = "0,0.1,0.2,0.3,0.4,0.5")]
        p: Vec<f64>,
        /// Seeds per cell.
        #[arg(long, default_value_t = 5)]
        seeds: u64,
        /// Also writes the table as CSV to this file.
        #[arg(long)]
        csv: Option<PathBuf>,
    },
    /// Measures the seed document's three configurations and prints them next to its claims.
    SeedTable {
        /// Each member's drift probability.
        #[arg(long, default_value_t = 0.05)]
        drift: f64,
        /// Seeds per configuration.
        #[arg(long, default_value_t = 10)]
        seeds: u64,
        /// Proposals per run.
        #[arg(long, default_value_t = 200)]
        proposals: u32,
    },
}

fn sweep(file: &Path, n: &[u32], p: &[f64], seeds: u64, csv: Option<&PathBuf>) -> ExitCode {
    let base = match Scenario::load(file) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    if let Some(bad) = p.iter().find(|x| !(0.0..=1.0).contains(*x)) {
        eprintln!("error: --p {bad} is not a probability in [0, 1]");
        return ExitCode::from(2);
    }
    if n.contains(&0) {
        eprintln!("error: --n must be at least 1");
        return ExitCode::from(2);
    }
    let rows = match study::sweep(&base, n, p, seeds) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {}: {e}", file.display());
            return ExitCode::from(2);
        }
    };
    print!("{}", study::sweep_table(&rows));
    if let Some(path) = csv
        && let Err(e) = std::fs::write(path, study::sweep_csv(&rows))
    {
        eprintln!("error: {}: {e}", path.display());
        return ExitCode::from(2);
    }
    if rows.iter().all(|r| r.violations == 0) {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

fn seed_table(drift: f64, seeds: u64, proposals: u32) -> ExitCode {
    if !(0.0..=1.0).contains(&drift) || proposals == 0 {
        eprintln!("error: --drift must be in [0, 1] and --proposals at least 1");
        return ExitCode::from(2);
    }
    let rows = study::seed_base(proposals)
        .map_err(|e| e.to_string())
        .and_then(|b| study::seed_table(&b, drift, seeds).map_err(|e| e.to_string()));
    match rows {
        Ok(rows) => {
            print!("{}", study::seed_table_text(&rows, drift, seeds, proposals));
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
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
        Command::Sweep {
            file,
            n,
            p,
            seeds,
            csv,
        } => sweep(&file, &n, &p, seeds, csv.as_ref()),
        Command::SeedTable {
            drift,
            seeds,
            proposals,
        } => seed_table(drift, seeds, proposals),
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
