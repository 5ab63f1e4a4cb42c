//! The roster-epoch checks: every honest node ends on the same roster head, and no node
//! holds a head or a main chain that its step certificates do not prove (each node's
//! steps are rebuilt into a chain of their own with [`RosterChain::from_steps`], which
//! verifies every certificate against the roster before it). Also which roster judges a
//! proposal, for the wrong-tier check.

use swarmvote_protocol::chain::RosterChain;
use swarmvote_protocol::ids::RosterDigest;
use swarmvote_protocol::{Certificate, ProposalId, Roster, SignedProposal};

use crate::report::{Violation, ViolationKind};

/// What one honest node holds of the roster chain.
#[derive(Clone, Debug)]
pub struct HeldChain {
    /// The node.
    pub node: usize,
    /// Its head roster's digest.
    pub head: RosterDigest,
    /// Its head roster's epoch.
    pub epoch: u64,
    /// Its main chain's steps, by proposal, in epoch order.
    pub main: Vec<ProposalId>,
    /// Every step certificate it holds (main chain or not).
    pub steps: Vec<Certificate>,
}

fn violation(seed: u64, detail: String) -> Violation {
    Violation {
        kind: ViolationKind::Epoch,
        seed,
        proposal: None,
        detail,
    }
}

fn short(d: &RosterDigest) -> String {
    let s = d.to_string();
    s.get(..8).unwrap_or(&s).to_string()
}

/// Reports as `epoch` violations: a node whose steps do not verify from `genesis`, whose
/// head or main chain is not the one its steps prove, and honest nodes on different
/// heads. Returns the chain proved by the first node's steps, when they verify.
pub fn epochs(
    seed: u64,
    genesis: &Roster,
    held: &[HeldChain],
    violations: &mut Vec<Violation>,
) -> Option<RosterChain> {
    let mut first = None;
    for (k, h) in held.iter().enumerate() {
        let chain = match RosterChain::from_steps(genesis.clone(), h.steps.iter().cloned()) {
            Ok(c) => c,
            Err(e) => {
                violations.push(violation(
                    seed,
                    format!(
                        "node n{} holds a roster step that does not verify: {e}",
                        h.node
                    ),
                ));
                continue;
            }
        };
        let proved = chain.head();
        if proved.digest() != h.head || proved.epoch() != h.epoch {
            violations.push(violation(
                seed,
                format!(
                    "node n{}'s head is epoch {} ({}), but its steps prove epoch {} ({})",
                    h.node,
                    h.epoch,
                    short(&h.head),
                    proved.epoch(),
                    short(&proved.digest())
                ),
            ));
        }
        let main: Vec<ProposalId> = chain.main_steps().map(|s| s.proposal()).collect();
        if main != h.main {
            violations.push(violation(
                seed,
                format!(
                    "node n{}'s main chain has {} steps, but its steps prove {}",
                    h.node,
                    h.main.len(),
                    main.len()
                ),
            ));
        }
        if k == 0 {
            first = Some(chain);
        }
    }
    let mut heads: Vec<(RosterDigest, u64, Vec<String>)> = Vec::new();
    for h in held {
        match heads.iter_mut().find(|(d, _, _)| *d == h.head) {
            Some((_, _, nodes)) => nodes.push(format!("n{}", h.node)),
            None => heads.push((h.head, h.epoch, vec![format!("n{}", h.node)])),
        }
    }
    if heads.len() > 1 {
        let each: Vec<String> = heads
            .iter()
            .map(|(d, e, nodes)| format!("{} at epoch {e} ({})", nodes.join(", "), short(d)))
            .collect();
        violations.push(violation(
            seed,
            format!(
                "honest nodes ended on different rosters: {}",
                each.join("; ")
            ),
        ));
    }
    first
}

/// The roster that judges `proposal`: the one it names, from `chain`; for a proposal
/// naming the genesis roster, `written` (the genesis roster as the scenario writes it,
/// which differs from the engines' only under the test-only `testing.lowered_rules`).
/// `None`: the chain does not hold the roster it names.
pub fn judged_by<'a>(
    chain: &'a RosterChain,
    written: &'a Roster,
    proposal: &SignedProposal,
) -> Option<&'a Roster> {
    let named = proposal.proposal().roster;
    if named == chain.genesis().digest() {
        Some(written)
    } else {
        chain.get(&named)
    }
}

/// A decision under a roster the chain does not hold, as a `wrong_tier` violation.
pub fn unknown_roster(seed: u64, proposal: &SignedProposal, violations: &mut Vec<Violation>) {
    violations.push(Violation {
        kind: ViolationKind::WrongTier,
        seed,
        proposal: Some(proposal.id().to_string()),
        detail: format!(
            "decided under roster {}, which no verified roster step leads to",
            short(&proposal.proposal().roster)
        ),
    });
}
