//! Equivocation evidence: one member's YES and NO ballots on the same proposal.
//!
//! The pair is self-contained: anyone holding the roster can check both signatures and
//! see that they contradict each other.

use serde::{Deserialize, Deserializer, Serialize, de};

use crate::codec::{Kind, Message};
use crate::crypto::Verified;
use crate::ids::{ProposalId, VoterId};
use crate::message::{SignedBallot, VerifyError, Vote};
use crate::roster::Roster;

/// Why a pair of ballots is not equivocation evidence.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EvidenceError {
    /// The ballots are from different voters.
    #[error("the ballots are from different voters ({a} and {b})")]
    DifferentVoters {
        /// The first voter.
        a: VoterId,
        /// The second voter.
        b: VoterId,
    },
    /// The ballots are on different proposals.
    #[error("the ballots are on different proposals ({a} and {b})")]
    DifferentProposals {
        /// The first proposal.
        a: ProposalId,
        /// The second proposal.
        b: ProposalId,
    },
    /// Both ballots vote the same way.
    #[error("both ballots vote {vote}; evidence needs one yes and one no")]
    SameVote {
        /// The shared vote.
        vote: Vote,
    },
    /// A ballot does not verify.
    #[error("{side} ballot: {source}")]
    Ballot {
        /// "yes" or "no".
        side: &'static str,
        /// Why it does not verify.
        source: VerifyError,
    },
}

/// Proof that a member signed both YES and NO on one proposal.
#[derive(Clone, PartialEq, Eq, Debug, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Equivocation {
    yes: SignedBallot,
    no: SignedBallot,
}

impl Equivocation {
    /// Pairs two contradicting ballots, in either order.
    pub fn new(a: SignedBallot, b: SignedBallot) -> Result<Self, EvidenceError> {
        let (ba, bb) = (a.ballot(), b.ballot());
        if ba.voter != bb.voter {
            return Err(EvidenceError::DifferentVoters {
                a: ba.voter,
                b: bb.voter,
            });
        }
        if ba.proposal != bb.proposal {
            return Err(EvidenceError::DifferentProposals {
                a: ba.proposal,
                b: bb.proposal,
            });
        }
        match (ba.vote, bb.vote) {
            (Vote::Yes, Vote::No) => Ok(Self { yes: a, no: b }),
            (Vote::No, Vote::Yes) => Ok(Self { yes: b, no: a }),
            (vote, _) => Err(EvidenceError::SameVote { vote }),
        }
    }

    /// The member that equivocated.
    pub fn voter(&self) -> VoterId {
        self.yes.ballot().voter
    }

    /// The proposal it equivocated on.
    pub fn proposal(&self) -> ProposalId {
        self.yes.ballot().proposal
    }

    /// The YES ballot.
    pub fn yes(&self) -> &SignedBallot {
        &self.yes
    }

    /// The NO ballot.
    pub fn no(&self) -> &SignedBallot {
        &self.no
    }

    /// Checks both signatures against `roster`.
    pub fn verify(self, roster: &Roster) -> Result<Verified<Equivocation>, EvidenceError> {
        self.yes
            .check(roster)
            .map_err(|source| EvidenceError::Ballot {
                side: "yes",
                source,
            })?;
        self.no
            .check(roster)
            .map_err(|source| EvidenceError::Ballot { side: "no", source })?;
        Ok(Verified::new(self, roster.digest()))
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    yes: SignedBallot,
    no: SignedBallot,
}

impl<'de> Deserialize<'de> for Equivocation {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = Raw::deserialize(d)?;
        // The fields must already be in yes/no order; `new` would silently swap them.
        if raw.yes.ballot().vote != Vote::Yes {
            return Err(de::Error::custom("the `yes` ballot does not vote yes"));
        }
        Equivocation::new(raw.yes, raw.no).map_err(de::Error::custom)
    }
}

impl Message for Equivocation {
    const KIND: Kind = Kind::Equivocation;
}
