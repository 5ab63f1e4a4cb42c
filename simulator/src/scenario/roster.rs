//! A scenario's `[roster]` section: thresholds tiered by risk, groups and four-eyes, in
//! the roster document's own syntax, and the check that refuses a bad one at load.

use std::collections::BTreeMap;

use serde::Deserialize;
use swarmvote_protocol::RosterError;
use swarmvote_protocol::roster::document::RuleDocument;

use super::{Behaviour, FieldError, Scenario};
use crate::behaviour::cloned;

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

/// The scenario field a roster error is about: a group, a rule (by the name the error
/// gives), or the section as a whole.
fn roster_field(section: &RosterSection, e: &RosterError) -> String {
    match e {
        RosterError::InvalidGroup { group, .. } if section.groups.contains_key(group) => {
            format!("roster.groups.{group}")
        }
        RosterError::InvalidTier { tier, .. } => section
            .rules
            .iter()
            .position(|r| r.name == *tier)
            .map_or_else(|| "roster".to_string(), |i| format!("roster.rules[{i}]")),
        _ => "roster".to_string(),
    }
}

impl Scenario {
    /// Builds the roster once (with seed 0's keys: validity does not depend on them), so
    /// a bad group or rule is refused at load, naming the field; and checks that every
    /// lowered rule exists.
    pub(super) fn check_roster(&self, behaviours: &[Behaviour]) -> Result<(), FieldError> {
        let section = self.roster.as_ref();
        for (k, name) in self.testing.lowered_rules.iter().enumerate() {
            if !section.is_some_and(|s| s.rules.iter().any(|r| r.name == *name)) {
                return Err(FieldError::new(
                    format!("testing.lowered_rules[{k}]"),
                    format!("no rule named {name:?} in [[roster.rules]]"),
                ));
            }
        }
        let Some(section) = section else {
            return Ok(());
        };
        let quorum = self
            .parsed_quorum()
            .map_err(|e| FieldError::new("quorum", e.to_string()))?;
        let n = cloned::members(behaviours);
        match crate::swarm::roster_with(n, quorum, Some(section), 0) {
            Ok(_) => Ok(()),
            Err(crate::swarm::MembersError::Roster(e)) => {
                Err(FieldError::new(roster_field(section, &e), e.to_string()))
            }
            Err(e) => Err(FieldError::new("roster", e.to_string())),
        }
    }
}
