//! What a roster tolerates, tier by tier: `swarmvote roster show`'s table.

use std::fmt;

use serde::Serialize;

use crate::ids::{RosterDigest, SwarmId, TierName};
use crate::quorum::Quorum;
use crate::roster::{Roster, Tier};

/// What a roster tolerates.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RosterReport {
    /// The swarm.
    pub swarm: SwarmId,
    /// The roster digest.
    pub digest: RosterDigest,
    /// The epoch.
    pub epoch: u64,
    /// The predecessor's digest, from epoch 1 on.
    pub previous: Option<RosterDigest>,
    /// The default quorum fraction.
    pub quorum: Quorum,
    /// Members.
    pub n: u32,
    /// YES votes needed to approve under the default tier.
    pub q: u32,
    /// Members that may be offline while approval stays possible under the default tier.
    pub max_offline: u32,
    /// Keys a coalition needs to approve on its own under the default tier: `q`.
    pub coalition: u32,
    /// `floor(n/2) + 1`.
    pub strict_majority: u32,
    /// Every tier: the rules in order, then the default, then roster changes.
    pub tiers: Vec<TierRow>,
    /// Things an operator should know, such as `q` below a strict majority.
    pub warnings: Vec<String>,
}

/// One tier's line in the table.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TierRow {
    /// The tier's name.
    pub name: TierName,
    /// What it applies to: `action path=/backup/**`, `everything else`, `swarmvote.roster`.
    pub applies_to: String,
    /// The quorum fraction.
    pub quorum: Quorum,
    /// The electorate: `n`, or `n - 1` under four-eyes.
    pub n: u32,
    /// YES votes needed.
    pub q: u32,
    /// Members of the electorate that may be offline while approval stays possible,
    /// ignoring group requirements: `n - q`.
    pub max_offline: u32,
    /// Whether the proposer's own ballot is left out.
    pub four_eyes: bool,
    /// Group requirements, as `k from group`.
    pub require: Vec<String>,
}

impl TierRow {
    fn of(tier: &Tier, n: u32, applies_to: String) -> Self {
        let electorate = tier.electorate(n);
        Self {
            name: tier.name().clone(),
            applies_to,
            quorum: tier.quorum(),
            n: electorate,
            q: tier.required(),
            max_offline: electorate.saturating_sub(tier.required()),
            four_eyes: tier.four_eyes(),
            require: tier
                .requirements()
                .iter()
                .map(|r| format!("{} from {}", r.yes, r.group))
                .collect(),
        }
    }
}

impl Roster {
    /// The tolerance report, with the tier table.
    pub fn report(&self) -> RosterReport {
        let n = self.len();
        let q = self.required();
        let strict_majority = (n / 2).saturating_add(1);
        let mut warnings = Vec::new();
        if q < strict_majority {
            warnings.push(format!(
                "q = {q} is below a strict majority ({strict_majority} of {n}): two disjoint \
                 groups of members could approve conflicting proposals, and {q} colluding or \
                 stolen keys approve anything"
            ));
        }
        if q == n && n > 1 {
            warnings.push(format!(
                "q = n = {n}: a single offline member blocks every approval"
            ));
        }
        if q == 1 && n > 1 {
            warnings.push("q = 1: any single member approves on its own".to_owned());
        }
        let change = self.change_tier();
        if change.required() < strict_majority {
            warnings.push(format!(
                "roster changes need only {} of {n}: two conflicting changes could both be \
                 approved (the one with the lower proposal id wins)",
                change.required()
            ));
        }
        let mut tiers: Vec<TierRow> = self
            .rules()
            .iter()
            .map(|r| {
                let mut applies = r.action().to_owned();
                for (field, glob) in r.payload() {
                    applies.push_str(&format!(" {field}={glob}"));
                }
                TierRow::of(r.tier(), n, applies)
            })
            .collect();
        tiers.push(TierRow::of(
            self.default_tier(),
            n,
            "everything else".to_owned(),
        ));
        tiers.push(TierRow::of(
            change,
            n,
            super::tier::ROSTER_ACTION.to_owned(),
        ));
        RosterReport {
            swarm: self.swarm().clone(),
            digest: self.digest(),
            epoch: self.epoch(),
            previous: self.previous(),
            quorum: self.quorum(),
            n,
            q,
            max_offline: n.saturating_sub(q),
            coalition: q,
            strict_majority,
            tiers,
            warnings,
        }
    }
}

impl fmt::Display for RosterReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "swarm          {}", self.swarm)?;
        writeln!(f, "digest         {}", self.digest)?;
        writeln!(f, "epoch          {}", self.epoch)?;
        if let Some(previous) = self.previous {
            writeln!(f, "previous       {previous}")?;
        }
        writeln!(f, "quorum         {}", self.quorum)?;
        writeln!(f, "members (n)    {}", self.n)?;
        writeln!(f, "required (q)   {} YES votes approve", self.q)?;
        writeln!(
            f,
            "offline        up to {} members may be offline and approval stays possible",
            self.max_offline
        )?;
        writeln!(
            f,
            "coalition      {} keys approve on their own; {} NO votes reject",
            self.coalition,
            self.max_offline.saturating_add(1)
        )?;
        writeln!(f)?;
        let width = self
            .tiers
            .iter()
            .map(|t| t.applies_to.len())
            .max()
            .unwrap_or(0)
            .max("applies to".len());
        let name_width = self
            .tiers
            .iter()
            .map(|t| t.name.as_str().len())
            .max()
            .unwrap_or(0)
            .max("tier".len());
        writeln!(
            f,
            "{:<name_width$}  {:<width$}  {:>7}  {:>4}  {:>4}  {:>7}  rules",
            "tier", "applies to", "quorum", "n", "q", "offline"
        )?;
        for t in &self.tiers {
            let mut extra: Vec<String> = Vec::new();
            if t.four_eyes {
                extra.push("four-eyes".to_owned());
            }
            extra.extend(t.require.iter().cloned());
            writeln!(
                f,
                "{:<name_width$}  {:<width$}  {:>7}  {:>4}  {:>4}  {:>7}  {}",
                t.name.as_str(),
                t.applies_to,
                t.quorum.to_string(),
                t.n,
                t.q,
                t.max_offline,
                if extra.is_empty() {
                    "-".to_owned()
                } else {
                    extra.join(", ")
                }
            )?;
        }
        for w in &self.warnings {
            writeln!(f, "warning        {w}")?;
        }
        Ok(())
    }
}
