//! Catch-up: two engines that missed different messages converge through a few bounded
//! sync round trips, and nothing a peer sends makes an answer exceed its caps.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::VecDeque;

use common::*;
use proptest::prelude::*;
use swarmvote_protocol::codec::{self, MAX_SYNC_BYTES};
use swarmvote_protocol::engine::{
    Config, Engine, Event, MAX_ENTRIES, MAX_FETCH, MAX_RANGES, MAX_REQUEST_RANGES, MessageTag,
    Output, PeerTag, Range, RangeSummary, RejectReason, SPLIT_THRESHOLD, SyncRequest, SyncResponse,
    SyncTag,
};
use swarmvote_protocol::gossip;
use swarmvote_protocol::{
    Ballot, CodecError, Kind, ProposalId, Roster, SignedBallot, SignedProposal, UnixMillis, Vote,
};

const T0: u64 = 1_700_000_000_000;
const MINUTE: u64 = 60_000;
const HOUR: u64 = 60 * MINUTE;
/// An hour boundary shortly before `T0`.
const BASE: u64 = T0 / HOUR * HOUR;

fn engine(r: &Roster, i: u32) -> Engine {
    Engine::new(r.clone(), key(i), Config::default()).unwrap()
}

fn drain(e: &mut Engine) -> Vec<Output> {
    std::iter::from_fn(|| e.poll_output()).collect()
}

/// `e`'s answer to `request` from `peer`: its one output, addressed back with the tag.
fn answer(e: &mut Engine, now: UnixMillis, peer: PeerTag, request: &SyncRequest) -> SyncResponse {
    e.handle_sync_request(now, peer, SyncTag(41), request);
    let mut outputs = drain(e);
    assert_eq!(outputs.len(), 1, "answering changes nothing: {outputs:?}");
    match outputs.pop() {
        Some(Output::SyncResponse {
            peer: to,
            tag: SyncTag(41),
            response,
        }) if to == peer => response,
        other => panic!("not an answer to {peer:?}: {other:?}"),
    }
}

/// Hands `response` from `peer` to `e`: its other outputs, and the follow-ups, which come
/// last, addressed back with the tag.
fn respond(
    e: &mut Engine,
    now: UnixMillis,
    peer: PeerTag,
    response: SyncResponse,
) -> (Vec<Output>, Vec<SyncRequest>) {
    e.handle_sync_response(now, peer, SyncTag(42), response);
    let mut outputs = drain(e);
    let first = outputs
        .iter()
        .position(|o| matches!(o, Output::SyncRequest { .. }))
        .unwrap_or(outputs.len());
    let follow = outputs
        .split_off(first)
        .into_iter()
        .map(|o| match o {
            Output::SyncRequest {
                peer: to,
                tag: SyncTag(42),
                request,
            } if to == peer => request,
            other => panic!("a follow-up to {peer:?} expected, found {other:?}"),
        })
        .collect();
    (outputs, follow)
}

fn deliver(e: &mut Engine, now: UnixMillis, bytes: &[u8]) {
    e.handle_message(now, PeerTag(99), MessageTag(0), bytes);
    drain(e);
}

/// A proposal by `proposer` created at `created_at`, valid for four hours.
fn proposal_at(r: &Roster, proposer: u32, k: usize, created_at: u64) -> SignedProposal {
    let mut d = draft(r, proposer, &format!("{{\"k\":{k}}}"));
    d.created_at = UnixMillis(created_at);
    d.expires_at = UnixMillis(created_at + 4 * HOUR);
    d.sign(&key(proposer)).unwrap()
}

fn tally_lists(e: &Engine) -> Vec<(ProposalId, Vec<SignedBallot>)> {
    e.proposals()
        .map(|v| (v.proposal().id(), v.tally().ballots().cloned().collect()))
        .collect()
}

