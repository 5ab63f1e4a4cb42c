//! `cloned`: a second instance of an honest member's voter key, as a restored backup or a
//! second machine started from a copy of the key would be.
//!
//! The clone is an extra node of the network, not a roster member: it runs with the
//! key of the member it clones (`of`, a node index; drawn from the seed among the honest
//! members when not given), relays gossip and takes part in catch-up like any node, and
//! judges every proposal it sees on its own. It signs its ballot outside its engine (as
//! the equivocator does), so nothing it has seen from the member stops it: the two
//! instances know nothing of each other's ballots. `votes` says what it signs:
//!
//! * `opposite` (the default): the wrong vote by the ground truth. Where the member votes
//!   the right way, the key has now signed both YES and NO: every honest node ends up
//!   holding equivocation evidence against the member.
//! * `same`: the right vote. The two ballots differ only in their reason, so no
//!   equivocation evidence exists and only the doppelganger alarm can tell.
//!
//! Every clone ballot carries [`REASON`], so it is never byte-identical to a ballot the
//! member signs itself (the oracle gives no reason, a policy rule its own). It draws
//! nothing from the run's RNG.
//!
//! What the swarm should do: the member's own engine raises
//! [`Event::Doppelganger`](swarmvote_protocol::engine::Event::Doppelganger) when a clone
//! ballot reaches it, and the member stops signing, as the node does
//! (`node/src/daemon/driver/doppelganger.rs`). The invariant: a cloned key whose ballots
//! reached an honest node is caught by at least one honest node. Agreement and validity
//! must hold regardless; the member's equivocations on proposals the clone signed are
//! the clone's, not a fault of the member's own-vote guard.

use serde::Deserialize;
use swarmvote_protocol::crypto::sha256;
use swarmvote_protocol::{
    Ballot, ProposalId, Reason, SecretKey, SignedBallot, SwarmId, Vote, VoterId,
};

use super::{Behaviour, right_vote};
use crate::rng::SimRng;

/// The reason every clone ballot carries.
pub const REASON: &str = "second instance of this key";

/// What a clone votes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CloneVote {
    /// The wrong vote by the ground truth: a contradiction, so equivocation evidence.
    #[default]
    Opposite,
    /// The right vote, with the clone's own reason: no equivocation, only the alarm.
    Same,
}

/// The clone's vote on a proposal with ground truth `anomalous`.
pub fn vote(anomalous: bool, votes: CloneVote) -> Vote {
    match votes {
        CloneVote::Opposite => right_vote(anomalous).other(),
        CloneVote::Same => right_vote(anomalous),
    }
}

/// The ballot the clone signs with the member's `key` (whose voter id is `voter`).
pub fn ballot(
    swarm: &SwarmId,
    proposal: ProposalId,
    key: &SecretKey,
    voter: VoterId,
    vote: Vote,
) -> SignedBallot {
    Ballot {
        swarm: swarm.clone(),
        proposal,
        voter,
        vote,
        // A fixed, valid text; `None` only if the protocol's rules for reasons changed.
        reason: Reason::new(REASON).ok(),
    }
    .sign(key)
}

/// Why a clone's target is refused.
pub fn check_target(of: usize, behaviours: &[Behaviour]) -> Result<(), String> {
    match behaviours.get(of) {
        Some(b) if b.is_honest() => Ok(()),
        _ => Err(format!(
            "must name an honest, drift, crash or slow member (a node index in 0..{})",
            members(behaviours)
        )),
    }
}

/// How many nodes are roster members: every node but the clones, which come last.
pub fn members(behaviours: &[Behaviour]) -> usize {
    behaviours
        .iter()
        .filter(|b| !matches!(b, Behaviour::Cloned { .. }))
        .count()
}

/// The member each node clones (`None` for the members themselves): `of` when given,
/// else one of the honest members drawn from the seed, on a stream of its own (per
/// clone node) so the run's main stream does not move. Errors name the node.
pub fn targets(behaviours: &[Behaviour], seed: u64) -> Result<Vec<Option<usize>>, (usize, String)> {
    let honest: Vec<usize> = behaviours
        .iter()
        .enumerate()
        .filter(|(_, b)| b.is_honest())
        .map(|(i, _)| i)
        .collect();
    let members = members(behaviours);
    behaviours
        .iter()
        .enumerate()
        .map(|(i, b)| {
            let Behaviour::Cloned { of, .. } = b else {
                return if i < members {
                    Ok(None)
                } else {
                    Err((
                        i,
                        "a member node after a cloned one: clones come last".into(),
                    ))
                };
            };
            let of = match of {
                Some(of) => *of,
                None => {
                    let mut rng = SimRng::new(stream_seed(seed, i));
                    *honest
                        .get(rng.below(honest.len()))
                        .ok_or_else(|| (i, "no honest member to clone".to_string()))?
                }
            };
            check_target(of, behaviours).map_err(|m| (i, m))?;
            Ok(Some(of))
        })
        .collect()
}

