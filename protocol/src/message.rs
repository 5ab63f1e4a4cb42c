//! Proposals and ballots, signed and verified.
//!
//! A proposal's id is SHA-256 of its domain-separated signing bytes, so the id commits to
//! the exact payload, and a ballot (which signs the proposal id) commits to it too. The
//! id does not cover the signature, so it cannot be changed by re-signing.

use std::fmt;
use std::sync::Arc;

use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::codec::{self, Kind, Message};
use crate::crypto::{self, Domain, PublicKey, SecretKey, Signature, Verified};
use crate::ids::{Action, Nonce, ProposalId, RosterDigest, SwarmId, UnixMillis, VoterId};
use crate::roster::{MemberIndex, Roster};
use crate::sigcache::SignatureCache;

/// Largest canonical payload, in bytes. It leaves room in a 64 KiB message for the rest.
pub const MAX_PAYLOAD_BYTES: usize = 32 * 1024;
/// Largest ballot reason, in bytes.
pub const MAX_REASON_BYTES: usize = 1024;
/// Longest allowed proposal lifetime: 7 days.
pub const MAX_TTL_MS: u64 = 7 * 24 * 60 * 60 * 1000;

/// Why a message's contents are not acceptable, before any signature is checked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MessageError {
    /// The payload is not JSON.
    #[error("payload is not valid JSON: {detail}")]
    PayloadNotJson {
        /// The parser's message.
        detail: String,
    },
    /// The payload bytes are JSON but not in canonical form (sorted keys, no spaces).
    #[error("payload is not canonical JSON (sorted keys, no insignificant whitespace)")]
    PayloadNotCanonical,
    /// The canonical payload is too large.
    #[error("payload is {len} bytes; at most {max} are allowed")]
    PayloadTooLarge {
        /// Its length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// A reason is empty, too long or contains control characters.
    #[error("reason: {why}")]
    Reason {
        /// What is wrong.
        why: String,
    },
    /// `expires_at` is not after `created_at`, or too far after it.
    #[error(
        "expires_at {expires_at} must be after created_at {created_at} and at most {MAX_TTL_MS} ms later"
    )]
    Window {
        /// Creation time.
        created_at: UnixMillis,
        /// Expiry time.
        expires_at: UnixMillis,
    },
}

/// Why a signed message does not verify against a roster.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    /// The message names another swarm.
    #[error("message is for swarm {found:?}, this roster is {expected:?}")]
    WrongSwarm {
        /// This roster's swarm.
        expected: SwarmId,
        /// The message's swarm.
        found: SwarmId,
    },
    /// The proposal commits to another roster.
    #[error("proposal commits to roster {found}, this roster is {expected}")]
    WrongRoster {
        /// This roster's digest.
        expected: RosterDigest,
        /// The proposal's roster digest.
        found: RosterDigest,
    },
    /// The signer is not in the roster.
    #[error("signer {voter} is not a member of the roster")]
    NotAMember {
        /// The claimed signer.
        voter: VoterId,
    },
    /// The signature does not verify under the signer's key.
    #[error("bad signature from {signer}")]
    BadSignature {
        /// The claimed signer.
        signer: VoterId,
    },
}

/// A voter's choice.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum Vote {
    /// Approve.
    Yes,
    /// Refuse.
    No,
}

impl Vote {
    /// The opposite vote.
    pub fn other(self) -> Vote {
        match self {
            Vote::Yes => Vote::No,
            Vote::No => Vote::Yes,
        }
    }
}

impl fmt::Display for Vote {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Vote::Yes => "yes",
            Vote::No => "no",
        })
    }
}

/// A JSON payload, held as canonical bytes: object keys sorted, no insignificant
/// whitespace, numbers as serde_json prints them. In JSON documents it appears as the
/// JSON value itself.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(value_type = Value))]
pub struct Payload(Vec<u8>);

