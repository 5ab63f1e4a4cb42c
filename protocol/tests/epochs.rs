//! Roster epochs in the engine: a change approved by a quorum moves every engine to the
//! next roster; proposals are judged by the roster they name; stale and conflicting
//! changes; removed and rotated keys; the chain through catch-up, and forged steps.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{key, roster};
use proptest::prelude::*;
use swarmvote_protocol::chain::{ChainError, ROSTER_ACTION, RosterChain};
use swarmvote_protocol::codec;
use swarmvote_protocol::engine::{
    CommandError, Config, Engine, Event, IgnoreReason, MessageTag, Output, PeerTag, Record,
    RejectReason, SyncRequest, SyncResponse, SyncTag, Validation,
};
use swarmvote_protocol::roster::document::MemberDocument;
use swarmvote_protocol::{
    Action, Certificate, Nonce, Payload, ProposalId, Roster, SecretKey, UnixMillis, Verdict, Vote,
};

const T0: UnixMillis = UnixMillis(1_700_000_000_000);
const TTL: u64 = 60_000;

fn engine_with(chain: RosterChain, k: SecretKey) -> Engine {
    Engine::with_chain(chain, k, Config::default()).unwrap()
}

fn engine(r: &Roster, i: u32) -> Engine {
    Engine::new(r.clone(), key(i), Config::default()).unwrap()
}

fn drain(e: &mut Engine) -> Vec<Output> {
    std::iter::from_fn(|| e.poll_output()).collect()
}

fn broadcasts(out: &[Output]) -> Vec<Vec<u8>> {
    out.iter()
        .filter_map(|o| match o {
            Output::Broadcast(b) => Some(b.clone()),
            _ => None,
        })
        .collect()
}

fn deliver(e: &mut Engine, bytes: &[u8]) -> Vec<Output> {
    e.handle_message(T0, PeerTag(1), MessageTag(0), bytes);
    drain(e)
}

fn validation(out: &[Output]) -> Validation {
    out.iter()
        .find_map(|o| match o {
            Output::Validation { result, .. } => Some(result.clone()),
            _ => None,
        })
        .unwrap()
}

/// Every broadcast of every engine to every other engine, until nothing new is sent.
fn gossip(engines: &mut [Engine], mut pending: Vec<Vec<u8>>) {
    while !pending.is_empty() {
        let mut next = Vec::new();
        for bytes in &pending {
            for e in engines.iter_mut() {
                next.extend(broadcasts(&deliver(e, bytes)));
            }
        }
        pending = next;
    }
}

/// The next roster: `f` edits the current roster's document; epoch and previous follow.
fn next_payload(
    current: &Roster,
    f: impl FnOnce(&mut swarmvote_protocol::RosterDocument),
) -> Payload {
    let mut doc = current.to_document();
    doc.epoch = current.epoch() + 1;
    doc.previous = Some(current.digest().to_string());
    f(&mut doc);
    Payload::from_value(&serde_json::to_value(&doc).unwrap()).unwrap()
}

fn add_member(i: u32) -> impl FnOnce(&mut swarmvote_protocol::RosterDocument) {
    move |doc| {
        doc.members.push(MemberDocument {
            name: format!("m{i}"),
            key: key(i).public().unwrap().to_string(),
        })
    }
}

fn propose(e: &mut Engine, action: &str, payload: Payload, nonce: u8) -> (ProposalId, Vec<u8>) {
    let id = e
        .propose(
            T0,
            Action::new(action).unwrap(),
            payload,
            TTL,
            Nonce([nonce; 16]),
        )
        .unwrap();
    let b = broadcasts(&drain(e)).pop().unwrap();
    (id, b)
}

fn vote(e: &mut Engine, id: ProposalId, v: Vote) -> Vec<u8> {
    e.vote(T0, id, v, None).unwrap();
    broadcasts(&drain(e)).pop().unwrap()
}

