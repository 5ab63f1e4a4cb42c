//! The node's transport identity: a libp2p ed25519 key, separate from the voter key.
//!
//! Losing it only changes the node's peer id; losing the voter key changes who votes. So
//! it lives in the data dir by default and is created on first start (or by `swarmvote
//! init`). File format: one line `swarmvote-p2p-key-v1 <hex of the protobuf-encoded
//! keypair>`, mode 0600.

use std::io::Write;
use std::path::{Path, PathBuf};

use libp2p::identity::Keypair;

const HEADER: &str = "swarmvote-p2p-key-v1";

/// Why the identity file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    /// The file system refused.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The file is not an identity file.
    #[error("{path}: not a swarmvote p2p key ({detail})")]
    Malformed {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        detail: String,
    },
}

/// Reads the identity at `path`, creating it (mode 0600) if it does not exist.
/// Returns the keypair and whether it was created now.
pub fn load_or_create(path: &Path) -> Result<(Keypair, bool), IdentityError> {
    let io = |source| IdentityError::Io {
        path: path.to_owned(),
        source,
    };
    if path.exists() {
        let text = std::fs::read_to_string(path).map_err(io)?;
        let malformed = |detail: String| IdentityError::Malformed {
            path: path.to_owned(),
            detail,
        };
        let hex = text
            .lines()
            .find_map(|l| l.trim().strip_prefix(HEADER))
            .ok_or_else(|| malformed(format!("no '{HEADER} <hex>' line")))?;
        let bytes = hex::decode(hex.trim()).map_err(|e| malformed(e.to_string()))?;
        let key = Keypair::from_protobuf_encoding(&bytes).map_err(|e| malformed(e.to_string()))?;
        return Ok((key, false));
    }
    let key = Keypair::generate_ed25519();
    let bytes = key
        .to_protobuf_encoding()
        .map_err(|e| io(std::io::Error::other(e.to_string())))?;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(io)?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path).map_err(io)?;
    writeln!(
        file,
        "# swarmvote transport identity (peer id {})\n{HEADER} {}",
        key.public().to_peer_id(),
        hex::encode(bytes)
    )
    .map_err(io)?;
    file.sync_all().map_err(io)?;
    Ok((key, true))
}
