//! Broadcasts on their way out: a bounded queue drained at the configured rate (a token
//! bucket), kept while no peer is subscribed.

use std::collections::VecDeque;

use libp2p::gossipsub::{self, IdentTopic, PublishError};
use tokio::time::Instant;
use tracing::warn;

use super::telemetry::Telemetry;

/// Broadcasts waiting for peers or for the rate limit.
const OUTBOX: usize = 10_000;

/// The publish queue and its rate limit.
pub(super) struct Outbox {
    topic: IdentTopic,
    queue: VecDeque<Vec<u8>>,
    /// Broadcasts per second.
    rate: u32,
    tokens: f64,
    refilled: Instant,
}

impl Outbox {
    pub(super) fn new(topic: IdentTopic, rate: u32) -> Self {
        Self {
            topic,
            queue: VecDeque::new(),
            rate,
            tokens: f64::from(rate),
            refilled: Instant::now(),
        }
    }

    pub(super) fn topic(&self) -> &IdentTopic {
        &self.topic
    }

    /// Queues `bytes` (dropping the oldest when full) and sends what the rate allows.
    pub(super) fn publish(
        &mut self,
        bytes: Vec<u8>,
        gossipsub: &mut gossipsub::Behaviour,
        telemetry: &mut Telemetry,
    ) {
        if self.queue.len() >= OUTBOX {
            warn!(
                queued = self.queue.len(),
                "publish queue full; dropping the oldest (catch-up repairs it)"
            );
            self.queue.pop_front();
        }
        self.queue.push_back(bytes);
        self.flush(gossipsub, telemetry);
    }

    /// Sends queued broadcasts while the token bucket allows.
    pub(super) fn flush(
        &mut self,
        gossipsub: &mut gossipsub::Behaviour,
        telemetry: &mut Telemetry,
    ) {
        let rate = f64::from(self.rate.max(1));
        let elapsed = self.refilled.elapsed().as_secs_f64();
        self.refilled = Instant::now();
        self.tokens = (self.tokens + elapsed * rate).min(rate);
        while self.tokens >= 1.0 {
            let Some(bytes) = self.queue.pop_front() else {
                return;
            };
            match gossipsub.publish(self.topic.clone(), bytes.clone()) {
                Ok(_) => {
                    self.tokens -= 1.0;
                    telemetry.count_traffic("out", bytes.len());
                }
                Err(PublishError::Duplicate) => self.tokens -= 1.0,
                Err(PublishError::NoPeersSubscribedToTopic | PublishError::AllQueuesFull(_)) => {
                    // No mesh yet, or peers are slow: keep it and retry shortly.
                    self.queue.push_front(bytes);
                    return;
                }
                Err(e) => {
                    warn!(error = %e, "publish failed; dropping the message");
                    self.tokens -= 1.0;
                }
            }
        }
    }
}
