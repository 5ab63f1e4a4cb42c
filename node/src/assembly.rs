//! One node, assembled from its config in one place: the store (with journal recovery
//! and interrupted executions), the engine restored from it, the libp2p swarm (listening,
//! block list, bootstrap peers), the evaluator, the executor, the webhook, the metrics,
//! and the driver with its client.
//!
//! `swarmvote run` serves the API around what [`assemble`] returns; the live simulator
//! and in-process tests run the same assembly, so they run the node `run` runs. The local
//! cluster harness (`crate::dev::cluster`) starts real `swarmvote run` processes, so it
//! uses this assembly through `run`.

use std::path::PathBuf;
use std::time::Duration;

use libp2p::identity::Keypair;
use libp2p::{Multiaddr, PeerId, TransportError};
use swarmvote_protocol::chain::RosterChain;
use swarmvote_protocol::engine::{Config as EngineConfig, Engine, EngineError};
use swarmvote_protocol::{Roster, SecretKey};
use tracing::{info, warn};

use crate::config::{ConfigError, NodeConfig};
use crate::daemon::clock::now;
use crate::daemon::driver::{Client, Driver, DriverSettings};
use crate::daemon::evaluator::{Evaluator, EvaluatorError};
use crate::daemon::executor::{Executor, ExecutorError};
use crate::daemon::health::ThresholdError;
use crate::daemon::identity::{self, IdentityError};
use crate::daemon::metrics::{Metrics, ResultLabel};
use crate::daemon::network::{self, NetworkError, NetworkSettings};
use crate::daemon::store::{Store, StoreError};
use crate::daemon::webhook::{Webhook, WebhookSettings};

/// What the config file cannot say, for nodes assembled in-process.
#[derive(Default)]
pub struct Knobs {
    /// The genesis roster and voter key; by default loaded from the config's files.
    pub identity: Option<(Roster, SecretKey)>,
    /// A catch-up period finer than the config's whole seconds.
    pub sync_interval: Option<Duration>,
}

/// An assembled node, not yet running: [`Driver::run`] runs it.
pub struct Node {
    /// The event loop.
    pub driver: Driver,
    /// The handle to it.
    pub client: Client,
    /// Its metrics registry.
    pub metrics: Metrics,
    /// Its head roster (the genesis roster, or the last step its store holds).
    pub roster: Roster,
    /// Its roster name (empty while it is joining).
    pub name: String,
    /// Its libp2p peer id.
    pub peer_id: PeerId,
    /// Proposals restored from the store.
    pub restored: usize,
}

