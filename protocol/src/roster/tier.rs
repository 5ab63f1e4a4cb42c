//! Threshold tiers: which quorum, four-eyes setting and group requirements judge a
//! proposal.
//!
//! A roster has a default tier, a tier for roster changes (never weaker than the
//! default), and ordered rules. The first rule whose action glob and payload field globs
//! match a proposal gives its tier; otherwise the default applies. Which tier applies is
//! a pure function of the roster and the proposal's action and payload, so every node
//! picks the same one whatever order messages arrive in.
//!
//! Within a tier, with `n` members and quorum `num/den`, `q = ceil(n * num / den)`.
//! Under **four-eyes** the proposer is outside the electorate of its own proposal: its
//! YES does not count toward `q` and its NO does not count against it (both are kept and
//! shown). The electorate is then `n - 1`, and approval becomes impossible once more than
//! `n - 1 - q` of the others voted NO. A **group requirement** `(group, k)` also needs at
//! least `k` YES votes from the group's members in the electorate.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use globset::{Glob, GlobMatcher};

use crate::ids::{GroupName, TierName};
use crate::quorum::Quorum;
use crate::roster::MemberIndex;

/// The reserved action of a roster change: its payload is the complete next roster.
pub const ROSTER_ACTION: &str = "swarmvote.roster";
/// Actions under this prefix are reserved for the protocol; rules never match them.
pub const RESERVED_PREFIX: &str = "swarmvote.";
/// The default tier's name.
pub const DEFAULT_TIER: &str = "default";
/// The roster-change tier's name.
pub const CHANGE_TIER: &str = "roster-change";
/// Rules in one roster.
pub const MAX_RULES: usize = 256;
/// Groups in one roster.
pub const MAX_GROUPS: usize = 64;
/// Payload field globs in one rule.
pub const MAX_RULE_FIELDS: usize = 16;
/// Group requirements in one tier.
pub const MAX_REQUIREMENTS: usize = 16;
/// Longest glob pattern, in bytes.
pub const MAX_PATTERN_BYTES: usize = 256;

/// Which tier of a roster judges a proposal.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub enum TierId {
    /// No rule matched.
    Default,
    /// A roster change (`swarmvote.roster`).
    Change,
    /// The rule at this 0-based position.
    Rule(usize),
}

/// At least `yes` YES votes from the members of `group` (in the electorate).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Requirement {
    /// The group's name.
    pub group: GroupName,
    /// Its members' indices, ascending.
    pub members: Arc<[MemberIndex]>,
    /// YES votes needed from them.
    pub yes: u32,
}

impl Requirement {
    /// Whether the member at `index` is in the group.
    pub fn contains(&self, index: MemberIndex) -> bool {
        self.members.binary_search(&index).is_ok()
    }
}

/// A threshold: quorum, four-eyes and group requirements.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tier {
    pub(crate) name: TierName,
    pub(crate) quorum: Quorum,
    pub(crate) required: u32,
    pub(crate) four_eyes: bool,
    pub(crate) require: Vec<Requirement>,
}

impl Tier {
    /// The tier's name: a rule's name, `default` or `roster-change`.
    pub fn name(&self) -> &TierName {
        &self.name
    }

    /// The quorum fraction.
    pub fn quorum(&self) -> Quorum {
        self.quorum
    }

    /// YES votes needed to approve, `q = ceil(n * quorum)`, from the electorate.
    pub fn required(&self) -> u32 {
        self.required
    }

    /// Whether the proposer's own ballot is left out of the count.
    pub fn four_eyes(&self) -> bool {
        self.four_eyes
    }

    /// The group requirements, in the order the roster lists them.
    pub fn requirements(&self) -> &[Requirement] {
        &self.require
    }

    /// The electorate's size for a roster of `n`: `n`, or `n - 1` under four-eyes.
    pub fn electorate(&self, n: u32) -> u32 {
        if self.four_eyes {
            n.saturating_sub(1)
        } else {
            n
        }
    }

    /// The same threshold as the roster-change tier: what a roster without `[change]`
    /// uses for roster changes.
    pub(crate) fn as_change(&self) -> Tier {
        Tier {
            name: super::change_tier_name(),
            ..self.clone()
        }
    }

    /// Whether `self` is at least as strict as `other`: a quorum no lower, four-eyes
    /// kept, and every requirement of `other` kept with no fewer votes.
    pub(crate) fn at_least(&self, other: &Tier) -> bool {
        self.quorum.at_least(other.quorum)
            && (self.four_eyes || !other.four_eyes)
            && other.require.iter().all(|r| {
                self.require
                    .iter()
                    .any(|mine| mine.group == r.group && mine.yes >= r.yes)
            })
    }

