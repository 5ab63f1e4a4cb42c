//! The CI smoke run of every fuzz target: each over its seed corpus, then over mutations
//! of it from a fixed-seed generator, so a failure reproduces. Long runs are libFuzzer's
//! (`cargo +nightly fuzz run <target>`, see fuzz/README in the project README).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use swarmvote_fuzz::mutate::{Rng, mutate};
use swarmvote_fuzz::seeds::seeds;
use swarmvote_fuzz::{TARGETS, target};

/// Mutated inputs per target; `SWARMVOTE_FUZZ_SMOKE` overrides it.
const MUTATIONS: usize = 3000;

fn mutations() -> usize {
    std::env::var("SWARMVOTE_FUZZ_SMOKE")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(MUTATIONS)
}

#[test]
fn every_target_has_seeds() {
    for (name, _) in TARGETS {
        assert!(!seeds(name).is_empty(), "{name} has no seeds");
    }
    let mut names: Vec<_> = TARGETS.iter().map(|(n, _)| *n).collect();
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), TARGETS.len(), "target names repeat");
}

/// Each libFuzzer binary in fuzz_targets/ calls the target of its own name.
#[test]
fn every_target_has_a_libfuzzer_binary() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz_targets");
    for (name, _) in TARGETS {
        let text = std::fs::read_to_string(dir.join(format!("{name}.rs")))
            .unwrap_or_else(|e| panic!("fuzz_targets/{name}.rs: {e}"));
        assert!(
            text.contains(&format!("::{name}(")),
            "fuzz_targets/{name}.rs calls another target"
        );
    }
    let manifest = std::fs::read_to_string(dir.with_file_name("Cargo.toml")).unwrap();
    for (name, _) in TARGETS {
        assert!(
            manifest.contains(&format!("name = \"{name}\"")),
            "{name} is not a [[bin]]"
        );
    }
}

/// The seeds reach past the decoders: each is accepted, not refused on its first byte.
/// (A target returns quietly on refusal, so this checks the seeds themselves decode.)
#[test]
fn seeds_decode() {
    use swarmvote_protocol::codec;
    for name in [
        "codec_proposal",
        "codec_ballot",
        "codec_certificate",
        "codec_receipt",
    ] {
        for s in seeds(name) {
            assert!(codec::kind_of(&s).is_ok(), "{name} seed has no envelope");
        }
    }
    for s in seeds("certificate_json") {
        let cert: swarmvote_protocol::Certificate = serde_json::from_slice(&s).unwrap();
        cert.verify(swarmvote_fuzz::fixtures::roster()).unwrap();
    }
}

#[test]
fn every_target_over_seeds_and_mutations() {
    let n = mutations();
    for (i, (name, run)) in TARGETS.iter().enumerate() {
        let corpus = seeds(name);
        for s in &corpus {
            run(s);
        }
        let mut rng = Rng::new(0x5eed_0000 + u64::try_from(i).unwrap());
        for _ in 0..n {
            let input = &corpus[rng.below(corpus.len())];
            let other = &corpus[rng.below(corpus.len())];
            let mutated = mutate(input, other, &mut rng);
            run(&mutated);
        }
        assert!(target(name).is_some());
    }
}
