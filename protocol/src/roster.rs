//! The roster: who may vote in a swarm, and how many YES votes approve.
//!
//! A roster is written as TOML:
//!
//! ```toml
//! swarm_id = "ops-prod"
//! quorum = "2/3"
//!
//! [[members]]
//! name = "alice"
//! key = "<64 hex characters: the member's ed25519 public key>"
//! ```
//!
//! Members are kept sorted by key, so the digest does not depend on the order they are
//! listed in. The digest is SHA-256 over a domain tag and the bincode encoding of
//! `(swarm_id, quorum numerator, quorum denominator, [(key, name)...])`.
//!
//! Each member also has a [`MemberIndex`]: its position in that key order. Per-member
//! state (the tally's ballot slots) is a dense vector indexed by it, so a lookup is one
//! binary search over a contiguous sorted slice of ids rather than a tree walk.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::crypto::{self, Domain, KeyError, PublicKey};
use crate::ids::{IdError, MemberName, RosterDigest, SwarmId, VoterId};
use crate::quorum::{Quorum, QuorumError};

pub use crate::ids::MAX_MEMBERS;

/// Why a roster was refused. Errors about one member name it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RosterError {
    /// The TOML does not parse, or has unknown or missing fields.
    #[error("roster TOML: {message}")]
    Toml {
        /// The parser's message, with line and column.
        message: String,
    },
    /// The swarm id is not a valid name.
    #[error("swarm_id: {0}")]
    SwarmId(IdError),
    /// The quorum is malformed or out of range.
    #[error("quorum: {0}")]
    Quorum(QuorumError),
    /// No members.
    #[error("the roster has no members")]
    Empty,
    /// More than [`MAX_MEMBERS`].
    #[error("the roster has {count} members; at most {max} are supported")]
    TooManyMembers {
        /// Members listed.
        count: usize,
        /// The limit.
        max: usize,
    },
    /// A member's name is not valid.
    #[error("member #{index}: name: {source}")]
    InvalidName {
        /// 1-based position in the list.
        index: usize,
        /// What is wrong with it.
        source: IdError,
    },
    /// Two members share a name.
    #[error("member {name:?} is listed twice")]
    DuplicateName {
        /// The repeated name.
        name: MemberName,
    },
    /// Two members share a key.
    #[error("members {first:?} and {second:?} have the same key")]
    DuplicateKey {
        /// The member listed first.
        first: MemberName,
        /// The member listed later.
        second: MemberName,
    },
    /// A member's key is invalid or weak.
    #[error("member {name:?}: key: {source}")]
    InvalidKey {
        /// The member.
        name: String,
        /// Why the key was refused.
        source: KeyError,
    },
}

/// One voter in the roster.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Member {
    /// Its name, for people and logs.
    pub name: MemberName,
    /// Its validated public key.
    pub key: PublicKey,
}

/// A member's position in the roster's key order: `0..n`, dense.
///
/// Only a [`Roster`] hands these out, so an index is always below that roster's `n`.
/// Index order is key order: sorting by index sorts by [`VoterId`].
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct MemberIndex(usize);

impl MemberIndex {
    /// The index as a `usize`, for indexing per-member vectors.
    pub fn get(self) -> usize {
        self.0
    }
}

/// The sorted member ids, shared by a roster and every tally made from it.
pub(crate) type Voters = Arc<[VoterId]>;

/// Where `voter` sits in `voters` (sorted ascending), if it is there.
pub(crate) fn index_in(voters: &[VoterId], voter: &VoterId) -> Option<MemberIndex> {
    voters.binary_search(voter).ok().map(MemberIndex)
}

/// Like [`index_in`], trusting `hint` only if it names `voter` there. The engine finds a
/// ballot's voter once and passes the index on to the checks and the tally: a binary
/// search of a 1,000-member roster is ten key comparisons, and a ballot used to pay three.
pub(crate) fn index_hinted(
    voters: &[VoterId],
    voter: &VoterId,
    hint: Option<MemberIndex>,
) -> Option<MemberIndex> {
    match hint {
        Some(h) if voters.get(h.0) == Some(voter) => Some(h),
        _ => index_in(voters, voter),
    }
}