fn check_caps(response: &SyncResponse) {
    if let SyncResponse::Reconcile { entries, ranges } = response {
        assert!(entries.len() <= MAX_ENTRIES, "{} entries", entries.len());
        assert!(ranges.len() <= MAX_RANGES, "{} ranges", ranges.len());
    }
}

#[derive(Default)]
struct Stats {
    round_trips: usize,
    pulls: usize,
    split_seen: bool,
    largest_response: usize,
}

/// One pull: `requester` sends its top-level request to `responder` and follows up until it
/// has nothing more to ask, every message going through the codec. Returns whether the
/// first answer asked for nothing (the requester had nothing to learn).
fn pull(
    now: UnixMillis,
    requester: &mut Engine,
    responder: &mut Engine,
    stats: &mut Stats,
) -> bool {
    let mut queue = VecDeque::from([requester.sync_request(now)]);
    let mut quiet = true;
    stats.pulls += 1;
    while let Some(request) = queue.pop_front() {
        stats.round_trips += 1;
        assert!(stats.round_trips < 100, "no convergence");
        let request: SyncRequest = codec::decode(&codec::encode(&request).unwrap()).unwrap();
        let response = answer(responder, now, PeerTag(1), &request);
        check_caps(&response);
        if let SyncResponse::Reconcile { ranges, .. } = &response {
            stats.split_seen |= !ranges.is_empty();
        }
        let bytes = codec::encode(&response).expect("a response always fits");
        assert!(bytes.len() <= MAX_SYNC_BYTES);
        stats.largest_response = stats.largest_response.max(bytes.len());
        let response: SyncResponse = codec::decode(&bytes).unwrap();
        let (outputs, follow) = respond(requester, now, PeerTag(2), response);
        assert!(
            !outputs
                .iter()
                .any(|o| matches!(o, Output::Validation { .. })),
            "catch-up emits no validations"
        );
        assert!(
            !outputs
                .iter()
                .any(|o| matches!(o, Output::Event(Event::InvalidMessage { .. }))),
            "an honest peer's items are valid"
        );
        quiet &= follow.is_empty();
        queue.extend(follow);
    }
    quiet
}

/// Pulls alternately, `a` first, until a pull by each side in a row asked for nothing.
fn converge(now: UnixMillis, a: &mut Engine, b: &mut Engine) -> Stats {
    let mut stats = Stats::default();
    let mut quiet_in_a_row = 0;
    while quiet_in_a_row < 2 {
        let quiet = if stats.pulls % 2 == 0 {
            pull(now, a, b, &mut stats)
        } else {
            pull(now, b, a, &mut stats)
        };
        quiet_in_a_row = if quiet { quiet_in_a_row + 1 } else { 0 };
        assert!(stats.pulls <= 20, "no convergence");
    }
    stats
}

// ---------------------------------------------------------------------------------------
// Random partial views converge.
// ---------------------------------------------------------------------------------------

/// 20 proposals in a 5-member swarm, created 20 s apart, and for each a YES, a reasoned
/// YES and a NO from every member (so subsets hold equivocations and replacements).
fn pool() -> &'static (Roster, Vec<Vec<u8>>) {
    static POOL: std::sync::OnceLock<(Roster, Vec<Vec<u8>>)> = std::sync::OnceLock::new();
    POOL.get_or_init(|| {
        let r = roster(5, "3/5");
        let mut msgs = Vec::new();
        for k in 0..20u32 {
            let p = proposal_at(&r, k % 5, k as usize, T0 + u64::from(k) * 20_000);
            msgs.push(codec::encode(&p).unwrap());
            msgs.extend(ballot_variants(&p, 5));
        }
        (r, msgs)
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]

    #[test]
    fn catch_up_converges(
        seen_a in prop::collection::vec(any::<bool>(), 320),
        seen_b in prop::collection::vec(any::<bool>(), 320),
    ) {
        let (r, msgs) = pool();
        let now = UnixMillis(T0 + 10 * MINUTE);
        let mut a = engine(r, 0);
        let mut b = engine(r, 1);
        for (i, m) in msgs.iter().enumerate() {
            if seen_a[i] {
                deliver(&mut a, now, m);
            }
            if seen_b[i] {
                deliver(&mut b, now, m);
            }
        }
        let stats = converge(now, &mut a, &mut b);
        prop_assert_eq!(a.tallies_digest(), b.tallies_digest());
        prop_assert_eq!(tally_lists(&a), tally_lists(&b));
        prop_assert!(stats.round_trips <= 8, "{} round trips", stats.round_trips);

        // Every message either engine saw in a tally is now in both: the union, no less.
        let mut union = engine(r, 2);
        for (i, m) in msgs.iter().enumerate() {
            if seen_a[i] || seen_b[i] {
                deliver(&mut union, now, m);
            }
        }
        let with_orphans = |e: &Engine| e.proposals().count();
        prop_assert_eq!(with_orphans(&a), with_orphans(&union));
        prop_assert_eq!(a.tallies_digest(), union.tallies_digest());
    }
}

