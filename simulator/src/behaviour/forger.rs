//! `forger`: a member that sends ballots whose signatures do not verify.
//!
//! On every proposal it sends two YES ballots to all its reachable peers: one in its own
//! name whose signature has one bit flipped, and one in another member's name (the
//! victim: the first other member of the roster) signed with the forger's own key, an
//! impersonation.
//!
//! What the swarm should do: an honest engine rejects both as `BadSignature` (a provable
//! fault of the sender), never counts them and never forwards them. The report counts
//! them as `forged_sent` and `invalid_rejected`; no tally changes.

use swarmvote_protocol::{
    Ballot, ProposalId, SecretKey, Signature, SignedBallot, SwarmId, Vote, VoterId,
};

/// The member the forger impersonates: the first voter in `voters` other than member
/// `own`, or `own`'s voter itself in a swarm of one.
pub fn victim(own: usize, voters: impl IntoIterator<Item = VoterId>) -> Option<VoterId> {
    let mut own_voter = None;
    for (j, v) in voters.into_iter().enumerate() {
        if j != own {
            return Some(v);
        }
        own_voter = Some(v);
    }
    own_voter
}

/// The two forged YES ballots on `proposal`: `voter`'s own with a corrupted signature,
/// then `victim`'s signed with `key` (which is `voter`'s).
pub fn ballots(
    swarm: &SwarmId,
    proposal: ProposalId,
    key: &SecretKey,
    voter: VoterId,
    victim: VoterId,
) -> [SignedBallot; 2] {
    let ballot = |voter| Ballot {
        swarm: swarm.clone(),
        proposal,
        voter,
        vote: Vote::Yes,
        reason: None,
    };
    let own = ballot(voter);
    let mut sig = own.clone().sign(key).signature().0;
    if let Some(b) = sig.first_mut() {
        *b ^= 0x01;
    }
    let corrupted = SignedBallot::from_parts(own, Signature(sig));
    let impersonated = ballot(victim).sign(key);
    [corrupted, impersonated]
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use serde_json::json;
    use swarmvote_protocol::codec;
    use swarmvote_protocol::engine::{RejectReason, Validation};
    use swarmvote_protocol::message::VerifyError;

    use super::*;
    use crate::behaviour::testkit;

    #[test]
    fn the_victim_is_the_first_other_member() {
        let (keys, _) = testkit::roster(3);
        let voters: Vec<VoterId> = keys.iter().map(SecretKey::voter_id).collect();
        assert_eq!(victim(0, voters.clone()), Some(voters[1]));
        assert_eq!(victim(2, voters.clone()), Some(voters[0]));
        assert_eq!(victim(0, [voters[0]]), Some(voters[0]));
        assert_eq!(victim(0, []), None);
    }

    #[test]
    fn both_forged_ballots_fail_verification_and_are_rejected() {
        let (keys, roster) = testkit::roster(3);
        let mut engine = testkit::engine(&keys, &roster);
        let (id, _) = testkit::propose(&mut engine, "a.b", json!({"x": "1"}), 1);
        let (forger, target) = (keys[2].voter_id(), keys[1].voter_id());
        let [corrupted, impersonated] = ballots(roster.swarm(), id, &keys[2], forger, target);
        assert_eq!(corrupted.ballot().voter, forger);
        assert_eq!(impersonated.ballot().voter, target);
        assert_eq!(
            corrupted.clone().verify(&roster).err(),
            Some(VerifyError::BadSignature { signer: forger })
        );
        assert_eq!(
            impersonated.clone().verify(&roster).err(),
            Some(VerifyError::BadSignature { signer: target })
        );
        for (b, signer) in [(corrupted, forger), (impersonated, target)] {
            let (verdict, _) = testkit::deliver(&mut engine, &codec::encode(&b).unwrap());
            assert_eq!(
                verdict,
                Some(Validation::Reject(RejectReason::BadSignature { signer }))
            );
        }
        let tally = engine.proposal(&id).unwrap();
        assert_eq!(tally.tally().ballots().count(), 0, "nothing was counted");
    }
}
