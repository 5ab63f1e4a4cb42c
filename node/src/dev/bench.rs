//! `swarmvote bench cluster`: N real node processes on 127.0.0.1, every node voting YES
//! by policy, proposals driven through the HTTP API.
//!
//! * **Latency** at low load: one proposal at a time, round-robin over proposers. For each
//!   proposal, the time from just before the API call to the decision at the first node
//!   and at the last node (each node stamps its decision with the wall clock in µs; all
//!   nodes share this machine's clock).
//! * **Throughput** at saturation: several client threads submit proposals as fast as the
//!   nodes accept them (retrying on 429); decided proposals per second until every node
//!   has decided all of them. The own-ballot fsync is on, as always.
//! * **Traffic**: gossip messages and payload bytes published and received per decision,
//!   summed over nodes (libp2p framing and gossip control messages not included).

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::daemon::clock::now_us;
use crate::dev::cluster::{ApiClient, Cluster, ClusterError, ClusterSpec, wait_for};

/// What to run.
pub struct BenchSpec<'a> {
    /// The `swarmvote` binary to start.
    pub binary: &'a Path,
    /// Where the nodes live.
    pub dir: &'a Path,
    /// Number of nodes.
    pub nodes: usize,
    /// Proposals for the latency phase.
    pub latency_samples: usize,
    /// Proposals for the throughput phase.
    pub proposals: usize,
    /// Client threads in the throughput phase.
    pub clients: usize,
}

/// Percentiles in microseconds.
#[derive(Clone, Debug, Serialize)]
pub struct Percentiles {
    /// Median.
    pub p50_us: u64,
    /// 90th percentile.
    pub p90_us: u64,
    /// 99th percentile.
    pub p99_us: u64,
    /// Largest.
    pub max_us: u64,
}

/// Percentiles of samples in µs.
pub fn percentiles(mut v: Vec<u64>) -> Percentiles {
    v.sort_unstable();
    let at = |q: usize| {
        let i = v.len().saturating_mul(q) / 100;
        v.get(i.min(v.len().saturating_sub(1)))
            .copied()
            .unwrap_or(0)
    };
    Percentiles {
        p50_us: at(50),
        p90_us: at(90),
        p99_us: at(99),
        max_us: v.last().copied().unwrap_or(0),
    }
}

/// The results.
#[derive(Clone, Debug, Serialize)]
pub struct BenchReport {
    /// Nodes.
    pub nodes: usize,
    /// Latency-phase proposals.
    pub latency_samples: usize,
    /// Time to the first node's decision.
    pub latency_first: Percentiles,
    /// Time until every node has decided.
    pub latency_all: Percentiles,
    /// Throughput-phase proposals.
    pub proposals: usize,
    /// Seconds from the first submission until all nodes decided all.
    pub seconds: f64,
    /// Decided proposals per second (decided at every node).
    pub decisions_per_sec: f64,
    /// Gossip messages published per decision, all nodes together.
    pub messages_out_per_decision: f64,
    /// Gossip payload bytes published per decision, all nodes together.
    pub bytes_out_per_decision: f64,
    /// Gossip messages received per decision, all nodes together.
    pub messages_in_per_decision: f64,
    /// API requests refused with 429 (too many open proposals) and retried.
    pub retries: usize,
}

/// An evaluator section that votes YES on everything.
pub const POLICY_YES: &str =
    "[evaluator]\nkind = \"policy\"\n[[evaluator.rules]]\naction = \"*\"\nvote = \"yes\"\n";

fn traffic(clients: &[ApiClient]) -> Result<(f64, f64, f64), ClusterError> {
    let mut sum = (0.0, 0.0, 0.0);
    for c in clients {
        let t = c.status_report()?.traffic;
        // Counts far below 2^53, so exact as f64.
        #[allow(clippy::cast_precision_loss)]
        {
            sum.0 += t.messages_out as f64;
            sum.1 += t.bytes_out as f64;
            sum.2 += t.messages_in as f64;
        }
    }
    Ok(sum)
}

fn approved(client: &ApiClient) -> Result<u64, ClusterError> {
    let counts = client.status_report()?.counts;
    Ok(counts
        .get("approved")
        .map_or(0, |n| u64::try_from(*n).unwrap_or(u64::MAX)))
}

