//! The simulated network's configuration, as a scenario's `[network]` and
//! `[[partitions]]` tables write it: link latency, loss and duplication, fanout, peers
//! and periods.

use serde::Deserialize;

/// A latency distribution in milliseconds; jitter is its spread. Draws below 0 are
/// clamped to 0.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Latency {
    /// Always `ms`.
    Fixed {
        /// The latency.
        ms: f64,
    },
    /// Uniform in `[min_ms, max_ms]`.
    Uniform {
        /// Lower bound.
        min_ms: f64,
        /// Upper bound.
        max_ms: f64,
    },
    /// Normal with `mean_ms` and `std_ms`.
    Normal {
        /// Mean.
        mean_ms: f64,
        /// Standard deviation.
        std_ms: f64,
    },
    /// Log-normal with median `median_ms` and shape `sigma` (the heavy tail of real WANs).
    Lognormal {
        /// Median.
        median_ms: f64,
        /// Standard deviation of the underlying normal.
        sigma: f64,
    },
}

impl Default for Latency {
    fn default() -> Self {
        Latency::Fixed { ms: 10.0 }
    }
}

/// Link behaviour: latency, loss, duplication.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LinkConfig {
    /// Per-message latency.
    #[serde(default)]
    pub latency: Latency,
    /// Probability that a gossip transmission is lost.
    #[serde(default)]
    pub loss: f64,
    /// Probability that a gossip transmission arrives twice.
    #[serde(default)]
    pub duplicate: f64,
}

impl Default for LinkConfig {
    fn default() -> Self {
        Self {
            latency: Latency::default(),
            loss: 0.0,
            duplicate: 0.0,
        }
    }
}

/// A directed link with its own behaviour.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LinkOverride {
    /// Sender index.
    pub from: usize,
    /// Receiver index.
    pub to: usize,
    /// Per-message latency.
    #[serde(default)]
    pub latency: Latency,
    /// Probability that a gossip transmission is lost.
    #[serde(default)]
    pub loss: f64,
    /// Probability that a gossip transmission arrives twice.
    #[serde(default)]
    pub duplicate: f64,
}

impl LinkOverride {
    /// The link behaviour it sets. (serde's `flatten` cannot be combined with
    /// `deny_unknown_fields`, hence the repeated fields.)
    pub fn link(&self) -> LinkConfig {
        LinkConfig {
            latency: self.latency.clone(),
            loss: self.loss,
            duplicate: self.duplicate,
        }
    }
}

/// The network as a whole.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NetworkConfig {
    /// Every link's behaviour unless overridden.
    #[serde(default)]
    pub default: LinkConfig,
    /// Directed links with their own behaviour.
    #[serde(default)]
    pub links: Vec<LinkOverride>,
    /// Peers each accepting node forwards a message to (gossipsub's mesh degree D).
    #[serde(default = "default_fanout")]
    pub fanout: usize,
    /// Anti-entropy period per node.
    #[serde(default = "default_sync_interval")]
    pub sync_interval_ms: u64,
    /// Background flush period of a node's store.
    #[serde(default = "default_flush_interval")]
    pub flush_interval_ms: u64,
    /// Connections per node, like the node's `network.max_connections` (default 128).
    /// A swarm of at most `max_peers + 1` members is fully connected; a larger one gets a
    /// fixed random peer set per node (see the crate documentation).
    #[serde(default = "default_max_peers")]
    pub max_peers: usize,
}

fn default_fanout() -> usize {
    6
}
fn default_max_peers() -> usize {
    128
}
fn default_sync_interval() -> u64 {
    2_000
}
fn default_flush_interval() -> u64 {
    500
}

impl Default for NetworkConfig {
    fn default() -> Self {
        Self {
            default: LinkConfig::default(),
            links: Vec::new(),
            fanout: default_fanout(),
            sync_interval_ms: default_sync_interval(),
            flush_interval_ms: default_flush_interval(),
            max_peers: default_max_peers(),
        }
    }
}

/// A partition between node sets `a` and `b` from `start_ms` until `heal_ms` (or the
/// quiet period). Two-way by default; `one_way` cuts only `a → b`.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PartitionConfig {
    /// When it starts.
    pub start_ms: u64,
    /// When it heals; never before the quiet period starts.
    #[serde(default)]
    pub heal_ms: Option<u64>,
    /// One side.
    pub a: Vec<usize>,
    /// The other side.
    pub b: Vec<usize>,
    /// Only `a → b` is cut; `b` still reaches `a`.
    #[serde(default)]
    pub one_way: bool,
}
