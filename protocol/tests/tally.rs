//! The tally: property tests against a separately written reference, exact quorum
//! boundaries, equivocation and the expiry view.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, OnceLock};

use common::*;
use proptest::prelude::*;
use swarmvote_protocol::tally::verdict_for;
use swarmvote_protocol::{
    Added, Equivocation, Outcome, Quorum, Roster, SignedBallot, SignedProposal, Status, Tally,
    TallyError, UnixMillis, Verdict, Verified, Vote, VoterId,
};

const QUORUMS: [&str; 7] = ["1/2", "0.5", "0.51", "0.66", "2/3", "0.75", "1"];

/// Every ballot a roster of `n` can cast on one proposal: per member a plain YES, a YES
/// with a reason (a second valid YES), and a NO.
struct Pool {
    roster: Roster,
    proposal: Verified<SignedProposal>,
    ballots: Vec<Verified<SignedBallot>>,
}

impl Pool {
    fn get(&self, member: u32, kind: u8) -> Verified<SignedBallot> {
        self.ballots[(member * 3 + u32::from(kind)) as usize].clone()
    }
}

type Pools = Mutex<BTreeMap<(u32, String), Arc<Pool>>>;

fn pool(n: u32, quorum: &str) -> Arc<Pool> {
    static POOLS: OnceLock<Pools> = OnceLock::new();
    let pools = POOLS.get_or_init(Default::default);
    if let Some(p) = pools.lock().unwrap().get(&(n, quorum.to_owned())) {
        return p.clone();
    }
    let roster = roster(n, quorum);
    let proposal = verified_proposal(&roster);
    let mut ballots = Vec::new();
    for i in 0..n {
        for b in [
            ballot(&proposal, i, Vote::Yes),
            ballot_with_reason(&proposal, i, Vote::Yes, "second opinion"),
            ballot(&proposal, i, Vote::No),
        ] {
            ballots.push(b.verify(&roster).unwrap());
        }
    }
    let p = Arc::new(Pool {
        roster,
        proposal,
        ballots,
    });
    pools
        .lock()
        .unwrap()
        .insert((n, quorum.to_owned()), p.clone());
    p
}

/// A ballot choice: member index and kind (0 = yes, 1 = yes with reason, 2 = no).
type Pick = (u32, u8);

fn tally_of(pool: &Pool, picks: &[Pick]) -> Tally {
    let mut t = Tally::new(&pool.roster, &pool.proposal);
    for &(m, k) in picks {
        t.add(pool.get(m, k)).unwrap();
    }
    t
}

/// The reference: written from the rules in the issue, sharing no code with the tally.
fn reference(n: u32, quorum: &str, picks: &[Pick]) -> (Verdict, BTreeSet<u32>, BTreeSet<u32>) {
    let quorum: Quorum = quorum.parse().unwrap();
    let (num, den) = (
        u128::from(quorum.numerator()),
        u128::from(quorum.denominator()),
    );
    // Smallest q with q/n >= num/den, by search.
    let mut q = 0u128;
    while q * den < u128::from(n) * num {
        q += 1;
    }
    let yes: BTreeSet<u32> = picks.iter().filter(|p| p.1 < 2).map(|p| p.0).collect();
    let no: BTreeSet<u32> = picks.iter().filter(|p| p.1 == 2).map(|p| p.0).collect();
    let verdict = if yes.len() as u128 >= q {
        Verdict::Approved
    } else if no.len() as u128 > u128::from(n) - q {
        Verdict::Rejected
    } else {
        Verdict::Pending
    };
    (verdict, yes, no)
}

fn ids(set: &BTreeSet<u32>) -> BTreeSet<VoterId> {
    set.iter().map(|i| key(*i).voter_id()).collect()
}

