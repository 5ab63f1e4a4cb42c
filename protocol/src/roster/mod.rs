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
//! listed in. A plain roster's digest is SHA-256 over a domain tag and the bincode
//! encoding of `(swarm_id, quorum numerator, quorum denominator, [(key, name)...])`.
//!
//! A roster may also govern: an `epoch` and its predecessor's digest (`previous`), a
//! roster-wide `four_eyes` flag, named `[groups]`, a stricter `[change]` tier for roster
//! changes and ordered `[[rules]]` that tier thresholds by risk (see [`tier`] and
//! [`document`]). Such a roster's digest commits to all of it, under its own domain tag,
//! so a plain roster keeps the digest it always had.
//!
//! Each member also has a [`MemberIndex`]: its position in that key order. Per-member
//! state (the tally's ballot slots) is a dense vector indexed by it, so a lookup is one
//! binary search over a contiguous sorted slice of ids rather than a tree walk.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::sync::Arc;

use serde::Serialize;

use crate::crypto::{self, Domain, KeyError, PublicKey};
use crate::ids::{GroupName, IdError, MemberName, RosterDigest, SwarmId, TierName, VoterId};
use crate::quorum::{Quorum, QuorumError};

pub mod document;
mod report;
pub mod tier;

pub use document::RosterDocument;
pub use report::{RosterReport, TierRow};
pub use tier::{Requirement, Rule, Tier, TierId};

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
    /// The epoch and `previous` do not fit together, or `previous` is malformed.
    #[error("epoch {epoch}: {why}")]
    InvalidEpoch {
        /// The roster's epoch.
        epoch: u64,
        /// What is wrong.
        why: String,
    },
    /// A group is malformed or names someone who is not a member.
    #[error("group {group:?}: {why}")]
    InvalidGroup {
        /// The group, as written.
        group: String,
        /// What is wrong.
        why: String,
    },
    /// A tier (the default, the change tier or a rule) is malformed, or no proposal
    /// could ever be approved under it.
    #[error("tier {tier:?}: {why}")]
    InvalidTier {
        /// The tier's name (`default`, `roster-change` or the rule's name).
        tier: String,
        /// What is wrong.
        why: String,
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
#[derive(Clone)]
pub struct Roster {
    swarm: SwarmId,
    /// Member ids in ascending order; position `i` is [`MemberIndex`] `i`. Shared: an
    /// engine per member (the simulator) or per task clones the roster, and each tally
    /// keeps a handle to map ids to slots.
    voters: Voters,
    /// `members[i]` belongs to `voters[i]`. Shared for the same reason: decompressed
    /// member keys are the bulk of a roster.
    members: Arc<[Member]>,
    /// Everything beyond members: epoch, tiers, groups. Shared, and cheap to clone.
    governance: Arc<Governance>,
    digest: RosterDigest,
}

/// A roster's epoch and tiers.
#[derive(Debug)]
pub(crate) struct Governance {
    pub(crate) epoch: u64,
    pub(crate) previous: Option<RosterDigest>,
    pub(crate) default: Tier,
    pub(crate) change: Tier,
    pub(crate) groups: BTreeMap<GroupName, Arc<[MemberIndex]>>,
    pub(crate) rules: Vec<Rule>,
}

impl Governance {
    /// Epoch 0, one quorum for everything, no groups: the digest is the plain one.
    fn is_plain(&self) -> bool {
        self.epoch == 0
            && self.previous.is_none()
            && !self.default.four_eyes
            && self.default.require.is_empty()
            && self.change == self.default.as_change()
            && self.groups.is_empty()
            && self.rules.is_empty()
    }
}

pub(crate) fn default_tier_name() -> TierName {
    TierName::new(tier::DEFAULT_TIER).unwrap_or_else(|_| unreachable!("a valid constant name"))
}

pub(crate) fn change_tier_name() -> TierName {
    TierName::new(tier::CHANGE_TIER).unwrap_or_else(|_| unreachable!("a valid constant name"))
}

impl PartialEq for Roster {
    // The digest commits to every field.
    fn eq(&self, other: &Self) -> bool {
        self.digest == other.digest
    }
}

impl Eq for Roster {}

impl fmt::Debug for Roster {
    // The shape the map-backed roster printed: members as an id -> member map.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Roster")
            .field("swarm", &self.swarm)
            .field("quorum", &self.quorum())
            .field("members", &DebugMembers(self))
            .field("required", &self.required())
            .field("digest", &self.digest)
            .field("epoch", &self.governance.epoch)
            .finish()
    }
}

