//! `[node]`: how this node relates to the swarm's roster chain.
//!
//! ```toml
//! [node]
//! join = true   # start with a key that no roster this node knows lists yet
//! ```
//!
//! A new member's node starts from the genesis roster file and a key that only a roster
//! change will add. Without `join` such a node refuses to start (the usual mistake is a
//! wrong key file); with it, the node follows the swarm, catches the roster chain up,
//! and signs nothing until a step that lists its key arrives.

use serde::{Deserialize, Serialize};

/// `[node]`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeSection {
    /// Start even though no roster of the chain lists this node's key yet (a member
    /// whose addition is proposed or approved but not yet seen here).
    #[serde(default)]
    pub join: bool,
}
