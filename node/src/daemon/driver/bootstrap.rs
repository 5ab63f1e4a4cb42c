//! The configured (bootstrap) peers: redialled with backoff while disconnected, their
//! failed dials logged at WARN (rate-limited per peer), and which of them are
//! unreachable now, for the status line and the API.

use std::collections::BTreeSet;
use std::time::Duration;

use libp2p::multiaddr::Protocol;
use libp2p::swarm::dial_opts::{DialOpts, PeerCondition};
use libp2p::swarm::{ConnectionId, DialError};
use libp2p::{Multiaddr, PeerId, Swarm};
use tokio::time::Instant;
use tracing::{info, warn};

use crate::api::UnreachablePeer;
use crate::daemon::network::Behaviour;

/// The first redial delay, and the longest.
const BACKOFF_FIRST: Duration = Duration::from_millis(250);
const BACKOFF_MAX: Duration = Duration::from_secs(30);
/// At most one WARN line per configured peer in this period.
pub(super) const WARN_EVERY: Duration = Duration::from_secs(60);

/// Per-peer rate limit of the failure warnings: the first failure, then at most one
/// line per [`WARN_EVERY`], counting the failures it kept quiet.
#[derive(Debug, Default)]
pub(super) struct WarnLimit {
    last: Option<Instant>,
    suppressed: u64,
}

impl WarnLimit {
    /// A failure at `now`: `Some(failures suppressed since the last line)` if this one
    /// is to be logged.
    pub(super) fn failure(&mut self, now: Instant) -> Option<u64> {
        match self.last {
            Some(at) if now.saturating_duration_since(at) < WARN_EVERY => {
                self.suppressed = self.suppressed.saturating_add(1);
                None
            }
            _ => {
                self.last = Some(now);
                Some(std::mem::take(&mut self.suppressed))
            }
        }
    }
}

/// One configured peer.
struct Configured {
    /// The address as configured.
    configured: Multiaddr,
    /// The address dialled (without a final `/p2p`).
    addr: Multiaddr,
    /// From the address's `/p2p`, or learned on the first connection.
    peer: Option<PeerId>,
    /// Our dial in flight.
    dialing: Option<ConnectionId>,
    /// Connections our dials opened, still open.
    open: BTreeSet<ConnectionId>,
    next: Instant,
    backoff: Duration,
    /// Failed dials since the last success.
    failures: u64,
    last_error: String,
    warn: WarnLimit,
}

impl Configured {
    fn reachable(&self, swarm: &Swarm<Behaviour>) -> bool {
        !self.open.is_empty() || self.peer.is_some_and(|p| swarm.is_connected(&p))
    }

    fn label(&self) -> String {
        self.peer
            .map_or_else(|| self.configured.to_string(), |p| p.to_string())
    }
}

/// The bootstrap peers.
pub(super) struct Bootstrap {
    peers: Vec<Configured>,
}

impl Bootstrap {
    pub(super) fn new(addrs: &[Multiaddr]) -> Self {
        let now = Instant::now();
        let peers = addrs
            .iter()
            .map(|configured| {
                let mut addr = configured.clone();
                let peer = match addr.iter().last() {
                    Some(Protocol::P2p(p)) => {
                        addr.pop();
                        Some(p)
                    }
                    _ => None,
                };
                Configured {
                    configured: configured.clone(),
                    addr,
                    peer,
                    dialing: None,
                    open: BTreeSet::new(),
                    next: now,
                    backoff: BACKOFF_FIRST,
                    failures: 0,
                    last_error: String::new(),
                    warn: WarnLimit::default(),
                }
            })
            .collect();
        Self { peers }
    }

