//! End-to-end tests that span the workspace. The crate has no code of its own: its
//! `tests/` run one scenario through the simulator's deterministic model and through real
//! node stacks (the node crate's engine, sled store and libp2p networking, in one
//! process) and check that both reach the same outcomes. Per-crate tests live in each
//! crate's own `tests/`; multi-process tests of the `swarmvote` binary live in
//! `node/tests/`, where cargo can hand them the binary's path.
