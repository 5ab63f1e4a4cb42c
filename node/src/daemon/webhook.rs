//! Webhook delivery for health transitions, doppelganger alarms and roster epoch
//! changes: a bounded queue and one worker task.
//!
//! The driver only calls [`Webhook::send`], with a body from [`health_body`], which never blocks: it appends to a bounded
//! queue (dropping the oldest, counted and logged, when full) and wakes the worker. The
//! worker POSTs each body in order from a blocking thread, with a timeout, and retries
//! with exponential backoff and jitter; a failing endpoint is logged, never fatal.
//!
//! Each request carries `X-Swarmvote-Timestamp` (Unix seconds) and
//! `X-Swarmvote-Signature: sha256=<hex>`, the HMAC-SHA256 with the configured secret of
//! `"<timestamp>.<body>"`, so a receiver can check origin and freshness.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hmac::{KeyInit, Mac};
use tokio::sync::Notify;
use tracing::{debug, info, warn};

use crate::api::HealthChange;
use crate::daemon::clock::{now, now_us};
use crate::daemon::health::Thresholds;
use crate::daemon::metrics::{Metrics, ResultLabel};

/// The signature header.
pub const SIGNATURE_HEADER: &str = "X-Swarmvote-Signature";
/// The timestamp header.
pub const TIMESTAMP_HEADER: &str = "X-Swarmvote-Timestamp";
/// A unique id per queued body, the same across retries, for receivers to drop repeats.
pub const DELIVERY_HEADER: &str = "X-Swarmvote-Delivery";
/// The first retry waits this long; each next one twice as long.
const BACKOFF_BASE: Duration = Duration::from_millis(500);
/// The longest wait between retries.
const BACKOFF_MAX: Duration = Duration::from_secs(60);

/// What the worker needs.
#[derive(Clone)]
pub struct WebhookSettings {
    /// Where to POST (`http://`).
    pub url: String,
    /// The HMAC key.
    pub secret: Vec<u8>,
    /// Per-request timeout.
    pub timeout: Duration,
    /// Bodies waiting at most.
    pub max_queue: usize,
    /// Retries after the first attempt.
    pub max_retries: u32,
}

impl std::fmt::Debug for WebhookSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookSettings")
            .field("url", &self.url)
            .field("secret", &"<redacted>")
            .field("timeout", &self.timeout)
            .field("max_queue", &self.max_queue)
            .field("max_retries", &self.max_retries)
            .finish()
    }
}

struct Job {
    id: String,
    body: String,
}

/// The handle the driver holds.
#[derive(Clone)]
pub struct Webhook {
    queue: Arc<Mutex<VecDeque<Job>>>,
    wake: Arc<Notify>,
    max_queue: usize,
    prefix: String,
    next: Arc<std::sync::atomic::AtomicU64>,
    metrics: Metrics,
}

/// `sha256=<hex HMAC-SHA256 of "<timestamp>.<body>">`.
pub fn signature(secret: &[u8], timestamp: u64, body: &str) -> String {
    // HMAC takes keys of any length; this cannot fail.
    let Ok(mut mac) = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret) else {
        return String::new();
    };
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body.as_bytes());
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// The node a webhook body comes from.
pub struct NodeInfo {
    /// Its roster name.
    pub name: String,
    /// Its voter id.
    pub voter: swarmvote_protocol::VoterId,
    /// Its libp2p peer id.
    pub peer_id: String,
    /// Its swarm.
    pub swarm: String,
}

/// The body POSTed for a member's health transition.
pub fn health_body(
    change: &HealthChange,
    degraded: bool,
    th: &Thresholds,
    node: &NodeInfo,
) -> serde_json::Value {
    serde_json::json!({
        "event": if degraded { "voter_degraded" } else { "voter_recovered" },
        "voter": change.voter,
        "voter_name": change.name,
        "degraded": degraded,
        "reasons": change.reasons,
        "counts": change.counts,
        "window": { "settled": change.window, "size": th.window },
        "thresholds": {
            "dissent": th.dissent,
            "missed": th.missed,
            "invalid_signatures": th.invalid_signatures,
            "degrade_after": th.degrade_after,
            "recover_after": th.recover_after,
        },
        "evidence": change.evidence,
        "node": {
            "name": node.name,
            "voter": node.voter,
            "peer_id": node.peer_id,
            "swarm": node.swarm,
        },
        "at": change.at,
    })
}

