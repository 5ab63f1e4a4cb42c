//! Degraded-voter detection: a deterministic state machine with no clock and no I/O.
//!
//! The driver feeds it what it sees: each proposal once it has settled (decided, or
//! expired, plus a grace period for late ballots), each equivocation, and each invalid
//! signature attributed to a member. For every member it keeps a sliding window of the
//! last `window` settled proposals and counts, in that window, dissent (a ballot against
//! the outcome), missed votes (no ballot), invalid signatures and equivocations. After
//! every settled proposal it evaluates each member against the thresholds, with
//! hysteresis: a member becomes degraded after `degrade_after` consecutive evaluations
//! over a threshold and recovers after `recover_after` consecutive ones under all of
//! them. One equivocation degrades at once. Each change is returned as a [`Transition`].

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use serde::Serialize;
use swarmvote_protocol::{ProposalId, Vote, VoterId};

pub use crate::api::{Counts, Mark, RECENT_OUTCOMES, Reason, RecentOutcome, VoterHealth};

/// Most proposal ids listed as evidence in one transition.
pub const MAX_EVIDENCE: usize = 32;

/// Thresholds, already validated (see [`Thresholds::new`]).
#[derive(Clone, Debug, PartialEq)]
pub struct Thresholds {
    /// Settled proposals in the window.
    pub window: u32,
    /// Dissenting ballots in the window that make a member degraded.
    pub dissent: u32,
    /// Missed votes in the window that make a member degraded.
    pub missed: u32,
    /// Invalid signatures in the window that make a member degraded; 0 never.
    pub invalid_signatures: u32,
    /// Consecutive evaluations over a threshold before a member is degraded.
    pub degrade_after: u32,
    /// Consecutive evaluations under every threshold before it recovers.
    pub recover_after: u32,
}

/// A threshold that cannot work.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ThresholdError {
    /// A count that must be positive is zero or too large.
    #[error("`{field}` must be between 1 and {max}, not {value}")]
    OutOfRange {
        /// The field.
        field: &'static str,
        /// The value given.
        value: u64,
        /// The largest allowed.
        max: u64,
    },
    /// A fraction outside (0, 1].
    #[error("`{field}` must be a fraction above 0 and at most 1, not {value}")]
    Fraction {
        /// The field.
        field: &'static str,
        /// The value given.
        value: f64,
    },
}

/// The largest window: it bounds the memory kept per member.
pub const MAX_WINDOW: u32 = 10_000;

impl Thresholds {
    /// Turns fractions of the window into counts: `ceil(fraction × window)`, so a
    /// fraction of 0.5 over 20 proposals means 10 of them.
    pub fn new(
        window: u32,
        dissent_fraction: f64,
        missed_fraction: f64,
        invalid_signatures: u32,
        degrade_after: u32,
        recover_after: u32,
    ) -> Result<Self, ThresholdError> {
        let range = |field, value: u32, max: u32| {
            if value == 0 || value > max {
                Err(ThresholdError::OutOfRange {
                    field,
                    value: u64::from(value),
                    max: u64::from(max),
                })
            } else {
                Ok(value)
            }
        };
        range("window", window, MAX_WINDOW)?;
        range("degrade_after", degrade_after, MAX_WINDOW)?;
        range("recover_after", recover_after, MAX_WINDOW)?;
        let count = |field, f: f64| {
            if !(f > 0.0 && f <= 1.0) {
                return Err(ThresholdError::Fraction { field, value: f });
            }
            // In range by the check above: at most `window`, at least 1.
            let c = (f * f64::from(window)).ceil();
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            Ok((c as u32).clamp(1, window))
        };
        Ok(Self {
            window,
            dissent: count("dissent_fraction", dissent_fraction)?,
            missed: count("missed_fraction", missed_fraction)?,
            invalid_signatures,
            degrade_after,
            recover_after,
        })
    }
}

