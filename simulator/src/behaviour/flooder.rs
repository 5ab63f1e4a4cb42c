//! `flooder`: a member that sends random garbage at a high rate.
//!
//! Every `1 / rate_per_s` seconds of virtual time, until the last proposal arrives, it
//! sends one message of 16 to 128 random bytes (a whole number of 16-byte chunks) to
//! every reachable peer, at most [`MAX_FLOOD_PER_NODE`] messages in a run so runs stay
//! fast. It never votes.
//!
//! What the swarm should do: reject every message as malformed (it does not decode), so
//! none is forwarded, and keep deciding proposals as if the flooder were offline. The
//! report counts `garbage_sent` and `invalid_rejected`.

use crate::rng::SimRng;

/// The most garbage messages one flooder sends in a run: enough to show every one is
/// rejected and honest nodes keep deciding, few enough to keep a run under a second.
pub const MAX_FLOOD_PER_NODE: u32 = 2_000;

/// One garbage message: 1 to 8 chunks of 16 random bytes (a `below` draw, then one
/// `bytes16` per chunk).
pub fn garbage(rng: &mut SimRng) -> Vec<u8> {
    let chunks = rng.below(8).saturating_add(1);
    let mut bytes = Vec::with_capacity(chunks.saturating_mul(16));
    for _ in 0..chunks {
        bytes.extend_from_slice(&rng.bytes16());
    }
    bytes
}

/// The gap between two garbage messages at `rate_per_s`, in virtual microseconds (at
/// least 1 us, so a huge rate cannot stall virtual time; at most an hour).
pub fn gap_us(rate_per_s: f64) -> u64 {
    let us = (1e6 / rate_per_s).round();
    if us.is_finite() && us >= 1.0 {
        // Bounded: rate_per_s > 0 is checked at load, and 1e6 / tiny is capped below.
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let v = us.min(3.6e9) as u64;
        v
    } else {
        1
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use swarmvote_protocol::engine::{Event, RejectReason, Validation};
    use swarmvote_protocol::gossip;

    use super::*;
    use crate::behaviour::testkit;

    #[test]
    fn flooder_garbage_never_decodes() {
        let mut rng = SimRng::new(99);
        let mut lengths = std::collections::BTreeSet::new();
        for _ in 0..10_000 {
            let g = garbage(&mut rng);
            assert!((16..=128).contains(&g.len()) && g.len().is_multiple_of(16));
            lengths.insert(g.len());
            assert!(gossip::decode_gossip(&g).is_err(), "{}", hex::encode(&g));
        }
        assert_eq!(lengths.len(), 8, "every size occurs");
    }

    #[test]
    fn an_engine_rejects_garbage_as_malformed() {
        let (keys, roster) = testkit::roster(3);
        let mut engine = testkit::engine(&keys, &roster);
        let mut rng = SimRng::new(5);
        for _ in 0..20 {
            let (verdict, events) = testkit::deliver(&mut engine, &garbage(&mut rng));
            assert!(
                matches!(
                    verdict,
                    Some(Validation::Reject(RejectReason::Malformed(_)))
                ),
                "{verdict:?}"
            );
            assert!(
                events
                    .iter()
                    .any(|e| matches!(e, Event::InvalidMessage { .. }))
            );
        }
    }

    #[test]
    fn the_gap_follows_the_rate_within_bounds() {
        assert_eq!(gap_us(1.0), 1_000_000);
        assert_eq!(gap_us(200.0), 5_000);
        assert_eq!(gap_us(1e9), 1);
        assert_eq!(gap_us(1e-9), 3_600_000_000);
        assert_eq!(gap_us(f64::NAN), 1);
    }
}
