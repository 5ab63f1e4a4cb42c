//! Benchmarks of the `rego` evaluator: one verdict of the example policy
//! (`configs/policies/swarmvote.rego`) per proposal, as a node evaluates it; a policy
//! that runs into the instruction cap (the most a proposal can cost); and the one-off
//! compilation.
//!
//! Run with `cargo bench -p swarmvote-protocol --bench rego`.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use swarmvote_protocol::policy::{DEFAULT_ENTRYPOINT, RegoPolicy, proposal_input};
use swarmvote_protocol::{Action, SignedProposal};

#[path = "../tests/common/mod.rs"]
mod common;
use common::{draft, key, roster};

const EXAMPLE: &str = include_str!("../../configs/policies/swarmvote.rego");

fn signed(action: &str, payload: &str) -> SignedProposal {
    let r = roster(3, "2/3");
    let mut p = draft(&r, 0, payload);
    p.action = Action::new(action).unwrap();
    p.sign(&key(0)).unwrap()
}

fn rego(c: &mut Criterion) {
    let policy = RegoPolicy::compile("swarmvote.rego", EXAMPLE, DEFAULT_ENTRYPOINT).unwrap();
    let cases = [
        (
            "backup_no",
            signed("fs.delete", r#"{"path":"/backup/db.tar"}"#),
        ),
        (
            "benign_yes",
            signed("service.restart", r#"{"name":"web-1"}"#),
        ),
        (
            "sql_no",
            signed(
                "db.query",
                r#"{"database":"prod","sql":"DROP TABLE users"}"#,
            ),
        ),
    ];
    let mut g = c.benchmark_group("rego");
    g.throughput(Throughput::Elements(1));
    for (name, p) in &cases {
        // Per proposal, as the node does it: build the input, evaluate, read the verdict.
        g.bench_function(format!("decide/{name}"), |b| {
            b.iter(|| {
                let input = proposal_input(p.id(), p.proposal(), Some("node0"));
                black_box(policy.decide(black_box(&input)).unwrap())
            })
        });
    }
    // The worst a policy can cost a node per proposal: running into the instruction cap.
    let looping = RegoPolicy::compile(
        "loop.rego",
        "package swarmvote\ndecision := {\"vote\": \"yes\"} if count([1 | some i in numbers.range(1, 2000); some j in numbers.range(1, 2000); i != j]) > 0\n",
        DEFAULT_ENTRYPOINT,
    )
    .unwrap();
    let (_, p) = &cases[1];
    let input = proposal_input(p.id(), p.proposal(), Some("node0"));
    g.bench_function("decide/at_cap", |b| {
        b.iter(|| black_box(looping.decide(black_box(&input)).unwrap_err()))
    });
    g.bench_function("compile", |b| {
        b.iter(|| {
            RegoPolicy::compile("swarmvote.rego", black_box(EXAMPLE), DEFAULT_ENTRYPOINT).unwrap()
        })
    });
    g.finish();
}

criterion_group!(benches, rego);
criterion_main!(benches);