impl Payload {
    /// Canonicalises a JSON value.
    pub fn from_value(value: &serde_json::Value) -> Result<Self, MessageError> {
        // Sort explicitly: another crate in a build may switch on serde_json's
        // `preserve_order`, and the bytes we sign must not depend on that.
        let mut value = value.clone();
        value.sort_all_objects();
        let bytes = serde_json::to_vec(&value).map_err(|e| MessageError::PayloadNotJson {
            detail: e.to_string(),
        })?;
        if bytes.len() > MAX_PAYLOAD_BYTES {
            return Err(MessageError::PayloadTooLarge {
                len: bytes.len(),
                max: MAX_PAYLOAD_BYTES,
            });
        }
        // Peers accept only bytes that re-encode to themselves. Refuse here, with a clear
        // error, anything that would not (a number that does not survive a round trip).
        let reparsed: serde_json::Value =
            serde_json::from_slice(&bytes).map_err(|e| MessageError::PayloadNotJson {
                detail: e.to_string(),
            })?;
        if serde_json::to_vec(&reparsed).ok().as_deref() != Some(bytes.as_slice()) {
            return Err(MessageError::PayloadNotCanonical);
        }
        Ok(Self(bytes))
    }

    /// Parses JSON text in any layout and canonicalises it.
    pub fn from_json_text(text: &str) -> Result<Self, MessageError> {
        let value: serde_json::Value =
            serde_json::from_str(text).map_err(|e| MessageError::PayloadNotJson {
                detail: e.to_string(),
            })?;
        Self::from_value(&value)
    }

    /// Accepts bytes only if they are already canonical.
    pub fn from_canonical_bytes(bytes: Vec<u8>) -> Result<Self, MessageError> {
        if bytes.len() > MAX_PAYLOAD_BYTES {
            return Err(MessageError::PayloadTooLarge {
                len: bytes.len(),
                max: MAX_PAYLOAD_BYTES,
            });
        }
        let value: serde_json::Value =
            serde_json::from_slice(&bytes).map_err(|e| MessageError::PayloadNotJson {
                detail: e.to_string(),
            })?;
        let canonical = Self::from_value(&value)?;
        if canonical.0 != bytes {
            // Also covers number spellings: `1.0e2` and `100.0` are one value, one form.
            return Err(MessageError::PayloadNotCanonical);
        }
        Ok(canonical)
    }

    /// The canonical bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The payload as a JSON value.
    pub fn to_value(&self) -> serde_json::Value {
        // The bytes were checked to be JSON on construction.
        serde_json::from_slice(&self.0).unwrap_or(serde_json::Value::Null)
    }
}

impl fmt::Debug for Payload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Payload({})", String::from_utf8_lossy(&self.0))
    }
}

impl Serialize for Payload {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if s.is_human_readable() {
            self.to_value().serialize(s)
        } else {
            s.serialize_bytes(&self.0)
        }
    }
}

impl<'de> Deserialize<'de> for Payload {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Bytes;
        impl Visitor<'_> for Bytes {
            type Value = Payload;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("canonical JSON bytes")
            }
            fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<Payload, E> {
                Payload::from_canonical_bytes(v.to_vec()).map_err(E::custom)
            }
            fn visit_byte_buf<E: de::Error>(self, v: Vec<u8>) -> Result<Payload, E> {
                Payload::from_canonical_bytes(v).map_err(E::custom)
            }
        }
        if d.is_human_readable() {
            let value = serde_json::Value::deserialize(d)?;
            Payload::from_value(&value).map_err(de::Error::custom)
        } else {
            d.deserialize_byte_buf(Bytes)
        }
    }
}

/// Why a voter voted as it did: 1 to 1024 bytes of UTF-8, no control characters other
/// than newline and tab.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(value_type = String, pattern = "^[^\\x00-\\x08\\x0B-\\x1F\\x7F-\\x9F]{1,1024}$"))]
pub struct Reason(String);

