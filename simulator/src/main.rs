//! The `swarmvote-sim` binary: runs a scenario file and prints its report.

use std::io::IsTerminal as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use swarmvote_sim::report::Invariants;
use swarmvote_sim::{Scenario, chart, study};

#[derive(Parser)]
#[command(
    name = "swarmvote-sim",
    version,
    about = "Deterministic swarmvote simulator"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// Draws no progress bar (one is drawn on stderr only when it is a terminal).
    #[arg(long, global = true)]
    quiet: bool,
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
        /// `model`: the deterministic simulated network. `libp2p`: real node stacks on
        /// loopback TCP in this process (not deterministic; see the report's notes).
        #[arg(long, value_enum, default_value_t = NetworkMode::Model)]
        network: NetworkMode,
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
        /// Also writes SVG charts into this directory (created if missing):
        /// block-rate.svg, false-approval-rate.svg and latency.svg.
        #[arg(long, value_name = "DIR")]
        svg: Option<PathBuf>,
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
    /// Measures simulator speed and memory per swarm size (each run in a child process).
    Bench {
        /// Swarm sizes, comma-separated. 1,000 and more take minutes to hours and GiBs
        /// (see the README); ask for them explicitly.
        #[arg(long, value_delimiter = ',', default_value = "10,100")]
        nodes: Vec<u32>,
        /// Runs per size; the median wall time is shown.
        #[arg(long, default_value_t = 3)]
        repeat: u32,
        #[command(flatten)]
        workload: WorkloadArgs,
    },
    /// One bench run in this process; prints one `key=value` line (used by `bench`).
    #[command(hide = true)]
    BenchOne {
        /// Swarm size.
        #[arg(long)]
        nodes: u32,
        #[command(flatten)]
        workload: WorkloadArgs,
    },
}

/// `bench` options that change every size's standard workload.
#[derive(clap::Args, Debug, Clone, Copy)]
struct WorkloadArgs {
    /// Proposals per run, for every size, instead of the size's standard count.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    proposals: Option<u32>,
    /// Proposals per second (Poisson), for every size, instead of the size's standard
    /// rate.
    #[arg(long, value_name = "PER_SECOND", value_parser = positive_rate)]
    rate: Option<f64>,
}

impl WorkloadArgs {
    fn overrides(self) -> swarmvote_sim::bench::Overrides {
        swarmvote_sim::bench::Overrides {
            proposals: self.proposals,
            rate_per_sec: self.rate,
        }
    }
}

/// A rate that makes a workload: finite and above zero.
fn positive_rate(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(r) if r.is_finite() && r > 0.0 => Ok(r),
        Ok(_) => Err(format!(
            "the rate must be above zero and finite, got {text}"
        )),
        Err(e) => Err(format!("not a number of proposals per second ({e})")),
    }
}

/// A progress bar of `total` runs on stderr, or a hidden one when `quiet` or when stderr
/// is not a terminal, so redirected output never holds bar drawing.
fn progress_bar(total: u64, quiet: bool, what: &'static str) -> ProgressBar {
    if quiet || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
    if let Ok(style) =
        ProgressStyle::with_template("{msg} [{bar:40}] {pos}/{len} runs, {elapsed}, eta {eta}")
    {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_message(what);
    bar
}

/// Where `sweep` writes besides stdout.
struct SweepOutputs<'a> {
    csv: Option<&'a Path>,
    svg: Option<&'a Path>,
}

