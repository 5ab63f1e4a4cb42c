//! The tally: exact, order-independent, and fed only verified ballots.
//!
//! The roster's tier for the proposal (see [`crate::roster::tier`]) fixes the electorate
//! `E` (every member, or every member but the proposer under four-eyes), `q`, and any
//! group requirements `(G, k)`. Counting only ballots from `E`:
//!
//! * **Approved** iff at least `q` distinct members signed YES, and for every group
//!   requirement at least `k` members of `G` signed YES.
//! * **Rejected** iff not approved and approval has become impossible: more than
//!   `|E| - q` signed NO, or for some requirement more than `|G ∩ E| - k` of the group did.
//! * **Pending** otherwise.
//!
//! For a plain roster this is the rule it always was: `E` is all `n`, no groups.
//!
//! A member that signed both YES and NO is an equivocator. It still counts on both sides,
//! so a reached approval is never taken back. The result depends only on the set of
//! (voter, vote) pairs, never on arrival order or duplicates.
//!
//! Storage is dense: each side (YES, NO) is a vector with one slot per member, indexed by
//! [`MemberIndex`](crate::roster::MemberIndex), plus a count, so the verdict is O(1) and
//! walking the slots in index order is walking voters in id order. A side's vector is
//! allocated on its first ballot: a proposal nobody votes NO on holds no NO slots.

use std::collections::BTreeSet;
use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::certificate::{Certificate, TierLabel};
use crate::crypto::Verified;
use crate::evidence::Equivocation;
use crate::ids::{GroupName, ProposalId, RosterDigest, TierName, UnixMillis, VoterId};
use crate::message::{SignedBallot, SignedProposal, Vote};
use crate::roster::{self, MemberIndex, Roster, TierId, Voters};

/// The tally's verdict, a function of the ballot set alone.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
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
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
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
    verdict_of(&[Count {
        eligible: n,
        need: q,
        yes,
        no,
    }])
}

/// One threshold's counts: `yes` and `no` distinct signers among `eligible` voters, of
/// whom `need` must sign YES.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Count {
    /// Voters whose ballots count.
    pub eligible: u32,
    /// YES votes needed from them.
    pub need: u32,
    /// Distinct YES signers among them.
    pub yes: usize,
    /// Distinct NO signers among them.
    pub no: usize,
}

impl Count {
    fn met(&self) -> bool {
        self.yes >= usize::try_from(self.need).unwrap_or(usize::MAX)
    }

    /// More NO than `eligible - need`: `need` YES votes can no longer come.
    fn impossible(&self) -> bool {
        let room = self.eligible.saturating_sub(self.need);
        self.no > usize::try_from(room).unwrap_or(usize::MAX)
    }
}

