//! The seed document's comparison table: its three configurations measured beside its
//! claims, and a fourth of ours that answers its argument that one quorum cannot fit every
//! risk: three agents at 2/3 whose roster tiers deletes up to 3/3, measured per tier.

use std::fmt::Write as _;

use swarmvote_protocol::roster::document::{QuorumValue, RuleDocument};

use super::{Progress, binomial_tail, group, rate, runs, summarise, with_nodes};
use crate::report::{Report, TierCount};
use crate::scenario::{Behaviour, RosterSection, Scenario};
use crate::sim::SimError;

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

/// A rule that tiers a configuration's roster: proposals whose action matches `action`
/// need `quorum` instead of the default.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SeedRule {
    /// The tier's name.
    pub name: &'static str,
    /// The action glob.
    pub action: &'static str,
    /// Its quorum.
    pub quorum: &'static str,
}

/// What the seed document claims about one configuration.
pub struct Claims {
    /// The latency claim, as written.
    pub latency: &'static str,
    /// The same, as a number.
    pub latency_claim: LatencyClaim,
    /// The block-rate claim, as written.
    pub block: &'static str,
    /// The same, as a rate.
    pub block_rate: f64,
    /// Why the block claim fails when it does.
    pub block_why: &'static str,
    /// The compromise-tolerance claim, as written.
    pub tolerance: &'static str,
    /// The same, in keys.
    pub tolerance_keys: u32,
}

/// One configuration of the comparison.
pub struct SeedClaim {
    /// Label.
    pub label: &'static str,
    /// Members.
    pub n: u32,
    /// The default quorum as written in the roster.
    pub quorum: &'static str,
    /// Rules tiering the roster (none in the seed's own configurations).
    pub rules: &'static [SeedRule],
    /// The seed's claims; `None` for a configuration the seed does not measure.
    pub claims: Option<Claims>,
}

/// The three configurations the seed document compares, then three agents with deletes
/// at 3/3.
pub const SEED_CLAIMS: [SeedClaim; 4] = [
    SeedClaim {
        label: "single node",
        n: 1,
        quorum: "1/1",
        rules: &[],
        claims: Some(Claims {
            latency: "<5 ms",
            latency_claim: LatencyClaim::Below(5.0),
            block: "0%",
            block_rate: 0.0,
            block_why: "\"0% block\" only holds for an unchecked executor; a single evaluator \
                        with drift p blocks 1 - p of anomalies",
            tolerance: "0",
            tolerance_keys: 0,
        }),
    },
    SeedClaim {
        label: "2 agents, 51%",
        n: 2,
        quorum: "51%",
        rules: &[],
        claims: Some(Claims {
            latency: "145 ms",
            latency_claim: LatencyClaim::About(145.0),
            block: "88.5%",
            block_rate: 0.885,
            block_why: "q = ceil(0.51 x 2) = 2, i.e. unanimity: both must drift on the same \
                        proposal, so it blocks more than 3 agents at 66%, not less",
            tolerance: "1 (\"risk\")",
            tolerance_keys: 1,
        }),
    },
    SeedClaim {
        label: "3 agents, 66%",
        n: 3,
        quorum: "0.66",
        rules: &[],
        claims: Some(Claims {
            latency: "280 ms",
            latency_claim: LatencyClaim::About(280.0),
            block: "100%",
            block_rate: 1.0,
            block_why: "q = 2, and 2 of 3 can drift on the same proposal (3p^2(1-p) + p^3), \
                        so 100% is not achievable under drift; correlated (colluding) drift \
                        is worse",
            tolerance: "up to 1",
            tolerance_keys: 1,
        }),
    },
    SeedClaim {
        label: "3 agents, deletes 3/3",
        n: 3,
        quorum: "2/3",
        rules: &[SeedRule {
            name: "deletes",
            action: "fs.delete",
            quorum: "1",
        }],
        claims: None,
    },
];

