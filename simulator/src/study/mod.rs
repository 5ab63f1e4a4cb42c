//! Studies built from many runs: the drift sweep and the seed document's comparison table
//! (`study/seed.rs`, re-exported here).
//!
//! Both are plain loops over [`crate::run`] with fixed seeds `0..seeds`, so their output
//! is as deterministic as a single run.

use std::fmt::Write as _;

mod seed;

pub use seed::{
    BLOCK_TOLERANCE, Claims, LatencyClaim, SEED_CLAIMS, SeedClaim, SeedRow, SeedRule, TierRow,
    Verdicts, block_claim_holds, seed_base, seed_table, seed_table_runs, seed_table_text,
    seed_table_with_progress,
};

use crate::report::Report;
use crate::scenario::{Behaviour, NodeGroup, Scenario};
use crate::sim::SimError;

/// One (n, p) cell of a sweep, averaged over the seeds.
#[derive(Clone, Debug, PartialEq)]
pub struct SweepRow {
    /// Members.
    pub n: u32,
    /// YES votes needed (from the base scenario's quorum).
    pub q: u32,
    /// Each member's independent probability of a wrong vote.
    pub p: f64,
    /// Seeds run.
    pub seeds: u64,
    /// Mean over seeds of blocked / anomalous.
    pub block_rate: f64,
    /// Mean over seeds of false approvals / anomalous (0 when a seed had no anomaly).
    pub false_approval_rate: f64,
    /// Mean over seeds of the proposer's mean decision latency, ms.
    pub mean_latency_ms: f64,
    /// Mean over seeds of the proposer's median decision latency, ms.
    pub p50_latency_ms: f64,
    /// Mean over seeds of the proposer's 99th-percentile decision latency, ms.
    pub p99_latency_ms: f64,
    /// Runs with an invariant violation (should be 0).
    pub violations: u64,
}

/// `base` with its nodes replaced by `count` members of one behaviour.
fn with_nodes(base: &Scenario, groups: Vec<NodeGroup>) -> Scenario {
    let mut s = base.clone();
    s.nodes = groups;
    s
}

fn group(count: u32, behaviour: Behaviour) -> NodeGroup {
    NodeGroup { count, behaviour }
}

fn mean(xs: &[f64]) -> f64 {
    if xs.is_empty() {
        return 0.0;
    }
    // Seed counts are tiny.
    #[allow(clippy::cast_precision_loss)]
    let len = xs.len() as f64;
    xs.iter().sum::<f64>() / len
}

fn rate(a: u64, b: u64) -> f64 {
    if b == 0 {
        return 0.0;
    }
    // Counts stay far below 2^53.
    #[allow(clippy::cast_precision_loss)]
    let r = a as f64 / b as f64;
    r
}

/// Called with the number of runs just finished (or skipped), to drive a progress bar.
pub type Progress<'a> = &'a mut dyn FnMut(u64);

/// Runs `scenario` over seeds `0..seeds`, reporting each run to `progress`.
fn runs(scenario: &Scenario, seeds: u64, progress: Progress<'_>) -> Result<Vec<Report>, SimError> {
    (0..seeds)
        .map(|seed| {
            let r = crate::run(scenario.clone(), seed);
            progress(1);
            r
        })
        .collect()
}

/// Averages of a set of runs of one configuration.
struct Summary {
    q: u32,
    block_rate: f64,
    false_approval_rate: f64,
    mean_latency_ms: f64,
    p50_latency_ms: f64,
    p99_latency_ms: f64,
    violations: u64,
}

fn summarise(reports: &[Report]) -> Summary {
    let q = reports.first().map_or(0, |r| r.q);
    let block: Vec<f64> = reports.iter().map(|r| r.security.block_rate).collect();
    let fa: Vec<f64> = reports
        .iter()
        .map(|r| rate(r.security.false_approvals, r.security.anomalous))
        .collect();
    let lat: Vec<f64> = reports.iter().map(|r| r.latency.proposer.mean_ms).collect();
    let p50: Vec<f64> = reports.iter().map(|r| r.latency.proposer.p50_ms).collect();
    let p99: Vec<f64> = reports.iter().map(|r| r.latency.proposer.p99_ms).collect();
    let violations = reports
        .iter()
        .filter(|r| !r.invariants.hold())
        .fold(0u64, |a, _| a.saturating_add(1));
    Summary {
        q,
        block_rate: mean(&block),
        false_approval_rate: mean(&fa),
        mean_latency_ms: mean(&lat),
        p50_latency_ms: mean(&p50),
        p99_latency_ms: mean(&p99),
        violations,
    }
}

