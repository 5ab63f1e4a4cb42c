//! The run report: its figures, invariant verdicts and trace hash, as JSON or a table,
//! and the rows and violation lines the model's and live mode's tables share.

use std::fmt::Write as _;

use serde::Serialize;
use swarmvote_protocol::Vote;
use swarmvote_protocol::tally::Verdict;

mod epochs;
pub use epochs::{EpochCount, EpochStep, Epochs};

/// Everything a run measured and checked.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Report {
    /// Scenario name.
    pub scenario: String,
    /// The seed that reproduces this run.
    pub seed: u64,
    /// Members, by behaviour.
    pub nodes: Vec<(String, u32)>,
    /// Members in the roster.
    pub n: u32,
    /// YES votes needed.
    pub q: u32,
    /// Virtual time simulated, in ms.
    pub duration_ms: u64,
    /// What happened to the proposals.
    pub proposals: Proposals,
    /// Decision latency.
    pub latency: Latency,
    /// Blocking and safety.
    pub security: Security,
    /// Proposals and outcomes per tier, rules in the roster's order then the default:
    /// only in runs whose roster has rules (absent otherwise, so earlier reports are
    /// unchanged).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tiers: Vec<TierCount>,
    /// Cloned keys and the doppelganger alarms they raised: only in runs with a
    /// `cloned` node (absent otherwise, so earlier reports are unchanged).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cloned_keys: Option<ClonedKeys>,
    /// Roster epochs: only in runs whose scenario changes the roster (absent otherwise,
    /// so earlier reports are unchanged).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub epochs: Option<Epochs>,
    /// Traffic.
    pub traffic: Traffic,
    /// Crashes and storage.
    pub storage: Storage,
    /// The invariants.
    pub invariants: Invariants,
    /// The event trace.
    pub trace: Trace,
}

/// Proposal outcomes, as held by the first honest node up at the end.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Proposals {
    /// Submitted.
    pub created: u64,
    /// Arrivals with no honest node up to submit them.
    pub skipped: u64,
    /// Approved.
    pub approved: u64,
    /// Rejected.
    pub rejected: u64,
    /// Pending past expiry.
    pub expired: u64,
    /// Pending, not yet expired.
    pub pending: u64,
    /// Not held by the reference node at all.
    pub missing: u64,
    /// Own votes cast.
    pub votes_cast: u64,
    /// Votes the engine's guard refused (already voted, decided, expired).
    pub votes_refused: u64,
}

/// One tier's proposals and their outcomes, as the reference node holds them.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct TierCount {
    /// The tier's name: a rule's, or `default`.
    pub tier: String,
    /// YES votes it needs.
    pub q: u32,
    /// Whether the proposer's own YES is left out.
    pub four_eyes: bool,
    /// Its group requirements, as `k from group`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub requires: Vec<String>,
    /// Proposals the roster puts in it.
    pub proposals: u64,
    /// Of those, approved.
    pub approved: u64,
    /// Rejected.
    pub rejected: u64,
    /// Anomalous.
    pub anomalous: u64,
    /// Anomalous and approved.
    pub false_approvals: u64,
    /// Benign and rejected.
    pub false_rejections: u64,
}

impl TierCount {
    /// Counts one proposal of this tier with its ground truth and verdict (`None`: the
    /// reference node does not hold it).
    pub fn count(&mut self, anomalous: bool, verdict: Option<Verdict>) {
        let add = |x: &mut u64| *x = x.saturating_add(1);
        add(&mut self.proposals);
        match verdict {
            Some(Verdict::Approved) => add(&mut self.approved),
            Some(Verdict::Rejected) => add(&mut self.rejected),
            _ => {}
        }
        if anomalous {
            add(&mut self.anomalous);
            if verdict == Some(Verdict::Approved) {
                add(&mut self.false_approvals);
            }
        } else if verdict == Some(Verdict::Rejected) {
            add(&mut self.false_rejections);
        }
    }

