//! The end of a run: the invariants checked on every honest node up, and the report.

use std::collections::{BTreeMap, BTreeSet};

use sha2::Digest;
use swarmvote_protocol::crypto::sha256;
use swarmvote_protocol::engine::Engine;
use swarmvote_protocol::{Certificate, ProposalId, UnixMillis, Verdict, codec};

use super::Sim;
use crate::checks::{self, Held};
use crate::report::{self, Invariants, Percentiles, Report, Security, Trace, per_decision};
use crate::swarm::START_MS;

impl Sim {
    pub(super) fn finish(mut self) -> Report {
        let seed = self.seed;
        let honest = self.honest_up();
        let engines: Vec<(usize, &Engine)> = honest
            .iter()
            .filter_map(|&i| {
                self.nodes
                    .get(i)
                    .and_then(|n| n.engine.as_ref())
                    .map(|e| (i, e))
            })
            .collect();
        let mut violations = Vec::new();
        // The roster chain the checks judge by: the reference node's (the epoch check
        // below holds every node's chain to its own certificates and the others' heads).
        let genesis_only = swarmvote_protocol::chain::RosterChain::new(self.roster.clone()).ok();
        let chain = engines
            .first()
            .map(|(_, e)| e.chain())
            .or(genesis_only.as_ref());

        // Agreement: every honest node up holds what the first one holds.
        let fingerprint = |e: &Engine| -> BTreeMap<ProposalId, Ballots> {
            e.proposals()
                .map(|v| {
                    let mut bytes = Vec::new();
                    for b in v.tally().ballots() {
                        bytes.extend_from_slice(&codec::encode(b).unwrap_or_default());
                    }
                    (
                        v.proposal().id(),
                        Ballots(v.tally().verdict(), sha256(&bytes)),
                    )
                })
                .collect()
        };
        if let Some(&(r, reference)) = engines.first() {
            let want = fingerprint(reference);
            let reference_digest = reference.tallies_digest();
            for &(i, e) in engines.iter().skip(1) {
                if e.tallies_digest() == reference_digest {
                    continue;
                }
                let got = fingerprint(e);
                let ids: BTreeSet<&ProposalId> = want.keys().chain(got.keys()).collect();
                let pairs = ids.into_iter().map(|id| (id, want.get(id), got.get(id)));
                if !checks::disagreements(seed, (r, i), pairs, &mut violations) {
                    violations.push(report::Violation {
                        kind: report::ViolationKind::Agreement,
                        seed,
                        proposal: None,
                        detail: format!("tallies digests of n{r} and n{i} differ"),
                    });
                }
            }
        }

        // Validity: every approval an honest node holds has a certificate that verifies.
        // Nodes that agree hold equal certificates, and whether one verifies depends on
        // its contents and the roster alone, so each distinct certificate is checked once.
        // Per proposal: each distinct certificate seen, whether it verified, and the first
        // node that held it.
        type Verified = Vec<(Certificate, Result<(), String>, usize)>;
        let mut checked: BTreeMap<ProposalId, Verified> = BTreeMap::new();
        for &(i, e) in &engines {
            for v in e.proposals() {
                if v.tally().verdict() != Verdict::Approved {
                    continue;
                }
                let id = v.proposal().id();
                let verified = v.certificate().map(|c| {
                    let seen = checked.entry(id).or_default();
                    match seen.iter().find(|(known, _, _)| *known == c) {
                        Some((_, result, _)) => result.clone(),
                        None => {
                            // Against the roster the proposal names.
                            let named = c.proposal().proposal().roster;
                            let result = match chain.and_then(|ch| ch.get(&named)) {
                                Some(roster) => c
                                    .clone()
                                    .verify_cached(roster, &self.sigs)
                                    .map(|_| ())
                                    .map_err(|err| err.to_string()),
                                None => Err(format!(
                                    "approved under roster {named}, which no verified roster \
                                     step leads to"
                                )),
                            };
                            seen.push((c, result.clone(), i));
                            result
                        }
                    }
                });
                checks::check_certificate(seed, i, id, verified, &mut violations);
            }
        }

        // No decision under the wrong tier: every honest node's tally and every distinct
        // certificate against the roster the proposal names (the genesis roster as the
        // scenario writes it). Roster changes too.
        for id in self.truth.keys().chain(self.changes.ids.keys()) {
            let mut proposal = None;
            let held: Vec<checks::HeldTier> = engines
                .iter()
                .filter_map(|&(i, e)| {
                    let v = e.proposal(id)?;
                    proposal.get_or_insert_with(|| v.proposal().clone());
                    Some(checks::HeldTier {
                        node: i,
                        verdict: v.tally().verdict(),
                        tier: v.tally().tier_name(),
                        q: v.tally().required(),
                    })
                })
                .collect();
            let Some(proposal) = proposal else { continue };
            let certificates: Vec<(usize, &Certificate)> = checked
                .get(id)
                .map(|seen| seen.iter().map(|(c, _, node)| (*node, c)).collect())
                .unwrap_or_default();
            match chain.and_then(|ch| checks::judged_by(ch, &self.written, &proposal)) {
                Some(roster) => checks::wrong_tier(
                    seed,
                    roster,
                    &proposal,
                    &held,
                    &certificates,
                    &mut violations,
                ),
                None if held.iter().any(|h| h.verdict.is_decided()) => {
                    checks::unknown_roster(seed, &proposal, &mut violations);
                }
                None => {}
            }
        }

        // Every honest node on the same roster head, proved by its step certificates.
        let epochs = self.check_epochs(&engines, &mut violations);

        // No honest member may ever be caught equivocating.
        let honest_voters = checks::honest_voters(self.nodes.iter().map(|n| &n.behaviour), |i| {
            self.nodes.get(i).map(|n| n.voter)
        });
        // Except where a clone of the member signed too: that key ran twice, and the
        // contradiction is the clone's (the member's own guard is still checked on every
        // proposal the clone left alone).
        let cloned = self.cloned_pairs();
        let by_member = self.evidence.iter().filter(|e| !cloned.contains(e));
        let by_honest =
            checks::honest_equivocations(by_member, &honest_voters, seed, &mut violations);

        // Every cloned key whose ballots reached an honest node was caught.
        let cloned_keys = self.cloned_keys(&mut violations);

        // Outcomes as the reference node holds them.
        let now = UnixMillis(START_MS.saturating_add(self.end_us / 1000));
        let mut p = std::mem::take(&mut self.counters.proposals);
        let mut x = Security::default();
        let mut tiers = checks::tier_counts(&self.written);
        let mut proposer_lat = Vec::new();
        let mut last_lat = Vec::new();
        for (id, t) in &self.truth {
            let verdict = engines
                .first()
                .and_then(|(_, e)| e.proposal(id))
                .map(|v| v.tally().verdict());
            checks::count_outcome(&mut p, &mut x, t, verdict, now);
            checks::count_tier(&mut tiers, t, verdict);
            if let Some(per_node) = self.decided.get(id) {
                let honest_at: Vec<Option<u64>> = honest
                    .iter()
                    .map(|i| per_node.get(i).map(|d| d.0))
                    .collect();
                checks::push_latencies(
                    t.created_us,
                    per_node.get(&t.proposer).map(|d| d.0),
                    &honest_at,
                    &mut proposer_lat,
                    &mut last_lat,
                );
            }
        }
        x.finish_block_rate();
        x.equivocations_detected = u64::try_from(self.evidence.len()).unwrap_or(u64::MAX);
        x.equivocations_by_honest = by_honest;
        x.invalid_rejected = self.counters.invalid_rejected;
        x.forged_sent = self.counters.forged_sent;
        x.ignored = self.counters.ignored;
        x.replayed_sent = self.counters.replayed_sent;
        x.garbage_sent = self.counters.garbage_sent;

        let mut traffic = std::mem::take(&mut self.counters.traffic);
        let decisions = p.approved.saturating_add(p.rejected);
        let msgs = traffic
            .gossip_messages
            .saturating_add(traffic.sync_messages);
        let bytes = traffic.gossip_bytes.saturating_add(traffic.sync_bytes);
        traffic.messages_per_decision = per_decision(msgs, decisions);
        traffic.bytes_per_decision = per_decision(bytes, decisions);
        traffic.converge_after_heal_ms = self
            .converged_us
            .map(|c| report::ms(c.saturating_sub(self.net.last_heal_us())));

        let mut storage = std::mem::take(&mut self.counters.storage);
        storage.records_lost = self.nodes.iter().map(|n| n.store.lost()).sum();

        let mut invariants = Invariants::from_violations(
            u32::try_from(honest.len()).unwrap_or(u32::MAX),
            violations,
        );
        if cloned_keys.is_some() {
            invariants = invariants.with_cloned_key_check();
        }
        if self.scenario.roster.is_some() || !self.scenario.roster_changes.is_empty() {
            invariants = invariants.with_tier_check();
        }
        if epochs.is_some() {
            invariants = invariants.with_epoch_check();
        }
        Report {
            scenario: self.scenario.name.clone(),
            seed,
            nodes: checks::node_groups(self.nodes.iter().map(|n| &n.behaviour)),
            n: self.roster.len(),
            q: self.roster.required(),
            duration_ms: self.end_us / 1000,
            proposals: p,
            latency: report::Latency {
                proposer: Percentiles::of(proposer_lat),
                last_honest: Percentiles::of(last_lat),
            },
            security: x,
            tiers,
            cloned_keys,
            epochs,
            traffic,
            storage,
            invariants,
            trace: Trace {
                events: self.trace_events,
                hash: hex::encode(self.trace.finalize()),
            },
        }
    }
}

/// What a node holds for one proposal, as the model compares it: the verdict and a
/// digest of the ballots.
#[derive(Clone, Copy, PartialEq, Eq)]
struct Ballots(Verdict, [u8; 32]);

impl Held for Ballots {
    fn describe(&self) -> String {
        format!(
            "{:?} with ballots {}",
            self.0,
            hex::encode(self.1.get(..4).unwrap_or_default())
        )
    }
}
