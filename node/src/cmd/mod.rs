//! Commands that only the binary needs: starting a node.

pub mod run;

use swarmvote_node::config::LogFormat;

/// Installs the log subscriber: `RUST_LOG` filtering (default `info`), text or JSON lines
/// on stderr, colours only when stderr is a terminal (journald gets plain text).
pub fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let result = match format {
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
        LogFormat::Text => builder
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .try_init(),
    };
    // A second initialisation in one process is harmless.
    drop(result);
}
