//! Typed identifiers: digests, voter ids, names and timestamps.
//!
//! Every id that crosses a boundary is a newtype, so a `ProposalId` can never be passed
//! where a `RosterDigest` is expected. Text forms are lowercase hex; binary forms are the
//! raw bytes. Names are validated on construction and on decode.

use std::fmt;
use std::str::FromStr;

use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The largest roster accepted. It bounds per-proposal state and certificate size, so
/// it lives here, below both the roster and the codec.
pub const MAX_MEMBERS: usize = 16_384;

/// Why a textual id or name was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    /// The text is not `expected` hex characters.
    #[error("expected {expected} hex characters, found {found:?}")]
    BadHex {
        /// Number of hex characters wanted.
        expected: usize,
        /// The text that was given (truncated to 80 characters).
        found: String,
    },
    /// A name is empty or longer than its limit.
    #[error("{what} must be 1 to {max} bytes long, found {len}")]
    Length {
        /// Which kind of name.
        what: &'static str,
        /// Its upper bound in bytes.
        max: usize,
        /// The length that was given.
        len: usize,
    },
    /// A name contains a character outside its alphabet.
    #[error("{what} {value:?} contains {ch:?}; allowed are {allowed}")]
    Character {
        /// Which kind of name.
        what: &'static str,
        /// The offending value.
        value: String,
        /// The first character that is not allowed.
        ch: char,
        /// The allowed alphabet, in words.
        allowed: &'static str,
    },
}

fn truncate_for_error(s: &str) -> String {
    s.chars().take(80).collect()
}

/// Parses exactly `N` bytes of lowercase or uppercase hex.
pub(crate) fn parse_hex<const N: usize>(s: &str) -> Result<[u8; N], IdError> {
    let mut out = [0u8; N];
    hex::decode_to_slice(s, &mut out).map_err(|_| IdError::BadHex {
        expected: N.saturating_mul(2),
        found: truncate_for_error(s),
    })?;
    Ok(out)
}

/// Serializes fixed bytes as hex for humans and as a raw tuple for bincode.
pub(crate) fn serialize_fixed<S: Serializer, const N: usize>(
    bytes: &[u8; N],
    s: S,
) -> Result<S::Ok, S::Error> {
    use serde::ser::SerializeTuple;
    if s.is_human_readable() {
        s.serialize_str(&hex::encode(bytes))
    } else {
        let mut t = s.serialize_tuple(N)?;
        for b in bytes {
            t.serialize_element(b)?;
        }
        t.end()
    }
}

/// The inverse of [`serialize_fixed`].
pub(crate) fn deserialize_fixed<'de, D: Deserializer<'de>, const N: usize>(
    d: D,
) -> Result<[u8; N], D::Error> {
    struct Fixed<const N: usize>;
    impl<'de, const N: usize> Visitor<'de> for Fixed<N> {
        type Value = [u8; N];
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            write!(f, "{N} bytes, or {} hex characters", N.saturating_mul(2))
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
            parse_hex::<N>(v).map_err(E::custom)
        }
        fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
            let mut out = [0u8; N];
            for (i, slot) in out.iter_mut().enumerate() {
                *slot = seq
                    .next_element()?
                    .ok_or_else(|| de::Error::invalid_length(i, &self))?;
            }
            Ok(out)
        }
    }
    if d.is_human_readable() {
        d.deserialize_str(Fixed::<N>)
    } else {
        d.deserialize_tuple(N, Fixed::<N>)
    }
}

/// A digest as four big-endian words: they order exactly as the bytes do, and comparing
/// them takes a few instructions where a byte-array comparison calls `memcmp`. Ids
/// are compared on every roster search and map lookup of the hot path (a roster search in
/// a 1,000-member swarm is ten comparisons).
fn words(bytes: &[u8; 32]) -> [u64; 4] {
    let (chunks, _) = bytes.as_chunks::<8>();
    let mut out = [0u64; 4];
    for (w, c) in out.iter_mut().zip(chunks) {
        *w = u64::from_be_bytes(*c);
    }
    out
}

