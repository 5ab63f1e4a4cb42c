//! Signatures that plain ed25519 verification accepts and strict verification refuses:
//! a member's real key, but a small-order nonce point R (the identity) and s = k·a, so
//! [s]B - [k]A = identity = R holds while R has small order.

use curve25519_dalek::edwards::EdwardsPoint;
use curve25519_dalek::scalar::Scalar;
use curve25519_dalek::traits::Identity;
use ed25519_dalek::{Signer as _, SigningKey, Verifier as _};
use sha2::{Digest, Sha512};
use swarmvote_protocol::codec::{self, Message};
use swarmvote_protocol::crypto::{Domain, signing_bytes};
use swarmvote_protocol::{Ballot, SecretKey, Signature, SignedBallot, SignedReceipt, SwarmId};

/// A signature by `key` over `msg` with R = identity.
pub fn sign_raw(key: &SecretKey, msg: &[u8]) -> [u8; 64] {
    let signing = SigningKey::from_bytes(&key.seed());
    let a = signing.to_scalar();
    let public = signing.verifying_key().to_bytes();
    let r = EdwardsPoint::identity().compress().to_bytes();
    let digest = Sha512::new()
        .chain_update(r)
        .chain_update(public)
        .chain_update(msg)
        .finalize();
    let mut wide = [0u8; 64];
    wide.copy_from_slice(&digest);
    let k = Scalar::from_bytes_mod_order_wide(&wide);
    let mut sig = [0u8; 64];
    sig[..32].copy_from_slice(&r);
    sig[32..].copy_from_slice(&(k * a).to_bytes());
    // What makes it a test case: the lenient rule takes it, the strict one does not.
    let dalek = ed25519_dalek::Signature::from_bytes(&sig);
    assert!(
        signing.verifying_key().verify(msg, &dalek).is_ok(),
        "plain verify refuses"
    );
    assert!(
        signing.verifying_key().verify_strict(msg, &dalek).is_err(),
        "strict accepts"
    );
    // And an honest signature by the same key is a different one.
    assert_ne!(signing.sign(msg).to_bytes(), sig);
    sig
}

/// The body a signed message's signature covers: its encoding without the envelope and
/// without the signature, which both message types end with.
fn body<M: Message>(message: &M, signature: &Signature) -> Vec<u8> {
    let bytes = codec::encode(message).unwrap();
    let body = &bytes[2..];
    assert!(body.ends_with(&signature.0), "the signature is not last");
    body[..body.len() - 64].to_vec()
}

fn sign_in(key: &SecretKey, domain: Domain, swarm: &SwarmId, body: &[u8]) -> Signature {
    Signature(sign_raw(key, &signing_bytes(domain, swarm, body)))
}

/// `ballot` signed by `key` the lenient way.
pub fn ballot(ballot: Ballot, key: &SecretKey) -> SignedBallot {
    let swarm = ballot.swarm.clone();
    let honest = ballot.clone().sign(key);
    let body = body(&honest, honest.signature());
    SignedBallot::from_parts(ballot, sign_in(key, Domain::Ballot, &swarm, &body))
}

/// `receipt` re-signed by `key` the lenient way.
pub fn receipt(honest: &SignedReceipt, key: &SecretKey) -> SignedReceipt {
    let swarm = honest.receipt().swarm.clone();
    let body = body(honest, honest.signature());
    let sig = sign_in(key, Domain::Receipt, &swarm, &body);
    SignedReceipt::from_parts(honest.receipt().clone(), sig).unwrap()
}
