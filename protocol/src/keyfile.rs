//! The voter key file format, and the only filesystem access in this crate.
//!
//! A secret key file is UTF-8 text. Blank lines and lines starting with `#` are comments.
//! Exactly one other line must remain:
//!
//! ```text
//! # swarmvote voter secret key: keep private (mode 0600)
//! # public 8a88e3dd7409f195fd52db2d3cba5d72ca6709bf1d94121bf3748801b40f6f5c
//! swarmvote-secret-key-v1 9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60
//! ```
//!
//! The hex after the version word is the 32-byte ed25519 seed (RFC 8032 secret key). The
//! public key is printed as 64 lowercase hex characters and is what a roster lists.
//!
//! The engine, codec and tally never touch files; these helpers exist for the binaries,
//! which need exactly this behaviour: create with mode 0600, never overwrite, and refuse
//! to read a key file that other users can read.

use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::crypto::SecretKey;
use crate::ids::{self, IdError};

/// The version word that starts the key line.
pub const SECRET_KEY_HEADER: &str = "swarmvote-secret-key-v1";

/// Why a key file could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum KeyFileError {
    /// No `swarmvote-secret-key-v1 <hex>` line was found.
    #[error("{path}: no '{SECRET_KEY_HEADER} <hex>' line found")]
    MissingKey {
        /// The file.
        path: PathBuf,
    },
    /// More than one key line.
    #[error("{path}: line {line}: a second key line; a key file holds exactly one key")]
    ExtraLine {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
    },
    /// A line that is neither a comment nor a key line.
    #[error("{path}: line {line}: expected '{SECRET_KEY_HEADER} <64 hex characters>'")]
    Syntax {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
    },
    /// The seed is not 64 hex characters.
    #[error("{path}: line {line}: {source}")]
    Seed {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// What is wrong with the hex.
        source: IdError,
    },
    /// The file exists already; keys are never overwritten.
    #[error("{path}: file exists; refusing to overwrite a key file")]
    Exists {
        /// The file.
        path: PathBuf,
    },
    /// Group or other users may read the file.
    #[error("{path}: permissions {mode:o} let other users read the secret key; run chmod 600")]
    Permissions {
        /// The file.
        path: PathBuf,
        /// The file's permission bits.
        mode: u32,
    },
    /// The operating system refused.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
}

/// Renders the key file text for `key`.
pub fn encode_secret_key(key: &SecretKey) -> String {
    format!(
        "# swarmvote voter secret key: keep private (mode 0600)\n# public {}\n{SECRET_KEY_HEADER} {}\n",
        key.voter_id(),
        hex::encode(key.seed())
    )
}

/// Parses key file text. `path` only labels errors.
pub fn decode_secret_key(text: &str, path: &Path) -> Result<SecretKey, KeyFileError> {
    let mut found = None;
    for (index, raw) in text.lines().enumerate() {
        let line_no = index.saturating_add(1);
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let mut words = line.split_whitespace();
        let (Some(SECRET_KEY_HEADER), Some(hex), None) = (words.next(), words.next(), words.next())
        else {
            return Err(KeyFileError::Syntax {
                path: path.to_owned(),
                line: line_no,
            });
        };
        if found.is_some() {
            return Err(KeyFileError::ExtraLine {
                path: path.to_owned(),
                line: line_no,
            });
        }
        let seed = ids::parse_hex::<32>(hex).map_err(|source| KeyFileError::Seed {
            path: path.to_owned(),
            line: line_no,
            source,
        })?;
        found = Some(SecretKey::from_seed(seed));
    }
    found.ok_or_else(|| KeyFileError::MissingKey {
        path: path.to_owned(),
    })
}

/// Writes a new key file with mode 0600. Fails if `path` exists.
pub fn write_secret_key(path: &Path, key: &SecretKey) -> Result<(), KeyFileError> {
    let io = |source: std::io::Error| KeyFileError::Io {
        path: path.to_owned(),
        source,
    };
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path).map_err(|source| {
        if source.kind() == std::io::ErrorKind::AlreadyExists {
            KeyFileError::Exists {
                path: path.to_owned(),
            }
        } else {
            io(source)
        }
    })?;
    file.write_all(encode_secret_key(key).as_bytes())
        .map_err(io)?;
    file.sync_all().map_err(io)
}

/// Reads a key file, refusing one that group or other users can read.
pub fn read_secret_key(path: &Path) -> Result<SecretKey, KeyFileError> {
    let io = |source: std::io::Error| KeyFileError::Io {
        path: path.to_owned(),
        source,
    };
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path).map_err(io)?.permissions().mode();
        if mode & 0o077 != 0 {
            return Err(KeyFileError::Permissions {
                path: path.to_owned(),
                mode: mode & 0o777,
            });
        }
    }
    let text = std::fs::read_to_string(path).map_err(io)?;
    decode_secret_key(&text, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_round_trips() {
        let key = SecretKey::from_seed([9; 32]);
        let text = encode_secret_key(&key);
        assert!(text.contains(&key.voter_id().to_string()));
        let back = decode_secret_key(&text, Path::new("k")).unwrap();
        assert_eq!(back.seed(), key.seed());
    }

    #[test]
    fn malformed_files_name_the_line() {
        let p = Path::new("voter.key");
        let err = decode_secret_key("# only comments\n", p).unwrap_err();
        assert!(matches!(err, KeyFileError::MissingKey { .. }));
        let err = decode_secret_key("hello world\n", p).unwrap_err();
        assert!(matches!(err, KeyFileError::Syntax { line: 1, .. }), "{err}");
        let err = decode_secret_key(&format!("\n{SECRET_KEY_HEADER} abcd\n"), p).unwrap_err();
        assert!(matches!(err, KeyFileError::Seed { line: 2, .. }), "{err}");
        assert!(err.to_string().starts_with("voter.key: line 2"), "{err}");
        let line = format!("{SECRET_KEY_HEADER} {}\n", "11".repeat(32));
        let err = decode_secret_key(&format!("{line}{line}"), p).unwrap_err();
        assert!(matches!(err, KeyFileError::ExtraLine { line: 2, .. }));
    }

    #[cfg(unix)]
    #[test]
    fn written_0600_never_overwritten_and_checked_on_read() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("voter.key");
        let key = SecretKey::from_seed([3; 32]);
        write_secret_key(&path, &key).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        assert_eq!(read_secret_key(&path).unwrap().seed(), key.seed());

        let other = SecretKey::from_seed([4; 32]);
        assert!(matches!(
            write_secret_key(&path, &other),
            Err(KeyFileError::Exists { .. })
        ));
        assert_eq!(read_secret_key(&path).unwrap().seed(), key.seed());

        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let err = read_secret_key(&path).unwrap_err();
        assert!(matches!(err, KeyFileError::Permissions { mode: 0o644, .. }));
        assert!(err.to_string().contains("chmod 600"));
    }
}