impl Counts {
    fn add(&mut self, m: &Marks) {
        self.dissent = self.dissent.saturating_add(u32::from(m.dissent));
        self.missed = self.missed.saturating_add(u32::from(m.missed));
        self.invalid_signatures = self.invalid_signatures.saturating_add(m.invalid_signatures);
        self.equivocations = self.equivocations.saturating_add(m.equivocations);
    }

    fn reasons(&self, t: &Thresholds) -> Vec<Reason> {
        let mut r = Vec::new();
        if self.equivocations > 0 {
            r.push(Reason::Equivocation);
        }
        if t.invalid_signatures > 0 && self.invalid_signatures >= t.invalid_signatures {
            r.push(Reason::InvalidSignatures);
        }
        if self.dissent >= t.dissent {
            r.push(Reason::Dissent);
        }
        if self.missed >= t.missed {
            r.push(Reason::Missed);
        }
        r
    }
}

/// A settled proposal, as the driver saw it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Settled {
    /// The proposal.
    pub proposal: ProposalId,
    /// The winning side: YES if approved, NO if rejected, `None` if it expired undecided
    /// (then nobody dissents, but missing ballots still count).
    pub outcome: Option<Vote>,
    /// Members with a YES ballot.
    pub yes: BTreeSet<VoterId>,
    /// Members with a NO ballot.
    pub no: BTreeSet<VoterId>,
    /// The members of the roster that judged it, if known: a member tracked now but not
    /// in that roster (added by a later roster change) could not vote on it, so it
    /// neither missed nor dissented. `None`: every tracked member could.
    pub electorate: Option<BTreeSet<VoterId>>,
}

/// A member's change of state.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Transition {
    /// The member.
    pub voter: VoterId,
    /// Degraded now (false: recovered).
    pub degraded: bool,
    /// Why it is degraded; on recovery, why it was.
    pub reasons: Vec<Reason>,
    /// Its counts at the transition.
    pub counts: Counts,
    /// Settled proposals in the window at the transition.
    pub window: u32,
    /// The proposals behind the counts (equivocated on, dissented on, missed), newest
    /// last, at most [`MAX_EVIDENCE`].
    pub evidence: Vec<ProposalId>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct Marks {
    dissent: bool,
    missed: bool,
    invalid_signatures: u32,
    equivocations: u32,
    evidence: Vec<ProposalId>,
    /// It was in the electorate of the slot's proposal (set only in slots, for
    /// [`RecentOutcome`]s).
    judged: bool,
    /// Its ballot on the slot's proposal, if one (and only one).
    vote: Option<Vote>,
}

impl Marks {
    fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

#[derive(Clone, Debug, Default)]
struct Member {
    degraded: bool,
    streak: u32,
    reasons: Vec<Reason>,
    /// Seen since the last evaluation; moved into the next slot.
    pending: Marks,
}

/// The state machine. Memory: `window` slots of at most one entry per member.
#[derive(Clone, Debug)]
pub struct Monitor {
    thresholds: Thresholds,
    members: BTreeMap<VoterId, Member>,
    slots: VecDeque<(ProposalId, BTreeMap<VoterId, Marks>)>,
}

impl Monitor {
    /// A monitor for these members, all healthy.
    pub fn new(thresholds: Thresholds, members: impl IntoIterator<Item = VoterId>) -> Self {
        Self {
            thresholds,
            members: members
                .into_iter()
                .map(|v| (v, Member::default()))
                .collect(),
            slots: VecDeque::new(),
        }
    }

    /// The roster changed: members it adds are tracked from now on (healthy, with an
    /// empty history), members it removes are no longer tracked, the others keep
    /// their state. Returns how many were added and removed.
    pub fn set_members(&mut self, members: impl IntoIterator<Item = VoterId>) -> (usize, usize) {
        let next: BTreeSet<VoterId> = members.into_iter().collect();
        let before = self.members.len();
        self.members.retain(|v, _| next.contains(v));
        let removed = before.saturating_sub(self.members.len());
        let mut added = 0usize;
        for v in next {
            if let std::collections::btree_map::Entry::Vacant(e) = self.members.entry(v) {
                e.insert(Member::default());
                added = added.saturating_add(1);
            }
        }
        for (_, marks) in &mut self.slots {
            marks.retain(|v, _| self.members.contains_key(v));
        }
        (added, removed)
    }

