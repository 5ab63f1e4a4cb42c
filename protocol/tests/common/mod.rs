//! Fixtures shared by the protocol's integration tests: deterministic keys, rosters,
//! proposals and ballots.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use swarmvote_protocol::{
    Action, Ballot, MemberName, Nonce, Payload, Proposal, Quorum, Reason, Roster, SecretKey,
    SignedBallot, SignedProposal, SwarmId, UnixMillis, Verified, Vote,
};

/// The secret key of member `i`, from a fixed seed.
pub fn key(i: u32) -> SecretKey {
    let mut seed = [0u8; 32];
    seed[..4].copy_from_slice(&i.to_le_bytes());
    seed[31] = 0x5a;
    SecretKey::from_seed(seed)
}

/// A swarm id.
pub fn swarm(name: &str) -> SwarmId {
    SwarmId::new(name).unwrap()
}

/// Members 0..n named `m0`, `m1`, ….
pub fn roster_in(swarm_name: &str, n: u32, quorum: &str) -> Roster {
    let quorum: Quorum = quorum.parse().unwrap();
    Roster::new(
        swarm(swarm_name),
        quorum,
        (0..n).map(|i| {
            (
                MemberName::new(format!("m{i}")).unwrap(),
                key(i).public().unwrap(),
            )
        }),
    )
    .unwrap()
}

/// A roster in swarm `test`.
pub fn roster(n: u32, quorum: &str) -> Roster {
    roster_in("test", n, quorum)
}

/// An unsigned proposal by member `proposer`.
pub fn draft(roster: &Roster, proposer: u32, payload: &str) -> Proposal {
    Proposal {
        swarm: roster.swarm().clone(),
        roster: roster.digest(),
        proposer: key(proposer).voter_id(),
        action: Action::new("fs.delete").unwrap(),
        payload: Payload::from_json_text(payload).unwrap(),
        created_at: UnixMillis(1_700_000_000_000),
        expires_at: UnixMillis(1_700_000_060_000),
        nonce: Nonce([7; 16]),
    }
}

/// A proposal signed by member 0.
pub fn proposal(roster: &Roster) -> SignedProposal {
    draft(roster, 0, r#"{"path":"/backup"}"#)
        .sign(&key(0))
        .unwrap()
}

/// A verified proposal signed by member 0.
pub fn verified_proposal(roster: &Roster) -> Verified<SignedProposal> {
    proposal(roster).verify(roster).unwrap()
}

/// Member `i`'s ballot on `proposal`.
pub fn ballot(proposal: &SignedProposal, i: u32, vote: Vote) -> SignedBallot {
    Ballot {
        swarm: proposal.proposal().swarm.clone(),
        proposal: proposal.id(),
        voter: key(i).voter_id(),
        vote,
        reason: None,
    }
    .sign(&key(i))
}

/// Member `i`'s ballot with a reason.
pub fn ballot_with_reason(
    proposal: &SignedProposal,
    i: u32,
    vote: Vote,
    reason: &str,
) -> SignedBallot {
    Ballot {
        swarm: proposal.proposal().swarm.clone(),
        proposal: proposal.id(),
        voter: key(i).voter_id(),
        vote,
        reason: Some(Reason::new(reason).unwrap()),
    }
    .sign(&key(i))
}

/// Encoded gossip for every ballot members `0..n` can cast on `proposal`: a YES, a
/// second YES with a reason, and a NO each (so duplicates, replacements and
/// equivocations all occur when they are mixed).
pub fn ballot_variants(proposal: &SignedProposal, n: u32) -> Vec<Vec<u8>> {
    use swarmvote_protocol::codec;
    (0..n)
        .flat_map(|m| {
            [
                ballot(proposal, m, Vote::Yes),
                ballot_with_reason(proposal, m, Vote::Yes, "r"),
                ballot(proposal, m, Vote::No),
            ]
        })
        .map(|b| codec::encode(&b).unwrap())
        .collect()
}
