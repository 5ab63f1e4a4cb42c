//! What the model and live mode both check and count, written once so their reports mean
//! the same: the workload's arrival times, each proposal's ground truth, the agreement,
//! validity, honest-equivocation, lost-ballot (used by the multi-host test bed),
//! cloned-key and wrong-tier checks, and the outcome tallies (overall and per tier). The
//! report's types and tables are in [`crate::report`].

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Display;

use swarmvote_protocol::ids::TierName;
use swarmvote_protocol::roster::{MemberIndex, TierId};
use swarmvote_protocol::{
    Certificate, Roster, SignedProposal, Status, UnixMillis, Verdict, Vote, VoterId,
};

use crate::behaviour::Behaviour;
use crate::report::{Proposals, Security, TierCount, Violation, ViolationKind};
use crate::rng::SimRng;
use crate::scenario::Workload;

mod epochs;
pub use epochs::{HeldChain, epochs, judged_by, unknown_roster};

/// Ground truth about one submitted proposal: the label the checks score outcomes by.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Truth {
    /// Whether it should be blocked.
    pub anomalous: bool,
    /// The node that proposed it.
    pub proposer: usize,
    /// When it was made, in µs (virtual in the model, Unix in live mode).
    pub created_us: u64,
    /// When it expires.
    pub expires_at: UnixMillis,
    /// The tier the scenario's roster gives it (from its action and payload).
    pub tier: TierId,
}

/// The workload's arrival offsets in µs from the start: the first `proposals` draws of
/// `rng`, one exponential gap each, so the model and live mode propose at the same times
/// for a seed.
pub fn arrivals(workload: &Workload, rng: &mut SimRng) -> Vec<u64> {
    let mut t = 0u64;
    (0..workload.proposals)
        .map(|_| {
            t = t.saturating_add(gap_us(rng.exponential(workload.rate_per_sec)));
            t
        })
        .collect()
}

/// A gap between proposal arrivals, in whole microseconds. Not capped at an hour as a
/// latency draw is: at a low rate the Poisson process keeps its long gaps (the scenario
/// bounds the average span).
pub fn gap_us(gap_s: f64) -> u64 {
    // The same arithmetic as a latency draw, so every gap under an hour is unchanged.
    crate::network::ms_to_us_capped(gap_s * 1000.0, u64::MAX)
}

/// Honest members' voter ids, with their node numbers: whom an equivocation convicts.
pub fn honest_voters<'a>(
    behaviours: impl IntoIterator<Item = &'a Behaviour>,
    voter: impl Fn(usize) -> Option<VoterId>,
) -> BTreeMap<VoterId, usize> {
    behaviours
        .into_iter()
        .enumerate()
        .filter(|(_, b)| b.is_honest())
        .filter_map(|(i, _)| voter(i).map(|v| (v, i)))
        .collect()
}

/// What one node holds for one proposal, as the agreement check compares and names it.
pub trait Held: PartialEq {
    /// A short description for a violation's detail.
    fn describe(&self) -> String;
}

/// Compares what node `r` (the reference) and node `i` hold, proposal by proposal
/// (`None`: the node does not hold it), and reports every difference as an `agreement`
/// violation. Returns whether any was found.
pub fn disagreements<'a, P: Display, H: Held + 'a>(
    seed: u64,
    (r, i): (usize, usize),
    pairs: impl IntoIterator<Item = (P, Option<&'a H>, Option<&'a H>)>,
    violations: &mut Vec<Violation>,
) -> bool {
    let describe = |x: Option<&H>| x.map_or("nothing".to_string(), Held::describe);
    let mut found = false;
    for (proposal, a, b) in pairs {
        if a != b {
            found = true;
            violations.push(Violation {
                kind: ViolationKind::Agreement,
                seed,
                proposal: Some(proposal.to_string()),
                detail: format!(
                    "node n{r} holds {}, node n{i} holds {}",
                    describe(a),
                    describe(b)
                ),
            });
        }
    }
    found
}

/// Reports an approval node `node` holds whose certificate is missing (`None`) or does
/// not verify (`Some(Err)`) as a `validity` violation.
pub fn check_certificate<E: Display>(
    seed: u64,
    node: usize,
    proposal: impl Display,
    verified: Option<Result<(), E>>,
    violations: &mut Vec<Violation>,
) {
    let problem = match verified {
        None => "approved without a certificate".to_string(),
        Some(Ok(())) => return,
        Some(Err(e)) => e.to_string(),
    };
    violations.push(Violation {
        kind: ViolationKind::Validity,
        seed,
        proposal: Some(proposal.to_string()),
        detail: format!("node n{node}: {problem}"),
    });
}