// ---------------------------------------------------------------------------------------
// A node that missed everything.
// ---------------------------------------------------------------------------------------

/// 300 proposals over three hours from `BASE`: 80 in the first hour, 200 in the second (a
/// bucket far above the split threshold), 20 in the last; each with a YES and a NO.
fn history() -> &'static (Roster, Vec<Vec<u8>>) {
    static HISTORY: std::sync::OnceLock<(Roster, Vec<Vec<u8>>)> = std::sync::OnceLock::new();
    HISTORY.get_or_init(|| {
        let r = roster(5, "3/5");
        let mut msgs = Vec::new();
        for k in 0..300u64 {
            let created = match k {
                0..80 => BASE + k * 45_000,
                80..280 => BASE + HOUR + (k - 80) * 18_000,
                _ => BASE + 2 * HOUR + (k - 280) * 3 * MINUTE,
            };
            let p = proposal_at(&r, (k % 5) as u32, k as usize, created);
            msgs.push(codec::encode(&p).unwrap());
            msgs.push(codec::encode(&ballot(&p, ((k + 1) % 5) as u32, Vote::Yes)).unwrap());
            msgs.push(codec::encode(&ballot(&p, ((k + 2) % 5) as u32, Vote::No)).unwrap());
        }
        (r, msgs)
    })
}

fn history_engine(i: u32, now: UnixMillis) -> Engine {
    let (r, msgs) = history();
    let mut e = engine(r, i);
    for m in msgs {
        deliver(&mut e, now, m);
    }
    assert_eq!(e.proposals().count(), 300);
    e
}

#[test]
fn an_empty_node_catches_up_from_one_peer() {
    let now = UnixMillis(BASE + 3 * HOUR);
    let mut peer = history_engine(0, now);
    let mut fresh = engine(&history().0, 1);
    let stats = converge(now, &mut fresh, &mut peer);
    assert_eq!(fresh.tallies_digest(), peer.tallies_digest());
    assert_eq!(fresh.proposals().count(), 300);
    assert!(stats.pulls <= 6, "{} pulls", stats.pulls);
    assert!(stats.round_trips <= 16, "{} round trips", stats.round_trips);
    assert!(stats.split_seen, "no range was split");
    assert!(stats.largest_response <= MAX_SYNC_BYTES);

    // Its requests now use both bucket sizes, aligned to the epoch, in order, disjoint.
    let SyncRequest::Reconcile { ranges, complete } = fresh.sync_request(now) else {
        panic!("not a reconcile request");
    };
    assert!(complete);
    let sizes: Vec<u64> = ranges.iter().map(|r| r.range.to - r.range.from).collect();
    assert_eq!(sizes.iter().filter(|&&s| s == HOUR).count(), 2);
    assert_eq!(sizes.iter().filter(|&&s| s == MINUTE).count(), 20);
    for r in &ranges {
        assert!(r.range.prefix.is_empty());
        assert_eq!(r.range.from % (r.range.to - r.range.from), 0);
    }
    assert!(ranges.windows(2).all(|w| w[0].range.to <= w[1].range.from));
    assert_eq!(ranges.iter().map(|r| r.count).sum::<u32>(), 300);
    assert!(ranges.iter().any(|r| r.count > SPLIT_THRESHOLD));
}