/// The seed of clone node `node`'s target draw: SHA-256 of a label, the run's seed and
/// the node.
fn stream_seed(seed: u64, node: usize) -> u64 {
    let mut bytes = b"swarmvote-sim cloned".to_vec();
    bytes.extend_from_slice(&seed.to_le_bytes());
    bytes.extend_from_slice(&u64::try_from(node).unwrap_or(u64::MAX).to_le_bytes());
    let h = sha256(&bytes);
    let mut first = [0u8; 8];
    first.copy_from_slice(h.get(..8).unwrap_or(&[0; 8]));
    u64::from_le_bytes(first)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use serde_json::json;
    use swarmvote_protocol::engine::{Event, IgnoreReason, Validation};
    use swarmvote_protocol::{UnixMillis, codec};

    use super::*;
    use crate::behaviour::testkit;
    use crate::swarm::START_MS;

    fn cloned(of: Option<usize>) -> Behaviour {
        Behaviour::Cloned {
            of,
            votes: CloneVote::Opposite,
        }
    }

    #[test]
    fn the_clone_votes_against_or_with_the_ground_truth() {
        for anomalous in [false, true] {
            assert_eq!(
                vote(anomalous, CloneVote::Opposite),
                right_vote(anomalous).other()
            );
            assert_eq!(vote(anomalous, CloneVote::Same), right_vote(anomalous));
        }
    }

    #[test]
    fn a_clone_ballot_alarms_the_member_whatever_its_vote() {
        let (keys, roster) = testkit::roster(3);
        // The member's engine: member 0, which has already voted YES.
        let mut member = testkit::engine(&keys, &roster);
        let (id, _) = testkit::propose(&mut member, "a.b", json!({"x": "1"}), 1);
        let now = UnixMillis(START_MS);
        let own = member.vote(now, id, Vote::Yes, None).unwrap();
        while member.poll_output().is_some() {}
        let voter = keys[0].voter_id();
        for v in [Vote::Yes, Vote::No] {
            let b = ballot(roster.swarm(), id, &keys[0], voter, v);
            b.clone().verify(&roster).unwrap();
            assert_ne!(b, own, "a clone ballot is never the member's own");
            let (verdict, events) = testkit::deliver(&mut member, &codec::encode(&b).unwrap());
            // A NO is new; a YES beside the member's own is kept only if it sorts first
            // (otherwise it is a duplicate and not relayed), but it alarms either way.
            assert!(
                matches!(
                    verdict,
                    Some(Validation::Accept | Validation::Ignore(IgnoreReason::Duplicate))
                ),
                "{v:?}: {verdict:?}"
            );
            let alarmed = events.iter().any(|e| {
                matches!(e, Event::Doppelganger { proposal, vote, .. }
                    if *proposal == id && *vote == v)
            });
            assert!(alarmed, "{v:?}: {events:?}");
        }
    }

    #[test]
    fn targets_are_given_or_drawn_among_honest_members() {
        let honest = Behaviour::honest(0.0);
        let b = vec![
            honest.clone(),
            Behaviour::Equivocator,
            honest.clone(),
            cloned(Some(2)),
            cloned(None),
        ];
        for seed in 0..20 {
            let t = targets(&b, seed).unwrap();
            assert_eq!(&t[..4], &[None, None, None, Some(2)]);
            // Drawn: an honest member (never the equivocator, never a clone).
            assert!(matches!(t[4], Some(0 | 2)), "seed {seed}: {t:?}");
            assert_eq!(targets(&b, seed).unwrap(), t, "the same every time");
        }
        // Both honest members come up over seeds.
        let drawn: std::collections::BTreeSet<_> =
            (0..40).map(|s| targets(&b, s).unwrap()[4]).collect();
        assert_eq!(drawn.len(), 2, "{drawn:?}");
        assert_eq!(members(&b), 3);
    }

    #[test]
    fn bad_targets_and_misplaced_clones_are_refused_naming_the_node() {
        let honest = Behaviour::honest(0.0);
        let err = |b: Vec<Behaviour>| targets(&b, 1).unwrap_err();
        // Not a member, not honest, a clone itself.
        assert_eq!(err(vec![honest.clone(), cloned(Some(5))]).0, 1);
        assert_eq!(
            err(vec![honest.clone(), Behaviour::Forger, cloned(Some(1))]).0,
            2
        );
        assert_eq!(err(vec![honest.clone(), cloned(Some(1))]).0, 1);
        // A member after a clone.
        let (node, message) = err(vec![honest.clone(), cloned(None), honest]);
        assert_eq!(node, 2);
        assert!(message.contains("clones come last"), "{message}");
        // Nothing honest to draw from.
        let (_, message) = err(vec![Behaviour::Compromised, cloned(None)]);
        assert!(message.contains("no honest member"), "{message}");
    }
}
