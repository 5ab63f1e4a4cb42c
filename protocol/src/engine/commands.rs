//! Local commands: [`Engine::propose`] and [`Engine::vote`], and why either refuses.
//! Every ballot this node signs passes here, through the own-vote guard (and the epoch
//! rules in `epochs`).

use std::sync::Arc;

use super::{Engine, Output, Pause, Record};
use crate::chain::ChangeError;
use crate::codec::{self, CodecError};
use crate::crypto::Verified;
use crate::ids::{Action, Nonce, ProposalId, RosterDigest, UnixMillis, VoterId};
use crate::message::{
    Ballot, MAX_TTL_MS, MessageError, Payload, Proposal, Reason, SignedBallot, Vote,
};
use crate::tally::Verdict;

/// Why a local command was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CommandError {
    /// No such proposal is known here.
    #[error("unknown proposal {proposal}")]
    UnknownProposal {
        /// The id asked for.
        proposal: ProposalId,
    },
    /// The proposal expired; nobody signs for it any more.
    #[error("proposal {proposal} expired at {expires_at}")]
    Expired {
        /// The proposal.
        proposal: ProposalId,
        /// Its expiry.
        expires_at: UnixMillis,
    },
    /// This node already voted the other way.
    #[error("already voted {existing} on proposal {proposal}; a ballot is never changed")]
    AlreadyVoted {
        /// The proposal.
        proposal: ProposalId,
        /// The vote already signed.
        existing: Vote,
    },
    /// The proposal is already decided.
    #[error("proposal {proposal} is already {verdict}")]
    Decided {
        /// The proposal.
        proposal: ProposalId,
        /// Its verdict.
        verdict: Verdict,
    },
    /// An execution receipt's fields are invalid.
    #[error("receipt: {0}")]
    Receipt(crate::receipt::ReceiptError),
    /// The proposal's fields are invalid.
    #[error(transparent)]
    Message(#[from] MessageError),
    /// The proposal does not fit in a message.
    #[error(transparent)]
    Codec(#[from] CodecError),
    /// Too many open proposals.
    #[error("too many open proposals ({open}); wait for some to be decided")]
    Capacity {
        /// Proposals open now.
        open: usize,
    },
    /// The driver paused signing (see [`Engine::pause_signing`]).
    #[error("{pause}")]
    Paused {
        /// Why.
        pause: Pause,
    },
    /// A roster change (or another reserved action) that is not a valid next roster.
    #[error("invalid roster change: {0}")]
    Change(#[from] ChangeError),
    /// This node's key is not a member of the roster that judges the proposal (or of
    /// the current roster, for a new proposal).
    #[error("this node's key is not a member of roster {roster} (epoch {epoch})")]
    NotAMember {
        /// The roster.
        roster: RosterDigest,
        /// Its epoch.
        epoch: u64,
    },
    /// A YES on a roster change made under a roster that is no longer the head.
    #[error(
        "roster change {proposal} was made under epoch {epoch}, but the swarm is at epoch \
         {head}; propose the change again under the current roster"
    )]
    StaleChange {
        /// The change.
        proposal: ProposalId,
        /// The epoch it was made under.
        epoch: u64,
        /// The head's epoch.
        head: u64,
    },
    /// A YES on a second roster change at one epoch: this node already approved another.
    #[error(
        "already voted yes on roster change {other} at this epoch; one change per epoch \
         is approved by this node"
    )]
    ChangeConflict {
        /// The change asked about.
        proposal: ProposalId,
        /// The change this node already approved.
        other: ProposalId,
    },
    /// A proposal under a superseded roster whose proposer the current roster removed.
    #[error(
        "proposal {proposal} is from {proposer}, whom the current roster no longer lists; \
         this node signs nothing for it"
    )]
    ProposerRemoved {
        /// The proposal.
        proposal: ProposalId,
        /// Its proposer.
        proposer: VoterId,
    },
}

