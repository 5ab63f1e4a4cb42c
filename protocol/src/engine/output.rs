//! What the engine hands back to its driver: validations, records, broadcasts, events and
//! catch-up messages.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::catchup::{SyncRequest, SyncResponse};
use crate::certificate::Certificate;
use crate::chain::{ChainError, ChangeError};
use crate::codec::{CodecError, Kind, Message};
use crate::evidence::{Equivocation, EvidenceError};
use crate::ids::{Action, ProposalId, RosterDigest, UnixMillis, VoterId};
use crate::message::{SignedBallot, SignedProposal, Vote};
use crate::receipt::{SignedReceipt, Standing};
use crate::tally::Verdict;

/// The driver's name for a peer. Opaque to the engine; it only labels events and bounds
/// per-peer buffers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PeerTag(pub u64);

/// The driver's handle for one received message, echoed back with its validation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct MessageTag(pub u64);

/// The driver's handle for one catch-up exchange, echoed back with what the engine sends
/// in it: the answer to a request (so the driver finds the channel to answer on), or the
/// follow-ups to a response.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct SyncTag(pub u64);

/// Why a message was ignored: not a fault, but nothing to forward.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, thiserror::Error)]
#[serde(rename_all = "snake_case")]
pub enum IgnoreReason {
    /// Already held.
    #[error("duplicate")]
    Duplicate,
    /// Signed for another swarm.
    #[error("for another swarm")]
    OtherSwarm,
    /// A proposal that commits to a roster this node does not use.
    #[error("for an unknown roster")]
    UnknownRoster,
    /// Past its retention horizon.
    #[error("expired")]
    Expired,
    /// Created further in the future than the clock-skew allowance.
    #[error("created in the future")]
    FromTheFuture,
    /// A ballot for an unknown proposal, and the waiting buffer is full.
    #[error("orphan buffer full")]
    BufferFull,
    /// The proposer has too many open proposals, or the node holds too many.
    #[error("too many open proposals")]
    Capacity,
}

/// An error as this engine found it, or as its message was read back from an event
/// stream. Either way it shows, and serializes, as its message, so an event keeps one
/// JSON form whoever reads it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reported<E> {
    /// Found by this engine.
    Found(E),
    /// Its message, read back.
    Text(String),
}

impl<E> From<E> for Reported<E> {
    fn from(e: E) -> Self {
        Reported::Found(e)
    }
}

impl<E: std::fmt::Display> std::fmt::Display for Reported<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Reported::Found(e) => e.fmt(f),
            Reported::Text(t) => f.write_str(t),
        }
    }
}

impl<E: std::fmt::Display> Serialize for Reported<E> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de, E> Deserialize<'de> for Reported<E> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(Reported::Text)
    }
}

/// Why a message was rejected: a provable fault of whoever signed or sent it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum RejectReason {
    /// The bytes do not decode.
    #[error("malformed: {0}")]
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    Malformed(Reported<CodecError>),
    /// A signature does not verify.
    #[error("bad signature from {signer}")]
    BadSignature {
        /// The claimed signer.
        signer: VoterId,
    },
    /// The signer is not a member.
    #[error("signer {voter} is not a member")]
    NotAMember {
        /// The claimed signer.
        voter: VoterId,
    },
    /// Equivocation evidence that is not evidence.
    #[error("invalid evidence: {0}")]
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    InvalidEvidence(Reported<EvidenceError>),
    /// A roster change proposal whose payload is not a valid next roster, or a proposal
    /// with another reserved action.
    #[error("invalid roster change: {0}")]
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    InvalidChange(Reported<ChangeError>),
    /// A roster step from catch-up that does not verify.
    #[error("invalid roster step: {0}")]
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    InvalidStep(Reported<ChainError>),
}

/// The verdict on one peer message, for gossipsub's validation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Validation {
    /// Valid and new: forward it.
    Accept,
    /// Not a fault, but do not forward.
    Ignore(IgnoreReason),
    /// A provable fault: do not forward, penalise the sender.
    Reject(RejectReason),
}

/// A decision as stored: when the verdict was first reached here.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Decision {
    /// The proposal.
    pub proposal: ProposalId,
    /// The verdict reached.
    pub verdict: Verdict,
    /// When this node reached it.
    pub decided_at: UnixMillis,
}

impl Message for Decision {
    const KIND: Kind = Kind::Decision;
}

/// Something the driver must store. Messages are shared with the engine's own state
/// (an `Arc`), so emitting a record copies no message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Record {
    /// A verified proposal.
    Proposal(Arc<SignedProposal>),
    /// A verified ballot from any member, this node included.
    Ballot(Arc<SignedBallot>),
    /// This node's own ballot. It must be durable (synced) before any output that follows
    /// it is acted on: the broadcast of that ballot comes next.
    OwnBallot(Arc<SignedBallot>),
    /// Verified equivocation evidence.
    Evidence(Arc<Equivocation>),
    /// A decision reached here.
    Decision(Decision),
    /// A verified roster step: the certificate of an approved roster change. The driver
    /// keeps these to rebuild the chain at start (see [`crate::chain::RosterChain`]).
    RosterStep(Arc<Certificate>),
    /// A verified execution receipt (this node's own, or a peer's), backed or not.
    Receipt(Arc<SignedReceipt>),
}