    /// The report table's line for this tier.
    pub fn describe(&self) -> String {
        let mut rule = format!("{} (q = {}", self.tier, self.q);
        if self.four_eyes {
            rule.push_str(", four-eyes");
        }
        for r in &self.requires {
            let _ = write!(rule, ", {r}");
        }
        format!(
            "{rule}): {} proposals, {} approved, {} rejected; {} anomalous, {} false approvals, {} false rejections",
            self.proposals,
            self.approved,
            self.rejected,
            self.anomalous,
            self.false_approvals,
            self.false_rejections
        )
    }
}

/// The report table's rows for the tiers: one per tier.
pub(crate) fn tier_rows(tiers: &[TierCount]) -> Vec<(&'static str, String)> {
    tiers.iter().map(|t| ("tier", t.describe())).collect()
}

/// Second instances of members' keys, and what the honest nodes made of them.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct ClonedKeys {
    /// Each clone, in node order.
    pub clones: Vec<ClonedNode>,
    /// Each honest node that raised the doppelganger alarm, at its first alarm, in node
    /// order.
    pub detections: Vec<Detection>,
    /// Alarms raised by honest nodes in all: a node's engine raises one for every ballot
    /// in its name that it did not sign.
    pub alarms: u64,
    /// Votes honest nodes' evaluators reached after their node stopped signing, not cast.
    pub votes_withheld: u64,
}

/// One clone.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct ClonedNode {
    /// Its node index.
    pub node: usize,
    /// The node index of the member whose key it runs.
    pub of: usize,
    /// Ballots it signed.
    pub ballots_signed: u64,
    /// Whether one of them reached an honest node (by gossip or catch-up).
    pub reached_honest: bool,
}

/// An honest node's first doppelganger alarm: from then on it signs nothing.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Detection {
    /// The node.
    pub node: usize,
    /// When, in virtual ms from the start.
    pub at_ms: f64,
    /// The proposal the foreign ballot was on.
    pub proposal: String,
    /// The foreign ballot's vote.
    pub vote: Vote,
}

/// Percentiles of one latency, in virtual ms.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Percentiles {
    /// Samples.
    pub count: u64,
    /// Mean.
    pub mean_ms: f64,
    /// Median.
    pub p50_ms: f64,
    /// 95th percentile.
    pub p95_ms: f64,
    /// 99th percentile.
    pub p99_ms: f64,
}

impl Percentiles {
    /// Nearest-rank percentiles of samples in microseconds.
    pub fn of(mut samples_us: Vec<u64>) -> Self {
        samples_us.sort_unstable();
        let at = |p: usize| -> f64 {
            if samples_us.is_empty() {
                return 0.0;
            }
            // Nearest rank: ceil(p/100 * len), 1-based.
            let rank = p
                .saturating_mul(samples_us.len())
                .div_ceil(100)
                .clamp(1, samples_us.len());
            let v = samples_us.get(rank.saturating_sub(1)).copied().unwrap_or(0);
            ms(v)
        };
        let total: u64 = samples_us.iter().fold(0u64, |a, &x| a.saturating_add(x));
        let count = u64::try_from(samples_us.len()).unwrap_or(u64::MAX);
        Self {
            count,
            mean_ms: if count == 0 {
                0.0
            } else {
                ms(total) / ms(count.saturating_mul(1000))
            },
            p50_ms: at(50),
            p95_ms: at(95),
            p99_ms: at(99),
        }
    }
}

/// Microseconds as fractional milliseconds.
pub fn ms(us: u64) -> f64 {
    // Exact for any realistic duration (< 2^53 us).
    #[allow(clippy::cast_precision_loss)]
    let v = us as f64 / 1000.0;
    v
}

/// Decision latencies from creation.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Latency {
    /// To the decision at the proposer.
    pub proposer: Percentiles,
    /// To the decision at the last honest node up at the end.
    pub last_honest: Percentiles,
}