    /// The thresholds in force.
    pub fn thresholds(&self) -> &Thresholds {
        &self.thresholds
    }

    /// A message naming `voter` as signer failed its signature check. Counted at the next
    /// evaluation; non-members are ignored.
    pub fn invalid_signature(&mut self, voter: &VoterId) {
        if let Some(m) = self.members.get_mut(voter) {
            m.pending.invalid_signatures = m.pending.invalid_signatures.saturating_add(1);
        }
    }

    /// `voter` equivocated on `proposal`: degraded at once if it was not already.
    pub fn equivocation(&mut self, voter: &VoterId, proposal: ProposalId) -> Option<Transition> {
        let seen = self.slots.iter().any(|(_, marks)| {
            marks
                .get(voter)
                .is_some_and(|m| m.equivocations > 0 && m.evidence.contains(&proposal))
        });
        let counts = self.counts(voter);
        let window = self.window_len();
        let m = self.members.get_mut(voter)?;
        if seen || (m.pending.equivocations > 0 && m.pending.evidence.contains(&proposal)) {
            return None;
        }
        m.pending.equivocations = m.pending.equivocations.saturating_add(1);
        push_evidence(&mut m.pending.evidence, proposal);
        if m.degraded {
            return None;
        }
        m.degraded = true;
        m.streak = 0;
        m.reasons = vec![Reason::Equivocation];
        let mut counts = counts;
        counts.equivocations = counts.equivocations.saturating_add(1);
        Some(Transition {
            voter: *voter,
            degraded: true,
            reasons: m.reasons.clone(),
            counts,
            window,
            evidence: vec![proposal],
        })
    }

    /// A proposal settled: it enters the window (the oldest leaves), and every member is
    /// evaluated. Returns the transitions, in voter order.
    pub fn settle(&mut self, s: &Settled) -> Vec<Transition> {
        let mut slot = BTreeMap::new();
        for (voter, m) in &mut self.members {
            let mut marks = std::mem::take(&mut m.pending);
            if s.electorate.as_ref().is_some_and(|e| !e.contains(voter)) {
                if !marks.is_empty() {
                    slot.insert(*voter, marks);
                }
                continue;
            }
            let (yes, no) = (s.yes.contains(voter), s.no.contains(voter));
            marks.judged = true;
            let mark = |marks: &mut Marks| push_evidence(&mut marks.evidence, s.proposal);
            match (yes, no) {
                (false, false) => {
                    marks.missed = true;
                    mark(&mut marks);
                }
                // An equivocator is counted through its evidence, not as a dissenter.
                (true, true) => {}
                (true, false) | (false, true) => {
                    let vote = if yes { Vote::Yes } else { Vote::No };
                    marks.vote = Some(vote);
                    if s.outcome.is_some_and(|o| o != vote) {
                        marks.dissent = true;
                        mark(&mut marks);
                    }
                }
            }
            if !marks.is_empty() {
                slot.insert(*voter, marks);
            }
        }
        self.slots.push_back((s.proposal, slot));
        while self.slots.len() > usize::try_from(self.thresholds.window).unwrap_or(usize::MAX) {
            self.slots.pop_front();
        }
        let voters: Vec<VoterId> = self.members.keys().copied().collect();
        voters
            .into_iter()
            .filter_map(|v| self.evaluate(&v))
            .collect()
    }