impl Reason {
    /// Validates a reason.
    pub fn new(text: impl Into<String>) -> Result<Self, MessageError> {
        let text = text.into();
        let why = |why: String| MessageError::Reason { why };
        if text.is_empty() {
            return Err(why("empty; omit the reason instead".into()));
        }
        if text.len() > MAX_REASON_BYTES {
            return Err(why(format!(
                "{} bytes; at most {MAX_REASON_BYTES} are allowed",
                text.len()
            )));
        }
        if let Some(c) = text
            .chars()
            .find(|c| c.is_control() && !matches!(c, '\n' | '\t'))
        {
            return Err(why(format!("contains control character {c:?}")));
        }
        Ok(Self(text))
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Reason {
    type Error = MessageError;
    fn try_from(value: String) -> Result<Self, MessageError> {
        Self::new(value)
    }
}

impl From<Reason> for String {
    fn from(r: Reason) -> String {
        r.0
    }
}

impl fmt::Debug for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.0)
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An action that asks for the swarm's approval.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Proposal {
    /// The swarm it is for.
    pub swarm: SwarmId,
    /// The roster it is to be judged by.
    pub roster: RosterDigest,
    /// The member that proposes it.
    pub proposer: VoterId,
    /// What it asks to do.
    pub action: Action,
    /// Details of the action.
    pub payload: Payload,
    /// When it was made.
    pub created_at: UnixMillis,
    /// After this, a pending proposal is expired and nobody signs for it.
    pub expires_at: UnixMillis,
    /// Makes two otherwise equal proposals distinct.
    pub nonce: Nonce,
}

impl Proposal {
    /// Checks the fields that a signature cannot: the validity window.
    pub fn validate(&self) -> Result<(), MessageError> {
        let ttl = self.expires_at.0.checked_sub(self.created_at.0);
        match ttl {
            Some(ttl) if ttl > 0 && ttl <= MAX_TTL_MS => Ok(()),
            _ => Err(MessageError::Window {
                created_at: self.created_at,
                expires_at: self.expires_at,
            }),
        }
    }

    fn signing_bytes(&self) -> Vec<u8> {
        crypto::signing_bytes(Domain::Proposal, &self.swarm, &codec::encode_body(self))
    }

    /// The content address: SHA-256 of the signing bytes.
    pub fn id(&self) -> ProposalId {
        ProposalId::from_bytes(crypto::sha256(&self.signing_bytes()))
    }

    /// Signs as `key`. The proposer field must be `key`'s voter id.
    pub fn sign(self, key: &SecretKey) -> Result<SignedProposal, MessageError> {
        self.validate()?;
        let bytes = codec::encode_body(&self);
        let signature = key.sign(Domain::Proposal, &self.swarm, &bytes);
        Ok(SignedProposal::assemble(self, signature))
    }

    /// Whether it is past its expiry at `now`.
    pub fn is_expired(&self, now: UnixMillis) -> bool {
        now >= self.expires_at
    }
}

/// A proposal with its proposer's signature. Its id is computed once, on construction.
#[derive(Clone, PartialEq, Eq, Debug)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SignedProposal {
    proposal: Proposal,
    signature: Signature,
    id: ProposalId,
}

impl SignedProposal {
    fn assemble(proposal: Proposal, signature: Signature) -> Self {
        let id = proposal.id();
        Self {
            proposal,
            signature,
            id,
        }
    }

    /// Builds from parts received from elsewhere; the window is checked, the signature is
    /// not (use [`SignedProposal::verify`]).
    pub fn from_parts(proposal: Proposal, signature: Signature) -> Result<Self, MessageError> {
        proposal.validate()?;
        Ok(Self::assemble(proposal, signature))
    }

    /// The content address.
    pub fn id(&self) -> ProposalId {
        self.id
    }

    /// The unsigned proposal.
    pub fn proposal(&self) -> &Proposal {
        &self.proposal
    }

