//! The node's recent WARN and ERROR log lines, kept in a small in-memory ring for
//! `GET /v1/logs` (the web console's Node page). A `tracing` layer feeds it; the ring is
//! process-wide because the subscriber is installed once, before the node exists.

use std::collections::VecDeque;
use std::fmt::Write as _;
use std::sync::Mutex;

use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::{Context, Layer};

use crate::api::{LogLine, LogPage};
use crate::daemon::clock::now;

/// Lines the ring holds; older ones are dropped first.
pub const CAPACITY: usize = 200;
/// Longest message or field text kept per line (in characters).
const MAX_TEXT: usize = 2_000;

struct Ring {
    lines: VecDeque<LogLine>,
    dropped: u64,
}

static RING: Mutex<Ring> = Mutex::new(Ring {
    lines: VecDeque::new(),
    dropped: 0,
});

fn with_ring<T>(f: impl FnOnce(&mut Ring) -> T) -> T {
    // A panic while holding the lock leaves the ring consistent enough to keep using.
    let mut guard = RING
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    f(&mut guard)
}

/// Appends one line, dropping the oldest when full.
pub fn push(line: LogLine) {
    with_ring(|r| {
        if r.lines.len() >= CAPACITY {
            r.lines.pop_front();
            r.dropped = r.dropped.saturating_add(1);
        }
        r.lines.push_back(line);
    });
}

/// The lines in the ring, oldest first.
pub fn snapshot() -> LogPage {
    with_ring(|r| LogPage {
        lines: r.lines.iter().cloned().collect(),
        capacity: u32::try_from(CAPACITY).unwrap_or(u32::MAX),
        dropped: r.dropped,
    })
}

/// The layer that copies WARN and ERROR events into the ring, whatever `RUST_LOG`
/// lets through to stderr.
pub struct RingLayer;

impl<S: Subscriber> Layer<S> for RingLayer {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let level = *event.metadata().level();
        if level > Level::WARN {
            return;
        }
        let mut text = Text::default();
        event.record(&mut text);
        push(LogLine {
            at: now(),
            level: level.to_string(),
            target: event.metadata().target().to_owned(),
            message: text.message,
            fields: text.fields,
        });
    }
}

/// An event's message and its other fields as `key=value` text, each bounded.
#[derive(Default)]
struct Text {
    message: String,
    fields: String,
}

impl Text {
    fn add(&mut self, field: &Field, value: &dyn std::fmt::Display) {
        if field.name() == "message" {
            let _ = write!(self.message, "{value}");
            truncate(&mut self.message);
        } else {
            if !self.fields.is_empty() {
                self.fields.push(' ');
            }
            let _ = write!(self.fields, "{}={value}", field.name());
            truncate(&mut self.fields);
        }
    }
}

fn truncate(s: &mut String) {
    if let Some((at, _)) = s.char_indices().nth(MAX_TEXT) {
        s.truncate(at);
        s.push('…');
    }
}

impl Visit for Text {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.add(field, &value);
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.add(field, &format_args!("{value:?}"));
    }
}

#[cfg(test)]
mod tests {
    use tracing_subscriber::layer::SubscriberExt;

    use super::*;

    #[test]
    fn keeps_warnings_and_errors_with_their_fields_and_drops_the_oldest() {
        let subscriber = tracing_subscriber::registry().with(RingLayer);
        tracing::subscriber::with_default(subscriber, || {
            tracing::info!("not kept");
            tracing::warn!(peer = "p1", n = 3, "ring test warning");
            tracing::error!(error = %"boom", "ring test error");
        });
        let page = snapshot();
        let ours: Vec<&LogLine> = page
            .lines
            .iter()
            .filter(|l| l.message.starts_with("ring test") || l.message == "not kept")
            .collect();
        assert_eq!(ours.len(), 2, "{ours:?}");
        assert_eq!(ours[0].level, "WARN");
        assert_eq!(ours[0].fields, "peer=p1 n=3");
        assert_eq!(ours[1].level, "ERROR");
        assert_eq!(ours[1].fields, "error=boom");
        for i in 0..CAPACITY {
            push(LogLine {
                at: now(),
                level: "WARN".into(),
                target: "t".into(),
                message: format!("filler {i}"),
                fields: String::new(),
            });
        }
        let page = snapshot();
        assert_eq!(page.lines.len(), CAPACITY);
        assert!(page.dropped >= 2);
        assert_eq!(
            page.lines.last().map(|l| l.message.as_str()),
            Some("filler 199")
        );
    }
}