/// Blocking and attacks.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Security {
    /// Anomalous proposals.
    pub anomalous: u64,
    /// Anomalous proposals not approved.
    pub blocked: u64,
    /// blocked / anomalous (1 when there were none).
    pub block_rate: f64,
    /// Anomalous proposals approved.
    pub false_approvals: u64,
    /// Benign proposals rejected.
    pub false_rejections: u64,
    /// Distinct (member, proposal) equivocations detected by honest nodes.
    pub equivocations_detected: u64,
    /// Of those, by honest members (each one is a violation).
    pub equivocations_by_honest: u64,
    /// Invalid messages honest nodes rejected.
    pub invalid_rejected: u64,
    /// Forged ballots sent by forgers.
    pub forged_sent: u64,
    /// Messages honest nodes ignored (other swarm, expired, ...; duplicates not counted).
    pub ignored: u64,
    /// Replayed ballots sent by replayers (retargeted or re-addressed).
    pub replayed_sent: u64,
    /// Garbage messages sent by flooders.
    pub garbage_sent: u64,
}

impl Security {
    /// Counts one proposal's outcome against its ground truth: an anomalous one is blocked
    /// unless approved (expired and pending block too); a benign one rejected is a false
    /// rejection.
    pub fn count_outcome(&mut self, anomalous: bool, verdict: Option<Verdict>) {
        if anomalous {
            self.anomalous = self.anomalous.saturating_add(1);
            if verdict == Some(Verdict::Approved) {
                self.false_approvals = self.false_approvals.saturating_add(1);
            } else {
                self.blocked = self.blocked.saturating_add(1);
            }
        } else if verdict == Some(Verdict::Rejected) {
            self.false_rejections = self.false_rejections.saturating_add(1);
        }
    }

    /// Sets `block_rate` from the counts (1 when nothing was anomalous).
    pub fn finish_block_rate(&mut self) {
        self.block_rate = if self.anomalous == 0 {
            1.0
        } else {
            ratio(self.blocked, self.anomalous)
        };
    }
}

/// `a / b` for reporting; counts stay far below 2^53, so the cast loses nothing.
#[allow(clippy::cast_precision_loss)]
pub fn ratio(a: u64, b: u64) -> f64 {
    a as f64 / b as f64
}

/// `count` per decided proposal: 0 when nothing was decided.
pub fn per_decision(count: u64, decisions: u64) -> f64 {
    if decisions == 0 {
        0.0
    } else {
        ratio(count, decisions)
    }
}

/// Traffic.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Traffic {
    /// Gossip transmissions (one per link use).
    pub gossip_messages: u64,
    /// Their bytes.
    pub gossip_bytes: u64,
    /// Transmissions lost on the link.
    pub lost: u64,
    /// Extra copies made by link duplication.
    pub duplicated: u64,
    /// Deliveries dropped by the duplicate cache.
    pub duplicates_suppressed: u64,
    /// Sends not made because the link was cut.
    pub cut: u64,
    /// Catch-up requests and responses.
    pub sync_messages: u64,
    /// Their bytes.
    pub sync_bytes: u64,
    /// All messages per decided proposal.
    pub messages_per_decision: f64,
    /// All bytes per decided proposal.
    pub bytes_per_decision: f64,
    /// Virtual ms from the last partition heal until every honest node up held the same
    /// tallies (100 ms resolution); absent without partitions or if never reached.
    pub converge_after_heal_ms: Option<f64>,
}

/// Crashes and storage.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Storage {
    /// Crashes.
    pub crashes: u64,
    /// Restarts.
    pub restarts: u64,
    /// Records lost in crashes (written but not yet flushed).
    pub records_lost: u64,
}

