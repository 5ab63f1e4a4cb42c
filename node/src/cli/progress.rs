//! Where a proposal stands under its roster tier: the YES votes that count toward `q`
//! (under four-eyes the proposer's own ballot is left out), each group requirement's
//! count, and, while it is pending, what it still needs. One reading of the API's
//! [`Outcome`], shared by `show`, `propose --wait`, `watch`, the devnet demo and the MCP
//! views, so they all explain a pending proposal the same way.

use swarmvote_protocol::tally::GroupOutcome;
use swarmvote_protocol::{Outcome, VoterId};

use crate::api::ProposalReport;

/// The name of the tier that applies when no roster rule matches.
const DEFAULT_TIER: &str = swarmvote_protocol::roster::tier::DEFAULT_TIER;

/// A proposal's tally, read against its tier.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Progress {
    /// The tier's name: a rule's name, `default` or `roster-change`.
    pub tier: String,
    /// Whether the proposer's own ballot is left out of the count.
    pub four_eyes: bool,
    /// Members whose ballots count: `n`, or `n - 1` under four-eyes.
    pub electorate: u32,
    /// YES votes needed from them.
    pub q: u32,
    /// YES votes that count toward `q`.
    pub yes: u32,
    /// NO votes that count against it.
    pub no: u32,
    /// Under four-eyes: the proposer signed YES (kept, not counted).
    pub own_yes: bool,
    /// Under four-eyes: the proposer signed NO (kept, not counted).
    pub own_no: bool,
    /// Each group requirement and its count, in roster order.
    pub groups: Vec<GroupOutcome>,
}

