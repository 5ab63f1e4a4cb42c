//! Voter key files on disk, for the daemon and the CLI: created with mode 0600, never
//! overwritten, and refused when other users can read them. The text format is the
//! protocol's [`swarmvote_protocol::keyfile`].

use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};

use swarmvote_protocol::SecretKey;
use swarmvote_protocol::keyfile::{KeyFormatError, decode_secret_key, encode_secret_key};

/// Why a key file could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum KeyFileError {
    /// The text does not hold exactly one key.
    #[error("{path}: {source}")]
    Format {
        /// The file.
        path: PathBuf,
        /// What is wrong with its text.
        source: KeyFormatError,
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
    decode_secret_key(&text).map_err(|source| KeyFileError::Format {
        path: path.to_owned(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn format_errors_name_the_file_and_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("voter.key");
        std::fs::write(&path, "\nswarmvote-secret-key-v1 abcd\n").unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        }
        let err = read_secret_key(&path).unwrap_err();
        assert!(matches!(
            err,
            KeyFileError::Format {
                source: KeyFormatError::Seed { line: 2, .. },
                ..
            }
        ));
        assert!(
            err.to_string()
                .starts_with(&format!("{}: line 2", path.display())),
            "{err}"
        );
    }
}
