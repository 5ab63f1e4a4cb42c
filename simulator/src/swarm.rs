//! A run's members, the same in the model and in live mode: deterministic keys, the
//! roster (with the scenario's tiers, if any), and the wall-clock origin of virtual time.

use serde::Deserialize;
use std::collections::BTreeMap;
use swarmvote_protocol::crypto::{KeyError, sha256};
use swarmvote_protocol::ids::IdError;
use swarmvote_protocol::roster::RosterDocument;
use swarmvote_protocol::roster::document::MemberDocument;
use swarmvote_protocol::roster::document::RuleDocument;
use swarmvote_protocol::{
    MemberName, Quorum, QuorumError, Roster, RosterError, SecretKey, SwarmId,
};

/// The wall-clock origin of virtual time: engines see `START_MS + t / 1000`.
pub const START_MS: u64 = 1_700_000_000_000;

/// Why a run's roster could not be built.
#[derive(Debug, thiserror::Error)]
pub enum MembersError {
    /// The scenario's quorum does not parse.
    #[error("{0}")]
    Quorum(#[from] QuorumError),
    /// A member or swarm name is refused.
    #[error("{0}")]
    Name(#[from] IdError),
    /// A member key has no valid public key.
    #[error("{0}")]
    Key(#[from] KeyError),
    /// The roster refuses its members.
    #[error("{0}")]
    Roster(#[from] RosterError),
}

/// Member `i`'s key for a seed: SHA-256(seed || i), so runs are reproducible and seeds
/// do not share keys.
pub fn member_key(seed: u64, i: u32) -> SecretKey {
    let mut bytes = Vec::with_capacity(12);
    bytes.extend_from_slice(&seed.to_le_bytes());
    bytes.extend_from_slice(&i.to_le_bytes());
    SecretKey::from_seed(sha256(&bytes))
}

/// The roster of `n` members for `seed`: member `i` is `n<i>` with
/// [`member_key`]`(seed, i)`, swarm `sim`. Returns the keys too, in member order.
pub fn roster(
    n: usize,
    quorum: Quorum,
    seed: u64,
) -> Result<(Roster, Vec<SecretKey>), MembersError> {
    roster_with(n, quorum, None, seed)
}

/// Like [`roster`], with a scenario's `[roster]` section: its four-eyes flag, groups and
/// rules go into a roster document with the members, which the protocol validates as it
/// validates `roster.toml`. Without a section the roster is the plain one.
pub fn roster_with(
    n: usize,
    quorum: Quorum,
    section: Option<&RosterSection>,
    seed: u64,
) -> Result<(Roster, Vec<SecretKey>), MembersError> {
    let keys: Vec<SecretKey> = (0..n)
        .map(|i| member_key(seed, u32::try_from(i).unwrap_or(u32::MAX)))
        .collect();
    let swarm = SwarmId::new(SWARM)?;
    let mut members = Vec::with_capacity(n);
    for (i, k) in keys.iter().enumerate() {
        members.push((MemberName::new(member_name(i))?, k.public()?));
    }
    let Some(section) = section else {
        return Ok((Roster::new(swarm, quorum, members)?, keys));
    };
    let doc = RosterDocument {
        swarm_id: SWARM.to_string(),
        quorum: quorum.into(),
        epoch: 0,
        previous: None,
        four_eyes: section.four_eyes,
        members: members
            .iter()
            .map(|(name, key)| MemberDocument {
                name: name.to_string(),
                key: key.to_string(),
            })
            .collect(),
        groups: section.groups.clone(),
        change: None,
        rules: section.rules.clone(),
    };
    Ok((Roster::from_document(&doc)?, keys))
}

/// What a scenario's roster carries beyond its members and default quorum, in the roster
/// document's own syntax (`swarmvote_protocol::roster::document`): a roster-wide
/// `four_eyes`, `[roster.groups]` naming members by their node names (`n0`, `n1`, ...:
/// node `i` is member `n<i>`), and ordered `[[roster.rules]]`.
///
/// ```toml
/// [roster]
/// four_eyes = true
/// [roster.groups]
/// security = ["n3", "n4"]
/// [[roster.rules]]
/// name = "backup-deletes"
/// action = "fs.delete"
/// payload = { path = "/backup/**" }
/// quorum = "4/5"
/// require = [{ group = "security", yes = 1 }]
/// ```
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RosterSection {
    /// Whether the proposer's own ballot is left out of every tier that does not say.
    #[serde(default)]
    pub four_eyes: bool,
    /// Named groups of members (by node name), for the rules' requirements.
    #[serde(default)]
    pub groups: BTreeMap<String, Vec<String>>,
    /// Ordered rules; the first that matches a proposal gives its tier.
    #[serde(default)]
    pub rules: Vec<RuleDocument>,
}

impl RosterSection {
    /// This section with the named rules lowered to the default tier (its quorum and
    /// four-eyes, no group requirements), each keeping its name: what engines judge with
    /// under the test-only `testing.lowered_rules` knob.
    pub fn lowered(&self, names: &[String]) -> Self {
        let mut out = self.clone();
        for r in out.rules.iter_mut().filter(|r| names.contains(&r.name)) {
            r.quorum = None;
            r.four_eyes = None;
            r.require.clear();
        }
        out
    }
}

/// The swarm every run's roster defines.
const SWARM: &str = "sim";

/// Member `i`'s name in the roster, and in a scenario's `[roster.groups]`.
pub fn member_name(i: usize) -> String {
    format!("n{i}")
}
