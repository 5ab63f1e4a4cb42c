//! A gossip message as received, which remembers its decoded, signature-checked form so
//! that the engines it reaches decode and verify it once between them.
//!
//! The simulator hands one message to hundreds of engines, and decoding it and deriving
//! its signature-cache key (re-encoding the signed body, then hashing it) cost more than
//! everything else an engine does with it. An [`Inbound`] wraps the bytes once. The first
//! engine that decodes them and verifies the signature stores the decoded message inside;
//! every engine later handed the same `Inbound` starts from there
//! ([`Engine::handle_inbound`](crate::engine::Engine::handle_inbound)).
//!
//! **Safety.** Only this crate fills the slot, only after decoding exactly these bytes and
//! verifying their signature with `verify_strict`, and the bytes never change afterwards.
//! Whether a signature is valid depends on the bytes alone: a voter id *is* the signer's
//! public key, and the domain and swarm signed over are fields of the message. What
//! depends on the receiving engine (swarm, roster digest, membership, time windows,
//! duplicates, capacity) is checked by every engine on every message, remembered or not.
//! A message that fails to decode or verify leaves the slot empty, so it is decoded and
//! refused again by each engine. Equivocation evidence is not remembered (it is rare).

use std::fmt;
use std::sync::{Arc, OnceLock};

use crate::message::{SignedBallot, SignedProposal};

/// The decoded form of a message whose signature verified.
#[derive(Clone, Debug)]
pub(crate) enum Checked {
    /// A proposal.
    Proposal(Arc<SignedProposal>),
    /// A ballot, shared by every tally that keeps it.
    Ballot(Arc<SignedBallot>),
}

/// A received gossip message: its bytes, plus its decoded form once some engine has
/// checked its signature. See the module documentation.
pub struct Inbound {
    bytes: Box<[u8]>,
    checked: OnceLock<Checked>,
}

impl Inbound {
    /// Wraps received bytes; nothing is decoded yet.
    pub fn new(bytes: impl Into<Box<[u8]>>) -> Self {
        Self {
            bytes: bytes.into(),
            checked: OnceLock::new(),
        }
    }

    /// The bytes as received.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// Whether an engine has decoded these bytes and verified their signature.
    pub fn is_checked(&self) -> bool {
        self.checked.get().is_some()
    }

    pub(crate) fn checked(&self) -> Option<&Checked> {
        self.checked.get()
    }

    /// Called by an engine right after these bytes decoded to `checked` and its
    /// signature verified. A second call changes nothing.
    pub(crate) fn remember(&self, checked: Checked) {
        let _ = self.checked.set(checked);
    }
}

impl fmt::Debug for Inbound {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Inbound")
            .field("len", &self.bytes.len())
            .field("checked", &self.is_checked())
            .finish()
    }
}
