//! The check of a scenario's `[roster]` section (see [`RosterSection`], defined beside
//! the roster it builds): a bad group or rule is refused at load, naming the field.

use swarmvote_protocol::RosterError;

use super::{Behaviour, FieldError, Scenario};
use crate::behaviour::cloned;
pub use crate::swarm::RosterSection;

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
