//! The drain's order, with a fake store and a fake network: records are durable before
//! anything is broadcast, and a vote's reply waits until its ballot is durable.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::cell::RefCell;
use std::rc::Rc;

use swarmvote_protocol::engine::{Config as EngineConfig, Record};
use swarmvote_protocol::{
    Action, MemberName, Payload, ProposalId, Quorum, Roster, SecretKey, SwarmId, UnixMillis, Vote,
};

use super::*;

#[derive(Clone, Debug, PartialEq)]
enum Op {
    Apply,
    Sync,
    Broadcast,
    Validation,
    Reply,
}

type Log = Rc<RefCell<Vec<Op>>>;

struct FakeStore {
    log: Log,
    fail_sync: bool,
}

impl Durable for FakeStore {
    fn apply(&mut self, _: &Record) -> Result<(), StoreError> {
        self.log.borrow_mut().push(Op::Apply);
        Ok(())
    }

    fn sync(&mut self) -> Result<(), StoreError> {
        if self.fail_sync {
            return Err(StoreError::Io {
                path: "journal".into(),
                source: std::io::Error::other("disk gone"),
            });
        }
        self.log.borrow_mut().push(Op::Sync);
        Ok(())
    }
}

struct FakeNet {
    log: Log,
}

impl Effects for FakeNet {
    fn broadcast(&mut self, _: Vec<u8>) {
        self.log.borrow_mut().push(Op::Broadcast);
    }

    fn validation(&mut self, _: MessageTag, _: Validation) {
        self.log.borrow_mut().push(Op::Validation);
    }

    fn reply(&mut self, reply: PendingReply) {
        self.log.borrow_mut().push(Op::Reply);
        match reply {
            PendingReply::Vote(tx, result) => {
                let _ = tx.send(result);
            }
        }
    }

    fn sync_answer(&mut self, _: PeerTag, _: SyncTag, _: SyncResponse) {
        self.log.borrow_mut().push(Op::Broadcast);
    }

    fn sync_request(&mut self, _: PeerTag, _: SyncRequest) {
        self.log.borrow_mut().push(Op::Broadcast);
    }
}

/// A two-member swarm (both must approve) from member 0's side, with one proposal of its own.
fn engine() -> (Engine, ProposalId) {
    let keys = [SecretKey::from_seed([1; 32]), SecretKey::from_seed([2; 32])];
    let roster = Roster::new(
        SwarmId::new("t").unwrap(),
        "1".parse::<Quorum>().unwrap(),
        vec![
            (MemberName::new("a").unwrap(), keys[0].public().unwrap()),
            (MemberName::new("b").unwrap(), keys[1].public().unwrap()),
        ],
    )
    .unwrap();
    let [key, _] = keys;
    let mut engine = Engine::new(roster, key, EngineConfig::default()).unwrap();
    let id = engine
        .propose(
            UnixMillis(1_000),
            Action::new("deploy").unwrap(),
            Payload::from_json_text("{}").unwrap(),
            60_000,
            Nonce([1; 16]),
        )
        .unwrap();
    (engine, id)
}

fn fakes(fail_sync: bool) -> (Log, FakeStore, FakeNet) {
    let log = Log::default();
    let store = FakeStore {
        log: log.clone(),
        fail_sync,
    };
    let net = FakeNet { log: log.clone() };
    (log, store, net)
}

#[test]
fn records_are_durable_before_anything_is_broadcast() {
    let (mut engine, id) = engine();
    engine.vote(UnixMillis(1_001), id, Vote::Yes, None).unwrap();
    let (log, mut store, mut net) = fakes(false);
    drain_round(&mut engine, &mut store, &mut net, &mut Vec::new()).unwrap();
    let log = log.borrow();
    let first_broadcast = log.iter().position(|o| *o == Op::Broadcast).unwrap();
    let last_record = log
        .iter()
        .rposition(|o| matches!(o, Op::Apply | Op::Sync))
        .unwrap();
    assert!(log.contains(&Op::Sync), "{log:?}");
    assert!(last_record < first_broadcast, "{log:?}");
    assert_eq!(log.iter().filter(|o| **o == Op::Broadcast).count(), 2);
}

/// What a vote round left: the drain's result, the log, the held replies, the reply.
type VoteRound = (
    Result<Vec<Event>, StoreError>,
    Vec<Op>,
    Vec<PendingReply>,
    oneshot::Receiver<Result<SignedBallot, CommandError>>,
);

/// A vote command's round: the proposal already drained, the vote cast and its reply
/// held, then one drain round with a store whose sync fails or not.
fn vote_round(fail_sync: bool) -> VoteRound {
    let (mut engine, id) = engine();
    // What the loop did with a previous round's outputs.
    let (_, mut store, mut net) = fakes(false);
    drain_round(&mut engine, &mut store, &mut net, &mut Vec::new()).unwrap();
    let (tx, rx) = oneshot::channel();
    let result = engine.vote(UnixMillis(1_001), id, Vote::Yes, None);
    let mut replies = vec![PendingReply::Vote(tx, result)];
    let (log, mut store, mut net) = fakes(fail_sync);
    let drained = drain_round(&mut engine, &mut store, &mut net, &mut replies);
    let log = log.borrow().clone();
    (drained, log, replies, rx)
}

#[test]
fn a_vote_reply_waits_until_its_ballot_is_durable() {
    let (drained, log, _, mut rx) = vote_round(false);
    drained.unwrap();
    let sync = log.iter().position(|o| *o == Op::Sync).unwrap();
    let reply = log.iter().position(|o| *o == Op::Reply).unwrap();
    assert!(sync < reply, "{log:?}");
    assert!(rx.try_recv().unwrap().is_ok());
}

#[test]
fn no_reply_and_no_broadcast_when_the_ballot_cannot_be_made_durable() {
    let (drained, log, replies, mut rx) = vote_round(true);
    assert!(drained.is_err());
    assert!(!log.contains(&Op::Reply), "{log:?}");
    assert!(!log.contains(&Op::Broadcast), "{log:?}");
    assert_eq!(replies.len(), 1, "the reply stays held");
    assert!(rx.try_recv().is_err());
}
