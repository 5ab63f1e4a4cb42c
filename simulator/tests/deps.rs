//! The model builds without the live mode's stack: with `--no-default-features`,
//! swarmvote-sim's normal dependency tree holds no node crate, libp2p, sled or tokio.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::process::Command;

/// Crates the model must not pull in (each also stands for its `name-*` family).
const LIVE_ONLY: &[&str] = &["swarmvote-node", "libp2p", "sled", "tokio"];

#[test]
fn the_model_builds_without_the_node_stack() {
    let out = Command::new(env!("CARGO"))
        .args([
            "tree",
            "-p",
            "swarmvote-sim",
            "--no-default-features",
            "--edges",
            "normal",
            "--prefix",
            "none",
            "--locked",
            "--offline",
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "cargo tree failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The tree is really there: the model's own core is in it.
    assert!(
        stdout.lines().any(|l| l.starts_with("swarmvote-protocol ")),
        "{stdout}"
    );
    let found: Vec<&str> = stdout
        .lines()
        .filter(|l| LIVE_ONLY.iter().any(|name| l.starts_with(name)))
        .collect();
    assert!(found.is_empty(), "the model depends on {found:?}");
}
