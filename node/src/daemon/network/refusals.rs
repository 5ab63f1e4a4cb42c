//! Peers refused at identify (another roster, or not a swarmvote node), kept connected a
//! moment so that our own identify answer reaches them and their operator sees the
//! refusal too.
//!
//! Each side refuses when it receives the other's answer. Closing at once could close the
//! connection before our answer went out, and the other node then never learned why the
//! peer vanished. A refused peer waits until shortly after our answer is sent, or until
//! its grace ends, whichever comes first; it is never admitted meanwhile.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use libp2p::PeerId;

/// How long a refused peer may stay connected at most.
pub const GRACE: Duration = Duration::from_secs(1);

/// How long after our identify answer went out a refused peer is blocked.
pub const AFTER_SENT: Duration = Duration::from_millis(200);

/// Refused peers waiting at once; a stranger can mint peer ids, so more are blocked at
/// once.
pub const MAX_WAITING: usize = 64;

/// What to do with a peer just refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// Keep it connected until [`Refusals::due`] names it.
    Wait,
    /// Block it now: too many refusals are waiting.
    BlockNow,
}

/// The refused peers still connected, and when each is to be blocked.
#[derive(Debug, Default)]
pub struct Refusals {
    waiting: BTreeMap<PeerId, Instant>,
}

impl Refusals {
    /// Records a refusal at `now`. Refusing a waiting peer again keeps its deadline.
    pub fn refuse(&mut self, peer: PeerId, now: Instant) -> Refusal {
        if self.waiting.contains_key(&peer) {
            return Refusal::Wait;
        }
        if self.waiting.len() >= MAX_WAITING {
            return Refusal::BlockNow;
        }
        self.waiting.insert(peer, now + GRACE);
        Refusal::Wait
    }

    /// Whether `peer` was refused and is still waiting.
    pub fn contains(&self, peer: &PeerId) -> bool {
        self.waiting.contains_key(peer)
    }

    /// Our identify answer went out to `peer` at `now`: a waiting peer can go shortly.
    pub fn sent(&mut self, peer: &PeerId, now: Instant) {
        if let Some(at) = self.waiting.get_mut(peer) {
            *at = (*at).min(now + AFTER_SENT);
        }
    }

    /// `peer`'s last connection closed; true if it was waiting (block it, so it stays
    /// refused when it comes back).
    pub fn closed(&mut self, peer: &PeerId) -> bool {
        self.waiting.remove(peer).is_some()
    }

    /// The waiting peers whose time is up at `now`, removed: block them.
    pub fn due(&mut self, now: Instant) -> Vec<PeerId> {
        let due: Vec<PeerId> = self
            .waiting
            .iter()
            .filter(|&(_, &at)| at <= now)
            .map(|(&p, _)| p)
            .collect();
        for p in &due {
            self.waiting.remove(p);
        }
        due
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refused_peer_waits_for_our_answer_or_its_grace() {
        let t0 = Instant::now();
        let mut r = Refusals::default();
        let (a, b) = (PeerId::random(), PeerId::random());
        assert_eq!(r.refuse(a, t0), Refusal::Wait);
        assert_eq!(r.refuse(b, t0), Refusal::Wait);
        assert!(r.contains(&a) && r.contains(&b));
        assert!(r.due(t0).is_empty(), "nobody goes at once");
        // Our answer reached `a`: it goes shortly after; `b` waits out its grace.
        r.sent(&a, t0 + Duration::from_millis(10));
        assert!(r.due(t0 + Duration::from_millis(100)).is_empty());
        assert_eq!(r.due(t0 + Duration::from_millis(210)), vec![a]);
        assert!(!r.contains(&a));
        // Refusing again does not extend the grace; an answer sent late does not either.
        assert_eq!(r.refuse(b, t0 + Duration::from_millis(900)), Refusal::Wait);
        r.sent(&b, t0 + Duration::from_millis(950));
        assert_eq!(r.due(t0 + GRACE), vec![b]);
        assert!(r.due(t0 + GRACE * 10).is_empty());
        // A peer that disconnects while waiting is reported for blocking, once.
        let c = PeerId::random();
        r.refuse(c, t0);
        assert!(r.closed(&c));
        assert!(!r.closed(&c));
        // `sent` for a peer nobody refused changes nothing.
        r.sent(&PeerId::random(), t0);
        assert!(r.due(t0 + GRACE * 10).is_empty());
    }

    #[test]
    fn at_most_max_waiting_wait_and_the_rest_are_blocked_at_once() {
        let t0 = Instant::now();
        let mut r = Refusals::default();
        let peers: Vec<PeerId> = (0..MAX_WAITING).map(|_| PeerId::random()).collect();
        for &p in &peers {
            assert_eq!(r.refuse(p, t0), Refusal::Wait);
        }
        assert_eq!(r.refuse(PeerId::random(), t0), Refusal::BlockNow);
        // One already waiting is still told to wait, not blocked twice.
        assert_eq!(r.refuse(peers[0], t0), Refusal::Wait);
        assert_eq!(r.due(t0 + GRACE).len(), MAX_WAITING);
        assert_eq!(r.refuse(PeerId::random(), t0), Refusal::Wait, "room again");
    }
}
