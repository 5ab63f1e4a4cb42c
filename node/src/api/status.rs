//! The node's status: identity, roster, peers (and the configured ones unreachable),
//! counts, traffic and members' health.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use swarmvote_protocol::VoterId;
use utoipa::ToSchema;

use super::VoterHealth;

/// The node's status.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct StatusReport {
    /// Version of this binary.
    pub version: String,
    /// This node's voter id.
    pub voter: VoterId,
    /// Its name in the roster.
    pub name: String,
    /// Its libp2p peer id.
    pub peer_id: String,
    /// The swarm.
    pub swarm: String,
    /// The head roster's digest: new proposals are made under it.
    #[schema(pattern = "^[0-9a-f]{64}$")]
    pub roster_digest: String,
    /// The head roster's epoch (0: the genesis roster).
    #[serde(default)]
    pub epoch: u64,
    /// The genesis roster's digest (the config's roster file), which names the chain.
    #[serde(default)]
    #[schema(pattern = "^[0-9a-f]{64}$")]
    pub genesis_digest: String,
    /// Whether this node's key is a member of the head roster (false while it joins,
    /// or after a roster change removed it).
    #[serde(default = "listed")]
    pub member: bool,
    /// Members of the head roster.
    pub n: u32,
    /// YES votes needed under its default tier.
    pub q: u32,
    /// Connected peers, with their gossipsub scores.
    pub peers: Vec<PeerReport>,
    /// Peers in the gossip mesh.
    pub mesh_peers: usize,
    /// Configured (bootstrap) peers whose last dial failed and that are not connected.
    #[serde(default)]
    pub unreachable: Vec<UnreachablePeer>,
    /// Peers refused recently (at most the last 32), oldest first.
    #[serde(default)]
    pub refused: Vec<RefusedPeer>,
    /// Proposals in memory by status (`pending`, `approved`, `rejected`, `expired`).
    pub counts: BTreeMap<String, usize>,
    /// Ballots waiting for their proposal.
    pub orphans: usize,
    /// Latency of the last decision, ms.
    pub last_decision_ms: Option<u64>,
    /// Gossip traffic since start.
    pub traffic: Traffic,
    /// Names of the members degraded now.
    pub degraded: Vec<String>,
    /// Every member's health over the window.
    pub health: Vec<VoterHealthReport>,
    /// The health window: settled proposals it holds, and its size.
    #[schema(value_type = Vec<u32>, min_items = 2, max_items = 2)]
    pub health_window: (u32, u32),
}

/// A node that does not say was a member (it predates roster epochs).
fn listed() -> bool {
    true
}

/// One member's health, with its name.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct VoterHealthReport {
    /// Its roster name.
    pub name: String,
    /// The rest.
    #[serde(flatten)]
    pub health: VoterHealth,
}

/// One connected peer.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct PeerReport {
    /// Its peer id.
    pub peer_id: String,
    /// Same roster (identify matched).
    pub admitted: bool,
    /// Its gossipsub score.
    pub score: Option<f64>,
}

/// A configured peer this node cannot reach.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct UnreachablePeer {
    /// Its address, as configured.
    pub address: String,
    /// Its peer id, if the address names it or it was connected before.
    pub peer_id: Option<String>,
    /// Failed dials since the last success.
    pub failures: u64,
    /// Why the last dial failed.
    pub error: String,
}

/// A peer this node refused.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct RefusedPeer {
    /// Its peer id.
    pub peer_id: String,
    /// Why: `roster mismatch` (another swarm or roster) or `not a swarmvote node`.
    pub reason: String,
    /// What it announced (its identify protocol version).
    pub theirs: String,
    /// When (unix ms).
    pub at: swarmvote_protocol::UnixMillis,
}

/// Gossip traffic of this node (application payloads; libp2p framing not included).
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize, ToSchema)]
pub struct Traffic {
    /// Messages received from peers.
    pub messages_in: u64,
    /// Their bytes.
    pub bytes_in: u64,
    /// Messages this node published.
    pub messages_out: u64,
    /// Their bytes.
    pub bytes_out: u64,
}