struct DebugMembers<'a>(&'a Roster);

impl fmt::Debug for DebugMembers<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.0.members()).finish()
    }
}

#[derive(Serialize)]
struct CanonicalRoster<'a> {
    swarm: &'a SwarmId,
    num: u64,
    den: u64,
    members: Vec<(&'a VoterId, &'a MemberName)>,
}

#[derive(Serialize)]
struct CanonicalTier<'a> {
    num: u64,
    den: u64,
    four_eyes: bool,
    require: Vec<(&'a GroupName, u32)>,
}

impl<'a> CanonicalTier<'a> {
    fn of(t: &'a Tier) -> Self {
        Self {
            num: t.quorum.numerator(),
            den: t.quorum.denominator(),
            four_eyes: t.four_eyes,
            require: t.require.iter().map(|r| (&r.group, r.yes)).collect(),
        }
    }
}

#[derive(Serialize)]
struct CanonicalRule<'a> {
    name: &'a TierName,
    action: &'a str,
    payload: Vec<(&'a str, &'a str)>,
    tier: CanonicalTier<'a>,
}

#[derive(Serialize)]
struct CanonicalRosterV2<'a> {
    swarm: &'a SwarmId,
    epoch: u64,
    previous: Option<RosterDigest>,
    default: CanonicalTier<'a>,
    change: CanonicalTier<'a>,
    members: Vec<(&'a VoterId, &'a MemberName)>,
    groups: Vec<(&'a GroupName, Vec<&'a VoterId>)>,
    rules: Vec<CanonicalRule<'a>>,
}

/// Validated members, sorted by key, and the checks every roster shares.
fn sorted_members(
    members: impl IntoIterator<Item = (MemberName, PublicKey)>,
) -> Result<BTreeMap<VoterId, Member>, RosterError> {
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
    Ok(by_key)
}

impl Roster {
    /// Validates a plain roster from its parts: epoch 0, one quorum for everything.
    pub fn new(
        swarm: SwarmId,
        quorum: Quorum,
        members: impl IntoIterator<Item = (MemberName, PublicKey)>,
    ) -> Result<Self, RosterError> {
        let by_key = sorted_members(members)?;
        let n = u32::try_from(by_key.len()).unwrap_or(u32::MAX);
        let default = Tier {
            name: default_tier_name(),
            quorum,
            required: quorum.required(n),
            four_eyes: false,
            require: Vec::new(),
        };
        let governance = Governance {
            epoch: 0,
            previous: None,
            change: default.as_change(),
            default,
            groups: BTreeMap::new(),
            rules: Vec::new(),
        };
        Ok(Self::assemble(swarm, by_key, governance))
    }

