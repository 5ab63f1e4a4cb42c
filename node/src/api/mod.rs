//! The HTTP API's contract: the types the node serializes and the CLI client
//! deserializes.

use std::collections::BTreeMap;

use serde::Serialize;
use swarmvote_protocol::engine::Event;
use swarmvote_protocol::{Action, ProposalId, SignedBallot, Status, UnixMillis, VoterId};

use crate::daemon::executor::ExecutionRecord;
use crate::daemon::health::{self, Counts};

/// A proposal as the API shows it.
#[derive(Clone, Debug, Serialize)]
pub struct ProposalReport {
    /// Its id.
    pub id: ProposalId,
    /// The signed proposal.
    pub proposal: swarmvote_protocol::SignedProposal,
    /// Its status now.
    pub status: Status,
    /// The tally.
    pub tally: swarmvote_protocol::Outcome,
    /// Every kept ballot.
    pub ballots: Vec<SignedBallot>,
    /// Equivocation evidence.
    pub equivocations: Vec<swarmvote_protocol::Equivocation>,
    /// When it was decided here.
    pub decided_at: Option<UnixMillis>,
    /// The same, in microseconds (kept for recent decisions only).
    pub decided_at_us: Option<u64>,
    /// This node's ballot.
    pub own_ballot: Option<SignedBallot>,
    /// The executor's run of this proposal (proposer's node only).
    pub execution: Option<ExecutionRecord>,
}

/// The node's status.
#[derive(Clone, Debug, Serialize)]
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
    /// Roster digest.
    pub roster_digest: String,
    /// Members.
    pub n: u32,
    /// YES votes needed.
    pub q: u32,
    /// Connected peers, with their gossipsub scores.
    pub peers: Vec<PeerReport>,
    /// Peers in the gossip mesh.
    pub mesh_peers: usize,
    /// Proposals in memory by status.
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
    pub health_window: (u32, u32),
}

/// One member's health, with its name.
#[derive(Clone, Debug, Serialize)]
pub struct VoterHealthReport {
    /// Its roster name.
    pub name: String,
    /// The rest.
    #[serde(flatten)]
    pub health: health::VoterHealth,
}

/// Something that happened on this node, for the event stream: an engine event or a
/// change of a member's health.
#[derive(Clone, Debug, Serialize)]
#[serde(untagged)]
pub enum NodeEvent {
    /// From the engine.
    Engine(Event),
    /// From the degraded-voter detector.
    Health(HealthEvent),
}

/// A member's health changed.
#[derive(Clone, Debug, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum HealthEvent {
    /// It crossed a threshold.
    VoterDegraded(HealthChange),
    /// It is back under every threshold.
    VoterRecovered(HealthChange),
}

/// The details of a health change.
#[derive(Clone, Debug, Serialize)]
pub struct HealthChange {
    /// The member.
    pub voter: VoterId,
    /// Its roster name.
    pub name: String,
    /// Why it is (or was) degraded.
    pub reasons: Vec<health::Reason>,
    /// Its counts over the window.
    pub counts: Counts,
    /// Settled proposals in the window.
    pub window: u32,
    /// The proposals behind the counts.
    pub evidence: Vec<ProposalId>,
    /// When this node saw the change.
    pub at: UnixMillis,
}

/// One connected peer.
#[derive(Clone, Debug, Serialize)]
pub struct PeerReport {
    /// Its peer id.
    pub peer_id: String,
    /// Same roster (identify matched).
    pub admitted: bool,
    /// Its gossipsub score.
    pub score: Option<f64>,
}

/// An engine event with its stream id. Ids grow by one per event and start at the node's
/// start time in µs, so they keep growing across restarts.
#[derive(Clone, Debug, Serialize)]
pub struct Numbered {
    /// The stream id.
    pub id: u64,
    /// The event.
    #[serde(flatten)]
    pub event: NodeEvent,
}

/// A page of proposals.
#[derive(Clone, Debug, Serialize)]
pub struct ProposalPage {
    /// Summaries, newest first.
    pub proposals: Vec<ProposalSummary>,
    /// Pass as `cursor` to get the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

/// One line of a proposal list.
#[derive(Clone, Debug, Serialize)]
pub struct ProposalSummary {
    /// Its id.
    pub id: ProposalId,
    /// What it asks.
    pub action: Action,
    /// Who proposed it.
    pub proposer: VoterId,
    /// When it was created.
    pub created_at: UnixMillis,
    /// When it expires.
    pub expires_at: UnixMillis,
    /// Its status now.
    pub status: Status,
    /// Distinct YES signers.
    pub yes: usize,
    /// Distinct NO signers.
    pub no: usize,
}

/// Gossip traffic of this node (application payloads; libp2p framing not included).
#[derive(Clone, Copy, Debug, Default, Serialize)]
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
