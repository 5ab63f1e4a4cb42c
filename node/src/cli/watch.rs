//! `watch`: follows a node's event stream and resumes it with `Last-Event-ID` after a
//! dropped connection, within a retry budget.

use std::io;
use std::time::{Duration, Instant};

use super::client::{ClientError, Locator, NodeClient};
use super::sse::SseEvent;

/// A stream connection that lasted this long counts as healthy: the retry budget resets.
const STABLE_STREAM: Duration = Duration::from_secs(10);

/// What to do after an event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flow {
    /// Keep reading.
    Continue,
    /// Stop watching.
    Stop,
}

/// How `watch` behaves.
#[derive(Clone, Debug)]
pub struct WatchOptions {
    /// Start after this event id.
    pub after: Option<u64>,
    /// Consecutive failed connections tolerated before giving up.
    pub retries: u32,
    /// First wait before reconnecting; doubles per failure.
    pub first_backoff: Duration,
    /// Longest wait before reconnecting.
    pub max_backoff: Duration,
}

impl Default for WatchOptions {
    fn default() -> Self {
        Self {
            after: None,
            retries: 8,
            first_backoff: Duration::from_millis(250),
            max_backoff: Duration::from_secs(5),
        }
    }
}

/// Follows the node's event stream, calling `on_event` for each event. When the
/// connection drops it re-reads the node's address and token (a restarted node has a new
/// cookie) and resumes with `Last-Event-ID`, backing off between attempts; after
/// `retries` consecutive failures it gives up. `on_retry` hears about each retry.
pub fn watch(
    locator: &Locator,
    options: &WatchOptions,
    on_event: &mut dyn FnMut(&SseEvent) -> io::Result<Flow>,
    on_retry: &mut dyn FnMut(&ClientError, u32, Duration),
) -> Result<(), ClientError> {
    let mut last = options.after;
    let mut failures: u32 = 0;
    loop {
        let connected = locator
            .resolve()
            .and_then(|endpoint| NodeClient::new(endpoint).events(last));
        let error = match connected {
            Err(e) if !e.is_transient() => return Err(e),
            Err(e) => e,
            Ok(mut reader) => {
                let since = Instant::now();
                let mut received = false;
                let error = loop {
                    match reader.next_event() {
                        Ok(Some(event)) => {
                            received = true;
                            if let Some(id) = event.id.as_deref().and_then(|s| s.parse().ok()) {
                                last = Some(id);
                            }
                            if on_event(&event).map_err(ClientError::Output)? == Flow::Stop {
                                return Ok(());
                            }
                        }
                        Ok(None) => break ClientError::StreamEnded,
                        Err(e) => {
                            break ClientError::Transport {
                                what: "event stream".into(),
                                detail: e.to_string(),
                            };
                        }
                    }
                };
                if received || since.elapsed() >= STABLE_STREAM {
                    failures = 0;
                }
                error
            }
        };
        failures = failures.saturating_add(1);
        if failures > options.retries {
            return Err(ClientError::GaveUp {
                attempts: failures,
                last: Box::new(error),
            });
        }
        let backoff = options
            .first_backoff
            .saturating_mul(1u32 << (failures - 1).min(16))
            .min(options.max_backoff);
        on_retry(&error, failures, backoff);
        std::thread::sleep(backoff);
    }
}
