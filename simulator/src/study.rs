//! Studies built from many runs: the drift sweep and the seed document's comparison table.
//!
//! Both are plain loops over [`crate::run`] with fixed seeds `0..seeds`, so their output
//! is as deterministic as a single run.

use std::fmt::Write as _;

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

/// A latency claim: an upper bound or a figure.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum LatencyClaim {
    /// "< x ms": holds when the measurement is below `x`.
    Below(f64),
    /// "x ms": holds when the measurement is within a factor of 2 of `x`.
    About(f64),
}

impl LatencyClaim {
    /// Whether `measured_ms` bears the claim out.
    pub fn holds(self, measured_ms: f64) -> bool {
        match self {
            LatencyClaim::Below(x) => measured_ms < x,
            LatencyClaim::About(x) => measured_ms >= x / 2.0 && measured_ms <= x * 2.0,
        }
    }
}

/// A block-rate claim holds within this much (absolute), unless it is 0% or 100%: an
/// absolute claim fails on a single counterexample.
pub const BLOCK_TOLERANCE: f64 = 0.01;

/// Whether a measured block rate bears out a claimed one.
pub fn block_claim_holds(claimed: f64, measured: f64) -> bool {
    if claimed <= 0.0 || claimed >= 1.0 {
        (measured - claimed).abs() < f64::EPSILON
    } else {
        (measured - claimed).abs() <= BLOCK_TOLERANCE
    }
}

/// One configuration of the seed document's comparison, with the seed's claims.
pub struct SeedClaim {
    /// Label.
    pub label: &'static str,
    /// Members.
    pub n: u32,
    /// Quorum as written in the roster.
    pub quorum: &'static str,
    /// The seed's latency claim, as written.
    pub latency: &'static str,
    /// The same, as a number.
    pub latency_claim: LatencyClaim,
    /// The seed's block-rate claim, as written.
    pub block: &'static str,
    /// The same, as a rate.
    pub block_rate: f64,
    /// Why the block claim fails when it does.
    pub block_why: &'static str,
    /// The seed's compromise-tolerance claim, as written.
    pub tolerance: &'static str,
    /// The same, in keys.
    pub tolerance_keys: u32,
}

/// The three configurations the seed document compares.
pub const SEED_CLAIMS: [SeedClaim; 3] = [
    SeedClaim {
        label: "single node",
        n: 1,
        quorum: "1/1",
        latency: "<5 ms",
        latency_claim: LatencyClaim::Below(5.0),
        block: "0%",
        block_rate: 0.0,
        block_why: "\"0% block\" only holds for an unchecked executor; a single evaluator \
                    with drift p blocks 1 - p of anomalies",
        tolerance: "0",
        tolerance_keys: 0,
    },
    SeedClaim {
        label: "2 agents, 51%",
        n: 2,
        quorum: "51%",
        latency: "145 ms",
        latency_claim: LatencyClaim::About(145.0),
        block: "88.5%",
        block_rate: 0.885,
        block_why: "q = ceil(0.51 x 2) = 2, i.e. unanimity: both must drift on the same \
                    proposal, so it blocks more than 3 agents at 66%, not less",
        tolerance: "1 (\"risk\")",
        tolerance_keys: 1,
    },
    SeedClaim {
        label: "3 agents, 66%",
        n: 3,
        quorum: "0.66",
        latency: "280 ms",
        latency_claim: LatencyClaim::About(280.0),
        block: "100%",
        block_rate: 1.0,
        block_why: "q = 2, and 2 of 3 can drift on the same proposal (3p^2(1-p) + p^3), \
                    so 100% is not achievable under drift; correlated (colluding) drift \
                    is worse",
        tolerance: "up to 1",
        tolerance_keys: 1,
    },
];

