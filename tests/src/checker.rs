//! The checker over a test-bed run's history, with the simulator's checks
//! ([`swarmvote_sim::checks`]) so the model, live mode and the bed judge alike:
//! agreement (every node the same verdict for every proposal), validity (every approval
//! a certificate with q valid YES signatures, verified against the roster), no member
//! signing both YES and NO unless configured faulty, and no own ballot lost after the
//! node reported it.

use std::collections::{BTreeMap, BTreeSet};

use swarmvote_node::dev::cluster::ApiClient;
use swarmvote_protocol::{Certificate, Roster, Verdict, VoterId};
use swarmvote_sim::checks::{self, Held};
use swarmvote_sim::report::Violation;

use crate::history::{Final, History};

/// The bed has no seed of its own for most runs; violations carry the nemesis seed
/// when there is one, else this.
pub const NO_SEED: u64 = 0;

/// What one node holds for one proposal, as agreement compares it: its verdict.
#[derive(PartialEq)]
struct HeldVerdict(Verdict);

impl Held for HeldVerdict {
    fn describe(&self) -> String {
        format!("{:?}", self.0)
    }
}

/// The swarm a run is checked against.
pub struct Swarm<'a> {
    /// Its roster.
    pub roster: &'a Roster,
    /// Node `i`'s voter id.
    pub voters: &'a [VoterId],
    /// The voters configured to misbehave (excused from the equivocation check).
    pub faulty: &'a BTreeSet<VoterId>,
    /// Node `i`'s API client, to read the certificates of approvals.
    pub clients: &'a [ApiClient],
}

/// Checks a run; returns every violation found.
pub fn check(seed: u64, history: &History, finals: &Final, swarm: &Swarm<'_>) -> Vec<Violation> {
    let Swarm {
        roster,
        voters,
        faulty,
        clients,
    } = *swarm;
    let mut violations = Vec::new();
    let ids: Vec<&str> = history.proposed.iter().map(|p| p.id.as_str()).collect();
    let held: BTreeMap<usize, Vec<Option<HeldVerdict>>> = finals
        .iter()
        .map(|(i, reports)| {
            let v = reports
                .iter()
                .map(|r| r.as_ref().map(|r| HeldVerdict(r.tally.verdict)))
                .collect();
            (*i, v)
        })
        .collect();

    // Agreement: every node holds what the first holds.
    if let Some((&r, want)) = held.iter().next() {
        for (&i, got) in held.iter().filter(|(i, _)| **i != r) {
            let pairs = ids
                .iter()
                .zip(want.iter().zip(got))
                .map(|(id, (a, b))| (*id, a.as_ref(), b.as_ref()));
            checks::disagreements(seed, (r, i), pairs, &mut violations);
        }
    }

    // Validity: every approval's certificate verifies against the roster.
    for (&i, reports) in finals {
        let client = clients.get(i);
        for (id, report) in ids.iter().zip(reports) {
            if report.as_ref().map(|r| r.tally.verdict) != Some(Verdict::Approved) {
                continue;
            }
            let verified = match client.map(|c| c.certificate(id)) {
                Some(Ok(json)) => serde_json::from_value::<Certificate>(json)
                    .ok()
                    .map(|c| c.verify(roster).map(|_| ())),
                _ => None,
            };
            checks::check_certificate(seed, i, id, verified, &mut violations);
        }
    }

    // Equivocation: what any node ever showed, signed both ways by an honest member.
    let node_of: BTreeMap<VoterId, usize> = voters
        .iter()
        .enumerate()
        .map(|(i, v)| (*v, i))
        .filter(|(v, _)| !faulty.contains(v))
        .collect();
    let mut evidence = history.evidence.clone();
    evidence.extend(
        history
            .ballots
            .iter()
            .filter(|(_, votes)| votes.len() > 1)
            .map(|(k, _)| k.clone()),
    );
    let evidence: Vec<(VoterId, String)> = evidence.into_iter().collect();
    checks::honest_equivocations(&evidence, &node_of, seed, &mut violations);

    // No own ballot lost: every node still holds, unchanged, each ballot it reported.
    for ((node, id), vote) in &history.own {
        let index = ids.iter().position(|x| x == id);
        let now = finals
            .get(node)
            .and_then(|r| index.and_then(|k| r.get(k)))
            .and_then(|r| r.as_ref())
            .and_then(|r| r.own_ballot.as_ref())
            .map(|b| b.ballot().vote);
        checks::lost_ballot(seed, *node, id, vote, now.as_ref(), &mut violations);
    }
    violations
}
