//! Quorum certificates: a proposal plus YES ballots from at least `q` distinct members.
//!
//! A certificate is checked offline against a roster: the proposal's swarm, roster digest,
//! proposer and signature; then each ballot's proposal id, vote, membership and signature;
//! ballots strictly ascending by voter (so no voter counts twice); and the count.
//!
//! The count follows the roster's tier for the proposal, recomputed from the roster and
//! the proposal's content: `q` YES ballots from the electorate (under four-eyes the
//! proposer's own YES is carried but not counted) and every group requirement. The
//! certificate records the tier's name and `q`; a record that differs from the
//! recomputed tier (a lowered tier, say) is refused.

use serde::{Deserialize, Serialize};

use crate::codec::{self, Kind, Message};
use crate::crypto::{self, Domain, Verified};
use crate::ids::{CertificateDigest, GroupName, ProposalId, TierName, VoterId};
use crate::message::{SignedBallot, SignedProposal, VerifyError, Vote};
use crate::roster::Roster;
use crate::sigcache::SignatureCache;

/// Why a certificate does not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CertificateError {
    /// The proposal does not verify against the roster.
    #[error("proposal: {0}")]
    Proposal(VerifyError),
    /// A ballot is for another proposal.
    #[error("ballot #{index}: for proposal {found}, the certificate is for {expected}")]
    WrongProposal {
        /// 0-based position.
        index: usize,
        /// The certificate's proposal.
        expected: ProposalId,
        /// The ballot's proposal.
        found: ProposalId,
    },
    /// A ballot votes NO.
    #[error("ballot #{index}: voter {voter} voted no")]
    NotYes {
        /// 0-based position.
        index: usize,
        /// Its voter.
        voter: VoterId,
    },
    /// A voter appears twice.
    #[error("ballot #{index}: voter {voter} appears more than once")]
    DuplicateVoter {
        /// 0-based position of the repeat.
        index: usize,
        /// The voter.
        voter: VoterId,
    },
    /// Ballots are not in ascending voter order.
    #[error("ballot #{index}: ballots must be sorted by voter")]
    Unsorted {
        /// 0-based position.
        index: usize,
    },
    /// A ballot does not verify.
    #[error("ballot #{index}: {source}")]
    Ballot {
        /// 0-based position.
        index: usize,
        /// Why.
        source: VerifyError,
    },
    /// Too few YES ballots.
    #[error("{have} valid YES ballots, {need} are required (tier {tier})")]
    Insufficient {
        /// Ballots present that count.
        have: usize,
        /// `q`.
        need: u32,
        /// The tier that applies.
        tier: TierName,
    },
    /// A group requirement is not met.
    #[error(
        "tier {tier} requires {need} YES ballots from group {group}, the certificate has {have}"
    )]
    GroupShort {
        /// The tier that applies.
        tier: TierName,
        /// The group.
        group: GroupName,
        /// Its YES ballots that count.
        have: usize,
        /// Needed.
        need: u32,
    },
    /// The recorded tier is not the one the roster gives this proposal.
    #[error(
        "the certificate records tier {recorded} (q = {recorded_q}), but the roster puts this \
         proposal in tier {expected} (q = {expected_q})"
    )]
    TierMismatch {
        /// The certificate's record.
        recorded: TierName,
        /// Its `q`.
        recorded_q: u32,
        /// The roster's tier for the proposal.
        expected: TierName,
        /// That tier's `q`.
        expected_q: u32,
    },
}

/// Which tier approved a proposal, as the certificate records it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TierLabel {
    /// The tier's name.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub name: TierName,
    /// Its `q`.
    pub required: u32,
}

/// Proof that a proposal was approved.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Certificate {
    proposal: SignedProposal,
    ballots: Vec<SignedBallot>,
    /// The tier that approved it; absent in certificates made before tiers existed,
    /// which are still checked against the recomputed tier.
    #[serde(default)]
    tier: Option<TierLabel>,
}

impl Certificate {
    /// Assembles a certificate. Ballots are sorted by voter; nothing is checked until
    /// [`Certificate::verify`].
    pub fn new(proposal: SignedProposal, mut ballots: Vec<SignedBallot>) -> Self {
        ballots.sort_by_key(|b| b.ballot().voter);
        Self {
            proposal,
            ballots,
            tier: None,
        }
    }

    /// Records the tier that approved it.
    pub fn with_tier(mut self, tier: TierLabel) -> Self {
        self.tier = Some(tier);
        self
    }

