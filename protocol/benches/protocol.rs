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

/// One tally of `ballots` from empty to its outcome, per iteration.
fn bench_tally(
    g: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    n: u32,
    r: &Roster,
    p: &Verified<SignedProposal>,
    ballots: &[Verified<SignedBallot>],
) {
    g.throughput(Throughput::Elements(u64::from(n)));
    g.bench_with_input(BenchmarkId::from_parameter(n), ballots, |bench, ballots| {
        bench.iter(|| {
            let mut t = Tally::new(r, p);
            for b in ballots {
                t.add(b.clone()).unwrap();
            }
            black_box(t.outcome())
        })
    });
}

fn tally(c: &mut Criterion) {
    let mut g = c.benchmark_group("tally");
    for n in [3u32, 10, 100, 1000] {
        let (r, p, ballots) = setup(n);
        bench_tally(&mut g, n, &r, &p, &ballots);
    }
    g.finish();
}

/// The same tallies under a tier with four-eyes and a group requirement (half the
/// members), against the plain rule above: the cost of tiers on the hot path.
fn tally_tiered(c: &mut Criterion) {
    let mut g = c.benchmark_group("tally_tiered");
    for n in [3u32, 100, 1000] {
        let plain = roster(n, "2/3");
        let mut doc = plain.to_document();
        let half: Vec<String> = (0..n.div_ceil(2)).map(|i| format!("m{i}")).collect();
        doc.groups.insert("security".into(), half);
        doc.rules.push(
            toml::from_str(
                "name = \"deletes\"\naction = \"fs.*\"\nfour_eyes = true\nrequire = [{ group = \"security\", yes = 1 }]",
            )
            .unwrap(),
        );
        let r = Roster::from_document(&doc).unwrap();
        let p = draft(&r, 0, PAYLOAD)
            .sign(&key(0))
            .unwrap()
            .verify(&r)
            .unwrap();
        let ballots: Vec<Verified<SignedBallot>> = (0..n)
            .map(|i| {
                let vote = if i % 3 == 2 { Vote::No } else { Vote::Yes };
                ballot(&p, i, vote).verify(&r).unwrap()
            })
            .collect();
        bench_tally(&mut g, n, &r, &p, &ballots);
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

/// The simulator's access pattern: a swarm of 1,000 engines, each taking a proposal and
/// then every member's ballot, with the million (ballot, engine) deliveries in a seeded
/// random order, as gossip brings them. Each step finds a cold engine, so this measures
/// the engine's cache-miss cost per message, which the in-cache `engine_inbound` hides.
/// Throughput is per delivery; only the ballot deliveries are timed.
// The bench times its own loop (the engines' set-up is left out); the core never reads
// the clock, which is what the lint guards.
#[allow(clippy::disallowed_methods)]
fn engine_swarm(c: &mut Criterion) {
    use std::time::{Duration, Instant};
    use swarmvote_protocol::SignatureCache;
    use swarmvote_protocol::engine::{Config, Engine, MessageTag, PeerTag};
    use swarmvote_protocol::inbound::Inbound;
    const N: u32 = 1000;
    let r = roster(N, "2/3");
    let now = swarmvote_protocol::UnixMillis(1_700_000_000_000);
    let sigs = SignatureCache::new(1 << 16);
    let p = draft(&r, 1, PAYLOAD).sign(&key(1)).unwrap();
    let proposal = Inbound::new(codec::encode(&p).unwrap());
    let ballots: Vec<Inbound> = (0..N)
        .map(|m| Inbound::new(codec::encode(&ballot(&p, m, Vote::Yes)).unwrap()))
        .collect();
    // One engine checks every message first, as the first receiver does in a run.
    let mut first = Engine::new(r.clone(), key(0), Config::default())
        .unwrap()
        .with_signature_cache(sigs.clone());
    for m in std::iter::once(&proposal).chain(&ballots) {
        first.handle_inbound(now, PeerTag(1), MessageTag(0), m);
    }
    // (ballot, engine) pairs, shuffled by a fixed splitmix64 stream.
    let mut order: Vec<(u32, u32)> = (0..N).flat_map(|b| (0..N).map(move |e| (b, e))).collect();
    let mut state = 0x5eed_u64;
    for i in (1..order.len()).rev() {
        state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
        order.swap(i, (z % (i as u64 + 1)) as usize);
    }
    let mut g = c.benchmark_group("engine_swarm");
    g.sample_size(10);
    g.throughput(Throughput::Elements(order.len() as u64));
    g.bench_function(BenchmarkId::from_parameter(N), |bench| {
        bench.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let mut engines: Vec<Engine> = (0..N)
                    .map(|i| {
                        let mut e = Engine::new(r.clone(), key(i), Config::default())
                            .unwrap()
                            .with_signature_cache(sigs.clone());
                        e.handle_inbound(now, PeerTag(1), MessageTag(0), &proposal);
                        while e.poll_output().is_some() {}
                        e
                    })
                    .collect();
                let start = Instant::now();
                for &(b, e) in &order {
                    let e = &mut engines[e as usize];
                    e.handle_inbound(now, PeerTag(1), MessageTag(0), &ballots[b as usize]);
                    while e.poll_output().is_some() {}
                    black_box(e.poll_timeout());
                }
                total += start.elapsed();
                black_box(engines);
            }
            total
        })
    });
    g.finish();
}

const PAYLOAD: &str = r#"{"path":"/backup/db","recursive":true}"#;

criterion_group!(
    benches,
    signatures,
    tally_tiered,
    codec_bench,
    tally,
    certificate,
    engine,
    engine_inbound,
    engine_swarm
);
criterion_main!(benches);