    /// The proposer's signature.
    pub fn signature(&self) -> &Signature {
        &self.signature
    }

    /// Checks swarm, roster digest, membership and signature.
    pub fn verify(self, roster: &Roster) -> Result<Verified<SignedProposal>, VerifyError> {
        self.check(roster)?;
        Ok(Verified::new(self, roster.digest()))
    }

    /// Like [`SignedProposal::verify`], with the signature check answered from `cache`
    /// when this exact signed proposal verified before.
    pub fn verify_cached(
        self,
        roster: &Roster,
        cache: &SignatureCache,
    ) -> Result<Verified<SignedProposal>, VerifyError> {
        self.check_with(roster, Some(cache))?;
        Ok(Verified::new(self, roster.digest()))
    }

    /// Like [`SignedProposal::verify`] without consuming the message.
    pub fn check(&self, roster: &Roster) -> Result<(), VerifyError> {
        self.check_with(roster, None)
    }

    /// Admits a proposal whose signature this crate verified before (it comes from an
    /// [`Inbound`](crate::inbound::Inbound)): every check of [`SignedProposal::verify`]
    /// except the signature, which depends on the bytes alone.
    pub(crate) fn readmit_checked(
        self,
        roster: &Roster,
    ) -> Result<Verified<SignedProposal>, VerifyError> {
        self.admit(roster)?;
        Ok(Verified::new(self, roster.digest()))
    }

    /// The checks that depend on the roster: swarm, roster digest, membership.
    fn admit<'r>(&self, roster: &'r Roster) -> Result<&'r crate::roster::Member, VerifyError> {
        let p = &self.proposal;
        if &p.swarm != roster.swarm() {
            return Err(VerifyError::WrongSwarm {
                expected: roster.swarm().clone(),
                found: p.swarm.clone(),
            });
        }
        if p.roster != roster.digest() {
            return Err(VerifyError::WrongRoster {
                expected: roster.digest(),
                found: p.roster,
            });
        }
        roster
            .member(&p.proposer)
            .ok_or(VerifyError::NotAMember { voter: p.proposer })
    }

    pub(crate) fn check_with(
        &self,
        roster: &Roster,
        cache: Option<&SignatureCache>,
    ) -> Result<(), VerifyError> {
        let p = &self.proposal;
        self.admit(roster)?
            .key
            .verify_cached(
                Domain::Proposal,
                &p.swarm,
                &codec::encode_body(p),
                &self.signature,
                cache,
            )
            .map_err(|_| VerifyError::BadSignature { signer: p.proposer })
    }
}

#[derive(Serialize)]
struct SignedProposalRef<'a> {
    proposal: &'a Proposal,
    signature: &'a Signature,
}

#[derive(Serialize)]
struct SignedProposalJsonRef<'a> {
    id: ProposalId,
    proposal: &'a Proposal,
    signature: &'a Signature,
}

#[derive(Deserialize)]
struct SignedProposalRaw {
    proposal: Proposal,
    signature: Signature,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SignedProposalJson {
    #[serde(default)]
    id: Option<ProposalId>,
    proposal: Proposal,
    signature: Signature,
}

impl Serialize for SignedProposal {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        // Binary forms carry no id (it is derived); JSON shows it for people.
        if s.is_human_readable() {
            SignedProposalJsonRef {
                id: self.id,
                proposal: &self.proposal,
                signature: &self.signature,
            }
            .serialize(s)
        } else {
            SignedProposalRef {
                proposal: &self.proposal,
                signature: &self.signature,
            }
            .serialize(s)
        }
    }
}