macro_rules! digest_id {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash)]
        pub struct $name([u8; 32]);

        impl Ord for $name {
            fn cmp(&self, other: &Self) -> std::cmp::Ordering {
                words(&self.0).cmp(&words(&other.0))
            }
        }

        impl PartialOrd for $name {
            fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
                Some(self.cmp(other))
            }
        }

        impl $name {
            /// Wraps raw bytes.
            pub const fn from_bytes(bytes: [u8; 32]) -> Self {
                Self(bytes)
            }

            /// The raw bytes.
            pub const fn as_bytes(&self) -> &[u8; 32] {
                &self.0
            }

            /// The first 8 hex characters, for log lines.
            pub fn short(&self) -> String {
                hex::encode(self.0.get(..4).unwrap_or_default())
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&hex::encode(self.0))
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!(stringify!($name), "({})"), self.short())
            }
        }

        impl FromStr for $name {
            type Err = IdError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                parse_hex::<32>(s).map(Self)
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                serialize_fixed(&self.0, s)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                deserialize_fixed::<D, 32>(d).map(Self)
            }
        }
    };
}

digest_id!(
    /// The id of a proposal: SHA-256 of its domain-separated signing bytes, so the id commits
    /// to every field, the payload included.
    #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(value_type = String, pattern = "^[0-9a-fA-F]{64}$"))]
    ProposalId
);
digest_id!(
    /// SHA-256 of a roster's canonical encoding. Proposals commit to it.
    #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(value_type = String, pattern = "^[0-9a-fA-F]{64}$"))]
    RosterDigest
);
digest_id!(
    /// A voter, named by its ed25519 public key bytes. Whether the bytes are a valid key
    /// and a member is decided by the [`Roster`](crate::roster::Roster), never here.
    #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(value_type = String, pattern = "^[0-9a-fA-F]{64}$"))]
    VoterId
);

digest_id!(
    /// SHA-256 of a certificate's domain-separated canonical encoding (see
    /// [`Certificate::digest`](crate::certificate::Certificate::digest)). An execution
    /// receipt names the certificate it ran under by it.
    #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(value_type = String, pattern = "^[0-9a-fA-F]{64}$"))]
    CertificateDigest
);
digest_id!(
    /// SHA-256 of a whole output stream of an executed command (stdout or stderr).
    #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(value_type = String, pattern = "^[0-9a-fA-F]{64}$"))]
    OutputDigest
);

macro_rules! name_type {
    ($(#[$meta:meta])* $name:ident, $what:literal, $max:expr, $allowed_words:literal, $allowed:expr) => {
        $(#[$meta])*
        #[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            /// Longest accepted value, in bytes.
            pub const MAX_LEN: usize = $max;

            /// Validates and wraps a value.
            pub fn new(value: impl Into<String>) -> Result<Self, IdError> {
                let value = value.into();
                let len = value.len();
                if len == 0 || len > Self::MAX_LEN {
                    return Err(IdError::Length { what: $what, max: Self::MAX_LEN, len });
                }
                let allowed: fn(char) -> bool = $allowed;
                if let Some(ch) = value.chars().find(|c| !allowed(*c)) {
                    return Err(IdError::Character {
                        what: $what,
                        value: truncate_for_error(&value),
                        ch,
                        allowed: $allowed_words,
                    });
                }
                Ok(Self(value))
            }

            /// The value as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<String> for $name {
            type Error = IdError;
            fn try_from(value: String) -> Result<Self, Self::Error> {
                Self::new(value)
            }
        }

        impl From<$name> for String {
            fn from(value: $name) -> String {
                value.0
            }
        }

        impl FromStr for $name {
            type Err = IdError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::new(s)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{:?}", self.0)
            }
        }
    };
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')
}

name_type!(
    /// The name of a swarm. Every signature commits to it, so a message signed for one
    /// swarm never verifies in another.
    #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(value_type = String, pattern = "^[A-Za-z0-9._-]{1,64}$"))]
    SwarmId,
    "swarm id",
    64,
    "ASCII letters, digits, '.', '_' and '-'",
    is_name_char
);
name_type!(
    /// A member's human-readable name in the roster.
    #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(value_type = String, pattern = "^[A-Za-z0-9._-]{1,64}$"))]
    MemberName,
    "member name",
    64,
    "ASCII letters, digits, '.', '_' and '-'",
    is_name_char
);
name_type!(
    /// The name of a threshold tier in a roster: a rule's name, `default` or
    /// `roster-change`. Certificates record it.
    #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(value_type = String, pattern = "^[A-Za-z0-9._-]{1,64}$"))]
    TierName,
    "tier name",
    64,
    "ASCII letters, digits, '.', '_' and '-'",
    is_name_char
);
name_type!(
    /// The name of a group of members in a roster, such as `security`.
    #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(value_type = String, pattern = "^[A-Za-z0-9._-]{1,64}$"))]
    GroupName,
    "group name",
    64,
    "ASCII letters, digits, '.', '_' and '-'",
    is_name_char
);
name_type!(
    /// What a proposal asks to do, such as `fs.delete` or `k8s/scale`.
    #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(value_type = String, pattern = "^[A-Za-z0-9._:/-]{1,64}$"))]
    Action,
    "action",
    64,
    "ASCII letters, digits, '.', '_', '-', ':' and '/'",
    |c| is_name_char(c) || matches!(c, ':' | '/')
);