/// Which invariant a violation breaks. Serialized and displayed as its snake_case name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ViolationKind {
    /// Two honest nodes hold different tallies.
    Agreement,
    /// An approval without a valid certificate.
    Validity,
    /// An honest member signed both YES and NO.
    HonestEquivocation,
    /// A node no longer holds its own ballot, or holds another, after it reported one
    /// (checked by the multi-host test bed, whose nodes restart on their data dirs).
    LostBallot,
    /// A cloned key's ballots reached honest nodes and no honest node raised the
    /// doppelganger alarm.
    ClonedKeyUncaught,
    /// A proposal decided under a tier (or `q`) other than the one the roster gives it,
    /// or approved with too few YES votes that count under its tier (four-eyes, groups).
    WrongTier,
    /// Honest nodes ended on different roster heads, or a node's head or steps are not
    /// what its step certificates prove.
    Epoch,
}

impl std::fmt::Display for ViolationKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Agreement => "agreement",
            Self::Validity => "validity",
            Self::HonestEquivocation => "honest_equivocation",
            Self::LostBallot => "lost_ballot",
            Self::ClonedKeyUncaught => "cloned_key_uncaught",
            Self::WrongTier => "wrong_tier",
            Self::Epoch => "epoch",
        })
    }
}

/// One invariant violation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Violation {
    /// `agreement`, `validity`, `honest_equivocation`, `lost_ballot`,
    /// `cloned_key_uncaught`, `wrong_tier` or `epoch`.
    pub kind: ViolationKind,
    /// The seed that reproduces it.
    pub seed: u64,
    /// The proposal, if one is at fault.
    pub proposal: Option<String>,
    /// What was found.
    pub detail: String,
}

/// The end-of-run checks.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Invariants {
    /// Honest nodes up at the end, whose state was checked.
    pub honest_checked: u32,
    /// Every honest node up holds the same tally for every proposal.
    pub agreement: bool,
    /// Every approval held by an honest node has a valid certificate.
    pub validity: bool,
    /// No honest member equivocated.
    pub no_honest_equivocation: bool,
    /// Every cloned key whose ballots reached an honest node was caught by at least one
    /// honest node: only in runs with a `cloned` node (absent otherwise).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cloned_key_caught: Option<bool>,
    /// No proposal was decided under a tier other than the roster's, nor approved
    /// short of its tier's `q` or group requirements: only in runs whose scenario has a
    /// `[roster]` section, or that found such a violation (absent otherwise).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub no_wrong_tier: Option<bool>,
    /// Every honest node up ended on the same roster head, and every node's head and
    /// steps are what its step certificates prove: only in runs whose scenario changes
    /// the roster, or that found such a violation (absent otherwise).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub same_epoch: Option<bool>,
    /// Every violation found.
    pub violations: Vec<Violation>,
}

impl Invariants {
    /// The checks' verdicts from the violations they found among `honest_checked` nodes.
    pub fn from_violations(honest_checked: u32, violations: Vec<Violation>) -> Self {
        let none = |kind: ViolationKind| violations.iter().all(|v| v.kind != kind);
        let no_wrong_tier = none(ViolationKind::WrongTier);
        let same_epoch = none(ViolationKind::Epoch);
        Self {
            honest_checked,
            agreement: none(ViolationKind::Agreement),
            validity: none(ViolationKind::Validity),
            no_honest_equivocation: none(ViolationKind::HonestEquivocation),
            cloned_key_caught: None,
            // Shown whenever it fails, whatever the scenario.
            no_wrong_tier: (!no_wrong_tier).then_some(false),
            same_epoch: (!same_epoch).then_some(false),
            violations,
        }
    }

    /// Shows the wrong-tier verdict, for a run whose scenario tiers its roster.
    #[must_use]
    pub fn with_tier_check(self) -> Self {
        let held = self
            .violations
            .iter()
            .all(|v| v.kind != ViolationKind::WrongTier);
        Self {
            no_wrong_tier: Some(held),
            ..self
        }
    }