impl<'de> Deserialize<'de> for SignedProposal {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        if d.is_human_readable() {
            let raw = SignedProposalJson::deserialize(d)?;
            let signed = SignedProposal::from_parts(raw.proposal, raw.signature)
                .map_err(de::Error::custom)?;
            match raw.id {
                Some(id) if id != signed.id => Err(de::Error::custom(format!(
                    "id {id} does not match the proposal's content ({})",
                    signed.id
                ))),
                _ => Ok(signed),
            }
        } else {
            let raw = SignedProposalRaw::deserialize(d)?;
            SignedProposal::from_parts(raw.proposal, raw.signature).map_err(de::Error::custom)
        }
    }
}

/// A member's vote on one proposal.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Ballot {
    /// The swarm it is for.
    pub swarm: SwarmId,
    /// The proposal it votes on.
    pub proposal: ProposalId,
    /// Who votes.
    pub voter: VoterId,
    /// The vote.
    pub vote: Vote,
    /// Why, optionally.
    pub reason: Option<Reason>,
}

impl Ballot {
    /// Signs as `key`. The voter field must be `key`'s voter id.
    pub fn sign(self, key: &SecretKey) -> SignedBallot {
        let signature = key.sign(Domain::Ballot, &self.swarm, &codec::encode_body(&self));
        SignedBallot {
            ballot: self,
            signature,
        }
    }
}

/// A ballot with its voter's signature.
///
/// The derived order (ballot fields, then signature) is what makes choices between two
/// ballots of one voter deterministic.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SignedBallot {
    ballot: Ballot,
    signature: Signature,
}

impl SignedBallot {
    /// Builds from parts received from elsewhere; the signature is not checked.
    pub fn from_parts(ballot: Ballot, signature: Signature) -> Self {
        Self { ballot, signature }
    }

    /// The unsigned ballot.
    pub fn ballot(&self) -> &Ballot {
        &self.ballot
    }

    /// The voter's signature.
    pub fn signature(&self) -> &Signature {
        &self.signature
    }

    /// Checks swarm, membership and signature. Which proposal it belongs to is checked
    /// by the tally it is added to.
    pub fn verify(self, roster: &Roster) -> Result<Verified<SignedBallot>, VerifyError> {
        self.check(roster)?;
        Ok(Verified::new(self, roster.digest()))
    }

    /// Like [`SignedBallot::verify`], with the signature check answered from `cache`
    /// when this exact signed ballot verified before.
    pub fn verify_cached(
        self,
        roster: &Roster,
        cache: &SignatureCache,
    ) -> Result<Verified<SignedBallot>, VerifyError> {
        self.check_with(roster, Some(cache))?;
        Ok(Verified::new(self, roster.digest()))
    }

    /// Like [`SignedBallot::verify_cached`], returning the ballot behind an `Arc`: the
    /// cache's copy when it has one, so engines sharing `cache` share the ballot.
    pub fn verify_shared(
        self,
        roster: &Roster,
        cache: &SignatureCache,
    ) -> Result<Verified<Arc<SignedBallot>>, VerifyError> {
        let voter = self.ballot.voter;
        let member = self.admit(roster, None)?;
        let b = &self.ballot;
        let msg = crypto::signing_bytes(Domain::Ballot, &b.swarm, &codec::encode_body(b));
        let signature = self.signature;
        let shared = cache
            .verify_shared(&member.key, &msg, &signature, self)
            .map_err(|_| VerifyError::BadSignature { signer: voter })?;
        Ok(Verified::new(shared, roster.digest()))
    }

    /// Admits a ballot whose signature this crate verified before (it comes from an
    /// [`Inbound`](crate::inbound::Inbound)): every check of [`SignedBallot::verify`]
    /// except the signature, which depends on the bytes alone.
    /// `hint` is the voter's index in `roster`, if the caller looked it up.
    pub(crate) fn readmit_checked(
        shared: Arc<Self>,
        roster: &Roster,
        hint: Option<MemberIndex>,
    ) -> Result<Verified<Arc<SignedBallot>>, VerifyError> {
        shared.admit(roster, hint)?;
        Ok(Verified::new(shared, roster.digest()))
    }