/// Runs the benchmark.
pub fn run(spec: &BenchSpec<'_>) -> Result<BenchReport, ClusterError> {
    let extra = |_: usize| POLICY_YES.to_owned();
    let mut cluster = Cluster::create(&ClusterSpec {
        binary: spec.binary,
        dir: spec.dir,
        nodes: spec.nodes,
        quorum: "2/3",
        extra: &extra,
    })?;
    cluster.start_all()?;
    let peers = spec.nodes.saturating_sub(1);
    let clients = (0..spec.nodes)
        .map(|i| cluster.wait_ready(i, peers, Duration::from_secs(60)))
        .collect::<Result<Vec<_>, _>>()?;
    let deadline = Duration::from_secs(60);

    // Latency: one at a time.
    let mut first = Vec::new();
    let mut all = Vec::new();
    for k in 0..spec.latency_samples {
        let proposer = clients
            .get(k % clients.len())
            .ok_or_else(|| ClusterError::Setup("no nodes".into()))?;
        let start = now_us();
        let (status, body) = proposer.call(
            "POST",
            "/v1/proposals",
            Some(&serde_json::json!({ "action": "bench.latency", "payload": { "k": k }, "ttl_ms": 600_000, "wait_ms": 10_000 })),
        )?;
        let id = body["id"].as_str().unwrap_or_default().to_owned();
        if status != 201 || id.is_empty() {
            return Err(ClusterError::Api {
                node: "bench".into(),
                message: format!("propose: HTTP {status}: {body}"),
            });
        }
        let mut stamps = Vec::new();
        for c in &clients {
            let at = wait_for(&format!("{id} decided at every node"), deadline, || {
                Ok(c.proposal_report(&id)?.and_then(|p| p.decided_at_us))
            })?;
            stamps.push(at.saturating_sub(start));
        }
        first.push(stamps.iter().copied().min().unwrap_or(0));
        all.push(stamps.iter().copied().max().unwrap_or(0));
    }

    // Throughput: saturate.
    let before_traffic = traffic(&clients)?;
    let before: Vec<u64> = clients.iter().map(approved).collect::<Result<_, _>>()?;
    let next = AtomicUsize::new(0);
    let retries = AtomicUsize::new(0);
    let started = Instant::now();
    std::thread::scope(|s| {
        let workers: Vec<_> = (0..spec.clients.max(1))
            .map(|_| {
                s.spawn(|| -> Result<(), ClusterError> {
                    loop {
                        let k = next.fetch_add(1, Ordering::Relaxed);
                        if k >= spec.proposals {
                            return Ok(());
                        }
                        let Some(c) = clients.get(k % clients.len()) else {
                            return Ok(());
                        };
                        loop {
                            let (status, body) = c.call(
                                "POST",
                                "/v1/proposals",
                                Some(&serde_json::json!({ "action": "bench.load", "payload": { "k": k }, "ttl_ms": 600_000 })),
                            )?;
                            match status {
                                201 => break,
                                429 => {
                                    retries.fetch_add(1, Ordering::Relaxed);
                                    std::thread::sleep(Duration::from_millis(2));
                                }
                                _ => {
                                    return Err(ClusterError::Api {
                                        node: "bench".into(),
                                        message: format!("propose: HTTP {status}: {body}"),
                                    });
                                }
                            }
                        }
                    }
                })
            })
            .collect();
        workers.into_iter().try_for_each(|w| {
            w.join()
                .unwrap_or_else(|_| Err(ClusterError::Setup("client thread panicked".into())))
        })
    })?;
    let target: Vec<u64> = before
        .iter()
        .map(|b| b.saturating_add(u64::try_from(spec.proposals).unwrap_or(u64::MAX)))
        .collect();
    wait_for(
        "every node decided every proposal",
        Duration::from_secs(600),
        || {
            for (c, t) in clients.iter().zip(&target) {
                if approved(c)? < *t {
                    return Ok(None);
                }
            }
            Ok(Some(()))
        },
    )?;
    let seconds = started.elapsed().as_secs_f64();
    let after_traffic = traffic(&clients)?;
    let decisions = spec.proposals.max(1) as f64;
    for i in 0..spec.nodes {
        cluster.stop(i, Duration::from_secs(10))?;
    }
    Ok(BenchReport {
        nodes: spec.nodes,
        latency_samples: spec.latency_samples,
        latency_first: percentiles(first),
        latency_all: percentiles(all),
        proposals: spec.proposals,
        seconds,
        decisions_per_sec: spec.proposals as f64 / seconds.max(1e-9),
        messages_out_per_decision: (after_traffic.0 - before_traffic.0) / decisions,
        bytes_out_per_decision: (after_traffic.1 - before_traffic.1) / decisions,
        messages_in_per_decision: (after_traffic.2 - before_traffic.2) / decisions,
        retries: retries.load(Ordering::Relaxed),
    })
}

impl std::fmt::Display for BenchReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ms = |us: u64| us as f64 / 1000.0;
        writeln!(f, "nodes                     {}", self.nodes)?;
        writeln!(
            f,
            "latency, first node       p50 {:.2} ms  p90 {:.2} ms  p99 {:.2} ms  max {:.2} ms  ({} proposals, one at a time)",
            ms(self.latency_first.p50_us),
            ms(self.latency_first.p90_us),
            ms(self.latency_first.p99_us),
            ms(self.latency_first.max_us),
            self.latency_samples
        )?;
        writeln!(
            f,
            "latency, all nodes        p50 {:.2} ms  p90 {:.2} ms  p99 {:.2} ms  max {:.2} ms",
            ms(self.latency_all.p50_us),
            ms(self.latency_all.p90_us),
            ms(self.latency_all.p99_us),
            ms(self.latency_all.max_us)
        )?;
        writeln!(
            f,
            "throughput                {:.0} decisions/s ({} proposals in {:.2} s, decided at every node; {} retries on 429)",
            self.decisions_per_sec, self.proposals, self.seconds, self.retries
        )?;
        writeln!(
            f,
            "per decision              {:.1} messages and {:.0} bytes published, {:.1} messages received (all nodes)",
            self.messages_out_per_decision,
            self.bytes_out_per_decision,
            self.messages_in_per_decision
        )
    }
}
