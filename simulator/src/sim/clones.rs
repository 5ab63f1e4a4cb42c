//! Cloned keys in a run: the clones' ballots, where they land, and the honest nodes'
//! doppelganger alarms (see [`crate::behaviour::cloned`]).
//!
//! An honest node whose engine raises [`Event::Doppelganger`](swarmvote_protocol::engine::Event::Doppelganger)
//! does what the node's driver does (`node/src/daemon/driver/doppelganger.rs`): it stops
//! signing for good ([`Pause::Doppelganger`]), also after a restart. The real node then
//! exits; here it stays up, paused, so it still relays and its tallies are still checked.
//! Its evaluator's later verdicts are counted as withheld votes, and it no longer
//! proposes. Nothing here draws from the run's RNG, and a run without clones or alarms
//! does exactly what it did before.

use std::collections::{BTreeMap, BTreeSet};

use swarmvote_protocol::engine::{Pause, SyncResponse};
use swarmvote_protocol::{ProposalId, SignedBallot, Vote, VoterId, codec};

use super::Sim;
use crate::behaviour::cloned;
use crate::checks;
use crate::report::{self, ClonedKeys, ClonedNode, Detection, Violation};

/// What a run tracks about its clones and the alarms.
#[derive(Default)]
pub(super) struct Clones {
    /// Each clone node and the member whose key it runs, in node order.
    targets: Vec<(usize, usize)>,
    /// Ballots each clone signed, by clone node.
    signed: BTreeMap<usize, u64>,
    /// Gossip message numbers of clone ballots, with their clone node.
    msgs: BTreeMap<u32, usize>,
    /// Clone ballots, with their clone node, to recognise them in catch-up answers.
    ballots: BTreeMap<SignedBallot, usize>,
    /// Clone nodes one of whose ballots reached an honest node.
    reached: BTreeSet<usize>,
    /// Each honest node's first alarm: when (µs), the proposal and the foreign vote.
    first_alarm: BTreeMap<usize, (u64, ProposalId, Vote)>,
    /// Alarms raised by honest nodes in all.
    alarms: u64,
    /// Votes honest nodes did not cast because they had stopped signing.
    withheld: u64,
}

impl Clones {
    /// The state for a run whose clone nodes clone these members (`targets[i]` is node
    /// `i`'s member, `None` for members).
    pub(super) fn new(targets: &[Option<usize>]) -> Self {
        Self {
            targets: targets
                .iter()
                .enumerate()
                .filter_map(|(i, t)| t.map(|of| (i, of)))
                .collect(),
            ..Self::default()
        }
    }

    /// Whether node `i` stopped signing after an alarm.
    pub(super) fn stopped(&self, i: usize) -> bool {
        self.first_alarm.contains_key(&i)
    }

    /// Counts a vote an honest node's evaluator reached after it stopped signing.
    pub(super) fn withhold(&mut self) {
        self.withheld = self.withheld.saturating_add(1);
    }
}

impl Sim {
    /// Clone node `i` signs `vote` on `proposal` with the member's key, outside its
    /// engine, and publishes it to every reachable peer.
    pub(super) fn clone_vote(&mut self, i: usize, proposal: ProposalId, vote: Vote) {
        let Some(n) = self.nodes.get(i) else { return };
        let ballot = cloned::ballot(self.roster.swarm(), proposal, &n.key, n.voter, vote);
        let Ok(bytes) = codec::encode(&ballot) else {
            return;
        };
        let msg = self.intern(&bytes);
        let c = &mut self.clones;
        c.msgs.insert(msg, i);
        c.ballots.insert(ballot, i);
        let signed = c.signed.entry(i).or_insert(0);
        *signed = signed.saturating_add(1);
        self.publish(i, &bytes, None);
    }

    /// Honest node `i`'s engine saw a ballot in its name that it did not sign: it stops
    /// signing, and its first alarm is recorded. (Nodes named in the scenario's
    /// `testing.ignore_doppelganger` ignore it, to prove the check can fail.)
    pub(super) fn on_doppelganger(&mut self, i: usize, proposal: ProposalId, vote: Vote) {
        if self.scenario.testing.ignore_doppelganger.contains(&i) {
            return;
        }
        if let Some(e) = self.engine(i) {
            e.pause_signing(Pause::Doppelganger);
        }
        let now = self.now_us;
        let c = &mut self.clones;
        c.alarms = c.alarms.saturating_add(1);
        c.first_alarm.entry(i).or_insert((now, proposal, vote));
    }

    /// Gossip message `msg` was handed to honest node `to`'s engine.
    pub(super) fn note_clone_gossip(&mut self, to: usize, msg: u32) {
        if self.clones.msgs.is_empty() || !self.is_honest(to) {
            return;
        }
        if let Some(&clone) = self.clones.msgs.get(&msg) {
            self.clones.reached.insert(clone);
        }
    }

    /// A catch-up answer is about to be handed to node `to`'s engine.
    pub(super) fn note_clone_sync(&mut self, to: usize, response: &SyncResponse) {
        if self.clones.ballots.is_empty() || !self.is_honest(to) || !self.is_up(to) {
            return;
        }
        if let SyncResponse::Items { ballots, .. } = response {
            for b in ballots {
                if let Some(&clone) = self.clones.ballots.get(b) {
                    self.clones.reached.insert(clone);
                }
            }
        }
    }

    /// The clones' section of the report and the cloned-key check, for a run with
    /// clones (`None` otherwise).
    pub(super) fn cloned_keys(&self, violations: &mut Vec<Violation>) -> Option<ClonedKeys> {
        let c = &self.clones;
        if c.targets.is_empty() {
            return None;
        }
        let clones: Vec<ClonedNode> = c
            .targets
            .iter()
            .map(|&(node, of)| ClonedNode {
                node,
                of,
                ballots_signed: c.signed.get(&node).copied().unwrap_or(0),
                reached_honest: c.reached.contains(&node),
            })
            .collect();
        checks::cloned_keys_caught(
            self.seed,
            clones.iter().map(|k| (k.node, k.of, k.reached_honest)),
            |member| c.first_alarm.contains_key(&member),
            |member| self.is_up(member),
            violations,
        );
        Some(ClonedKeys {
            clones,
            detections: c
                .first_alarm
                .iter()
                .map(|(&node, &(at, proposal, vote))| Detection {
                    node,
                    at_ms: report::ms(at),
                    proposal: proposal.to_string(),
                    vote,
                })
                .collect(),
            alarms: c.alarms,
            votes_withheld: c.withheld,
        })
    }

    /// The (member, proposal) pairs a clone signed on: equivocation evidence about them
    /// is the clone's doing, not the member's.
    pub(super) fn cloned_pairs(&self) -> BTreeSet<(VoterId, ProposalId)> {
        self.clones
            .ballots
            .keys()
            .map(|b| (b.ballot().voter, b.ballot().proposal))
            .collect()
    }
}
