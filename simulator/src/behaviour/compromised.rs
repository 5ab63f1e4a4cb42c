//! `compromised`: a member whose key was stolen.
//!
//! The thief signs with the member's real key, so every ballot is valid. It votes YES on
//! every anomalous proposal (getting one through is what the key was stolen for) and
//! honestly on benign ones, so it never stands out by rejecting routine work. It draws
//! nothing from the RNG.
//!
//! What the swarm should do: nothing can tell its ballots from an honest member's, so
//! the quorum is the defence. With fewer than `q` stolen keys (and honest members voting
//! NO), no anomaly is approved; the report counts false approvals when stolen keys plus
//! wrong honest votes reach `q`. Validity and agreement must hold regardless.

use swarmvote_protocol::Vote;

use super::right_vote;

/// The thief's vote on a proposal with ground truth `anomalous`.
pub fn vote(anomalous: bool) -> Vote {
    if anomalous {
        Vote::Yes
    } else {
        right_vote(false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compromised_votes_yes_on_anomalies_and_honestly_on_benign() {
        assert_eq!(vote(true), Vote::Yes);
        assert_eq!(vote(false), Vote::Yes);
        assert_eq!(vote(false), right_vote(false));
        assert_ne!(vote(true), right_vote(true));
    }
}
