//! The devnet's terminal: whole output lines (with optional colour), SIGINT/SIGTERM
//! noted by a listener thread, and the error an interrupted devnet ends with. Shared by
//! `devnet`, its demo and `devnet --hosts`.

use std::io::Write;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

use anyhow::Context;

/// Writes whole lines to stdout, one at a time (node logs come from several threads).
/// A closed stdout is not an error: the nodes still have to be stopped.
#[derive(Clone, Copy)]
pub(crate) struct Out {
    colours: bool,
}

impl Out {
    pub(crate) fn new(colours: bool) -> Self {
        Self { colours }
    }

    pub(crate) fn line(self, text: &str) {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{text}");
        let _ = out.flush();
    }

    pub(crate) fn bold(self, text: &str) -> String {
        if self.colours {
            format!("\x1b[1m{text}\x1b[0m")
        } else {
            text.to_owned()
        }
    }

    pub(crate) fn label(self, name: &str, index: usize, width: usize) -> String {
        // Cyan, magenta, yellow, blue, green, red, then around again.
        const COLOURS: [u8; 6] = [36, 35, 33, 34, 32, 31];
        let padded = format!("{name:<width$}");
        if self.colours {
            let colour = COLOURS.get(index % COLOURS.len()).copied().unwrap_or(36);
            format!("\x1b[{colour}m{padded} |\x1b[0m")
        } else {
            format!("{padded} |")
        }
    }
}

/// SIGINT and SIGTERM, noted by a listener thread: the first stops the devnet, a
/// second kills the nodes that are still stopping.
#[derive(Clone)]
pub(crate) struct Stop {
    signal: Arc<OnceLock<&'static str>>,
    count: Arc<AtomicUsize>,
}

impl Stop {
    pub(crate) fn listen() -> anyhow::Result<Self> {
        use tokio::signal::unix::{SignalKind, signal};
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .context("cannot start the signal listener")?;
        // Installed before any node starts, so an early Ctrl-C is not lost.
        let (mut int, mut term) = {
            let _guard = runtime.enter();
            (
                signal(SignalKind::interrupt()).context("cannot listen for SIGINT")?,
                signal(SignalKind::terminate()).context("cannot listen for SIGTERM")?,
            )
        };
        let stop = Self {
            signal: Arc::new(OnceLock::new()),
            count: Arc::new(AtomicUsize::new(0)),
        };
        let noted = stop.clone();
        std::thread::spawn(move || {
            runtime.block_on(async move {
                loop {
                    let name = tokio::select! {
                        _ = int.recv() => "SIGINT",
                        _ = term.recv() => "SIGTERM",
                    };
                    let _ = noted.signal.set(name);
                    noted.count.fetch_add(1, Ordering::SeqCst);
                }
            });
        });
        Ok(stop)
    }

    pub(crate) fn signalled(&self) -> Option<&'static str> {
        if self.count() > 0 {
            self.signal.get().copied()
        } else {
            None
        }
    }

    pub(crate) fn count(&self) -> usize {
        self.count.load(Ordering::SeqCst)
    }
}

/// Why the devnet ended early.
#[derive(Debug, thiserror::Error)]
#[error("interrupted by {0}")]
pub(crate) struct Interrupted(pub(crate) &'static str);
