//! The composed behaviour. The derive generates `BehaviourEvent`, whose variants carry
//! no docs of their own.
#![allow(missing_docs)]

use libp2p::swarm::NetworkBehaviour;
use libp2p::swarm::behaviour::toggle::Toggle;
use libp2p::{
    allow_block_list, connection_limits, gossipsub, identify, kad, mdns, ping, request_response,
};

use super::codec::SyncCodec;

/// Everything the node speaks.
#[derive(NetworkBehaviour)]
pub struct Behaviour {
    /// Proposals and ballots.
    pub gossipsub: gossipsub::Behaviour,
    /// Catch-up.
    pub sync: request_response::Behaviour<SyncCodec>,
    /// Exchanges the roster digest and listen addresses.
    pub identify: identify::Behaviour,
    /// Keeps connections alive and measures round trips.
    pub ping: ping::Behaviour,
    /// Bounds connections.
    pub limits: connection_limits::Behaviour,
    /// Peers refused (roster mismatch, test partitions).
    pub blocked: allow_block_list::Behaviour<allow_block_list::BlockedPeers>,
    /// LAN discovery, when enabled.
    pub mdns: Toggle<mdns::tokio::Behaviour>,
    /// Member discovery, when enabled.
    pub kad: Toggle<kad::Behaviour<kad::store::MemoryStore>>,
}
