//! A scenario's `[[roster_changes]]`: roster changes proposed mid-run, each the complete
//! next roster built from the proposer's head roster with a few edits. Bad entries are
//! refused at load, naming the field: the rosters are built once with the protocol, in
//! order, so a change the protocol would refuse, or one that leaves fewer members able
//! to vote than its quorum needs, never reaches a run.

use serde::Deserialize;
use swarmvote_protocol::roster::RosterDocument;
use swarmvote_protocol::{Quorum, Roster};

use super::{Behaviour, FieldError, Scenario};
use crate::behaviour::cloned;
use crate::swarm::member_name;

/// One roster change: at `at_ms` node `by` (or the lowest-numbered honest member up
/// whose head roster lists it) proposes its head roster with these edits, as the next
/// epoch.
///
/// ```toml
/// [[roster_changes]]
/// at_ms = 2000
/// remove = ["n4"]
/// [[roster_changes]]
/// at_ms = 5000
/// by = "n1"
/// quorum = "3/4"
/// four_eyes = true
/// ```
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RosterChange {
    /// When the change is proposed, in ms of virtual time.
    pub at_ms: u64,
    /// The member that proposes it, by node name; a deterministic honest member if absent.
    #[serde(default)]
    pub by: Option<String>,
    /// Members the next roster no longer lists, by node name.
    #[serde(default)]
    pub remove: Vec<String>,
    /// The next roster's default quorum.
    #[serde(default)]
    pub quorum: Option<String>,
    /// The next roster's roster-wide four-eyes flag.
    #[serde(default)]
    pub four_eyes: Option<bool>,
}

/// Why a change does not apply to a roster (the field at fault and what is wrong).
pub type ChangeFault = (&'static str, String);

impl RosterChange {
    /// The next roster's document: `current`'s, one epoch on, naming it as `previous`,
    /// with this change's edits.
    pub fn next_document(&self, current: &Roster) -> Result<RosterDocument, ChangeFault> {
        let mut doc = current.to_document();
        doc.epoch = current.epoch().saturating_add(1);
        doc.previous = Some(current.digest().to_string());
        for name in &self.remove {
            let before = doc.members.len();
            doc.members.retain(|m| m.name != *name);
            if doc.members.len() == before {
                return Err((
                    "remove",
                    format!(
                        "{name:?} is not a member of the roster at epoch {}",
                        current.epoch()
                    ),
                ));
            }
        }
        if let Some(q) = &self.quorum {
            let q: Quorum = q.parse().map_err(|e| ("quorum", format!("{e}")))?;
            doc.quorum = q.into();
        }
        if let Some(f) = self.four_eyes {
            doc.four_eyes = f;
        }
        Ok(doc)
    }
}

impl Scenario {
    /// Builds every change's roster in order from the genesis roster (seed 0's keys:
    /// validity does not depend on them) and refuses the first bad entry, naming its
    /// field: a proposer or removed member that is not a member, changes out of time
    /// order, a next roster the protocol refuses, or one whose members that can vote
    /// (not offline) fall short of its quorum or its change tier's.
    pub(super) fn check_changes(&self, behaviours: &[Behaviour]) -> Result<(), FieldError> {
        if self.roster_changes.is_empty() {
            return Ok(());
        }
        if !self.testing.lowered_rules.is_empty() {
            return Err(FieldError::new(
                "testing.lowered_rules",
                "cannot be combined with [[roster_changes]]: the checker holds later rosters \
                 as the engines adopt them, so it has no written version to lower against",
            ));
        }
        let quorum = self
            .parsed_quorum()
            .map_err(|e| FieldError::new("quorum", e.to_string()))?;
        let n = cloned::members(behaviours);
        let (mut current, _) = crate::swarm::roster_with(n, quorum, self.roster.as_ref(), 0)
            .map_err(|e| FieldError::new("roster", e.to_string()))?;
        let mut last_at = None;
        for (k, c) in self.roster_changes.iter().enumerate() {
            let field = |f: &str| format!("roster_changes[{k}].{f}");
            if last_at.is_some_and(|t| c.at_ms <= t) {
                return Err(FieldError::new(
                    field("at_ms"),
                    "must be later than the change before: one change per epoch",
                ));
            }
            last_at = Some(c.at_ms);
            if let Some(by) = &c.by
                && !(0..n).any(|i| member_name(i) == *by)
            {
                return Err(FieldError::new(
                    field("by"),
                    format!("{by:?} is not a member node (n0..n{})", n.saturating_sub(1)),
                ));
            }
            if let Some(by) = &c.by
                && current.member_by_name(by).is_none()
            {
                return Err(FieldError::new(
                    field("by"),
                    format!("{by:?} was removed by an earlier change"),
                ));
            }
            let doc = c
                .next_document(&current)
                .map_err(|(f, m)| FieldError::new(field(f), m))?;
            let next = Roster::from_document(&doc)
                .map_err(|e| FieldError::new(format!("roster_changes[{k}]"), e.to_string()))?;
            let voting = doc
                .members
                .iter()
                .filter(|m| {
                    (0..n).any(|i| {
                        member_name(i) == m.name
                            && !matches!(behaviours.get(i), Some(Behaviour::Offline) | None)
                    })
                })
                .count();
            let need = next.required().max(next.change_tier().required());
            if u32::try_from(voting).unwrap_or(u32::MAX) < need {
                return Err(FieldError::new(
                    if c.quorum.is_some() {
                        field("quorum")
                    } else {
                        field("remove")
                    },
                    format!(
                        "leaves {voting} members that can vote, but epoch {} needs q = {need}: \
                         no quorum is possible",
                        next.epoch()
                    ),
                ));
            }
            current = next;
        }
        Ok(())
    }
}
