//! `drift(p)`: a degraded but non-malicious voter, the seed document's "logic drift".
//!
//! Each vote is the ground truth flipped with probability `p`, drawn independently per
//! member and proposal (one RNG draw per vote). The errors are independent, so a quorum
//! of drifting members rarely errs together: the drift sweep (`swarmvote-sim sweep`)
//! measures how block rate and false approvals fall with `n` for a given `p`.
//!
//! What the swarm should do: out-vote the slips. No message is invalid and no evidence
//! arises; a wrong outcome needs `q` members to drift the same way on one proposal.

use swarmvote_protocol::Vote;

use super::{flip, right_vote};
use crate::rng::SimRng;

/// The drifting member's vote on a proposal with ground truth `anomalous`.
pub fn vote(anomalous: bool, p: f64, rng: &mut SimRng) -> Vote {
    flip(right_vote(anomalous), rng.chance(p))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 20,000 seeded draws per rate: the share of wrong votes is within 0.015 of `p`
    /// (over 4 standard deviations at p = 0.5). The seed is fixed, so this cannot flake.
    #[test]
    fn drift_flips_at_rate_p() {
        const DRAWS: u32 = 20_000;
        let mut rng = SimRng::new(42);
        for p in [0.0, 0.05, 0.3, 0.5, 0.9, 1.0] {
            for anomalous in [false, true] {
                let wrong = (0..DRAWS)
                    .filter(|_| vote(anomalous, p, &mut rng) != right_vote(anomalous))
                    .count();
                let rate = f64::from(u32::try_from(wrong).unwrap_or(u32::MAX)) / f64::from(DRAWS);
                assert!((rate - p).abs() < 0.015, "p = {p}: measured {rate}");
            }
        }
    }

    #[test]
    fn the_extremes_are_exact() {
        let mut rng = SimRng::new(7);
        for _ in 0..100 {
            assert_eq!(vote(true, 0.0, &mut rng), Vote::No);
            assert_eq!(vote(false, 0.0, &mut rng), Vote::Yes);
            assert_eq!(vote(true, 1.0, &mut rng), Vote::Yes);
            assert_eq!(vote(false, 1.0, &mut rng), Vote::No);
        }
    }
}
