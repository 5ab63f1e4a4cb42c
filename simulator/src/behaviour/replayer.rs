//! `replayer`: a member that re-sends other members' valid ballots where they do not
//! belong.
//!
//! For every foreign ballot it receives, it sends two copies carrying the original,
//! valid signature: one retargeted at another proposal the run knows of (chosen at
//! random), and one re-addressed to another swarm (`other-swarm`). It never votes itself.
//!
//! What the swarm should do: count neither. The retargeted ballot's signature covers the
//! original proposal, so it fails verification (`BadSignature`) and is rejected; the
//! re-addressed one names a swarm the roster is not, so it is ignored (`OtherSwarm`, not
//! a provable fault: a node may hear other swarms' traffic). The report counts
//! `replayed_sent`, and `invalid_rejected` and `ignored` go up; tallies do not change.

use swarmvote_protocol::{ProposalId, SignedBallot, SwarmId, VoterId, gossip};

use crate::rng::SimRng;

/// The swarm the replayer re-addresses ballots to.
pub const OTHER_SWARM: &str = "other-swarm";

/// The replays of gossip message `bytes`, if it is a ballot by someone other than `own`
/// (else `None`, and nothing counts as an attack): retargeted at a random one of `known`
/// proposals other than its own (one `below` draw, none when there is no other), then
/// re-addressed to [`OTHER_SWARM`].
pub fn replays(
    bytes: &[u8],
    own: VoterId,
    known: impl IntoIterator<Item = ProposalId>,
    rng: &mut SimRng,
) -> Option<Vec<SignedBallot>> {
    let Ok(gossip::Gossip::Ballot(b)) = gossip::decode_gossip(bytes) else {
        return None;
    };
    if b.ballot().voter == own {
        return None;
    }
    let others: Vec<ProposalId> = known
        .into_iter()
        .filter(|id| *id != b.ballot().proposal)
        .collect();
    let mut out = Vec::with_capacity(2);
    if let Some(&target) = others.get(rng.below(others.len())) {
        let mut moved = b.ballot().clone();
        moved.proposal = target;
        out.push(SignedBallot::from_parts(moved, *b.signature()));
    }
    if let Ok(other) = SwarmId::new(OTHER_SWARM) {
        let mut wrapped = b.ballot().clone();
        wrapped.swarm = other;
        out.push(SignedBallot::from_parts(wrapped, *b.signature()));
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use serde_json::json;
    use swarmvote_protocol::engine::{IgnoreReason, RejectReason, Validation};
    use swarmvote_protocol::message::VerifyError;
    use swarmvote_protocol::{Ballot, Vote, codec};

    use super::*;
    use crate::behaviour::testkit;

    #[test]
    fn a_replayed_ballot_is_rejected_on_its_new_proposal_and_ignored_as_other_swarm() {
        let (keys, roster) = testkit::roster(3);
        let mut engine = testkit::engine(&keys, &roster);
        let (a, _) = testkit::propose(&mut engine, "a.b", json!({"x": "1"}), 1);
        let (b, _) = testkit::propose(&mut engine, "a.b", json!({"x": "2"}), 2);
        let voter = keys[1].voter_id();
        let original = Ballot {
            swarm: roster.swarm().clone(),
            proposal: a,
            voter,
            vote: Vote::Yes,
            reason: None,
        }
        .sign(&keys[1]);
        let bytes = codec::encode(&original).unwrap();
        let mut rng = SimRng::new(1);
        let out = replays(&bytes, keys[2].voter_id(), [a, b], &mut rng).unwrap();
        let [moved, wrapped] = <[SignedBallot; 2]>::try_from(out).unwrap();
        assert_eq!(moved.ballot().proposal, b);
        assert_eq!(moved.signature(), original.signature());
        assert_eq!(
            moved.clone().verify(&roster).err(),
            Some(VerifyError::BadSignature { signer: voter })
        );
        assert!(matches!(
            wrapped.clone().verify(&roster),
            Err(VerifyError::WrongSwarm { .. })
        ));

        let (v, _) = testkit::deliver(&mut engine, &codec::encode(&moved).unwrap());
        assert_eq!(
            v,
            Some(Validation::Reject(RejectReason::BadSignature {
                signer: voter
            }))
        );
        let (v, _) = testkit::deliver(&mut engine, &codec::encode(&wrapped).unwrap());
        assert_eq!(v, Some(Validation::Ignore(IgnoreReason::OtherSwarm)));
        for id in [a, b] {
            let view = engine.proposal(&id).unwrap();
            assert_eq!(view.tally().ballots().count(), 0, "nothing was counted");
        }
    }

    #[test]
    fn own_ballots_and_non_ballots_are_not_replayed() {
        let (keys, roster) = testkit::roster(3);
        let mut engine = testkit::engine(&keys, &roster);
        let (a, proposal) = testkit::propose(&mut engine, "a.b", json!({"x": "1"}), 1);
        let mine = Ballot {
            swarm: roster.swarm().clone(),
            proposal: a,
            voter: keys[2].voter_id(),
            vote: Vote::No,
            reason: None,
        }
        .sign(&keys[2]);
        let mut rng = SimRng::new(1);
        let own = keys[2].voter_id();
        assert!(replays(&codec::encode(&mine).unwrap(), own, [a], &mut rng).is_none());
        assert!(replays(&codec::encode(&proposal).unwrap(), own, [a], &mut rng).is_none());
        assert!(replays(b"garbage", own, [a], &mut rng).is_none());
        // With no other proposal known, only the other-swarm copy is sent.
        let theirs = codec::encode(&mine).unwrap();
        let out = replays(&theirs, keys[0].voter_id(), [a], &mut rng).unwrap();
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].ballot().swarm.as_str(), OTHER_SWARM);
    }
}
