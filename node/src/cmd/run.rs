//! `swarmvote run` and `swarmvote init`.

use std::path::Path;
use std::time::Duration;

use anyhow::{Context, bail};
use libp2p::{Multiaddr, PeerId};
use swarmvote_node::config::{NodeConfig, Overrides};
use swarmvote_node::daemon::clock;
use swarmvote_node::daemon::driver::{Driver, DriverSettings};
use swarmvote_node::daemon::evaluator::Evaluator;
use swarmvote_node::daemon::executor::Executor;
use swarmvote_node::daemon::http;
use swarmvote_node::daemon::identity;
use swarmvote_node::daemon::metrics::{Metrics, ResultLabel};
use swarmvote_node::daemon::network::{self, NetworkSettings};
use swarmvote_node::daemon::store::Store;
use swarmvote_node::daemon::webhook::{Webhook, WebhookSettings};
use swarmvote_protocol::engine::{Config as EngineConfig, Engine};
use tracing::{info, warn};

fn identity_path(config: &NodeConfig) -> std::path::PathBuf {
    config
        .network
        .identity_file
        .clone()
        .unwrap_or_else(|| config.data_dir.join("p2p.key"))
}

/// `swarmvote init`: creates the data dir and the transport identity; prints the peer id.
pub fn init(config_path: &Path, overrides: &Overrides) -> anyhow::Result<()> {
    let config = NodeConfig::load(config_path, overrides)?;
    config.load_identity()?;
    drop(Store::open(&config.data_dir)?);
    let (key, created) = identity::load_or_create(&identity_path(&config))?;
    println!("{}", key.public().to_peer_id());
    eprintln!(
        "{} {}",
        if created { "created" } else { "found" },
        identity_path(&config).display()
    );
    Ok(())
}

/// Registers the SIGINT and SIGTERM listeners now and returns the future that waits for
/// either. Registering at once, before start-up work, means a signal that lands while the
/// store opens or the swarm binds still stops the node cleanly instead of killing it.
fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    #[cfg(unix)]
    let term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate());
    #[cfg(unix)]
    let int = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt());
    async move {
        #[cfg(unix)]
        {
            let wait = |s: std::io::Result<tokio::signal::unix::Signal>, name: &'static str| async move {
                match s {
                    Ok(mut s) => {
                        s.recv().await;
                    }
                    Err(e) => {
                        warn!(error = %e, signal = name, "cannot listen for signal");
                        std::future::pending::<()>().await;
                    }
                }
            };
            tokio::select! {
                () = wait(int, "SIGINT") => info!(signal = "SIGINT", "stopping"),
                () = wait(term, "SIGTERM") => info!(signal = "SIGTERM", "stopping"),
            }
        }
        #[cfg(not(unix))]
        {
            if let Err(e) = tokio::signal::ctrl_c().await {
                warn!(error = %e, "cannot listen for ctrl-c");
                std::future::pending::<()>().await;
            }
            info!(signal = "SIGINT", "stopping");
        }
    }
}