    fn evaluate(&mut self, voter: &VoterId) -> Option<Transition> {
        let counts = self.counts(voter);
        let reasons = counts.reasons(&self.thresholds);
        let evidence = self.evidence(voter);
        let window = self.window_len();
        let t = &self.thresholds;
        let m = self.members.get_mut(voter)?;
        let bad = !reasons.is_empty();
        if bad == m.degraded {
            // Still on the same side: the streak towards a change starts over.
            m.streak = 0;
            if bad {
                m.reasons.clone_from(&reasons);
            }
            return None;
        }
        m.streak = m.streak.saturating_add(1);
        let needed = if m.degraded {
            t.recover_after
        } else if reasons.contains(&Reason::Equivocation) {
            1
        } else {
            t.degrade_after
        };
        if m.streak < needed {
            return None;
        }
        m.streak = 0;
        m.degraded = bad;
        if bad {
            m.reasons.clone_from(&reasons);
        }
        Some(Transition {
            voter: *voter,
            degraded: bad,
            reasons: m.reasons.clone(),
            counts,
            window,
            evidence,
        })
    }

    /// Settled proposals in the window now.
    pub fn window_len(&self) -> u32 {
        u32::try_from(self.slots.len()).unwrap_or(u32::MAX)
    }

    /// `voter`'s counts over the window plus what is pending.
    pub fn counts(&self, voter: &VoterId) -> Counts {
        let mut c = Counts::default();
        for (_, marks) in &self.slots {
            if let Some(m) = marks.get(voter) {
                c.add(m);
            }
        }
        if let Some(m) = self.members.get(voter) {
            c.add(&m.pending);
        }
        c
    }

    fn evidence(&self, voter: &VoterId) -> Vec<ProposalId> {
        let mut out = Vec::new();
        let pending = self.members.get(voter).map(|m| &m.pending);
        for m in self
            .slots
            .iter()
            .filter_map(|(_, marks)| marks.get(voter))
            .chain(pending)
        {
            for id in &m.evidence {
                push_evidence(&mut out, *id);
            }
        }
        out
    }

    /// Whether `voter` is degraded now.
    pub fn is_degraded(&self, voter: &VoterId) -> bool {
        self.members.get(voter).is_some_and(|m| m.degraded)
    }

    /// Every member's health, in voter order.
    pub fn report(&self) -> Vec<VoterHealth> {
        self.members
            .iter()
            .map(|(v, m)| {
                let counts = self.counts(v);
                VoterHealth {
                    voter: *v,
                    degraded: m.degraded,
                    reasons: if m.degraded {
                        m.reasons.clone()
                    } else {
                        counts.reasons(&self.thresholds)
                    },
                    counts,
                    streak: m.streak,
                    recent: self.recent(v),
                }
            })
            .collect()
    }

    /// `voter`'s part in the last [`RECENT_OUTCOMES`] settled proposals, oldest first.
    fn recent(&self, voter: &VoterId) -> Vec<RecentOutcome> {
        let skip = self.slots.len().saturating_sub(RECENT_OUTCOMES);
        self.slots
            .iter()
            .skip(skip)
            .map(|(proposal, marks)| {
                let m = marks.get(voter).filter(|m| m.judged);
                let mark = match m {
                    None => Mark::NotEligible,
                    Some(m) if m.equivocations > 0 && m.evidence.contains(proposal) => {
                        Mark::Equivocation
                    }
                    Some(m) if m.dissent => Mark::Dissent,
                    Some(m) if m.missed => Mark::Missed,
                    Some(_) => Mark::Agreed,
                };
                RecentOutcome {
                    proposal: *proposal,
                    vote: m.and_then(|m| m.vote),
                    mark,
                }
            })
            .collect()
    }
}

/// Appends `id` unless present, keeping the newest [`MAX_EVIDENCE`].
fn push_evidence(list: &mut Vec<ProposalId>, id: ProposalId) {
    if list.contains(&id) {
        return;
    }
    if list.len() >= MAX_EVIDENCE {
        list.remove(0);
    }
    list.push(id);
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]

    use proptest::prelude::*;

    use super::*;

    fn voter(i: u8) -> VoterId {
        VoterId::from_bytes([i; 32])
    }