/// Reports every (member, proposal) equivocation caught whose member is honest (the map
/// gives honest members' node numbers) as an `honest_equivocation` violation; returns
/// how many there were.
pub fn honest_equivocations<'a, V: Ord + 'a, P: Display + 'a>(
    evidence: impl IntoIterator<Item = &'a (V, P)>,
    honest_voters: &BTreeMap<V, usize>,
    seed: u64,
    violations: &mut Vec<Violation>,
) -> u64 {
    let mut count = 0u64;
    for (voter, proposal) in evidence {
        if let Some(i) = honest_voters.get(voter) {
            count = count.saturating_add(1);
            violations.push(Violation {
                kind: ViolationKind::HonestEquivocation,
                seed,
                proposal: Some(proposal.to_string()),
                detail: format!("honest node n{i} signed both YES and NO"),
            });
        }
    }
    count
}

/// Reports every cloned member that no honest node caught as a `cloned_key_uncaught`
/// violation: a member one of whose clones signed a ballot that reached an honest node
/// (`clones`: each clone's node, the member it clones and whether one of its ballots
/// reached an honest node) must have been caught by at least one honest node
/// (`caught(member)`: an honest node raised the doppelganger alarm for the member's key,
/// which only the member itself can). A member that is down at the end (`up(member)`
/// false) is not held to it: a crashed node hears nothing.
pub fn cloned_keys_caught(
    seed: u64,
    clones: impl IntoIterator<Item = (usize, usize, bool)>,
    caught: impl Fn(usize) -> bool,
    up: impl Fn(usize) -> bool,
    violations: &mut Vec<Violation>,
) {
    let mut reached: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    for (node, member, reached_honest) in clones {
        if reached_honest {
            reached.entry(member).or_default().push(node);
        }
    }
    for (member, nodes) in reached {
        if caught(member) || !up(member) {
            continue;
        }
        let nodes: Vec<String> = nodes.iter().map(|n| format!("n{n}")).collect();
        violations.push(Violation {
            kind: ViolationKind::ClonedKeyUncaught,
            seed,
            proposal: None,
            detail: format!(
                "the key of n{member} also ran on {}, whose ballots reached honest nodes, and no honest node raised the doppelganger alarm",
                nodes.join(", ")
            ),
        });
    }
}

/// Reports an own ballot that node `node` reported earlier (`earlier`) and no longer
/// holds unchanged (`now`; `None`: gone) as a `lost_ballot` violation: a ballot once
/// broadcast must survive restarts, or the node could vote again, differently.
pub fn lost_ballot<B: PartialEq + std::fmt::Debug>(
    seed: u64,
    node: usize,
    proposal: impl Display,
    earlier: &B,
    now: Option<&B>,
    violations: &mut Vec<Violation>,
) {
    if now == Some(earlier) {
        return;
    }
    violations.push(Violation {
        kind: ViolationKind::LostBallot,
        seed,
        proposal: Some(proposal.to_string()),
        detail: format!("node n{node} reported its ballot {earlier:?} and now holds {now:?}"),
    });
}

/// What one honest node holds for a proposal, as the wrong-tier check reads it: the
/// verdict and the tier (name and `q`) its tally judged the proposal under.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HeldTier {
    /// The node.
    pub node: usize,
    /// Its verdict.
    pub verdict: Verdict,
    /// The tier its tally applies.
    pub tier: TierName,
    /// That tier's `q`, as its tally applies it.
    pub q: u32,
}

