//! `watch`: follows a node's event stream and resumes it with `Last-Event-ID` after a
//! dropped connection, within a retry budget; after a ballot or a decision on a proposal
//! under a tier rule, four-eyes or a group, a line with its progress ([`TierLines`]).

use std::collections::HashSet;
use std::io;
use std::time::{Duration, Instant};

use swarmvote_protocol::ProposalId;
use swarmvote_protocol::engine::Event;

use super::client::{ClientError, Locator, NodeClient};
use super::render::Names;
use super::sse::SseEvent;
use crate::api::{NodeEvent, Numbered, ProposalReport};

/// Plain proposals remembered so their events cost no lookup; the set is cleared when
/// full.
const MAX_PLAIN_REMEMBERED: usize = 4096;

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

/// The events' own fields carry no tier, so after a ballot or a decision `watch` asks the
/// node for the proposal and, where a tier rule, four-eyes or a group applies, prints its
/// progress: `tier backup-deletes: yes 2/3; needs 1 more YES`. That is the proposal as it
/// stands when the line is printed: for replayed events, now rather than then. Plain
/// proposals are remembered (bounded) and cost one lookup each.
pub struct TierLines {
    locator: Locator,
    plain: HashSet<ProposalId>,
}

impl TierLines {
    /// Looks proposals up at the node `locator` finds (re-read each time: a restarted
    /// node has a new address and cookie).
    pub fn new(locator: Locator) -> Self {
        Self {
            locator,
            plain: HashSet::new(),
        }
    }

    /// The progress line to print after `event`, if it is a ballot or a decision on a
    /// proposal that is not plain. A failed lookup prints nothing: the event line said
    /// what happened.
    pub fn after(&mut self, event: &SseEvent, names: &Names) -> Option<String> {
        let numbered: Numbered = serde_json::from_str(&event.data).ok()?;
        let id = match numbered.event {
            NodeEvent::Engine(Event::BallotAccepted { proposal, .. })
            | NodeEvent::Engine(Event::Decided { proposal, .. }) => proposal,
            _ => return None,
        };
        if self.plain.contains(&id) {
            return None;
        }
        let client = NodeClient::new(self.locator.resolve().ok()?);
        let report = ProposalReport::from_json(&client.proposal(&id).ok()?).ok()?;
        let lines = report.tier_lines(names);
        if lines.is_empty() {
            if self.plain.len() >= MAX_PLAIN_REMEMBERED {
                self.plain.clear();
            }
            self.plain.insert(id);
            return None;
        }
        Some(lines.join("; "))
    }
}
