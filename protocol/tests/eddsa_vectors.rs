//! External ed25519 edge-case vectors against swarmvote's key validation
//! (`PublicKey::from_bytes`) and its strict verification rule
//! (`PublicKey::verify_signing_bytes`, what `PublicKey::verify` runs): Project Wycheproof's
//! EdDSA file and the twelve cases of "Taming the many EdDSAs" (ed25519-speccheck).
//! Provenance and licences: tests/vectors/wycheproof/NOTICE.md, tests/vectors/speccheck/NOTICE.md.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use serde_json::Value;
use swarmvote_protocol::crypto::KeyError;
use swarmvote_protocol::{PublicKey, Signature};

const WYCHEPROOF: &str = include_str!("vectors/wycheproof/ed25519_test.json");
const SPECCHECK: &str = include_str!("vectors/speccheck/cases.json");

/// What swarmvote does with a (key, message, signature).
#[derive(Clone, Debug, PartialEq, Eq)]
enum Outcome {
    /// The key is refused before any signature is looked at.
    KeyRefused(KeyError),
    /// The signature is not 64 bytes (so cannot even be a `Signature`).
    WrongLength,
    /// The strict rule refuses the signature.
    Refused,
    /// Accepted.
    Accepted,
}

fn judge(key: &[u8], msg: &[u8], sig: &[u8]) -> Outcome {
    let key: [u8; 32] = key.try_into().expect("32-byte key");
    let key = match PublicKey::from_bytes(&key) {
        Ok(k) => k,
        Err(e) => return Outcome::KeyRefused(e),
    };
    let Ok(sig) = <[u8; 64]>::try_from(sig) else {
        return Outcome::WrongLength;
    };
    match key.verify_signing_bytes(msg, &Signature(sig)) {
        Ok(()) => Outcome::Accepted,
        Err(_) => Outcome::Refused,
    }
}

fn hex_field(v: &Value, field: &str) -> Vec<u8> {
    hex::decode(v[field].as_str().unwrap_or_else(|| panic!("no {field}"))).unwrap()
}

/// Every Wycheproof test: "valid" ones are accepted, "invalid" ones refused. The file
/// has no "acceptable" results for ed25519; one would fail here, to be looked at.
#[test]
fn wycheproof_ed25519() {
    let file: Value = serde_json::from_str(WYCHEPROOF).unwrap();
    let (mut valid, mut invalid) = (0, 0);
    for group in file["testGroups"].as_array().unwrap() {
        let key = hex_field(&group["publicKey"], "pk");
        for test in group["tests"].as_array().unwrap() {
            let id = &test["tcId"];
            let outcome = judge(&key, &hex_field(test, "msg"), &hex_field(test, "sig"));
            match test["result"].as_str().unwrap() {
                "valid" => {
                    valid += 1;
                    assert_eq!(outcome, Outcome::Accepted, "tcId {id} {}", test["comment"]);
                }
                "invalid" => {
                    invalid += 1;
                    assert_ne!(outcome, Outcome::Accepted, "tcId {id} {}", test["comment"]);
                }
                other => panic!("tcId {id}: result {other}"),
            }
        }
    }
    assert_eq!((valid, invalid), (88, 63), "the whole file was read");
}

/// The speccheck cases, each with what swarmvote does and why.
#[test]
fn taming_the_many_eddsas() {
    use Outcome::*;
    let expected = [
        // 0: small-order A and R, s = 0.
        KeyRefused(KeyError::SmallOrder),
        // 1: small-order A, mixed-order R.
        KeyRefused(KeyError::SmallOrder),
        // 2-5: mixed-order A (a torsion component). Case 3 passes dalek's verify_strict
        // under such a key (and 4-5 pass cofactored verifiers), so the key is refused.
        KeyRefused(KeyError::MixedOrder),
        KeyRefused(KeyError::MixedOrder),
        KeyRefused(KeyError::MixedOrder),
        KeyRefused(KeyError::MixedOrder),
        // 6-7: S not reduced (S >= L, and S >> L): malleable, refused.
        Refused,
        Refused,
        // 8-9: non-canonical encoding of R, under case 2's mixed-order key, which is
        // refused first (the strict rule refuses them too: see the test below).
        KeyRefused(KeyError::MixedOrder),
        KeyRefused(KeyError::MixedOrder),
        // 10-11: non-canonical encoding of a small-order A: refused.
        KeyRefused(KeyError::NonCanonical),
        KeyRefused(KeyError::NonCanonical),
    ];
    let cases: Vec<Value> = serde_json::from_str(SPECCHECK).unwrap();
    assert_eq!(cases.len(), expected.len());
    let got: Vec<Outcome> = cases
        .iter()
        .map(|c| {
            judge(
                &hex_field(c, "pub_key"),
                &hex_field(c, "message"),
                &hex_field(c, "signature"),
            )
        })
        .collect();
    for (i, (g, e)) in got.iter().zip(&expected).enumerate() {
        assert_eq!(g, e, "speccheck case {i}");
    }
}

/// Why case 3 needs the key check: with the raw key (no validation), dalek's strict rule
/// accepts it, as the speccheck results table reports; cases 8-9 it refuses on its own.
#[test]
fn strict_rule_alone_under_mixed_order_keys() {
    let cases: Vec<Value> = serde_json::from_str(SPECCHECK).unwrap();
    let c = &cases[3];
    let key: [u8; 32] = hex_field(c, "pub_key").try_into().unwrap();
    let sig: [u8; 64] = hex_field(c, "signature").try_into().unwrap();
    let key = ed25519_dalek::VerifyingKey::from_bytes(&key).unwrap();
    let sig = ed25519_dalek::Signature::from_bytes(&sig);
    assert!(key.verify_strict(&hex_field(c, "message"), &sig).is_ok());
    // And the strict rule alone refuses the non-canonical R of cases 8 and 9.
    for c in &cases[8..10] {
        let key: [u8; 32] = hex_field(c, "pub_key").try_into().unwrap();
        let sig: [u8; 64] = hex_field(c, "signature").try_into().unwrap();
        let key = ed25519_dalek::VerifyingKey::from_bytes(&key).unwrap();
        let sig = ed25519_dalek::Signature::from_bytes(&sig);
        assert!(key.verify_strict(&hex_field(c, "message"), &sig).is_err());
    }
}

/// A real key plus a torsion point: on the curve, canonical, not small order, but mixed.
#[test]
fn mixed_order_keys_are_refused() {
    use curve25519_dalek::constants::EIGHT_TORSION;
    use curve25519_dalek::edwards::CompressedEdwardsY;
    let seed = [9u8; 32];
    let honest = swarmvote_protocol::SecretKey::from_seed(seed)
        .public()
        .unwrap();
    let point = CompressedEdwardsY(*honest.id().as_bytes())
        .decompress()
        .unwrap();
    for t in &EIGHT_TORSION[1..] {
        let mixed = (point + t).compress().to_bytes();
        assert_eq!(
            PublicKey::from_bytes(&mixed),
            Err(KeyError::MixedOrder),
            "{}",
            hex::encode(mixed)
        );
    }
    assert!(PublicKey::from_bytes(honest.id().as_bytes()).is_ok());
}