    fn pid(i: u32) -> ProposalId {
        let mut b = [0u8; 32];
        b[..4].copy_from_slice(&i.to_le_bytes());
        ProposalId::from_bytes(b)
    }

    /// Members 1..=n; on proposal `i`, `yes` voted YES, `no` voted NO, the rest nothing.
    fn settled(i: u32, outcome: Option<Vote>, yes: &[u8], no: &[u8]) -> Settled {
        Settled {
            proposal: pid(i),
            outcome,
            yes: yes.iter().map(|v| voter(*v)).collect(),
            no: no.iter().map(|v| voter(*v)).collect(),
            electorate: None,
        }
    }

    fn monitor(t: Thresholds) -> Monitor {
        Monitor::new(t, (1..=3).map(voter))
    }

    #[test]
    fn fractions_become_counts_and_bad_values_are_refused() {
        let t = Thresholds::new(20, 0.5, 0.25, 3, 3, 3).unwrap();
        assert_eq!((t.dissent, t.missed), (10, 5));
        let t = Thresholds::new(3, 0.01, 1.0, 0, 1, 1).unwrap();
        assert_eq!((t.dissent, t.missed), (1, 3));
        assert!(matches!(
            Thresholds::new(0, 0.5, 0.5, 0, 1, 1),
            Err(ThresholdError::OutOfRange {
                field: "window",
                ..
            })
        ));
        for f in [0.0, -1.0, 1.5, f64::NAN] {
            assert!(matches!(
                Thresholds::new(5, f, 0.5, 0, 1, 1),
                Err(ThresholdError::Fraction {
                    field: "dissent_fraction",
                    ..
                })
            ));
        }
        assert!(Thresholds::new(5, 0.5, 0.5, 0, 0, 1).is_err());
        assert!(Thresholds::new(5, 0.5, 0.5, 0, 1, 0).is_err());
    }

    #[test]
    fn a_constant_dissenter_is_degraded_after_k_and_recovers_after_k() {
        // Window 4, dissent 2 of 4, k = 2 both ways.
        let mut m = monitor(Thresholds::new(4, 0.5, 1.0, 0, 2, 2).unwrap());
        let y = Some(Vote::Yes);
        // 1 dissents on every proposal; 2 and 3 approve.
        assert!(m.settle(&settled(1, y, &[2, 3], &[1])).is_empty());
        // Two dissents in the window: over the threshold, first evaluation.
        assert!(m.settle(&settled(2, y, &[2, 3], &[1])).is_empty());
        let t = m.settle(&settled(3, y, &[2, 3], &[1]));
        assert_eq!(t.len(), 1, "{t:?}");
        assert_eq!((t[0].voter, t[0].degraded), (voter(1), true));
        assert_eq!(t[0].reasons, [Reason::Dissent]);
        assert_eq!(t[0].counts.dissent, 3);
        assert_eq!(t[0].evidence, [pid(1), pid(2), pid(3)]);
        assert!(m.is_degraded(&voter(1)));
        // It behaves: dissent leaves the window one proposal at a time.
        let mut recovered = None;
        for i in 4..20 {
            let t = m.settle(&settled(i, y, &[1, 2, 3], &[]));
            if let Some(t) = t.into_iter().next() {
                recovered = Some((i, t));
                break;
            }
        }
        let (at, t) = recovered.unwrap();
        // Window [4,5,6,7] after 7 has no dissent... the count falls under 2 at proposal 6
        // (window 3..=6 holds one), and two good evaluations later (6, 7) it recovers.
        assert_eq!(at, 7);
        assert!(!t.degraded);
        assert_eq!(t.reasons, [Reason::Dissent]);
        assert!(!m.is_degraded(&voter(1)));
        assert!(!m.is_degraded(&voter(2)));
    }

