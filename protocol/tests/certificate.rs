//! Quorum certificates: valid ones verify offline; every kind of tampering fails.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use swarmvote_protocol::{
    Ballot, Certificate, CertificateError, Payload, Roster, SignedProposal, Tally, VerifyError,
    Vote, codec,
};

/// n = 5, q = 4 (3/4): a proposal with YES from members 0..4 and NO from member 4.
fn approved() -> (Roster, SignedProposal, Certificate) {
    let r = roster(5, "3/4");
    assert_eq!(r.required(), 4);
    let p = verified_proposal(&r);
    let mut t = Tally::new(&r, &p);
    for i in 0..4 {
        t.add(ballot(&p, i, Vote::Yes).verify(&r).unwrap()).unwrap();
    }
    t.add(ballot(&p, 4, Vote::No).verify(&r).unwrap()).unwrap();
    let cert = t.certificate(&p).expect("approved");
    (r, p.into_inner(), cert)
}

#[test]
fn a_valid_certificate_verifies_offline() {
    let (r, p, cert) = approved();
    assert_eq!(cert.ballots().len(), 4);
    let verified = cert.clone().verify(&r).unwrap();
    assert_eq!(verified.proposal().id(), p.id());

    // Through the binary codec and through JSON, against a roster read from TOML.
    let r2 = Roster::from_toml(&r.to_toml()).unwrap();
    let bytes = codec::encode(&cert).unwrap();
    let back: Certificate = codec::decode(&bytes).unwrap();
    assert!(back.verify(&r2).is_ok());
    let json = serde_json::to_string_pretty(&cert).unwrap();
    assert!(json.contains("\"vote\": \"yes\""), "{json}");
    assert!(json.contains("\"/backup\""), "payload is readable: {json}");
    let back: Certificate = serde_json::from_str(&json).unwrap();
    assert!(back.verify(&r2).is_ok());
}

#[test]
fn a_pending_tally_has_no_certificate() {
    let r = roster(5, "3/4");
    let p = verified_proposal(&r);
    let mut t = Tally::new(&r, &p);
    for i in 0..3 {
        t.add(ballot(&p, i, Vote::Yes).verify(&r).unwrap()).unwrap();
    }
    assert!(t.certificate(&p).is_none());
}

#[test]
fn removing_a_ballot_fails() {
    let (r, p, cert) = approved();
    let fewer = Certificate::new(p, cert.ballots()[1..].to_vec());
    assert_eq!(
        fewer.verify(&r).unwrap_err(),
        CertificateError::Insufficient {
            have: 3,
            need: 4,
            tier: "default".parse().unwrap()
        }
    );
}

#[test]
fn duplicating_a_voter_fails() {
    let (r, p, cert) = approved();
    // Replace one voter's ballot by a second copy of another's: still 4 ballots.
    let mut ballots = cert.ballots()[..3].to_vec();
    ballots.push(cert.ballots()[2].clone());
    let dup = Certificate::new(p.clone(), ballots);
    assert!(matches!(
        dup.verify(&r).unwrap_err(),
        CertificateError::DuplicateVoter { index: 3, .. }
    ));
    // The same voter with a second, differently reasoned YES also counts once.
    let mut ballots = cert.ballots()[..3].to_vec();
    let voter = cert.ballots()[0].ballot().voter;
    let i = (0..5).find(|i| key(*i).voter_id() == voter).unwrap();
    ballots.push(ballot_with_reason(&p, i, Vote::Yes, "again"));
    assert!(matches!(
        Certificate::new(p, ballots).verify(&r).unwrap_err(),
        CertificateError::DuplicateVoter { .. }
    ));
}

#[test]
fn a_non_member_ballot_fails() {
    let (r, p, cert) = approved();
    let mut ballots = cert.ballots()[..3].to_vec();
    let outsider = 77;
    ballots.push(
        Ballot {
            swarm: r.swarm().clone(),
            proposal: p.id(),
            voter: key(outsider).voter_id(),
            vote: Vote::Yes,
            reason: None,
        }
        .sign(&key(outsider)),
    );
    let err = Certificate::new(p, ballots).verify(&r).unwrap_err();
    assert!(
        matches!(
            err,
            CertificateError::Ballot {
                source: VerifyError::NotAMember { .. },
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn a_no_ballot_or_a_ballot_for_another_proposal_fails() {
    let (r, p, cert) = approved();
    let mut ballots = cert.ballots()[..3].to_vec();
    ballots.push(ballot(&p, 4, Vote::No));
    assert!(matches!(
        Certificate::new(p.clone(), ballots).verify(&r).unwrap_err(),
        CertificateError::NotYes { .. }
    ));
    let other = draft(&r, 1, "{}").sign(&key(1)).unwrap();
    let mut ballots = cert.ballots()[..3].to_vec();
    ballots.push(ballot(&other, 4, Vote::Yes));
    assert!(matches!(
        Certificate::new(p, ballots).verify(&r).unwrap_err(),
        CertificateError::WrongProposal { .. }
    ));
}

#[test]
fn changing_one_payload_byte_fails() {
    let (r, p, cert) = approved();
    // Change one byte of the canonical payload: {"path":"/backup"} -> {"path":"/backuq"}.
    let mut bytes = p.proposal().payload.as_bytes().to_vec();
    let at = bytes.iter().rposition(|b| *b == b'p').unwrap();
    bytes[at] = b'q';
    let mut changed = p.proposal().clone();
    changed.payload = Payload::from_canonical_bytes(bytes).unwrap();
    let forged = SignedProposal::from_parts(changed, *p.signature()).unwrap();
    let err = Certificate::new(forged, cert.ballots().to_vec())
        .verify(&r)
        .unwrap_err();
    assert!(
        matches!(
            err,
            CertificateError::Proposal(VerifyError::BadSignature { .. })
        ),
        "{err}"
    );

    // In the binary form, every single-byte change of the payload region is caught.
    let encoded = codec::encode(&cert).unwrap();
    let payload = p.proposal().payload.as_bytes();
    let start = encoded
        .windows(payload.len())
        .position(|w| w == payload)
        .unwrap();
    for i in start..start + payload.len() {
        let mut bad = encoded.clone();
        bad[i] = bad[i].wrapping_add(1);
        let ok = codec::decode::<Certificate>(&bad)
            .map(|c| c.verify(&r).is_ok())
            .unwrap_or(false);
        assert!(!ok, "changed payload byte {i} accepted");
    }
}

#[test]
fn a_certificate_for_another_roster_fails() {
    let (_, _, cert) = approved();
    let other = roster(5, "1/2");
    assert!(matches!(
        cert.clone().verify(&other).unwrap_err(),
        CertificateError::Proposal(VerifyError::WrongRoster { .. })
    ));
    let elsewhere = roster_in("elsewhere", 5, "3/4");
    assert!(matches!(
        cert.verify(&elsewhere).unwrap_err(),
        CertificateError::Proposal(VerifyError::WrongSwarm { .. })
    ));
}

#[test]
fn unsorted_ballots_fail() {
    let (r, _, cert) = approved();
    let mut json: serde_json::Value = serde_json::to_value(&cert).unwrap();
    json["ballots"].as_array_mut().unwrap().swap(0, 1);
    let swapped: Certificate = serde_json::from_value(json).unwrap();
    assert!(matches!(
        swapped.verify(&r).unwrap_err(),
        CertificateError::Unsorted { index: 1 }
    ));
}
