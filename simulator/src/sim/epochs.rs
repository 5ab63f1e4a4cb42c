//! Roster changes in the model: a scenario's `[[roster_changes]]` proposed at their time
//! by a member under its engine's head roster, how members vote on them, the test-only
//! `testing.skip_steps` knob that keeps nodes from ever adopting one, and the end's
//! epoch check and report section.

use std::collections::BTreeMap;

use swarmvote_protocol::chain::ROSTER_ACTION;
use swarmvote_protocol::crypto::sha256;
use swarmvote_protocol::engine::{Engine, SyncResponse};
use swarmvote_protocol::gossip::{Gossip, decode_gossip};
use swarmvote_protocol::{Action, Nonce, Payload, ProposalId, Verdict, Vote};

use super::{Kind, Sim};
use crate::behaviour::Decision;
use crate::checks::{self, HeldChain};
use crate::report::{EpochCount, EpochStep, Epochs, Violation};
use crate::swarm::member_name;

/// The roster changes a run proposed: each change's proposal, by scenario index.
#[derive(Default)]
pub(super) struct Changes {
    /// Proposal id to the scenario's change index.
    pub(super) ids: BTreeMap<ProposalId, usize>,
    /// Changes proposed.
    pub(super) proposed: u64,
    /// Changes whose proposer could not propose.
    pub(super) skipped: u64,
}

/// A change's nonce: fixed by its index, so proposing it draws nothing from the run's
/// RNG.
fn change_nonce(k: usize) -> Nonce {
    let mut bytes = b"swarmvote-sim roster change".to_vec();
    bytes.extend_from_slice(&u64::try_from(k).unwrap_or(u64::MAX).to_le_bytes());
    let h = sha256(&bytes);
    let mut n = [0u8; 16];
    n.copy_from_slice(h.get(..16).unwrap_or(&[0; 16]));
    Nonce(n)
}

impl Sim {
    /// Whether node `i`'s own engine's head roster lists it (a removed member proposes
    /// nothing more).
    pub(super) fn listed(&self, i: usize) -> bool {
        self.nodes
            .get(i)
            .and_then(|n| Some(n.engine.as_ref()?.roster().member(&n.voter).is_some()))
            .unwrap_or(false)
    }

    /// Scenario change `k` is due: its proposer proposes it under its head roster.
    pub(super) fn on_roster_change(&mut self, k: usize) {
        let Some(change) = self.scenario.roster_changes.get(k).cloned() else {
            return;
        };
        let proposer = match &change.by {
            Some(by) => (0..self.nodes.len()).find(|&i| member_name(i) == *by),
            None => (0..self.nodes.len()).find(|&i| {
                self.is_honest(i) && self.is_up(i) && !self.clones.stopped(i) && self.listed(i)
            }),
        };
        let now = self.now();
        let ttl = self.scenario.workload.ttl_ms;
        let proposed = proposer.and_then(|i| {
            let engine = self.engine(i)?;
            // Checked at load against the rosters the changes build in order; a change
            // proposed on a head that is behind or ahead may not apply, and is skipped.
            let doc = change.next_document(engine.roster()).ok()?;
            let payload = Payload::from_value(&serde_json::to_value(&doc).ok()?).ok()?;
            let action = Action::new(ROSTER_ACTION).ok()?;
            let id = engine
                .propose(now, action, payload, ttl, change_nonce(k))
                .ok()?;
            Some((i, id))
        });
        match proposed {
            Some((i, id)) => {
                self.changes.ids.insert(id, k);
                self.changes.proposed = self.changes.proposed.saturating_add(1);
                self.log(i, Kind::Propose, id.as_bytes());
                self.drain(i, None);
            }
            None => self.changes.skipped = self.changes.skipped.saturating_add(1),
        }
    }

