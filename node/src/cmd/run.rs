//! `swarmvote run` and `swarmvote init`: the node from [`assembly::assemble`], served
//! with its API (and optional metrics listener) until a signal stops it.

use std::path::PathBuf;

use anyhow::{Context, bail};
use swarmvote_node::assembly::{self, Knobs, Node, identity_path};
use swarmvote_node::cli::client::Endpoint;
use swarmvote_node::config::{NodeConfig, Overrides};
use swarmvote_node::daemon::driver::{DOPPELGANGER_EXIT_CODE, Exit};
use swarmvote_node::daemon::http;
use swarmvote_node::daemon::identity;
use swarmvote_node::daemon::store::Store;
use tracing::{error, info, warn};

/// The arguments of `swarmvote run` and `swarmvote init`.
#[derive(clap::Args)]
pub struct ConfigArgs {
    /// The node config file.
    #[arg(long, value_name = "FILE")]
    pub config: PathBuf,
    #[command(flatten)]
    pub overrides: Overrides,
}

/// `swarmvote init`: creates the data dir and the transport identity; prints the peer id.
pub fn init(args: &ConfigArgs) -> anyhow::Result<()> {
    let config = NodeConfig::load(&args.config, &args.overrides)?;
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

/// Runs the node until SIGINT or SIGTERM, or a doppelganger alarm; returns the exit code.
async fn run(config: NodeConfig) -> anyhow::Result<u8> {
    let shutdown = shutdown_signal();
    let Node {
        driver,
        client,
        metrics,
        roster,
        name: me,
        peer_id,
        restored,
    } = assembly::assemble(&config, Knobs::default())?;

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
    let mcp_stop = tokio_util::sync::CancellationToken::new();
    let mcp = if config.api.mcp {
        axum::Router::new().nest_service(
            swarmvote_node::mcp::PATH,
            swarmvote_node::mcp::http_service(
                Endpoint {
                    addr: swarmvote_node::mcp::loopback_of(api_addr),
                    addr_from: "the node's own API listener".into(),
                    token: token.clone(),
                    token_from: "the node itself".into(),
                    data_dir: config.data_dir.clone(),
                    roster_file: Some(config.roster_file.clone()),
                },
                mcp_stop.clone(),
            ),
        )
    } else {
        axum::Router::new()
    };
    let app = http::router(client, metrics, token, down_rx, mcp);
    let limits = config.api.limits.clone();
    let api_task = tokio::spawn(async move {
        http::serve::serve(listener, app, &limits, async {
            let _ = api_stopped.await;
        })
        .await;
    });

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
        restored,
        "node started"
    );
    let result = driver.run(shutdown).await;
    // End open event streams first, or graceful shutdown would wait for them.
    let _ = down_tx.send(true);
    mcp_stop.cancel();
    let _ = stop_api.send(());
    let _ = api_task.await;
    if let Some(t) = metrics_task {
        t.abort();
    }
    if let Some(path) = cookie {
        let _ = std::fs::remove_file(path);
    }
    let _ = std::fs::remove_file(&addr_file);
    match result? {
        Exit::Stopped => {
            info!("stopped");
            Ok(0)
        }
        Exit::Doppelganger => {
            error!(
                code = DOPPELGANGER_EXIT_CODE,
                "stopped: another instance of this voter key is signing; stop one of them before starting this node again"
            );
            Ok(DOPPELGANGER_EXIT_CODE)
        }
    }
}

/// `swarmvote run`: loads the config (before logging is set up, so its errors go to
/// stderr plainly), then runs the node on a one-worker runtime. Returns the exit code.
pub fn start(args: &ConfigArgs) -> anyhow::Result<u8> {
    let config = NodeConfig::load(&args.config, &args.overrides)?;
    super::init_logging(config.log.format);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(run(config))
}
