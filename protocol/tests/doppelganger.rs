//! Doppelganger detection in the engine: a ballot signed with this node's key that this
//! node did not sign raises [`Event::Doppelganger`]; its own messages echoed back
//! (gossip, catch-up), its restored records, and proposals in its name never do.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::VecDeque;

use common::*;
use proptest::prelude::*;
use swarmvote_protocol::engine::{
    Config, Engine, Event, MessageTag, Output, PeerTag, Record, SyncTag,
};
use swarmvote_protocol::{
    Action, Ballot, Nonce, Payload, ProposalId, Reason, Roster, SignedProposal, UnixMillis, Vote,
    codec,
};

const T0: UnixMillis = UnixMillis(1_700_000_000_000);

fn engine(r: &Roster, i: u32) -> Engine {
    Engine::new(r.clone(), key(i), Config::default()).unwrap()
}

fn drain(e: &mut Engine) -> Vec<Output> {
    std::iter::from_fn(|| e.poll_output()).collect()
}

fn broadcasts(outputs: &[Output]) -> Vec<Vec<u8>> {
    outputs
        .iter()
        .filter_map(|o| match o {
            Output::Broadcast(b) => Some(b.clone()),
            _ => None,
        })
        .collect()
}

fn records(outputs: &[Output]) -> Vec<Record> {
    outputs
        .iter()
        .filter_map(|o| match o {
            Output::Persist(r) => Some(r.clone()),
            _ => None,
        })
        .collect()
}

/// The doppelganger events among `outputs`: (proposal, vote, peer).
fn alarms(outputs: &[Output]) -> Vec<(ProposalId, Vote, Option<PeerTag>)> {
    outputs
        .iter()
        .filter_map(|o| match o {
            Output::Event(Event::Doppelganger {
                proposal,
                vote,
                peer,
            }) => Some((*proposal, *vote, *peer)),
            _ => None,
        })
        .collect()
}

fn deliver(e: &mut Engine, bytes: &[u8]) -> Vec<Output> {
    e.handle_message(T0, PeerTag(9), MessageTag(1), bytes);
    drain(e)
}

fn propose(e: &mut Engine, path: &str) -> (ProposalId, Vec<u8>) {
    let id = e
        .propose(
            T0,
            Action::new("fs.delete").unwrap(),
            Payload::from_value(&serde_json::json!({ "path": path })).unwrap(),
            60_000,
            Nonce([3; 16]),
        )
        .unwrap();
    let b = broadcasts(&drain(e));
    assert_eq!(b.len(), 1);
    (id, b[0].clone())
}

/// Runs catch-up from `from` into `into` until `into` asks nothing more; `into`'s outputs.
fn catch_up(into: &mut Engine, from: &mut Engine) -> Vec<Output> {
    let mut all = Vec::new();
    let mut queue = VecDeque::from([into.sync_request(T0)]);
    let mut rounds = 0;
    while let Some(request) = queue.pop_front() {
        rounds += 1;
        assert!(rounds < 50, "catch-up does not converge");
        from.handle_sync_request(T0, PeerTag(7), SyncTag(1), &request);
        for o in drain(from) {
            if let Output::SyncResponse { response, .. } = o {
                into.handle_sync_response(T0, PeerTag(7), SyncTag(2), response);
            }
        }
        for o in drain(into) {
            match o {
                Output::SyncRequest { request, .. } => queue.push_back(request),
                other => all.push(other),
            }
        }
    }
    all
}

/// Node 0 proposes on a 3-member roster; node 1 holds the proposal and node 0's ballot.
struct Setup {
    r: Roster,
    me: Engine,
    peer: Engine,
    id: ProposalId,
    proposal: SignedProposal,
    own_bytes: Vec<u8>,
    stored: Vec<Record>,
}

