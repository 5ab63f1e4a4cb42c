//! The swarmvote node: the I/O shell around the protocol engine, and the `swarmvote`
//! binary's library.
//!
//! Three parts, by role:
//! - [`daemon`]: the running node. The driver owns the engine and is the only place that
//!   touches both the engine and I/O: libp2p networking, the sled store, the HTTP API,
//!   the evaluator and executor, health, metrics and the webhook.
//! - [`cli`]: the operator's side, the HTTP client and its renderers.
//! - [`dev`]: developer tooling: the local cluster harness, benchmarks and the crash test.
//!
//! [`gate`] is the agents' side: `swarmvote gate exec` and the tool-call hook, on top of
//! the client.
//!
//! [`api`] holds the HTTP API's types, shared by the server and the client; [`config`]
//! and [`keyfile`] (voter key files on disk) are shared by all three. [`assembly`] builds a
//! whole node from its config, for `run`, the live simulator and tests alike.
//!
//! How bytes move through a running node:
//!
//! ```text
//! gossip, catch-up, API ──> driver ──> engine.handle_*() ──> engine.poll_output()
//!                                                              │ records, broadcasts,
//!                                                              │ sync answers, events
//!                              persist (own ballots fsync'd) <─┘
//!                              then broadcast, answer, reply, log, publish events
//! ```

pub mod api;
pub mod assembly;
pub mod cli;
pub mod config;
pub mod console;
pub mod daemon;
pub mod dev;
pub mod export;
pub mod gate;
pub mod keyfile;
pub mod mcp;