/// A validated roster with its digest and required YES count.
#[derive(Clone, PartialEq, Eq)]
pub struct Roster {
    swarm: SwarmId,
    quorum: Quorum,
    /// Member ids in ascending order; position `i` is [`MemberIndex`] `i`. Shared: an
    /// engine per member (the simulator) or per task clones the roster, and each tally
    /// keeps a handle to map ids to slots.
    voters: Voters,
    /// `members[i]` belongs to `voters[i]`. Shared for the same reason: decompressed
    /// member keys are the bulk of a roster.
    members: Arc<[Member]>,
    required: u32,
    digest: RosterDigest,
}

impl fmt::Debug for Roster {
    // The shape the map-backed roster printed: members as an id -> member map.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Roster")
            .field("swarm", &self.swarm)
            .field("quorum", &self.quorum)
            .field("members", &DebugMembers(self))
            .field("required", &self.required)
            .field("digest", &self.digest)
            .finish()
    }
}

struct DebugMembers<'a>(&'a Roster);

impl fmt::Debug for DebugMembers<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.0.members()).finish()
    }
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RosterFile {
    swarm_id: String,
    quorum: toml::Value,
    #[serde(default)]
    members: Vec<MemberFile>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct MemberFile {
    name: String,
    key: String,
}

#[derive(Serialize)]
struct CanonicalRoster<'a> {
    swarm: &'a SwarmId,
    num: u64,
    den: u64,
    members: Vec<(&'a VoterId, &'a MemberName)>,
}

impl Roster {
    /// Validates a roster from its parts.
    pub fn new(
        swarm: SwarmId,
        quorum: Quorum,
        members: impl IntoIterator<Item = (MemberName, PublicKey)>,
    ) -> Result<Self, RosterError> {
        let mut by_key: BTreeMap<VoterId, Member> = BTreeMap::new();
        let mut names: BTreeSet<MemberName> = BTreeSet::new();
        for (name, key) in members {
            if by_key.len() >= MAX_MEMBERS {
                return Err(RosterError::TooManyMembers {
                    count: by_key.len().saturating_add(1),
                    max: MAX_MEMBERS,
                });
            }
            if !names.insert(name.clone()) {
                return Err(RosterError::DuplicateName { name });
            }
            if let Some(first) = by_key.get(&key.id()) {
                return Err(RosterError::DuplicateKey {
                    first: first.name.clone(),
                    second: name,
                });
            }
            by_key.insert(key.id(), Member { name, key });
        }
        if by_key.is_empty() {
            return Err(RosterError::Empty);
        }
        let n = u32::try_from(by_key.len()).unwrap_or(u32::MAX);
        let required = quorum.required(n);
        let canonical = CanonicalRoster {
            swarm: &swarm,
            num: quorum.numerator(),
            den: quorum.denominator(),
            members: by_key.iter().map(|(id, m)| (id, &m.name)).collect(),
        };
        let body = crate::codec::encode_body(&canonical);
        let digest = RosterDigest::from_bytes(crypto::sha256(&crypto::signing_bytes(
            Domain::Roster,
            &swarm,
            &body,
        )));
        // The map iterates in key order, so both slices come out sorted and aligned.
        let (voters, members): (Vec<VoterId>, Vec<Member>) = by_key.into_iter().unzip();
        Ok(Self {
            swarm,
            quorum,
            voters: voters.into(),
            members: members.into(),
            required,
            digest,
        })
    }

    /// Parses and validates roster TOML.
    pub fn from_toml(text: &str) -> Result<Self, RosterError> {
        let file: RosterFile = toml::from_str(text).map_err(|e| RosterError::Toml {
            message: e.to_string().trim_end().to_owned(),
        })?;
        let swarm = SwarmId::new(file.swarm_id).map_err(RosterError::SwarmId)?;
        let quorum_text = match file.quorum {
            toml::Value::String(s) => s,
            toml::Value::Integer(i) => i.to_string(),
            other => {
                return Err(RosterError::Quorum(QuorumError::Malformed {
                    input: other.to_string(),
                    why: "a TOML float is not exact; quote it",
                }));
            }
        };
        let quorum: Quorum = quorum_text.parse().map_err(RosterError::Quorum)?;
        if file.members.len() > MAX_MEMBERS {
            return Err(RosterError::TooManyMembers {
                count: file.members.len(),
                max: MAX_MEMBERS,
            });
        }
        let mut members = Vec::with_capacity(file.members.len());
        for (i, m) in file.members.into_iter().enumerate() {
            let index = i.saturating_add(1);
            let name = MemberName::new(m.name.clone())
                .map_err(|source| RosterError::InvalidName { index, source })?;
            let key: PublicKey = m.key.parse().map_err(|source| RosterError::InvalidKey {
                name: m.name,
                source,
            })?;
            members.push((name, key));
        }
        Self::new(swarm, quorum, members)
    }