    /// The checks that depend on the roster: swarm and membership.
    fn admit<'r>(
        &self,
        roster: &'r Roster,
        hint: Option<MemberIndex>,
    ) -> Result<&'r crate::roster::Member, VerifyError> {
        let b = &self.ballot;
        if &b.swarm != roster.swarm() {
            return Err(VerifyError::WrongSwarm {
                expected: roster.swarm().clone(),
                found: b.swarm.clone(),
            });
        }
        roster
            .member_hinted(&b.voter, hint)
            .ok_or(VerifyError::NotAMember { voter: b.voter })
    }

    /// Whether the signature verifies under the key the voter id names, with no roster:
    /// for a ballot from a voter no known roster lists, which may be a member of a roster
    /// not adopted yet (so not a fault), unless its signature is bad (always a fault).
    pub fn signed_by_its_voter(&self) -> bool {
        let b = &self.ballot;
        PublicKey::try_from(b.voter).is_ok_and(|key| {
            key.verify(
                Domain::Ballot,
                &b.swarm,
                &codec::encode_body(b),
                &self.signature,
            )
            .is_ok()
        })
    }

    /// Like [`SignedBallot::verify`] without consuming the message.
    pub fn check(&self, roster: &Roster) -> Result<(), VerifyError> {
        self.check_with(roster, None)
    }

    pub(crate) fn check_with(
        &self,
        roster: &Roster,
        cache: Option<&SignatureCache>,
    ) -> Result<(), VerifyError> {
        let b = &self.ballot;
        self.admit(roster, None)?
            .key
            .verify_cached(
                Domain::Ballot,
                &b.swarm,
                &codec::encode_body(b),
                &self.signature,
                cache,
            )
            .map_err(|_| VerifyError::BadSignature { signer: b.voter })
    }
}

impl Message for SignedProposal {
    const KIND: Kind = Kind::Proposal;
}

impl Message for SignedBallot {
    const KIND: Kind = Kind::Ballot;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payload_is_canonicalised() {
        let a = Payload::from_json_text(r#"{ "b": 1, "a": [true, null] }"#).unwrap();
        assert_eq!(a.as_bytes(), br#"{"a":[true,null],"b":1}"#);
        assert_eq!(
            Payload::from_canonical_bytes(br#"{"a":[true,null],"b":1}"#.to_vec()).unwrap(),
            a
        );
        assert_eq!(
            Payload::from_canonical_bytes(br#"{"b":1,"a":[true,null]}"#.to_vec()),
            Err(MessageError::PayloadNotCanonical)
        );
        assert_eq!(
            Payload::from_canonical_bytes(br#"{"a": 1}"#.to_vec()),
            Err(MessageError::PayloadNotCanonical)
        );
        assert!(matches!(
            Payload::from_json_text("{nope"),
            Err(MessageError::PayloadNotJson { .. })
        ));
        // Found by proptest: without exact float parsing this re-encodes differently.
        let float = Payload::from_json_text("[198704629036.42706, 1e300, -0.0]").unwrap();
        assert_eq!(
            Payload::from_canonical_bytes(float.as_bytes().to_vec()).unwrap(),
            float
        );
        let big = serde_json::Value::String("x".repeat(MAX_PAYLOAD_BYTES));
        assert!(matches!(
            Payload::from_value(&big),
            Err(MessageError::PayloadTooLarge { .. })
        ));
    }

    #[test]
    fn reasons_are_bounded() {
        assert!(Reason::new("protects /backup\n\tsee policy").is_ok());
        assert!(Reason::new("").is_err());
        assert!(Reason::new("x".repeat(MAX_REASON_BYTES)).is_ok());
        assert!(Reason::new("x".repeat(MAX_REASON_BYTES + 1)).is_err());
        assert!(Reason::new("bell\u{7}").is_err());
        assert!(Reason::new("esc\u{1b}[31m").is_err());
    }
}
