//! The tally: exact, order-independent, and fed only verified ballots.
//!
//! With `n` members and quorum `num/den`, `q = ceil(n * num / den)`:
//!
//! * **Approved** iff at least `q` distinct members signed YES.
//! * **Rejected** iff not approved and more than `n - q` distinct members signed NO, so
//!   approval has become impossible.
//! * **Pending** otherwise.
//!
//! A member that signed both YES and NO is an equivocator. It still counts on both sides,
//! so a reached approval is never taken back. The result depends only on the set of
//! (voter, vote) pairs, never on arrival order or duplicates.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::certificate::Certificate;
use crate::crypto::Verified;
use crate::evidence::Equivocation;
use crate::ids::{ProposalId, RosterDigest, UnixMillis, VoterId};
use crate::message::{SignedBallot, SignedProposal, Vote};
use crate::roster::Roster;

/// The tally's verdict, a function of the ballot set alone.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// Neither approved nor rejected yet.
    Pending,
    /// At least `q` members signed YES.
    Approved,
    /// More than `n - q` members signed NO and approval is impossible.
    Rejected,
}

impl Verdict {
    /// The status shown at `now`: a pending proposal past `expires_at` is expired.
    /// Expiry is a view; it never changes the tally.
    pub fn status_at(self, now: UnixMillis, expires_at: UnixMillis) -> Status {
        match self {
            Verdict::Pending if now >= expires_at => Status::Expired,
            Verdict::Pending => Status::Pending,
            Verdict::Approved => Status::Approved,
            Verdict::Rejected => Status::Rejected,
        }
    }

    /// Whether the verdict is final (approved or rejected).
    pub fn is_decided(self) -> bool {
        self != Verdict::Pending
    }
}

/// What a node shows for a proposal: the verdict plus expiry.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Waiting for ballots.
    Pending,
    /// Approved by a quorum.
    Approved,
    /// Approval has become impossible.
    Rejected,
    /// Still pending when it expired.
    Expired,
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Status::Pending => "pending",
            Status::Approved => "approved",
            Status::Rejected => "rejected",
            Status::Expired => "expired",
        })
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Verdict::Pending => "pending",
            Verdict::Approved => "approved",
            Verdict::Rejected => "rejected",
        })
    }
}

/// The rule itself: `yes` distinct YES signers and `no` distinct NO signers among `n`
/// members with `q` required. Approved iff `yes >= q`; else rejected iff `no > n - q`.
pub fn verdict_for(n: u32, q: u32, yes: usize, no: usize) -> Verdict {
    let q = usize::try_from(q).unwrap_or(usize::MAX);
    let n = usize::try_from(n).unwrap_or(usize::MAX);
    if yes >= q {
        Verdict::Approved
    } else if no > n.saturating_sub(q) {
        Verdict::Rejected
    } else {
        Verdict::Pending
    }
}

/// Why a ballot was not added.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TallyError {
    /// The ballot is for another proposal.
    #[error("ballot is for proposal {found}, this tally is for {expected}")]
    WrongProposal {
        /// This tally's proposal.
        expected: ProposalId,
        /// The ballot's proposal.
        found: ProposalId,
    },
    /// The ballot was verified against another roster.
    #[error("ballot was verified against roster {found}, this tally uses {expected}")]
    WrongRoster {
        /// This tally's roster.
        expected: RosterDigest,
        /// The roster the ballot was verified against.
        found: RosterDigest,
    },
}

/// What adding a ballot did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Added {
    /// A new (voter, vote) pair.
    New,
    /// The voter already voted this way; nothing changed.
    Duplicate,
    /// The voter already voted this way, and this ballot (say, with another reason) now
    /// takes the old one's place because it sorts first. The verdict is unchanged, but
    /// the kept ballot changed, so it should be stored.
    Replaced,
    /// The voter had voted the other way: here is the evidence.
    Equivocation(Box<Equivocation>),
}

/// The tally's full result.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Outcome {
    /// The proposal.
    pub proposal: ProposalId,
    /// Members.
    pub n: u32,
    /// YES votes needed.
    pub q: u32,
    /// Members that signed YES.
    pub yes: BTreeSet<VoterId>,
    /// Members that signed NO.
    pub no: BTreeSet<VoterId>,
    /// Members that signed both.
    pub equivocators: BTreeSet<VoterId>,
    /// The verdict.
    pub verdict: Verdict,
    /// Both thresholds are met: approval stands, but only because of equivocation
    /// (a rejection was, or could have been, overturned by an equivocator's YES).
    pub conflicting: bool,
}

/// The ballots of one proposal, at most one YES and one NO per member.
#[derive(Clone, Debug)]
pub struct Tally {
    proposal: ProposalId,
    roster: RosterDigest,
    n: u32,
    q: u32,
    // Shared: in the simulator every engine's tally points at the one copy of a ballot
    // the signature cache holds (a thousand nodes would otherwise hold a thousand).
    yes: BTreeMap<VoterId, Arc<SignedBallot>>,
    no: BTreeMap<VoterId, Arc<SignedBallot>>,
}