    /// Renders the roster as TOML that [`Roster::from_toml`] reads back unchanged.
    pub fn to_toml(&self) -> String {
        let mut out = format!(
            "# swarmvote roster: {} members, {} YES votes approve\nswarm_id = \"{}\"\nquorum = \"{}\"\n",
            self.len(),
            self.required,
            self.swarm,
            self.quorum
        );
        for m in self.members.iter() {
            out.push_str(&format!(
                "\n[[members]]\nname = \"{}\"\nkey = \"{}\"\n",
                m.name, m.key
            ));
        }
        out
    }

    /// The swarm this roster defines.
    pub fn swarm(&self) -> &SwarmId {
        &self.swarm
    }

    /// The quorum fraction.
    pub fn quorum(&self) -> Quorum {
        self.quorum
    }

    /// The roster digest that proposals commit to.
    pub fn digest(&self) -> RosterDigest {
        self.digest
    }

    /// Number of members, `n`.
    pub fn len(&self) -> u32 {
        u32::try_from(self.members.len()).unwrap_or(u32::MAX)
    }

    /// Never true: a roster has at least one member.
    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

    /// YES votes needed to approve, `q = ceil(n * quorum)`.
    pub fn required(&self) -> u32 {
        self.required
    }

    /// The member with this id, if any.
    pub fn member(&self, id: &VoterId) -> Option<&Member> {
        self.member_hinted(id, None)
    }

    /// [`Roster::member`], with an index to try first (see [`index_hinted`]).
    pub(crate) fn member_hinted(&self, id: &VoterId, hint: Option<MemberIndex>) -> Option<&Member> {
        self.members
            .get(index_hinted(&self.voters, id, hint)?.get())
    }

    /// The member with this name, if any.
    pub fn member_by_name(&self, name: &str) -> Option<(&VoterId, &Member)> {
        self.members().find(|(_, m)| m.name.as_str() == name)
    }

    /// Members in key order, which is [`MemberIndex`] order.
    pub fn members(&self) -> impl Iterator<Item = (&VoterId, &Member)> {
        self.voters.iter().zip(self.members.iter())
    }

    /// The index of the member with this id, if any: a binary search.
    pub fn index_of(&self, id: &VoterId) -> Option<MemberIndex> {
        index_in(&self.voters, id)
    }

    /// The id of the member at `index`. `None` only for an index from another, larger
    /// roster.
    pub fn voter_at(&self, index: MemberIndex) -> Option<&VoterId> {
        self.voters.get(index.get())
    }

    /// Member ids in key order: `voters()[i]` is the member at [`MemberIndex`] `i`.
    pub fn voters(&self) -> &[VoterId] {
        &self.voters
    }

    /// A shared handle on the sorted ids, for per-member state that outlives a borrow.
    pub(crate) fn shared_voters(&self) -> Voters {
        Arc::clone(&self.voters)
    }

    /// The tolerance report.
    pub fn report(&self) -> RosterReport {
        let n = self.len();
        let q = self.required;
        let strict_majority = (n / 2).saturating_add(1);
        let mut warnings = Vec::new();
        if q < strict_majority {
            warnings.push(format!(
                "q = {q} is below a strict majority ({strict_majority} of {n}): two disjoint \
                 groups of members could approve conflicting proposals, and {q} colluding or \
                 stolen keys approve anything"
            ));
        }
        if q == n && n > 1 {
            warnings.push(format!(
                "q = n = {n}: a single offline member blocks every approval"
            ));
        }
        if q == 1 && n > 1 {
            warnings.push("q = 1: any single member approves on its own".to_owned());
        }
        RosterReport {
            swarm: self.swarm.clone(),
            digest: self.digest,
            quorum: self.quorum,
            n,
            q,
            max_offline: n.saturating_sub(q),
            coalition: q,
            strict_majority,
            warnings,
        }
    }
}