#[test]
fn equal_engines_have_nothing_to_say() {
    let now = UnixMillis(BASE + 3 * HOUR);
    let a = history_engine(0, now);
    let mut b = history_engine(1, now);
    let request = a.sync_request(now);
    assert!(matches!(&request, SyncRequest::Reconcile { ranges, .. } if !ranges.is_empty()));
    assert_eq!(
        answer(&mut b, now, PeerTag(1), &request),
        SyncResponse::Reconcile {
            entries: Vec::new(),
            ranges: Vec::new()
        }
    );
    // One more kept ballot at b, and its answer points at that proposal's range.
    let (_, msgs) = history();
    let p: SignedProposal = codec::decode(&msgs[0]).unwrap();
    deliver(
        &mut b,
        now,
        &codec::encode(&ballot(&p, 4, Vote::Yes)).unwrap(),
    );
    let SyncResponse::Reconcile { entries, ranges } = answer(&mut b, now, PeerTag(1), &request)
    else {
        panic!("not a reconcile response");
    };
    // Its hour bucket holds 80 proposals, so it is split rather than listed.
    assert!(entries.is_empty());
    assert_eq!(ranges.len(), {
        let mut firsts: Vec<u8> = history_ids(0..80).map(|id| id.as_bytes()[0]).collect();
        firsts.sort_unstable();
        firsts.dedup();
        firsts.len()
    });
}

fn history_ids(k: std::ops::Range<usize>) -> impl Iterator<Item = ProposalId> {
    let (_, msgs) = history();
    k.map(|k| codec::decode::<SignedProposal>(&msgs[3 * k]).unwrap().id())
}

// ---------------------------------------------------------------------------------------
// Items are checked like gossip.
// ---------------------------------------------------------------------------------------

#[test]
fn forged_items_are_rejected_and_reported() {
    let (r, msgs) = pool();
    let now = UnixMillis(T0 + 10 * MINUTE);
    let mut b = engine(r, 1);
    let p: SignedProposal = codec::decode(&msgs[0]).unwrap();
    deliver(&mut b, now, &msgs[0]);
    let before = b.tallies_digest();

    // A ballot in member 2's name, signed by member 0.
    let forged = SignedBallot::from_parts(
        Ballot {
            swarm: r.swarm().clone(),
            proposal: p.id(),
            voter: key(2).voter_id(),
            vote: Vote::Yes,
            reason: None,
        },
        *ballot(&p, 0, Vote::Yes).signature(),
    );
    // A proposal with another proposal's signature.
    let other: SignedProposal = codec::decode(&msgs[16]).unwrap();
    let bad_proposal =
        SignedProposal::from_parts(other.proposal().clone(), *p.signature()).unwrap();
    let peer = PeerTag(7);
    let (outputs, follow) = respond(
        &mut b,
        now,
        peer,
        SyncResponse::Items {
            proposals: vec![bad_proposal],
            ballots: vec![forged],
        },
    );
    assert!(follow.is_empty());
    let invalid: Vec<&RejectReason> = outputs
        .iter()
        .filter_map(|o| match o {
            Output::Event(Event::InvalidMessage { peer: from, reason }) if *from == peer => {
                Some(reason)
            }
            _ => None,
        })
        .collect();
    assert_eq!(invalid.len(), 2, "{outputs:?}");
    assert!(
        invalid
            .iter()
            .all(|r| matches!(r, RejectReason::BadSignature { .. }))
    );
    assert!(
        !outputs
            .iter()
            .any(|o| matches!(o, Output::Validation { .. }))
    );
    assert_eq!(b.tallies_digest(), before);
    assert_eq!(b.proposals().count(), 1);

    // A valid ballot in the same kind of response does count, and is persisted.
    let (outputs, _) = respond(
        &mut b,
        now,
        peer,
        SyncResponse::Items {
            proposals: Vec::new(),
            ballots: vec![ballot(&p, 2, Vote::Yes)],
        },
    );
    assert!(outputs.iter().any(|o| matches!(
        o,
        Output::Event(Event::BallotAccepted {
            vote: Vote::Yes,
            ..
        })
    )));
    assert_ne!(b.tallies_digest(), before);
}

