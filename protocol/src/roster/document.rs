//! The roster as a document: what `roster.toml` holds, and what a roster change carries
//! as its JSON payload. One serde type serves both, so the two forms never disagree.
//!
//! ```toml
//! swarm_id = "ops-prod"
//! quorum = "2/3"
//! epoch = 1                      # 0 (the default) is the genesis roster
//! previous = "<64 hex: the digest of epoch 0>"
//! four_eyes = false              # the proposer's own ballot never counts, unless a rule says otherwise
//!
//! [[members]]
//! name = "alice"
//! key = "<64 hex>"
//!
//! [groups]
//! security = ["alice", "carol"]
//!
//! [change]                       # roster changes: at least as strict as the default
//! quorum = "1"
//!
//! [[rules]]                      # the first match wins
//! name = "backup-deletes"
//! action = "fs.delete"
//! payload = { path = "/backup/**" }
//! quorum = "1"
//! four_eyes = true
//! require = [{ group = "security", yes = 1 }]
//! ```

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::tier::{self, Pattern, Requirement, Rule, Tier};
use super::{
    Governance, Member, MemberIndex, Roster, RosterError, change_tier_name, default_tier_name,
    sorted_members,
};
use crate::crypto::PublicKey;
use crate::ids::{GroupName, MemberName, RosterDigest, SwarmId, TierName, VoterId};
use crate::quorum::{Quorum, QuorumError};

/// A roster as written: every field as text, before validation.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RosterDocument {
    /// The swarm's name.
    pub swarm_id: String,
    /// The default quorum: `"2/3"`, `"0.66"`, `"66%"`.
    pub quorum: QuorumValue,
    /// The epoch; 0 is the genesis roster.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub epoch: u64,
    /// The predecessor's digest (64 hex), required from epoch 1 on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous: Option<String>,
    /// Whether the proposer's own ballot is left out of every tier that does not say.
    #[serde(default, skip_serializing_if = "is_false")]
    pub four_eyes: bool,
    /// The members.
    #[serde(default)]
    pub members: Vec<MemberDocument>,
    /// Named groups of members, for rules' requirements.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub groups: BTreeMap<String, Vec<String>>,
    /// The roster-change tier; the default tier's settings where absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub change: Option<TierDocument>,
    /// Ordered rules; the first that matches a proposal gives its tier.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rules: Vec<RuleDocument>,
}

/// A member as written.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MemberDocument {
    /// Its name.
    pub name: String,
    /// Its ed25519 public key, 64 hex characters.
    pub key: String,
}

/// A tier's settings as written; absent fields come from the default tier.
#[derive(Clone, Debug, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TierDocument {
    /// The quorum fraction.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quorum: Option<QuorumValue>,
    /// Four-eyes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub four_eyes: Option<bool>,
    /// Group requirements, all of which must hold.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub require: Vec<RequireDocument>,
}

/// A rule as written.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleDocument {
    /// The tier's name, recorded in certificates.
    pub name: String,
    /// A glob on the action, such as `fs.delete` or `k8s.*`.
    pub action: String,
    /// Globs on top-level string fields of the payload.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub payload: BTreeMap<String, String>,
    /// The quorum fraction; the default's if absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quorum: Option<QuorumValue>,
    /// Four-eyes; the roster's `four_eyes` if absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub four_eyes: Option<bool>,
    /// Group requirements, all of which must hold.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub require: Vec<RequireDocument>,
}

/// At least `yes` YES votes from `group`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RequireDocument {
    /// The group's name.
    pub group: String,
    /// YES votes needed from it.
    pub yes: u32,
}

/// A quorum as written: text, or an integer (`1`). A float is kept only to refuse it
/// with a clear message: it is not exact.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum QuorumValue {
    /// `"2/3"`, `"0.66"`, `"66%"`, `"1"`.
    Text(String),
    /// `1`.
    Integer(i64),
    /// `0.66` unquoted: refused.
    Float(f64),
}

