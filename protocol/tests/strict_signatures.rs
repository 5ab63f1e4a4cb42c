//! A member's signature that plain ed25519 verification accepts but strict verification
//! refuses (small-order R) is refused at every protocol entry point: gossip, catch-up,
//! certificates and receipts. Each case has an honest control that is accepted, so the
//! refusal is the signature's doing.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
#[path = "common/lenient.rs"]
mod lenient;

use common::*;
use swarmvote_protocol::catchup::SyncResponse;
use swarmvote_protocol::engine::{
    Config, Engine, Event, MessageTag, Output, PeerTag, RejectReason, SyncTag, Validation,
};
use swarmvote_protocol::receipt::output_digest;
use swarmvote_protocol::{
    Ballot, Certificate, CertificateDigest, Receipt, Roster, SignedBallot, SignedProposal,
    UnixMillis, Vote, codec,
};

const NOW: UnixMillis = UnixMillis(1_700_000_001_000);

fn engine(r: &Roster) -> Engine {
    Engine::new(r.clone(), key(0), Config::default()).unwrap()
}

fn drain(e: &mut Engine) -> Vec<Output> {
    std::iter::from_fn(|| e.poll_output()).collect()
}

fn yes(p: &SignedProposal, i: u32) -> Ballot {
    Ballot {
        swarm: p.proposal().swarm.clone(),
        proposal: p.id(),
        voter: key(i).voter_id(),
        vote: Vote::Yes,
        reason: None,
    }
}

fn kept_ballots(e: &Engine, p: &SignedProposal) -> Vec<SignedBallot> {
    e.proposals()
        .find(|v| v.proposal().id() == p.id())
        .map(|v| v.tally().ballots().cloned().collect())
        .unwrap_or_default()
}

fn gossip_validation(e: &mut Engine, bytes: &[u8]) -> Validation {
    e.handle_message(NOW, PeerTag(9), MessageTag(1), bytes);
    drain(e)
        .into_iter()
        .find_map(|o| match o {
            Output::Validation { result, .. } => Some(result),
            _ => None,
        })
        .expect("a validation")
}

#[test]
fn gossip_refuses_a_lenient_ballot() {
    let r = roster(3, "2/3");
    let p = proposal(&r);
    let mut e = engine(&r);
    assert_eq!(
        gossip_validation(&mut e, &codec::encode(&p).unwrap()),
        Validation::Accept
    );

    let bad = lenient::ballot(yes(&p, 1), &key(1));
    let v = gossip_validation(&mut e, &codec::encode(&bad).unwrap());
    assert_eq!(
        v,
        Validation::Reject(RejectReason::BadSignature {
            signer: key(1).voter_id()
        })
    );
    assert!(
        kept_ballots(&e, &p).is_empty(),
        "the lenient ballot was counted"
    );

    let honest = yes(&p, 1).sign(&key(1));
    let v = gossip_validation(&mut e, &codec::encode(&honest).unwrap());
    assert_eq!(v, Validation::Accept, "the honest control");
    assert_eq!(kept_ballots(&e, &p), vec![honest]);
}

#[test]
fn catch_up_refuses_a_lenient_ballot() {
    let r = roster(3, "2/3");
    let p = proposal(&r);
    let bad = lenient::ballot(yes(&p, 1), &key(1));
    let honest = yes(&p, 2).sign(&key(2));
    let mut e = engine(&r);
    e.handle_sync_response(
        NOW,
        PeerTag(7),
        SyncTag(1),
        SyncResponse::Items {
            proposals: vec![p.clone()],
            ballots: vec![bad, honest.clone()],
        },
    );
    let outputs = drain(&mut e);
    assert!(
        outputs.iter().any(|o| matches!(
            o,
            Output::Event(Event::InvalidMessage {
                reason: RejectReason::BadSignature { .. },
                ..
            })
        )),
        "no bad-signature report: {outputs:?}"
    );
    assert_eq!(
        kept_ballots(&e, &p),
        vec![honest],
        "only the honest ballot is kept"
    );
}

#[test]
fn certificates_refuse_a_lenient_ballot() {
    let r = roster(3, "2/3");
    let p = proposal(&r);
    let honest = Certificate::new(
        p.clone(),
        vec![yes(&p, 1).sign(&key(1)), yes(&p, 2).sign(&key(2))],
    );
    honest.verify(&r).expect("the honest control verifies");
    let bad = Certificate::new(
        p.clone(),
        vec![
            lenient::ballot(yes(&p, 1), &key(1)),
            yes(&p, 2).sign(&key(2)),
        ],
    );
    assert!(
        bad.verify(&r).is_err(),
        "a certificate counted a lenient ballot"
    );
}

#[test]
fn receipts_refuse_a_lenient_signature() {
    let r = roster(3, "2/3");
    let p = proposal(&r);
    let honest = Receipt {
        swarm: r.swarm().clone(),
        proposal: p.id(),
        certificate: CertificateDigest::from_bytes([4; 32]),
        approvers: Vec::new(),
        executor: key(0).voter_id(),
        command: "rm -rf /backup".into(),
        exit_code: Some(0),
        stdout: output_digest(b""),
        stderr: output_digest(b""),
        started_at: NOW,
        finished_at: NOW,
    }
    .sign(&key(0))
    .unwrap();
    let bad = lenient::receipt(&honest, &key(0));
    honest.verify(&r).expect("the honest control verifies");
    assert!(
        bad.verify(&r).is_err(),
        "a lenient receipt signature verified"
    );
}
