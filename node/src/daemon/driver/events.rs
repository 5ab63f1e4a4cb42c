//! The node's event stream for the API: numbered events, the last few kept so a client
//! can resume (`Last-Event-ID`) without a gap.

use std::collections::VecDeque;

use tokio::sync::broadcast;

use crate::api::{NodeEvent, Numbered};
use crate::daemon::clock::now_us;

/// Events kept for clients that resume a stream (`Last-Event-ID`).
const EVENT_LOG: usize = 10_000;

/// Live subscribers and the recent past.
pub(super) struct EventLog {
    sender: broadcast::Sender<Numbered>,
    log: VecDeque<Numbered>,
    next: u64,
}

impl EventLog {
    pub(super) fn new(sender: broadcast::Sender<Numbered>) -> Self {
        Self {
            sender,
            log: VecDeque::new(),
            // Ids keep growing across restarts: a resuming client never sees an old id.
            next: now_us(),
        }
    }

    pub(super) fn publish(&mut self, event: NodeEvent) {
        let numbered = Numbered {
            id: self.next,
            event,
        };
        self.next = self.next.saturating_add(1);
        if self.log.len() >= EVENT_LOG {
            self.log.pop_front();
        }
        self.log.push_back(numbered.clone());
        let _ = self.sender.send(numbered);
    }

    /// Stored events after `after`, and a subscription continuing them. Called in one
    /// step of the single-threaded loop: nothing can slip between the two.
    pub(super) fn resume(
        &self,
        after: Option<u64>,
    ) -> (Vec<Numbered>, broadcast::Receiver<Numbered>) {
        let backlog = self
            .log
            .iter()
            .filter(|e| after.is_none_or(|a| e.id > a))
            .cloned()
            .collect();
        (backlog, self.sender.subscribe())
    }
}
