//! Peer discovery: Kademlia on a protocol name private to the swarm and roster, its
//! routing table fed only with admitted peers' addresses, random walks paced by how
//! complete our view of the roster is, and dials of discovered peers with backoff.
//!
//! A node given one reachable member asks it for the peers closest to its own id; in a
//! swarm smaller than a k-bucket that is every member the seed knows, with the
//! addresses their identify announced. Discovered peers are dialled and go through the
//! same identify admission as any other: discovery never admits anyone.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use libp2p::kad::{self, store::MemoryStore, store::MemoryStoreConfig};
use libp2p::multiaddr::Protocol;
use libp2p::{Multiaddr, PeerId, StreamProtocol};
use swarmvote_protocol::crypto::sha256;

use super::addrs::{self, Use};

/// Addresses taken from one peer's identify.
pub const MAX_ADDRS_PER_PEER: usize = 8;
/// Discovered peers dialled after one walk.
pub const MAX_DIALS_PER_WALK: usize = 32;
/// Peers whose dial backoff is remembered; beyond, the table is cleared (a remote can
/// name any number of peer ids).
pub const MAX_BACKOFFS: usize = 1024;
/// The first gap between walks while members are missing, and the longest.
pub const WALK_FIRST: Duration = Duration::from_secs(1);
/// The longest gap between walks while members are missing.
pub const WALK_MAX: Duration = Duration::from_secs(30);
/// The gap between walks once every member is admitted.
pub const WALK_COMPLETE: Duration = Duration::from_secs(60);
/// The first backoff after a discovered peer could not be dialled.
const DIAL_FIRST: Duration = Duration::from_secs(2);
/// The longest.
const DIAL_MAX: Duration = Duration::from_secs(120);

/// The Kademlia protocol name of a swarm and roster: nodes of another swarm or roster
/// never speak it with us, so never share a routing table with us.
pub fn protocol(identify_version: &str) -> StreamProtocol {
    let digest = sha256(identify_version.as_bytes());
    let hex: String = digest
        .get(..16)
        .unwrap_or_default()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    StreamProtocol::try_from_owned(format!("/swarmvote/kad/1/{hex}"))
        .unwrap_or(StreamProtocol::new("/swarmvote/kad/1"))
}

/// Kademlia in server mode that stores nothing a remote sends (records and provider
/// records are filtered, and we never accept them), adds to its routing table only what
/// the driver adds (admitted peers), and bootstraps only when the driver asks.
pub fn behaviour(local: PeerId, identify_version: &str) -> kad::Behaviour<MemoryStore> {
    let mut config = kad::Config::new(protocol(identify_version));
    config
        .set_kbucket_inserts(kad::BucketInserts::Manual)
        .set_record_filtering(kad::StoreInserts::FilterBoth)
        .set_caching(kad::Caching::Disabled)
        .set_periodic_bootstrap_interval(None)
        .set_query_timeout(Duration::from_secs(20))
        .set_record_ttl(None)
        .set_provider_record_ttl(None)
        .set_replication_interval(None)
        .set_publication_interval(None)
        .set_provider_publication_interval(None);
    let store = MemoryStore::with_config(
        local,
        MemoryStoreConfig {
            max_records: 0,
            max_value_bytes: 0,
            max_providers_per_key: 0,
            max_provided_keys: 0,
        },
    );
    let mut kad = kad::Behaviour::with_config(local, store, config);
    // Answer queries whatever our external addresses: members dial each other directly.
    kad.set_mode(Some(kad::Mode::Server));
    kad
}

/// The addresses of an admitted peer worth giving to others: dialable by our
/// transport, without a peer id, and loopback ones only when the peer reached us on
/// loopback too (it then runs on our host; a dial of `/dns4/localhost` counts). At most
/// [`MAX_ADDRS_PER_PEER`].
pub fn peer_addrs(listen: &[Multiaddr], observed_us: &Multiaddr) -> Vec<Multiaddr> {
    let same_host = addrs::is_local(observed_us);
    let mut out: Vec<Multiaddr> = Vec::new();
    for a in listen {
        let mut a = a.clone();
        if matches!(a.iter().last(), Some(Protocol::P2p(_))) {
            a.pop();
        }
        if addrs::check(&a, Use::Announce).is_err() || (addrs::is_local(&a) && !same_host) {
            continue;
        }
        if let Some(Protocol::Ip4(ip)) = a.iter().next()
            && ip.is_unspecified()
        {
            continue;
        }
        if !out.contains(&a) {
            out.push(a);
        }
        if out.len() >= MAX_ADDRS_PER_PEER {
            break;
        }
    }
    out
}

/// When to walk next, and when each discovered peer may be dialled again.
#[derive(Debug)]
pub struct Pace {
    next_walk: Instant,
    gap: Duration,
    backoff: HashMap<PeerId, (Instant, Duration)>,
}

impl Pace {
    /// A pace whose first walk is due at `now`.
    pub fn new(now: Instant) -> Self {
        Self {
            next_walk: now,
            gap: WALK_FIRST,
            backoff: HashMap::new(),
        }
    }

    /// Whether a walk is due at `now`; if so, schedules the next one: soon while
    /// `complete` is false (backing off to [`WALK_MAX`]), rarely once it is.
    pub fn walk_due(&mut self, now: Instant, complete: bool) -> bool {
        if now < self.next_walk {
            return false;
        }
        self.gap = if complete {
            WALK_COMPLETE
        } else {
            self.gap.min(WALK_MAX)
        };
        self.next_walk = now + self.gap;
        if !complete {
            self.gap = (self.gap * 2).min(WALK_MAX);
        }
        true
    }