    /// Why no proposal could ever be approved under this tier, if that is so. Checked
    /// for every tier when a roster is built, so a roster (or a roster change) that would
    /// leave some proposals unapprovable is refused.
    pub(crate) fn impossible(&self, n: u32) -> Option<String> {
        let electorate = self.electorate(n);
        if self.required > electorate {
            return Some(format!(
                "four-eyes leaves {electorate} members besides the proposer, fewer than \
                 q = {} YES votes: no proposal could ever be approved",
                self.required
            ));
        }
        for r in &self.require {
            let size = u32::try_from(r.members.len()).unwrap_or(u32::MAX);
            if r.yes == 0 {
                return Some(format!("requires 0 YES votes from group {:?}", r.group));
            }
            // Under four-eyes a member of the group who proposes cannot count.
            let usable = if self.four_eyes {
                size.saturating_sub(1)
            } else {
                size
            };
            if r.yes > usable {
                return Some(if self.four_eyes {
                    format!(
                        "requires {} YES votes from group {:?} of {size}, but under four-eyes a \
                         proposal by one of them leaves only {usable}",
                        r.yes, r.group
                    )
                } else {
                    format!(
                        "requires {} YES votes from group {:?}, which has only {size} members",
                        r.yes, r.group
                    )
                });
            }
        }
        None
    }
}

impl fmt::Display for Tier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (quorum {}", self.name, self.quorum)?;
        if self.four_eyes {
            f.write_str(", four-eyes")?;
        }
        for r in &self.require {
            write!(f, ", {} from {}", r.yes, r.group)?;
        }
        f.write_str(")")
    }
}

/// A compiled glob and the text it came from (the digest commits to the text).
#[derive(Clone, Debug)]
pub(crate) struct Pattern {
    pub(crate) text: String,
    matcher: GlobMatcher,
}

impl Pattern {
    pub(crate) fn new(text: &str) -> Result<Self, String> {
        if text.len() > MAX_PATTERN_BYTES {
            return Err(format!(
                "pattern of {} bytes; at most {MAX_PATTERN_BYTES}",
                text.len()
            ));
        }
        let matcher = Glob::new(text)
            .map_err(|e| format!("pattern {text:?}: {e}"))?
            .compile_matcher();
        Ok(Self {
            text: text.to_owned(),
            matcher,
        })
    }

    fn is_match(&self, s: &str) -> bool {
        self.matcher.is_match(s)
    }
}

/// One ordered rule: an action glob, payload field globs, and the tier they select.
#[derive(Clone, Debug)]
pub struct Rule {
    pub(crate) action: Pattern,
    /// (top-level payload field, glob on its string value), sorted by field.
    pub(crate) payload: BTreeMap<String, Pattern>,
    pub(crate) tier: Tier,
}

impl Rule {
    /// The action glob.
    pub fn action(&self) -> &str {
        &self.action.text
    }

    /// The payload field globs, by field.
    pub fn payload(&self) -> impl Iterator<Item = (&str, &str)> {
        self.payload
            .iter()
            .map(|(k, p)| (k.as_str(), p.text.as_str()))
    }

    /// The tier this rule selects.
    pub fn tier(&self) -> &Tier {
        &self.tier
    }

    /// Whether the rule matches: the action matches its glob, and every payload field
    /// glob matches a string field of that name at the payload's top level. A missing or
    /// non-string field does not match.
    pub fn matches(&self, action: &str, payload: &serde_json::Value) -> bool {
        self.action.is_match(action)
            && self.payload.iter().all(|(field, glob)| {
                payload
                    .get(field)
                    .and_then(|v| v.as_str())
                    .is_some_and(|s| glob.is_match(s))
            })
    }
}

/// The tier that judges a proposal with this action and payload: the change tier for
/// [`ROSTER_ACTION`], else the first matching rule, else the default. Rules never match
/// reserved actions. `payload` is parsed only when a rule needs it.
pub(crate) fn select(
    rules: &[Rule],
    action: &str,
    payload: impl FnOnce() -> serde_json::Value,
) -> TierId {
    if action == ROSTER_ACTION {
        return TierId::Change;
    }
    if action.starts_with(RESERVED_PREFIX) || rules.is_empty() {
        return TierId::Default;
    }
    let payload = payload();
    rules
        .iter()
        .position(|r| r.matches(action, &payload))
        .map_or(TierId::Default, TierId::Rule)
}
