//! The event stream (`GET /v1/events`): each Server-Sent Event's `data:` is one
//! [`Numbered`] as JSON, its `event:` the `type` field and its `id:` the `id` field.

use serde::{Deserialize, Serialize};
use swarmvote_protocol::engine::Event;
use swarmvote_protocol::{ProposalId, UnixMillis, VoterId};
use utoipa::ToSchema;

use super::{Counts, Reason};

/// Something that happened on this node, for the event stream: an engine event or a
/// change of a member's health.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum NodeEvent {
    /// From the engine.
    Engine(Event),
    /// From the degraded-voter detector.
    Health(HealthEvent),
}

/// A member's health changed.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum HealthEvent {
    /// It crossed a threshold.
    VoterDegraded(HealthChange),
    /// It is back under every threshold.
    VoterRecovered(HealthChange),
}

/// The details of a health change.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct HealthChange {
    /// The member.
    pub voter: VoterId,
    /// Its roster name.
    pub name: String,
    /// Why it is (or was) degraded.
    pub reasons: Vec<Reason>,
    /// Its counts over the window.
    pub counts: Counts,
    /// Settled proposals in the window.
    pub window: u32,
    /// The proposals behind the counts.
    pub evidence: Vec<ProposalId>,
    /// When this node saw the change.
    pub at: UnixMillis,
}

/// An event with its stream id. Ids grow by one per event and start at the node's
/// start time in µs, so they keep growing across restarts.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct Numbered {
    /// The stream id.
    pub id: u64,
    /// The event.
    #[serde(flatten)]
    pub event: NodeEvent,
}
