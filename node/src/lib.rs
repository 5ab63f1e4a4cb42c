//! The swarmvote node: the I/O shell around the protocol engine. Durable storage (sled
//! plus an fsync'd own-ballot journal), configuration, and the `swarmvote` binary's
//! commands. Networking and the HTTP API build on these.

pub mod api;
pub mod bench;
pub mod client;
pub mod cluster;
pub mod config;
#[doc(hidden)]
pub mod crashtest;
pub mod driver;
pub mod evaluator;
pub mod executor;
pub mod health;
pub mod identity;
pub mod metrics;
pub mod network;
pub mod persist;
pub mod store;
pub mod webhook;