/// The verdict over several thresholds that must all hold (the quorum and each group
/// requirement): approved iff every one is met; else rejected iff any has become
/// impossible; else pending.
pub fn verdict_of(counts: &[Count]) -> Verdict {
    if counts.iter().all(Count::met) {
        Verdict::Approved
    } else if counts.iter().any(Count::impossible) {
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
    /// The ballot's voter is not in this tally's roster. Unreachable for a ballot
    /// verified against the same roster digest; refused rather than trusted.
    #[error("voter {voter} is not a member of this tally's roster")]
    NotAMember {
        /// The voter.
        voter: VoterId,
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
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
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
    /// The roster tier that judged the proposal.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub tier: TierName,
    /// Whether the proposer's own ballot was left out (four-eyes).
    pub four_eyes: bool,
    /// Each group requirement and its YES count so far.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<GroupOutcome>,
}

/// A group requirement's state in a tally.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct GroupOutcome {
    /// The group.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub group: GroupName,
    /// YES votes needed from it.
    pub need: u32,
    /// YES votes from it that count.
    pub yes: u32,
}

/// The ballots of one proposal, at most one YES and one NO per member.
#[derive(Clone)]
pub struct Tally {
    proposal: ProposalId,
    roster: RosterDigest,
    n: u32,
    q: u32,
    tier: TierId,
    /// The tier's name, unless it is the default (no allocation on the common path).
    tier_name: Option<TierName>,
    /// The proposer's slot under four-eyes: kept, but outside the count.
    excluded: Option<usize>,
    /// Group requirements and their counts; empty for most tiers.
    groups: Vec<GroupCount>,
    /// The roster's sorted member ids: slot `i` of a side belongs to `voters[i]`.
    voters: Voters,
    yes: Side,
    no: Side,
}

/// One group requirement's running counts (the electorate's members only).
#[derive(Clone, Debug)]
struct GroupCount {
    group: GroupName,
    members: Arc<[MemberIndex]>,
    need: u32,
    eligible: u32,
    yes: usize,
    no: usize,
}

/// One side of a tally: a slot per member once the first ballot arrives, and a count of
/// filled slots.
#[derive(Clone, Default)]
struct Side {
    // Shared: in the simulator every engine's tally points at the one copy of a ballot
    // the signature cache holds (a thousand nodes would otherwise hold a thousand).
    // Empty until the first ballot, then exactly `n` long.
    slots: Vec<Option<Arc<SignedBallot>>>,
    count: usize,
}

impl Side {
    fn get(&self, index: usize) -> Option<&Arc<SignedBallot>> {
        self.slots.get(index)?.as_ref()
    }

    /// The slot at `index`, allocating all `n` slots on first use.
    fn slot_mut(&mut self, index: usize, n: usize) -> Option<&mut Option<Arc<SignedBallot>>> {
        if self.slots.is_empty() {
            // Exactly `n`: the vector never grows after this.
            self.slots.reserve_exact(n);
            self.slots.resize(n, None);
        }
        self.slots.get_mut(index)
    }

    /// Filled slots in index order, which is voter order.
    fn iter(&self) -> impl Iterator<Item = (usize, &Arc<SignedBallot>)> {
        self.slots
            .iter()
            .enumerate()
            .filter_map(|(i, slot)| Some((i, slot.as_ref()?)))
    }
}

impl fmt::Debug for Tally {
    // The shape the map-backed tally printed: each side as a voter -> ballot map.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tally")
            .field("proposal", &self.proposal)
            .field("roster", &self.roster)
            .field("n", &self.n)
            .field("q", &self.q)
            .field("yes", &DebugSide(self, &self.yes))
            .field("no", &DebugSide(self, &self.no))
            .finish()
    }
}

struct DebugSide<'a>(&'a Tally, &'a Side);

impl fmt::Debug for DebugSide<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.0.side_ballots(self.1)).finish()
    }
}

impl Tally {
    /// An empty tally for `proposal`, judged by `roster`.
    pub fn new(roster: &Roster, proposal: &Verified<SignedProposal>) -> Self {
        let p = proposal.proposal();
        let tier_id = roster.tier_for(p.action.as_str(), || p.payload.to_value());
        let tier = roster.tier(tier_id);
        let excluded = if tier.four_eyes() {
            roster.index_of(&p.proposer).map(MemberIndex::get)
        } else {
            None
        };
        let groups = tier
            .requirements()
            .iter()
            .map(|r| {
                let size = u32::try_from(r.members.len()).unwrap_or(u32::MAX);
                let proposer_inside =
                    excluded.is_some_and(|x| r.members.iter().any(|m| m.get() == x));
                GroupCount {
                    group: r.group.clone(),
                    members: Arc::clone(&r.members),
                    need: r.yes,
                    eligible: size.saturating_sub(u32::from(proposer_inside)),
                    yes: 0,
                    no: 0,
                }
            })
            .collect();
        Self {
            proposal: proposal.id(),
            roster: roster.digest(),
            n: roster.len(),
            q: tier.required(),
            tier: tier_id,
            tier_name: (tier_id != TierId::Default).then(|| tier.name().clone()),
            excluded,
            groups,
            voters: roster.shared_voters(),
            yes: Side::default(),
            no: Side::default(),
        }
    }

    /// The roster tier that judges this proposal.
    pub fn tier(&self) -> TierId {
        self.tier
    }

    /// The tier's name.
    pub fn tier_name(&self) -> TierName {
        self.tier_name
            .clone()
            .unwrap_or_else(roster::default_tier_name)
    }

    /// YES votes needed from the electorate.
    pub fn required(&self) -> u32 {
        self.q
    }

