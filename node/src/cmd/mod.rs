//! The binary's commands, one file per group: the node (`run`, `init`), keys, rosters,
//! configs, Rego policies, the store, the client commands (proposals, receipts, status, mcp,
//! gate),
//! and the developer's (devnet, bench, debug).

pub mod client;
pub mod config;
pub mod dev;
pub mod devnet;
pub mod devnet_demo;
pub mod devnet_hosts;
mod devnet_term;
pub mod export;
pub mod gate;
pub mod keys;
pub mod mcp;
pub mod policy;
pub mod proposals;
pub mod receipts;
pub mod roster;
pub mod roster_change;
pub mod run;
pub mod status;
pub mod store;

use std::io::IsTerminal;

use swarmvote_node::config::LogFormat;

/// Whether output may carry ANSI colours: only when both stdout and stderr are terminals
/// (under systemd both go to journald, and a pipe or file must stay plain text), and
/// never when `NO_COLOR` is set to anything non-empty (<https://no-color.org>).
pub fn colours_wanted() -> bool {
    let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
    !no_color && std::io::stdout().is_terminal() && std::io::stderr().is_terminal()
}

/// Installs the log subscriber: `RUST_LOG` filtering (default `info`), text or JSON lines
/// on stderr, colours only as [`colours_wanted`] says.
pub fn init_logging(format: LogFormat) {
    init_logging_at(format, "info");
}

/// [`init_logging`] with another default level. WARN and ERROR events also go to the
/// in-memory ring behind `GET /v1/logs`, whatever `RUST_LOG` says.
pub fn init_logging_at(format: LogFormat, default: &str) {
    use tracing_subscriber::Layer as _;
    use tracing_subscriber::layer::SubscriberExt as _;
    use tracing_subscriber::util::SubscriberInitExt as _;
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let stderr = tracing_subscriber::fmt::layer().with_writer(std::io::stderr);
    let stderr = match format {
        LogFormat::Json => stderr
            .with_ansi(false)
            .json()
            .flatten_event(true)
            .with_filter(filter)
            .boxed(),
        LogFormat::Text => stderr
            .with_ansi(colours_wanted())
            .with_filter(filter)
            .boxed(),
    };
    let ring = swarmvote_node::daemon::log_ring::RingLayer
        .with_filter(tracing_subscriber::filter::LevelFilter::WARN);
    let result = tracing_subscriber::registry()
        .with(stderr)
        .with(ring)
        .try_init();
    // A second initialisation in one process is harmless.
    drop(result);
}