impl SeedClaim {
    /// The roster section its rules make, if it has any.
    fn roster(&self) -> Option<RosterSection> {
        if self.rules.is_empty() {
            return None;
        }
        let rules = self
            .rules
            .iter()
            .map(|r| RuleDocument {
                name: r.name.to_string(),
                action: r.action.to_string(),
                payload: Default::default(),
                quorum: Some(QuorumValue::Text(r.quorum.to_string())),
                four_eyes: None,
                require: Vec::new(),
            })
            .collect();
        Some(RosterSection {
            rules,
            ..RosterSection::default()
        })
    }
}

/// One tier of a tiered configuration, measured.
#[derive(Clone, Debug, PartialEq)]
pub struct TierRow {
    /// The tier's name: a rule's, or `default`.
    pub tier: String,
    /// YES votes it needs.
    pub q: u32,
    /// Its anomalous proposals not approved, over all drift runs (1 when it had none).
    pub block_rate: f64,
    /// 1 - P(Binomial(n, drift) >= q).
    pub expected_block_rate: f64,
    /// Its benign proposals rejected, over all drift runs (0 when it had none).
    pub false_rejection_rate: f64,
    /// P(Binomial(n, drift) > n - q): more wrong NO votes than the tier can spare.
    pub expected_false_rejection_rate: f64,
    /// Largest k < n such that k compromised keys got none of its anomalous proposals
    /// approved in any seed (nor with fewer keys).
    pub tolerance: u32,
}

/// Our measurement of one configuration.
#[derive(Clone, Debug, PartialEq)]
pub struct SeedRow {
    /// Members.
    pub n: u32,
    /// YES votes needed under the default tier.
    pub q: u32,
    /// Mean decision latency at the proposer, ms (mean over seeds).
    pub latency_ms: f64,
    /// Measured block rate of anomalous proposals under drift.
    pub block_rate: f64,
    /// The block rate independent drift allows: 1 - P(Binomial(n, drift) >= q), or for a
    /// tiered roster each tier's, weighted by its share of the anomalous proposals.
    pub expected_block_rate: f64,
    /// Largest k < n such that k compromised keys (the rest honest, never wrong) got no
    /// anomalous proposal approved in any seed.
    pub tolerance: u32,
    /// Per tier, rules first: only for a tiered configuration.
    pub tiers: Vec<TierRow>,
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
    /// Checks `claims` against this measurement.
    pub fn verdicts(&self, claims: &Claims) -> Verdicts {
        Verdicts {
            latency: claims.latency_claim.holds(self.latency_ms),
            block: block_claim_holds(claims.block_rate, self.block_rate),
            tolerance: claims.tolerance_keys == self.tolerance,
        }
    }

