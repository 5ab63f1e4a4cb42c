//! Store throughput: ballots persisted per second without sync, own ballots with an fsync
//! each, and own ballots group-committed (one fsync per 64).
//!
//! Run with `cargo bench -p swarmvote-node --bench store`.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use swarmvote_node::daemon::store::Store;
use swarmvote_node::dev::crashtest::{self, key};
use swarmvote_protocol::engine::Record;
use swarmvote_protocol::{Ballot, SignedBallot, Vote};

/// Distinct ballots from member 0 on `n` proposals.
fn ballots(n: u32) -> Vec<SignedBallot> {
    let roster = crashtest::roster().unwrap();
    (0..n)
        .map(|k| {
            let p = crashtest::proposal(&roster, k).unwrap();
            Ballot {
                swarm: roster.swarm().clone(),
                proposal: p.id(),
                voter: key(0).voter_id(),
                vote: Vote::Yes,
                reason: None,
            }
            .sign(&key(0))
        })
        .collect()
}

fn store(c: &mut Criterion) {
    let pool = ballots(4096);
    let dir = tempfile::tempdir().unwrap();
    let (mut store, _) = Store::open(dir.path()).unwrap();
    let mut g = c.benchmark_group("store");
    g.throughput(Throughput::Elements(1));
    g.measurement_time(Duration::from_secs(5));

    let mut i = 0usize;
    g.bench_function("ballot_unsynced", |b| {
        b.iter(|| {
            i = (i + 1) % pool.len();
            store
                .apply(&Record::Ballot(std::sync::Arc::new(pool[i].clone())))
                .unwrap();
        })
    });
    g.sample_size(10);
    g.bench_function("own_ballot_fsync_each", |b| {
        b.iter(|| {
            i = (i + 1) % pool.len();
            store
                .apply(&Record::OwnBallot(std::sync::Arc::new(pool[i].clone())))
                .unwrap();
            store.sync().unwrap();
        })
    });
    g.bench_function("own_ballot_group_commit_64", |b| {
        b.iter_custom(|iters| {
            let start = Instant::now();
            for n in 0..iters {
                i = (i + 1) % pool.len();
                store
                    .apply(&Record::OwnBallot(std::sync::Arc::new(pool[i].clone())))
                    .unwrap();
                if n % 64 == 63 {
                    store.sync().unwrap();
                }
            }
            store.sync().unwrap();
            start.elapsed()
        })
    });
    g.finish();
}

criterion_group!(benches, store);
criterion_main!(benches);