/// For every (n, p): `base` with n members all drifting with probability p, its quorum,
/// network and workload, over seeds `0..seeds`. Rows are in (n, p) order as given.
pub fn sweep(
    base: &Scenario,
    ns: &[u32],
    ps: &[f64],
    seeds: u64,
) -> Result<Vec<SweepRow>, SimError> {
    sweep_with_progress(base, ns, ps, seeds, &mut |_| {})
}

/// The runs [`sweep`] makes: one per (n, p, seed).
pub fn sweep_runs(ns: &[u32], ps: &[f64], seeds: u64) -> u64 {
    let cells = u64::try_from(ns.len().saturating_mul(ps.len())).unwrap_or(u64::MAX);
    cells.saturating_mul(seeds)
}

/// [`sweep`], calling `progress` after every run.
pub fn sweep_with_progress(
    base: &Scenario,
    ns: &[u32],
    ps: &[f64],
    seeds: u64,
    progress: Progress<'_>,
) -> Result<Vec<SweepRow>, SimError> {
    let mut rows = Vec::new();
    for &n in ns {
        for &p in ps {
            let s = with_nodes(base, vec![group(n, Behaviour::Drift { p })]);
            let sum = summarise(&runs(&s, seeds, progress)?);
            rows.push(SweepRow {
                n,
                q: sum.q,
                p,
                seeds,
                block_rate: sum.block_rate,
                false_approval_rate: sum.false_approval_rate,
                mean_latency_ms: sum.mean_latency_ms,
                p50_latency_ms: sum.p50_latency_ms,
                p99_latency_ms: sum.p99_latency_ms,
                violations: sum.violations,
            });
        }
    }
    Ok(rows)
}

/// The sweep as CSV: a header and one row per (n, p).
pub fn sweep_csv(rows: &[SweepRow]) -> String {
    let mut s = String::from(
        "n,q,p,seeds,block_rate,false_approval_rate,mean_latency_ms,p50_latency_ms,\
         p99_latency_ms,violations\n",
    );
    for r in rows {
        let _ = writeln!(
            s,
            "{},{},{},{},{:.6},{:.6},{:.3},{:.3},{:.3},{}",
            r.n,
            r.q,
            r.p,
            r.seeds,
            r.block_rate,
            r.false_approval_rate,
            r.mean_latency_ms,
            r.p50_latency_ms,
            r.p99_latency_ms,
            r.violations
        );
    }
    s
}

/// The sweep as an aligned table.
pub fn sweep_table(rows: &[SweepRow]) -> String {
    let mut s = format!(
        "{:>4} {:>4} {:>6} {:>12} {:>16} {:>10} {:>10} {:>10} {:>10}\n",
        "n", "q", "p", "block rate", "false approvals", "mean ms", "p50 ms", "p99 ms", "violations"
    );
    for r in rows {
        let _ = writeln!(
            s,
            "{:>4} {:>4} {:>6.2} {:>12.4} {:>16.4} {:>10.3} {:>10.3} {:>10.3} {:>10}",
            r.n,
            r.q,
            r.p,
            r.block_rate,
            r.false_approval_rate,
            r.mean_latency_ms,
            r.p50_latency_ms,
            r.p99_latency_ms,
            r.violations
        );
    }
    s
}

/// P(at least `q` of `n` independent voters are wrong), each with probability `p`: the
/// chance an anomaly gets through when wrong votes are independent.
pub fn binomial_tail(n: u32, q: u32, p: f64) -> f64 {
    let mut total = 0.0;
    for k in q..=n {
        let mut c = 1.0;
        for i in 0..k {
            c = c * f64::from(n.saturating_sub(i)) / f64::from(i.saturating_add(1));
        }
        let k_i = i32::try_from(k).unwrap_or(i32::MAX);
        let rest = i32::try_from(n.saturating_sub(k)).unwrap_or(i32::MAX);
        total += c * p.powi(k_i) * (1.0 - p).powi(rest);
    }
    total
}
