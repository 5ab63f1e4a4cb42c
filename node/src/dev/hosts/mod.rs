//! A multi-host test bed on one Linux machine: one network namespace per node, each with
//! its own address on a bridge, real `swarmvote run` processes inside, and network and
//! process faults on a schedule (see [`bed::Bed`]). Needs root, iproute2 and nftables;
//! [`unavailable`] says why a bed cannot be built here.
//!
//! - [`netns`]: namespaces, bridge and veths, and their cleanup;
//! - [`relay`]: the delaying TCP relay every link goes through (latency and jitter
//!   without netem);
//! - [`faults`]: the faults and the nftables rules for cuts, partitions and loss;
//! - [`bed`]: the nodes in their namespaces, and the faults applied to them.

pub mod bed;
pub mod faults;
pub mod netns;
pub mod relay;

pub use bed::{Bed, BedSpec};
pub use faults::{Fault, Schedule};
pub use netns::unavailable;

use crate::dev::cluster::ClusterError;

/// Why a bed failed.
#[derive(Debug, thiserror::Error)]
pub enum HostsError {
    /// Namespaces cannot be made here.
    #[error("network namespaces unavailable: {0}")]
    Unavailable(String),
    /// A tool (`ip`, `nft`) failed.
    #[error("`{command}` failed: {message}")]
    Tool {
        /// The command line.
        command: String,
        /// Its error output.
        message: String,
    },
    /// Building the bed failed.
    #[error("setup: {0}")]
    Setup(String),
    /// The nodes' cluster failed.
    #[error(transparent)]
    Cluster(#[from] ClusterError),
}