fn sweep(
    file: &Path,
    n: &[u32],
    p: &[f64],
    seeds: u64,
    out: &SweepOutputs<'_>,
    quiet: bool,
) -> ExitCode {
    // The arguments first: they are cheap to check and independent of the file.
    if let Some(bad) = p.iter().find(|x| !(0.0..=1.0).contains(*x)) {
        eprintln!("error: --p {bad} is not a probability in [0, 1]");
        return ExitCode::from(2);
    }
    if n.is_empty() || n.contains(&0) {
        eprintln!("error: --n must list member counts of at least 1");
        return ExitCode::from(2);
    }
    if p.is_empty() {
        eprintln!("error: --p must list at least one probability");
        return ExitCode::from(2);
    }
    if seeds == 0 {
        eprintln!("error: --seeds must be at least 1");
        return ExitCode::from(2);
    }
    let base = match Scenario::load(file) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let bar = progress_bar(study::sweep_runs(n, p, seeds), quiet, "sweep");
    let rows = study::sweep_with_progress(&base, n, p, seeds, &mut |k| bar.inc(k));
    bar.finish_and_clear();
    let rows = match rows {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {}: {e}", file.display());
            return ExitCode::from(2);
        }
    };
    print!("{}", study::sweep_table(&rows));
    if let Some(path) = out.csv
        && let Err(e) = std::fs::write(path, study::sweep_csv(&rows))
    {
        eprintln!("error: {}: {e}", path.display());
        return ExitCode::from(2);
    }
    if let Some(dir) = out.svg
        && let Err(e) = chart::write_sweep_charts(&rows, dir)
    {
        eprintln!("error: {e}");
        return ExitCode::from(2);
    }
    if rows.iter().all(|r| r.violations == 0) {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

fn seed_table(drift: f64, seeds: u64, proposals: u32, quiet: bool) -> ExitCode {
    if !(0.0..=1.0).contains(&drift) {
        eprintln!("error: --drift {drift} is not a probability in [0, 1]");
        return ExitCode::from(2);
    }
    if proposals == 0 || seeds == 0 {
        eprintln!("error: --proposals and --seeds must be at least 1");
        return ExitCode::from(2);
    }
    let bar = progress_bar(study::seed_table_runs(seeds), quiet, "seed-table");
    let rows = study::seed_base(proposals)
        .map_err(|e| e.to_string())
        .and_then(|b| {
            study::seed_table_with_progress(&b, drift, seeds, &mut |k| bar.inc(k))
                .map_err(|e| e.to_string())
        });
    bar.finish_and_clear();
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

/// Where `run` runs a scenario.
#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum NetworkMode {
    /// The deterministic network model.
    Model,
    /// Real node stacks over loopback TCP.
    Libp2p,
}

/// `run --network libp2p`: exit 0 when every invariant holds, 1 on a violation, 2 when
/// the scenario is unsupported live or the run could not complete.
#[cfg(feature = "live")]
fn run_live(file: &Path, scenario: &Scenario, seed: u64, json: bool) -> ExitCode {
    match swarmvote_sim::live::run_libp2p(scenario, seed) {
        Ok(r) => conclude(json, r.to_json(), r.to_table(), &r.invariants),
        Err(e) => {
            eprintln!("error: {}: {e}", file.display());
            ExitCode::from(2)
        }
    }
}

/// Without the `live` feature there are no node stacks to run: exit 2, naming the feature.
#[cfg(not(feature = "live"))]
fn run_live(file: &Path, _scenario: &Scenario, _seed: u64, _json: bool) -> ExitCode {
    eprintln!(
        "error: {}: --network libp2p needs swarmvote-sim built with the `live` feature (on by default; this build has --no-default-features)",
        file.display()
    );
    ExitCode::from(2)
}

/// Prints a report, model or live, as JSON or a table; names every violation on stderr
/// and exits 1 if there is one.
fn conclude(json: bool, as_json: String, table: String, invariants: &Invariants) -> ExitCode {
    if json {
        println!("{as_json}");
    } else {
        print!("{table}");
    }
    for v in &invariants.violations {
        eprintln!(
            "violation: {} (seed {}, proposal {}): {}",
            v.kind,
            v.seed,
            v.proposal.as_deref().unwrap_or("-"),
            v.detail
        );
    }
    if invariants.hold() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
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
            svg,
        } => {
            let out = SweepOutputs {
                csv: csv.as_deref(),
                svg: svg.as_deref(),
            };
            sweep(&file, &n, &p, seeds, &out, cli.quiet)
        }
        Command::SeedTable {
            drift,
            seeds,
            proposals,
        } => seed_table(drift, seeds, proposals, cli.quiet),
        Command::Bench {
            nodes,
            repeat,
            workload,
        } => match swarmvote_sim::bench::run_children(&nodes, repeat, workload.overrides()) {
            Ok((table, ok)) => {
                print!("{table}");
                if ok {
                    ExitCode::SUCCESS
                } else {
                    ExitCode::from(1)
                }
            }
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::from(2)
            }
        },
        Command::BenchOne { nodes, workload } => {
            match swarmvote_sim::bench::run_one(nodes, workload.overrides()) {
                Ok(m) => {
                    println!("{}", m.to_line());
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("error: {e}");
                    ExitCode::from(2)
                }
            }
        }
        Command::Run {
            file,
            seed,
            json,
            network,
        } => {
            let scenario = match Scenario::load(&file) {
                Ok(s) => s,
                Err(e) => {
                    eprintln!("error: {e}");
                    return ExitCode::from(2);
                }
            };
            let seed = seed.unwrap_or(scenario.seed);
            if network == NetworkMode::Libp2p {
                return run_live(&file, &scenario, seed, json);
            }
            let report = match swarmvote_sim::run(scenario, seed) {
                Ok(r) => r,
                Err(e) => {
                    eprintln!("error: {}: {e}", file.display());
                    return ExitCode::from(2);
                }
            };
            conclude(
                json,
                report.to_json(),
                report.to_table(),
                &report.invariants,
            )
        }
    }
}