    /// Dials every configured peer that is not connected, not being dialled, and whose
    /// backoff is over.
    pub(super) fn redial(&mut self, swarm: &mut Swarm<Behaviour>) {
        let t = Instant::now();
        for i in 0..self.peers.len() {
            let Some(p) = self.peers.get_mut(i) else {
                continue;
            };
            if p.dialing.is_some() || t < p.next || p.reachable(swarm) {
                continue;
            }
            p.next = t + p.backoff;
            p.backoff = (p.backoff * 2).min(BACKOFF_MAX);
            let opts = match p.peer {
                Some(peer) => DialOpts::peer_id(peer)
                    .addresses(vec![p.addr.clone()])
                    .condition(PeerCondition::Always)
                    .build(),
                None => DialOpts::unknown_peer_id().address(p.addr.clone()).build(),
            };
            let id = opts.connection_id();
            p.dialing = Some(id);
            if let Err(e) = swarm.dial(opts) {
                self.failed(id, &e);
            }
        }
    }

    /// A connection opened; if it is one of our dials, its peer is reachable.
    pub(super) fn established(&mut self, id: ConnectionId, peer: PeerId) {
        let Some(p) = self.peers.iter_mut().find(|p| p.dialing == Some(id)) else {
            return;
        };
        p.dialing = None;
        p.open.insert(id);
        p.peer.get_or_insert(peer);
        p.backoff = BACKOFF_FIRST;
        if p.failures > 0 {
            info!(
                %peer,
                addr = %p.configured,
                failures = p.failures,
                "configured peer reachable again"
            );
        }
        p.failures = 0;
    }

    /// A connection closed: if it was one of ours, redial after the backoff.
    pub(super) fn closed(&mut self, id: ConnectionId) {
        for p in &mut self.peers {
            if p.open.remove(&id) && p.open.is_empty() {
                p.next = Instant::now() + p.backoff;
            }
        }
    }

    /// A dial failed; true if it was one of ours (then logged, rate-limited).
    pub(super) fn failed(&mut self, id: ConnectionId, error: &DialError) -> bool {
        let Some(p) = self.peers.iter_mut().find(|p| p.dialing == Some(id)) else {
            return false;
        };
        p.dialing = None;
        p.failures = p.failures.saturating_add(1);
        p.last_error = error.to_string();
        if let Some(suppressed) = p.warn.failure(Instant::now()) {
            warn!(
                peer = %p.label(),
                addr = %p.configured,
                error = %p.last_error,
                failures = p.failures,
                suppressed,
                "configured peer unreachable"
            );
        }
        true
    }

    /// The configured peers whose last dial failed and that are not connected.
    pub(super) fn unreachable(&self, swarm: &Swarm<Behaviour>) -> Vec<UnreachablePeer> {
        self.peers
            .iter()
            .filter(|p| p.failures > 0 && !p.reachable(swarm))
            .map(|p| UnreachablePeer {
                address: p.configured.to_string(),
                peer_id: p.peer.map(|id| id.to_string()),
                failures: p.failures,
                error: p.last_error.clone(),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_failure_is_logged_then_one_a_period_with_the_count_kept_quiet() {
        let t0 = Instant::now();
        let mut w = WarnLimit::default();
        assert_eq!(w.failure(t0), Some(0));
        assert_eq!(w.failure(t0 + Duration::from_secs(1)), None);
        assert_eq!(w.failure(t0 + Duration::from_secs(59)), None);
        assert_eq!(w.failure(t0 + WARN_EVERY), Some(2));
        assert_eq!(w.failure(t0 + WARN_EVERY + Duration::from_secs(1)), None);
        assert_eq!(w.failure(t0 + WARN_EVERY * 2), Some(1));
    }

    #[test]
    fn a_final_p2p_names_the_peer_and_is_not_dialled() {
        let id: PeerId = "12D3KooWBvK6YtnHyzrm6Td8jokWRAqoEJHEdYUTkdTW4B1YkPso"
            .parse()
            .unwrap();
        let with: Multiaddr = format!("/dns4/localhost/tcp/7000/p2p/{id}")
            .parse()
            .unwrap();
        let b = Bootstrap::new(&[with.clone(), "/ip4/127.0.0.1/tcp/1".parse().unwrap()]);
        let p = &b.peers[0];
        assert_eq!(p.peer, Some(id));
        assert_eq!(p.addr.to_string(), "/dns4/localhost/tcp/7000");
        assert_eq!(p.label(), id.to_string());
        assert_eq!(b.peers[1].label(), "/ip4/127.0.0.1/tcp/1");
    }
}
