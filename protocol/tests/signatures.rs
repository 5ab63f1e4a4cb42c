//! Signatures, domain separation, content addressing and key validation.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use curve25519_dalek::edwards::{CompressedEdwardsY, EdwardsPoint};
use curve25519_dalek::scalar::Scalar;
use curve25519_dalek::traits::Identity;
use swarmvote_protocol::crypto::KeyError;
use swarmvote_protocol::{
    Action, Ballot, Nonce, Payload, PublicKey, RosterError, SignedBallot, SignedProposal,
    UnixMillis, VerifyError, Vote,
};

#[test]
fn id_commits_to_every_field() {
    let r = roster(3, "2/3");
    let base = draft(&r, 0, r#"{"path":"/backup"}"#);
    let id = base.id();
    let variants = [
        {
            let mut p = base.clone();
            p.payload = Payload::from_json_text(r#"{"path":"/backuq"}"#).unwrap();
            p
        },
        {
            let mut p = base.clone();
            p.action = Action::new("fs.delete2").unwrap();
            p
        },
        {
            let mut p = base.clone();
            p.proposer = key(1).voter_id();
            p
        },
        {
            let mut p = base.clone();
            p.created_at = UnixMillis(p.created_at.0 + 1);
            p
        },
        {
            let mut p = base.clone();
            p.expires_at = UnixMillis(p.expires_at.0 + 1);
            p
        },
        {
            let mut p = base.clone();
            p.nonce = Nonce([8; 16]);
            p
        },
        {
            let mut p = base.clone();
            p.roster = roster(4, "2/3").digest();
            p
        },
        {
            let mut p = base.clone();
            p.swarm = swarm("other");
            p
        },
    ];
    for (i, v) in variants.iter().enumerate() {
        assert_ne!(v.id(), id, "variant {i} kept the id");
    }
    // The id ignores the signature, so it equals the unsigned proposal's id.
    let signed = base.clone().sign(&key(0)).unwrap();
    assert_eq!(signed.id(), id);
    // Equal content gives an equal id.
    assert_eq!(draft(&r, 0, r#"{ "path" : "/backup" }"#).id(), id);
}

#[test]
fn tampered_payload_is_rejected() {
    let r = roster(3, "2/3");
    let signed = proposal(&r);
    let mut p = signed.proposal().clone();
    p.payload = Payload::from_json_text(r#"{"path":"/tmp"}"#).unwrap();
    let forged = SignedProposal::from_parts(p, *signed.signature()).unwrap();
    assert_eq!(
        forged.verify(&r).unwrap_err(),
        VerifyError::BadSignature {
            signer: key(0).voter_id()
        }
    );
    assert!(signed.verify(&r).is_ok());
}

#[test]
fn wrong_swarm_is_rejected() {
    let here = roster_in("here", 3, "2/3");
    let there = roster_in("there", 3, "2/3");
    // Same members and quorum, different swarm: the proposal must not verify here.
    let p = proposal(&there);
    assert!(matches!(
        p.clone().verify(&here),
        Err(VerifyError::WrongSwarm { .. })
    ));
    // A ballot signed for `there`, relabelled as `here`, fails on the signature.
    let b = ballot(&p, 1, Vote::Yes);
    let mut relabelled = b.ballot().clone();
    relabelled.swarm = here.swarm().clone();
    let forged = SignedBallot::from_parts(relabelled, *b.signature());
    assert_eq!(
        forged.verify(&here).unwrap_err(),
        VerifyError::BadSignature {
            signer: key(1).voter_id()
        }
    );
    assert!(matches!(
        b.verify(&here),
        Err(VerifyError::WrongSwarm { .. })
    ));
}

#[test]
fn proposal_for_another_roster_is_rejected() {
    let r3 = roster(3, "2/3");
    let r3_half = roster(3, "1/2");
    let p = proposal(&r3);
    assert!(matches!(
        p.verify(&r3_half),
        Err(VerifyError::WrongRoster { .. })
    ));
}

#[test]
fn signature_kinds_do_not_cross() {
    let r = roster(3, "2/3");
    let p = proposal(&r);
    let b = ballot(&p, 0, Vote::Yes);
    // A ballot signature replayed on a proposal by the same signer.
    let replayed = SignedProposal::from_parts(p.proposal().clone(), *b.signature()).unwrap();
    assert!(matches!(
        replayed.verify(&r),
        Err(VerifyError::BadSignature { .. })
    ));
    // A proposal signature replayed on a ballot by the same signer.
    let replayed = SignedBallot::from_parts(b.ballot().clone(), *p.signature());
    assert!(matches!(
        replayed.verify(&r),
        Err(VerifyError::BadSignature { .. })
    ));
}

#[test]
fn ballot_moved_to_another_proposal_is_rejected() {
    let r = roster(3, "2/3");
    let p1 = proposal(&r);
    let p2 = draft(&r, 0, r#"{"path":"/tmp"}"#).sign(&key(0)).unwrap();
    let b = ballot(&p1, 1, Vote::Yes);
    let mut moved = b.ballot().clone();
    moved.proposal = p2.id();
    let forged = SignedBallot::from_parts(moved, *b.signature());
    assert!(matches!(
        forged.verify(&r),
        Err(VerifyError::BadSignature { .. })
    ));
}

#[test]
fn flipped_vote_and_changed_reason_are_rejected() {
    let r = roster(3, "2/3");
    let p = proposal(&r);
    let b = ballot_with_reason(&p, 1, Vote::Yes, "looks fine");
    let mut flipped = b.ballot().clone();
    flipped.vote = Vote::No;
    assert!(
        SignedBallot::from_parts(flipped, *b.signature())
            .verify(&r)
            .is_err()
    );
    let mut reasoned = b.ballot().clone();
    reasoned.reason = None;
    assert!(
        SignedBallot::from_parts(reasoned, *b.signature())
            .verify(&r)
            .is_err()
    );
}

#[test]
fn non_members_are_rejected() {
    let r = roster(3, "2/3");
    let p = proposal(&r);
    let outsider = 99;
    let b = Ballot {
        swarm: r.swarm().clone(),
        proposal: p.id(),
        voter: key(outsider).voter_id(),
        vote: Vote::Yes,
        reason: None,
    }
    .sign(&key(outsider));
    assert_eq!(
        b.verify(&r).unwrap_err(),
        VerifyError::NotAMember {
            voter: key(outsider).voter_id()
        }
    );
    let by_outsider = draft(&r, outsider, "{}").sign(&key(outsider)).unwrap();
    assert!(matches!(
        by_outsider.verify(&r),
        Err(VerifyError::NotAMember { .. })
    ));
}

#[test]
fn proposal_window_is_checked_before_signing() {
    let r = roster(1, "1");
    let mut p = draft(&r, 0, "{}");
    p.expires_at = p.created_at;
    assert!(p.clone().sign(&key(0)).is_err());
    p.expires_at = UnixMillis(p.created_at.0 + swarmvote_protocol::message::MAX_TTL_MS + 1);
    assert!(p.sign(&key(0)).is_err());
}

/// Every encoding of a small-order point: the 8 canonical ones, plus the non-canonical
/// ones (y >= p, and a set sign bit where x = 0).
fn small_order_encodings() -> Vec<[u8; 32]> {
    // Find a point whose torsion component generates the whole 8-torsion group, by
    // decompressing candidate y values and multiplying by the group order l
    // (as (l - 1)P + P, since l itself reduces to 0 as a Scalar).
    let minus_one = Scalar::ZERO - Scalar::ONE;
    let mut generator = None;
    for y in 2u8..=255 {
        let mut bytes = [0u8; 32];
        bytes[0] = y;
        let Some(p) = CompressedEdwardsY(bytes).decompress() else {
            continue;
        };
        let t: EdwardsPoint = p * minus_one + p;
        if (t + t + t + t) != EdwardsPoint::identity() {
            generator = Some(t);
            break;
        }
    }
    let t = generator.expect("a point with a full 8-torsion component");
    let mut points = Vec::new();
    let mut acc = EdwardsPoint::identity();
    for _ in 0..8 {
        points.push(acc.compress().to_bytes());
        acc += t;
    }
    points.sort();
    points.dedup();
    assert_eq!(points.len(), 8, "the 8-torsion group has 8 points");

    let mut all = points.clone();
    // p = 2^255 - 19, little-endian.
    let mut p_bytes = [0xffu8; 32];
    p_bytes[0] = 0xed;
    p_bytes[31] = 0x7f;
    let mut p_plus_1 = p_bytes;
    p_plus_1[0] = 0xee;
    for base in [p_bytes, p_plus_1] {
        all.push(base);
        let mut signed = base;
        signed[31] |= 0x80;
        all.push(signed);
    }
    // x = 0 points (y = 1 and y = -1) with the sign bit set: "negative zero".
    for point in &points {
        let y_is_one = point[0] == 1 && point[1..31].iter().all(|b| *b == 0) && point[31] == 0;
        let y_is_minus_one = point[0] == 0xec && point[1..31].iter().all(|b| *b == 0xff);
        if y_is_one || y_is_minus_one {
            let mut signed = *point;
            signed[31] |= 0x80;
            all.push(signed);
        }
    }
    all
}

#[test]
fn small_order_and_non_canonical_keys_are_refused() {
    let encodings = small_order_encodings();
    assert_eq!(
        encodings.len(),
        14,
        "8 canonical + 6 non-canonical encodings"
    );
    for bytes in &encodings {
        let err = PublicKey::from_bytes(bytes).expect_err("small-order key accepted");
        assert!(
            matches!(
                err,
                KeyError::SmallOrder | KeyError::NonCanonical | KeyError::NotOnCurve
            ),
            "{err}"
        );
        // And a roster listing it names the member.
        let text = format!(
            "swarm_id = \"s\"\nquorum = \"1/2\"\n[[members]]\nname = \"good\"\nkey = \"{}\"\n[[members]]\nname = \"weak\"\nkey = \"{}\"\n",
            key(0).public().unwrap(),
            hex::encode(bytes)
        );
        match swarmvote_protocol::Roster::from_toml(&text) {
            Err(RosterError::InvalidKey { name, .. }) => assert_eq!(name, "weak"),
            other => panic!("weak key {} accepted: {other:?}", hex::encode(bytes)),
        }
    }
    // The canonical ones fail specifically as small order.
    let identity = EdwardsPoint::identity().compress().to_bytes();
    assert_eq!(
        PublicKey::from_bytes(&identity).unwrap_err(),
        KeyError::SmallOrder
    );
}

#[test]
fn keys_parse_from_text_with_clear_errors() {
    let pk = key(5).public().unwrap();
    let text = pk.to_string();
    assert_eq!(text.parse::<PublicKey>().unwrap(), pk);
    assert!(matches!("zz".parse::<PublicKey>(), Err(KeyError::Text(_))));
}