impl Engine {
    /// Submits a proposal signed by this node, valid for `ttl_ms` from `now`.
    pub fn propose(
        &mut self,
        now: UnixMillis,
        action: Action,
        payload: Payload,
        ttl_ms: u64,
        nonce: Nonce,
    ) -> Result<ProposalId, CommandError> {
        if let Some(pause) = self.paused {
            return Err(CommandError::Paused { pause });
        }
        let expires_at = now
            .checked_add(ttl_ms)
            .filter(|_| ttl_ms > 0 && ttl_ms <= MAX_TTL_MS)
            .ok_or(MessageError::Window {
                created_at: now,
                expires_at: UnixMillis(now.0.saturating_add(ttl_ms)),
            })?;
        let head = self.chain.head();
        if head.member(&self.me).is_none() {
            return Err(CommandError::NotAMember {
                roster: head.digest(),
                epoch: head.epoch(),
            });
        }
        let draft = Proposal {
            swarm: head.swarm().clone(),
            roster: head.digest(),
            proposer: self.me,
            action,
            payload,
            created_at: now,
            expires_at,
            nonce,
        };
        crate::chain::check_reserved(head, &draft)?;
        let head_digest = head.digest();
        let signed = draft.sign(&self.key)?;
        let id = signed.id();
        if self.entries.contains_key(&id) {
            return Ok(id);
        }
        let bytes = codec::encode(&signed)?;
        if let Some(open) = self.over_capacity(&self.me) {
            return Err(CommandError::Capacity { open });
        }
        // Signed just now by this engine's key, a member of its roster: checking the
        // signature again would cost a verification per proposal for nothing.
        let verified = Verified::new(signed, head_digest);
        self.insert_proposal(now, verified, true);
        self.outputs.push_back(Output::Broadcast(bytes));
        self.check_decision(now, &id);
        Ok(id)
    }

    /// Casts this node's ballot, through the own-vote guard.
    pub fn vote(
        &mut self,
        now: UnixMillis,
        proposal: ProposalId,
        vote: Vote,
        reason: Option<Reason>,
    ) -> Result<SignedBallot, CommandError> {
        if let Some(pause) = self.paused {
            return Err(CommandError::Paused { pause });
        }
        if let Some(existing) = self.own.get(&proposal)
            && (existing.ballot().vote == vote || !self.guard_off)
        {
            if existing.ballot().vote != vote {
                return Err(CommandError::AlreadyVoted {
                    proposal,
                    existing: existing.ballot().vote,
                });
            }
            let existing = existing.clone();
            if let Ok(bytes) = codec::encode(&existing) {
                self.outputs.push_back(Output::Broadcast(bytes));
            }
            return Ok(existing);
        }
        let entry = self
            .entries
            .get(&proposal)
            .ok_or(CommandError::UnknownProposal { proposal })?;
        let p = entry.proposal.proposal();
        if p.is_expired(now) {
            return Err(CommandError::Expired {
                proposal,
                expires_at: p.expires_at,
            });
        }
        // A ballot in our name already in the tally (from an earlier life of this key):
        // adopt it if it says the same, never contradict it.
        if let Some(found) = entry.tally.ballot_of(&self.me, vote.other())
            && !self.guard_off
        {
            return Err(CommandError::AlreadyVoted {
                proposal,
                existing: found.ballot().vote,
            });
        }
        let adopted = entry.tally.ballot_of(&self.me, vote).cloned();
        let verdict = entry.tally.verdict();
        if adopted.is_none() && verdict.is_decided() {
            return Err(CommandError::Decided { proposal, verdict });
        }
        let roster_digest = p.roster;
        if adopted.is_none() {
            self.may_sign(proposal, p, vote)?;
        }
        let ballot = adopted.unwrap_or_else(|| {
            Ballot {
                swarm: self.chain.head().swarm().clone(),
                proposal,
                voter: self.me,
                vote,
                reason,
            }
            .sign(&self.key)
        });
        let bytes = codec::encode(&ballot)?;
        self.own.insert(proposal, ballot.clone());
        // The contract: durable first, then broadcast.
        self.outputs
            .push_back(Output::Persist(Record::OwnBallot(Arc::new(ballot.clone()))));
        self.outputs.push_back(Output::Broadcast(bytes));
        // Signed just now by this engine's key (or adopted from a tally): valid by construction.
        self.apply_ballot(
            now,
            Verified::new(Arc::new(ballot.clone()), roster_digest),
            true,
        );
        Ok(ballot)
    }
}