/// Our measurement of one configuration.
#[derive(Clone, Debug, PartialEq)]
pub struct SeedRow {
    /// Members.
    pub n: u32,
    /// YES votes needed.
    pub q: u32,
    /// Mean decision latency at the proposer, ms (mean over seeds).
    pub latency_ms: f64,
    /// Measured block rate of anomalous proposals under drift.
    pub block_rate: f64,
    /// 1 - P(Binomial(n, drift) >= q): the block rate independent drift allows.
    pub expected_block_rate: f64,
    /// Largest k < n such that k compromised keys (the rest honest, never wrong) got no
    /// anomalous proposal approved in any seed.
    pub tolerance: u32,
}

/// Which of a configuration's three claims our measurement bears out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Verdicts {
    /// The latency claim.
    pub latency: bool,
    /// The block-rate claim.
    pub block: bool,
    /// The compromise-tolerance claim.
    pub tolerance: bool,
}

impl SeedRow {
    /// Checks `claim` against this measurement.
    pub fn verdicts(&self, claim: &SeedClaim) -> Verdicts {
        Verdicts {
            latency: claim.latency_claim.holds(self.latency_ms),
            block: block_claim_holds(claim.block_rate, self.block_rate),
            tolerance: claim.tolerance_keys == self.tolerance,
        }
    }
}

/// The latency model and workload of the seed table: log-normal links with median
/// 0.2 ms (sigma 0.5) per hop, 1 ms evaluation, no loss.
pub fn seed_base(proposals: u32) -> Result<Scenario, crate::ScenarioError> {
    let text = format!(
        "name = \"seed-table\"\nquorum = \"1/1\"\nquiet_ms = 3000\n\
         [[nodes]]\nbehaviour = {{ kind = \"honest\" }}\n\
         [network.default]\nlatency = {{ kind = \"lognormal\", median_ms = 0.2, sigma = 0.5 }}\n\
         [workload]\nproposals = {proposals}\nrate_per_sec = 20.0\nanomalous_fraction = 0.5\n\
         ttl_ms = 5000\neval_delay_ms = 1\n"
    );
    Scenario::parse("seed-table", &text)
}

/// The runs [`seed_table`] makes at most: per configuration one set of seeds under drift
/// and one per compromised-key count `1..n` (it stops at the first count that fails).
pub fn seed_table_runs(seeds: u64) -> u64 {
    SEED_CLAIMS
        .iter()
        .map(|c| u64::from(c.n).saturating_mul(seeds))
        .fold(0, u64::saturating_add)
}

/// Measures the three configurations of [`SEED_CLAIMS`] with every member drifting with
/// probability `drift`, over seeds `0..seeds`.
pub fn seed_table(base: &Scenario, drift: f64, seeds: u64) -> Result<Vec<SeedRow>, SimError> {
    seed_table_with_progress(base, drift, seeds, &mut |_| {})
}

/// [`seed_table`], calling `progress` after every run (and once with the runs it skips).
pub fn seed_table_with_progress(
    base: &Scenario,
    drift: f64,
    seeds: u64,
    progress: Progress<'_>,
) -> Result<Vec<SeedRow>, SimError> {
    let mut rows = Vec::new();
    for c in &SEED_CLAIMS {
        let mut s = with_nodes(base, vec![group(c.n, Behaviour::Drift { p: drift })]);
        s.quorum = c.quorum.to_string();
        let sum = summarise(&runs(&s, seeds, progress)?);
        let mut tolerance = 0;
        // All n compromised cannot be run (nobody honest proposes) and trivially fails.
        for k in 1..c.n {
            let mut t = with_nodes(
                &s,
                vec![
                    group(c.n.saturating_sub(k), Behaviour::honest(0.0)),
                    group(k, Behaviour::Compromised),
                ],
            );
            t.quorum = c.quorum.to_string();
            let clean = runs(&t, seeds, progress)?
                .iter()
                .all(|r| r.security.false_approvals == 0);
            if !clean {
                let skipped = u64::from(c.n.saturating_sub(k).saturating_sub(1));
                progress(skipped.saturating_mul(seeds));
                break;
            }
            tolerance = k;
        }
        rows.push(SeedRow {
            n: c.n,
            q: sum.q,
            latency_ms: sum.mean_latency_ms,
            block_rate: sum.block_rate,
            expected_block_rate: 1.0 - binomial_tail(c.n, sum.q, drift),
            tolerance,
        });
    }
    Ok(rows)
}