    /// Shows the epoch verdict, for a run whose scenario changes the roster.
    #[must_use]
    pub fn with_epoch_check(self) -> Self {
        let held = self
            .violations
            .iter()
            .all(|v| v.kind != ViolationKind::Epoch);
        Self {
            same_epoch: Some(held),
            ..self
        }
    }

    /// Sets the cloned-key verdict from the violations, for a run with clones.
    #[must_use]
    pub fn with_cloned_key_check(self) -> Self {
        let caught = self
            .violations
            .iter()
            .all(|v| v.kind != ViolationKind::ClonedKeyUncaught);
        Self {
            cloned_key_caught: Some(caught),
            ..self
        }
    }

    /// Whether every invariant held.
    pub fn hold(&self) -> bool {
        self.violations.is_empty()
    }
}

/// The canonical event log's digest.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Trace {
    /// Events delivered to nodes.
    pub events: u64,
    /// SHA-256 over the canonical log, hex.
    pub hash: String,
}

impl Report {
    /// Pretty JSON (serde_json's output is deterministic for this fixed structure).
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
    }

    /// A readable table.
    pub fn to_table(&self) -> String {
        let nodes: Vec<String> = self.nodes.iter().map(|(b, c)| format!("{c} {b}")).collect();
        let p = &self.proposals;
        let l = &self.latency;
        let x = &self.security;
        let t = &self.traffic;
        let i = &self.invariants;
        let mut rows: Vec<(&str, String)> = vec![
            (
                "scenario",
                format!("{} (seed {})", self.scenario, self.seed),
            ),
            (
                "nodes",
                format!("{} (n={}, q={})", nodes.join(", "), self.n, self.q),
            ),
            (
                "virtual time",
                format!(
                    "{:.3} s",
                    ms(self.duration_ms.saturating_mul(1000)) / 1000.0
                ),
            ),
        ];
        rows.extend(outcome_rows(p, l, x));
        rows.extend([
            (
                "invalid messages",
                format!(
                    "{} rejected, {} ignored ({} forged, {} replayed, {} garbage sent)",
                    x.invalid_rejected, x.ignored, x.forged_sent, x.replayed_sent, x.garbage_sent
                ),
            ),
            (
                "gossip",
                format!(
                    "{} msgs, {} bytes, {} lost, {} duplicated, {} suppressed, {} cut",
                    t.gossip_messages,
                    t.gossip_bytes,
                    t.lost,
                    t.duplicated,
                    t.duplicates_suppressed,
                    t.cut
                ),
            ),
            (
                "sync",
                format!("{} msgs, {} bytes", t.sync_messages, t.sync_bytes),
            ),
            (
                "per decision",
                format!(
                    "{:.1} msgs, {:.1} bytes",
                    t.messages_per_decision, t.bytes_per_decision
                ),
            ),
            (
                "converge after heal",
                t.converge_after_heal_ms
                    .map_or("-".to_string(), |v| format!("{v:.0} ms")),
            ),
            (
                "storage",
                format!(
                    "{} crashes, {} restarts, {} records lost",
                    self.storage.crashes, self.storage.restarts, self.storage.records_lost
                ),
            ),
        ]);
        rows.extend(tier_rows(&self.tiers));
        if let Some(c) = &self.cloned_keys {
            rows.extend(c.rows());
        }
        if let Some(e) = &self.epochs {
            rows.extend(e.rows());
        }
        rows.extend(invariant_rows(i));
        rows.push((
            "trace",
            format!("{} events, sha256 {}", self.trace.events, self.trace.hash),
        ));
        let mut s = render_rows(&rows);
        write_violations(&mut s, &i.violations);
        s
    }
}

