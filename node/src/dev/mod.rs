//! Developer tooling: a local cluster of real node processes, a multi-host test bed in
//! network namespaces, benchmarks and the crash test.

pub mod bench;
pub mod cluster;
#[doc(hidden)]
pub mod crashtest;
pub mod hosts;
