//! The running node: the driver and every I/O service it owns.

pub mod clock;
pub mod driver;
pub mod evaluator;
pub mod executor;
pub mod health;
pub mod http;
pub mod identity;
pub mod log_ring;
pub mod metrics;
pub mod network;
pub mod persist;
pub mod store;
pub mod webhook;
