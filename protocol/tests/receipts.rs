//! Execution receipts: signing, gossip admission, judging (backed or unbacked, and why),
//! bounds, restore, and the offline rule.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use swarmvote_protocol::engine::{
    Config, Engine, Event, IgnoreReason, MessageTag, Output, PeerTag, Record, RejectReason, Run,
    Validation,
};
use swarmvote_protocol::receipt::{self, MAX_COMMAND_BYTES, output_digest};
use swarmvote_protocol::{
    Action, Certificate, CertificateDigest, Nonce, Payload, ProposalId, Receipt, Roster,
    SignedReceipt, Standing, UnbackedReason, UnixMillis, Vote, codec,
};

const T0: UnixMillis = UnixMillis(1_700_000_000_000);

fn engine(r: &Roster, i: u32, config: Config) -> Engine {
    Engine::new(r.clone(), key(i), config).unwrap()
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

/// Delivers `bytes`; the validation, and the receipt standing its event reported.
fn deliver(e: &mut Engine, bytes: &[u8]) -> (Validation, Option<Standing>) {
    e.handle_message(T0, PeerTag(9), MessageTag(1), bytes);
    let out = drain(e);
    let validation = out
        .iter()
        .find_map(|o| match o {
            Output::Validation { result, .. } => Some(result.clone()),
            _ => None,
        })
        .unwrap();
    let standing = out.iter().find_map(|o| match o {
        Output::Event(Event::Receipt { standing, .. }) => Some(standing.clone()),
        _ => None,
    });
    (validation, standing)
}

/// Three engines; member 0 proposes; `yes` members vote YES, the rest NO; every message
/// reaches every engine.
fn swarm(yes: &[u32]) -> (Roster, Vec<Engine>, ProposalId) {
    let r = roster(3, "2/3");
    let mut engines: Vec<Engine> = (0..3).map(|i| engine(&r, i, Config::default())).collect();
    let id = engines[0]
        .propose(
            T0,
            Action::new("deploy").unwrap(),
            Payload::from_json_text(r#"{"v":1}"#).unwrap(),
            60_000,
            Nonce([5; 16]),
        )
        .unwrap();
    let sent = broadcasts(&drain(&mut engines[0]));
    for e in &mut engines[1..] {
        for m in &sent {
            e.handle_message(T0, PeerTag(1), MessageTag(1), m);
        }
        drain(e);
    }
    for i in 0..3usize {
        let vote = if yes.contains(&(i as u32)) {
            Vote::Yes
        } else {
            Vote::No
        };
        // A member whose vote comes after the decision is refused: fine.
        let _ = engines[i].vote(T0, id, vote, None);
        let sent = broadcasts(&drain(&mut engines[i]));
        for (j, e) in engines.iter_mut().enumerate() {
            if j != i {
                for m in &sent {
                    e.handle_message(T0, PeerTag(1), MessageTag(1), m);
                }
                drain(e);
            }
        }
    }
    (r, engines, id)
}

fn run(cert: &Certificate) -> Run<'_> {
    Run {
        certificate: cert,
        command: "/bin/deploy --now",
        exit_code: Some(0),
        stdout: output_digest(b"ok\n"),
        stderr: output_digest(b""),
        started_at: T0,
        finished_at: UnixMillis(T0.0 + 1_500),
    }
}

/// A receipt signed by member `by` for `proposal`, naming any certificate digest.
fn crafted(r: &Roster, by: u32, proposal: ProposalId, digest: [u8; 32]) -> SignedReceipt {
    Receipt {
        swarm: r.swarm().clone(),
        proposal,
        certificate: CertificateDigest::from_bytes(digest),
        approvers: Vec::new(),
        executor: key(by).voter_id(),
        command: "rm -rf /backup".into(),
        exit_code: Some(0),
        stdout: output_digest(b""),
        stderr: output_digest(b""),
        started_at: T0,
        finished_at: T0,
    }
    .sign(&key(by))
    .unwrap()
}

fn unbacked_reason(s: &Standing) -> UnbackedReason {
    match s {
        Standing::Unbacked { reason, .. } => *reason,
        Standing::Backed => panic!("expected an unbacked standing"),
    }
}

#[test]
fn a_signed_receipt_is_backed_on_every_engine() {
    let (r, mut engines, id) = swarm(&[0, 1, 2]);
    let cert = engines[0].proposal(&id).unwrap().certificate().unwrap();
    let signed = engines[0].sign_receipt(&run(&cert)).unwrap();
    let out = drain(&mut engines[0]);
    // Stored before it is broadcast.
    let record = out
        .iter()
        .position(|o| matches!(o, Output::Persist(Record::Receipt(_))))
        .unwrap();
    let sent = out
        .iter()
        .position(|o| matches!(o, Output::Broadcast(_)))
        .unwrap();
    assert!(record < sent);
    let bytes = broadcasts(&out).pop().unwrap();
    for e in &mut engines[1..] {
        let (v, standing) = deliver(e, &bytes);
        assert_eq!(v, Validation::Accept);
        assert_eq!(standing, Some(Standing::Backed));
        assert_eq!(e.receipts(&id).collect::<Vec<_>>(), vec![&signed]);
        // A second delivery is a duplicate.
        assert_eq!(
            deliver(e, &bytes).0,
            Validation::Ignore(IgnoreReason::Duplicate)
        );
    }
    // Offline: the receipt and the certificate it names.
    let verified = signed.clone().verify(&r).unwrap();
    assert!(receipt::judge(verified.receipt(), Some(cert), &r, None).is_backed());
    // The certificate the receipt names is rebuilt from its approvers, even on an engine
    // whose own certificate carries other ballots.
    let (standing, rebuilt) = engines[2].receipt_standing(&signed);
    assert_eq!(standing, Standing::Backed);
    assert_eq!(rebuilt.unwrap().digest(), signed.receipt().certificate);
}

#[test]
fn a_tampered_receipt_fails() {
    let (r, mut engines, id) = swarm(&[0, 1, 2]);
    let cert = engines[0].proposal(&id).unwrap().certificate().unwrap();
    let signed = engines[0].sign_receipt(&run(&cert)).unwrap();
    let mut changed = signed.receipt().clone();
    changed.exit_code = Some(1);
    let forged = SignedReceipt::from_parts(changed, *signed.signature()).unwrap();
    let bytes = codec::encode(&forged).unwrap();
    let (v, standing) = deliver(&mut engines[1], &bytes);
    assert_eq!(
        v,
        Validation::Reject(RejectReason::BadSignature {
            signer: key(0).voter_id()
        })
    );
    assert_eq!(standing, None);
    assert_eq!(engines[1].receipts(&id).count(), 0);
    assert!(forged.verify(&r).is_err());
    // A changed output digest too.
    let mut changed = signed.receipt().clone();
    changed.stdout = output_digest(b"something else");
    let forged = SignedReceipt::from_parts(changed, *signed.signature()).unwrap();
    assert!(forged.verify(&r).is_err());
    // A certificate with another set of ballots is not the one the receipt names.
    let other = Certificate::new(
        cert.proposal().clone(),
        cert.ballots().iter().take(2).cloned().collect(),
    );
    let s = receipt::judge(signed.receipt(), Some(other), &r, None);
    assert_eq!(unbacked_reason(&s), UnbackedReason::CertificateMismatch);
}

#[test]
fn a_receipt_without_an_approval_is_kept_and_flagged() {
    // Rejected: members 1 and 2 vote no.
    let (r, mut engines, id) = swarm(&[0]);
    let bogus = crafted(&r, 0, id, [7; 32]);
    let bytes = codec::encode(&bogus).unwrap();
    let (v, standing) = deliver(&mut engines[1], &bytes);
    assert_eq!(v, Validation::Accept, "evidence is kept and forwarded");
    assert_eq!(
        unbacked_reason(&standing.unwrap()),
        UnbackedReason::NotApproved
    );
    assert_eq!(engines[1].receipts(&id).count(), 1);
    // Offline, with no certificate.
    let s = receipt::judge(bogus.receipt(), None, &r, None);
    assert_eq!(unbacked_reason(&s), UnbackedReason::NoCertificate);
    assert!(s.to_string().contains("UNBACKED"), "{s}");
    // An unknown proposal.
    let (v, standing) = deliver(
        &mut engines[1],
        &codec::encode(&crafted(&r, 1, ProposalId::from_bytes([9; 32]), [0; 32])).unwrap(),
    );
    assert_eq!(v, Validation::Accept);
    assert_eq!(
        unbacked_reason(&standing.unwrap()),
        UnbackedReason::NoCertificate
    );
}

#[test]
fn only_the_proposer_executes() {
    let (r, mut engines, id) = swarm(&[0, 1, 2]);
    let cert = engines[0].proposal(&id).unwrap().certificate().unwrap();
    // Member 1 claims to have run member 0's proposal, under the right certificate.
    let claim = engines[1].sign_receipt(&run(&cert)).unwrap();
    let (standing, _) = engines[2].receipt_standing(&claim);
    assert_eq!(unbacked_reason(&standing), UnbackedReason::NotProposer);
    let s = receipt::judge(claim.receipt(), Some(cert), &r, None);
    assert_eq!(unbacked_reason(&s), UnbackedReason::NotProposer);
}

#[test]
fn unbacked_receipts_are_bounded_per_executor() {
    let r = roster(3, "2/3");
    let config = Config {
        max_unbacked_receipts_per_executor: 4,
        ..Config::default()
    };
    let mut e = engine(&r, 2, config);
    for i in 0..6u8 {
        let bogus = crafted(&r, 1, ProposalId::from_bytes([i; 32]), [0; 32]);
        let (v, _) = deliver(&mut e, &codec::encode(&bogus).unwrap());
        let want = if i < 4 {
            Validation::Accept
        } else {
            Validation::Ignore(IgnoreReason::Capacity)
        };
        assert_eq!(v, want, "receipt {i}");
    }
    // Another executor has its own allowance.
    let other = crafted(&r, 0, ProposalId::from_bytes([1; 32]), [0; 32]);
    assert_eq!(
        deliver(&mut e, &codec::encode(&other).unwrap()).0,
        Validation::Accept
    );
}

#[test]
fn receipts_are_restored_and_judged_again() {
    let (_, mut engines, id) = swarm(&[0, 1, 2]);
    let cert = engines[0].proposal(&id).unwrap().certificate().unwrap();
    let signed = engines[0].sign_receipt(&run(&cert)).unwrap();
    let bytes = broadcasts(&drain(&mut engines[0])).pop().unwrap();
    // Engine 1's whole record stream, as a store would keep it.
    let r = engines[1].roster().clone();
    let mut fresh = engine(&r, 1, Config::default());
    let mut records = Vec::new();
    let mut replay = engine(&r, 1, Config::default());
    // Rebuild engine 1's records by replaying what it received.
    for p in engines[0].proposals() {
        replay.handle_message(
            T0,
            PeerTag(1),
            MessageTag(1),
            &codec::encode(p.proposal()).unwrap(),
        );
        for b in p.tally().ballots() {
            replay.handle_message(T0, PeerTag(1), MessageTag(1), &codec::encode(b).unwrap());
        }
    }
    replay.handle_message(T0, PeerTag(1), MessageTag(1), &bytes);
    for o in drain(&mut replay) {
        if let Output::Persist(rec) = o {
            records.push(rec);
        }
    }
    assert!(
        records.iter().any(|r| matches!(r, Record::Receipt(_))),
        "the receipt is a record"
    );
    let report = fresh.restore(T0, records);
    assert_eq!(report.receipts, 1);
    assert!(report.skipped.is_empty(), "{:?}", report.skipped);
    assert_eq!(fresh.receipts(&id).collect::<Vec<_>>(), vec![&signed]);
    assert_eq!(fresh.receipt_standing(&signed).0, Standing::Backed);
}

#[test]
fn receipt_fields_are_bounded_on_decode() {
    let r = roster(3, "2/3");
    let mut long = crafted(&r, 0, ProposalId::from_bytes([1; 32]), [0; 32])
        .receipt()
        .clone();
    long.command = "x".repeat(MAX_COMMAND_BYTES + 1);
    assert!(long.clone().sign(&key(0)).is_err());
    assert!(receipt::bounded_command(&long.command).len() <= MAX_COMMAND_BYTES);
    let mut backwards = long.clone();
    backwards.command = "ok".into();
    backwards.finished_at = UnixMillis(T0.0 - 1);
    assert!(backwards.sign(&key(0)).is_err());
    // A JSON receipt with unsorted approvers does not decode.
    let mut value =
        serde_json::to_value(crafted(&r, 0, ProposalId::from_bytes([1; 32]), [0; 32])).unwrap();
    value["receipt"]["approvers"] =
        serde_json::json!([key(1).voter_id(), key(0).voter_id(), key(0).voter_id()]);
    assert!(serde_json::from_value::<SignedReceipt>(value).is_err());
}

/// An engine that missed a receipt's gossip gets it through catch-up: the receipt is part
/// of the proposal's entry digest, so the ranges differ, and the fetch answers with it.
/// Without receipts the answer is the plain `Items` every node always sent.
#[test]
fn a_missed_receipt_arrives_through_catch_up() {
    let (_, mut engines, id) = swarm(&[0, 1, 2]);
    let mut late = engines.pop().unwrap();
    let mut executor = engines.remove(0);
    let cert = executor.proposal(&id).unwrap().certificate().unwrap();
    // Nothing to catch up yet: the digests agree and no receipts travel.
    assert_eq!(catch_up(&mut late, &mut executor), (0, 0));
    let signed = executor.sign_receipt(&run(&cert)).unwrap();
    drain(&mut executor); // the gossip copy never reaches `late`
    assert_eq!(late.receipts(&id).count(), 0);
    let (fetched, with_receipts) = catch_up(&mut late, &mut executor);
    assert_eq!((fetched, with_receipts), (1, 1));
    let held: Vec<_> = late.receipts(&id).cloned().collect();
    assert_eq!(held, vec![signed.clone()]);
    assert!(late.receipt_standing(&signed).0.is_backed());
    // And then they agree again.
    assert_eq!(catch_up(&mut late, &mut executor), (0, 0));
}

/// Drives catch-up from `late` against `peer` until neither has a follow-up; returns the
/// proposals fetched and how many answers carried receipts.
fn catch_up(late: &mut Engine, peer: &mut Engine) -> (usize, usize) {
    use swarmvote_protocol::engine::{SyncRequest, SyncResponse, SyncTag};
    let mut requests = vec![late.sync_request(T0)];
    let (mut rounds, mut fetched, mut with_receipts) = (0, 0, 0);
    while let Some(req) = requests.pop() {
        rounds += 1;
        assert!(rounds < 50, "catch-up does not converge");
        if let SyncRequest::Fetch(ids) = &req {
            fetched += ids.len();
        }
        peer.handle_sync_request(T0, PeerTag(7), SyncTag(0), &req);
        let answer = drain(peer)
            .into_iter()
            .find_map(|o| match o {
                Output::SyncResponse { response, .. } => Some(response),
                _ => None,
            })
            .unwrap();
        with_receipts += usize::from(matches!(answer, SyncResponse::ItemsWithReceipts { .. }));
        late.handle_sync_response(T0, PeerTag(7), SyncTag(0), answer);
        for o in drain(late) {
            if let Output::SyncRequest { request, .. } = o {
                requests.push(request);
            }
        }
    }
    (fetched, with_receipts)
}