// ---------------------------------------------------------------------------------------
// The codec.
// ---------------------------------------------------------------------------------------

#[test]
fn sync_messages_round_trip_and_are_not_gossip() {
    let (_, msgs) = pool();
    let p: SignedProposal = codec::decode(&msgs[0]).unwrap();
    let summary = RangeSummary {
        range: Range {
            from: 1,
            to: u64::MAX,
            prefix: vec![0xab, 0xcd],
        },
        count: 3,
        digest: [0x5a; 32],
    };
    // Far more ids than a gossip message could hold: the sync limit applies.
    let ids: Vec<ProposalId> = (0..5_000u32)
        .map(|i| {
            let mut b = [0u8; 32];
            b[..4].copy_from_slice(&i.to_le_bytes());
            ProposalId::from_bytes(b)
        })
        .collect();
    let requests = [
        SyncRequest::Reconcile {
            ranges: vec![summary.clone(); 3],
            complete: true,
        },
        SyncRequest::Reconcile {
            ranges: Vec::new(),
            complete: false,
        },
        SyncRequest::Fetch(ids.clone()),
    ];
    let responses = [
        SyncResponse::Reconcile {
            entries: vec![(p.id(), [1; 32]), (ids[7], [2; 32])],
            ranges: vec![summary],
        },
        SyncResponse::Items {
            proposals: vec![p.clone()],
            ballots: vec![ballot(&p, 1, Vote::No), ballot(&p, 2, Vote::Yes)],
        },
    ];
    for request in &requests {
        let bytes = codec::encode(request).unwrap();
        assert_eq!(bytes[1], 6);
        assert_eq!(&codec::decode::<SyncRequest>(&bytes).unwrap(), request);
        assert!(matches!(
            gossip::decode_gossip(&bytes),
            Err(CodecError::UnexpectedKind {
                found: Kind::SyncRequest,
                ..
            }) | Err(CodecError::TooLarge { .. })
        ));
        assert!(matches!(
            codec::decode::<SyncResponse>(&bytes),
            Err(CodecError::UnexpectedKind { .. })
        ));
    }
    assert!(codec::encode(&requests[2]).unwrap().len() > codec::MAX_MESSAGE_BYTES);
    for response in &responses {
        let bytes = codec::encode(response).unwrap();
        assert_eq!(bytes[1], 7);
        assert_eq!(&codec::decode::<SyncResponse>(&bytes).unwrap(), response);
        assert_eq!(
            gossip::decode_gossip(&bytes).unwrap_err(),
            CodecError::UnexpectedKind {
                expected: Kind::Proposal,
                found: Kind::SyncResponse
            }
        );
    }
    assert_eq!(Kind::from_byte(6), Some(Kind::SyncRequest));
    assert_eq!(Kind::from_byte(7), Some(Kind::SyncResponse));
    assert_eq!(Kind::SyncResponse.max_bytes(), MAX_SYNC_BYTES);

    // Beyond the limit, both ways.
    let too_many = SyncRequest::Fetch(vec![ProposalId::from_bytes([9; 32]); MAX_SYNC_BYTES / 32]);
    assert!(matches!(
        codec::encode(&too_many),
        Err(CodecError::TooLarge {
            max: MAX_SYNC_BYTES,
            ..
        })
    ));
    let mut huge = vec![0u8; MAX_SYNC_BYTES + 1];
    huge[0] = codec::VERSION;
    huge[1] = Kind::SyncResponse as u8;
    assert_eq!(
        codec::decode::<SyncResponse>(&huge).unwrap_err(),
        CodecError::TooLarge {
            len: MAX_SYNC_BYTES + 1,
            max: MAX_SYNC_BYTES
        }
    );
}