fn mark(holds: bool) -> &'static str {
    if holds { "ok" } else { "FAILS" }
}

/// The comparison as text: our figures next to the seed's, whether each claim holds, the
/// assumptions, and, for every claim that fails, the figures and the reason.
pub fn seed_table_text(rows: &[SeedRow], drift: f64, seeds: u64, proposals: u32) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "{:<15} {:>3} {:>3} | {:>12} {:>10} {:>5} | {:>9} {:>9} {:>9} {:>5} | {:>9} {:>10} {:>5}",
        "configuration",
        "n",
        "q",
        "latency",
        "seed",
        "",
        "block",
        "expected",
        "seed",
        "",
        "tolerance",
        "seed",
        ""
    );
    let mut failures = Vec::new();
    for (r, c) in rows.iter().zip(SEED_CLAIMS.iter()) {
        let v = r.verdicts(c);
        let _ = writeln!(
            s,
            "{:<15} {:>3} {:>3} | {:>9.3} ms {:>10} {:>5} | {:>8.2}% {:>8.2}% {:>9} {:>5} | {:>9} {:>10} {:>5}",
            c.label,
            r.n,
            r.q,
            r.latency_ms,
            c.latency,
            mark(v.latency),
            r.block_rate * 100.0,
            r.expected_block_rate * 100.0,
            c.block,
            mark(v.block),
            r.tolerance,
            c.tolerance,
            mark(v.tolerance)
        );
        if !v.latency {
            failures.push(format!(
                "- {}: latency: the seed says {}, measured {:.3} ms. A decision is one gossip \
                 hop out, one evaluation and one hop back (one WAN round trip plus evaluation \
                 time in general); a larger figure is the evaluator's time, not the vote's.",
                c.label, c.latency, r.latency_ms
            ));
        }
        if !v.block {
            failures.push(format!(
                "- {}: block rate: the seed says {}, measured {:.2}% (independent drift \
                 allows {:.2}%): {}.",
                c.label,
                c.block,
                r.block_rate * 100.0,
                r.expected_block_rate * 100.0,
                c.block_why
            ));
        }
        if !v.tolerance {
            failures.push(format!(
                "- {}: tolerance: the seed says {}, measured {} stolen key(s) with no false \
                 approval.",
                c.label, c.tolerance, r.tolerance
            ));
        }
    }
    let _ = writeln!(s);
    let _ = writeln!(
        s,
        "Assumptions: every member drifts independently (wrong vote with p = {drift}); \
         {proposals} proposals, half anomalous, seeds 0..{seeds}; links log-normal, median \
         0.2 ms, sigma 0.5, per hop; 1 ms evaluation; no loss. Latency is the mean, at the \
         proposer, from submission to verdict (virtual time). Expected block rate is \
         1 - P(Binomial(n, p) >= q). Tolerance is measured: the most keys handed to a \
         thief (YES on every anomaly, rest honest and never wrong) with no false approval. \
         A latency figure holds within a factor of 2, a bound when below it; a block rate \
         within {:.0} percentage point, except 0% and 100%, which one counterexample \
         refutes.",
        BLOCK_TOLERANCE * 100.0
    );
    let _ = writeln!(s);
    if failures.is_empty() {
        let _ = writeln!(s, "Every claim of the seed holds in this measurement.");
    } else {
        let _ = writeln!(s, "Where the seed's claims do not hold:");
        for f in &failures {
            let _ = writeln!(s, "{f}");
        }
    }
    let _ = writeln!(
        s,
        "Note: with 2 agents at 51%, one stolen key cannot approve anything alone (it is \
         tolerated, not a \"risk\"), but one offline or drifting member stalls every benign \
         proposal."
    );
    s
}
