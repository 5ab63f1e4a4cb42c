//! Keys, domain-separated signatures and the `Verified<T>` marker.
//!
//! Every signature covers `tag || 0x00 || len(swarm) || swarm || body`, where `tag` names
//! the message kind and protocol version (for example `swarmvote/v1/ballot`). A ballot
//! signature therefore never verifies as a proposal signature, and a message signed for
//! one swarm never verifies in another. Verification is `verify_strict` only.

use std::fmt;
use std::ops::Deref;
use std::str::FromStr;

use ed25519_dalek::{Signer, SigningKey, VerifyingKey};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest, Sha256};

use crate::ids::{self, IdError, RosterDigest, SwarmId, VoterId};

/// What a signature or digest is for. Each kind has its own tag, so bytes signed for one
/// purpose are never valid for another.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Domain {
    /// A proposal's signature, and its id.
    Proposal,
    /// A ballot's signature.
    Ballot,
    /// A roster's digest.
    Roster,
    /// The digest of a roster with governance (an epoch, tiers, groups or four-eyes).
    /// A separate tag, so a plain roster keeps the digest it always had and the two
    /// encodings can never collide.
    RosterV2,
    /// The seal on the last line of an audit export (see [`crate::seal`]).
    ExportSeal,
    /// A certificate's digest, which execution receipts name.
    Certificate,
    /// An execution receipt's signature.
    Receipt,
}

impl Domain {
    /// The tag written in front of the signed bytes.
    pub const fn tag(self) -> &'static [u8] {
        match self {
            Domain::Proposal => b"swarmvote/v1/proposal",
            Domain::Ballot => b"swarmvote/v1/ballot",
            Domain::Roster => b"swarmvote/v1/roster",
            Domain::RosterV2 => b"swarmvote/v2/roster",
            Domain::ExportSeal => b"swarmvote/v1/export-seal",
            Domain::Certificate => b"swarmvote/v1/certificate",
            Domain::Receipt => b"swarmvote/v1/receipt",
        }
    }
}

/// The exact bytes a signature covers: domain tag, a NUL, the swarm id with its length,
/// then the message body.
pub fn signing_bytes(domain: Domain, swarm: &SwarmId, body: &[u8]) -> Vec<u8> {
    let tag = domain.tag();
    let swarm = swarm.as_str().as_bytes();
    let mut out = Vec::with_capacity(
        tag.len()
            .saturating_add(swarm.len())
            .saturating_add(body.len())
            .saturating_add(2),
    );
    out.extend_from_slice(tag);
    out.push(0);
    // Swarm ids are at most 64 bytes, so the length fits one byte.
    out.push(u8::try_from(swarm.len()).unwrap_or(u8::MAX));
    out.extend_from_slice(swarm);
    out.extend_from_slice(body);
    out
}

/// SHA-256 of `bytes`.
pub fn sha256(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

/// Why bytes are not an acceptable voter public key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// The text is not 64 hex characters.
    #[error(transparent)]
    Text(#[from] IdError),
    /// The bytes are not the encoding of a curve point.
    #[error("not a point on the ed25519 curve")]
    NotOnCurve,
    /// The point is valid but its encoding is not the canonical one.
    #[error("non-canonical point encoding")]
    NonCanonical,
    /// The point has small order (the identity or another torsion point). Such a key can
    /// make signatures that verify for many messages.
    #[error("weak key: the point has small order")]
    SmallOrder,
    /// The point has a small-order (torsion) component. Under such a key, a signature
    /// can verify with one rule (cofactorless, as here) and not with another (cofactored),
    /// so offline verifiers of a certificate could disagree; no honest key has one.
    #[error("weak key: the point has a small-order component")]
    MixedOrder,
}

/// A validated ed25519 public key: on the curve, canonically encoded, of prime order (no
/// small-order component).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct PublicKey {
    key: VerifyingKey,
}

impl PublicKey {
    /// Validates raw key bytes.
    pub fn from_bytes(bytes: &[u8; 32]) -> Result<Self, KeyError> {
        let key = VerifyingKey::from_bytes(bytes).map_err(|_| KeyError::NotOnCurve)?;
        // dalek decompresses y >= p and a "negative zero" x without complaint; accept only
        // the one encoding that compresses back to the same bytes.
        if key.to_edwards().compress().to_bytes() != *bytes {
            return Err(KeyError::NonCanonical);
        }
        if key.is_weak() {
            return Err(KeyError::SmallOrder);
        }
        if !key.to_edwards().is_torsion_free() {
            return Err(KeyError::MixedOrder);
        }
        Ok(Self { key })
    }

    /// The voter id this key stands for.
    pub fn id(&self) -> VoterId {
        VoterId::from_bytes(self.key.to_bytes())
    }

    /// Checks `signature` over `signing_bytes(domain, swarm, body)` with the strict rule.
    pub fn verify(
        &self,
        domain: Domain,
        swarm: &SwarmId,
        body: &[u8],
        signature: &Signature,
    ) -> Result<(), BadSignature> {
        self.verify_signing_bytes(&signing_bytes(domain, swarm, body), signature)
    }

    /// Checks `signature` over bytes already built by [`signing_bytes`], with the strict
    /// rule: what [`PublicKey::verify`] runs. Public so that outside test vectors
    /// (Wycheproof, "Taming the many EdDSAs"), which sign raw messages, check this rule.
    pub fn verify_signing_bytes(
        &self,
        msg: &[u8],
        signature: &Signature,
    ) -> Result<(), BadSignature> {
        let sig = ed25519_dalek::Signature::from_bytes(&signature.0);
        self.key.verify_strict(msg, &sig).map_err(|_| BadSignature)
    }
}