/// The body POSTed when another instance of this node's voter key is detected: the
/// ballot in its name it did not sign, and `peer`, where it came from.
pub fn doppelganger_body(
    proposal: &swarmvote_protocol::ProposalId,
    vote: swarmvote_protocol::Vote,
    peer: &str,
    node: &NodeInfo,
) -> serde_json::Value {
    serde_json::json!({
        "event": "doppelganger_detected",
        "proposal": proposal,
        "message": "ballot",
        "vote": vote,
        "peer": peer,
        "node": {
            "name": node.name,
            "voter": node.voter,
            "peer_id": node.peer_id,
            "swarm": node.swarm,
        },
        "at": now(),
    })
}

/// A member a roster change added or removed, for [`epoch_body`].
#[derive(Clone, Debug, serde::Serialize)]
pub struct MemberChange {
    /// Its roster name.
    pub name: String,
    /// Its voter id.
    pub voter: swarmvote_protocol::VoterId,
}

/// The body POSTed when this node moves to a new roster epoch: the change that installed
/// it, and who it added and removed (a rotated key shows as one of each).
pub fn epoch_body(
    epoch: u64,
    roster: &swarmvote_protocol::RosterDigest,
    proposal: &swarmvote_protocol::ProposalId,
    added: &[MemberChange],
    removed: &[MemberChange],
    node: &NodeInfo,
) -> serde_json::Value {
    serde_json::json!({
        "event": "roster_epoch_changed",
        "epoch": epoch,
        "roster": roster,
        "proposal": proposal,
        "added": added,
        "removed": removed,
        "node": {
            "name": node.name,
            "voter": node.voter,
            "peer_id": node.peer_id,
            "swarm": node.swarm,
        },
        "at": now(),
    })
}

impl Webhook {
    /// Starts the worker on the current tokio runtime.
    pub fn start(settings: WebhookSettings, metrics: Metrics) -> Self {
        let queue = Arc::new(Mutex::new(VecDeque::new()));
        let wake = Arc::new(Notify::new());
        let hook = Self {
            queue: queue.clone(),
            wake: wake.clone(),
            max_queue: settings.max_queue.max(1),
            prefix: format!("{:x}", now_us()),
            next: Arc::new(std::sync::atomic::AtomicU64::new(0)),
            metrics: metrics.clone(),
        };
        tokio::spawn(worker(settings, queue, wake, metrics));
        hook
    }

    /// Queues a body; never blocks. When the queue is full the oldest body is dropped.
    pub fn send(&self, body: &serde_json::Value) {
        let n = self.next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let job = Job {
            id: format!("{}-{n}", self.prefix),
            body: body.to_string(),
        };
        let dropped = match self.queue.lock() {
            Ok(mut q) => {
                let dropped = if q.len() >= self.max_queue {
                    q.pop_front()
                } else {
                    None
                };
                q.push_back(job);
                self.metrics
                    .webhook_queue
                    .set(i64::try_from(q.len()).unwrap_or(i64::MAX));
                dropped
            }
            // A worker that panicked mid-push leaves nothing inconsistent in a VecDeque.
            Err(poisoned) => {
                poisoned.into_inner().push_back(job);
                None
            }
        };
        if let Some(old) = dropped {
            Metrics::inc(&self.metrics.webhooks, ResultLabel { result: "dropped" });
            warn!(
                delivery = %old.id,
                queued = self.max_queue,
                "webhook queue full; dropping the oldest"
            );
        }
        self.wake.notify_one();
    }
}

/// Takes the oldest body and updates the backlog gauge.
fn pop(queue: &Mutex<VecDeque<Job>>, metrics: &Metrics) -> Option<Job> {
    let mut q = queue
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let job = q.pop_front();
    metrics
        .webhook_queue
        .set(i64::try_from(q.len()).unwrap_or(i64::MAX));
    job
}

async fn worker(
    settings: WebhookSettings,
    queue: Arc<Mutex<VecDeque<Job>>>,
    wake: Arc<Notify>,
    metrics: Metrics,
) {
    let agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(settings.timeout))
        .build()
        .new_agent();
    let settings = Arc::new(settings);
    loop {
        let Some(job) = pop(&queue, &metrics) else {
            wake.notified().await;
            continue;
        };
        let job = Arc::new(job);
        let mut attempt = 0u32;
        loop {
            let (a, s, j) = (agent.clone(), settings.clone(), job.clone());
            let result = tokio::task::spawn_blocking(move || deliver(&a, &s, &j))
                .await
                .unwrap_or_else(|e| Err(DeliveryError::Task(e)));
            match result {
                Ok(status) => {
                    Metrics::inc(
                        &metrics.webhooks,
                        ResultLabel {
                            result: "delivered",
                        },
                    );
                    debug!(delivery = %job.id, status, attempt, "webhook delivered");
                    break;
                }
                Err(error) if attempt >= settings.max_retries => {
                    Metrics::inc(&metrics.webhooks, ResultLabel { result: "failed" });
                    warn!(
                        delivery = %job.id,
                        url = %settings.url,
                        attempts = attempt.saturating_add(1),
                        %error,
                        "webhook failed; giving up on this delivery"
                    );
                    break;
                }
                Err(error) => {
                    let wait = backoff(attempt);
                    info!(
                        delivery = %job.id,
                        url = %settings.url,
                        attempt,
                        retry_in_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX),
                        %error,
                        "webhook failed; retrying"
                    );
                    tokio::time::sleep(wait).await;
                    attempt = attempt.saturating_add(1);
                }
            }
        }
    }
}

