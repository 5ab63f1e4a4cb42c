//! Benchmarks of the simulator's per-transmission draws: the fate of one gossip copy
//! (loss, a log-normal latency, duplication) on large-1000's network.
//!
//! Run with `cargo bench -p swarmvote-sim --bench network`.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::hint::black_box;
use std::path::Path;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use swarmvote_sim::Scenario;
use swarmvote_sim::network::{Fate, Network};
use swarmvote_sim::rng::SimRng;

/// 1,000 transmissions' fates, each drawn as the run draws it for a copy sent to a node
/// that may not hold the message yet: every copy of a large run costs at least this.
fn transmission_fate(c: &mut Criterion) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../configs/scenarios/large-1000.toml");
    let scenario = Scenario::load(&path).unwrap();
    let net = Network::new(&scenario.network, &scenario.partitions, 0);
    let mut rng = SimRng::new(1);
    let mut g = c.benchmark_group("transmission");
    g.throughput(Throughput::Elements(1000));
    g.bench_function("fate_x1000", |bench| {
        bench.iter(|| {
            let mut sum = 0u64;
            for to in 1..=1000usize {
                if let Fate::Arrives(d, copy) = net.gossip(0, to, 0, &mut rng) {
                    sum = sum.wrapping_add(d).wrapping_add(copy.unwrap_or(0));
                }
            }
            black_box(sum)
        })
    });
    g.finish();
}

criterion_group!(benches, transmission_fate);
criterion_main!(benches);
