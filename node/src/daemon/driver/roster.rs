//! What follows a roster epoch change here: the health monitor tracks the new roster's
//! members (an added member is watched from now on, a removed one no longer), and the
//! webhook hears who was added and removed. (The log line and the epoch gauge come from
//! `telemetry`.)

use swarmvote_protocol::engine::Event;
use swarmvote_protocol::{ProposalId, Roster, RosterDigest};
use tracing::info;

use super::Driver;
use crate::daemon::webhook::{self, MemberChange};

impl Driver {
    /// Reacts to [`Event::EpochChanged`]; other events are ignored.
    pub(super) fn on_epoch_event(&mut self, e: &Event) {
        let Event::EpochChanged {
            epoch,
            roster,
            proposal,
            ..
        } = e
        else {
            return;
        };
        let chain = self.engine.chain();
        let (Some(head), Some(parent)) = (chain.get(roster), parent_of(chain, *proposal)) else {
            return;
        };
        let (added, removed) = (joined(parent, head), joined(head, parent));
        let (tracked, dropped) = self
            .telemetry
            .health
            .monitor
            .set_members(head.members().map(|(v, _)| *v));
        info!(
            epoch,
            added = %names(&added),
            removed = %names(&removed),
            tracked,
            dropped,
            "health monitor follows the new roster"
        );
        if let Some(hook) = &self.telemetry.webhook {
            hook.send(&webhook::epoch_body(
                *epoch,
                roster,
                proposal,
                &added,
                &removed,
                &self.node_info(),
            ));
        }
    }
}

/// The roster that judged the change `proposal`.
fn parent_of(
    chain: &swarmvote_protocol::chain::RosterChain,
    proposal: ProposalId,
) -> Option<&Roster> {
    let parent: RosterDigest = chain
        .all_steps()
        .find(|s| s.proposal() == proposal)?
        .parent();
    chain.get(&parent)
}

/// Members of `to` whose key `from` does not list.
fn joined(from: &Roster, to: &Roster) -> Vec<MemberChange> {
    to.members()
        .filter(|(v, _)| from.member(v).is_none())
        .map(|(v, m)| MemberChange {
            name: m.name.to_string(),
            voter: *v,
        })
        .collect()
}

fn names(members: &[MemberChange]) -> String {
    if members.is_empty() {
        return "-".to_owned();
    }
    members
        .iter()
        .map(|m| m.name.as_str())
        .collect::<Vec<_>>()
        .join(",")
}