impl ClonedKeys {
    /// The report table's rows: the clones, then the alarms.
    fn rows(&self) -> Vec<(&'static str, String)> {
        let clones: Vec<String> = self
            .clones
            .iter()
            .map(|c| {
                format!(
                    "n{} runs n{}'s key: {} ballots signed, {}",
                    c.node,
                    c.of,
                    c.ballots_signed,
                    if c.reached_honest {
                        "reached honest nodes"
                    } else {
                        "none reached an honest node"
                    }
                )
            })
            .collect();
        let detections: Vec<String> = self
            .detections
            .iter()
            .map(|d| {
                format!(
                    "n{} at {:.3} ms (a {} ballot on {})",
                    d.node,
                    d.at_ms,
                    match d.vote {
                        Vote::Yes => "YES",
                        Vote::No => "NO",
                    },
                    d.proposal.get(..8).unwrap_or(&d.proposal)
                )
            })
            .collect();
        vec![
            ("cloned keys", clones.join("; ")),
            (
                "doppelganger alarms",
                format!(
                    "{} raised, {} votes withheld; first by node: {}",
                    self.alarms,
                    self.votes_withheld,
                    if detections.is_empty() {
                        "none".to_string()
                    } else {
                        detections.join("; ")
                    }
                ),
            ),
        ]
    }
}

/// Rows as aligned `name  value` lines.
pub(crate) fn render_rows(rows: &[(&str, String)]) -> String {
    let width = rows.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
    let mut s = String::new();
    for (k, v) in rows {
        let _ = writeln!(s, "{k:<width$}  {v}");
    }
    s
}

/// The rows both report tables share: proposals, votes, latency and blocking.
pub(crate) fn outcome_rows(
    p: &Proposals,
    l: &Latency,
    x: &Security,
) -> Vec<(&'static str, String)> {
    let pct = |v: &Percentiles| {
        format!(
            "p50 {:.3} ms, p95 {:.3} ms, p99 {:.3} ms (n={})",
            v.p50_ms, v.p95_ms, v.p99_ms, v.count
        )
    };
    vec![
        (
            "proposals",
            format!(
                "{} created, {} approved, {} rejected, {} expired, {} pending, {} missing, {} skipped",
                p.created, p.approved, p.rejected, p.expired, p.pending, p.missing, p.skipped
            ),
        ),
        (
            "votes",
            format!(
                "{} cast, {} refused by the guard",
                p.votes_cast, p.votes_refused
            ),
        ),
        ("latency proposer", pct(&l.proposer)),
        ("latency last honest", pct(&l.last_honest)),
        (
            "anomalous",
            format!(
                "{} total, {} blocked (rate {:.4}), {} false approvals",
                x.anomalous, x.blocked, x.block_rate, x.false_approvals
            ),
        ),
        ("false rejections", x.false_rejections.to_string()),
        (
            "equivocations",
            format!(
                "{} detected, {} by honest members",
                x.equivocations_detected, x.equivocations_by_honest
            ),
        ),
    ]
}

/// The end checks' rows, shared by both report tables.
pub(crate) fn invariant_rows(i: &Invariants) -> Vec<(&'static str, String)> {
    let ok = |b: bool| if b { "ok" } else { "VIOLATED" }.to_string();
    let mut rows = vec![
        ("honest nodes checked", i.honest_checked.to_string()),
        ("agreement", ok(i.agreement)),
        ("validity", ok(i.validity)),
        ("honest equivocation", ok(i.no_honest_equivocation)),
    ];
    if let Some(caught) = i.cloned_key_caught {
        rows.push(("cloned key caught", ok(caught)));
    }
    if let Some(right) = i.no_wrong_tier {
        rows.push(("wrong tier", ok(right)));
    }
    if let Some(same) = i.same_epoch {
        rows.push(("same epoch", ok(same)));
    }
    rows
}

/// One `VIOLATION` line per violation, with its seed and proposal.
pub(crate) fn write_violations(s: &mut String, violations: &[Violation]) {
    for v in violations {
        let _ = writeln!(
            s,
            "VIOLATION {}: seed {} proposal {}: {}",
            v.kind,
            v.seed,
            v.proposal.as_deref().unwrap_or("-"),
            v.detail
        );
    }
}