/// Reports every sign of a decision under the wrong tier as a `wrong_tier` violation.
/// `roster` is the roster that judges the proposal: the one it names (see
/// [`judged_by`]), as the scenario writes it for the genesis roster. It gives the
/// proposal its tier from its action and payload. Then:
///
/// * every honest node that decided the proposal (`held`) holds the same tier, and it is
///   that tier with that `q`;
/// * every certificate for it (`certificates`: each distinct one once, with a node that
///   holds it) records that tier and `q`, carries at least `q` YES ballots that count
///   (distinct members, on this proposal, and not the proposer's under four-eyes), and
///   meets every group requirement of the tier.
///
/// Signatures are the validity check's business: this counts what a certificate claims.
pub fn wrong_tier(
    seed: u64,
    roster: &Roster,
    proposal: &SignedProposal,
    held: &[HeldTier],
    certificates: &[(usize, &Certificate)],
    violations: &mut Vec<Violation>,
) {
    let p = proposal.proposal();
    let id = proposal.id();
    let tier = roster.tier(roster.tier_for(p.action.as_str(), || p.payload.to_value()));
    let mut found = Vec::new();
    // The decided nodes by the tier (name, q) they hold, each with its nodes in order.
    let mut by_tier: BTreeMap<(&TierName, u32), Vec<String>> = BTreeMap::new();
    for h in held.iter().filter(|h| h.verdict.is_decided()) {
        by_tier
            .entry((&h.tier, h.q))
            .or_default()
            .push(format!("n{}", h.node));
    }
    if by_tier.len() > 1 {
        let each: Vec<String> = by_tier
            .iter()
            .map(|((t, q), nodes)| format!("{} under {t} (q = {q})", nodes.join(", ")))
            .collect();
        found.push(format!(
            "honest nodes decided it under different tiers: {}",
            each.join("; ")
        ));
    }
    for ((t, q), nodes) in &by_tier {
        if *t != tier.name() || *q != tier.required() {
            found.push(format!(
                "{} {} decided it under tier {t} (q = {q}), but the roster gives tier {} (q = {})",
                if nodes.len() == 1 { "node" } else { "nodes" },
                nodes.join(", "),
                tier.name(),
                tier.required()
            ));
        }
    }
    for &(node, cert) in certificates {
        match cert.tier() {
            None => found.push(format!("node n{node}'s certificate records no tier")),
            Some(label) if label.name != *tier.name() || label.required != tier.required() => {
                found.push(format!(
                    "node n{node}'s certificate records tier {} (q = {}), but the roster gives \
                     tier {} (q = {})",
                    label.name,
                    label.required,
                    tier.name(),
                    tier.required()
                ));
            }
            Some(_) => {}
        }
        // Members whose YES counts: the proposer is outside its own electorate under
        // four-eyes.
        let counted: BTreeSet<MemberIndex> = cert
            .ballots()
            .iter()
            .map(|b| b.ballot())
            .filter(|b| b.proposal == id && b.vote == Vote::Yes)
            .filter(|b| !(tier.four_eyes() && b.voter == p.proposer))
            .filter_map(|b| roster.index_of(&b.voter))
            .collect();
        let need = usize::try_from(tier.required()).unwrap_or(usize::MAX);
        if counted.len() < need {
            found.push(format!(
                "node n{node}'s certificate has {} YES ballots that count{}, tier {} needs q = {}",
                counted.len(),
                if tier.four_eyes() {
                    " (the proposer's left out: four-eyes)"
                } else {
                    ""
                },
                tier.name(),
                tier.required()
            ));
        }
        for r in tier.requirements() {
            let have = counted.iter().filter(|&&i| r.contains(i)).count();
            if have < usize::try_from(r.yes).unwrap_or(usize::MAX) {
                found.push(format!(
                    "node n{node}'s certificate has {have} YES ballots from group {} that \
                     count, tier {} needs {}",
                    r.group,
                    tier.name(),
                    r.yes
                ));
            }
        }
    }
    violations.extend(found.into_iter().map(|detail| Violation {
        kind: ViolationKind::WrongTier,
        seed,
        proposal: Some(id.to_string()),
        detail,
    }));
}

/// One empty count per tier of `roster` that a proposal can fall in, rules in order,
/// then the default; none for a roster without rules (its one tier is the whole report).
pub fn tier_counts(roster: &Roster) -> Vec<TierCount> {
    if roster.rules().is_empty() {
        return Vec::new();
    }
    roster
        .rules()
        .iter()
        .map(|r| r.tier())
        .chain(std::iter::once(roster.default_tier()))
        .map(|t| TierCount {
            tier: t.name().to_string(),
            q: t.required(),
            four_eyes: t.four_eyes(),
            requires: t
                .requirements()
                .iter()
                .map(|r| format!("{} from {}", r.yes, r.group))
                .collect(),
            ..TierCount::default()
        })
        .collect()
}