    #[test]
    fn one_equivocation_degrades_at_once_and_stays_until_it_leaves_the_window() {
        let mut m = monitor(Thresholds::new(3, 1.0, 1.0, 0, 5, 1).unwrap());
        let t = m.equivocation(&voter(2), pid(1)).unwrap();
        assert!(t.degraded);
        assert_eq!(t.reasons, [Reason::Equivocation]);
        assert_eq!(t.evidence, [pid(1)]);
        // The same evidence again changes nothing.
        assert!(m.equivocation(&voter(2), pid(1)).is_none());
        assert_eq!(m.counts(&voter(2)).equivocations, 1);
        // Equivocator on both sides: not dissent, not missed.
        assert!(
            m.settle(&settled(1, Some(Vote::Yes), &[1, 2, 3], &[2]))
                .is_empty()
        );
        assert!(
            m.settle(&settled(2, Some(Vote::Yes), &[1, 2, 3], &[]))
                .is_empty()
        );
        assert!(
            m.settle(&settled(3, Some(Vote::Yes), &[1, 2, 3], &[]))
                .is_empty()
        );
        // Proposal 1 leaves the window with the equivocation.
        let t = m.settle(&settled(4, Some(Vote::Yes), &[1, 2, 3], &[]));
        assert_eq!(t.len(), 1);
        assert!(!t[0].degraded);
        assert_eq!(t[0].reasons, [Reason::Equivocation]);
    }

    #[test]
    fn missed_votes_invalid_signatures_and_expiry() {
        let mut m = monitor(Thresholds::new(4, 1.0, 0.5, 2, 1, 1).unwrap());
        // An expired proposal: nobody dissents, the silent member missed it.
        assert!(m.settle(&settled(1, None, &[1], &[2])).is_empty());
        assert_eq!(m.counts(&voter(2)).dissent, 0);
        assert_eq!(m.counts(&voter(3)).missed, 1);
        let t = m.settle(&settled(2, Some(Vote::No), &[], &[1, 2]));
        assert_eq!(t.len(), 1);
        assert_eq!(
            (t[0].voter, t[0].reasons.clone()),
            (voter(3), vec![Reason::Missed])
        );
        // Voter 1 dissented on nothing (expired) and agreed with the rejection.
        assert_eq!(m.counts(&voter(1)).dissent, 0);
        m.invalid_signature(&voter(1));
        m.invalid_signature(&voter(9)); // not a member: ignored
        assert!(
            m.settle(&settled(3, Some(Vote::Yes), &[1, 2, 3], &[]))
                .is_empty()
        );
        m.invalid_signature(&voter(1));
        let t = m.settle(&settled(4, Some(Vote::Yes), &[1, 2, 3], &[]));
        assert_eq!(t.len(), 1, "{t:?}");
        assert_eq!(
            (t[0].voter, t[0].reasons.clone()),
            (voter(1), vec![Reason::InvalidSignatures])
        );
        let report = m.report();
        assert_eq!(report.len(), 3);
        assert!(report[0].degraded && report[0].counts.invalid_signatures == 2);
    }

    #[test]
    fn a_roster_change_adds_and_drops_tracked_members() {
        let mut m = monitor(Thresholds::new(4, 0.5, 0.5, 0, 1, 1).unwrap());
        // Voter 3 misses two proposals: degraded.
        m.settle(&settled(1, Some(Vote::Yes), &[1, 2], &[]));
        let t = m.settle(&settled(2, Some(Vote::Yes), &[1, 2], &[]));
        assert_eq!(t.len(), 1, "{t:?}");
        assert!(m.is_degraded(&voter(3)));
        // Epoch change: 3 removed, 4 added; 1 and 2 keep their history.
        assert_eq!(m.set_members([1, 2, 4].map(voter)), (1, 1));
        let voters: Vec<VoterId> = m.report().iter().map(|h| h.voter).collect();
        assert_eq!(voters, [1, 2, 4].map(voter));
        assert_eq!(m.counts(&voter(3)), Counts::default());
        assert_eq!(m.counts(&voter(4)), Counts::default());
        assert_eq!(m.window_len(), 2);
        // A proposal of the old roster settles: the new member could not vote on it.
        let old = Settled {
            electorate: Some([1, 2, 3].map(voter).into()),
            ..settled(3, Some(Vote::Yes), &[1, 2], &[])
        };
        m.settle(&old);
        assert_eq!(m.counts(&voter(4)).missed, 0);
        // It is counted from the new roster's proposals on.
        m.settle(&settled(4, Some(Vote::Yes), &[1, 2], &[]));
        assert_eq!(m.counts(&voter(4)).missed, 1);
        assert_eq!(m.set_members([1, 2, 4].map(voter)), (0, 0));
    }

