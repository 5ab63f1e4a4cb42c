//! The one codec for every wire and storage message.
//!
//! A message is a two-byte envelope, `[version, kind]`, followed by the body in bincode 2's
//! standard configuration (little-endian varints) through serde. Decoding is strict:
//!
//! * the input length is checked against the kind's limit before anything is allocated,
//!   and bincode is given the same limit for every length prefix it reads;
//! * unknown versions and kinds are refused;
//! * trailing bytes are refused;
//! * the body must be the canonical encoding: it is re-encoded and compared, so one value
//!   has exactly one byte string (bincode alone would accept over-long varints).
//!
//! Field validation (names, payload canonical JSON, reason length, validity window)
//! happens inside deserialization, so a decoded message is always well-formed; whether it
//! is *authentic* is [`verify`](crate::message::SignedBallot::verify)'s job.
//!
//! The codec knows no message type: it is generic over [`Message`], whose impls live
//! beside their types, so every type above it can use it and it depends on none of them.

use bincode::config;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::ids::MAX_MEMBERS;

/// The envelope version this code writes and reads.
pub const VERSION: u8 = 1;
/// Hard limit for a gossip message, envelope included.
pub const MAX_MESSAGE_BYTES: usize = 64 * 1024;
/// Hard limit for a certificate: a proposal and up to [`MAX_MEMBERS`] ballots.
pub const MAX_CERTIFICATE_BYTES: usize = MAX_MESSAGE_BYTES + MAX_MEMBERS * 1280;
/// Hard limit for a catch-up request or response (point to point, never gossip).
pub const MAX_SYNC_BYTES: usize = 4 * 1024 * 1024;

/// The largest limit of any kind. `peek` screens every input against it first, and the
/// bincode limits in `decode_limited` are tiers ending with it: both rely on this order.
const LARGEST_BYTES: usize = MAX_CERTIFICATE_BYTES;
const _: () = assert!(MAX_MESSAGE_BYTES <= MAX_SYNC_BYTES);
const _: () = assert!(MAX_SYNC_BYTES <= LARGEST_BYTES);

/// What a message is. The byte value is part of the wire format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(u8)]
pub enum Kind {
    /// [`SignedProposal`](crate::message::SignedProposal).
    Proposal = 1,
    /// [`SignedBallot`](crate::message::SignedBallot).
    Ballot = 2,
    /// [`Equivocation`](crate::evidence::Equivocation).
    Equivocation = 3,
    /// [`Certificate`](crate::certificate::Certificate).
    Certificate = 4,
    /// [`Decision`](crate::engine::Decision), a storage record.
    Decision = 5,
    /// [`SyncRequest`](crate::catchup::SyncRequest), catch-up between two peers.
    SyncRequest = 6,
    /// [`SyncResponse`](crate::catchup::SyncResponse), catch-up between two peers.
    SyncResponse = 7,
    /// [`SignedReceipt`](crate::receipt::SignedReceipt), an execution receipt (gossip).
    Receipt = 8,
}

impl Kind {
    /// The kind for a byte, if known.
    pub fn from_byte(b: u8) -> Option<Kind> {
        Some(match b {
            1 => Kind::Proposal,
            2 => Kind::Ballot,
            3 => Kind::Equivocation,
            4 => Kind::Certificate,
            5 => Kind::Decision,
            6 => Kind::SyncRequest,
            7 => Kind::SyncResponse,
            8 => Kind::Receipt,
            _ => return None,
        })
    }

    /// The largest encoding accepted for this kind.
    pub const fn max_bytes(self) -> usize {
        match self {
            Kind::Certificate => MAX_CERTIFICATE_BYTES,
            Kind::SyncRequest | Kind::SyncResponse => MAX_SYNC_BYTES,
            Kind::Proposal | Kind::Ballot | Kind::Equivocation | Kind::Decision | Kind::Receipt => {
                MAX_MESSAGE_BYTES
            }
        }
    }
}

/// Why bytes could not be decoded, or a value could not be encoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CodecError {
    /// Larger than the limit; nothing was allocated.
    #[error("message of {len} bytes exceeds the {max}-byte limit")]
    TooLarge {
        /// Its length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// Shorter than the two-byte envelope.
    #[error("message of {len} bytes is shorter than the 2-byte envelope")]
    NoEnvelope {
        /// Its length.
        len: usize,
    },
    /// A version this code does not speak.
    #[error("unknown envelope version {found}; this node speaks version {VERSION}")]
    UnknownVersion {
        /// The version byte.
        found: u8,
    },
    /// A kind byte this code does not know.
    #[error("unknown message kind {found}")]
    UnknownKind {
        /// The kind byte.
        found: u8,
    },
    /// A valid kind, but not the one asked for.
    #[error("expected a {expected:?} message, found {found:?}")]
    UnexpectedKind {
        /// The kind wanted.
        expected: Kind,
        /// The kind present.
        found: Kind,
    },
    /// The body ended early.
    #[error("{kind:?} body is truncated")]
    Truncated {
        /// The kind being decoded.
        kind: Kind,
    },
    /// The body does not decode, or a field is invalid.
    #[error("{kind:?} body is malformed: {detail}")]
    Malformed {
        /// The kind being decoded.
        kind: Kind,
        /// What bincode or field validation said.
        detail: String,
    },
    /// Bytes remain after the body.
    #[error("{kind:?} body has {extra} trailing bytes")]
    TrailingBytes {
        /// The kind being decoded.
        kind: Kind,
        /// How many bytes were left over.
        extra: usize,
    },
    /// The body decodes but is not the canonical encoding of its value.
    #[error("{kind:?} body is not canonically encoded")]
    NonCanonical {
        /// The kind being decoded.
        kind: Kind,
    },
}