impl QuorumValue {
    fn parse(&self) -> Result<Quorum, QuorumError> {
        match self {
            QuorumValue::Text(s) => s.parse(),
            QuorumValue::Integer(i) => i.to_string().parse(),
            QuorumValue::Float(x) => Err(QuorumError::Malformed {
                input: x.to_string(),
                why: "a float is not exact; quote it",
            }),
        }
    }
}

impl From<Quorum> for QuorumValue {
    fn from(q: Quorum) -> Self {
        QuorumValue::Text(q.to_string())
    }
}

fn is_zero(x: &u64) -> bool {
    *x == 0
}

fn is_false(x: &bool) -> bool {
    !*x
}

fn tier_error(tier: &str, why: impl Into<String>) -> RosterError {
    RosterError::InvalidTier {
        tier: tier.to_owned(),
        why: why.into(),
    }
}

impl Roster {
    /// Validates a roster document: the members, the epoch, the groups and every tier.
    /// A tier under which no proposal could ever be approved is refused.
    pub fn from_document(doc: &RosterDocument) -> Result<Self, RosterError> {
        let swarm = SwarmId::new(doc.swarm_id.clone()).map_err(RosterError::SwarmId)?;
        let quorum = doc.quorum.parse().map_err(RosterError::Quorum)?;
        if doc.members.len() > super::MAX_MEMBERS {
            return Err(RosterError::TooManyMembers {
                count: doc.members.len(),
                max: super::MAX_MEMBERS,
            });
        }
        let mut members = Vec::with_capacity(doc.members.len());
        for (i, m) in doc.members.iter().enumerate() {
            let index = i.saturating_add(1);
            let name = MemberName::new(m.name.clone())
                .map_err(|source| RosterError::InvalidName { index, source })?;
            let key: PublicKey = m.key.parse().map_err(|source| RosterError::InvalidKey {
                name: m.name.clone(),
                source,
            })?;
            members.push((name, key));
        }
        let by_key = sorted_members(members)?;
        let n = u32::try_from(by_key.len()).unwrap_or(u32::MAX);
        let previous = epoch_link(doc)?;
        let groups = groups(doc, &by_key)?;
        let default = Tier {
            name: default_tier_name(),
            quorum,
            required: quorum.required(n),
            four_eyes: doc.four_eyes,
            require: Vec::new(),
        };
        check_possible(&default, n)?;
        let change = match &doc.change {
            None => default.as_change(),
            Some(t) => {
                let change = tier_from(change_tier_name(), t, &default, &groups, n)?;
                if !change.at_least(&default) {
                    return Err(tier_error(
                        tier::CHANGE_TIER,
                        format!(
                            "roster changes must be at least as strict as the default tier \
                             {default}, but [change] gives {change}"
                        ),
                    ));
                }
                change
            }
        };
        check_possible(&change, n)?;
        if doc.rules.len() > tier::MAX_RULES {
            return Err(tier_error(
                "rules",
                format!("{} rules; at most {}", doc.rules.len(), tier::MAX_RULES),
            ));
        }
        let mut names: BTreeSet<&str> = BTreeSet::new();
        let mut rules = Vec::with_capacity(doc.rules.len());
        for r in &doc.rules {
            rules.push(rule_from(r, &default, &groups, n, &mut names)?);
        }
        let governance = Governance {
            epoch: doc.epoch,
            previous,
            default,
            change,
            groups,
            rules,
        };
        Ok(Self::assemble(swarm, by_key, governance))
    }

