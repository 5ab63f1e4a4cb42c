//! swarmvote-sim: drives N instances of the swarmvote engine over a simulated network in
//! virtual time, single-threaded, from one seeded RNG, and checks agreement and validity.
//!
//! A run is a function of (scenario, seed): the same pair gives a byte-identical report
//! and the same event-trace hash.
//!
//! # Model and live mode
//!
//! The **model** ([`sim`], [`network`], [`storage`], [`behaviour`]) needs only the
//! protocol crate: the engines, and the node's policy rules
//! ([`swarmvote_protocol::policy`]) for policy members. The **live mode** (module `live`,
//! `swarmvote-sim run --network libp2p`) runs the scenario's members as real node stacks
//! (the node crate, libp2p, sled, tokio) on loopback, to check the model against the real
//! thing. It sits behind the cargo feature `live`, on by default; with
//! `--no-default-features` the model builds without the node crate (a test runs
//! `cargo tree` to hold it there) and the CLI refuses `--network libp2p`, naming the
//! feature.
//!
//! Both modes share what makes their reports comparable, written once: the members'
//! keys, roster (with the scenario's tiers) and clock origin ([`swarm`]); the arrival
//! times, ground truth, agreement, validity, honest-equivocation and wrong-tier checks
//! and outcome counts ([`checks`]); and the report's types, rows and violation lines
//! ([`report`]).
//!
//! # Time
//!
//! Virtual time counts microseconds from 0. Events wait in one priority queue ordered by
//! (time, sequence number); the sequence number grows with every scheduled event, so
//! simultaneous events run in the order they were scheduled. An engine sees
//! `now = START_MS + t / 1000` (Unix milliseconds; [`swarm::START_MS`]).
//!
//! Gossip copies, by far the most numerous events, wait in their message's own queue
//! (16 bytes a copy), and only each message's earliest copy stands in the run's queue
//! under that copy's (time, sequence) key. Events run in exactly the order of one queue
//! holding every copy (a test compares both ways), in half the memory: at 10,000
//! members, hundreds of millions of copies are in flight at once.
//!
//! # Network model
//!
//! * **Links.** Each directed link has a latency distribution (fixed, uniform, normal or
//!   log-normal; the spread is the jitter; draws below 0 are clamped to 0), a loss
//!   probability and a duplication probability (the copy gets its own latency draw).
//!   `[network.default]` applies to every link; `[[network.links]]` overrides one.
//! * **Partitions** cut `a → b` (and `b → a` unless `one_way`) from `start_ms` to
//!   `heal_ms`. A cut link is no connection: nothing is sent over it. Every partition
//!   heals when the final quiet period starts.
//! * **Gossip.** A node publishing its own message sends it to every up peer it has a
//!   connection to, like gossipsub's flood publish. A node that receives a message it
//!   has not seen hands it to its engine; if the engine answers `Validation::Accept` it
//!   forwards it to its mesh peers other than the sender ([`network::Mesh`]): a fixed,
//!   symmetric set of `fanout` (D = 6) to `2 × fanout` connected peers per node, drawn at
//!   the start from the run's seed, as gossipsub maintains a mesh of degree about D. A
//!   node with at most D peers meshes with all of them and sends to them in random order.
//!   When crashes or cuts leave a node fewer than D reachable mesh peers, it also sends to
//!   random other reachable peers to make up the difference (gossipsub grafts
//!   replacements at its next heartbeat). IHAVE/IWANT lazy gossip is not modelled:
//!   the mesh reaches every node, and catch-up repairs what loss and partitions leave.
//!   Each node hands a given message id (SHA-256 of its bytes) to its engine at
//!   most once, like gossipsub's duplicate cache; the cache is lost in a crash.
//!   Ignored and rejected messages are not forwarded.
//! * **Peers.** A node keeps at most `network.max_peers` connections (default 128, the
//!   node's `max_connections`). Up to `max_peers + 1` members the swarm is a full mesh;
//!   beyond, a fixed random graph built from the run's RNG
//!   ([`network::Topology`]), and "peers" above means the node's peer set.
//! * **Catch-up.** Every `sync_interval_ms` (default 2 s) each up node runs one exchange
//!   with one random connected peer: `sync_request`, `handle_sync_request`,
//!   `handle_sync_response`, and the follow-ups, each message crossing the link with its
//!   latency. Request-response runs over a connection, so it is not lost, but a cut link
//!   drops it. This is what heals partitions.
//!
//! # Storage model
//!
//! Records the engine marks `must_sync` (own ballots) are durable at once; the rest
//! become durable at the node's periodic flush (every 500 ms, like sled's background
//! flush). A crash loses the unflushed records, the engine and the duplicate cache; a
//! restart builds a new engine with `Engine::restore` from the durable records, then
//! re-judges every open proposal, so the own-vote guard is exercised across the crash.
//! Only nodes that can crash keep their records (nothing else reads them back).
//!
//! # Cost
//!
//! Each distinct gossip message is decoded and its signature verified once per run: all
//! its copies carry one [`swarmvote_protocol::Inbound`], which the first engine to check
//! it fills. Every engine also shares one signature cache (catch-up resends) and one
//! roster, and the tallies share one copy of each ballot. Gossip
//! messages are numbered on first publication and travel as a number; see
//! [`mod@bench`] for the measured speed and memory per swarm size.
//!
//! # Behaviours
//!
//! [`behaviour::Behaviour`] (also at `scenario::Behaviour`) is what a scenario gives each
//! node group; each family is a documented, tested module of [`mod@behaviour`] holding its
//! decision and message-construction logic, which the simulation calls:
//! [`behaviour::honest`] (the ground-truth oracle with an error rate, or the node's
//! `policy` or `rego` evaluator over the scenario's `[evaluator]` table), [`behaviour::drift`],
//! [`behaviour::faults`] (offline, crash and restart, slow), [`behaviour::compromised`]
//! (a stolen key: YES on every anomaly), [`behaviour::colluding`] (a bloc that flips on
//! one shared coin), [`behaviour::equivocator`] (bypasses its engine's guard and signs
//! both ways to disjoint halves of its peers), [`behaviour::forger`] (bad signatures,
//! ballots in other members' names), [`behaviour::replayer`] (retargeted and re-addressed
//! ballots), [`behaviour::flooder`] (capped random garbage) and [`behaviour::cloned`] (a
//! second instance of an honest member's key: an extra node that signs on its own; the
//! member's engine raises the doppelganger alarm and the member stops signing, as the
//! node does). [`study`] holds the drift sweep and the seed table.
//!
//! # Checks
//!
//! After the quiet period: **agreement** (every honest node up holds the same tally for
//! every proposal), **validity** (every approval an honest node holds has a certificate
//! with `q` valid YES signatures from distinct members), **no honest equivocation**
//! (evidence against a member on a proposal its clone also signed is the clone's), and,
//! in runs with a `cloned` node, **cloned key caught** (a cloned key whose ballots
//! reached an honest node set off at least one honest node's doppelganger alarm; a
//! member down at the end is not held to it). With a `[roster]` section (tiers, groups,
//! four-eyes), **no wrong tier**: every honest node that decided a proposal holds the
//! tier and `q` the roster as written gives it, and every approval's certificate records
//! that tier, carries `q` YES ballots that count (not the proposer's under four-eyes) and
//! meets the tier's group requirements; the report then counts proposals and outcomes per
//! tier. Violations name the seed and the proposal.
//!
//! With `[[roster_changes]]` (a member removed, the quorum or four-eyes changed mid-run:
//! the proposer's engine proposes its head roster with the edits as the next epoch, and
//! honest members vote YES), every proposal is judged (tier, `q`, validity) by the roster
//! it names, taken from the reference node's roster chain, and **same epoch** holds:
//! every honest node up ends on one head, and each node's head and main chain are what
//! its step certificates prove when rebuilt independently from the genesis roster. The
//! report then lists the epochs, the steps and the workload's outcomes per epoch.
//! The checks are in [`checks`], for the model and live mode alike.

pub mod behaviour;
pub mod bench;
pub mod chart;
pub mod checks;
#[cfg(feature = "live")]
pub mod live;
pub mod network;
pub mod report;
pub mod rng;
pub mod scenario;
pub mod sim;
pub mod storage;
pub mod study;
pub mod swarm;

pub use report::Report;
pub use scenario::{Scenario, ScenarioError};
pub use sim::{Sim, SimError};

/// Runs `scenario` with `seed` to the end.
pub fn run(scenario: Scenario, seed: u64) -> Result<Report, SimError> {
    Ok(Sim::new(scenario, seed)?.run())
}