/// A type that has its own envelope kind. Each impl lives beside its type.
pub trait Message: Serialize + DeserializeOwned {
    /// Its kind byte.
    const KIND: Kind;
}

fn decode_with<M: Message, const LIMIT: usize>(
    body: &[u8],
) -> Result<(M, usize), bincode::error::DecodeError> {
    bincode::serde::decode_from_slice::<M, _>(body, config::standard().with_limit::<LIMIT>())
}

/// Decodes under the smallest bincode limit that covers the kind's limit. The limit is a
/// const generic in bincode, so the tiers are spelled out rather than computed.
fn decode_limited<M: Message>(body: &[u8]) -> Result<(M, usize), bincode::error::DecodeError> {
    let max = M::KIND.max_bytes();
    if max <= MAX_MESSAGE_BYTES {
        decode_with::<M, MAX_MESSAGE_BYTES>(body)
    } else if max <= MAX_SYNC_BYTES {
        decode_with::<M, MAX_SYNC_BYTES>(body)
    } else {
        decode_with::<M, LARGEST_BYTES>(body)
    }
}

/// Room reserved up front for an encoding: every gossip message of a typical swarm fits,
/// so encoding a ballot or proposal allocates once instead of growing its buffer.
const ENCODE_CAPACITY: usize = 512;

/// Appends bincode's output to a vector (bincode's own `encode_to_vec` starts empty and
/// grows it several times per message).
struct Append<'a>(&'a mut Vec<u8>);

impl bincode::enc::write::Writer for Append<'_> {
    fn write(&mut self, bytes: &[u8]) -> Result<(), bincode::error::EncodeError> {
        self.0.extend_from_slice(bytes);
        Ok(())
    }
}

fn encode_into<T: Serialize + ?Sized>(value: &T, out: &mut Vec<u8>) {
    if let Err(e) = bincode::serde::encode_into_writer(value, Append(out), config::standard()) {
        // Encoding fails only for sequences of unknown length or a Serialize impl that
        // reports an error; no type in this crate has either.
        unreachable!("protocol types always encode: {e}")
    }
}

/// The body encoding without an envelope: what signatures and digests cover.
pub(crate) fn encode_body<T: Serialize + ?Sized>(value: &T) -> Vec<u8> {
    let mut out = Vec::with_capacity(ENCODE_CAPACITY);
    encode_into(value, &mut out);
    out
}

/// Encodes `message` in its envelope. Fails only if the result exceeds the kind's limit.
pub fn encode<M: Message>(message: &M) -> Result<Vec<u8>, CodecError> {
    let mut out = Vec::with_capacity(ENCODE_CAPACITY);
    out.push(VERSION);
    out.push(M::KIND as u8);
    encode_into(message, &mut out);
    let (len, max) = (out.len(), M::KIND.max_bytes());
    if len > max {
        return Err(CodecError::TooLarge { len, max });
    }
    Ok(out)
}

/// Reads the envelope: the kind and the body. Checks size, version and kind.
pub fn peek(bytes: &[u8]) -> Result<(Kind, &[u8]), CodecError> {
    let len = bytes.len();
    if len > LARGEST_BYTES {
        return Err(CodecError::TooLarge {
            len,
            max: LARGEST_BYTES,
        });
    }
    let [version, kind, body @ ..] = bytes else {
        return Err(CodecError::NoEnvelope { len });
    };
    if *version != VERSION {
        return Err(CodecError::UnknownVersion { found: *version });
    }
    let kind = Kind::from_byte(*kind).ok_or(CodecError::UnknownKind { found: *kind })?;
    if len > kind.max_bytes() {
        return Err(CodecError::TooLarge {
            len,
            max: kind.max_bytes(),
        });
    }
    Ok((kind, body))
}

/// Decodes the body of an envelope [`peek`] read, strictly.
pub(crate) fn decode_body<M: Message>(body: &[u8]) -> Result<M, CodecError> {
    let kind = M::KIND;
    let (value, read) = decode_limited::<M>(body).map_err(|e| match e {
        bincode::error::DecodeError::UnexpectedEnd { .. } => CodecError::Truncated { kind },
        other => CodecError::Malformed {
            kind,
            detail: other.to_string(),
        },
    })?;
    if read != body.len() {
        return Err(CodecError::TrailingBytes {
            kind,
            extra: body.len().saturating_sub(read),
        });
    }
    if encode_body(&value) != body {
        return Err(CodecError::NonCanonical { kind });
    }
    Ok(value)
}

/// Decodes a message of type `M`, strictly.
pub fn decode<M: Message>(bytes: &[u8]) -> Result<M, CodecError> {
    if bytes.len() > M::KIND.max_bytes() {
        return Err(CodecError::TooLarge {
            len: bytes.len(),
            max: M::KIND.max_bytes(),
        });
    }
    let (kind, body) = peek(bytes)?;
    if kind != M::KIND {
        return Err(CodecError::UnexpectedKind {
            expected: M::KIND,
            found: kind,
        });
    }
    decode_body(body)
}

/// The kind of an encoded message, from its envelope (size, version and kind checked,
/// body not read): what a driver labels a message with before the engine decodes it.
pub fn kind_of(bytes: &[u8]) -> Result<Kind, CodecError> {
    peek(bytes).map(|(kind, _)| kind)
}
