//! The engine: message handling, the own-vote guard, order contract, bounds, expiry,
//! restore, and convergence under any interleaving.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use proptest::prelude::*;
use swarmvote_protocol::engine::{
    CommandError, Config, Engine, Event, IgnoreReason, MessageTag, Output, PeerTag, Record,
    RejectReason, Validation,
};
use swarmvote_protocol::{
    Action, Ballot, Nonce, Payload, Reason, Roster, SignedProposal, Status, UnixMillis, Verdict,
    Vote, codec,
};

const T0: UnixMillis = UnixMillis(1_700_000_000_000);
const TTL: u64 = 60_000;

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

fn validation(outputs: &[Output]) -> Validation {
    let v: Vec<_> = outputs
        .iter()
        .filter_map(|o| match o {
            Output::Validation { result, .. } => Some(result.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(
        v.len(),
        1,
        "exactly one validation per message: {outputs:?}"
    );
    v[0].clone()
}

fn deliver(e: &mut Engine, now: UnixMillis, bytes: &[u8]) -> Vec<Output> {
    e.handle_message(now, PeerTag(9), MessageTag(1), bytes);
    drain(e)
}

fn propose(
    e: &mut Engine,
    now: UnixMillis,
    path: &str,
) -> (swarmvote_protocol::ProposalId, Vec<u8>) {
    let id = e
        .propose(
            now,
            Action::new("fs.delete").unwrap(),
            Payload::from_value(&serde_json::json!({ "path": path })).unwrap(),
            TTL,
            Nonce([3; 16]),
        )
        .unwrap();
    let out = drain(e);
    let b = broadcasts(&out);
    assert_eq!(b.len(), 1);
    (id, b[0].clone())
}

#[test]
fn three_nodes_reach_the_same_decision() {
    let r = roster(3, "2/3");
    let mut nodes: Vec<Engine> = (0..3).map(|i| engine(&r, i)).collect();
    let (id, p) = propose(&mut nodes[0], T0, "/backup");
    for n in &mut nodes[1..] {
        assert_eq!(validation(&deliver(n, T0, &p)), Validation::Accept);
    }
    // Node 1 votes YES: the own-ballot record comes before its broadcast.
    nodes[1].vote(T0, id, Vote::Yes, None).unwrap();
    let out = drain(&mut nodes[1]);
    let persist = out
        .iter()
        .position(|o| matches!(o, Output::Persist(Record::OwnBallot(_))))
        .unwrap();
    let send = out
        .iter()
        .position(|o| matches!(o, Output::Broadcast(_)))
        .unwrap();
    assert!(
        persist < send,
        "own ballot broadcast before it was persisted"
    );
    let yes1 = broadcasts(&out)[0].clone();

    nodes[2]
        .vote(UnixMillis(T0.0 + 5), id, Vote::Yes, None)
        .unwrap();
    let yes2 = broadcasts(&drain(&mut nodes[2]))[0].clone();
    let now = UnixMillis(T0.0 + 7);
    for (i, n) in nodes.iter_mut().enumerate() {
        for b in [&yes1, &yes2] {
            let out = deliver(n, now, b);
            if let Some(Event::Decided {
                verdict,
                latency_ms,
                ..
            }) = out.iter().find_map(|o| match o {
                Output::Event(e @ Event::Decided { .. }) => Some(e.clone()),
                _ => None,
            }) {
                assert_eq!(verdict, Verdict::Approved, "node {i}");
                assert_eq!(latency_ms, 7);
            }
        }
    }
    let digests: Vec<_> = nodes.iter().map(Engine::tallies_digest).collect();
    assert!(digests.windows(2).all(|w| w[0] == w[1]));
    for n in &nodes {
        let view = n.proposal(&id).unwrap();
        assert_eq!(view.status(now), Status::Approved);
        assert!(view.decision().is_some());
        let cert = view.certificate().unwrap();
        assert!(cert.verify(&r).is_ok());
    }
    // Certificates are identical on every node.
    let certs: Vec<_> = nodes
        .iter()
        .map(|n| codec::encode(&n.proposal(&id).unwrap().certificate().unwrap()).unwrap())
        .collect();
    assert!(certs.windows(2).all(|w| w[0] == w[1]));
}

#[test]
fn the_guard_never_signs_twice() {
    let r = roster(3, "2/3");
    let mut a = engine(&r, 0);
    let mut b = engine(&r, 1);
    let (id, p) = propose(&mut a, T0, "/backup");
    deliver(&mut b, T0, &p);

    let first = b
        .vote(T0, id, Vote::No, Some(Reason::new("protected").unwrap()))
        .unwrap();
    drain(&mut b);
    // Again the same way: the stored ballot, byte for byte, re-broadcast, not re-persisted.
    let again = b.vote(T0, id, Vote::No, None).unwrap();
    assert_eq!(again, first);
    let out = drain(&mut b);
    assert!(!out.iter().any(|o| matches!(o, Output::Persist(_))));
    assert_eq!(broadcasts(&out).len(), 1);
    // The other way: refused.
    assert_eq!(
        b.vote(T0, id, Vote::Yes, None).unwrap_err(),
        CommandError::AlreadyVoted {
            proposal: id,
            existing: Vote::No
        }
    );
    assert!(drain(&mut b).is_empty());

    // Unknown and expired proposals.
    let unknown = swarmvote_protocol::ProposalId::from_bytes([1; 32]);
    assert!(matches!(
        b.vote(T0, unknown, Vote::Yes, None),
        Err(CommandError::UnknownProposal { .. })
    ));
    let (id2, p2) = propose(&mut a, T0, "/tmp");
    deliver(&mut b, T0, &p2);
    assert!(matches!(
        b.vote(UnixMillis(T0.0 + TTL), id2, Vote::Yes, None),
        Err(CommandError::Expired { .. })
    ));
}

#[test]
fn the_guard_adopts_but_never_contradicts_a_ballot_in_its_name() {
    // A ballot signed with node 1's key reaches node 1 from the network (an earlier life
    // of the key, with its data dir lost).
    let r = roster(3, "2/3");
    let mut a = engine(&r, 0);
    let mut b = engine(&r, 1);
    let (id, p) = propose(&mut a, T0, "/backup");
    deliver(&mut b, T0, &p);
    let proposal: SignedProposal = codec::decode(&p).unwrap();
    let earlier = codec::encode(&ballot(&proposal, 1, Vote::No)).unwrap();
    assert_eq!(
        validation(&deliver(&mut b, T0, &earlier)),
        Validation::Accept
    );
    assert!(matches!(
        b.vote(T0, id, Vote::Yes, None),
        Err(CommandError::AlreadyVoted {
            existing: Vote::No,
            ..
        })
    ));
    let adopted = b.vote(T0, id, Vote::No, None).unwrap();
    assert_eq!(adopted, ballot(&proposal, 1, Vote::No));
}

#[test]
fn decided_proposals_refuse_new_votes() {
    let r = roster(3, "2/3");
    let mut nodes: Vec<Engine> = (0..3).map(|i| engine(&r, i)).collect();
    let (id, p) = propose(&mut nodes[0], T0, "/backup");
    deliver(&mut nodes[1], T0, &p);
    deliver(&mut nodes[2], T0, &p);
    nodes[0].vote(T0, id, Vote::No, None).unwrap();
    let no0 = broadcasts(&drain(&mut nodes[0]))[0].clone();
    nodes[1].vote(T0, id, Vote::No, None).unwrap();
    let no1 = broadcasts(&drain(&mut nodes[1]))[0].clone();
    deliver(&mut nodes[2], T0, &no0);
    deliver(&mut nodes[2], T0, &no1);
    assert_eq!(
        nodes[2].vote(T0, id, Vote::Yes, None).unwrap_err(),
        CommandError::Decided {
            proposal: id,
            verdict: Verdict::Rejected
        }
    );
}

#[test]
fn invalid_messages_are_rejected_and_reported() {
    let r = roster(3, "2/3");
    let mut a = engine(&r, 0);
    let mut b = engine(&r, 1);
    let (_, p) = propose(&mut a, T0, "/backup");
    let proposal: SignedProposal = codec::decode(&p).unwrap();

    let out = deliver(&mut b, T0, b"\x01\x02garbage");
    assert!(matches!(
        validation(&out),
        Validation::Reject(RejectReason::Malformed(_))
    ));
    assert!(out.iter().any(|o| matches!(
        o,
        Output::Event(Event::InvalidMessage {
            peer: PeerTag(9),
            ..
        })
    )));

    // A ballot in member 2's name, signed by member 0.
    let forged = Ballot {
        swarm: r.swarm().clone(),
        proposal: proposal.id(),
        voter: key(2).voter_id(),
        vote: Vote::Yes,
        reason: None,
    }
    .sign(&key(0));
    assert!(matches!(
        validation(&deliver(&mut b, T0, &codec::encode(&forged).unwrap())),
        Validation::Reject(RejectReason::BadSignature { .. })
    ));
    // A non-member's ballot.
    let outsider = Ballot {
        swarm: r.swarm().clone(),
        proposal: proposal.id(),
        voter: key(50).voter_id(),
        vote: Vote::Yes,
        reason: None,
    }
    .sign(&key(50));
    // On a proposal b has not seen, a validly signed ballot from a key no roster of b's
    // lists may come from a member of a roster b has not adopted yet: ignored. With a
    // bad signature it is a fault whatever the roster.
    let outsider_bytes = codec::encode(&outsider).unwrap();
    assert_eq!(
        validation(&deliver(&mut b, T0, &outsider_bytes)),
        Validation::Ignore(IgnoreReason::UnknownRoster)
    );
    let mut bad_outsider = outsider_bytes.clone();
    let last = bad_outsider.len() - 1;
    bad_outsider[last] ^= 1;
    assert!(matches!(
        validation(&deliver(&mut b, T0, &bad_outsider)),
        Validation::Reject(RejectReason::BadSignature { .. })
    ));
    // Once b holds the proposal, its roster says the outsider is no member: a fault.
    deliver(&mut b, T0, &p);
    assert!(matches!(
        validation(&deliver(&mut b, T0, &outsider_bytes)),
        Validation::Reject(RejectReason::NotAMember { .. })
    ));
    // Another swarm's proposal is ignored, not rejected.
    let elsewhere = roster_in("elsewhere", 3, "2/3");
    let foreign = codec::encode(&self::proposal(&elsewhere)).unwrap();
    assert_eq!(
        validation(&deliver(&mut b, T0, &foreign)),
        Validation::Ignore(IgnoreReason::OtherSwarm)
    );
    // Same swarm, another roster: ignored.
    let other_roster = roster(3, "1/2");
    let unknown = codec::encode(&self::proposal(&other_roster)).unwrap();
    assert_eq!(
        validation(&deliver(&mut b, T0, &unknown)),
        Validation::Ignore(IgnoreReason::UnknownRoster)
    );
    // Duplicates are ignored (b took the proposal above).
    assert_eq!(
        validation(&deliver(&mut b, T0, &p)),
        Validation::Ignore(IgnoreReason::Duplicate)
    );
}

#[test]
fn time_limits_on_incoming_proposals() {
    let r = roster(3, "2/3");
    let mut a = engine(&r, 0);
    let (_, p) = propose(&mut a, T0, "/backup");
    let config = Config::default();
    let mut early = engine(&r, 1);
    let before = UnixMillis(T0.0 - config.max_clock_skew_ms - 1);
    assert_eq!(
        validation(&deliver(&mut early, before, &p)),
        Validation::Ignore(IgnoreReason::FromTheFuture)
    );
    let mut late = engine(&r, 1);
    let after = UnixMillis(T0.0 + TTL + config.retention_ms);
    assert_eq!(
        validation(&deliver(&mut late, after, &p)),
        Validation::Ignore(IgnoreReason::Expired)
    );
}

#[test]
fn ballots_before_their_proposal_wait_and_count() {
    let r = roster(3, "2/3");
    let mut a = engine(&r, 0);
    let mut c = engine(&r, 2);
    let (id, p) = propose(&mut a, T0, "/backup");
    let proposal: SignedProposal = codec::decode(&p).unwrap();
    let y0 = codec::encode(&ballot(&proposal, 0, Vote::Yes)).unwrap();
    let y1 = codec::encode(&ballot(&proposal, 1, Vote::Yes)).unwrap();
    assert_eq!(validation(&deliver(&mut c, T0, &y0)), Validation::Accept);
    assert_eq!(validation(&deliver(&mut c, T0, &y1)), Validation::Accept);
    // Held once, even if sent twice.
    deliver(&mut c, T0, &y1);
    assert_eq!(c.orphan_count(), 2);
    let out = deliver(&mut c, T0, &p);
    assert_eq!(c.orphan_count(), 0);
    assert!(out.iter().any(|o| matches!(
        o,
        Output::Event(Event::Decided {
            verdict: Verdict::Approved,
            ..
        })
    )));
    assert_eq!(c.proposal(&id).unwrap().status(T0), Status::Approved);
}

#[test]
fn the_orphan_buffer_is_bounded_per_peer_and_expires() {
    let r = roster(3, "2/3");
    let config = Config {
        orphans_per_peer: 4,
        orphans_total: 6,
        orphan_ttl_ms: 1_000,
        ..Config::default()
    };
    let mut e = Engine::new(r.clone(), key(0), config).unwrap();
    let mut sent = 0;
    for i in 0..10u8 {
        let p = draft(&r, 1, &format!("{{\"n\":{i}}}"))
            .sign(&key(1))
            .unwrap();
        let b = codec::encode(&ballot(&p, 1, Vote::Yes)).unwrap();
        e.handle_message(T0, PeerTag(1), MessageTag(u64::from(i)), &b);
        let out = drain(&mut e);
        if validation(&out) == Validation::Accept {
            sent += 1;
        } else {
            assert_eq!(
                validation(&out),
                Validation::Ignore(IgnoreReason::BufferFull)
            );
        }
    }
    assert_eq!(sent, 4, "per-peer bound");
    assert_eq!(e.orphan_count(), 4);
    // Another peer fills up to the total bound.
    for i in 10..20u8 {
        let p = draft(&r, 1, &format!("{{\"n\":{i}}}"))
            .sign(&key(1))
            .unwrap();
        let b = codec::encode(&ballot(&p, 2, Vote::No)).unwrap();
        e.handle_message(T0, PeerTag(2), MessageTag(u64::from(i)), &b);
        drain(&mut e);
    }
    assert_eq!(e.orphan_count(), 6, "total bound");
    assert_eq!(e.poll_timeout(), Some(UnixMillis(T0.0 + 1_000)));
    e.tick(UnixMillis(T0.0 + 1_000));
    assert_eq!(e.orphan_count(), 0);
}

#[test]
fn held_ballots_of_one_proposal_expire_each_at_its_own_time() {
    let r = roster(3, "2/3");
    let config = Config {
        orphan_ttl_ms: 1_000,
        ..Config::default()
    };
    let mut e = Engine::new(r.clone(), key(0), config).unwrap();
    let p = draft(&r, 1, "{}").sign(&key(1)).unwrap();
    let early = codec::encode(&ballot(&p, 1, Vote::Yes)).unwrap();
    let late = codec::encode(&ballot(&p, 2, Vote::No)).unwrap();
    e.handle_message(T0, PeerTag(1), MessageTag(1), &early);
    drain(&mut e);
    let t1 = UnixMillis(T0.0 + 500);
    e.handle_message(t1, PeerTag(2), MessageTag(2), &late);
    drain(&mut e);
    assert_eq!(e.orphan_count(), 2);
    assert_eq!(e.poll_timeout(), Some(UnixMillis(T0.0 + 1_000)));
    e.tick(UnixMillis(T0.0 + 1_000));
    assert_eq!(e.orphan_count(), 1, "only the early one is due");
    assert_eq!(e.poll_timeout(), Some(UnixMillis(t1.0 + 1_000)));
    e.tick(UnixMillis(t1.0 + 999));
    assert_eq!(e.orphan_count(), 1);
    e.tick(UnixMillis(t1.0 + 1_000));
    assert_eq!(e.orphan_count(), 0);
    assert_eq!(e.poll_timeout(), None);
}

#[test]
fn open_proposals_are_bounded_per_proposer() {
    let r = roster(3, "2/3");
    let config = Config {
        max_open_per_proposer: 3,
        ..Config::default()
    };
    let mut a = engine(&r, 1);
    let mut e = Engine::new(r.clone(), key(0), config.clone()).unwrap();
    let mut results = Vec::new();
    for i in 0..5 {
        let (_, p) = propose(&mut a, UnixMillis(T0.0 + i), "/x");
        results.push(validation(&deliver(&mut e, T0, &p)));
    }
    assert_eq!(
        results,
        [
            Validation::Accept,
            Validation::Accept,
            Validation::Accept,
            Validation::Ignore(IgnoreReason::Capacity),
            Validation::Ignore(IgnoreReason::Capacity),
        ]
    );
    // Locally, the limit is an error.
    let mut own = Engine::new(r.clone(), key(0), config).unwrap();
    for i in 0..3 {
        propose(&mut own, UnixMillis(T0.0 + i), "/y");
    }
    assert!(matches!(
        own.propose(
            T0,
            Action::new("x").unwrap(),
            Payload::from_json_text("{}").unwrap(),
            TTL,
            Nonce([9; 16])
        ),
        Err(CommandError::Capacity { open: 3 })
    ));
}

#[test]
fn expiry_is_reported_once_and_memory_is_released() {
    let r = roster(3, "2/3");
    let mut a = engine(&r, 0);
    let (id, _) = propose(&mut a, T0, "/backup");
    let expires = UnixMillis(T0.0 + TTL);
    assert_eq!(a.poll_timeout(), Some(expires));
    a.tick(UnixMillis(expires.0 - 1));
    assert!(drain(&mut a).is_empty());
    a.tick(expires);
    let out = drain(&mut a);
    assert_eq!(out, vec![Output::Event(Event::Expired { proposal: id })]);
    a.tick(UnixMillis(expires.0 + 10));
    assert!(drain(&mut a).is_empty());
    assert_eq!(a.proposal(&id).unwrap().status(expires), Status::Expired);
    let horizon = UnixMillis(expires.0 + Config::default().retention_ms);
    assert_eq!(a.poll_timeout(), Some(horizon));
    a.tick(horizon);
    assert!(a.proposal(&id).is_none());
    assert_eq!(a.poll_timeout(), None);
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

#[test]
fn restore_rebuilds_the_same_state() {
    let r = roster(5, "3/5");
    let mut nodes: Vec<Engine> = (0..5).map(|i| engine(&r, i)).collect();
    let mut stored = Vec::new();
    let mut ids = Vec::new();
    for k in 0..4 {
        let now = UnixMillis(T0.0 + k * 10);
        let (id, p) = propose(&mut nodes[(k % 5) as usize], now, &format!("/p{k}"));
        ids.push(id);
        stored.extend(records(&deliver(&mut nodes[4], now, &p)));
        // Node 4 votes first on all but the last proposal.
        if k < 3 {
            nodes[4].vote(now, id, Vote::Yes, None).unwrap();
            stored.extend(records(&drain(&mut nodes[4])));
        }
        for v in 0..4u32 {
            if k == 3 && v == 3 {
                continue;
            }
            for (n, node) in nodes.iter_mut().enumerate().take(4) {
                if n != (k % 5) as usize {
                    let _ = deliver(node, now, &p);
                }
            }
            let vote = if (k + u64::from(v)) % 3 == 0 {
                Vote::No
            } else {
                Vote::Yes
            };
            let _ = nodes[v as usize].vote(now, id, vote, None);
            for b in broadcasts(&drain(&mut nodes[v as usize])) {
                stored.extend(records(&deliver(&mut nodes[4], now, &b)));
            }
        }
    }
    let before = &nodes[4];
    let mut after = engine(&r, 4);
    let report = after.restore(UnixMillis(T0.0 + 100), stored.clone());
    assert!(report.skipped.is_empty(), "{:?}", report.skipped);
    assert_eq!(after.tallies_digest(), before.tallies_digest());
    assert_eq!(
        after.own_ballots().collect::<Vec<_>>(),
        before.own_ballots().collect::<Vec<_>>()
    );
    for id in &ids {
        assert_eq!(
            after.proposal(id).unwrap().decision(),
            before.proposal(id).unwrap().decision(),
            "decision times survive a restart"
        );
    }
    // The restored node re-sends its own ballot on the open proposal, and nothing else.
    let out = drain(&mut after);
    assert!(out.iter().all(|o| matches!(o, Output::Broadcast(_))));
    // And its guard holds.
    assert_eq!(after.own_ballots().count(), 3);
    for id in &ids[..3] {
        let own = after.own_ballot(id).unwrap().ballot().vote;
        assert!(matches!(
            after.vote(UnixMillis(T0.0 + 100), *id, own.other(), None),
            Err(CommandError::AlreadyVoted { .. } | CommandError::Decided { .. })
        ));
    }
    // Records in any order give the same state.
    let mut reversed = engine(&r, 4);
    stored.reverse();
    reversed.restore(UnixMillis(T0.0 + 100), stored);
    assert_eq!(reversed.tallies_digest(), before.tallies_digest());
}

#[test]
fn an_own_ballot_without_its_proposal_still_guards() {
    // Only the own ballot was synced before a crash; the proposal record was lost.
    let r = roster(3, "2/3");
    let mut a = engine(&r, 0);
    let mut b = engine(&r, 1);
    let (id, p) = propose(&mut a, T0, "/backup");
    deliver(&mut b, T0, &p);
    b.vote(T0, id, Vote::Yes, None).unwrap();
    let own: Vec<Record> = records(&drain(&mut b))
        .into_iter()
        .filter(|r| matches!(r, Record::OwnBallot(_)))
        .collect();
    let mut restarted = engine(&r, 1);
    restarted.restore(T0, own);
    assert!(matches!(
        restarted.vote(T0, id, Vote::No, None),
        Err(CommandError::AlreadyVoted { .. })
    ));
    // When the proposal comes back, the own ballot counts.
    deliver(&mut restarted, T0, &p);
    let outcome = restarted.proposal(&id).unwrap().outcome();
    assert!(outcome.yes.contains(&key(1).voter_id()));
}

// ---------------------------------------------------------------------------------------
// Any interleaving of the same messages gives the same tallies.
// ---------------------------------------------------------------------------------------

/// Messages from members 2..5 of a 5-member swarm: 3 proposals and, for each, YES, a
/// reasoned YES and NO from every member (so equivocations and replacements happen).
fn message_pool() -> &'static (Roster, Vec<Vec<u8>>) {
    static POOL: std::sync::OnceLock<(Roster, Vec<Vec<u8>>)> = std::sync::OnceLock::new();
    POOL.get_or_init(|| {
        let r = roster(5, "3/5");
        let mut msgs = Vec::new();
        for (k, proposer) in [2u32, 3, 4].into_iter().enumerate() {
            let p = draft(&r, proposer, &format!("{{\"k\":{k}}}"))
                .sign(&key(proposer))
                .unwrap();
            msgs.push(codec::encode(&p).unwrap());
            msgs.extend(ballot_variants(&p, 5));
        }
        (r, msgs)
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn any_interleaving_gives_identical_tallies(
        picks in prop::collection::vec(any::<prop::sample::Index>(), 1..60),
        keys_a in prop::collection::vec(any::<u32>(), 60),
        keys_b in prop::collection::vec(any::<u32>(), 60),
    ) {
        let (r, msgs) = message_pool();
        // The same multiset of messages, in two different orders, with duplicates.
        let chosen: Vec<&Vec<u8>> = picks.iter().map(|i| &msgs[i.index(msgs.len())]).collect();
        let order = |keys: &[u32]| {
            let mut idx: Vec<usize> = (0..chosen.len()).collect();
            idx.sort_by_key(|i| keys[*i]);
            idx
        };
        let now = UnixMillis(T0.0 + 1);
        let mut a = engine(r, 0);
        let mut b = engine(r, 1);
        for i in order(&keys_a) {
            a.handle_message(now, PeerTag(1), MessageTag(0), chosen[i]);
            drain(&mut a);
        }
        for i in order(&keys_b) {
            b.handle_message(now, PeerTag(1), MessageTag(0), chosen[i]);
            drain(&mut b);
        }
        prop_assert_eq!(a.tallies_digest(), b.tallies_digest());
        let outcomes = |e: &Engine| e.proposals().map(|v| v.outcome()).collect::<Vec<_>>();
        prop_assert_eq!(outcomes(&a), outcomes(&b));
    }
}

#[test]
fn a_shared_signature_cache_verifies_each_message_once_and_never_passes_a_forgery() {
    let r = roster(4, "3/4");
    let cache = swarmvote_protocol::SignatureCache::new(1_024);
    let mut a = engine(&r, 0).with_signature_cache(cache.clone());
    let mut b = engine(&r, 1).with_signature_cache(cache.clone());
    let p = proposal(&r);
    let pb = codec::encode(&p).unwrap();
    let yes = ballot(&p, 2, Vote::Yes);
    let yb = codec::encode(&yes).unwrap();
    for e in [&mut a, &mut b] {
        assert_eq!(validation(&deliver(e, T0, &pb)), Validation::Accept);
        assert_eq!(validation(&deliver(e, T0, &yb)), Validation::Accept);
    }
    // The second engine's copies were answered from the cache, and both tallies hold
    // the cache's one copy of the ballot.
    let s = cache.stats();
    assert_eq!((s.misses, s.hits), (2, 2), "{s:?}");
    let voter = yes.ballot().voter;
    let in_a = a
        .proposal(&p.id())
        .unwrap()
        .tally()
        .ballot_of(&voter, Vote::Yes)
        .unwrap() as *const _;
    let in_b = b
        .proposal(&p.id())
        .unwrap()
        .tally()
        .ballot_of(&voter, Vote::Yes)
        .unwrap() as *const _;
    assert!(std::ptr::eq(in_a, in_b), "one shared copy");

    // A sibling of the cached ballot: same voter, proposal and vote, one signature bit
    // flipped. Its cached twin must not make it pass.
    let mut sig = *yes.signature();
    sig.0[0] ^= 0x01;
    let forged = swarmvote_protocol::SignedBallot::from_parts(yes.ballot().clone(), sig);
    let mut c = engine(&r, 3).with_signature_cache(cache.clone());
    assert_eq!(validation(&deliver(&mut c, T0, &pb)), Validation::Accept);
    let out = deliver(&mut c, T0, &codec::encode(&forged).unwrap());
    assert!(
        matches!(
            validation(&out),
            Validation::Reject(RejectReason::BadSignature { .. })
        ),
        "{out:?}"
    );
    // Same signature, other contents (the vote flipped): also a miss and a rejection.
    let mut moved = yes.ballot().clone();
    moved.vote = Vote::No;
    let moved = swarmvote_protocol::SignedBallot::from_parts(moved, *yes.signature());
    let out = deliver(&mut c, T0, &codec::encode(&moved).unwrap());
    assert!(matches!(validation(&out), Validation::Reject(_)), "{out:?}");
    // Failures are never cached: both forgeries ran ed25519, and c's copy of the
    // proposal was a hit.
    let s = cache.stats();
    assert_eq!((s.misses, s.hits), (4, 3), "{s:?}");
    assert_eq!(
        c.proposal(&p.id()).unwrap().tally().outcome().yes.len(),
        0,
        "no forged ballot reached the tally"
    );
}

fn deliver_inbound(
    e: &mut Engine,
    now: UnixMillis,
    m: &swarmvote_protocol::Inbound,
) -> Vec<Output> {
    e.handle_inbound(now, PeerTag(9), MessageTag(1), m);
    drain(e)
}

#[test]
fn an_inbound_message_is_checked_once_and_every_engine_still_runs_its_own_checks() {
    use swarmvote_protocol::Inbound;
    let r = roster(4, "3/4");
    let p = proposal(&r);
    let pb = codec::encode(&p).unwrap();
    let yb = codec::encode(&ballot(&p, 3, Vote::Yes)).unwrap();
    let (pi, yi) = (Inbound::new(pb.clone()), Inbound::new(yb.clone()));

    // The first engine to see the proposal decodes and verifies it, and leaves the
    // result behind.
    let mut a = engine(&r, 0);
    assert_eq!(
        validation(&deliver_inbound(&mut a, T0, &pi)),
        Validation::Accept
    );
    assert!(pi.is_checked() && !yi.is_checked());
    assert_eq!(a.signature_cache().stats().misses, 1);
    let mut b = engine(&r, 1);
    let mut via_bytes = engine(&r, 1);
    for m in [&pi, &yi] {
        let got = deliver_inbound(&mut b, T0, m);
        let want = deliver(&mut via_bytes, T0, m.bytes());
        assert_eq!(validation(&got), Validation::Accept);
        // The same outputs as the plain path, in the same order.
        assert_eq!(format!("{got:?}"), format!("{want:?}"));
        assert!(m.is_checked());
    }
    // b verified the ballot only: the proposal came checked.
    assert_eq!(b.signature_cache().stats().misses, 1);
    // A later engine neither decodes nor verifies: its own cache is never consulted.
    let mut c = engine(&r, 2);
    assert_eq!(
        validation(&deliver_inbound(&mut c, T0, &pi)),
        Validation::Accept
    );
    assert_eq!(
        validation(&deliver_inbound(&mut c, T0, &yi)),
        Validation::Accept
    );
    let s = c.signature_cache().stats();
    assert_eq!((s.misses, s.hits), (0, 0), "{s:?}");
    assert_eq!(c.proposal(&p.id()).unwrap().tally().outcome().yes.len(), 1);
    // Duplicates are still duplicates.
    assert_eq!(
        validation(&deliver_inbound(&mut c, T0, &yi)),
        Validation::Ignore(IgnoreReason::Duplicate)
    );

    // Checks that depend on the receiving engine still run on a checked message: to an
    // engine of a 3-member roster, member 3 is a stranger and the proposal's roster is
    // not its own.
    let small = roster(3, "2/3");
    let mut d = engine(&small, 0);
    assert_eq!(
        validation(&deliver_inbound(&mut d, T0, &pi)),
        Validation::Ignore(IgnoreReason::UnknownRoster)
    );
    // Member 3 is no member of any roster d knows, and d has not seen the proposal:
    // possibly a member of a later roster, so ignored (see
    // `invalid_messages_are_rejected_and_reported`).
    assert_eq!(
        validation(&deliver_inbound(&mut d, T0, &yi)),
        Validation::Ignore(IgnoreReason::UnknownRoster)
    );
    // And in another swarm, a checked ballot is another swarm's ballot.
    let other = roster_in("other", 4, "3/4");
    let mut o = engine(&other, 0);
    assert_eq!(
        validation(&deliver_inbound(&mut o, T0, &yi)),
        Validation::Ignore(IgnoreReason::OtherSwarm)
    );

    // A forgery is never remembered: each engine verifies it and refuses it.
    let mut forged = yb.clone();
    let last = forged.len() - 1;
    forged[last] ^= 0x01;
    let fi = Inbound::new(forged);
    for e in [&mut b, &mut c] {
        let before = e.signature_cache().stats().misses;
        assert!(matches!(
            validation(&deliver_inbound(e, T0, &fi)),
            Validation::Reject(RejectReason::BadSignature { .. })
        ));
        assert_eq!(e.signature_cache().stats().misses, before + 1);
    }
    assert!(!fi.is_checked());
    // Nor is garbage.
    let gi = Inbound::new(vec![1u8, 2, 3]);
    assert!(matches!(
        validation(&deliver_inbound(&mut c, T0, &gi)),
        Validation::Reject(RejectReason::Malformed(_))
    ));
    assert!(!gi.is_checked());
}

/// Restore names each record it skips, and why, in the text the node logs.
#[test]
fn restore_names_the_records_it_skips() {
    let r = roster(3, "2/3");
    let p = proposal(&r);
    let id = p.id();
    let mut e = engine(&r, 0);
    let report = e.restore(
        UnixMillis(T0.0 + 100),
        vec![
            Record::Proposal(std::sync::Arc::new(p.clone())),
            Record::OwnBallot(std::sync::Arc::new(ballot(&p, 1, Vote::Yes))),
            Record::Ballot(std::sync::Arc::new(ballot(&p, 4, Vote::Yes))),
        ],
    );
    assert_eq!(report.proposals, 1);
    let texts: Vec<String> = report.skipped.iter().map(ToString::to_string).collect();
    assert_eq!(
        texts,
        vec![
            format!("own ballot on {id}: signed by another voter"),
            format!(
                "ballot on {id}: signer {} is not a member of the roster",
                key(4).voter_id()
            ),
        ]
    );
}