fn setup() -> Setup {
    let r = roster(3, "2/3");
    let mut me = engine(&r, 0);
    let mut peer = engine(&r, 1);
    let (_, p) = propose(&mut peer, "/backup");
    let proposal: SignedProposal = codec::decode(&p).unwrap();
    let mut stored = records(&deliver(&mut me, &p));
    let id = proposal.id();
    me.vote(T0, id, Vote::Yes, Some(Reason::new("fine").unwrap()))
        .unwrap();
    let out = drain(&mut me);
    stored.extend(records(&out));
    let own_bytes = broadcasts(&out)[0].clone();
    assert!(alarms(&deliver(&mut peer, &own_bytes)).is_empty());
    Setup {
        r,
        me,
        peer,
        id,
        proposal,
        own_bytes,
        stored,
    }
}

#[test]
fn our_own_ballot_and_proposal_echoed_back_raise_nothing() {
    let mut s = setup();
    // Gossip echo of our ballot.
    assert!(alarms(&deliver(&mut s.me, &s.own_bytes)).is_empty());
    // Our own proposal echoed back.
    let (_, mine) = propose(&mut s.me, "/mine");
    assert!(alarms(&deliver(&mut s.me, &mine)).is_empty());
    let _ = deliver(&mut s.peer, &mine);
    // Catch-up from a peer holding our ballot and our proposal.
    assert!(alarms(&catch_up(&mut s.me, &mut s.peer)).is_empty());
}

#[test]
fn a_restored_node_is_not_alarmed_by_its_own_records_or_their_echoes() {
    let s = setup();
    let mut restarted = engine(&s.r, 0);
    restarted.restore(T0, s.stored.clone());
    assert!(alarms(&drain(&mut restarted)).is_empty());
    assert!(alarms(&deliver(&mut restarted, &s.own_bytes)).is_empty());
    let mut peer = s.peer;
    assert!(alarms(&catch_up(&mut restarted, &mut peer)).is_empty());
}

#[test]
fn a_ballot_in_our_name_that_we_did_not_sign_raises_the_alarm() {
    let s = setup();
    // The same key on another machine, with an empty store, hears our ballot.
    let mut clone = engine(&s.r, 0);
    let _ = deliver(&mut clone, &codec::encode(&s.proposal).unwrap());
    assert_eq!(
        alarms(&deliver(&mut clone, &s.own_bytes)),
        vec![(s.id, Vote::Yes, Some(PeerTag(9)))]
    );
    // The original hears a contradicting ballot signed elsewhere with its key.
    let mut me = s.me;
    let other = codec::encode(&ballot(&s.proposal, 0, Vote::No)).unwrap();
    assert_eq!(
        alarms(&deliver(&mut me, &other)),
        vec![(s.id, Vote::No, Some(PeerTag(9)))]
    );
    // And the same vote with another reason: not the bytes we signed.
    let same_vote = Ballot {
        swarm: s.r.swarm().clone(),
        proposal: s.id,
        voter: key(0).voter_id(),
        vote: Vote::Yes,
        reason: Some(Reason::new("another").unwrap()),
    }
    .sign(&key(0));
    assert_eq!(
        alarms(&deliver(&mut me, &codec::encode(&same_vote).unwrap())),
        vec![(s.id, Vote::Yes, Some(PeerTag(9)))]
    );
}

#[test]
fn catch_up_brings_the_alarm_too() {
    let mut s = setup();
    let mut clone = engine(&s.r, 0);
    let found = alarms(&catch_up(&mut clone, &mut s.peer));
    assert_eq!(found, vec![(s.id, Vote::Yes, Some(PeerTag(7)))]);
}

#[test]
fn a_proposal_in_our_name_that_we_do_not_hold_is_no_proof() {
    // Proposals are not synced before they are broadcast, so a node that crashed may
    // get one of its own back from a peer without holding it: no alarm. A ballot on it
    // in our name that we did not sign is one.
    let s = setup();
    let mut me = s.me;
    let mut clone = engine(&s.r, 0);
    let (id, p) = propose(&mut clone, "/elsewhere");
    assert!(alarms(&deliver(&mut me, &p)).is_empty());
    clone.vote(T0, id, Vote::No, None).unwrap();
    let b = broadcasts(&drain(&mut clone));
    assert_eq!(
        alarms(&deliver(&mut me, &b[0])),
        vec![(id, Vote::No, Some(PeerTag(9)))]
    );
}

