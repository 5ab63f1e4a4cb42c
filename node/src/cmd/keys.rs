//! `swarmvote keygen`: a new voter key.

use std::path::{Path, PathBuf};

use swarmvote_node::keyfile;
use swarmvote_protocol::SecretKey;

/// `swarmvote keygen`'s arguments.
#[derive(clap::Args)]
pub struct KeygenArgs {
    /// Where to write the secret key. An existing file is never overwritten.
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
}

/// Writes a new secret key (mode 0600) and prints its public key.
pub fn keygen(out: &Path) -> anyhow::Result<()> {
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed).map_err(|e| anyhow::anyhow!("no OS randomness: {e}"))?;
    let key = SecretKey::from_seed(seed);
    keyfile::write_secret_key(out, &key)?;
    println!("{}", key.voter_id());
    eprintln!(
        "wrote secret key {} (mode 0600); the line above is its public key",
        out.display()
    );
    Ok(())
}
