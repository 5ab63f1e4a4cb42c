//! Recounts a stored proposal: verifies it and each of its ballots again under the roster
//! it names, and rebuilds its tally. Used for the history that the engine no longer holds
//! in memory, and offline by `swarmvote export verify`, so an audit trusts no stored
//! verdict, only signatures and the tally rule.

use crate::certificate::Certificate;
use crate::chain::RosterChain;
use crate::crypto::Verified;
use crate::ids::{ProposalId, RosterDigest, UnixMillis, VoterId};
use crate::message::{SignedBallot, SignedProposal, VerifyError};
use crate::sigcache::SignatureCache;
use crate::tally::{Added, Status, Tally, TallyError};

/// Why a stored message did not recount.
#[derive(Debug, thiserror::Error)]
pub enum RecountError {
    /// The proposal names a roster the chain does not know.
    #[error("proposal {proposal} names roster {roster}, which the roster chain does not hold")]
    UnknownRoster {
        /// The proposal.
        proposal: ProposalId,
        /// The roster it names.
        roster: RosterDigest,
    },
    /// The proposal does not verify.
    #[error("proposal {proposal}: {source}")]
    Proposal {
        /// The proposal.
        proposal: ProposalId,
        /// Why.
        source: Box<VerifyError>,
    },
    /// A ballot does not verify under the proposal's roster.
    #[error("ballot of {voter} on {proposal}: {source}")]
    Ballot {
        /// The proposal.
        proposal: ProposalId,
        /// The voter it claims.
        voter: VoterId,
        /// Why.
        source: Box<VerifyError>,
    },
    /// A ballot verified but does not belong in this tally.
    #[error("ballot of {voter}: {source}")]
    Tally {
        /// The voter.
        voter: VoterId,
        /// Why.
        source: TallyError,
    },
}

/// A proposal being recounted.
pub struct Recount<'a> {
    chain: &'a RosterChain,
    cache: Option<&'a SignatureCache>,
    proposal: Verified<SignedProposal>,
    tally: Tally,
}

impl<'a> Recount<'a> {
    /// Starts a recount: verifies the proposal under the roster it names. With a `cache`,
    /// a signature that verified before is not verified again.
    pub fn new(
        chain: &'a RosterChain,
        proposal: SignedProposal,
        cache: Option<&'a SignatureCache>,
    ) -> Result<Self, RecountError> {
        let id = proposal.id();
        let digest = proposal.proposal().roster;
        let roster = chain.get(&digest).ok_or(RecountError::UnknownRoster {
            proposal: id,
            roster: digest,
        })?;
        let verified = match cache {
            Some(c) => proposal.verify_cached(roster, c),
            None => proposal.verify(roster),
        }
        .map_err(|source| RecountError::Proposal {
            proposal: id,
            source: Box::new(source),
        })?;
        let tally = Tally::new(roster, &verified);
        Ok(Self {
            chain,
            cache,
            proposal: verified,
            tally,
        })
    }

    /// Verifies a ballot under the proposal's roster and counts it.
    pub fn add(&mut self, ballot: SignedBallot) -> Result<Added, RecountError> {
        let voter = ballot.ballot().voter;
        let digest = self.proposal.proposal().roster;
        let Some(roster) = self.chain.get(&digest) else {
            // `new` found it, and a chain never forgets a roster.
            return Err(RecountError::UnknownRoster {
                proposal: self.proposal.id(),
                roster: digest,
            });
        };
        let verified = match self.cache {
            Some(c) => ballot.verify_cached(roster, c),
            None => ballot.verify(roster),
        }
        .map_err(|source| RecountError::Ballot {
            proposal: self.proposal.id(),
            voter,
            source: Box::new(source),
        })?;
        self.tally
            .add(verified)
            .map_err(|source| RecountError::Tally { voter, source })
    }

    /// The verified proposal.
    pub fn proposal(&self) -> &Verified<SignedProposal> {
        &self.proposal
    }

    /// The tally so far.
    pub fn tally(&self) -> &Tally {
        &self.tally
    }

    /// The status at `now`, expiry included.
    pub fn status(&self, now: UnixMillis) -> Status {
        self.tally
            .verdict()
            .status_at(now, self.proposal.proposal().expires_at)
    }

    /// The certificate, if the ballots counted so far approve the proposal.
    pub fn certificate(&self) -> Option<Certificate> {
        self.tally.certificate(&self.proposal)
    }
}
