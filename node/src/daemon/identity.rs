//! The node's transport identity: a libp2p ed25519 key, separate from the voter key.
//!
//! Losing it only changes the node's peer id; losing the voter key changes who votes. So
//! it lives in the data dir by default and is created on first start (or by `swarmvote
//! init`). File format: one line `swarmvote-p2p-key-v1 <hex of the protobuf-encoded
//! keypair>`, mode 0600.

use std::io::Write;
use std::path::{Path, PathBuf};

use libp2p::identity::{DecodingError, Keypair};

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
    #[error("{path}: not a swarmvote p2p key ({problem})")]
    Malformed {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        problem: Malformation,
    },
    /// A new key could not be encoded.
    #[error("{path}: {source}")]
    Encode {
        /// The file it was for.
        path: PathBuf,
        /// Why.
        source: DecodingError,
    },
}

/// What is wrong with an identity file.
#[derive(Debug, thiserror::Error)]
pub enum Malformation {
    /// No key line.
    #[error("no '{HEADER} <hex>' line")]
    NoKeyLine,
    /// The key line is not hex.
    #[error("{0}")]
    Hex(#[from] hex::FromHexError),
    /// The bytes are not a libp2p key.
    #[error("{0}")]
    Key(#[from] DecodingError),
}

/// The key in an identity file's text.
fn decode(text: &str) -> Result<Keypair, Malformation> {
    let hex = text
        .lines()
        .find_map(|l| l.trim().strip_prefix(HEADER))
        .ok_or(Malformation::NoKeyLine)?;
    let bytes = hex::decode(hex.trim())?;
    Ok(Keypair::from_protobuf_encoding(&bytes)?)
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
        return decode(&text)
            .map(|key| (key, false))
            .map_err(|problem| IdentityError::Malformed {
                path: path.to_owned(),
                problem,
            });
    }
    let key = Keypair::generate_ed25519();
    let bytes = key
        .to_protobuf_encoding()
        .map_err(|source| IdentityError::Encode {
            path: path.to_owned(),
            source,
        })?;
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
