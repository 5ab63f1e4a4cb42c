//! The report's roster epochs: where the swarm's roster chain ended, the steps that got
//! it there, and the workload's outcomes by the epoch of the roster each proposal named.
//! Only in runs whose scenario changes the roster.

use serde::Serialize;

/// The roster epochs of a run, as the reference node holds them.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Epochs {
    /// The head roster's epoch.
    pub head_epoch: u64,
    /// The head roster's digest.
    pub head: String,
    /// The main chain's steps, in epoch order.
    pub steps: Vec<EpochStep>,
    /// Roster changes proposed by the scenario, and how many of them were approved.
    pub changes_proposed: u64,
    /// Scenario changes whose proposer could not propose (down, removed or refused).
    pub changes_skipped: u64,
    /// The workload's proposals by the epoch of the roster each names.
    pub per_epoch: Vec<EpochCount>,
}

/// One step of the roster chain.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct EpochStep {
    /// The epoch it installed.
    pub epoch: u64,
    /// The roster change proposal that installed it.
    pub proposal: String,
    /// Members of the new roster.
    pub n: u32,
    /// Its default tier's `q`.
    pub q: u32,
    /// Its roster-wide four-eyes flag, as its default tier applies it.
    pub four_eyes: bool,
}

/// Workload proposals made under one epoch's roster and their outcomes.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct EpochCount {
    /// The epoch.
    pub epoch: u64,
    /// Proposals that name its roster.
    pub proposals: u64,
    /// Of those, approved.
    pub approved: u64,
    /// Rejected.
    pub rejected: u64,
}

impl Epochs {
    /// The report table's rows: the head, each step, and the outcomes per epoch.
    pub fn rows(&self) -> Vec<(&'static str, String)> {
        let short = |s: &str| s.get(..8).unwrap_or(s).to_string();
        let steps: Vec<String> = self
            .steps
            .iter()
            .map(|s| {
                format!(
                    "epoch {} by {} (n = {}, q = {}{})",
                    s.epoch,
                    short(&s.proposal),
                    s.n,
                    s.q,
                    if s.four_eyes { ", four-eyes" } else { "" }
                )
            })
            .collect();
        let per: Vec<String> = self
            .per_epoch
            .iter()
            .map(|c| {
                format!(
                    "epoch {}: {} proposals, {} approved, {} rejected",
                    c.epoch, c.proposals, c.approved, c.rejected
                )
            })
            .collect();
        vec![
            (
                "roster epochs",
                format!(
                    "head epoch {} ({}); {} changes proposed, {} skipped",
                    self.head_epoch,
                    short(&self.head),
                    self.changes_proposed,
                    self.changes_skipped
                ),
            ),
            (
                "roster steps",
                if steps.is_empty() {
                    "none".to_string()
                } else {
                    steps.join("; ")
                },
            ),
            ("by epoch", per.join("; ")),
        ]
    }
}