fn plain(nonce: u8) -> Payload {
    Payload::from_json_text(&format!(r#"{{"n":{nonce}}}"#)).unwrap()
}

/// Three engines at epoch 0 approve adding m3; returns them and the change's certificate.
fn three_add_a_fourth() -> (Vec<Engine>, Certificate) {
    let r = roster(3, "2/3");
    let mut es: Vec<Engine> = (0..3).map(|i| engine(&r, i)).collect();
    let (id, p) = propose(
        &mut es[0],
        ROSTER_ACTION,
        next_payload(&r, add_member(3)),
        1,
    );
    gossip(&mut es, vec![p]);
    let mut votes = Vec::new();
    for e in es.iter_mut() {
        votes.push(vote(e, id, Vote::Yes));
    }
    gossip(&mut es, votes);
    let cert = es[0].proposal(&id).unwrap().certificate().unwrap();
    (es, cert)
}

#[test]
fn an_approved_change_moves_every_engine_to_the_next_epoch() {
    let (mut es, cert) = three_add_a_fourth();
    for e in &es {
        assert_eq!(e.roster().epoch(), 1);
        assert_eq!(e.roster().len(), 4);
        assert_eq!(e.roster().previous(), Some(e.chain().genesis().digest()));
    }
    // The certificate is the proof of the step: a fresh chain built from genesis and it
    // reaches the same head, and so does the new member's engine.
    let genesis = es[0].chain().genesis().clone();
    let chain = RosterChain::from_steps(genesis.clone(), [cert.clone()]).unwrap();
    assert_eq!(chain.head().digest(), es[0].roster().digest());
    let mut m3 = engine_with(chain, key(3));
    assert!(Engine::new(genesis, key(3), Config::default()).is_err());
    // New proposals name epoch 1, and q is now 3 of 4.
    let (id, p) = propose(&mut es[1], "fs.delete", plain(9), 9);
    let proposal: swarmvote_protocol::SignedProposal = codec::decode(&p).unwrap();
    assert_eq!(proposal.proposal().roster, es[1].roster().digest());
    es.push(m3);
    gossip(&mut es, vec![p]);
    let votes = vec![
        vote(&mut es[1], id, Vote::Yes),
        vote(&mut es[3], id, Vote::Yes),
    ];
    gossip(&mut es, votes);
    assert_eq!(
        es[0].proposal(&id).unwrap().tally().verdict(),
        Verdict::Pending
    );
    let v = vote(&mut es[2], id, Vote::Yes);
    gossip(&mut es, vec![v]);
    for e in &es {
        assert_eq!(
            e.proposal(&id).unwrap().tally().verdict(),
            Verdict::Approved
        );
    }
    m3 = es.pop().unwrap();
    assert_eq!(m3.roster().epoch(), 1);
}

#[test]
fn the_step_is_persisted_and_restored() {
    let r = roster(3, "2/3");
    let mut voters: Vec<Engine> = (1..3).map(|i| engine(&r, i)).collect();
    let (c, pc) = propose(
        &mut voters[0],
        ROSTER_ACTION,
        next_payload(&r, add_member(3)),
        1,
    );
    gossip(&mut voters, vec![pc.clone()]);
    let yes: Vec<Vec<u8>> = voters.iter_mut().map(|e| vote(e, c, Vote::Yes)).collect();
    // Engine 0 hears it all; keep what it asks to persist.
    let mut e0 = engine(&r, 0);
    let mut records: Vec<Record> = Vec::new();
    for m in std::iter::once(&pc).chain(&yes) {
        for o in deliver(&mut e0, m) {
            if let Output::Persist(rec) = o {
                records.push(rec);
            }
        }
    }
    assert_eq!(e0.roster().epoch(), 1);
    assert_eq!(
        records
            .iter()
            .filter(|r| matches!(r, Record::RosterStep(_)))
            .count(),
        1
    );
    // A proposal under epoch 1, stored after the step.
    let (p1, b1) = propose(&mut voters[1], "fs.delete", plain(5), 5);
    for o in deliver(&mut e0, &b1) {
        if let Output::Persist(rec) = o {
            records.push(rec);
        }
    }
    // Restored from genesis in any record order, the engine rebuilds the chain first.
    records.reverse();
    let mut restored = engine(&r, 0);
    let report = restored.restore(T0, records);
    assert_eq!(report.steps, 1, "{report:?}");
    assert!(report.skipped.is_empty(), "{report:?}");
    assert_eq!(restored.roster().digest(), e0.roster().digest());
    assert!(restored.proposal(&p1).is_some());
}

#[test]
fn a_change_must_be_a_valid_successor() {
    let r = roster(3, "2/3");
    let mut a = engine(&r, 0);
    // Wrong epoch, wrong previous, another swarm, an impossible roster: refused locally.
    let bad_epoch = next_payload(&r, |d| d.epoch = 5);
    let err = a
        .propose(
            T0,
            Action::new(ROSTER_ACTION).unwrap(),
            bad_epoch,
            TTL,
            Nonce([1; 16]),
        )
        .unwrap_err();
    assert!(matches!(err, CommandError::Change(_)), "{err}");
    assert!(err.to_string().contains("epoch"), "{err}");
    let no_previous = next_payload(&r, |d| d.previous = None);
    let err = a
        .propose(
            T0,
            Action::new(ROSTER_ACTION).unwrap(),
            no_previous,
            TTL,
            Nonce([2; 16]),
        )
        .unwrap_err();
    assert!(err.to_string().contains("previous"), "{err}");
    let impossible = next_payload(&r, |d| {
        d.four_eyes = true;
        d.quorum = swarmvote_protocol::roster::document::QuorumValue::Text("1".into());
    });
    let err = a
        .propose(
            T0,
            Action::new(ROSTER_ACTION).unwrap(),
            impossible,
            TTL,
            Nonce([3; 16]),
        )
        .unwrap_err();
    assert!(err.to_string().contains("four-eyes"), "{err}");
    let other = Payload::from_json_text(r#"{"not":"a roster"}"#).unwrap();
    assert!(
        a.propose(
            T0,
            Action::new(ROSTER_ACTION).unwrap(),
            other,
            TTL,
            Nonce([4; 16])
        )
        .is_err()
    );
    let err = a
        .propose(
            T0,
            Action::new("swarmvote.other").unwrap(),
            plain(1),
            TTL,
            Nonce([5; 16]),
        )
        .unwrap_err();
    assert!(err.to_string().contains("reserved"), "{err}");
    // A peer's invalid change is a fault: rejected at admission.
    let forged = swarmvote_protocol::Proposal {
        swarm: r.swarm().clone(),
        roster: r.digest(),
        proposer: key(1).voter_id(),
        action: Action::new(ROSTER_ACTION).unwrap(),
        payload: next_payload(&r, |d| d.epoch = 7),
        created_at: T0,
        expires_at: UnixMillis(T0.0 + TTL),
        nonce: Nonce([6; 16]),
    }
    .sign(&key(1))
    .unwrap();
    assert!(matches!(
        validation(&deliver(&mut a, &codec::encode(&forged).unwrap())),
        Validation::Reject(RejectReason::InvalidChange(_))
    ));
}

/// Two changes made under `r` (epoch 0): engine 0 adds m3, engine 1 adds m4.
fn two_changes(r: &Roster, es: &mut [Engine]) -> ((ProposalId, Vec<u8>), (ProposalId, Vec<u8>)) {
    let a = propose(&mut es[0], ROSTER_ACTION, next_payload(r, add_member(3)), 1);
    let b = propose(&mut es[1], ROSTER_ACTION, next_payload(r, add_member(4)), 2);
    (a, b)
}

#[test]
fn a_change_under_a_stale_epoch_gets_no_yes() {
    let r = roster(3, "2/3");
    let mut es: Vec<Engine> = (0..3).map(|i| engine(&r, i)).collect();
    // Two changes made under epoch 0; the first is approved.
    let ((a, pa), (b, pb)) = two_changes(&r, &mut es);
    gossip(&mut es, vec![pa, pb]);
    let votes = vec![
        vote(&mut es[0], a, Vote::Yes),
        vote(&mut es[2], a, Vote::Yes),
    ];
    gossip(&mut es, votes);
    assert_eq!(es[2].roster().epoch(), 1);
    // b is now stale: nobody signs YES for it (a NO is fine).
    let err = es[2].vote(T0, b, Vote::Yes, None).unwrap_err();
    assert!(
        matches!(
            err,
            CommandError::StaleChange {
                epoch: 0,
                head: 1,
                ..
            }
        ),
        "{err}"
    );
    es[2].vote(T0, b, Vote::No, None).unwrap();
}

#[test]
fn one_yes_per_epoch_on_changes() {
    let r = roster(3, "2/3");
    let mut es: Vec<Engine> = (0..3).map(|i| engine(&r, i)).collect();
    let ((a, pa), (b, pb)) = two_changes(&r, &mut es);
    gossip(&mut es, vec![pa, pb]);
    es[2].vote(T0, a, Vote::Yes, None).unwrap();
    let err = es[2].vote(T0, b, Vote::Yes, None).unwrap_err();
    assert_eq!(
        err,
        CommandError::ChangeConflict {
            proposal: b,
            other: a
        }
    );
}

/// With a change quorum of 1/3 two changes at one epoch can both be approved; every
/// engine ends on the lower id's roster, whichever it learnt first.
#[test]
fn of_two_approved_changes_at_one_epoch_the_lower_id_wins() {
    let r = roster(3, "1/3");
    let mut es: Vec<Engine> = (0..3).map(|i| engine(&r, i)).collect();
    let ((a, pa), (b, pb)) = two_changes(&r, &mut es);
    let ya = vote(&mut es[0], a, Vote::Yes);
    let yb = vote(&mut es[1], b, Vote::Yes);
    let winner = a.min(b);
    // Engine 2 learns b first, a fresh engine learns a first.
    let mut first_b = engine(&r, 2);
    for m in [&pb, &yb, &pa, &ya] {
        deliver(&mut first_b, m);
    }
    let mut first_a = engine(&r, 2);
    for m in [&pa, &ya, &pb, &yb] {
        deliver(&mut first_a, m);
    }
    for e in [&first_a, &first_b] {
        assert_eq!(e.roster().epoch(), 1);
        let step = e.chain().main_steps().next().unwrap();
        assert_eq!(step.proposal(), winner);
        // Both rosters are known: proposals under the loser are still judged.
        assert_eq!(e.chain().all_steps().count(), 2);
    }
    assert_eq!(first_a.roster().digest(), first_b.roster().digest());
}

#[test]
fn a_removed_key_no_longer_counts_and_gets_no_help() {
    let r = roster(4, "1/2");
    let mut es: Vec<Engine> = (0..4).map(|i| engine(&r, i)).collect();
    // m3's key is stolen: before the removal lands, it proposes under epoch 0.
    let (old, p_old) = propose(&mut es[3], "fs.delete", plain(3), 3);
    gossip(&mut es, vec![p_old]);
    let (c, pc) = propose(
        &mut es[0],
        ROSTER_ACTION,
        next_payload(&r, |d| d.members.retain(|m| m.name != "m3")),
        1,
    );
    gossip(&mut es, vec![pc]);
    let votes = vec![
        vote(&mut es[0], c, Vote::Yes),
        vote(&mut es[1], c, Vote::Yes),
    ];
    gossip(&mut es, votes);
    assert_eq!(es[0].roster().len(), 3);
    // Honest nodes sign nothing for the removed member's old-epoch proposal.
    let err = es[1].vote(T0, old, Vote::Yes, None).unwrap_err();
    assert!(matches!(err, CommandError::ProposerRemoved { .. }), "{err}");
    // Under epoch 1 its ballots are not a member's: refused.
    let (id, p) = propose(&mut es[0], "fs.delete", plain(7), 7);
    gossip(&mut es, vec![p]);
    let stolen = swarmvote_protocol::Ballot {
        swarm: r.swarm().clone(),
        proposal: id,
        voter: key(3).voter_id(),
        vote: Vote::Yes,
        reason: None,
    }
    .sign(&key(3));
    assert!(matches!(
        validation(&deliver(&mut es[1], &codec::encode(&stolen).unwrap())),
        Validation::Reject(RejectReason::NotAMember { .. })
    ));
    assert!(es[1].proposal(&id).unwrap().tally().outcome().yes.len() <= 1);
    // And m3's own engine can no longer propose.
    assert!(matches!(
        es[3].propose(T0, Action::new("x").unwrap(), plain(1), TTL, Nonce([9; 16])),
        Err(CommandError::NotAMember { .. })
    ));
}

#[test]
fn a_rotated_key_votes_under_the_new_epoch() {
    let r = roster(3, "2/3");
    let mut es: Vec<Engine> = (0..3).map(|i| engine(&r, i)).collect();
    let new_key = key(11);
    let (c, pc) = propose(
        &mut es[0],
        ROSTER_ACTION,
        next_payload(&r, |d| {
            for m in &mut d.members {
                if m.name == "m2" {
                    m.key = new_key.public().unwrap().to_string();
                }
            }
        }),
        1,
    );
    gossip(&mut es, vec![pc]);
    let votes = vec![
        vote(&mut es[0], c, Vote::Yes),
        vote(&mut es[1], c, Vote::Yes),
    ];
    gossip(&mut es, votes);
    let chain = es[0].chain().clone();
    let mut rotated = engine_with(chain, new_key);
    let (id, p) = propose(&mut es[0], "fs.delete", plain(4), 4);
    deliver(&mut rotated, &p);
    let y = vote(&mut rotated, id, Vote::Yes);
    let y0 = vote(&mut es[0], id, Vote::Yes);
    deliver(&mut es[1], &p);
    deliver(&mut es[1], &y);
    deliver(&mut es[1], &y0);
    assert_eq!(
        es[1].proposal(&id).unwrap().tally().verdict(),
        Verdict::Approved
    );
    // The old key's ballot under epoch 1 is refused.
    assert!(matches!(
        es[2].vote(T0, id, Vote::Yes, None),
        Err(CommandError::UnknownProposal { .. }) | Err(CommandError::NotAMember { .. })
    ));
}

/// Drives catch-up from `late` against `peer` until neither has a follow-up; returns how
/// many roster-steps requests `late` sent.
fn catch_up(late: &mut Engine, peer: &mut Engine, now: UnixMillis) -> usize {
    let tag = PeerTag(7);
    let mut requests = vec![late.sync_request(now)];
    let (mut rounds, mut steps_asked) = (0, 0);
    while let Some(req) = requests.pop() {
        rounds += 1;
        assert!(rounds < 50, "catch-up does not converge");
        steps_asked += usize::from(matches!(req, SyncRequest::Steps { .. }));
        peer.handle_sync_request(now, tag, SyncTag(0), &req);
        let answer = drain(peer)
            .into_iter()
            .find_map(|o| match o {
                Output::SyncResponse { response, .. } => Some(response),
                _ => None,
            })
            .unwrap();
        late.handle_sync_response(now, tag, SyncTag(0), answer);
        for o in drain(late) {
            if let Output::SyncRequest { request, .. } = o {
                requests.push(request);
            }
        }
    }
    steps_asked
}

/// A node that missed two roster changes (and every proposal) catches up from one peer:
/// its catch-up meets proposals under an unknown roster, asks for the chain's steps,
/// verifies each against the roster before it, then fetches what the new rosters judge.
#[test]
fn a_lagging_engine_fetches_the_chain_through_catch_up() {
    // 1/2: two of the three old members still approve at four members.
    let r = roster(3, "1/2");
    let mut es: Vec<Engine> = (0..2).map(|i| engine(&r, i)).collect();
    for (n, epoch_member) in [(1u8, 3u32), (2, 4)] {
        let head = es[0].roster().clone();
        let (c, pc) = propose(
            &mut es[0],
            ROSTER_ACTION,
            next_payload(&head, add_member(epoch_member)),
            n,
        );
        gossip(&mut es, vec![pc]);
        let votes = vec![
            vote(&mut es[0], c, Vote::Yes),
            vote(&mut es[1], c, Vote::Yes),
        ];
        gossip(&mut es, votes);
    }
    assert_eq!(es[0].roster().epoch(), 2);
    let (id, p) = propose(&mut es[0], "fs.delete", plain(8), 8);
    gossip(&mut es, vec![p]);
    let mut late = engine(&r, 2);
    let steps_asked = catch_up(&mut late, &mut es[0], T0);
    assert_eq!(late.roster().epoch(), 2);
    assert!(steps_asked > 0, "the chain came through a steps request");
    assert_eq!(late.roster().digest(), es[0].roster().digest());
    assert!(
        late.proposal(&id).is_some(),
        "the epoch-2 proposal came after the steps"
    );
}

/// The same, when the peer no longer holds the change proposals (past their retention):
/// only the steps themselves bring the chain.
#[test]
fn a_lagging_engine_gets_pruned_changes_as_steps() {
    let r = roster(3, "1/2");
    let config = Config {
        retention_ms: 1_000,
        ..Config::default()
    };
    let mut es: Vec<Engine> = (0..2)
        .map(|i| Engine::new(r.clone(), key(i), config.clone()).unwrap())
        .collect();
    for (n, member) in [(1u8, 3u32), (2, 4)] {
        let head = es[0].roster().clone();
        let (c, pc) = propose(
            &mut es[0],
            ROSTER_ACTION,
            next_payload(&head, add_member(member)),
            n,
        );
        gossip(&mut es, vec![pc]);
        let votes = vec![
            vote(&mut es[0], c, Vote::Yes),
            vote(&mut es[1], c, Vote::Yes),
        ];
        gossip(&mut es, votes);
    }
    // Long after: the changes left memory, the chain stays.
    let later = UnixMillis(T0.0 + TTL + 10_000);
    es[0].tick(later);
    drain(&mut es[0]);
    assert_eq!(es[0].proposals().count(), 0);
    assert_eq!(es[0].roster().epoch(), 2);
    let id = es[0]
        .propose(
            later,
            Action::new("fs.delete").unwrap(),
            plain(8),
            TTL,
            Nonce([8; 16]),
        )
        .unwrap();
    drain(&mut es[0]);
    let mut late = Engine::new(r, key(2), config).unwrap();
    assert!(catch_up(&mut late, &mut es[0], later) > 0);
    assert_eq!(late.roster().epoch(), 2);
    assert_eq!(late.roster().digest(), es[0].roster().digest());
    assert!(late.proposal(&id).is_some());
}

#[test]
fn a_forged_step_is_refused() {
    let (es, cert) = three_add_a_fourth();
    let r = es[0].chain().genesis().clone();
    // Drop a ballot: below the change tier's q.
    let short = Certificate::new(cert.proposal().clone(), cert.ballots()[..1].to_vec());
    let mut late = engine(&r, 2);
    late.handle_sync_response(
        T0,
        PeerTag(3),
        SyncTag(0),
        SyncResponse::Steps(vec![short.clone()]),
    );
    let out = drain(&mut late);
    assert!(out.iter().any(|o| matches!(
        o,
        Output::Event(Event::InvalidMessage {
            reason: RejectReason::InvalidStep(_),
            ..
        })
    )));
    assert_eq!(late.roster().epoch(), 0);
    assert!(matches!(
        RosterChain::from_steps(r.clone(), [short]),
        Err(ChainError::Certificate { .. })
    ));
    // A certificate for an ordinary action is no step.
    let mut a = engine(&r, 0);
    let (id, p) = propose(&mut a, "fs.delete", plain(1), 1);
    let mut b = engine(&r, 1);
    deliver(&mut b, &p);
    let yb = vote(&mut b, id, Vote::Yes);
    a.vote(T0, id, Vote::Yes, None).unwrap();
    deliver(&mut a, &yb);
    let ordinary = a.proposal(&id).unwrap().certificate().unwrap();
    assert!(matches!(
        RosterChain::from_steps(r.clone(), [ordinary]),
        Err(ChainError::NotAChange { .. })
    ));
    // A step whose parent is missing (a truncated chain) is refused.
    let (es2, _) = three_add_a_fourth();
    let mut es2 = es2;
    let head = es2[0].roster().clone();
    let (c2, pc2) = propose(
        &mut es2[0],
        ROSTER_ACTION,
        next_payload(&head, add_member(5)),
        2,
    );
    gossip(&mut es2, vec![pc2]);
    let votes: Vec<_> = (0..3).map(|i| vote(&mut es2[i], c2, Vote::Yes)).collect();
    gossip(&mut es2, votes);
    let second = es2[0].proposal(&c2).unwrap().certificate().unwrap();
    assert!(matches!(
        RosterChain::from_steps(r, [second]),
        Err(ChainError::UnknownRoster { .. })
    ));
}

/// A member-to-be: `with_chain` refuses a key no roster lists, `joining` starts it; it
/// signs nothing until the step that adds it arrives (here through catch-up), and then
/// its YES counts under the new epoch.
#[test]
fn a_joining_engine_signs_nothing_until_a_step_adds_it() {
    let (mut es, cert) = three_add_a_fourth();
    let genesis = es[0].chain().genesis().clone();
    assert!(matches!(
        Engine::with_chain(
            RosterChain::new(genesis.clone()).unwrap(),
            key(3),
            Config::default()
        ),
        Err(swarmvote_protocol::engine::EngineError::NotAMember { .. })
    ));
    let mut joiner = Engine::joining(
        RosterChain::new(genesis.clone()).unwrap(),
        key(3),
        Config::default(),
    );
    assert_eq!(joiner.voter_id(), key(3).voter_id());
    // Before the step: no proposal of its own, no ballot on a genesis proposal.
    assert!(matches!(
        joiner.propose(
            T0,
            Action::new("fs.delete").unwrap(),
            plain(1),
            TTL,
            Nonce([1; 16])
        ),
        Err(CommandError::NotAMember { .. })
    ));
    let (old, p_old) = propose(&mut es[1], "fs.delete", plain(2), 2);
    // es[1] is at epoch 1: the joiner cannot place it yet.
    assert_eq!(
        validation(&deliver(&mut joiner, &p_old)),
        Validation::Ignore(IgnoreReason::UnknownRoster)
    );
    assert!(matches!(
        joiner.vote(T0, old, Vote::Yes, None),
        Err(CommandError::UnknownProposal { .. })
    ));
    // The step through catch-up: the joiner is now a member of the head roster.
    joiner.handle_sync_response(T0, PeerTag(2), SyncTag(0), SyncResponse::Steps(vec![cert]));
    let out = drain(&mut joiner);
    assert!(out.iter().any(|o| matches!(
        o,
        Output::Event(Event::EpochChanged {
            epoch: 1,
            member: true,
            ..
        })
    )));
    assert_eq!(joiner.roster().digest(), es[0].roster().digest());
    // n = 4 at 2/3: three YES approve, and the joiner's is one of them.
    let (id, p) = propose(&mut es[0], "fs.delete", plain(3), 3);
    deliver(&mut joiner, &p);
    deliver(&mut es[1], &p);
    let yes = vec![
        vote(&mut joiner, id, Vote::Yes),
        vote(&mut es[0], id, Vote::Yes),
        vote(&mut es[1], id, Vote::Yes),
    ];
    // es[2] gets the ballots before the proposal: held, then counted.
    for y in &yes {
        deliver(&mut es[2], y);
    }
    deliver(&mut es[2], &p);
    let view = es[2].proposal(&id).unwrap();
    assert_eq!(view.tally().verdict(), Verdict::Approved);
    let cert = view.certificate().unwrap();
    assert!(
        cert.ballots()
            .iter()
            .any(|b| b.ballot().voter == key(3).voter_id())
    );
}

#[test]
fn proposals_under_an_unknown_roster_are_ignored_not_rejected() {
    let (mut es, _) = three_add_a_fourth();
    let (_, p) = propose(&mut es[0], "fs.delete", plain(2), 2);
    let mut behind = engine(es[0].chain().genesis(), 1);
    assert_eq!(
        validation(&deliver(&mut behind, &p)),
        Validation::Ignore(IgnoreReason::UnknownRoster)
    );
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, .. ProptestConfig::default() })]

    /// Proposals in flight on both sides of a change: delivered to a fresh engine in any
    /// order (what it cannot place yet comes again, as catch-up would bring it), it ends
    /// with the same head and the same tallies as an engine that saw them in order.
    #[test]
    fn epoch_transitions_with_proposals_in_flight_converge(
        order in Just(()).prop_perturb(|_, mut rng| {
            let mut v: Vec<usize> = (0..64).collect();
            for i in (1..v.len()).rev() {
                v.swap(i, (rng.next_u32() as usize) % (i + 1));
            }
            v
        }),
    ) {
        let r = roster(3, "2/3");
        let mut es: Vec<Engine> = (0..3).map(|i| engine(&r, i)).collect();
        let mut log: Vec<Vec<u8>> = Vec::new();
        // Epoch 0: a proposal in flight, then the change, then one more at epoch 0.
        let (p0, b0) = propose(&mut es[1], "fs.delete", plain(10), 10);
        log.push(b0.clone());
        gossip(&mut es, vec![b0]);
        let (c, bc) = propose(&mut es[0], ROSTER_ACTION, next_payload(&r, add_member(3)), 1);
        log.push(bc.clone());
        gossip(&mut es, vec![bc]);
        let (p1, b1) = propose(&mut es[2], "fs.delete", plain(11), 11);
        log.push(b1.clone());
        gossip(&mut es, vec![b1]);
        for (i, id) in [(0usize, c), (1, c), (0, p0), (2, p1)] {
            let v = vote(&mut es[i], id, Vote::Yes);
            log.push(v.clone());
            gossip(&mut es, vec![v]);
        }
        prop_assert_eq!(es[0].roster().epoch(), 1);
        // Epoch 1: a proposal under the new roster, votes on both sides.
        let (p2, b2) = propose(&mut es[0], "fs.delete", plain(12), 12);
        log.push(b2.clone());
        gossip(&mut es, vec![b2]);
        for (i, id) in [(1usize, p2), (2, p2), (1, p1), (2, p0)] {
            if let Ok(b) = es[i].vote(T0, id, Vote::Yes, None) {
                let v = codec::encode(&b).unwrap();
                drain(&mut es[i]);
                log.push(v.clone());
                gossip(&mut es, vec![v]);
            }
        }
        let mut fresh = engine(&r, 2);
        let picks: Vec<usize> = order.iter().copied().filter(|&i| i < log.len()).collect();
        for _round in 0..3 {
            for &i in &picks {
                deliver(&mut fresh, &log[i]);
            }
        }
        prop_assert_eq!(fresh.roster().digest(), es[0].roster().digest());
        for id in [p0, c, p1, p2] {
            let want = es[0].proposal(&id).unwrap().tally().outcome();
            let got = fresh.proposal(&id).unwrap().tally().outcome();
            prop_assert_eq!(got, want);
        }
    }
}