    /// Builds the roster and its digest from checked parts.
    fn assemble(swarm: SwarmId, by_key: BTreeMap<VoterId, Member>, governance: Governance) -> Self {
        let members: Vec<(&VoterId, &MemberName)> =
            by_key.iter().map(|(id, m)| (id, &m.name)).collect();
        let digest = if governance.is_plain() {
            let canonical = CanonicalRoster {
                swarm: &swarm,
                num: governance.default.quorum.numerator(),
                den: governance.default.quorum.denominator(),
                members,
            };
            let body = crate::codec::encode_body(&canonical);
            crypto::sha256(&crypto::signing_bytes(Domain::Roster, &swarm, &body))
        } else {
            let voters: Vec<&VoterId> = by_key.keys().collect();
            let canonical = CanonicalRosterV2 {
                swarm: &swarm,
                epoch: governance.epoch,
                previous: governance.previous,
                default: CanonicalTier::of(&governance.default),
                change: CanonicalTier::of(&governance.change),
                members,
                groups: governance
                    .groups
                    .iter()
                    .map(|(g, ix)| {
                        let ids = ix.iter().filter_map(|i| voters.get(i.get()).copied());
                        (g, ids.collect())
                    })
                    .collect(),
                rules: governance
                    .rules
                    .iter()
                    .map(|r| CanonicalRule {
                        name: &r.tier.name,
                        action: &r.action.text,
                        payload: r.payload().collect(),
                        tier: CanonicalTier::of(&r.tier),
                    })
                    .collect(),
            };
            let body = crate::codec::encode_body(&canonical);
            crypto::sha256(&crypto::signing_bytes(Domain::RosterV2, &swarm, &body))
        };
        // The map iterates in key order, so both slices come out sorted and aligned.
        let (voters, members): (Vec<VoterId>, Vec<Member>) = by_key.into_iter().unzip();
        Self {
            swarm,
            voters: voters.into(),
            members: members.into(),
            governance: Arc::new(governance),
            digest: RosterDigest::from_bytes(digest),
        }
    }

    /// Parses and validates roster TOML.
    pub fn from_toml(text: &str) -> Result<Self, RosterError> {
        let doc: RosterDocument = toml::from_str(text).map_err(|e| RosterError::Toml {
            message: e.to_string().trim_end().to_owned(),
        })?;
        Self::from_document(&doc)
    }

    /// Renders the roster as TOML that [`Roster::from_toml`] reads back unchanged.
    pub fn to_toml(&self) -> String {
        let body = toml::to_string(&self.to_document()).unwrap_or_else(|e| {
            // Every field is a string, integer, bool, table or array of them.
            unreachable!("a roster document always renders as TOML: {e}")
        });
        format!(
            "# swarmvote roster: {} members, {} YES votes approve\n{body}",
            self.len(),
            self.required(),
        )
    }

    /// The epoch: 0 for a genesis roster, one more than its predecessor's otherwise.
    pub fn epoch(&self) -> u64 {
        self.governance.epoch
    }

    /// The predecessor's digest; `None` at epoch 0.
    pub fn previous(&self) -> Option<RosterDigest> {
        self.governance.previous
    }

    /// The tier that applies when no rule matches.
    pub fn default_tier(&self) -> &Tier {
        &self.governance.default
    }

    /// The tier of roster changes, at least as strict as the default.
    pub fn change_tier(&self) -> &Tier {
        &self.governance.change
    }

    /// The ordered rules.
    pub fn rules(&self) -> &[Rule] {
        &self.governance.rules
    }

    /// A tier by id; an out-of-range rule index (from another roster) gives the default.
    pub fn tier(&self, id: TierId) -> &Tier {
        match id {
            TierId::Default => &self.governance.default,
            TierId::Change => &self.governance.change,
            TierId::Rule(i) => self
                .governance
                .rules
                .get(i)
                .map_or(&self.governance.default, |r| &r.tier),
        }
    }

    /// The tier that judges a proposal with this action and payload (see [`tier`]).
    /// `payload` is parsed only if a rule needs it.
    pub fn tier_for(&self, action: &str, payload: impl FnOnce() -> serde_json::Value) -> TierId {
        tier::select(&self.governance.rules, action, payload)
    }

    /// The groups, by name, each with its members' indices ascending.
    pub fn groups(&self) -> impl Iterator<Item = (&GroupName, &[MemberIndex])> {
        self.governance.groups.iter().map(|(g, m)| (g, &**m))
    }

    /// The swarm this roster defines.
    pub fn swarm(&self) -> &SwarmId {
        &self.swarm
    }

    /// The default tier's quorum fraction.
    pub fn quorum(&self) -> Quorum {
        self.governance.default.quorum
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

    /// YES votes needed to approve under the default tier, `q = ceil(n * quorum)`.
    pub fn required(&self) -> u32 {
        self.governance.default.required
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
