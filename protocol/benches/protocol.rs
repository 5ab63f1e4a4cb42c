//! Benchmarks of the protocol core: signing, verification, codec, tally and certificates.
//!
//! Run with `cargo bench -p swarmvote-protocol`.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use swarmvote_protocol::{Roster, SignedBallot, SignedProposal, Tally, Verified, Vote, codec};

#[path = "../tests/common/mod.rs"]
mod common;
use common::{ballot, draft, key, roster};

fn signatures(c: &mut Criterion) {
    let r = roster(3, "2/3");
    let p = draft(&r, 0, PAYLOAD).sign(&key(0)).unwrap();
    let b = ballot(&p, 1, Vote::Yes);
    let mut g = c.benchmark_group("signatures");
    g.throughput(Throughput::Elements(1));
    g.bench_function("proposal_sign", |bench| {
        bench.iter(|| black_box(draft(&r, 0, PAYLOAD)).sign(&key(0)).unwrap())
    });
    g.bench_function("proposal_verify", |bench| {
        bench.iter(|| black_box(&p).check(&r).unwrap())
    });
    g.bench_function("ballot_sign", |bench| {
        let k = key(1);
        bench.iter(|| black_box(b.ballot().clone()).sign(&k))
    });
    g.bench_function("ballot_verify", |bench| {
        bench.iter(|| black_box(&b).check(&r).unwrap())
    });
    g.finish();
}

fn codec_bench(c: &mut Criterion) {
    let r = roster(3, "2/3");
    let p = draft(&r, 0, PAYLOAD).sign(&key(0)).unwrap();
    let b = ballot(&p, 1, Vote::Yes);
    let p_bytes = codec::encode(&p).unwrap();
    let b_bytes = codec::encode(&b).unwrap();
    let mut g = c.benchmark_group("codec");
    g.throughput(Throughput::Elements(1));
    g.bench_function("proposal_encode", |bench| {
        bench.iter(|| codec::encode(black_box(&p)).unwrap())
    });
    g.bench_function("proposal_decode", |bench| {
        bench.iter(|| codec::decode::<SignedProposal>(black_box(&p_bytes)).unwrap())
    });
    g.bench_function("ballot_encode", |bench| {
        bench.iter(|| codec::encode(black_box(&b)).unwrap())
    });
    g.bench_function("ballot_decode", |bench| {
        bench.iter(|| codec::decode::<SignedBallot>(black_box(&b_bytes)).unwrap())
    });
    g.finish();
}

fn setup(
    n: u32,
) -> (
    Roster,
    Verified<SignedProposal>,
    Vec<Verified<SignedBallot>>,
) {
    let r = roster(n, "2/3");
    let p = draft(&r, 0, PAYLOAD)
        .sign(&key(0))
        .unwrap()
        .verify(&r)
        .unwrap();
    // Every member votes; a third vote NO, so the tally sees both sides.
    let ballots = (0..n)
        .map(|i| {
            let vote = if i % 3 == 2 { Vote::No } else { Vote::Yes };
            ballot(&p, i, vote).verify(&r).unwrap()
        })
        .collect();
    (r, p, ballots)
}

fn tally(c: &mut Criterion) {
    let mut g = c.benchmark_group("tally");
    for n in [3u32, 10, 100, 1000] {
        let (r, p, ballots) = setup(n);
        g.throughput(Throughput::Elements(u64::from(n)));
        g.bench_with_input(
            BenchmarkId::from_parameter(n),
            &ballots,
            |bench, ballots| {
                bench.iter(|| {
                    let mut t = Tally::new(&r, &p);
                    for b in ballots {
                        t.add(b.clone()).unwrap();
                    }
                    black_box(t.outcome())
                })
            },
        );
    }
    g.finish();
}

fn certificate(c: &mut Criterion) {
    let mut g = c.benchmark_group("certificate_verify");
    for n in [3u32, 10, 100] {
        let (r, p, ballots) = setup(n);
        let mut t = Tally::new(&r, &p);
        for b in ballots {
            t.add(b).unwrap();
        }
        let cert = t.certificate(&p).expect("approved");
        g.throughput(Throughput::Elements(1));
        g.bench_with_input(BenchmarkId::from_parameter(n), &cert, |bench, cert| {
            bench.iter(|| black_box(cert.clone()).verify(&r).unwrap())
        });
    }
    g.finish();
}

/// Messages per second through the engine: decode, verify, tally, decide. 50 proposals
/// in a 5-member swarm, each with 4 ballots from peers.
fn engine(c: &mut Criterion) {
    use swarmvote_protocol::engine::{Config, Engine, MessageTag, PeerTag};
    let r = roster(5, "3/5");
    let mut msgs = Vec::new();
    for k in 0..50u32 {
        let p = draft(&r, 1 + k % 4, &format!("{{\"k\":{k}}}"))
            .sign(&key(1 + k % 4))
            .unwrap();
        msgs.push(codec::encode(&p).unwrap());
        for m in 1..5 {
            msgs.push(codec::encode(&ballot(&p, m, Vote::Yes)).unwrap());
        }
    }
    let now = swarmvote_protocol::UnixMillis(1_700_000_000_000);
    let mut g = c.benchmark_group("engine");
    g.throughput(Throughput::Elements(msgs.len() as u64));
    g.sample_size(20);
    g.bench_function("handle_message", |bench| {
        bench.iter(|| {
            let mut e = Engine::new(r.clone(), key(0), Config::default()).unwrap();
            for m in &msgs {
                e.handle_message(now, PeerTag(1), MessageTag(0), m);
                while e.poll_output().is_some() {}
            }
            black_box(e.tallies_digest())
        })
    });
    g.finish();
}

/// One engine of a large swarm taking a proposal and every other member's ballot, each
/// already checked by an earlier engine (an [`Inbound`]): the work each member's engine
/// does per gossip message in the simulator, which runs this once per node and message.
fn engine_inbound(c: &mut Criterion) {
    use swarmvote_protocol::engine::{Config, Engine, MessageTag, PeerTag};
    use swarmvote_protocol::inbound::Inbound;
    let mut g = c.benchmark_group("engine_inbound");
    g.sample_size(20);
    for n in [100u32, 1000] {
        let r = roster(n, "2/3");
        let p = draft(&r, 1, PAYLOAD).sign(&key(1)).unwrap();
        let mut msgs = vec![Inbound::new(codec::encode(&p).unwrap())];
        for m in 1..n {
            msgs.push(Inbound::new(
                codec::encode(&ballot(&p, m, Vote::Yes)).unwrap(),
            ));
        }
        let now = swarmvote_protocol::UnixMillis(1_700_000_000_000);
        // A first engine decodes and verifies each message once, as in a run.
        let mut first = Engine::new(r.clone(), key(0), Config::default()).unwrap();
        for m in &msgs {
            first.handle_inbound(now, PeerTag(1), MessageTag(0), m);
        }
        g.throughput(Throughput::Elements(u64::from(n)));
        g.bench_with_input(BenchmarkId::from_parameter(n), &msgs, |bench, msgs| {
            bench.iter(|| {
                let mut e = Engine::new(r.clone(), key(0), Config::default()).unwrap();
                for m in msgs {
                    e.handle_inbound(now, PeerTag(1), MessageTag(0), m);
                    while e.poll_output().is_some() {}
                }
                black_box(e)
            })
        });
    }
    g.finish();
}

const PAYLOAD: &str = r#"{"path":"/backup/db","recursive":true}"#;

criterion_group!(
    benches,
    signatures,
    codec_bench,
    tally,
    certificate,
    engine,
    engine_inbound
);
criterion_main!(benches);