/// What a roster tolerates.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RosterReport {
    /// The swarm.
    pub swarm: SwarmId,
    /// The roster digest.
    pub digest: RosterDigest,
    /// The quorum fraction.
    pub quorum: Quorum,
    /// Members.
    pub n: u32,
    /// YES votes needed to approve.
    pub q: u32,
    /// Members that may be offline while approval stays possible: `n - q`.
    pub max_offline: u32,
    /// Keys a coalition needs to approve on its own: `q`.
    pub coalition: u32,
    /// `floor(n/2) + 1`.
    pub strict_majority: u32,
    /// Things an operator should know, such as `q` below a strict majority.
    pub warnings: Vec<String>,
}

impl fmt::Display for RosterReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "swarm          {}", self.swarm)?;
        writeln!(f, "digest         {}", self.digest)?;
        writeln!(f, "quorum         {}", self.quorum)?;
        writeln!(f, "members (n)    {}", self.n)?;
        writeln!(f, "required (q)   {} YES votes approve", self.q)?;
        writeln!(
            f,
            "offline        up to {} members may be offline and approval stays possible",
            self.max_offline
        )?;
        writeln!(
            f,
            "coalition      {} keys approve on their own; {} NO votes reject",
            self.coalition,
            self.max_offline.saturating_add(1)
        )?;
        for w in &self.warnings {
            writeln!(f, "warning        {w}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::SecretKey;

    fn key(i: u8) -> PublicKey {
        SecretKey::from_seed([i; 32]).public().unwrap()
    }

    fn toml_for(members: &[(&str, String)], quorum: &str) -> String {
        let mut s = format!("swarm_id = \"test\"\nquorum = \"{quorum}\"\n");
        for (name, key) in members {
            s.push_str(&format!(
                "[[members]]\nname = \"{name}\"\nkey = \"{key}\"\n"
            ));
        }
        s
    }

    #[test]
    fn parses_and_reports() {
        let text = toml_for(
            &[
                ("a", key(1).to_string()),
                ("b", key(2).to_string()),
                ("c", key(3).to_string()),
            ],
            "2/3",
        );
        let r = Roster::from_toml(&text).unwrap();
        assert_eq!((r.len(), r.required()), (3, 2));
        let rep = r.report();
        assert_eq!((rep.n, rep.q, rep.max_offline, rep.coalition), (3, 2, 1, 2));
        assert!(rep.warnings.is_empty(), "{:?}", rep.warnings);
        assert_eq!(Roster::from_toml(&r.to_toml()).unwrap(), r);
    }

    #[test]
    fn digest_ignores_listing_order_but_not_content() {
        let a = toml_for(
            &[("a", key(1).to_string()), ("b", key(2).to_string())],
            "1/2",
        );
        let b = toml_for(
            &[("b", key(2).to_string()), ("a", key(1).to_string())],
            "1/2",
        );
        let c = toml_for(
            &[("a", key(1).to_string()), ("b", key(2).to_string())],
            "2/3",
        );
        let d = toml_for(
            &[("a", key(1).to_string()), ("bb", key(2).to_string())],
            "1/2",
        );
        let da = Roster::from_toml(&a).unwrap().digest();
        assert_eq!(da, Roster::from_toml(&b).unwrap().digest());
        assert_ne!(da, Roster::from_toml(&c).unwrap().digest());
        assert_ne!(da, Roster::from_toml(&d).unwrap().digest());
    }

    #[test]
    fn errors_name_the_member() {
        let err = Roster::from_toml(&toml_for(&[], "1/2")).unwrap_err();
        assert_eq!(err, RosterError::Empty);

        let err = Roster::from_toml(&toml_for(
            &[("a", key(1).to_string()), ("a", key(2).to_string())],
            "1/2",
        ))
        .unwrap_err();
        assert!(matches!(err, RosterError::DuplicateName { .. }));
        assert!(err.to_string().contains("\"a\""));

        let err = Roster::from_toml(&toml_for(
            &[("a", key(1).to_string()), ("b", key(1).to_string())],
            "1/2",
        ))
        .unwrap_err();
        assert!(err.to_string().contains("\"a\"") && err.to_string().contains("\"b\""));

        let err = Roster::from_toml(&toml_for(&[("zed", "00".repeat(32))], "1/2")).unwrap_err();
        assert!(matches!(err, RosterError::InvalidKey { .. }), "{err}");
        assert!(err.to_string().contains("\"zed\""), "{err}");

        let err = Roster::from_toml(&toml_for(&[("bad", "xyz".into())], "1/2")).unwrap_err();
        assert!(err.to_string().contains("\"bad\""), "{err}");

        for (quorum, _) in [("0", ()), ("3/2", ()), ("two thirds", ())] {
            let err =
                Roster::from_toml(&toml_for(&[("a", key(1).to_string())], quorum)).unwrap_err();
            assert!(matches!(err, RosterError::Quorum(_)), "{quorum}: {err}");
        }
    }

    #[test]
    fn unknown_fields_and_float_quorums_are_refused() {
        let text = format!(
            "swarm_id = \"s\"\nquorum = \"1/2\"\ncolour = \"red\"\n[[members]]\nname = \"a\"\nkey = \"{}\"\n",
            key(1)
        );
        let err = Roster::from_toml(&text).unwrap_err();
        assert!(err.to_string().contains("colour"), "{err}");
        let text = format!(
            "swarm_id = \"s\"\nquorum = 0.66\n[[members]]\nname = \"a\"\nkey = \"{}\"\n",
            key(1)
        );
        let err = Roster::from_toml(&text).unwrap_err();
        assert!(matches!(err, RosterError::Quorum(_)), "{err}");
        assert!(err.to_string().contains("quote"), "{err}");
    }

    #[test]
    fn index_order_is_key_order_whatever_the_listing_order() {
        // 64 keys listed in a scrambled order (multiplying by an odd number permutes 0..64).
        let listed: Vec<u8> = (0u8..64).map(|i| i.wrapping_mul(37) % 64).collect();
        let r = Roster::new(
            SwarmId::new("s").unwrap(),
            "2/3".parse().unwrap(),
            listed
                .iter()
                .map(|&i| (MemberName::new(format!("m{i}")).unwrap(), key(i + 1))),
        )
        .unwrap();
        let mut sorted: Vec<VoterId> = listed.iter().map(|&i| key(i + 1).id()).collect();
        sorted.sort();
        assert_ne!(
            listed.iter().map(|&i| key(i + 1).id()).collect::<Vec<_>>(),
            sorted,
            "the listing must not already be sorted"
        );
        assert_eq!(r.voters(), &sorted[..]);
        for (i, id) in sorted.iter().enumerate() {
            let index = r.index_of(id).unwrap();
            assert_eq!(index.get(), i);
            assert_eq!(r.voter_at(index), Some(id));
            assert_eq!(r.member(id).unwrap().key.id(), *id);
        }
        // members() walks the same order, and index order is id order.
        let walked: Vec<VoterId> = r.members().map(|(id, _)| *id).collect();
        assert_eq!(walked, sorted);
        let by_index: Vec<MemberIndex> = sorted.iter().map(|v| r.index_of(v).unwrap()).collect();
        assert!(by_index.windows(2).all(|w| w[0] < w[1]));
        // Not a member: no index, no member.
        let stranger = key(200).id();
        assert_eq!(r.index_of(&stranger), None);
        assert!(r.member(&stranger).is_none());
    }

    #[test]
    fn weak_quorum_warns() {
        let members = (1..=4).map(|i| (MemberName::new(format!("m{i}")).unwrap(), key(i)));
        let r = Roster::new(SwarmId::new("s").unwrap(), "1/4".parse().unwrap(), members).unwrap();
        let rep = r.report();
        assert_eq!(rep.q, 1);
        assert!(rep.warnings.iter().any(|w| w.contains("strict majority")));
        assert!(rep.to_string().contains("warning"));
    }
}
