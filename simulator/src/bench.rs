//! `swarmvote-sim bench`: how fast the simulator runs, in simulated seconds per wall
//! second and events per second, and how much memory it needs, for a few swarm sizes.
//!
//! Each size runs a fixed, stated workload (see [`workload`]) on the same network as
//! `configs/scenarios/baseline-3.toml`: log-normal latency (median 20 ms, sigma 0.4), 1%
//! loss, 1% duplication, fanout 6, catch-up every 2 s, every member honest, quorum 2/3,
//! and the default peer limit (`network.max_peers = 128`: sizes above 129 are not a full
//! mesh).
//! The binary runs each (size, repeat) in a child process of itself (`bench-one`), so the
//! peak RSS it reads from `/proc/self/status` (`VmHWM`) belongs to that run alone.

use std::time::Instant;

use crate::scenario::{Scenario, ScenarioError};
use crate::sim::{Sim, SimError};

/// The seed every bench run uses.
pub const SEED: u64 = 1;

/// One size's workload.
#[derive(Clone, Debug, PartialEq)]
pub struct Workload {
    /// Members.
    pub nodes: u32,
    /// Proposals.
    pub proposals: u32,
    /// Poisson arrival rate, per second.
    pub rate_per_sec: f64,
    /// What it stands for, for the output.
    pub label: String,
}

/// Changes to every size's standard workload (`bench --proposals N --rate R`): the cost
/// of a run grows with its proposals and its virtual time with their spacing, so the
/// speed ratio depends on the workload as much as on the simulator.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Overrides {
    /// Proposals per run instead of the size's standard count.
    pub proposals: Option<u32>,
    /// Poisson arrival rate per second instead of the size's standard rate.
    pub rate_per_sec: Option<f64>,
}

impl Overrides {
    /// The `bench-one` arguments that pass these on to a child.
    fn args(&self) -> Vec<String> {
        let mut args = Vec::new();
        if let Some(p) = self.proposals {
            args.extend(["--proposals".to_string(), p.to_string()]);
        }
        if let Some(r) = self.rate_per_sec {
            args.extend(["--rate".to_string(), r.to_string()]);
        }
        args
    }
}

/// The workload for `nodes` members:
///
/// * up to 100 members: a **gate** workload, what a swarm guarding critical actions sees:
///   a proposal every 5 s on average (Poisson, 0.2/s), 24 proposals;
/// * 101 to 1,000 members: **100 proposals at 5/s** (the issue's 1,000 × 100 target);
/// * above 1,000: a **small** workload, 2 proposals at 1/s.
///
/// Every proposal has a 30 s TTL, 20% are anomalous (the honest swarm blocks them), and
/// the run ends 10 s after the last proposal expires.
pub fn workload(nodes: u32) -> Workload {
    if nodes <= 100 {
        Workload {
            nodes,
            proposals: 24,
            rate_per_sec: 0.2,
            label: "gate: 24 proposals, one every 5 s on average".into(),
        }
    } else if nodes <= 1_000 {
        Workload {
            nodes,
            proposals: 100,
            rate_per_sec: 5.0,
            label: "100 proposals at 5/s".into(),
        }
    } else {
        Workload {
            nodes,
            proposals: 2,
            rate_per_sec: 1.0,
            label: "small: 2 proposals at 1/s".into(),
        }
    }
}

impl Workload {
    /// This workload with `o` applied; the label then states the values used.
    pub fn with(mut self, o: Overrides) -> Self {
        if o == Overrides::default() {
            return self;
        }
        self.proposals = o.proposals.unwrap_or(self.proposals);
        self.rate_per_sec = o.rate_per_sec.unwrap_or(self.rate_per_sec);
        self.label = format!(
            "set: {} proposals at {}/s",
            self.proposals, self.rate_per_sec
        );
        self
    }

    /// The scenario it runs.
    pub fn scenario(&self) -> Result<Scenario, ScenarioError> {
        let text = format!(
            r#"name = "bench-{n}"
seed = {SEED}
quorum = "2/3"
[[nodes]]
count = {n}
behaviour = {{ kind = "honest", error_rate = 0.0 }}
[network]
fanout = 6
sync_interval_ms = 2000
flush_interval_ms = 500
[network.default]
latency = {{ kind = "lognormal", median_ms = 20.0, sigma = 0.4 }}
loss = 0.01
duplicate = 0.01
[workload]
proposals = {p}
rate_per_sec = {r}
anomalous_fraction = 0.2
ttl_ms = 30000
eval_delay_ms = 1
"#,
            n = self.nodes,
            p = self.proposals,
            r = self.rate_per_sec,
        );
        Scenario::parse(&format!("bench-{}", self.nodes), &text)
    }
}

