//! Writes every target's seed corpus to `fuzz/corpus/<target>/` (or under the directory
//! given as the first argument), where `cargo fuzz run <target>` reads and grows it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::PathBuf;

use swarmvote_fuzz::TARGETS;
use swarmvote_fuzz::seeds::seeds;

fn main() -> std::io::Result<()> {
    let root = std::env::args_os().nth(1).map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("corpus"),
        PathBuf::from,
    );
    for (name, _) in TARGETS {
        let dir = root.join(name);
        std::fs::create_dir_all(&dir)?;
        for (i, seed) in seeds(name).iter().enumerate() {
            std::fs::write(dir.join(format!("seed-{i:02}")), seed)?;
        }
        println!("{}: {} seeds", dir.display(), seeds(name).len());
    }
    Ok(())
}
