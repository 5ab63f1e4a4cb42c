//! Peers: their engine tags, admission by identify (same swarm and roster), refusals,
//! and whether a quorum is still reachable.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use libp2p::{PeerId, identify};
use swarmvote_protocol::engine::PeerTag;
use tokio::time::Instant;
use tracing::{debug, info, warn};

use super::Driver;
use crate::api::RefusedPeer;
use crate::daemon::clock::now;
use crate::daemon::network::refusals::{Refusal, Refusals};

/// What the driver knows of its peers.
pub(super) struct Peers {
    /// Our identify protocol version: swarm and roster digest.
    version: String,
    tags: BTreeMap<PeerId, PeerTag>,
    by_tag: BTreeMap<PeerTag, PeerId>,
    next: u64,
    /// Peers whose identify matched ours.
    pub(super) admitted: BTreeSet<PeerId>,
    /// Refused peers still connected until our identify answer reaches them.
    pub(super) refusing: Refusals,
    /// Whether fewer than a quorum of members (us included) are admitted.
    below_quorum: bool,
    /// The last [`RECENT_REFUSALS`] refusals, oldest first, for the status report.
    pub(super) refused: VecDeque<RefusedPeer>,
}

/// Most refusals the status report lists.
pub(super) const RECENT_REFUSALS: usize = 32;

impl Peers {
    pub(super) fn new(version: String) -> Self {
        Self {
            version,
            tags: BTreeMap::new(),
            by_tag: BTreeMap::new(),
            next: 0,
            admitted: BTreeSet::new(),
            refusing: Refusals::default(),
            below_quorum: false,
            refused: VecDeque::new(),
        }
    }

    /// The engine's tag for `peer`, made on first sight.
    pub(super) fn tag(&mut self, peer: PeerId) -> PeerTag {
        if let Some(t) = self.tags.get(&peer) {
            return *t;
        }
        self.next = self.next.wrapping_add(1);
        let t = PeerTag(self.next);
        self.tags.insert(peer, t);
        self.by_tag.insert(t, peer);
        t
    }

    pub(super) fn forget(&mut self, peer: &PeerId) {
        if let Some(t) = self.tags.remove(peer) {
            self.by_tag.remove(&t);
        }
        self.admitted.remove(peer);
    }

    /// The libp2p peer behind a tag, while it is known.
    pub(super) fn peer_id(&self, tag: PeerTag) -> Option<PeerId> {
        self.by_tag.get(&tag).copied()
    }

    pub(super) fn name(&self, tag: PeerTag) -> String {
        self.by_tag
            .get(&tag)
            .map_or_else(|| format!("peer#{}", tag.0), ToString::to_string)
    }
}

impl Driver {
    pub(super) fn on_identify(&mut self, peer: PeerId, info: &identify::Info) {
        if self.peers.refusing.contains(&peer) {
            // Refused already; its grace only lets our answer reach it.
            return;
        }
        if info.protocol_version == self.peers.version {
            let new = self.peers.admitted.insert(peer);
            if new {
                debug!(%peer, "peer admitted");
                self.check_quorum_connectivity();
                self.sync_with(peer);
            }
            self.discovered_by_identify(peer, info, new);
        } else if info.protocol_version.starts_with("/swarmvote/") {
            warn!(
                %peer,
                theirs = %info.protocol_version,
                ours = %self.peers.version,
                "peer refused: roster mismatch"
            );
            self.refuse(peer, "roster mismatch", &info.protocol_version);
        } else {
            warn!(%peer, protocol = %info.protocol_version, "peer refused: not a swarmvote node");
            self.refuse(peer, "not a swarmvote node", &info.protocol_version);
        }
    }

    /// Blocks `peer` once our identify answer has had time to reach it (never admitted
    /// meanwhile; see [`crate::daemon::network::refusals`]).
    fn refuse(&mut self, peer: PeerId, reason: &str, theirs: &str) {
        self.peers.admitted.remove(&peer);
        if self.peers.refused.len() >= RECENT_REFUSALS {
            self.peers.refused.pop_front();
        }
        // Bounded: a peer announces at most a short protocol string, but cap it anyway.
        let theirs: String = theirs.chars().take(200).collect();
        self.peers.refused.push_back(RefusedPeer {
            peer_id: peer.to_string(),
            reason: reason.to_owned(),
            theirs,
            at: now(),
        });
        if self.peers.refusing.refuse(peer, Instant::now().into_std()) == Refusal::BlockNow {
            self.swarm.behaviour_mut().blocked.block_peer(peer);
        }
    }

    /// Blocks the refused peers whose time is up.
    pub(super) fn block_refused(&mut self) {
        for peer in self.peers.refusing.due(Instant::now().into_std()) {
            debug!(%peer, "refused peer blocked");
            self.swarm.behaviour_mut().blocked.block_peer(peer);
        }
    }

    /// A peer's last connection closed: block it if refused, forget it.
    pub(super) fn on_disconnected(&mut self, peer: PeerId) {
        debug!(%peer, "disconnected");
        if self.peers.refusing.closed(&peer) {
            self.swarm.behaviour_mut().blocked.block_peer(peer);
        }
        if self.peers.admitted.contains(&peer) {
            self.pace.changed(Instant::now().into_std());
        }
        self.peers.forget(&peer);
        self.check_quorum_connectivity();
    }

    fn check_quorum_connectivity(&mut self) {
        let reachable = u32::try_from(self.peers.admitted.len())
            .unwrap_or(u32::MAX)
            .saturating_add(1);
        let q = self.engine.roster().required();
        let below = reachable < q;
        let m = &self.telemetry.metrics;
        m.quorum_required.set(i64::from(q));
        m.quorum_reachable.set(i64::from(!below));
        if below && !self.peers.below_quorum {
            warn!(
                reachable,
                q, "lost connectivity to a quorum: approvals cannot complete"
            );
        } else if !below && self.peers.below_quorum {
            info!(reachable, q, "connectivity to a quorum restored");
        }
        self.peers.below_quorum = below;
    }
}
