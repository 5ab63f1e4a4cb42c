//! `equivocator`: a member that signs both YES and NO on every proposal.
//!
//! It bypasses its engine's own-vote guard: it signs a YES and a NO ballot on the
//! proposal with its real key and sends the YES to one random half of its reachable
//! peers and the NO to the other half, so each half first sees a consistent vote.
//!
//! What the swarm should do: both ballots are valid, so each is accepted where it lands
//! first; as gossip and catch-up spread them, every honest node ends up holding both,
//! which is equivocation evidence ([`swarmvote_protocol::evidence::Equivocation`]). The
//! report counts the evidence (`equivocations_detected`), the equivocator can count
//! towards at most one side of a decision, and agreement and validity must hold.

use swarmvote_protocol::{Ballot, ProposalId, SecretKey, SignedBallot, SwarmId, Vote, VoterId};

use crate::rng::SimRng;

/// The YES and NO ballots `voter` (whose key is `key`) signs on `proposal`.
pub fn ballots(
    swarm: &SwarmId,
    proposal: ProposalId,
    key: &SecretKey,
    voter: VoterId,
) -> (SignedBallot, SignedBallot) {
    let sign = |vote| {
        Ballot {
            swarm: swarm.clone(),
            proposal,
            voter,
            vote,
            reason: None,
        }
        .sign(key)
    };
    (sign(Vote::Yes), sign(Vote::No))
}

/// Splits `peers` at random into two disjoint halves (the first gets YES, the second NO;
/// with an odd count the second is one larger). One shuffle of all the peers.
pub fn split(peers: &[usize], rng: &mut SimRng) -> (Vec<usize>, Vec<usize>) {
    let mut shuffled = rng.pick(peers, peers.len());
    let second = shuffled.split_off(shuffled.len() / 2);
    (shuffled, second)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use serde_json::json;
    use swarmvote_protocol::codec;
    use swarmvote_protocol::engine::{Event, Validation};
    use swarmvote_protocol::evidence::Equivocation;

    use super::*;
    use crate::behaviour::testkit;

    #[test]
    fn the_yes_and_no_form_valid_equivocation_evidence() {
        let (keys, roster) = testkit::roster(3);
        let mut engine = testkit::engine(&keys, &roster);
        let (id, _) = testkit::propose(&mut engine, "a.b", json!({"x": "1"}), 1);
        let voter = keys[2].voter_id();
        let (yes, no) = ballots(roster.swarm(), id, &keys[2], voter);
        assert_eq!((yes.ballot().vote, no.ballot().vote), (Vote::Yes, Vote::No));
        yes.clone().verify(&roster).unwrap();
        no.clone().verify(&roster).unwrap();
        let evidence = Equivocation::new(yes.clone(), no.clone()).unwrap();
        let verified = evidence.verify(&roster).unwrap();
        assert_eq!(verified.voter(), voter);
        assert_eq!(verified.proposal(), id);

        // An honest engine that receives both catches it.
        let (first, _) = testkit::deliver(&mut engine, &codec::encode(&yes).unwrap());
        assert_eq!(first, Some(Validation::Accept));
        let (_, events) = testkit::deliver(&mut engine, &codec::encode(&no).unwrap());
        let caught = events.iter().any(|e| {
            matches!(e, Event::Equivocation { evidence }
                if evidence.voter() == voter && evidence.proposal() == id)
        });
        assert!(caught, "{events:?}");
    }

    #[test]
    fn the_halves_are_disjoint_and_cover_every_peer() {
        let mut rng = SimRng::new(3);
        for n in [0usize, 1, 2, 5, 10] {
            let peers: Vec<usize> = (0..n).collect();
            let (a, b) = split(&peers, &mut rng);
            assert_eq!(a.len(), n / 2);
            assert_eq!(b.len(), n - n / 2);
            let mut all: Vec<usize> = a.iter().chain(&b).copied().collect();
            all.sort_unstable();
            assert_eq!(all, peers);
        }
    }
}