    /// How node `i` decides on a roster change, if `proposal` is one: honest members
    /// vote YES (an operator approved it); the others as their behaviour decides on a
    /// benign proposal.
    pub(super) fn change_decision(&mut self, i: usize, proposal: ProposalId) -> Option<Decision> {
        if !self.changes.ids.contains_key(&proposal) {
            return None;
        }
        let behaviour = self.nodes.get(i)?.behaviour.clone();
        if behaviour.is_honest() {
            return Some(Decision::Vote {
                vote: Vote::Yes,
                reason: None,
            });
        }
        Some(
            self.judging
                .decide(&behaviour, proposal, false, None, &mut self.rng),
        )
    }

    /// Whether node `to` (under `testing.skip_steps`) must not get this gossip message:
    /// a roster change proposal, or a ballot on one.
    pub(super) fn withholds_gossip(&self, to: usize, bytes: &[u8]) -> bool {
        if !self.scenario.testing.skip_steps.contains(&to) {
            return false;
        }
        match decode_gossip(bytes) {
            Ok(Gossip::Proposal(p)) => p.proposal().action.as_str() == ROSTER_ACTION,
            Ok(Gossip::Ballot(b)) => self.changes.ids.contains_key(&b.ballot().proposal),
            _ => false,
        }
    }

    /// What node `to` gets of a catch-up answer: under `testing.skip_steps`, no steps and
    /// no roster change proposals or their ballots.
    pub(super) fn strip_steps(&self, to: usize, body: SyncResponse) -> SyncResponse {
        if !self.scenario.testing.skip_steps.contains(&to) {
            return body;
        }
        match body {
            SyncResponse::Steps(_) => SyncResponse::Steps(Vec::new()),
            SyncResponse::Items { proposals, ballots } => SyncResponse::Items {
                proposals: proposals
                    .into_iter()
                    .filter(|p| p.proposal().action.as_str() != ROSTER_ACTION)
                    .collect(),
                ballots: ballots
                    .into_iter()
                    .filter(|b| !self.changes.ids.contains_key(&b.ballot().proposal))
                    .collect(),
            },
            other => other,
        }
    }

    /// The epoch check over the honest engines up, and the report's section: `None`
    /// when the scenario changes no roster.
    pub(super) fn check_epochs(
        &self,
        engines: &[(usize, &Engine)],
        violations: &mut Vec<Violation>,
    ) -> Option<Epochs> {
        if self.scenario.roster_changes.is_empty() {
            return None;
        }
        let held: Vec<HeldChain> = engines
            .iter()
            .map(|&(i, e)| HeldChain {
                node: i,
                head: e.roster().digest(),
                epoch: e.roster().epoch(),
                main: e.chain().main_steps().map(|s| s.proposal()).collect(),
                steps: e
                    .chain()
                    .all_steps()
                    .map(|s| s.certificate.clone())
                    .collect(),
            })
            .collect();
        checks::epochs(self.seed, &self.roster, &held, violations);
        let reference = engines.first().map(|&(_, e)| e)?;
        let chain = reference.chain();
        let steps = chain
            .main_steps()
            .map(|s| EpochStep {
                epoch: s.roster.epoch(),
                proposal: s.proposal().to_string(),
                n: s.roster.len(),
                q: s.roster.required(),
                four_eyes: s.roster.default_tier().four_eyes(),
            })
            .collect();
        let mut per: BTreeMap<u64, EpochCount> = BTreeMap::new();
        for id in self.truth.keys() {
            let Some(v) = reference.proposal(id) else {
                continue;
            };
            let Some(epoch) = chain
                .get(&v.proposal().proposal().roster)
                .map(|r| r.epoch())
            else {
                continue;
            };
            let c = per.entry(epoch).or_insert_with(|| EpochCount {
                epoch,
                ..EpochCount::default()
            });
            c.proposals = c.proposals.saturating_add(1);
            match v.tally().verdict() {
                Verdict::Approved => c.approved = c.approved.saturating_add(1),
                Verdict::Rejected => c.rejected = c.rejected.saturating_add(1),
                _ => {}
            }
        }
        Some(Epochs {
            head_epoch: chain.head().epoch(),
            head: chain.head().digest().to_string(),
            steps,
            changes_proposed: self.changes.proposed,
            changes_skipped: self.changes.skipped,
            per_epoch: per.into_values().collect(),
        })
    }
}
