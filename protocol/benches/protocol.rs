//! Benchmarks of the protocol core: signing, verification, codec, tally and certificates.
//!
//! Run with `cargo bench -p swarmvote-protocol`.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use swarmvote_protocol::{
    Action, Ballot, MemberName, Nonce, Payload, Proposal, Roster, SecretKey, SignedBallot,
    SignedProposal, SwarmId, Tally, UnixMillis, Verified, Vote, codec,
};

fn key(i: u32) -> SecretKey {
    let mut seed = [0u8; 32];
    seed[..4].copy_from_slice(&i.to_le_bytes());
    seed[31] = 0xbe;
    SecretKey::from_seed(seed)
}

fn roster(n: u32) -> Roster {
    Roster::new(
        SwarmId::new("bench").unwrap(),
        "2/3".parse().unwrap(),
        (0..n).map(|i| {
            (
                MemberName::new(format!("m{i}")).unwrap(),
                key(i).public().unwrap(),
            )
        }),
    )
    .unwrap()
}

fn draft(r: &Roster) -> Proposal {
    Proposal {
        swarm: r.swarm().clone(),
        roster: r.digest(),
        proposer: key(0).voter_id(),
        action: Action::new("fs.delete").unwrap(),
        payload: Payload::from_json_text(r#"{"path":"/backup/db","recursive":true}"#).unwrap(),
        created_at: UnixMillis(1_767_225_600_000),
        expires_at: UnixMillis(1_767_225_660_000),
        nonce: Nonce([1; 16]),
    }
}

fn ballot(p: &SignedProposal, i: u32, vote: Vote) -> SignedBallot {
    Ballot {
        swarm: p.proposal().swarm.clone(),
        proposal: p.id(),
        voter: key(i).voter_id(),
        vote,
        reason: None,
    }
    .sign(&key(i))
}

fn signatures(c: &mut Criterion) {
    let r = roster(3);
    let p = draft(&r).sign(&key(0)).unwrap();
    let b = ballot(&p, 1, Vote::Yes);
    let mut g = c.benchmark_group("signatures");
    g.throughput(Throughput::Elements(1));
    g.bench_function("proposal_sign", |bench| {
        bench.iter(|| black_box(draft(&r)).sign(&key(0)).unwrap())
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
    let r = roster(3);
    let p = draft(&r).sign(&key(0)).unwrap();
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
    let r = roster(n);
    let p = draft(&r).sign(&key(0)).unwrap().verify(&r).unwrap();
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

criterion_group!(benches, signatures, codec_bench, tally, certificate);
criterion_main!(benches);
