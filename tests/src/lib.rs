//! End-to-end tests that span the workspace. Its `tests/` run one scenario through the
//! simulator's deterministic model and through real node stacks and check that both
//! reach the same outcomes (`model_vs_live`), and run real `swarmvote run` processes in
//! network namespaces under partitions, latency, loss, pauses and kills (`netbed`,
//! needing root). The library holds what the bed's tests record and check: the
//! [`history`] of a run and the [`checker`] over it, built on the simulator's checks.
//! Per-crate tests live in each crate's own `tests/`; other multi-process tests of the
//! `swarmvote` binary live in `node/tests/`.

pub mod checker;
pub mod history;