    /// The counts the verdict is taken from: the quorum's, then each group's.
    pub fn counts(&self) -> impl Iterator<Item = Count> + '_ {
        let out = |side: &Side| usize::from(self.excluded.is_some_and(|x| side.get(x).is_some()));
        let main = Count {
            eligible: self.n.saturating_sub(u32::from(self.excluded.is_some())),
            need: self.q,
            yes: self.yes.count.saturating_sub(out(&self.yes)),
            no: self.no.count.saturating_sub(out(&self.no)),
        };
        std::iter::once(main).chain(self.groups.iter().map(|g| Count {
            eligible: g.eligible,
            need: g.need,
            yes: g.yes,
            no: g.no,
        }))
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
        self.add_hinted(ballot, None)
    }

    /// [`Tally::add_shared`], with the voter's index to try first (see
    /// [`roster::index_hinted`]): a wrong hint costs a search, never a wrong slot.
    pub(crate) fn add_hinted(
        &mut self,
        ballot: Verified<Arc<SignedBallot>>,
        hint: Option<MemberIndex>,
    ) -> Result<Added, TallyError> {
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
        let index = roster::index_hinted(&self.voters, &voter, hint)
            .ok_or(TallyError::NotAMember { voter })?
            .get();
        let ballot = ballot.into_inner();
        let n = self.voters.len();
        let (side, other) = match vote {
            Vote::Yes => (&mut self.yes, &self.no),
            Vote::No => (&mut self.no, &self.yes),
        };
        // `index` came from `voters`, so the slot exists; a miss would be a bug, and is
        // refused like a stranger rather than panicking.
        let slot = side
            .slot_mut(index, n)
            .ok_or(TallyError::NotAMember { voter })?;
        if let Some(kept) = slot {
            if *ballot < **kept {
                *kept = ballot;
                return Ok(Added::Replaced);
            }
            return Ok(Added::Duplicate);
        }
        *slot = Some(Arc::clone(&ballot));
        side.count = side.count.saturating_add(1);
        if self.excluded != Some(index) {
            for g in &mut self.groups {
                if g.members.binary_search_by(|m| m.get().cmp(&index)).is_ok() {
                    match vote {
                        Vote::Yes => g.yes = g.yes.saturating_add(1),
                        Vote::No => g.no = g.no.saturating_add(1),
                    }
                }
            }
        }
        match other.get(index) {
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
        self.ballot_hinted(voter, vote, None)
    }

    /// [`Tally::ballot_of`], with the voter's index to try first.
    pub(crate) fn ballot_hinted(
        &self,
        voter: &VoterId,
        vote: Vote,
        hint: Option<MemberIndex>,
    ) -> Option<&SignedBallot> {
        let index = roster::index_hinted(&self.voters, voter, hint)?.get();
        let side = match vote {
            Vote::Yes => &self.yes,
            Vote::No => &self.no,
        };
        side.get(index).map(|b| &**b)
    }

    /// The verdict, from the counts alone.
    pub fn verdict(&self) -> Verdict {
        if self.excluded.is_none() && self.groups.is_empty() {
            // The plain rule, without building the counts: this is the hot path.
            return verdict_for(self.n, self.q, self.yes.count, self.no.count);
        }
        let counts: Vec<Count> = self.counts().collect();
        verdict_of(&counts)
    }

    /// A side's (voter, ballot) pairs in voter order.
    fn side_ballots<'a>(
        &'a self,
        side: &'a Side,
    ) -> impl Iterator<Item = (&'a VoterId, &'a SignedBallot)> + 'a {
        side.iter()
            .filter_map(|(i, b)| Some((self.voters.get(i)?, &**b)))
    }

    /// The voters with a ballot on a side, in voter order.
    fn side_voters<'a>(&'a self, side: &'a Side) -> impl Iterator<Item = VoterId> + 'a {
        self.side_ballots(side).map(|(v, _)| *v)
    }

    /// The full result.
    pub fn outcome(&self) -> Outcome {
        let verdict = self.verdict();
        let impossible = self.counts().any(|c| c.impossible());
        Outcome {
            proposal: self.proposal,
            n: self.n,
            q: self.q,
            yes: self.side_voters(&self.yes).collect(),
            no: self.side_voters(&self.no).collect(),
            equivocators: self.equivocators().collect(),
            verdict,
            conflicting: verdict == Verdict::Approved && impossible,
            tier: self.tier_name(),
            four_eyes: self.excluded.is_some(),
            groups: self
                .groups
                .iter()
                .map(|g| GroupOutcome {
                    group: g.group.clone(),
                    need: g.need,
                    yes: u32::try_from(g.yes).unwrap_or(u32::MAX),
                })
                .collect(),
        }
    }

    /// Members with a ballot on both sides: (voter, YES ballot, NO ballot), voter order.
    fn both_sides(
        &self,
    ) -> impl Iterator<Item = (&VoterId, &Arc<SignedBallot>, &Arc<SignedBallot>)> + '_ {
        // An empty NO side (the common case) short-cuts the walk over YES slots.
        let yes = if self.no.count == 0 {
            None
        } else {
            Some(self.yes.iter())
        };
        yes.into_iter().flatten().filter_map(|(i, y)| {
            let no = self.no.get(i)?;
            Some((self.voters.get(i)?, y, no))
        })
    }

    fn equivocators(&self) -> impl Iterator<Item = VoterId> + '_ {
        self.both_sides().map(|(v, _, _)| *v)
    }

    /// Evidence for every equivocator, in voter order.
    pub fn equivocations(&self) -> Vec<Equivocation> {
        self.both_sides()
            .filter_map(|(_, y, n)| Equivocation::new((**y).clone(), (**n).clone()).ok())
            .collect()
    }

    /// All kept ballots: YES ballots in voter order, then NO ballots in voter order.
    pub fn ballots(&self) -> impl Iterator<Item = &SignedBallot> {
        self.yes.iter().chain(self.no.iter()).map(|(_, b)| &**b)
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
        Some(
            Certificate::new(
                (**proposal).clone(),
                self.yes.iter().map(|(_, b)| (**b).clone()).collect(),
            )
            .with_tier(TierLabel {
                name: self.tier_name(),
                required: self.q,
            }),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::SecretKey;
    use crate::ids::{Action, MemberName, Nonce, SwarmId};
    use crate::message::{Ballot, Payload, Proposal};

    fn key(i: u32) -> SecretKey {
        let mut seed = [0u8; 32];
        seed[..4].copy_from_slice(&i.to_le_bytes());
        seed[31] = 0xa5;
        SecretKey::from_seed(seed)
    }

    fn roster(n: u32) -> Roster {
        Roster::new(
            SwarmId::new("t").unwrap(),
            "2/3".parse().unwrap(),
            (0..n).map(|i| {
                (
                    MemberName::new(format!("m{i}")).unwrap(),
                    key(i).public().unwrap(),
                )
            }),
        )
        .unwrap()
    }

    fn proposal(r: &Roster) -> Verified<SignedProposal> {
        Proposal {
            swarm: r.swarm().clone(),
            roster: r.digest(),
            proposer: key(0).voter_id(),
            action: Action::new("fs.delete").unwrap(),
            payload: Payload::from_json_text("{}").unwrap(),
            created_at: UnixMillis(1_000),
            expires_at: UnixMillis(61_000),
            nonce: Nonce([1; 16]),
        }
        .sign(&key(0))
        .unwrap()
        .verify(r)
        .unwrap()
    }

    fn ballot(p: &SignedProposal, i: u32, vote: Vote) -> SignedBallot {
        Ballot {
            swarm: p.proposal().swarm.clone(),
            proposal: p.id(),
            voter: key(i).voter_id(),
            vote,
            reason: None,
        }
        .sign(&key(i))
    }

    #[test]
    fn an_all_yes_tally_allocates_no_no_slots() {
        let n = 50;
        let r = roster(n);
        let p = proposal(&r);
        let mut t = Tally::new(&r, &p);
        assert_eq!((t.yes.slots.capacity(), t.no.slots.capacity()), (0, 0));
        for i in 0..n {
            let b = ballot(&p, i, Vote::Yes).verify(&r).unwrap();
            assert_eq!(t.add(b).unwrap(), Added::New);
        }
        assert_eq!(t.verdict(), Verdict::Approved);
        // One exact allocation for YES, none for NO, and the NO-side queries still answer.
        assert_eq!(t.yes.slots.capacity(), n as usize);
        assert_eq!(t.yes.count, n as usize);
        assert_eq!(t.no.slots.capacity(), 0);
        assert!(t.equivocations().is_empty());
        assert!(t.outcome().no.is_empty());
        assert!(t.ballot_of(&key(3).voter_id(), Vote::No).is_none());
        assert_eq!(t.ballots().count(), n as usize);
        // The first NO allocates its side, once.
        let b = ballot(&p, 7, Vote::No).verify(&r).unwrap();
        assert!(matches!(t.add(b).unwrap(), Added::Equivocation(_)));
        assert_eq!((t.no.slots.capacity(), t.no.count), (n as usize, 1));
    }

    #[test]
    fn a_wrong_index_hint_costs_a_search_never_a_wrong_slot() {
        let n = 20;
        let r = roster(n);
        let p = proposal(&r);
        let mut t = Tally::new(&r, &p);
        let idx = |i: u32| r.index_of(&key(i).voter_id());
        let out_of_range = roster(n + 5).index_of(&key(n + 4).voter_id());
        // Right, someone else's, out of range, none: each lands in the voter's own slot.
        for (i, hint) in [(1, idx(1)), (2, idx(3)), (4, out_of_range), (5, None)] {
            let b = ballot(&p, i, Vote::Yes).verify(&r).unwrap().map(Arc::new);
            assert_eq!(t.add_hinted(b, hint).unwrap(), Added::New);
            let voter = key(i).voter_id();
            assert!(t.ballot_hinted(&voter, Vote::Yes, idx(0)).is_some());
            assert!(t.ballot_of(&voter, Vote::Yes).is_some());
        }
        assert!(
            t.ballot_hinted(&key(3).voter_id(), Vote::Yes, idx(2))
                .is_none()
        );
        assert_eq!(t.yes.count, 4);
        // A stranger with a member's index is still a stranger.
        let b = Verified::new(Arc::new(ballot(&p, 90, Vote::Yes)), r.digest());
        assert!(matches!(
            t.add_hinted(b, idx(1)),
            Err(TallyError::NotAMember { .. })
        ));
        assert!(r.member_hinted(&key(90).voter_id(), idx(1)).is_none());
        assert!(r.member_hinted(&key(1).voter_id(), idx(2)).is_some());
    }

    #[test]
    fn a_stranger_is_refused_not_panicked_on() {
        let r = roster(3);
        let p = proposal(&r);
        let mut t = Tally::new(&r, &p);
        // Only reachable by forging the proof, which the crate alone can do.
        let b = Verified::new(Arc::new(ballot(&p, 9, Vote::Yes)), r.digest());
        assert_eq!(
            t.add_shared(b),
            Err(TallyError::NotAMember {
                voter: key(9).voter_id()
            })
        );
        assert_eq!(t.ballots().count(), 0);
        assert!(t.ballot_of(&key(9).voter_id(), Vote::Yes).is_none());
        assert_eq!(t.yes.slots.capacity(), 0, "a refusal allocates nothing");
    }

    #[test]
    fn outputs_come_in_voter_order() {
        let n = 40;
        let r = roster(n);
        let p = proposal(&r);
        let mut t = Tally::new(&r, &p);
        // Insert in member-number order, which is not id order.
        for i in 0..n {
            let vote = if i % 4 == 0 { Vote::No } else { Vote::Yes };
            t.add(ballot(&p, i, vote).verify(&r).unwrap()).unwrap();
            if i % 8 == 0 {
                t.add(ballot(&p, i, Vote::Yes).verify(&r).unwrap()).unwrap();
            }
        }
        let voters = |vote: Vote| -> Vec<VoterId> {
            t.ballots()
                .filter(|b| b.ballot().vote == vote)
                .map(|b| b.ballot().voter)
                .collect()
        };
        let (yes, no) = (voters(Vote::Yes), voters(Vote::No));
        assert!(yes.windows(2).all(|w| w[0] < w[1]), "yes not in id order");
        assert!(no.windows(2).all(|w| w[0] < w[1]), "no not in id order");
        assert_eq!(yes.len(), 35);
        assert_eq!(no.len(), 10);
        let cert = t.certificate(&p).unwrap();
        let cert_voters: Vec<VoterId> = cert.ballots().iter().map(|b| b.ballot().voter).collect();
        assert_eq!(cert_voters, yes);
        let ev: Vec<VoterId> = t.equivocations().iter().map(|e| e.voter()).collect();
        assert_eq!(ev, t.outcome().equivocators.into_iter().collect::<Vec<_>>());
        assert_eq!(ev.len(), 5);
    }
}