impl Tally {
    /// An empty tally for `proposal`, judged by `roster`.
    pub fn new(roster: &Roster, proposal: &Verified<SignedProposal>) -> Self {
        Self {
            proposal: proposal.id(),
            roster: roster.digest(),
            n: roster.len(),
            q: roster.required(),
            yes: BTreeMap::new(),
            no: BTreeMap::new(),
        }
    }

    /// The proposal this tally is for.
    pub fn proposal(&self) -> ProposalId {
        self.proposal
    }

    /// Adds a verified ballot.
    ///
    /// When a member has two valid ballots with the same vote (say, different reasons),
    /// the smaller one in [`SignedBallot`]'s order is kept, so every node keeps the same one.
    pub fn add(&mut self, ballot: Verified<SignedBallot>) -> Result<Added, TallyError> {
        self.add_shared(ballot.map(Arc::new))
    }

    /// Like [`Tally::add`], keeping the shared ballot itself rather than a copy.
    pub fn add_shared(&mut self, ballot: Verified<Arc<SignedBallot>>) -> Result<Added, TallyError> {
        if ballot.roster() != self.roster {
            return Err(TallyError::WrongRoster {
                expected: self.roster,
                found: ballot.roster(),
            });
        }
        let b = ballot.ballot();
        if b.proposal != self.proposal {
            return Err(TallyError::WrongProposal {
                expected: self.proposal,
                found: b.proposal,
            });
        }
        let voter = b.voter;
        let vote = b.vote;
        let ballot = ballot.into_inner();
        let (side, other) = match vote {
            Vote::Yes => (&mut self.yes, &self.no),
            Vote::No => (&mut self.no, &self.yes),
        };
        if let Some(kept) = side.get_mut(&voter) {
            if *ballot < **kept {
                *kept = ballot;
                return Ok(Added::Replaced);
            }
            return Ok(Added::Duplicate);
        }
        side.insert(voter, ballot.clone());
        match other.get(&voter) {
            Some(prior) => {
                // Both ballots are verified, same voter and proposal, opposite votes.
                let evidence = Equivocation::new((*ballot).clone(), (**prior).clone());
                Ok(evidence.map_or(Added::New, |e| Added::Equivocation(Box::new(e))))
            }
            None => Ok(Added::New),
        }
    }

    /// The kept ballot of `voter` voting `vote`, if any.
    pub fn ballot_of(&self, voter: &VoterId, vote: Vote) -> Option<&SignedBallot> {
        match vote {
            Vote::Yes => self.yes.get(voter).map(|b| &**b),
            Vote::No => self.no.get(voter).map(|b| &**b),
        }
    }

    /// The verdict, from the counts alone.
    pub fn verdict(&self) -> Verdict {
        verdict_for(self.n, self.q, self.yes.len(), self.no.len())
    }

    /// The full result.
    pub fn outcome(&self) -> Outcome {
        let verdict = self.verdict();
        let n = usize::try_from(self.n).unwrap_or(usize::MAX);
        let q = usize::try_from(self.q).unwrap_or(usize::MAX);
        Outcome {
            proposal: self.proposal,
            n: self.n,
            q: self.q,
            yes: self.yes.keys().copied().collect(),
            no: self.no.keys().copied().collect(),
            equivocators: self.equivocators().collect(),
            verdict,
            conflicting: verdict == Verdict::Approved && self.no.len() > n.saturating_sub(q),
        }
    }

    fn equivocators(&self) -> impl Iterator<Item = VoterId> + '_ {
        self.yes.keys().filter(|v| self.no.contains_key(v)).copied()
    }

    /// Evidence for every equivocator, in voter order.
    pub fn equivocations(&self) -> Vec<Equivocation> {
        self.yes
            .iter()
            .filter_map(|(v, y)| {
                let n = self.no.get(v)?;
                Equivocation::new((**y).clone(), (**n).clone()).ok()
            })
            .collect()
    }

    /// All kept ballots: YES ballots in voter order, then NO ballots in voter order.
    pub fn ballots(&self) -> impl Iterator<Item = &SignedBallot> {
        self.yes.values().chain(self.no.values()).map(|b| &**b)
    }

    /// A quorum certificate, if approved: the proposal and every kept YES ballot, in voter
    /// order. Returns `None` if not approved or `proposal` is not this tally's.
    pub fn certificate(&self, proposal: &Verified<SignedProposal>) -> Option<Certificate> {
        if self.verdict() != Verdict::Approved
            || proposal.id() != self.proposal
            || proposal.roster() != self.roster
        {
            return None;
        }
        Some(Certificate::new(
            (**proposal).clone(),
            self.yes.values().map(|b| (**b).clone()).collect(),
        ))
    }
}
