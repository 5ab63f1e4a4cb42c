//! The messages that travel over gossip: proposals, ballots, equivocation evidence and
//! execution receipts, decoded by kind from one envelope.

use crate::codec::{self, CodecError, Kind, MAX_MESSAGE_BYTES};
use crate::evidence::Equivocation;
use crate::message::{SignedBallot, SignedProposal};
use crate::receipt::SignedReceipt;

/// Any message that travels over gossip.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Gossip {
    /// A proposal.
    Proposal(SignedProposal),
    /// A ballot.
    Ballot(SignedBallot),
    /// Equivocation evidence.
    Equivocation(Equivocation),
    /// An execution receipt.
    Receipt(SignedReceipt),
}

/// Decodes a gossip message of any gossip kind. Certificates, storage records and
/// catch-up messages are not gossip and are refused, so the limit is always
/// [`MAX_MESSAGE_BYTES`].
pub fn decode_gossip(bytes: &[u8]) -> Result<Gossip, CodecError> {
    if bytes.len() > MAX_MESSAGE_BYTES {
        return Err(CodecError::TooLarge {
            len: bytes.len(),
            max: MAX_MESSAGE_BYTES,
        });
    }
    let (kind, body) = codec::peek(bytes)?;
    Ok(match kind {
        Kind::Proposal => Gossip::Proposal(codec::decode_body(body)?),
        Kind::Ballot => Gossip::Ballot(codec::decode_body(body)?),
        Kind::Equivocation => Gossip::Equivocation(codec::decode_body(body)?),
        Kind::Receipt => Gossip::Receipt(codec::decode_body(body)?),
        Kind::Certificate | Kind::Decision | Kind::SyncRequest | Kind::SyncResponse => {
            return Err(CodecError::UnexpectedKind {
                expected: Kind::Proposal,
                found: kind,
            });
        }
    })
}

/// Encodes a gossip message.
pub fn encode_gossip(message: &Gossip) -> Result<Vec<u8>, CodecError> {
    match message {
        Gossip::Proposal(m) => codec::encode(m),
        Gossip::Ballot(m) => codec::encode(m),
        Gossip::Equivocation(m) => codec::encode(m),
        Gossip::Receipt(m) => codec::encode(m),
    }
}
