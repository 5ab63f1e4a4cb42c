//! The driver's side of discovery: admitted peers' addresses into Kademlia, walks on
//! the pace [`Pace`] sets, and dials of the members a walk found (admitted, or not, by
//! identify like any other peer).

use std::time::Instant;

use libp2p::kad::{self, GetClosestPeersError, QueryResult};
use libp2p::swarm::dial_opts::{DialOpts, PeerCondition};
use libp2p::{PeerId, identify};
use tracing::debug;

use super::Driver;
use crate::daemon::network::discovery::{Pace, peer_addrs};

impl Driver {
    /// An admitted peer's identify: its addresses go into the routing table (only
    /// admitted peers ever do), and a new member makes the next walk come soon.
    pub(super) fn discovered_by_identify(
        &mut self,
        peer: PeerId,
        info: &identify::Info,
        new: bool,
    ) {
        if new {
            self.pace.changed(Instant::now());
        }
        let Some(kad) = self.swarm.behaviour_mut().kad.as_mut() else {
            return;
        };
        for addr in peer_addrs(&info.listen_addrs, &info.observed_addr) {
            kad.add_address(&peer, addr);
        }
    }

    /// A walk, if one is due: the peers closest to our own id.
    pub(super) fn walk(&mut self) {
        let complete = u32::try_from(self.peers.admitted.len())
            .unwrap_or(u32::MAX)
            .saturating_add(1)
            >= self.engine.roster().len();
        let me = *self.swarm.local_peer_id();
        let Some(kad) = self.swarm.behaviour_mut().kad.as_mut() else {
            return;
        };
        if self.pace.walk_due(Instant::now(), complete) {
            kad.get_closest_peers(me);
        }
    }

    /// What a walk found: dial the peers we are not connected to.
    pub(super) fn on_kad(&mut self, event: kad::Event) {
        let kad::Event::OutboundQueryProgressed {
            result: QueryResult::GetClosestPeers(result),
            ..
        } = event
        else {
            return;
        };
        let peers = match result {
            Ok(ok) => ok.peers,
            Err(GetClosestPeersError::Timeout { peers, .. }) => peers,
        };
        let me = *self.swarm.local_peer_id();
        let candidates: Vec<_> = peers
            .into_iter()
            .filter(|p| p.peer_id != me && !self.peers.refusing.contains(&p.peer_id))
            .collect();
        let swarm = &self.swarm;
        let dial = self
            .pace
            .to_dial(Instant::now(), candidates.iter().map(|p| p.peer_id), |p| {
                swarm.is_connected(p)
            });
        for info in candidates.into_iter().filter(|p| dial.contains(&p.peer_id)) {
            debug!(peer = %info.peer_id, addrs = info.addrs.len(), "dialling discovered peer");
            let opts = DialOpts::peer_id(info.peer_id)
                .addresses(info.addrs)
                .condition(PeerCondition::DisconnectedAndNotDialing)
                .extend_addresses_through_behaviour()
                .build();
            if let Err(e) = self.swarm.dial(opts) {
                debug!(peer = %info.peer_id, error = %e, "discovered peer not dialled");
            }
        }
    }
}

/// A fresh pace for the driver.
pub(super) fn pace() -> Pace {
    Pace::new(Instant::now())
}