/// Counts one proposal's outcome (as the reference node holds it at `now`) in its tier's
/// count; `counts` is [`tier_counts`]'s (nothing to do when it is empty). Roster changes
/// are not the workload's and are not counted.
pub fn count_tier(counts: &mut [TierCount], truth: &Truth, verdict: Option<Verdict>) {
    let rules = counts.len().saturating_sub(1);
    let index = match truth.tier {
        TierId::Rule(i) => i,
        TierId::Default => rules,
        TierId::Change => return,
    };
    if let Some(c) = counts.get_mut(index) {
        c.count(truth.anomalous, verdict);
    }
}

/// Counts one proposal's outcome as the reference node holds it (`None`: not held) at
/// `now`, against its ground truth.
pub fn count_outcome(
    p: &mut Proposals,
    x: &mut Security,
    truth: &Truth,
    verdict: Option<Verdict>,
    now: UnixMillis,
) {
    match verdict.map(|v| v.status_at(now, truth.expires_at)) {
        Some(Status::Approved) => p.approved = p.approved.saturating_add(1),
        Some(Status::Rejected) => p.rejected = p.rejected.saturating_add(1),
        Some(Status::Expired) => p.expired = p.expired.saturating_add(1),
        Some(Status::Pending) => p.pending = p.pending.saturating_add(1),
        None => p.missing = p.missing.saturating_add(1),
    }
    x.count_outcome(truth.anomalous, verdict);
}

/// Records one proposal's latencies from its creation: to the proposer's decision, if it
/// decided, and to the last honest node's, only when every honest node decided.
pub fn push_latencies(
    created_us: u64,
    proposer_at: Option<u64>,
    honest_at: &[Option<u64>],
    proposer: &mut Vec<u64>,
    last_honest: &mut Vec<u64>,
) {
    if let Some(at) = proposer_at {
        proposer.push(at.saturating_sub(created_us));
    }
    let all: Option<Vec<u64>> = honest_at.iter().copied().collect();
    if let Some(last) = all.and_then(|t| t.into_iter().max()) {
        last_honest.push(last.saturating_sub(created_us));
    }
}

/// Members by behaviour label, in label order, as both reports list them.
pub fn node_groups<'a>(behaviours: impl IntoIterator<Item = &'a Behaviour>) -> Vec<(String, u32)> {
    let mut groups: BTreeMap<&'static str, u32> = BTreeMap::new();
    for b in behaviours {
        let c = groups.entry(b.label()).or_insert(0);
        *c = c.saturating_add(1);
    }
    groups
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::network::{Latency, sample_us};

    #[test]
    fn a_cloned_key_that_reached_honest_nodes_must_be_caught_while_its_member_is_up() {
        let check = |clones: &[(usize, usize, bool)], caught: &[usize], down: &[usize]| {
            let mut v = Vec::new();
            cloned_keys_caught(
                7,
                clones.iter().copied(),
                |m| caught.contains(&m),
                |m| !down.contains(&m),
                &mut v,
            );
            v
        };
        // Caught, or nothing reached an honest node, or the member is down: nothing to say.
        assert!(check(&[(5, 1, true)], &[1], &[]).is_empty());
        assert!(check(&[(5, 1, false)], &[], &[]).is_empty());
        assert!(check(&[(5, 1, true)], &[], &[1]).is_empty());
        // Uncaught: one violation per member, naming it and every clone that reached.
        let v = check(&[(5, 1, true), (6, 1, true), (7, 2, true)], &[2], &[]);
        assert_eq!(v.len(), 1, "{v:?}");
        assert_eq!(v[0].kind, ViolationKind::ClonedKeyUncaught);
        assert_eq!(v[0].seed, 7);
        assert!(
            v[0].detail.contains("n1") && v[0].detail.contains("n5, n6"),
            "{}",
            v[0].detail
        );
        assert!(!v[0].detail.contains("n7"), "{}", v[0].detail);
    }

    #[test]
    fn arrival_gaps_are_not_capped_like_latencies() {
        let mut rng = SimRng::new(1);
        // Under an hour: the same microseconds as before, so reports do not move.
        for gap_s in [0.0, 0.000_000_4, 0.123_456_789, 5.0, 3_599.999] {
            let latency = Latency::Fixed { ms: gap_s * 1000.0 };
            assert_eq!(gap_us(gap_s), sample_us(&latency, &mut rng), "{gap_s}");
        }
        // A latency stops at an hour; a gap of two hours between proposals stays two.
        assert_eq!(gap_us(7_200.0), 7_200_000_000);
        assert_eq!(gap_us(1e30), u64::MAX);
        assert_eq!(gap_us(f64::NAN), 0);
        assert_eq!(gap_us(-1.0), 0);
    }
}