/// `swarmvote run`: runs the node until SIGINT or SIGTERM.
pub async fn run(config: NodeConfig) -> anyhow::Result<()> {
    let shutdown = shutdown_signal();
    let (roster, key) = config.load_identity()?;
    let me = roster
        .member(&key.voter_id())
        .map(|m| m.name.to_string())
        .unwrap_or_default();
    let metrics = Metrics::new(roster.members().map(|(_, m)| m.name.as_str()));
    let thresholds = config
        .health
        .thresholds()
        .with_context(|| format!("{}: [health]", config.source.display()))?;
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
    for r in store.interrupt_unfinished_executions(clock::now())? {
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
    let mut engine = Engine::new(roster.clone(), key, EngineConfig::default())?;
    let restored = engine.restore(clock::now(), store.load()?);
    for s in &restored.skipped {
        warn!(record = %s, "stored record skipped");
    }
    let (keypair, created) = identity::load_or_create(&identity_path(&config))?;
    let peer_id = keypair.public().to_peer_id();
    if created {
        info!(file = %identity_path(&config).display(), "created transport identity");
    }
    let settings = NetworkSettings {
        idle_timeout: Duration::from_secs(config.network.idle_timeout_secs),
        max_connections: config.network.max_connections,
        mdns: config.network.mdns,
    };
    let mut swarm = network::build(keypair, &roster, &settings)?;
    for addr in &config.listen {
        let ma: Multiaddr = addr
            .parse()
            .with_context(|| format!("listen address {addr}"))?;
        swarm.listen_on(ma).with_context(|| {
            format!("listen address {addr}: cannot listen (in use, or not local?)")
        })?;
    }
    for p in &config.network.blocklist {
        let peer: PeerId = p
            .parse()
            .with_context(|| format!("network.blocklist: {p}"))?;
        swarm.behaviour_mut().blocked.block_peer(peer);
    }
    let bootstrap = config
        .bootstrap
        .iter()
        .map(|a| {
            a.parse::<Multiaddr>()
                .with_context(|| format!("bootstrap address {a}"))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
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
            sync_interval: Duration::from_secs(config.network.sync_interval_secs.max(1)),
            publish_rate: config.network.publish_rate,
            metrics: metrics.clone(),
            health: thresholds,
            health_grace: Duration::from_millis(config.health.grace_ms),
            webhook: webhook_settings.map(|s| Webhook::start(s, metrics.clone())),
        },
    );

    let (token, cookie) = http::token(&config.data_dir, config.api.token.as_deref())
        .with_context(|| format!("{}: cannot write the API cookie", config.data_dir.display()))?;
    let api_addr: std::net::SocketAddr = config.api.listen.parse().context("api.listen")?;
    if !api_addr.ip().is_loopback() {
        if !config.api.allow_remote {
            bail!(
                "api.listen {api_addr} is not loopback; set api.allow_remote = true or pass --api-allow-remote"
            );
        }
        warn!(address = %api_addr, "the API listens on a non-loopback address");
    }
    let listener = tokio::net::TcpListener::bind(api_addr)
        .await
        .with_context(|| format!("api.listen {api_addr}: cannot bind (address in use?)"))?;
    let api_addr = listener.local_addr().unwrap_or(api_addr);
    // Clients find the API through the data dir: the address here, the token in api.cookie.
    let addr_file = config.data_dir.join("api.addr");
    std::fs::write(&addr_file, format!("{api_addr}\n"))
        .with_context(|| format!("{}: cannot write", addr_file.display()))?;
    // The optional unauthenticated metrics listener, for scrapers.
    let metrics_task = match &config.metrics.listen {
        Some(addr) => {
            let addr: std::net::SocketAddr = addr.parse().context("metrics.listen")?;
            let listener = tokio::net::TcpListener::bind(addr)
                .await
                .with_context(|| format!("metrics.listen {addr}: cannot bind (address in use?)"))?;
            let bound = listener.local_addr().unwrap_or(addr);
            // Like api.addr: with port 0 this is the only way to learn the port.
            let metrics_file = config.data_dir.join("metrics.addr");
            std::fs::write(&metrics_file, format!("{bound}\n"))
                .with_context(|| format!("{}: cannot write", metrics_file.display()))?;
            info!(address = %bound, "metrics listening");
            let app = http::metrics_router(client.clone(), metrics.clone());
            Some(tokio::spawn(async move {
                if let Err(e) = axum::serve(listener, app).await {
                    warn!(error = %e, "metrics listener failed");
                }
            }))
        }
        None => None,
    };
    let (stop_api, api_stopped) = tokio::sync::oneshot::channel::<()>();
    let (down_tx, down_rx) = tokio::sync::watch::channel(false);
    let server = axum::serve(listener, http::router(client, metrics, token, down_rx))
        .with_graceful_shutdown(async {
            let _ = api_stopped.await;
        });
    let api_task = tokio::spawn(async move { server.await });

    info!(
        version = env!("CARGO_PKG_VERSION"),
        voter = %me,
        peer_id = %peer_id,
        swarm = %roster.swarm(),
        n = roster.len(),
        q = roster.required(),
        listen = ?config.listen,
        api = %api_addr,
        data_dir = %config.data_dir.display(),
        restored = restored.proposals,
        "node started"
    );
    let result = driver.run(shutdown).await;
    // End open event streams first, or graceful shutdown would wait for them.
    let _ = down_tx.send(true);
    let _ = stop_api.send(());
    let _ = api_task.await;
    if let Some(t) = metrics_task {
        t.abort();
    }
    if let Some(path) = cookie {
        let _ = std::fs::remove_file(path);
    }
    let _ = std::fs::remove_file(&addr_file);
    result?;
    info!("stopped");
    Ok(())
}

/// Loads the config for `run` (before logging is set up, so errors go to stderr plainly).
pub fn load(config: &Path, overrides: &Overrides) -> anyhow::Result<NodeConfig> {
    Ok(NodeConfig::load(config, overrides)?)
}
