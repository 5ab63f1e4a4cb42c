//! Developer tooling: a local cluster of real node processes, benchmarks and the crash test.

pub mod bench;
pub mod cluster;
#[doc(hidden)]
pub mod crashtest;
