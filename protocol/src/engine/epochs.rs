//! The engine's roster epochs: which roster judges a message, the own-vote guard's rules
//! for roster changes, adopting a step, and the catch-up of the chain's steps.
//!
//! A proposal is judged by the roster it names, as long as the chain holds it; one that
//! names a roster this engine does not know is ignored (not a fault: the sender may be
//! an epoch ahead), and catch-up then asks that peer for the chain's steps.
//!
//! The guard adds three refusals for this node's own ballots:
//! * YES on a roster change made under a roster that is no longer the head (stale);
//! * YES on a second roster change at one epoch (so with a change quorum above half,
//!   two changes can never both be approved by honest keys);
//! * anything on a proposal under a superseded roster whose proposer the head roster no
//!   longer lists (a removed, possibly stolen, key gets no new help).

use std::sync::Arc;

use crate::catchup::{SyncRequest, SyncResponse};
use crate::certificate::Certificate;
use crate::chain::{Adopted, ROSTER_ACTION};
use crate::codec;
use crate::ids::{ProposalId, UnixMillis};
use crate::message::{Ballot, Proposal, SignedBallot, Vote};
use crate::roster::Roster;

use super::{
    CommandError, Engine, Event, IgnoreReason, Output, PeerTag, Record, RejectReason, Validation,
};

/// Steps in one catch-up answer.
pub const MAX_STEPS_ANSWER: usize = 64;

impl Engine {
    /// The roster to check a ballot against: its proposal's if known; else the head's,
    /// or any roster of the chain that lists the voter. `None`: no roster here lists it,
    /// which for a proposal not seen yet may mean a roster not adopted yet.
    pub(super) fn ballot_roster(&self, b: &Ballot) -> Option<&Roster> {
        if let Some(entry) = self.entries.get(&b.proposal) {
            return self.chain.get(&entry.proposal.proposal().roster);
        }
        let head = self.chain.head();
        if head.index_of(&b.voter).is_some() {
            return Some(head);
        }
        self.chain
            .rosters()
            .find(|r| r.index_of(&b.voter).is_some())
    }

    /// A ballot on a proposal not seen yet from a voter that no roster of the chain
    /// lists: it may be a member of a roster this engine has not adopted yet, so it is
    /// ignored, unless it is from another swarm or its signature does not verify under
    /// the voter's own key, which is a fault whatever the roster.
    pub(super) fn stranger_ballot(&self, b: &SignedBallot) -> Validation {
        let ballot = b.ballot();
        if &ballot.swarm != self.chain.head().swarm() {
            return Validation::Ignore(IgnoreReason::OtherSwarm);
        }
        if b.signed_by_its_voter() {
            Validation::Ignore(IgnoreReason::UnknownRoster)
        } else {
            Validation::Reject(RejectReason::BadSignature {
                signer: ballot.voter,
            })
        }
    }

    /// The epoch rules of the own-vote guard, for a new ballot of this node's.
    pub(super) fn may_sign(
        &self,
        id: ProposalId,
        p: &Proposal,
        vote: Vote,
    ) -> Result<(), CommandError> {
        let head = self.chain.head();
        let judged_by = self.chain.get(&p.roster).unwrap_or(head);
        if judged_by.member(&self.me).is_none() {
            return Err(CommandError::NotAMember {
                roster: judged_by.digest(),
                epoch: judged_by.epoch(),
            });
        }
        if p.roster != head.digest() && head.member(&p.proposer).is_none() {
            return Err(CommandError::ProposerRemoved {
                proposal: id,
                proposer: p.proposer,
            });
        }
        if vote != Vote::Yes || p.action.as_str() != ROSTER_ACTION {
            return Ok(());
        }
        if p.roster != head.digest() {
            return Err(CommandError::StaleChange {
                proposal: id,
                epoch: judged_by.epoch(),
                head: head.epoch(),
            });
        }
        let other = self.own.iter().find_map(|(other, b)| {
            let entry = self.entries.get(other)?;
            let q = entry.proposal.proposal();
            (*other != id
                && b.ballot().vote == Vote::Yes
                && q.action.as_str() == ROSTER_ACTION
                && q.roster == p.roster)
                .then_some(*other)
        });
        match other {
            Some(other) => Err(CommandError::ChangeConflict {
                proposal: id,
                other,
            }),
            None => Ok(()),
        }
    }

    /// Adds an approved roster change to the chain: decided here (`peer` is `None`) or
    /// received through catch-up. Returns whether the head moved.
    pub(super) fn adopt_step(&mut self, certificate: Certificate, peer: Option<PeerTag>) -> bool {
        let proposal = certificate.proposal().id();
        let record = Arc::new(certificate.clone());
        match self.chain.add(certificate) {
            Ok(Adopted::Known) => false,
            Ok(Adopted::Side) => {
                let epoch = self
                    .chain
                    .all_steps()
                    .find(|s| s.proposal() == proposal)
                    .map_or(0, |s| s.roster.epoch());
                self.outputs
                    .push_back(Output::Persist(Record::RosterStep(record)));
                self.event(Event::ChangeSuperseded { proposal, epoch });
                false
            }
            Ok(Adopted::Head) => {
                let head = self.chain.head();
                let (epoch, roster, member, n) = (
                    head.epoch(),
                    head.digest(),
                    head.member(&self.me).is_some(),
                    usize::try_from(head.len()).unwrap_or(usize::MAX),
                );
                self.orphans.allow_per_proposal(n.saturating_mul(2));
                self.outputs
                    .push_back(Output::Persist(Record::RosterStep(record)));
                self.event(Event::EpochChanged {
                    epoch,
                    roster,
                    proposal,
                    member,
                });
                true
            }
            Err(e) => {
                if let Some(peer) = peer {
                    self.event(Event::InvalidMessage {
                        peer,
                        reason: RejectReason::InvalidStep(e.into()),
                    });
                }
                false
            }
        }
    }

    /// The main chain's steps after `after`, as many as fit in one answer.
    pub(super) fn answer_steps(&self, after: u64) -> SyncResponse {
        let mut bytes = 0usize;
        let steps = self
            .chain
            .main_steps()
            .filter(|s| s.roster.epoch() > after)
            .take(MAX_STEPS_ANSWER)
            .map(|s| s.certificate.clone())
            .take_while(|c| {
                bytes = bytes.saturating_add(codec::encode(c).map_or(usize::MAX, |b| b.len()));
                bytes <= codec::MAX_SYNC_BYTES / 2
            })
            .collect();
        SyncResponse::Steps(steps)
    }

    /// A peer's steps: each is verified against its parent before it is adopted. If the
    /// head moved, reconcile again with that peer to fetch what the new roster judges.
    pub(super) fn take_steps(
        &mut self,
        now: UnixMillis,
        peer: PeerTag,
        steps: Vec<Certificate>,
    ) -> Vec<SyncRequest> {
        let mut moved = false;
        for c in steps.into_iter().take(MAX_STEPS_ANSWER) {
            moved |= self.adopt_step(c, Some(peer));
        }
        if moved {
            vec![self.sync_request(now)]
        } else {
            Vec::new()
        }
    }
}