    /// Our set of admitted peers changed: walk again soon.
    pub fn changed(&mut self, now: Instant) {
        self.gap = WALK_FIRST;
        self.next_walk = self.next_walk.min(now + WALK_FIRST);
    }

    /// Of the peers a walk found, those to dial now (not `connected`, not backing
    /// off), at most [`MAX_DIALS_PER_WALK`]; each is then backed off until it connects.
    pub fn to_dial(
        &mut self,
        now: Instant,
        found: impl IntoIterator<Item = PeerId>,
        connected: impl Fn(&PeerId) -> bool,
    ) -> Vec<PeerId> {
        let mut out = BTreeMap::new();
        for peer in found {
            if out.len() >= MAX_DIALS_PER_WALK {
                break;
            }
            if connected(&peer) || out.contains_key(&peer) {
                continue;
            }
            let (at, gap) = self
                .backoff
                .get(&peer)
                .copied()
                .unwrap_or((now, DIAL_FIRST));
            if now < at {
                continue;
            }
            if self.backoff.len() >= MAX_BACKOFFS && !self.backoff.contains_key(&peer) {
                self.backoff.clear();
            }
            self.backoff
                .insert(peer, (now + gap, (gap * 2).min(DIAL_MAX)));
            out.insert(peer, ());
        }
        out.into_keys().collect()
    }

    /// `peer` connected: dial it at once next time it is missing.
    pub fn connected(&mut self, peer: &PeerId) {
        self.backoff.remove(peer);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ma(s: &str) -> Multiaddr {
        s.parse().unwrap()
    }

    #[test]
    fn the_protocol_name_depends_on_swarm_and_roster() {
        let a = protocol("/swarmvote/1/local/aaaa");
        assert_eq!(a, protocol("/swarmvote/1/local/aaaa"));
        assert_ne!(a, protocol("/swarmvote/1/local/bbbb"));
        assert_ne!(a, protocol("/swarmvote/1/other/aaaa"));
        assert!(a.as_ref().starts_with("/swarmvote/kad/1/"));
    }

    #[test]
    fn only_dialable_addresses_of_the_right_scope_are_kept() {
        let listen = [
            ma("/ip4/127.0.0.1/tcp/7000"),
            ma("/ip4/10.0.0.2/tcp/7000"),
            ma("/ip4/10.0.0.2/udp/7000/quic-v1"),
            ma("/dns4/a.example/tcp/7000/p2p/12D3KooWBvK6YtnHyzrm6Td8jokWRAqoEJHEdYUTkdTW4B1YkPso"),
            ma("/ip4/10.0.0.2/tcp/7000"),
        ];
        let remote = peer_addrs(&listen, &ma("/ip4/10.0.0.1/tcp/5555"));
        assert_eq!(
            remote,
            [ma("/ip4/10.0.0.2/tcp/7000"), ma("/dns4/a.example/tcp/7000")]
        );
        let local = peer_addrs(&listen, &ma("/ip4/127.0.0.1/tcp/5555"));
        assert_eq!(local.first(), Some(&ma("/ip4/127.0.0.1/tcp/7000")));
        assert_eq!(local.len(), 3);
        let many: Vec<Multiaddr> = (1..100)
            .map(|p| ma(&format!("/ip4/10.0.0.2/tcp/{p}")))
            .collect();
        assert_eq!(
            peer_addrs(&many, &ma("/ip4/10.0.0.1/tcp/1")).len(),
            MAX_ADDRS_PER_PEER
        );
    }

    #[test]
    fn walks_come_fast_while_members_are_missing_and_rarely_after() {
        let t0 = Instant::now();
        let mut p = Pace::new(t0);
        assert!(p.walk_due(t0, false));
        assert!(!p.walk_due(t0, false));
        assert!(p.walk_due(t0 + WALK_FIRST, false));
        // Backing off: the next gap is twice the first.
        assert!(!p.walk_due(t0 + WALK_FIRST * 2, false));
        assert!(p.walk_due(t0 + WALK_FIRST * 3, false));
        // A change brings the next walk close again.
        p.changed(t0 + WALK_FIRST * 3);
        assert!(p.walk_due(t0 + WALK_FIRST * 4, true));
        assert!(!p.walk_due(t0 + WALK_FIRST * 5, true));
        assert!(p.walk_due(t0 + WALK_FIRST * 4 + WALK_COMPLETE, true));
    }

    #[test]
    fn discovered_peers_are_dialled_with_backoff_and_bounded() {
        let t0 = Instant::now();
        let mut p = Pace::new(t0);
        let (a, b) = (PeerId::random(), PeerId::random());
        assert_eq!(p.to_dial(t0, [a, b, a], |x| *x == b), vec![a]);
        assert!(p.to_dial(t0, [a], |_| false).is_empty(), "backing off");
        assert_eq!(p.to_dial(t0 + DIAL_FIRST, [a], |_| false), vec![a]);
        assert!(p.to_dial(t0 + DIAL_FIRST * 2, [a], |_| false).is_empty());
        p.connected(&a);
        assert_eq!(p.to_dial(t0 + DIAL_FIRST * 2, [a], |_| false), vec![a]);
        let many: Vec<PeerId> = (0..100).map(|_| PeerId::random()).collect();
        assert_eq!(p.to_dial(t0, many, |_| false).len(), MAX_DIALS_PER_WALK);
        for _ in 0..(MAX_BACKOFFS / MAX_DIALS_PER_WALK + 2) {
            let fresh: Vec<PeerId> = (0..MAX_DIALS_PER_WALK).map(|_| PeerId::random()).collect();
            p.to_dial(t0, fresh, |_| false);
            assert!(p.backoff.len() <= MAX_BACKOFFS);
        }
    }
}