impl TryFrom<VoterId> for PublicKey {
    type Error = KeyError;
    fn try_from(id: VoterId) -> Result<Self, KeyError> {
        Self::from_bytes(id.as_bytes())
    }
}

impl fmt::Display for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.id(), f)
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({})", self.id().short())
    }
}

impl FromStr for PublicKey {
    type Err = KeyError;
    fn from_str(s: &str) -> Result<Self, KeyError> {
        let bytes = ids::parse_hex::<32>(s.trim())?;
        Self::from_bytes(&bytes)
    }
}

/// A signature that did not verify.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("signature does not verify")]
pub struct BadSignature;

/// A voter's secret key. Its `Debug` never prints the secret.
#[derive(Clone)]
pub struct SecretKey {
    key: SigningKey,
}

impl SecretKey {
    /// Derives the key from a 32-byte seed. The caller supplies the randomness.
    pub fn from_seed(seed: [u8; 32]) -> Self {
        Self {
            key: SigningKey::from_bytes(&seed),
        }
    }

    /// The 32-byte seed, for writing a key file.
    pub fn seed(&self) -> [u8; 32] {
        self.key.to_bytes()
    }

    /// The public half.
    ///
    /// A key derived from a seed is never weak (its point is a multiple of the base
    /// point), so this cannot fail in practice; it still goes through the same check.
    pub fn public(&self) -> Result<PublicKey, KeyError> {
        PublicKey::from_bytes(self.key.verifying_key().as_bytes())
    }

    /// The voter id of the public half.
    pub fn voter_id(&self) -> VoterId {
        VoterId::from_bytes(self.key.verifying_key().to_bytes())
    }

    /// Signs `signing_bytes(domain, swarm, body)`.
    pub fn sign(&self, domain: Domain, swarm: &SwarmId, body: &[u8]) -> Signature {
        Signature(
            self.key
                .sign(&signing_bytes(domain, swarm, body))
                .to_bytes(),
        )
    }
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretKey(public={})", self.voter_id().short())
    }
}

/// A 64-byte ed25519 signature, hex in JSON.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(value_type = String, pattern = "^[0-9a-fA-F]{128}$"))]
pub struct Signature(pub [u8; 64]);

impl fmt::Debug for Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Signature({}…)",
            hex::encode(self.0.get(..8).unwrap_or_default())
        )
    }
}

impl Serialize for Signature {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        ids::serialize_fixed(&self.0, s)
    }
}

impl<'de> Deserialize<'de> for Signature {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        ids::deserialize_fixed::<D, 64>(d).map(Self)
    }
}

/// A message whose signature and membership were checked against one roster.
///
/// Only this crate constructs it: its `verify` functions, and the engine for a message it
/// has just signed itself with a member's key (valid by construction). So any function
/// that takes a `Verified<T>` can rely on the check having happened. It remembers the digest of the
/// roster it was checked against, so a message verified under one roster cannot be fed
/// to a tally for another.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verified<T> {
    inner: T,
    roster: RosterDigest,
}

impl<T> Verified<T> {
    pub(crate) fn new(inner: T, roster: RosterDigest) -> Self {
        Self { inner, roster }
    }

    /// The same proof for a transformed message (a copy, an `Arc`): only for
    /// transformations that keep the signed contents.
    pub(crate) fn map<U>(self, f: impl FnOnce(T) -> U) -> Verified<U> {
        Verified {
            inner: f(self.inner),
            roster: self.roster,
        }
    }

    /// The digest of the roster this message was verified against.
    pub fn roster(&self) -> RosterDigest {
        self.roster
    }

    /// Drops the proof and returns the message.
    pub fn into_inner(self) -> T {
        self.inner
    }
}

impl<T> Deref for Verified<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.inner
    }
}

impl<T> AsRef<T> for Verified<T> {
    fn as_ref(&self) -> &T {
        &self.inner
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn swarm(s: &str) -> SwarmId {
        SwarmId::new(s).unwrap()
    }

    #[test]
    fn domains_and_swarms_separate_signatures() {
        let sk = SecretKey::from_seed([7; 32]);
        let pk = sk.public().unwrap();
        let sig = sk.sign(Domain::Ballot, &swarm("a"), b"body");
        assert!(
            pk.verify(Domain::Ballot, &swarm("a"), b"body", &sig)
                .is_ok()
        );
        assert!(
            pk.verify(Domain::Proposal, &swarm("a"), b"body", &sig)
                .is_err()
        );
        assert!(
            pk.verify(Domain::Ballot, &swarm("b"), b"body", &sig)
                .is_err()
        );
        assert!(
            pk.verify(Domain::Ballot, &swarm("a"), b"bodz", &sig)
                .is_err()
        );
    }

    #[test]
    fn swarm_length_prefix_prevents_shifting_bytes() {
        // Without the length byte, ("ab", "c…") and ("a", "bc…") would sign the same bytes.
        let a = signing_bytes(Domain::Ballot, &swarm("ab"), b"c");
        let b = signing_bytes(Domain::Ballot, &swarm("a"), b"bc");
        assert_ne!(a, b);
    }

    #[test]
    fn tags_are_distinct_and_versioned() {
        let tags = [
            Domain::Proposal,
            Domain::Ballot,
            Domain::Roster,
            Domain::Certificate,
            Domain::Receipt,
        ]
        .map(Domain::tag);
        for (i, a) in tags.iter().enumerate() {
            assert!(a.starts_with(b"swarmvote/v1/"));
            for b in tags.iter().skip(i + 1) {
                assert_ne!(a, b);
            }
        }
    }

    #[test]
    fn secret_key_debug_hides_the_seed() {
        let sk = SecretKey::from_seed([0x42; 32]);
        let dbg = format!("{sk:?}");
        assert!(!dbg.contains("4242"), "{dbg}");
    }
}