    #[test]
    fn an_occasional_dissenter_is_never_flagged_with_the_defaults() {
        // The defaults: window 50, dissent 60%, k = 3. Dissent on every third proposal.
        let mut m = monitor(Thresholds::new(50, 0.6, 0.5, 3, 3, 3).unwrap());
        for i in 0..500 {
            let dissent = i % 3 == 0;
            let (yes, no): (&[u8], &[u8]) = if dissent {
                (&[2, 3], &[1])
            } else {
                (&[1, 2, 3], &[])
            };
            assert!(m.settle(&settled(i, Some(Vote::Yes), yes, no)).is_empty());
        }
        // One that always dissents is flagged once 30 of 50 are dissents, 3 times in a row.
        let mut m = monitor(Thresholds::new(50, 0.6, 0.5, 3, 3, 3).unwrap());
        let at = (0..100)
            .find(|i| {
                !m.settle(&settled(*i, Some(Vote::Yes), &[2, 3], &[1]))
                    .is_empty()
            })
            .unwrap();
        assert_eq!(at, 31, "the 32nd proposal");
    }

    proptest! {
        /// Against a naive model: transitions alternate, each degrade follows
        /// `degrade_after` consecutive bad windows and each recovery `recover_after` good
        /// ones, and a long enough run on one side always ends on that side.
        #[test]
        fn hysteresis(
            dissents in proptest::collection::vec(any::<bool>(), 1..200),
            window in 1u32..8,
            frac in 1u32..=4,
            k_down in 1u32..4,
            k_up in 1u32..4,
        ) {
            let t = Thresholds::new(window, f64::from(frac) / 4.0, 1.0, 0, k_down, k_up).unwrap();
            let need = t.dissent;
            let mut m = monitor(t);
            let mut bad_history = Vec::new();
            let mut degraded = false;
            for (i, d) in dissents.iter().enumerate() {
                let i = u32::try_from(i).unwrap();
                let (yes, no): (&[u8], &[u8]) = if *d { (&[2, 3], &[1]) } else { (&[1, 2, 3], &[]) };
                let ts = m.settle(&settled(i, Some(Vote::Yes), yes, no));
                let start = (i + 1).saturating_sub(window) as usize;
                let in_window = dissents[start..=i as usize].iter().filter(|x| **x).count();
                bad_history.push(u32::try_from(in_window).unwrap() >= need);
                for tr in &ts {
                    prop_assert_eq!(tr.voter, voter(1));
                    prop_assert_eq!(tr.degraded, !degraded, "transitions alternate");
                    let k = if tr.degraded { k_down } else { k_up } as usize;
                    prop_assert!(bad_history.len() >= k);
                    prop_assert!(
                        bad_history[bad_history.len() - k..].iter().all(|b| *b == tr.degraded),
                        "a transition needs k consecutive evaluations on its side"
                    );
                    degraded = tr.degraded;
                }
                prop_assert_eq!(m.is_degraded(&voter(1)), degraded);
                let run = k_down.max(k_up) as usize;
                if bad_history.len() >= run {
                    let tail = &bad_history[bad_history.len() - run..];
                    if tail.iter().all(|b| *b) {
                        prop_assert!(degraded);
                    }
                    if tail.iter().all(|b| !*b) {
                        prop_assert!(!degraded);
                    }
                }
            }
        }
    }
}