    /// The recorded tier, if any.
    pub fn tier(&self) -> Option<&TierLabel> {
        self.tier.as_ref()
    }

    /// The approved proposal.
    pub fn proposal(&self) -> &SignedProposal {
        &self.proposal
    }

    /// The YES ballots.
    pub fn ballots(&self) -> &[SignedBallot] {
        &self.ballots
    }

    /// SHA-256 over the domain tag `swarmvote/v1/certificate`, the swarm and the
    /// certificate's canonical encoding: what an execution receipt names it by. One
    /// certificate has one digest; another set of YES ballots for the same proposal has
    /// another.
    pub fn digest(&self) -> CertificateDigest {
        let swarm = &self.proposal.proposal().swarm;
        CertificateDigest::from_bytes(crypto::sha256(&crypto::signing_bytes(
            Domain::Certificate,
            swarm,
            &codec::encode_body(self),
        )))
    }

    /// Checks everything against `roster`, cheap structural checks first.
    pub fn verify(self, roster: &Roster) -> Result<Verified<Certificate>, CertificateError> {
        self.verify_with(roster, None)
    }

    /// Like [`Certificate::verify`], with signatures answered from `cache` when the exact
    /// signed message verified before (see [`crate::sigcache`]).
    pub fn verify_cached(
        self,
        roster: &Roster,
        cache: &SignatureCache,
    ) -> Result<Verified<Certificate>, CertificateError> {
        self.verify_with(roster, Some(cache))
    }

    fn verify_with(
        self,
        roster: &Roster,
        cache: Option<&SignatureCache>,
    ) -> Result<Verified<Certificate>, CertificateError> {
        self.proposal
            .check_with(roster, cache)
            .map_err(CertificateError::Proposal)?;
        let expected = self.proposal.id();
        let mut previous: Option<VoterId> = None;
        for (index, signed) in self.ballots.iter().enumerate() {
            let b = signed.ballot();
            if b.proposal != expected {
                return Err(CertificateError::WrongProposal {
                    index,
                    expected,
                    found: b.proposal,
                });
            }
            if b.vote != Vote::Yes {
                return Err(CertificateError::NotYes {
                    index,
                    voter: b.voter,
                });
            }
            match previous {
                Some(p) if p == b.voter => {
                    return Err(CertificateError::DuplicateVoter {
                        index,
                        voter: b.voter,
                    });
                }
                Some(p) if p > b.voter => return Err(CertificateError::Unsorted { index }),
                _ => {}
            }
            previous = Some(b.voter);
            if roster.member(&b.voter).is_none() {
                return Err(CertificateError::Ballot {
                    index,
                    source: VerifyError::NotAMember { voter: b.voter },
                });
            }
        }
        let p = self.proposal.proposal();
        let tier = roster.tier(roster.tier_for(p.action.as_str(), || p.payload.to_value()));
        if let Some(label) = &self.tier
            && (label.name != *tier.name() || label.required != tier.required())
        {
            return Err(CertificateError::TierMismatch {
                recorded: label.name.clone(),
                recorded_q: label.required,
                expected: tier.name().clone(),
                expected_q: tier.required(),
            });
        }
        // Under four-eyes the proposer's own YES is carried but does not count.
        let counted = |voter: &VoterId| !(tier.four_eyes() && *voter == p.proposer);
        let need = tier.required();
        let have = self
            .ballots
            .iter()
            .filter(|b| counted(&b.ballot().voter))
            .count();
        if have < usize::try_from(need).unwrap_or(usize::MAX) {
            return Err(CertificateError::Insufficient {
                have,
                need,
                tier: tier.name().clone(),
            });
        }
        for r in tier.requirements() {
            let have = self
                .ballots
                .iter()
                .map(|b| b.ballot().voter)
                .filter(|v| counted(v) && roster.index_of(v).is_some_and(|i| r.contains(i)))
                .count();
            if have < usize::try_from(r.yes).unwrap_or(usize::MAX) {
                return Err(CertificateError::GroupShort {
                    tier: tier.name().clone(),
                    group: r.group.clone(),
                    have,
                    need: r.yes,
                });
            }
        }
        for (index, signed) in self.ballots.iter().enumerate() {
            signed
                .check_with(roster, cache)
                .map_err(|source| CertificateError::Ballot { index, source })?;
        }
        Ok(Verified::new(self, roster.digest()))
    }
}

impl Message for Certificate {
    const KIND: Kind = Kind::Certificate;
}