// ---------------------------------------------------------------------------------------
// Bounds.
// ---------------------------------------------------------------------------------------

/// 1,100 proposals, no ballots, 6 s apart from `BASE`.
fn crowd() -> (Engine, Vec<u64>) {
    let r = roster(5, "3/5");
    let config = Config {
        max_open_per_proposer: 1_000,
        ..Config::default()
    };
    let now = UnixMillis(BASE + 2 * HOUR);
    let mut e = Engine::new(r.clone(), key(0), config).unwrap();
    let mut times = Vec::new();
    for k in 0..1_100u64 {
        let t = BASE + k * 6_000;
        times.push(t);
        let p = proposal_at(&r, (k % 5) as u32, k as usize, t);
        deliver(&mut e, now, &codec::encode(&p).unwrap());
    }
    assert_eq!(e.proposals().count(), 1_100);
    (e, times)
}

fn tiny(from: u64) -> RangeSummary {
    RangeSummary {
        range: Range {
            from,
            to: from + 1,
            prefix: Vec::new(),
        },
        count: 0,
        digest: [0; 32],
    }
}

fn everything() -> RangeSummary {
    RangeSummary {
        range: Range {
            from: 0,
            to: u64::MAX,
            prefix: Vec::new(),
        },
        count: 0,
        digest: [0; 32],
    }
}

#[test]
fn oversized_requests_get_capped_answers() {
    let (mut e, times) = crowd();
    let now = UnixMillis(BASE + 2 * HOUR);
    let peer = PeerTag(3);

    // 100,000 ranges: one tiny range per proposal (each answered with an entry), then
    // whole-space ranges (each answered with a split). Both caps bind.
    let mut ranges: Vec<RangeSummary> = times.iter().map(|&t| tiny(t)).collect();
    ranges.resize(100_000, everything());
    let response = answer(
        &mut e,
        now,
        peer,
        &SyncRequest::Reconcile {
            ranges,
            complete: true,
        },
    );
    let SyncResponse::Reconcile { entries, ranges } = &response else {
        panic!("not a reconcile response");
    };
    assert_eq!(entries.len(), MAX_ENTRIES);
    assert_eq!(ranges.len(), MAX_RANGES);
    assert!(ranges.iter().all(|r| r.range.prefix.len() == 1));
    assert!(codec::encode(&response).unwrap().len() <= MAX_SYNC_BYTES);

    // Only the first MAX_REQUEST_RANGES ranges are read: the rest, however wrong, are
    // ignored.
    let mut ranges: Vec<RangeSummary> = (0..MAX_REQUEST_RANGES as u64).map(tiny).collect();
    ranges.resize(100_000, everything());
    assert_eq!(
        answer(
            &mut e,
            now,
            peer,
            &SyncRequest::Reconcile {
                ranges,
                complete: false
            }
        ),
        SyncResponse::Reconcile {
            entries: Vec::new(),
            ranges: Vec::new()
        }
    );

    // A fetch of 100,000 ids (every proposal, many times) returns at most MAX_FETCH.
    let ids: Vec<ProposalId> = e.proposals().map(|v| v.proposal().id()).collect();
    let many: Vec<ProposalId> = ids.iter().copied().cycle().take(100_000).collect();
    let SyncResponse::Items { proposals, ballots } =
        answer(&mut e, now, peer, &SyncRequest::Fetch(many))
    else {
        panic!("not items");
    };
    assert_eq!(proposals.len(), MAX_FETCH);
    assert!(ballots.is_empty());

    // An oversized response yields capped follow-ups.
    let mut other = engine(&roster(5, "3/5"), 1);
    let unknown: Vec<(ProposalId, [u8; 32])> = (0..100_000u32)
        .map(|i| {
            let mut b = [0u8; 32];
            b[..4].copy_from_slice(&i.to_le_bytes());
            (ProposalId::from_bytes(b), [1; 32])
        })
        .collect();
    let (_, follow) = respond(
        &mut other,
        now,
        peer,
        SyncResponse::Reconcile {
            entries: unknown,
            ranges: vec![tiny(5); 100_000],
        },
    );
    for request in &follow {
        match request {
            SyncRequest::Fetch(ids) => assert_eq!(ids.len(), MAX_FETCH),
            SyncRequest::Reconcile { ranges, complete } => {
                assert!(!complete);
                assert!(ranges.len() <= MAX_RANGES);
            }
            SyncRequest::Steps { .. } => panic!("no roster steps were asked for"),
        }
    }
    // The tiny ranges all match (nothing at either side), so only the fetch remains.
    assert_eq!(follow.len(), 1);
}