    /// The q column: the default tier's, then each rule's.
    fn q_text(&self) -> String {
        let mut q: Vec<String> = self.tiers.iter().map(|t| t.q.to_string()).collect();
        // The default is last among the tiers; it comes first here.
        q.pop();
        q.insert(0, self.q.to_string());
        q.join(",")
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
/// and one per compromised-key count `1..n` (it stops once no count can tell more).
pub fn seed_table_runs(seeds: u64) -> u64 {
    SEED_CLAIMS
        .iter()
        .map(|c| u64::from(c.n).saturating_mul(seeds))
        .fold(0, u64::saturating_add)
}

/// Measures the configurations of [`SEED_CLAIMS`] with every member drifting with
/// probability `drift`, over seeds `0..seeds`.
pub fn seed_table(base: &Scenario, drift: f64, seeds: u64) -> Result<Vec<SeedRow>, SimError> {
    seed_table_with_progress(base, drift, seeds, &mut |_| {})
}

/// Sums one tier's counts over runs.
fn pooled(reports: &[Report], tier: usize) -> TierCount {
    let mut sum = TierCount::default();
    for t in reports.iter().filter_map(|r| r.tiers.get(tier)) {
        sum.tier.clone_from(&t.tier);
        sum.q = t.q;
        sum.proposals = sum.proposals.saturating_add(t.proposals);
        sum.anomalous = sum.anomalous.saturating_add(t.anomalous);
        sum.false_approvals = sum.false_approvals.saturating_add(t.false_approvals);
        sum.false_rejections = sum.false_rejections.saturating_add(t.false_rejections);
    }
    sum
}

/// Whether no run approved an anomalous proposal of tier `tier`.
fn tier_clean(reports: &[Report], tier: usize) -> bool {
    reports
        .iter()
        .all(|r| r.tiers.get(tier).is_some_and(|t| t.false_approvals == 0))
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
        s.roster = c.roster();
        let drifting = runs(&s, seeds, progress)?;
        let sum = summarise(&drifting);
        let tier_count = drifting.first().map_or(0, |r| r.tiers.len());
        let mut tiers: Vec<TierRow> = (0..tier_count)
            .map(|j| {
                let t = pooled(&drifting, j);
                let benign = t.proposals.saturating_sub(t.anomalous);
                TierRow {
                    block_rate: if t.anomalous == 0 {
                        1.0
                    } else {
                        1.0 - rate(t.false_approvals, t.anomalous)
                    },
                    expected_block_rate: 1.0 - binomial_tail(c.n, t.q, drift),
                    false_rejection_rate: rate(t.false_rejections, benign),
                    expected_false_rejection_rate: binomial_tail(
                        c.n,
                        c.n.saturating_sub(t.q).saturating_add(1),
                        drift,
                    ),
                    tolerance: 0,
                    q: t.q,
                    tier: t.tier,
                }
            })
            .collect();
        // Each tier's expected block rate, weighted by its share of the anomalies.
        let anomalous: Vec<u64> = (0..tier_count)
            .map(|j| pooled(&drifting, j).anomalous)
            .collect();
        let total: u64 = anomalous.iter().sum();
        let expected_block_rate = if total == 0 {
            1.0 - binomial_tail(c.n, sum.q, drift)
        } else {
            tiers
                .iter()
                .zip(&anomalous)
                .map(|(t, &a)| rate(a, total) * t.expected_block_rate)
                .sum()
        };
        // Compromised keys, one more at a time, while the whole swarm or some tier has
        // kept every anomaly out. All n compromised cannot be run (nobody honest
        // proposes) and trivially fails.
        let mut tolerance = 0;
        let mut open = true;
        let mut tier_open = vec![true; tier_count];
        for k in 1..c.n {
            let mut t = with_nodes(
                &s,
                vec![
                    group(c.n.saturating_sub(k), Behaviour::honest(0.0)),
                    group(k, Behaviour::Compromised),
                ],
            );
            t.quorum = c.quorum.to_string();
            let reports = runs(&t, seeds, progress)?;
            open = open && reports.iter().all(|r| r.security.false_approvals == 0);
            if open {
                tolerance = k;
            }
            for (j, (row, still)) in tiers.iter_mut().zip(tier_open.iter_mut()).enumerate() {
                *still = *still && tier_clean(&reports, j);
                if *still {
                    row.tolerance = k;
                }
            }
            if !open && !tier_open.contains(&true) {
                let skipped = u64::from(c.n.saturating_sub(k).saturating_sub(1));
                progress(skipped.saturating_mul(seeds));
                break;
            }
        }
        rows.push(SeedRow {
            n: c.n,
            q: sum.q,
            latency_ms: sum.mean_latency_ms,
            block_rate: sum.block_rate,
            expected_block_rate,
            tolerance,
            tiers,
        });
    }
    Ok(rows)
}

fn mark(holds: bool) -> &'static str {
    if holds { "ok" } else { "FAILS" }
}

