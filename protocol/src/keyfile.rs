//! The voter key file format: rendering and parsing its text. Pure: reading and writing
//! the file (mode 0600, never overwrite, refuse a file others can read) is the node's.
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

use crate::crypto::SecretKey;
use crate::ids::{self, IdError};

/// The version word that starts the key line.
pub const SECRET_KEY_HEADER: &str = "swarmvote-secret-key-v1";

/// Why key file text does not hold one key. The file's reader prefixes its path.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyFormatError {
    /// No `swarmvote-secret-key-v1 <hex>` line was found.
    #[error("no '{SECRET_KEY_HEADER} <hex>' line found")]
    MissingKey,
    /// More than one key line.
    #[error("line {line}: a second key line; a key file holds exactly one key")]
    ExtraLine {
        /// 1-based line number.
        line: usize,
    },
    /// A line that is neither a comment nor a key line.
    #[error("line {line}: expected '{SECRET_KEY_HEADER} <64 hex characters>'")]
    Syntax {
        /// 1-based line number.
        line: usize,
    },
    /// The seed is not 64 hex characters.
    #[error("line {line}: {source}")]
    Seed {
        /// 1-based line number.
        line: usize,
        /// What is wrong with the hex.
        source: IdError,
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

/// Parses key file text.
pub fn decode_secret_key(text: &str) -> Result<SecretKey, KeyFormatError> {
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
            return Err(KeyFormatError::Syntax { line: line_no });
        };
        if found.is_some() {
            return Err(KeyFormatError::ExtraLine { line: line_no });
        }
        let seed = ids::parse_hex::<32>(hex).map_err(|source| KeyFormatError::Seed {
            line: line_no,
            source,
        })?;
        found = Some(SecretKey::from_seed(seed));
    }
    found.ok_or(KeyFormatError::MissingKey)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_round_trips() {
        let key = SecretKey::from_seed([9; 32]);
        let text = encode_secret_key(&key);
        assert!(text.contains(&key.voter_id().to_string()));
        let back = decode_secret_key(&text).unwrap();
        assert_eq!(back.seed(), key.seed());
    }

    #[test]
    fn malformed_text_names_the_line() {
        let err = decode_secret_key("# only comments\n").unwrap_err();
        assert!(matches!(err, KeyFormatError::MissingKey));
        let err = decode_secret_key("hello world\n").unwrap_err();
        assert!(matches!(err, KeyFormatError::Syntax { line: 1 }), "{err}");
        let err = decode_secret_key(&format!("\n{SECRET_KEY_HEADER} abcd\n")).unwrap_err();
        assert!(matches!(err, KeyFormatError::Seed { line: 2, .. }), "{err}");
        assert!(err.to_string().starts_with("line 2"), "{err}");
        let line = format!("{SECRET_KEY_HEADER} {}\n", "11".repeat(32));
        let err = decode_secret_key(&format!("{line}{line}")).unwrap_err();
        assert!(matches!(err, KeyFormatError::ExtraLine { line: 2 }));
    }
}
