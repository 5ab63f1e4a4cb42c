//! `cargo bench -p swarmvote-node --bench mcp`: what MCP adds to a proposal's round trip.
//!
//! A 3-node cluster of real release nodes on 127.0.0.1, every node voting YES by policy.
//! One proposal at a time, from the call until the answer that carries the decision at
//! the proposer's node, through three doors in turn (so machine noise falls on all
//! three alike): the plain HTTP API (`POST /v1/proposals` with `wait_ms`), MCP over a
//! child's stdio (`swarmvote mcp`, which calls the same API), and MCP over Streamable
//! HTTP (`/mcp` on the node's listener). Prints p50, p90 and p99 in µs and the
//! difference of the MCP medians to the HTTP median.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::path::Path;
use std::time::{Duration, Instant};

use rmcp::model::CallToolRequestParams;
use rmcp::service::RunningService;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rmcp::transport::{ConfigureCommandExt, StreamableHttpClientTransport, TokioChildProcess};
use rmcp::{RoleClient, ServiceExt};
use serde_json::json;
use swarmvote_node::cli::client::{Locator, NodeClient};
use swarmvote_node::dev::bench::{POLICY_YES, Percentiles, percentiles};
use swarmvote_node::dev::cluster::{Cluster, ClusterSpec};

/// Proposals per door after the warm-up.
const SAMPLES: usize = 300;
const WARMUP: usize = 20;

async fn mcp_propose(client: &RunningService<RoleClient, ()>, i: usize) -> Duration {
    let args = json!({"action": "bench.mcp", "payload": {"i": i}, "wait_s": 10});
    let serde_json::Value::Object(args) = args else {
        unreachable!()
    };
    let start = Instant::now();
    let r = client
        .call_tool(CallToolRequestParams::new("propose_action").with_arguments(args))
        .await
        .unwrap();
    let took = start.elapsed();
    let status = r.structured_content.as_ref().map(|v| v["status"].clone());
    assert_eq!(status, Some(json!("approved")), "{r:?}");
    took
}

fn http_propose(client: &NodeClient, i: usize) -> Duration {
    let start = Instant::now();
    let r = client
        .propose("bench.http", json!({"i": i}), None, Some(10_000))
        .unwrap();
    let took = start.elapsed();
    assert_eq!(r["proposal"]["status"], "approved", "{r}");
    took
}

fn row(name: &str, p: &Percentiles) {
    println!(
        "{name:<22} p50 {:>6} µs   p90 {:>6} µs   p99 {:>6} µs",
        p.p50_us, p.p90_us, p.p99_us
    );
}

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let dir = tempfile::tempdir().unwrap();
    let binary = Path::new(env!("CARGO_BIN_EXE_swarmvote"));
    let extra = |_: usize| POLICY_YES.to_owned();
    let mut cluster = Cluster::create(&ClusterSpec {
        binary,
        dir: dir.path(),
        nodes: 3,
        quorum: "2/3",
        extra: &extra,
    })
    .unwrap();
    cluster.start_all().unwrap();
    for i in 0..3 {
        cluster.wait_ready(i, 2, Duration::from_secs(60)).unwrap();
    }
    let config = cluster.nodes[0].config.clone();
    let http = NodeClient::new(Locator::Config(config.clone()).resolve().unwrap());
    let token = http.endpoint().token.clone();
    let addr = cluster.nodes[0].api;

    let stdio = ()
        .serve(
            TokioChildProcess::new(tokio::process::Command::new(binary).configure(|c| {
                c.arg("mcp").arg("--config").arg(&config);
            }))
            .unwrap(),
        )
        .await
        .unwrap();
    let over_http = ()
        .serve(StreamableHttpClientTransport::from_config(
            StreamableHttpClientTransportConfig::with_uri(format!("http://{addr}/mcp"))
                .auth_header(token),
        ))
        .await
        .unwrap();

    let http = std::sync::Arc::new(http);
    let (mut a, mut b, mut c) = (Vec::new(), Vec::new(), Vec::new());
    for i in 0..WARMUP.saturating_add(SAMPLES) {
        let h = http.clone();
        let t_http = tokio::task::spawn_blocking(move || http_propose(&h, i))
            .await
            .unwrap();
        let t_stdio = mcp_propose(&stdio, i).await;
        let t_mcp_http = mcp_propose(&over_http, i).await;
        if i >= WARMUP {
            a.push(micros(t_http));
            b.push(micros(t_stdio));
            c.push(micros(t_mcp_http));
        }
    }
    let (pa, pb, pc) = (percentiles(a), percentiles(b), percentiles(c));
    println!("propose to decision at the proposer, 3 nodes, {SAMPLES} proposals per door");
    row("HTTP API", &pa);
    row("MCP stdio", &pb);
    row("MCP Streamable HTTP", &pc);
    let diff = |p: &Percentiles| i128::from(p.p50_us) - i128::from(pa.p50_us);
    println!(
        "MCP adds at p50: stdio {:+} µs, Streamable HTTP {:+} µs",
        diff(&pb),
        diff(&pc)
    );
    stdio.cancel().await.unwrap();
    over_http.cancel().await.unwrap();
    drop(cluster);
}