    /// The roster as a document that [`Roster::from_document`] reads back to an equal
    /// roster (same digest). Members come in key order, groups by name.
    pub fn to_document(&self) -> RosterDocument {
        let g = &self.governance;
        let name_of = |i: &MemberIndex| {
            self.members
                .get(i.get())
                .map(|m| m.name.to_string())
                .unwrap_or_default()
        };
        let require = |t: &Tier| -> Vec<RequireDocument> {
            t.require
                .iter()
                .map(|r| RequireDocument {
                    group: r.group.to_string(),
                    yes: r.yes,
                })
                .collect()
        };
        RosterDocument {
            swarm_id: self.swarm.to_string(),
            quorum: g.default.quorum.into(),
            epoch: g.epoch,
            previous: g.previous.map(|d| d.to_string()),
            four_eyes: g.default.four_eyes,
            members: self
                .members
                .iter()
                .map(|m| MemberDocument {
                    name: m.name.to_string(),
                    key: m.key.to_string(),
                })
                .collect(),
            groups: g
                .groups
                .iter()
                .map(|(name, ix)| (name.to_string(), ix.iter().map(name_of).collect()))
                .collect(),
            change: (g.change != g.default.as_change()).then(|| TierDocument {
                quorum: Some(g.change.quorum.into()),
                four_eyes: Some(g.change.four_eyes),
                require: require(&g.change),
            }),
            rules: g
                .rules
                .iter()
                .map(|r| RuleDocument {
                    name: r.tier.name.to_string(),
                    action: r.action.text.clone(),
                    payload: r
                        .payload()
                        .map(|(k, v)| (k.to_owned(), v.to_owned()))
                        .collect(),
                    quorum: Some(r.tier.quorum.into()),
                    four_eyes: Some(r.tier.four_eyes),
                    require: require(&r.tier),
                })
                .collect(),
        }
    }

    /// Parses a roster from its JSON document (a roster change's payload).
    pub fn from_json_value(value: &serde_json::Value) -> Result<Self, RosterError> {
        let doc: RosterDocument =
            serde_json::from_value(value.clone()).map_err(|e| RosterError::Toml {
                message: format!("roster JSON: {e}"),
            })?;
        Self::from_document(&doc)
    }
}

fn epoch_link(doc: &RosterDocument) -> Result<Option<RosterDigest>, RosterError> {
    let invalid = |why: &str| RosterError::InvalidEpoch {
        epoch: doc.epoch,
        why: why.to_owned(),
    };
    match (&doc.previous, doc.epoch) {
        (None, 0) => Ok(None),
        (Some(_), 0) => Err(invalid(
            "the genesis roster (epoch 0) has no predecessor; remove `previous`",
        )),
        (None, _) => Err(invalid(
            "a roster after genesis must name its predecessor's digest in `previous`",
        )),
        (Some(text), _) => text
            .parse::<RosterDigest>()
            .map(Some)
            .map_err(|e| invalid(&format!("previous: {e}"))),
    }
}

fn groups(
    doc: &RosterDocument,
    by_key: &BTreeMap<VoterId, Member>,
) -> Result<BTreeMap<GroupName, Arc<[MemberIndex]>>, RosterError> {
    if doc.groups.len() > tier::MAX_GROUPS {
        return Err(RosterError::InvalidGroup {
            group: "groups".to_owned(),
            why: format!("{} groups; at most {}", doc.groups.len(), tier::MAX_GROUPS),
        });
    }
    let index_of_name: BTreeMap<&str, MemberIndex> = by_key
        .values()
        .enumerate()
        .map(|(i, m)| (m.name.as_str(), MemberIndex(i)))
        .collect();
    let mut out = BTreeMap::new();
    for (name, names) in &doc.groups {
        let invalid = |why: String| RosterError::InvalidGroup {
            group: name.clone(),
            why,
        };
        let group = GroupName::new(name.clone()).map_err(|e| invalid(e.to_string()))?;
        if names.is_empty() {
            return Err(invalid("has no members".to_owned()));
        }
        let mut ix = BTreeSet::new();
        for member in names {
            let i = index_of_name
                .get(member.as_str())
                .ok_or_else(|| invalid(format!("{member:?} is not a member of the roster")))?;
            if !ix.insert(*i) {
                return Err(invalid(format!("{member:?} is listed twice")));
            }
        }
        out.insert(group, ix.into_iter().collect::<Vec<_>>().into());
    }
    Ok(out)
}