impl Record {
    /// Whether the driver must sync this record before acting on the next output.
    pub fn must_sync(&self) -> bool {
        matches!(self, Record::OwnBallot(_))
    }
}

/// Something that happened, for logs, metrics and the API.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum Event {
    /// A proposal was accepted (from a peer, or submitted here).
    ProposalSeen {
        /// Its id.
        proposal: ProposalId,
        /// Who proposed it.
        proposer: VoterId,
        /// What it asks.
        action: Action,
        /// When it was created.
        created_at: UnixMillis,
        /// When it expires.
        expires_at: UnixMillis,
        /// Submitted by this node.
        local: bool,
    },
    /// A ballot was added to a tally.
    BallotAccepted {
        /// The proposal.
        proposal: ProposalId,
        /// The voter.
        voter: VoterId,
        /// Its vote.
        vote: Vote,
        /// Milliseconds from the proposal's creation to now.
        latency_ms: u64,
        /// Cast by this node.
        own: bool,
    },
    /// A proposal reached a verdict (or an approval overturned a rejection).
    Decided {
        /// The proposal.
        proposal: ProposalId,
        /// What it asked.
        action: Action,
        /// The verdict.
        verdict: Verdict,
        /// Distinct YES signers.
        yes: u32,
        /// Distinct NO signers.
        no: u32,
        /// Milliseconds from the proposal's creation to the decision.
        latency_ms: u64,
        /// Both thresholds met, through equivocation.
        conflicting: bool,
    },
    /// A member signed both ways.
    Equivocation {
        /// The evidence.
        evidence: Box<Equivocation>,
    },
    /// A peer sent something provably invalid.
    InvalidMessage {
        /// The peer it came from.
        peer: PeerTag,
        /// What was wrong.
        reason: RejectReason,
    },
    /// A valid ballot signed with this node's own voter key that this node did not sign:
    /// another instance of the key is running (or ran, from a copy of the key with
    /// another data dir). The engine only reports it; its own echoes (the exact ballots
    /// it signed, back from gossip or catch-up) and records handed to
    /// [`Engine::restore`](super::Engine::restore) never raise it. A driver should stop
    /// signing at once. (Proposals in its name do not raise it: a crash can lose one of
    /// its own, since only own ballots are synced before they are broadcast.)
    Doppelganger {
        /// The proposal voted on.
        proposal: ProposalId,
        /// The ballot's vote.
        vote: Vote,
        /// The peer it came from, when known (ballots released from the orphan buffer
        /// have lost it).
        peer: Option<PeerTag>,
    },
    /// The roster chain's head moved: an approved roster change (decided here or
    /// learnt through catch-up) installed a new roster. New proposals name it.
    EpochChanged {
        /// The new head's epoch.
        epoch: u64,
        /// The new head's digest.
        roster: RosterDigest,
        /// The roster change proposal that installed it.
        proposal: ProposalId,
        /// Whether this node's key is a member of the new roster (if not, it can no
        /// longer propose or vote on new proposals).
        member: bool,
    },
    /// An approved roster change that does not continue the chain: another change at
    /// the same epoch with a lower proposal id won. Proposals made under it are still
    /// judged by it.
    ChangeSuperseded {
        /// The losing change.
        proposal: ProposalId,
        /// The epoch it would have installed.
        epoch: u64,
    },
    /// A proposal was still pending at its expiry.
    Expired {
        /// The proposal.
        proposal: ProposalId,
    },
    /// An execution receipt was signed here or accepted from a peer. An unbacked one is
    /// evidence against its executor.
    Receipt {
        /// The proposal it claims to have run.
        proposal: ProposalId,
        /// The member that ran it and signed the receipt.
        executor: VoterId,
        /// The exit code it reports.
        exit_code: Option<i32>,
        /// How it stood when it arrived.
        standing: Standing,
    },
}

/// One unit of work for the driver.
// Outputs live only between `poll_output` and the driver acting on them; boxing the
// records would cost an allocation each for no gain.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Output {
    /// The verdict on a peer message.
    Validation {
        /// The peer it came from.
        peer: PeerTag,
        /// The driver's handle for it.
        tag: MessageTag,
        /// The verdict.
        result: Validation,
    },
    /// Store this.
    Persist(Record),
    /// Publish these encoded bytes to the swarm.
    Broadcast(Vec<u8>),
    /// Report this.
    Event(Event),
    /// Answer the catch-up request the driver handed in with `tag`.
    SyncResponse {
        /// The peer that asked.
        peer: PeerTag,
        /// The driver's handle for that request.
        tag: SyncTag,
        /// The answer.
        response: SyncResponse,
    },
    /// Send this catch-up request to `peer`: a follow-up to the response the driver handed
    /// in with `tag`.
    SyncRequest {
        /// The peer that answered.
        peer: PeerTag,
        /// The driver's handle for that response.
        tag: SyncTag,
        /// The follow-up.
        request: SyncRequest,
    },
}