/// `BACKOFF_BASE × 2^attempt`, capped at `BACKOFF_MAX`, plus up to half of that again
/// at random, so many nodes do not retry in step.
fn backoff(attempt: u32) -> Duration {
    let exp = BACKOFF_BASE
        .saturating_mul(1u32.checked_shl(attempt.min(16)).unwrap_or(u32::MAX))
        .min(BACKOFF_MAX);
    let mut r = [0u8; 4];
    let jitter = if getrandom::fill(&mut r).is_ok() {
        let frac = f64::from(u32::from_le_bytes(r)) / f64::from(u32::MAX);
        exp.mul_f64(0.5 * frac)
    } else {
        Duration::ZERO
    };
    exp.saturating_add(jitter)
}

/// Why one delivery attempt failed.
#[derive(Debug, thiserror::Error)]
enum DeliveryError {
    /// No answer: connection, timeout, protocol.
    #[error("{0}")]
    Request(#[from] ureq::Error),
    /// An answer outside 2xx.
    #[error("HTTP {0}")]
    Status(u16),
    /// The blocking task died.
    #[error("delivery task failed: {0}")]
    Task(tokio::task::JoinError),
}

/// One POST; the status if 2xx, else why not.
fn deliver(agent: &ureq::Agent, s: &WebhookSettings, job: &Job) -> Result<u16, DeliveryError> {
    let timestamp = now().0 / 1000;
    let response = agent
        .post(&s.url)
        .header("Content-Type", "application/json")
        .header(TIMESTAMP_HEADER, timestamp.to_string())
        .header(SIGNATURE_HEADER, signature(&s.secret, timestamp, &job.body))
        .header(DELIVERY_HEADER, &job.id)
        .send(job.body.as_bytes())?;
    let status = response.status().as_u16();
    if (200..300).contains(&status) {
        Ok(status)
    } else {
        Err(DeliveryError::Status(status))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn signature_is_hmac_sha256_of_timestamp_dot_body() {
        // RFC 4231 test case 2 shape: key "Jefe"; our message is "<ts>.<body>".
        let sig = signature(b"Jefe", 1, "what do ya want for nothing?");
        assert!(sig.starts_with("sha256="));
        assert_eq!(sig.len(), 7 + 64);
        // The same message split differently signs the same.
        let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(b"Jefe").unwrap();
        mac.update(b"1.what do ya want for nothing?");
        assert_eq!(
            sig,
            format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
        );
        assert_ne!(sig, signature(b"Jefe", 2, "what do ya want for nothing?"));
        // RFC 4231 test case 2 itself, through the same primitive.
        let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(b"Jefe").unwrap();
        mac.update(b"what do ya want for nothing?");
        assert_eq!(
            hex::encode(mac.finalize().into_bytes()),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn backoff_doubles_and_is_capped() {
        for attempt in 0..30 {
            let b = backoff(attempt);
            let exp = BACKOFF_BASE
                .saturating_mul(1u32 << attempt.min(16))
                .min(BACKOFF_MAX);
            assert!(b >= exp && b <= exp.mul_f64(1.5), "{attempt}: {b:?}");
        }
    }

    #[tokio::test]
    async fn a_full_queue_drops_the_oldest_and_never_blocks() {
        let metrics = Metrics::default();
        // Nothing listens on port 9 of 127.0.0.1 (discard) in the test environment, and
        // the worker is slow to retry: the queue fills.
        let hook = Webhook::start(
            WebhookSettings {
                url: "http://127.0.0.1:9/".into(),
                secret: b"s".to_vec(),
                timeout: Duration::from_millis(200),
                max_queue: 2,
                max_retries: 10,
            },
            metrics.clone(),
        );
        for i in 0..10 {
            hook.send(&serde_json::json!({ "i": i }));
        }
        let dropped = metrics
            .webhooks
            .get_or_create(&ResultLabel { result: "dropped" })
            .get();
        // 10 sent, at most 2 queued and 1 taken by the worker.
        assert!(dropped >= 7, "dropped {dropped}");
        assert!(hook.queue.lock().unwrap().len() <= 2);
    }
}