#[test]
fn dropped_proposals_leave_the_summaries() {
    let (r, msgs) = pool();
    let now = UnixMillis(T0 + 10 * MINUTE);
    let mut e = engine(r, 0);
    deliver(&mut e, now, &msgs[0]);
    let SyncRequest::Reconcile { ranges, .. } = e.sync_request(now) else {
        panic!("not a reconcile request");
    };
    assert_eq!(ranges.len(), 1);
    // Past expiry plus retention the proposal leaves memory, and the summaries.
    let gone = UnixMillis(T0 + 4 * HOUR + Config::default().retention_ms);
    e.tick(gone);
    assert_eq!(e.proposals().count(), 0);
    assert_eq!(
        e.sync_request(gone),
        SyncRequest::Reconcile {
            ranges: Vec::new(),
            complete: true
        }
    );
}

// ---------------------------------------------------------------------------------------
// One output contract.
// ---------------------------------------------------------------------------------------

/// Invariant 17: a catch-up answer and a follow-up leave the engine only through
/// `poll_output`, in the one queue, after the records of inputs handled before them.
#[test]
fn sync_answers_leave_through_poll_output_after_earlier_records() {
    let (r, msgs) = pool();
    let now = UnixMillis(T0 + 10 * MINUTE);
    let mut a = engine(r, 0);
    let mut b = engine(r, 1);
    let p: SignedProposal = codec::decode(&msgs[0]).unwrap();
    // b takes a proposal and, before its outputs are drained, a's request.
    b.handle_message(now, PeerTag(99), MessageTag(0), &msgs[0]);
    b.handle_sync_request(now, PeerTag(1), SyncTag(5), &a.sync_request(now));
    let outputs = drain(&mut b);
    let persisted = outputs
        .iter()
        .rposition(|o| matches!(o, Output::Persist(_)))
        .expect("the proposal is persisted");
    let Some(Output::SyncResponse {
        peer: PeerTag(1),
        tag: SyncTag(5),
        response,
    }) = outputs.last()
    else {
        panic!("the answer comes last: {outputs:?}");
    };
    assert!(persisted < outputs.len() - 1);
    assert_eq!(
        outputs
            .iter()
            .filter(|o| matches!(o, Output::SyncResponse { .. }))
            .count(),
        1
    );
    // The follow-up to that answer leaves the same way, with the response's tag.
    a.handle_sync_response(now, PeerTag(2), SyncTag(6), response.clone());
    assert_eq!(
        drain(&mut a),
        vec![Output::SyncRequest {
            peer: PeerTag(2),
            tag: SyncTag(6),
            request: SyncRequest::Fetch(vec![p.id()]),
        }]
    );
}