/// What one run measured.
#[derive(Clone, Debug, PartialEq)]
pub struct Measurement {
    /// Members.
    pub nodes: u32,
    /// Proposals created.
    pub proposals: u64,
    /// Virtual time simulated, in seconds.
    pub virtual_s: f64,
    /// Wall time of the run (setup included), in seconds.
    pub wall_s: f64,
    /// CPU time this process spent on the run, in seconds (from `/proc/self/schedstat`;
    /// equal to the wall time on an idle machine, smaller when other work shares the
    /// cores), if readable.
    pub cpu_s: Option<f64>,
    /// Events processed.
    pub events: u64,
    /// Proposals approved or rejected.
    pub decisions: u64,
    /// Agreement, validity and no honest equivocation all held.
    pub ok: bool,
    /// Peak resident set of the process, in KiB (`VmHWM`), if readable.
    pub peak_rss_kib: Option<u64>,
}

/// Why a bench run failed.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    /// The generated scenario did not parse (a bug).
    #[error(transparent)]
    Scenario(#[from] ScenarioError),
    /// The run could not start.
    #[error(transparent)]
    Sim(#[from] SimError),
    /// A child's output could not be read.
    #[error("bench-one output: {0}")]
    Output(String),
    /// The child process could not be run.
    #[error("cannot run bench-one: {0}")]
    Spawn(#[from] std::io::Error),
}

/// Runs every size `repeat` times, each run in a child process of this binary
/// (`<exe> bench-one --nodes N`), and returns the table. Progress goes to stderr.
pub fn run_children(
    nodes: &[u32],
    repeat: u32,
    overrides: Overrides,
) -> Result<(String, bool), BenchError> {
    let exe = std::env::current_exe()?;
    let mut rows = Vec::new();
    for &n in nodes {
        let mut runs = Vec::new();
        for r in 0..repeat.max(1) {
            eprintln!("bench: {n} nodes, run {}/{}", r + 1, repeat.max(1));
            let out = std::process::Command::new(&exe)
                .args(["bench-one", "--nodes", &n.to_string()])
                .args(overrides.args())
                .stdin(std::process::Stdio::null())
                .output()?;
            let text = String::from_utf8_lossy(&out.stdout);
            if !out.status.success() {
                return Err(BenchError::Output(format!(
                    "{n} nodes: {}: {}",
                    out.status,
                    String::from_utf8_lossy(&out.stderr).trim()
                )));
            }
            runs.push(Measurement::from_line(text.trim())?);
        }
        if let Some(m) = summarise(runs) {
            rows.push(m);
        }
    }
    let ok = rows.iter().all(|r| r.ok);
    Ok((table(&rows, repeat.max(1), overrides), ok))
}

/// Runs `nodes`' workload, with `overrides`, in this process and measures it.
pub fn run_one(nodes: u32, overrides: Overrides) -> Result<Measurement, BenchError> {
    let w = workload(nodes).with(overrides);
    let scenario = w.scenario()?;
    let cpu0 = cpu_ns();
    let start = Instant::now();
    let (report, events) = Sim::new(scenario, SEED)?.run_counted();
    let wall_s = start.elapsed().as_secs_f64();
    let cpu_s = cpu0
        .zip(cpu_ns())
        .map(|(a, b)| b.saturating_sub(a) as f64 / 1e9);
    Ok(Measurement {
        nodes,
        proposals: report.proposals.created,
        virtual_s: report.duration_ms as f64 / 1000.0,
        wall_s,
        cpu_s,
        events,
        decisions: report
            .proposals
            .approved
            .saturating_add(report.proposals.rejected),
        ok: report.invariants.hold(),
        peak_rss_kib: peak_rss_kib(),
    })
}

/// CPU time this thread has run, in ns: the first field of `/proc/thread-self/schedstat`.
fn cpu_ns() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    text.split_whitespace().next()?.parse().ok()
}

/// This process's peak resident set (`VmHWM` in `/proc/self/status`), in KiB.
pub fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

impl Measurement {
    /// One line of `key=value` pairs: what `bench-one` prints for its parent.
    pub fn to_line(&self) -> String {
        format!(
            "nodes={} proposals={} virtual_s={} wall_s={} cpu_s={} events={} decisions={} ok={} peak_rss_kib={}",
            self.nodes,
            self.proposals,
            self.virtual_s,
            self.wall_s,
            self.cpu_s.unwrap_or(0.0),
            self.events,
            self.decisions,
            self.ok,
            self.peak_rss_kib.unwrap_or(0)
        )
    }

    /// Parses [`Measurement::to_line`].
    pub fn from_line(line: &str) -> Result<Self, BenchError> {
        let get = |k: &str| -> Result<&str, BenchError> {
            line.split_whitespace()
                .find_map(|kv| kv.strip_prefix(k)?.strip_prefix('='))
                .ok_or_else(|| BenchError::Output(format!("no {k} in {line:?}")))
        };
        let bad = |k: &str| BenchError::Output(format!("bad {k} in {line:?}"));
        let cpu: f64 = get("cpu_s")?.parse().map_err(|_| bad("cpu_s"))?;
        let rss: u64 = get("peak_rss_kib")?
            .parse()
            .map_err(|_| bad("peak_rss_kib"))?;
        Ok(Self {
            nodes: get("nodes")?.parse().map_err(|_| bad("nodes"))?,
            proposals: get("proposals")?.parse().map_err(|_| bad("proposals"))?,
            virtual_s: get("virtual_s")?.parse().map_err(|_| bad("virtual_s"))?,
            wall_s: get("wall_s")?.parse().map_err(|_| bad("wall_s"))?,
            cpu_s: (cpu > 0.0).then_some(cpu),
            events: get("events")?.parse().map_err(|_| bad("events"))?,
            decisions: get("decisions")?.parse().map_err(|_| bad("decisions"))?,
            ok: get("ok")?.parse().map_err(|_| bad("ok"))?,
            peak_rss_kib: (rss > 0).then_some(rss),
        })
    }
}

/// The median wall time of repeats of one size, with the other figures of that run
/// (runs are deterministic, so only the wall time and RSS vary) and the largest RSS.
pub fn summarise(mut runs: Vec<Measurement>) -> Option<Measurement> {
    runs.sort_by(|a, b| a.wall_s.total_cmp(&b.wall_s));
    let peak = runs.iter().filter_map(|m| m.peak_rss_kib).max();
    let mid = runs.len().checked_sub(1)? / 2;
    let mut m = runs.get(mid)?.clone();
    m.peak_rss_kib = peak;
    Some(m)
}

/// The bench table, workloads first.
pub fn table(rows: &[Measurement], repeat: u32, overrides: Overrides) -> String {
    let mut out =
        String::from("workloads (seed 1, network of baseline-3, all honest, quorum 2/3):\n");
    for r in rows {
        let label = workload(r.nodes).with(overrides).label;
        out.push_str(&format!("  {:>6} nodes: {label}\n", r.nodes));
    }
    out.push_str(&format!(
        "wall: median of {repeat} (cpu_s: that run's CPU time; below wall_s when other \
         work shares the cores); peak RSS: largest of {repeat}\n\n"
    ));
    out.push_str(&format!(
        "{:>6} {:>9} {:>9} {:>8} {:>8} {:>11} {:>11} {:>10} {:>9} {:>9} {:>5}\n",
        "nodes",
        "proposals",
        "virtual_s",
        "wall_s",
        "cpu_s",
        "sim_s/wall",
        "events",
        "events/s",
        "rss_MiB",
        "decisions",
        "ok"
    ));
    for r in rows {
        let speed = if r.wall_s > 0.0 {
            r.virtual_s / r.wall_s
        } else {
            0.0
        };
        let eps = if r.wall_s > 0.0 {
            r.events as f64 / r.wall_s
        } else {
            0.0
        };
        let rss = r
            .peak_rss_kib
            .map_or_else(|| "-".to_string(), |k| format!("{:.0}", k as f64 / 1024.0));
        out.push_str(&format!(
            "{:>6} {:>9} {:>9.1} {:>8.2} {:>8} {:>11.1} {:>11} {:>10.0} {:>9} {:>9} {:>5}\n",
            r.nodes,
            r.proposals,
            r.virtual_s,
            r.wall_s,
            r.cpu_s
                .map_or_else(|| "-".to_string(), |c| format!("{c:.2}")),
            speed,
            r.events,
            eps,
            rss,
            r.decisions,
            if r.ok { "ok" } else { "FAIL" }
        ));
    }
    out
}