#[test]
fn a_ballot_in_our_name_waiting_for_its_proposal_raises_the_alarm_on_release() {
    let s = setup();
    let mut clone = engine(&s.r, 0);
    assert!(alarms(&deliver(&mut clone, &s.own_bytes)).is_empty());
    assert_eq!(
        alarms(&deliver(&mut clone, &codec::encode(&s.proposal).unwrap())),
        vec![(s.id, Vote::Yes, None)]
    );
}

proptest! {
    /// Whatever order our own echoes and the other members' ballots arrive in, with
    /// duplicates, no alarm; add one ballot in our name that we did not sign, and there
    /// is one.
    #[test]
    fn the_alarm_fires_exactly_when_a_foreign_ballot_in_our_name_arrives(
        order in Just((0..6usize).collect::<Vec<_>>()).prop_shuffle(),
        foreign in any::<bool>(),
    ) {
        let s = setup();
        let mut me = s.me;
        let others = [
            codec::encode(&ballot(&s.proposal, 1, Vote::Yes)).unwrap(),
            codec::encode(&ballot(&s.proposal, 2, Vote::No)).unwrap(),
        ];
        let forged = codec::encode(&ballot(&s.proposal, 0, Vote::No)).unwrap();
        let messages = [
            codec::encode(&s.proposal).unwrap(),
            s.own_bytes.clone(),
            others[0].clone(),
            others[1].clone(),
            s.own_bytes.clone(),
            if foreign { forged } else { others[0].clone() },
        ];
        let mut found = Vec::new();
        for i in order {
            found.extend(alarms(&deliver(&mut me, &messages[i])));
        }
        let expected = if foreign { vec![(s.id, Vote::No, Some(PeerTag(9)))] } else { vec![] };
        prop_assert_eq!(found, expected);
    }
}

#[test]
fn a_restored_own_ballot_whose_proposal_comes_back_after_its_echo_raises_nothing() {
    let s = setup();
    // Only the own ballot survived (the proposal record was not stored, or expired).
    let own: Vec<Record> = s
        .stored
        .iter()
        .filter(|r| matches!(r, Record::OwnBallot(_)))
        .cloned()
        .collect();
    let mut restarted = engine(&s.r, 0);
    restarted.restore(T0, own);
    // The echo waits for its proposal, then both meet our restored ballot.
    assert!(alarms(&deliver(&mut restarted, &s.own_bytes)).is_empty());
    assert!(
        alarms(&deliver(
            &mut restarted,
            &codec::encode(&s.proposal).unwrap()
        ))
        .is_empty()
    );
}

#[test]
fn a_paused_engine_signs_nothing_until_resumed() {
    use swarmvote_protocol::engine::{CommandError, Pause};
    let s = setup();
    let mut me = s.me;
    let mut peer = s.peer;
    let (id, p) = propose(&mut peer, "/other");
    let _ = deliver(&mut me, &p);
    for pause in [Pause::Listening, Pause::Doppelganger] {
        me.pause_signing(pause);
        assert_eq!(me.paused(), Some(pause));
        assert_eq!(
            me.vote(T0, id, Vote::Yes, None),
            Err(CommandError::Paused { pause })
        );
        // Not even the ballot it already holds is sent again.
        assert_eq!(
            me.vote(T0, s.id, Vote::Yes, None),
            Err(CommandError::Paused { pause })
        );
        assert!(matches!(
            me.propose(
                T0,
                Action::new("fs.delete").unwrap(),
                Payload::from_value(&serde_json::json!({})).unwrap(),
                60_000,
                Nonce([4; 16]),
            ),
            Err(CommandError::Paused { .. })
        ));
        assert!(broadcasts(&drain(&mut me)).is_empty());
    }
    me.resume_signing();
    assert_eq!(me.paused(), None);
    me.vote(T0, id, Vote::Yes, None).unwrap();
    assert_eq!(broadcasts(&drain(&mut me)).len(), 1);
}