/// A point in time: milliseconds since the Unix epoch. The core never reads a clock;
/// callers pass `now` in.
#[derive(
    Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Debug, Serialize, Deserialize,
)]
#[serde(transparent)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct UnixMillis(pub u64);

impl UnixMillis {
    /// `self + ms`, or `None` on overflow.
    pub fn checked_add(self, ms: u64) -> Option<Self> {
        self.0.checked_add(ms).map(Self)
    }

    /// Milliseconds from `earlier` to `self`, zero if `earlier` is later.
    pub fn saturating_since(self, earlier: UnixMillis) -> u64 {
        self.0.saturating_sub(earlier.0)
    }
}

impl fmt::Display for UnixMillis {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}ms", self.0)
    }
}

/// Caller-supplied randomness that makes two otherwise equal proposals distinct.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(value_type = String, pattern = "^[0-9a-fA-F]{32}$"))]
pub struct Nonce(pub [u8; 16]);

impl fmt::Debug for Nonce {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Nonce({})", hex::encode(self.0))
    }
}

impl Serialize for Nonce {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        serialize_fixed(&self.0, s)
    }
}

impl<'de> Deserialize<'de> for Nonce {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        deserialize_fixed::<D, 16>(d).map(Self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        // Roster order, map order and every tie-break follow the bytes: the word-wise
        // comparison must agree with comparing the byte arrays.
        #[test]
        fn ids_order_as_their_bytes(a in any::<[u8; 32]>(), b in any::<[u8; 32]>(), at in 0usize..32) {
            let near = {
                // `a` with at most byte `at` changed: each position, in every word, gets
                // to decide an order.
                let mut n = a;
                if let Some(x) = n.get_mut(at) {
                    *x = b[at];
                }
                n
            };
            for (x, y) in [(a, b), (a, near), (a, a)] {
                prop_assert_eq!(VoterId::from_bytes(x).cmp(&VoterId::from_bytes(y)), x.cmp(&y));
                prop_assert_eq!(ProposalId::from_bytes(x).partial_cmp(&ProposalId::from_bytes(y)), Some(x.cmp(&y)));
            }
        }
    }

    #[test]
    fn ids_round_trip_through_hex() {
        let id = ProposalId::from_bytes([0xab; 32]);
        let text = id.to_string();
        assert_eq!(text.len(), 64);
        assert_eq!(text.parse::<ProposalId>().unwrap(), id);
        assert_eq!(id.short(), "abababab");
        assert!(matches!(
            "abc".parse::<ProposalId>(),
            Err(IdError::BadHex { expected: 64, .. })
        ));
    }

    #[test]
    fn names_are_validated() {
        assert!(SwarmId::new("ops-prod.eu_1").is_ok());
        assert!(matches!(SwarmId::new(""), Err(IdError::Length { .. })));
        assert!(matches!(
            SwarmId::new("a".repeat(65)),
            Err(IdError::Length { len: 65, .. })
        ));
        let err = MemberName::new("bad name").unwrap_err();
        assert!(err.to_string().contains("' '"), "{err}");
        assert!(Action::new("fs.delete").is_ok());
        assert!(Action::new("k8s/scale:replicas").is_ok());
        assert!(Action::new("rm -rf").is_err());
    }

    #[test]
    fn json_forms_are_readable() {
        let id = VoterId::from_bytes([1; 32]);
        let json = serde_json::to_string(&id).unwrap();
        assert_eq!(json, format!("\"{}\"", "01".repeat(32)));
        assert_eq!(serde_json::from_str::<VoterId>(&json).unwrap(), id);
        assert!(serde_json::from_str::<SwarmId>("\"no spaces\"").is_err());
    }
}