/// The comparison as text: our figures next to the seed's, whether each claim holds, the
/// assumptions, for every claim that fails the figures and the reason, and each tiered
/// configuration tier by tier.
pub fn seed_table_text(rows: &[SeedRow], drift: f64, seeds: u64, proposals: u32) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "{:<21} {:>3} {:>3} | {:>12} {:>10} {:>5} | {:>9} {:>9} {:>9} {:>5} | {:>9} {:>10} {:>5}",
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
    let mut tiered = String::new();
    for (r, c) in rows.iter().zip(SEED_CLAIMS.iter()) {
        let v = c.claims.as_ref().map(|claims| r.verdicts(claims));
        let claim = |f: fn(&Claims) -> &'static str| c.claims.as_ref().map_or("-", f);
        let verdict = |f: fn(&Verdicts) -> bool| v.as_ref().map_or("", |v| mark(f(v)));
        let _ = writeln!(
            s,
            "{:<21} {:>3} {:>3} | {:>9.3} ms {:>10} {:>5} | {:>8.2}% {:>8.2}% {:>9} {:>5} | {:>9} {:>10} {:>5}",
            c.label,
            r.n,
            r.q_text(),
            r.latency_ms,
            claim(|x| x.latency),
            verdict(|v| v.latency),
            r.block_rate * 100.0,
            r.expected_block_rate * 100.0,
            claim(|x| x.block),
            verdict(|v| v.block),
            r.tolerance,
            claim(|x| x.tolerance),
            verdict(|v| v.tolerance)
        );
        if let (Some(v), Some(claims)) = (v, &c.claims) {
            failures.extend(failed_claims(c.label, claims, r, v));
        }
        if !r.tiers.is_empty() {
            write_tiers(&mut tiered, c.label, &r.tiers);
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
    s.push_str(&tiered);
    s
}

/// The sentences for each of a configuration's claims that the measurement refutes.
fn failed_claims(label: &str, c: &Claims, r: &SeedRow, v: Verdicts) -> Vec<String> {
    let mut failures = Vec::new();
    if !v.latency {
        failures.push(format!(
            "- {label}: latency: the seed says {}, measured {:.3} ms. A decision is one gossip \
             hop out, one evaluation and one hop back (one WAN round trip plus evaluation \
             time in general); a larger figure is the evaluator's time, not the vote's.",
            c.latency, r.latency_ms
        ));
    }
    if !v.block {
        failures.push(format!(
            "- {label}: block rate: the seed says {}, measured {:.2}% (independent drift \
             allows {:.2}%): {}.",
            c.block,
            r.block_rate * 100.0,
            r.expected_block_rate * 100.0,
            c.block_why
        ));
    }
    if !v.tolerance {
        failures.push(format!(
            "- {label}: tolerance: the seed says {}, measured {} stolen key(s) with no false \
             approval.",
            c.tolerance, r.tolerance
        ));
    }
    failures
}

/// A tiered configuration, tier by tier: what each threshold buys and costs.
fn write_tiers(s: &mut String, label: &str, tiers: &[TierRow]) {
    let _ = writeln!(s);
    let _ = writeln!(
        s,
        "{label}, by tier (the seed has no claim on it; its q lists the default tier's, then \
         each rule's; its expected block rate weights each tier's by its share of the \
         anomalies):"
    );
    let _ = writeln!(
        s,
        "{:<15} {:>3} | {:>9} {:>9} | {:>11} {:>9} | {:>9}",
        "tier", "q", "block", "expected", "false rej.", "expected", "tolerance"
    );
    for t in tiers {
        let _ = writeln!(
            s,
            "{:<15} {:>3} | {:>8.2}% {:>8.2}% | {:>10.2}% {:>8.2}% | {:>9}",
            t.tier,
            t.q,
            t.block_rate * 100.0,
            t.expected_block_rate * 100.0,
            t.false_rejection_rate * 100.0,
            t.expected_false_rejection_rate * 100.0,
            t.tolerance
        );
    }
    let _ = writeln!(
        s,
        "A tier's false rejections are its benign proposals rejected; expected is \
         P(Binomial(n, p) > n - q), more wrong NO votes than the tier can spare. Its \
         tolerance counts only its own anomalous proposals."
    );
}