fn count(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

impl Progress {
    /// Reads `tally` for a proposal by `proposer`.
    pub fn new(tally: &Outcome, proposer: &VoterId) -> Self {
        let own_yes = tally.four_eyes && tally.yes.contains(proposer);
        let own_no = tally.four_eyes && tally.no.contains(proposer);
        Self {
            tier: tally.tier.to_string(),
            four_eyes: tally.four_eyes,
            electorate: if tally.four_eyes {
                tally.n.saturating_sub(1)
            } else {
                tally.n
            },
            q: tally.q,
            yes: count(tally.yes.len()).saturating_sub(u32::from(own_yes)),
            no: count(tally.no.len()).saturating_sub(u32::from(own_no)),
            own_yes,
            own_no,
            groups: tally.groups.clone(),
        }
    }

    /// The progress of a proposal as the API reports it.
    pub fn of(report: &ProposalReport) -> Self {
        Self::new(&report.tally, &report.proposal.proposal().proposer)
    }

    /// The default tier without four-eyes or groups: the plain `yes`/`q` counts say it all.
    pub fn is_plain(&self) -> bool {
        self.tier == DEFAULT_TIER && !self.four_eyes && self.groups.is_empty()
    }

    /// `tier backup-deletes: yes 2/3, security 0/1`; `(four-eyes)` after the name when the
    /// proposer's own ballot is left out (the YES count is then the others').
    pub fn summary(&self) -> String {
        let mut out = format!("tier {}", self.tier);
        if self.four_eyes {
            out.push_str(" (four-eyes)");
        }
        out.push_str(&format!(": yes {}/{}", self.yes, self.q));
        for g in &self.groups {
            out.push_str(&format!(", {} {}/{}", g.group, g.yes, g.need));
        }
        out
    }

    /// What a pending proposal still needs, and why the proposer's own YES is not part of
    /// it: `needs 1 more YES and 1 more YES from security; node0's own YES does not count
    /// (four-eyes)`. `None` once nothing is missing.
    pub fn missing(&self, proposer: &str) -> Option<String> {
        let mut needs = Vec::new();
        let short = self.q.saturating_sub(self.yes);
        if short > 0 {
            needs.push(format!("{short} more YES"));
        }
        for g in &self.groups {
            let short = g.need.saturating_sub(g.yes);
            if short > 0 {
                needs.push(format!("{short} more YES from {}", g.group));
            }
        }
        if needs.is_empty() {
            return None;
        }
        let mut out = format!("needs {}", needs.join(" and "));
        if self.own_yes {
            out.push_str(&format!(
                "; {proposer}'s own YES does not count (four-eyes: another member must approve)"
            ));
        } else if self.four_eyes {
            out.push_str(&format!(
                "; four-eyes: {proposer}'s own YES would not count"
            ));
        }
        Some(out)
    }

    /// Why a rejected proposal can no longer be approved: NO votes past what the tier can
    /// spare, else a group whose members' NO votes leave its requirement out of reach
    /// (the tally shows a group's YES count only, so the group is named by its shortfall).
    /// `None` when neither applies.
    pub fn why_rejected(&self) -> Option<String> {
        let room = self.electorate.saturating_sub(self.q);
        if self.no > room {
            let mut out = format!(
                "approval impossible: {} NO, and q = {} of {} {} leaves room for {room}",
                self.no,
                self.q,
                self.electorate,
                if self.four_eyes {
                    "members besides the proposer"
                } else {
                    "members"
                },
            );
            if self.own_no {
                out.push_str(" (the proposer's own NO is not counted)");
            }
            return Some(out);
        }
        self.groups.iter().find(|g| g.yes < g.need).map(|g| {
            format!(
                "approval impossible: too many of {}'s members voted NO for the {} YES it must give",
                g.group, g.need
            )
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use std::collections::BTreeSet;

    use super::*;
    use swarmvote_protocol::{ProposalId, Verdict};

    fn voter(i: u8) -> VoterId {
        format!("{i:02x}").repeat(32).parse().unwrap()
    }

    fn outcome(tier: &str, four_eyes: bool, yes: &[u8], no: &[u8], q: u32) -> Outcome {
        Outcome {
            proposal: "ab".repeat(32).parse::<ProposalId>().unwrap(),
            n: 3,
            q,
            yes: yes.iter().map(|&i| voter(i)).collect(),
            no: no.iter().map(|&i| voter(i)).collect(),
            equivocators: BTreeSet::new(),
            verdict: Verdict::Pending,
            conflicting: false,
            tier: tier.parse().unwrap(),
            four_eyes,
            groups: Vec::new(),
        }
    }

    #[test]
    fn four_eyes_leaves_the_proposers_ballot_out() {
        let p = Progress::new(&outcome("secrets", true, &[1, 2], &[], 2), &voter(1));
        assert_eq!((p.electorate, p.yes, p.own_yes), (2, 1, true));
        assert!(!p.is_plain());
        assert_eq!(p.summary(), "tier secrets (four-eyes): yes 1/2");
        let why = p.missing("node0").unwrap();
        assert!(
            why.starts_with("needs 1 more YES; node0's own YES does not count"),
            "{why}"
        );
        // Without four-eyes the same ballots approve.
        let p = Progress::new(&outcome("default", false, &[1, 2], &[], 2), &voter(1));
        assert!(p.is_plain());
        assert_eq!(p.yes, 2);
        assert_eq!(p.missing("node0"), None);
    }

    #[test]
    fn groups_and_impossibility_are_explained() {
        let mut o = outcome("backup-deletes", false, &[1, 2], &[], 3);
        o.groups.push(GroupOutcome {
            group: "security".parse().unwrap(),
            need: 1,
            yes: 0,
        });
        let p = Progress::new(&o, &voter(1));
        assert_eq!(p.summary(), "tier backup-deletes: yes 2/3, security 0/1");
        assert_eq!(
            p.missing("node0").unwrap(),
            "needs 1 more YES and 1 more YES from security"
        );
        // Under four-eyes with q = 2 of 2 others, one other NO leaves no way to approve;
        // the proposer's own NO is not counted.
        let p = Progress::new(&outcome("r", true, &[], &[1, 2], 2), &voter(1));
        assert_eq!(p.no, 1);
        let why = p.why_rejected().unwrap();
        assert_eq!(
            why,
            "approval impossible: 1 NO, and q = 2 of 2 members besides the proposer leaves \
             room for 0 (the proposer's own NO is not counted)"
        );
        let p = Progress::new(&outcome("r", true, &[], &[1], 2), &voter(1));
        assert_eq!(p.why_rejected(), None);
        // Rejected with the quorum still in reach: the group is why.
        let mut o = outcome("r", false, &[0], &[2], 2);
        o.groups.push(GroupOutcome {
            group: "security".parse().unwrap(),
            need: 1,
            yes: 0,
        });
        let why = Progress::new(&o, &voter(0)).why_rejected().unwrap();
        assert!(
            why.contains("too many of security's members voted NO"),
            "{why}"
        );
    }
}
