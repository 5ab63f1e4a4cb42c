//! Recounting stored proposals: the same outcome as a live tally for any set and order of
//! ballots, and every stored message checked again (a forgery, a foreign roster, a
//! ballot on another proposal are refused and named).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{ballot, ballot_variants, key, proposal, roster};
use proptest::prelude::*;
use swarmvote_protocol::chain::RosterChain;
use swarmvote_protocol::recount::{Recount, RecountError};
use swarmvote_protocol::{SignedBallot, Status, Tally, UnixMillis, Verdict, Vote, codec};

proptest! {
    #[test]
    fn a_recount_matches_the_live_tally(
        order in Just((0..15usize).collect::<Vec<_>>()).prop_shuffle(),
        take in 0usize..=15,
    ) {
        let r = roster(5, "3/5");
        let p = proposal(&r);
        let variants = ballot_variants(&p, 5);
        let ballots: Vec<SignedBallot> = order[..take]
            .iter()
            .map(|i| codec::decode(&variants[*i]).unwrap())
            .collect();
        let mut live = Tally::new(&r, &p.clone().verify(&r).unwrap());
        for b in &ballots {
            live.add(b.clone().verify(&r).unwrap()).unwrap();
        }
        let chain = RosterChain::new(r.clone()).unwrap();
        let mut recount = Recount::new(&chain, p.clone(), None).unwrap();
        for b in ballots {
            recount.add(b).unwrap();
        }
        prop_assert_eq!(recount.tally().outcome(), live.outcome());
        prop_assert_eq!(recount.certificate(), live.certificate(&p.clone().verify(&r).unwrap()));
    }
}

#[test]
fn a_recount_refuses_what_does_not_verify() {
    let r = roster(3, "2/3");
    let chain = RosterChain::new(r.clone()).unwrap();
    let p = proposal(&r);

    // A ballot whose signature was tampered with.
    let good = ballot(&p, 1, Vote::Yes);
    let mut bytes = codec::encode(&good).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    let forged: SignedBallot = codec::decode(&bytes).unwrap();
    let mut recount = Recount::new(&chain, p.clone(), None).unwrap();
    let e = recount.add(forged).unwrap_err();
    assert!(
        matches!(e, RecountError::Ballot { voter, .. } if voter == key(1).voter_id()),
        "{e}"
    );

    // A ballot on another proposal.
    let other = common::draft(&r, 1, r#"{"path":"/other"}"#)
        .sign(&key(1))
        .unwrap();
    let e = recount.add(ballot(&other, 2, Vote::Yes)).unwrap_err();
    assert!(matches!(e, RecountError::Tally { .. }), "{e}");

    // A proposal under a roster the chain does not hold.
    let foreign = roster(4, "3/4");
    let e = Recount::new(&chain, proposal(&foreign), None)
        .err()
        .expect("unknown roster");
    assert!(matches!(e, RecountError::UnknownRoster { .. }), "{e}");

    // What is counted decides: two YES of three at 2/3 approve, with a certificate.
    let mut recount = Recount::new(&chain, p.clone(), None).unwrap();
    recount.add(ballot(&p, 1, Vote::Yes)).unwrap();
    assert_eq!(recount.tally().verdict(), Verdict::Pending);
    assert!(recount.certificate().is_none());
    recount.add(ballot(&p, 2, Vote::Yes)).unwrap();
    assert_eq!(recount.status(UnixMillis(0)), Status::Approved);
    assert!(recount.certificate().unwrap().verify(&r).is_ok());
}