fn scenario() -> impl Strategy<Value = (u32, &'static str, Vec<Pick>)> {
    let n = prop_oneof![3 => 1u32..=9, 1 => 10u32..=200];
    (n, 0usize..QUORUMS.len()).prop_flat_map(|(n, qi)| {
        let pick = (0..n, 0u8..3);
        (
            Just(n),
            Just(QUORUMS[qi]),
            prop::collection::vec(pick, 0..(3 * n as usize + 4)),
        )
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn outcome_ignores_order_and_duplicates(
        (n, quorum, picks) in scenario(),
        order in prop::collection::vec(any::<u64>(), 0..1000),
        dups in prop::collection::vec(any::<prop::sample::Index>(), 0..20),
    ) {
        let pool = pool(n, quorum);
        let mut shuffled: Vec<(u64, Pick)> = picks
            .iter()
            .enumerate()
            .map(|(i, p)| (order.get(i).copied().unwrap_or(i as u64), *p))
            .collect();
        if !picks.is_empty() {
            for d in &dups {
                let p = picks[d.index(picks.len())];
                shuffled.push((order.first().copied().unwrap_or(0) ^ 0x55, p));
            }
        }
        shuffled.sort_by_key(|(k, _)| *k);
        let other: Vec<Pick> = shuffled.into_iter().map(|(_, p)| p).collect();

        let a = tally_of(&pool, &picks);
        let b = tally_of(&pool, &other);
        prop_assert_eq!(a.outcome(), b.outcome());
        // The kept ballots, the evidence and the certificate are the same too.
        prop_assert_eq!(a.ballots().collect::<Vec<_>>(), b.ballots().collect::<Vec<_>>());
        prop_assert_eq!(a.equivocations(), b.equivocations());
        prop_assert_eq!(a.certificate(&pool.proposal), b.certificate(&pool.proposal));
    }

    #[test]
    fn matches_the_reference_tally((n, quorum, picks) in scenario()) {
        let pool = pool(n, quorum);
        let outcome: Outcome = tally_of(&pool, &picks).outcome();
        let (verdict, yes, no) = reference(n, quorum, &picks);
        prop_assert_eq!(outcome.verdict, verdict);
        prop_assert_eq!(&outcome.yes, &ids(&yes));
        prop_assert_eq!(&outcome.no, &ids(&no));
        let both: BTreeSet<u32> = yes.intersection(&no).copied().collect();
        prop_assert_eq!(&outcome.equivocators, &ids(&both));
        prop_assert_eq!(outcome.n, n);
        prop_assert_eq!(outcome.q, pool.roster.required());
        // A certificate exists exactly when approved, and it verifies.
        let cert = tally_of(&pool, &picks).certificate(&pool.proposal);
        prop_assert_eq!(cert.is_some(), verdict == Verdict::Approved);
        if let Some(cert) = cert {
            prop_assert!(cert.verify(&pool.roster).is_ok());
        }
    }

    #[test]
    fn approval_is_monotone((n, quorum, picks) in scenario()) {
        let pool = pool(n, quorum);
        let mut t = Tally::new(&pool.roster, &pool.proposal);
        let mut approved = false;
        for &(m, k) in &picks {
            t.add(pool.get(m, k)).unwrap();
            let v = t.verdict();
            if approved {
                prop_assert_eq!(v, Verdict::Approved);
            }
            approved |= v == Verdict::Approved;
        }
    }

    #[test]
    fn rejection_flips_only_with_equivocation((n, quorum, picks) in scenario()) {
        let pool = pool(n, quorum);
        let mut t = Tally::new(&pool.roster, &pool.proposal);
        let mut rejected = false;
        for &(m, k) in &picks {
            let added = t.add(pool.get(m, k)).unwrap();
            let outcome = t.outcome();
            if rejected && outcome.verdict == Verdict::Approved {
                prop_assert!(!outcome.equivocators.is_empty());
                prop_assert!(outcome.conflicting);
            }
            if outcome.conflicting {
                prop_assert!(!outcome.equivocators.is_empty());
            }
            // Evidence is reported the moment a member's second side arrives.
            let (_, was_equivocator) = (m, outcome.equivocators.contains(&key(m).voter_id()));
            if let Added::Equivocation(e) = &added {
                prop_assert!(was_equivocator);
                prop_assert_eq!(e.voter(), key(m).voter_id());
            }
            rejected |= outcome.verdict == Verdict::Rejected;
        }
    }
}

#[test]
fn quorum_boundaries_are_exact() {
    // Hand-computed values, so a bug shared by the tally and the reference still shows.
    let table: &[(&str, u32, u32)] = &[
        ("1/2", 1, 1),
        ("1/2", 2, 1),
        ("1/2", 3, 2),
        ("1/2", 4, 2),
        ("0.5", 200, 100),
        ("0.51", 2, 2),
        ("0.51", 100, 51),
        ("0.51", 200, 102),
        ("0.66", 3, 2),
        ("0.66", 100, 66),
        ("0.66", 200, 132),
        ("2/3", 3, 2),
        ("2/3", 4, 3),
        ("2/3", 100, 67),
        ("2/3", 200, 134),
        ("0.75", 4, 3),
        ("0.75", 5, 4),
        ("0.75", 200, 150),
        ("1", 1, 1),
        ("1", 200, 200),
    ];
    for &(quorum, n, q) in table {
        let parsed: Quorum = quorum.parse().unwrap();
        assert_eq!(parsed.required(n), q, "quorum {quorum}, n = {n}");
    }
    // The ceiling, checked by its definition for every n.
    for quorum in QUORUMS {
        let parsed: Quorum = quorum.parse().unwrap();
        let (num, den) = (
            u128::from(parsed.numerator()),
            u128::from(parsed.denominator()),
        );
        for n in 1..=200u32 {
            let q = u128::from(parsed.required(n));
            assert!(q >= 1 && q <= u128::from(n), "{quorum} n={n} q={q}");
            assert!(
                q * den >= u128::from(n) * num,
                "{quorum} n={n}: q too small"
            );
            assert!(
                (q - 1) * den < u128::from(n) * num,
                "{quorum} n={n}: q too big"
            );
        }
    }
    // The rule at every boundary count, for every n: q-1 or q YES, n-q or n-q+1 NO.
    for quorum in QUORUMS {
        let parsed: Quorum = quorum.parse().unwrap();
        for n in 1..=200u32 {
            let q = parsed.required(n);
            let (qs, ns) = (q as usize, (n - q) as usize);
            for yes in [qs - 1, qs] {
                for no in [ns, ns + 1] {
                    let expected = if yes >= qs {
                        Verdict::Approved
                    } else if no == ns + 1 {
                        Verdict::Rejected
                    } else {
                        Verdict::Pending
                    };
                    assert_eq!(
                        verdict_for(n, q, yes, no),
                        expected,
                        "{quorum} n={n} q={q} yes={yes} no={no}"
                    );
                }
            }
        }
    }
    // Real tallies at the boundary counts.
    let sizes: Vec<u32> = (1..=12).chain([50, 99, 100, 101, 199, 200]).collect();
    for quorum in QUORUMS {
        for &n in &sizes {
            let pool = pool(n, quorum);
            let q = pool.roster.required();
            let yes: Vec<Pick> = (0..q).map(|m| (m, 0)).collect();
            let below = tally_of(&pool, &yes[..(q - 1) as usize]);
            assert_eq!(below.verdict(), Verdict::Pending, "{quorum} n={n} q-1 yes");
            let at = tally_of(&pool, &yes);
            assert_eq!(at.verdict(), Verdict::Approved, "{quorum} n={n} q yes");

            let no: Vec<Pick> = (0..=(n - q)).map(|m| (n - 1 - m, 2)).collect();
            let max_no = tally_of(&pool, &no[..(n - q) as usize]);
            assert_eq!(max_no.verdict(), Verdict::Pending, "{quorum} n={n} n-q no");
            let over = tally_of(&pool, &no);
            assert_eq!(over.verdict(), Verdict::Rejected, "{quorum} n={n} n-q+1 no");

            // q-1 YES and n-q+1 NO from disjoint members: everyone voted, rejected.
            let mut split = yes[..(q - 1) as usize].to_vec();
            split.extend_from_slice(&no);
            assert_eq!(
                tally_of(&pool, &split).verdict(),
                Verdict::Rejected,
                "{quorum} n={n} split"
            );
        }
    }
}

#[test]
fn tally_refuses_other_proposals_and_rosters() {
    let pool3 = pool(3, "2/3");
    let mut t = Tally::new(&pool3.roster, &pool3.proposal);

    // A ballot for another proposal of the same roster.
    let other = draft(&pool3.roster, 1, r#"{"other":true}"#)
        .sign(&key(1))
        .unwrap();
    let b = ballot(&other, 1, Vote::Yes).verify(&pool3.roster).unwrap();
    assert!(matches!(t.add(b), Err(TallyError::WrongProposal { .. })));

    // A ballot for this proposal id, verified against another roster with the same
    // swarm and members: refused by the roster check.
    let half = roster(3, "1/2");
    let b = ballot(&pool3.proposal, 1, Vote::Yes).verify(&half).unwrap();
    assert!(matches!(t.add(b), Err(TallyError::WrongRoster { .. })));
    assert_eq!(t.outcome().yes.len(), 0);
}

#[test]
fn duplicates_are_idempotent_and_evidence_verifies() {
    let pool = pool(3, "2/3");
    let mut t = Tally::new(&pool.roster, &pool.proposal);
    assert_eq!(t.add(pool.get(1, 0)).unwrap(), Added::New);
    assert_eq!(t.add(pool.get(1, 0)).unwrap(), Added::Duplicate);
    let second = t.add(pool.get(1, 1)).unwrap();
    let expected = if pool.get(1, 1).into_inner() < pool.get(1, 0).into_inner() {
        Added::Replaced
    } else {
        Added::Duplicate
    };
    assert_eq!(second, expected);
    assert_eq!(t.add(pool.get(1, 1)).unwrap(), Added::Duplicate);
    assert_eq!(t.add(pool.get(1, 0)).unwrap(), Added::Duplicate);
    let Added::Equivocation(evidence) = t.add(pool.get(1, 2)).unwrap() else {
        panic!("no evidence reported");
    };
    assert_eq!(evidence.voter(), key(1).voter_id());
    assert_eq!(evidence.proposal(), pool.proposal.id());
    let verified = (*evidence).clone().verify(&pool.roster).unwrap();
    assert_eq!(verified.yes().ballot().vote, Vote::Yes);

    // The same two ballots in either order make the same evidence.
    let a = Equivocation::new(pool.get(1, 2).into_inner(), pool.get(1, 0).into_inner()).unwrap();
    let b = Equivocation::new(pool.get(1, 0).into_inner(), pool.get(1, 2).into_inner()).unwrap();
    assert_eq!(a, b);
    // Not evidence: same side, different voters.
    assert!(Equivocation::new(pool.get(1, 0).into_inner(), pool.get(1, 1).into_inner()).is_err());
    assert!(Equivocation::new(pool.get(1, 0).into_inner(), pool.get(2, 2).into_inner()).is_err());
    // Evidence from another roster does not verify here.
    let other = roster_in("elsewhere", 3, "2/3");
    assert!((*evidence).clone().verify(&other).is_err());

    let outcome = t.outcome();
    assert_eq!(outcome.equivocators, ids(&BTreeSet::from([1])));
    assert_eq!(outcome.yes.len(), 1);
    assert_eq!(outcome.no.len(), 1);
}

#[test]
fn equivocation_cannot_undo_approval_but_can_overturn_rejection() {
    // n = 3, q = 2: two NO reject; an equivocator's YES plus one honest YES then approve.
    let pool = pool(3, "2/3");
    let mut t = Tally::new(&pool.roster, &pool.proposal);
    t.add(pool.get(0, 2)).unwrap();
    t.add(pool.get(1, 2)).unwrap();
    assert_eq!(t.verdict(), Verdict::Rejected);
    t.add(pool.get(2, 0)).unwrap();
    assert_eq!(t.verdict(), Verdict::Rejected);
    t.add(pool.get(1, 0)).unwrap();
    let o = t.outcome();
    assert_eq!(o.verdict, Verdict::Approved);
    assert!(o.conflicting);
    assert_eq!(o.equivocators, ids(&BTreeSet::from([1])));

    // Approval reached first stays, however many NO follow.
    let mut t = Tally::new(&pool.roster, &pool.proposal);
    t.add(pool.get(0, 0)).unwrap();
    t.add(pool.get(1, 0)).unwrap();
    for m in 0..3 {
        t.add(pool.get(m, 2)).unwrap();
        assert_eq!(t.verdict(), Verdict::Approved);
    }
}

#[test]
fn expiry_is_a_view() {
    let expires = UnixMillis(1_000);
    assert_eq!(
        Verdict::Pending.status_at(UnixMillis(999), expires),
        Status::Pending
    );
    assert_eq!(
        Verdict::Pending.status_at(UnixMillis(1_000), expires),
        Status::Expired
    );
    assert_eq!(
        Verdict::Approved.status_at(UnixMillis(5_000), expires),
        Status::Approved
    );
    assert_eq!(
        Verdict::Rejected.status_at(UnixMillis(5_000), expires),
        Status::Rejected
    );
}