fn tier_from(
    name: TierName,
    doc: &TierDocument,
    default: &Tier,
    groups: &BTreeMap<GroupName, Arc<[MemberIndex]>>,
    n: u32,
) -> Result<Tier, RosterError> {
    let quorum = match &doc.quorum {
        Some(q) => q
            .parse()
            .map_err(|e| tier_error(name.as_str(), format!("quorum: {e}")))?,
        None => default.quorum,
    };
    if doc.require.len() > tier::MAX_REQUIREMENTS {
        return Err(tier_error(
            name.as_str(),
            format!(
                "{} group requirements; at most {}",
                doc.require.len(),
                tier::MAX_REQUIREMENTS
            ),
        ));
    }
    let mut require: Vec<Requirement> = Vec::with_capacity(doc.require.len());
    for r in &doc.require {
        let group = GroupName::new(r.group.clone())
            .map_err(|e| tier_error(name.as_str(), format!("require: {e}")))?;
        let members = groups.get(&group).ok_or_else(|| {
            tier_error(
                name.as_str(),
                format!("requires group {group:?}, which [groups] does not define"),
            )
        })?;
        if require.iter().any(|other| other.group == group) {
            return Err(tier_error(
                name.as_str(),
                format!("requires group {group:?} twice"),
            ));
        }
        require.push(Requirement {
            group,
            members: Arc::clone(members),
            yes: r.yes,
        });
    }
    Ok(Tier {
        name,
        quorum,
        required: quorum.required(n),
        four_eyes: doc.four_eyes.unwrap_or(default.four_eyes),
        require,
    })
}

fn rule_from<'a>(
    r: &'a RuleDocument,
    default: &Tier,
    groups: &BTreeMap<GroupName, Arc<[MemberIndex]>>,
    n: u32,
    names: &mut BTreeSet<&'a str>,
) -> Result<Rule, RosterError> {
    let name = TierName::new(r.name.clone()).map_err(|e| tier_error(&r.name, e.to_string()))?;
    if [tier::DEFAULT_TIER, tier::CHANGE_TIER].contains(&name.as_str()) {
        return Err(tier_error(
            &r.name,
            "this name is reserved for a built-in tier",
        ));
    }
    if !names.insert(r.name.as_str()) {
        return Err(tier_error(&r.name, "two rules have this name"));
    }
    if r.action.starts_with(tier::RESERVED_PREFIX) {
        return Err(tier_error(
            &r.name,
            format!(
                "actions under {:?} are reserved; roster changes take their tier from [change]",
                tier::RESERVED_PREFIX
            ),
        ));
    }
    let action = Pattern::new(&r.action).map_err(|e| tier_error(&r.name, format!("action {e}")))?;
    if r.payload.len() > tier::MAX_RULE_FIELDS {
        return Err(tier_error(
            &r.name,
            format!(
                "{} payload fields; at most {}",
                r.payload.len(),
                tier::MAX_RULE_FIELDS
            ),
        ));
    }
    let mut payload = BTreeMap::new();
    for (field, glob) in &r.payload {
        let p =
            Pattern::new(glob).map_err(|e| tier_error(&r.name, format!("payload.{field}: {e}")))?;
        payload.insert(field.clone(), p);
    }
    let tier = tier_from(
        name,
        &TierDocument {
            quorum: r.quorum.clone(),
            four_eyes: r.four_eyes,
            require: r.require.clone(),
        },
        default,
        groups,
        n,
    )?;
    check_possible(&tier, n)?;
    Ok(Rule {
        action,
        payload,
        tier,
    })
}

fn check_possible(tier: &Tier, n: u32) -> Result<(), RosterError> {
    match tier.impossible(n) {
        Some(why) => Err(tier_error(tier.name.as_str(), why)),
        None => Ok(()),
    }
}