/// Why a node could not be assembled.
#[derive(Debug, thiserror::Error)]
pub enum AssemblyError {
    /// The config, key, roster or webhook secret.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// `[health]` does not give valid thresholds.
    #[error("{path}: [health]")]
    Health {
        /// The config file.
        path: PathBuf,
        /// Why.
        source: ThresholdError,
    },
    /// The data dir.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The key is not the roster's.
    #[error(transparent)]
    Engine(#[from] EngineError),
    /// The transport identity file.
    #[error(transparent)]
    Identity(#[from] IdentityError),
    /// libp2p.
    #[error(transparent)]
    Network(#[from] NetworkError),
    /// `[evaluator]`.
    #[error(transparent)]
    Evaluator(#[from] EvaluatorError),
    /// `[executor]`.
    #[error(transparent)]
    Executor(#[from] ExecutorError),
    /// An address or peer id that does not parse.
    #[error("{what} {value}")]
    Parse {
        /// Which setting.
        what: &'static str,
        /// What it says.
        value: String,
        /// Why it does not parse.
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// A listen address that cannot be bound.
    #[error("listen address {addr}: cannot listen (in use, or not local?)")]
    Listen {
        /// The address.
        addr: String,
        /// Why.
        source: TransportError<std::io::Error>,
    },
}

/// The transport identity file: `network.identity_file`, or `<data_dir>/p2p.key`.
pub fn identity_path(config: &NodeConfig) -> PathBuf {
    config
        .network
        .identity_file
        .clone()
        .unwrap_or_else(|| config.data_dir.join("p2p.key"))
}

fn parse<T>(what: &'static str, value: &str) -> Result<T, AssemblyError>
where
    T: std::str::FromStr,
    T::Err: std::error::Error + Send + Sync + 'static,
{
    value.parse().map_err(|e| AssemblyError::Parse {
        what,
        value: value.to_owned(),
        source: Box::new(e),
    })
}

/// Builds the node `config` describes. Must run inside a tokio runtime (the webhook
/// worker is spawned here). The swarm is listening; nothing runs until
/// [`Driver::run`].
pub fn assemble(config: &NodeConfig, knobs: Knobs) -> Result<Node, AssemblyError> {
    let (roster, key) = match knobs.identity {
        Some(identity) => identity,
        None => config.load_genesis_and_key()?,
    };
    let metrics = Metrics::new(roster.members().map(|(_, m)| m.name.as_str()));
    let thresholds = config
        .health
        .thresholds()
        .map_err(|source| AssemblyError::Health {
            path: config.source.clone(),
            source,
        })?;
    let webhook_settings = match &config.webhook {
        Some(w) => Some(WebhookSettings {
            url: w.url.clone(),
            secret: w.load_secret(&config.source)?,
            timeout: Duration::from_millis(w.timeout_ms),
            max_queue: w.max_queue,
            max_retries: w.max_retries,
        }),
        None => None,
    };
    let (mut store, opened) = Store::open(&config.data_dir)?;
    if opened.recovered_from_journal > 0 {
        warn!(
            count = opened.recovered_from_journal,
            "own ballots recovered from the journal"
        );
    }
    if opened.journal_truncated > 0 {
        warn!(
            bytes = opened.journal_truncated,
            "unsynced journal tail cut off"
        );
    }
    // Before anything can run: an execution that was running when the node died is
    // marked interrupted and never run again.
    for r in store.interrupt_unfinished_executions(now())? {
        Metrics::inc(
            &metrics.executions,
            ResultLabel {
                result: "interrupted",
            },
        );
        warn!(
            proposal = %r.proposal.short(),
            action = %r.action,
            started_at = r.started_at.map(|t| t.0),
            "execution interrupted: the node stopped while it ran; not running it again"
        );
    }
    let chain = RosterChain::new(roster.clone()).map_err(|e| EngineError::Chain(Box::new(e)))?;
    // Membership is checked against the chain the store carries, not the genesis file
    // alone: a rotated key is listed only in a later roster.
    let not_a_member = config.not_a_member(&key);
    let engine_config = EngineConfig {
        retention_ms: config.retention.listed_ms(),
        ..EngineConfig::default()
    };
    let mut engine = Engine::joining(chain, key, engine_config);
    let restored = engine.restore(now(), store.load()?);
    for s in &restored.skipped {
        warn!(record = %s, "stored record skipped");
    }
    check_membership(&engine, config.network.join, not_a_member)?;
    metrics
        .roster_epoch
        .set(i64::try_from(engine.roster().epoch()).unwrap_or(i64::MAX));
    let head = engine.roster().clone();
    let name = head
        .member(&engine.voter_id())
        .map(|m| m.name.to_string())
        .unwrap_or_default();
    let (keypair, created) = identity::load_or_create(&identity_path(config))?;
    let peer_id = keypair.public().to_peer_id();
    if created {
        info!(file = %identity_path(config).display(), "created transport identity");
    }
    let swarm = build_swarm(config, keypair, &roster)?;
    let bootstrap = config
        .bootstrap
        .iter()
        .map(|a| parse::<Multiaddr>("bootstrap address", a))
        .collect::<Result<Vec<_>, _>>()?;
    let evaluator = Evaluator::new(&config.evaluator)?;
    let executor = Executor::new(&config.executor)?;
    let (driver, client) = Driver::new(
        engine,
        store,
        swarm,
        evaluator,
        executor,
        DriverSettings {
            bootstrap,
            status_interval: Duration::from_secs(config.log.status_interval_secs),
            sync_interval: knobs
                .sync_interval
                .unwrap_or_else(|| Duration::from_secs(config.network.sync_interval_secs.max(1))),
            publish_rate: config.network.publish_rate,
            metrics: metrics.clone(),
            health: thresholds,
            health_grace: Duration::from_millis(config.health.grace_ms),
            webhook: webhook_settings.map(|s| Webhook::start(s, metrics.clone())),
            doppelganger_listen: Duration::from_secs(config.doppelganger.listen_secs),
        },
    );
    Ok(Node {
        driver,
        client,
        metrics,
        roster: head,
        name,
        peer_id,
        restored: restored.proposals,
    })
}

/// Whether this node's key may run: listed by a roster of the chain (a member now, or
/// one removed since, who follows but signs nothing new), or not yet listed and the
/// operator opted in to joining. Says in the log what the node will not do.
fn check_membership(
    engine: &Engine,
    join: bool,
    not_a_member: ConfigError,
) -> Result<(), AssemblyError> {
    let me = engine.voter_id();
    let head = engine.roster();
    if head.member(&me).is_some() {
        return Ok(());
    }
    if engine.chain().rosters().any(|r| r.member(&me).is_some()) {
        warn!(
            voter = %me.short(),
            epoch = head.epoch(),
            "this key is no longer a member of the head roster: it signs nothing new"
        );
        return Ok(());
    }
    if !join {
        return Err(not_a_member.into());
    }
    warn!(
        voter = %me,
        epoch = head.epoch(),
        roster = %head.digest().short(),
        "joining: no roster this node knows lists this key; it signs nothing until a roster change adds it"
    );
    Ok(())
}

/// The swarm, listening on the config's addresses, with its block list.
fn build_swarm(
    config: &NodeConfig,
    keypair: Keypair,
    roster: &Roster,
) -> Result<libp2p::Swarm<network::Behaviour>, AssemblyError> {
    let settings = NetworkSettings {
        idle_timeout: Duration::from_secs(config.network.idle_timeout_secs),
        max_connections: config.network.max_connections,
        mdns: config.network.mdns,
        discovery: config.network.discovery,
    };
    let mut swarm = network::build(keypair, roster, &settings)?;
    for addr in &config.network.external_addresses {
        // Announced by identify, and from there through discovery.
        swarm.add_external_address(parse("external address", addr)?);
    }
    for addr in &config.listen {
        let ma: Multiaddr = parse("listen address", addr)?;
        swarm
            .listen_on(ma)
            .map_err(|source| AssemblyError::Listen {
                addr: addr.clone(),
                source,
            })?;
    }
    for p in &config.network.blocklist {
        let peer: PeerId = parse("network.blocklist:", p)?;
        swarm.behaviour_mut().blocked.block_peer(peer);
    }
    Ok(swarm)
}
