//! The roster as the API shows it: the head roster with its tier table
//! (`GET /v1/roster`), and the roster chain from the genesis roster, each step with the
//! certificate that approved it (`GET /v1/roster/history`).
//!
//! The history's JSON is also the chain file `swarmvote verify-cert --chain` reads: the
//! steps' certificates, checked offline against the genesis roster.

use serde::{Deserialize, Serialize};
use swarmvote_protocol::chain::{RosterChain, Step};
use swarmvote_protocol::roster::TierRow;
use swarmvote_protocol::{Certificate, ProposalId, Roster, RosterDigest, RosterDocument, VoterId};
use utoipa::ToSchema;

/// A roster: who votes, how many YES approve, tier by tier.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct RosterView {
    /// The swarm.
    pub swarm: String,
    /// Its digest: proposals made under it name it.
    pub digest: RosterDigest,
    /// Its epoch; 0 is the genesis roster.
    pub epoch: u64,
    /// Its predecessor's digest, from epoch 1 on.
    #[schema(nullable = true)]
    pub previous: Option<RosterDigest>,
    /// The roster change proposal that installed it (absent for the genesis roster).
    #[schema(nullable = true)]
    pub proposal: Option<ProposalId>,
    /// The genesis roster's digest: the chain this roster belongs to.
    pub genesis: RosterDigest,
    /// The default quorum fraction, such as `2/3`.
    #[schema(example = "2/3")]
    pub quorum: String,
    /// Members.
    pub n: u32,
    /// YES votes needed under the default tier.
    pub q: u32,
    /// The members, in key order.
    pub members: Vec<MemberView>,
    /// Every tier: the rules in order, then the default, then roster changes.
    pub tiers: Vec<TierView>,
    /// Things an operator should know, such as `q` below a strict majority.
    pub warnings: Vec<String>,
    /// The roster as a document (what `roster.toml` holds): a roster change's payload is
    /// this document edited, with `epoch` one more and `previous` this digest.
    #[schema(value_type = Object)]
    pub document: RosterDocument,
}

/// One member.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct MemberView {
    /// Its roster name.
    pub name: String,
    /// Its voter id (public key).
    pub voter: VoterId,
}

/// One tier's line of the table.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct TierView {
    /// The tier's name, recorded in the certificates it approves.
    pub name: String,
    /// What it applies to: `action field=glob`, `everything else`, `swarmvote.roster`.
    pub applies_to: String,
    /// The quorum fraction.
    #[schema(example = "2/3")]
    pub quorum: String,
    /// The electorate: `n`, or `n - 1` under four-eyes.
    pub n: u32,
    /// YES votes needed.
    pub q: u32,
    /// Members of the electorate that may be offline while approval stays possible.
    pub max_offline: u32,
    /// Whether the proposer's own ballot is left out.
    pub four_eyes: bool,
    /// Group requirements, as `k from group`.
    pub require: Vec<String>,
}

impl From<&TierRow> for TierView {
    fn from(t: &TierRow) -> Self {
        Self {
            name: t.name.to_string(),
            applies_to: t.applies_to.clone(),
            quorum: t.quorum.to_string(),
            n: t.n,
            q: t.q,
            max_offline: t.max_offline,
            four_eyes: t.four_eyes,
            require: t.require.clone(),
        }
    }
}

impl RosterView {
    /// `roster`, a roster of `chain` installed by `proposal` (none for genesis).
    pub fn of(roster: &Roster, chain: &RosterChain, proposal: Option<ProposalId>) -> Self {
        let report = roster.report();
        Self {
            swarm: roster.swarm().to_string(),
            digest: roster.digest(),
            epoch: roster.epoch(),
            previous: roster.previous(),
            proposal,
            genesis: chain.genesis().digest(),
            quorum: roster.quorum().to_string(),
            n: roster.len(),
            q: roster.required(),
            members: roster
                .members()
                .map(|(v, m)| MemberView {
                    name: m.name.to_string(),
                    voter: *v,
                })
                .collect(),
            tiers: report.tiers.iter().map(TierView::from).collect(),
            warnings: report.warnings,
            document: roster.to_document(),
        }
    }

    /// The head roster of `chain`.
    pub fn head(chain: &RosterChain) -> Self {
        let head = chain.head();
        let proposal = chain
            .main_steps()
            .last()
            .filter(|s| s.roster.digest() == head.digest())
            .map(Step::proposal);
        Self::of(head, chain, proposal)
    }
}

/// The roster chain: the genesis roster and every approved step, main chain first.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct RosterHistory {
    /// The swarm.
    pub swarm: String,
    /// The genesis roster's digest (epoch 0: the config's roster file).
    pub genesis: RosterDigest,
    /// The head's digest: the roster new proposals are made under.
    pub head: RosterDigest,
    /// The head's epoch.
    pub epoch: u64,
    /// Every step this node verified: those of the main chain in epoch order, then any
    /// superseded ones (approved at an epoch where a lower proposal id won).
    pub steps: Vec<HistoryStep>,
}

/// One approved roster change.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct HistoryStep {
    /// The epoch it installed.
    pub epoch: u64,
    /// The roster it installed.
    pub digest: RosterDigest,
    /// The roster that judged it (its predecessor).
    pub previous: RosterDigest,
    /// The roster change proposal.
    pub proposal: ProposalId,
    /// Whether another change at the same epoch won (lower proposal id): its roster
    /// judges the proposals made under it, but the chain does not continue from it.
    pub superseded: bool,
    /// The members whose YES ballots the certificate carries, named by `previous`.
    pub signers: Vec<MemberView>,
    /// The certificate that approved it, checked against `previous`.
    pub certificate: Certificate,
}

impl RosterHistory {
    /// Every step of `chain`.
    pub fn of(chain: &RosterChain) -> Self {
        let step = |s: &Step, superseded: bool| HistoryStep {
            epoch: s.roster.epoch(),
            digest: s.roster.digest(),
            previous: s.parent(),
            proposal: s.proposal(),
            superseded,
            signers: s
                .certificate
                .ballots()
                .iter()
                .map(|b| {
                    let voter = b.ballot().voter;
                    MemberView {
                        name: chain
                            .get(&s.parent())
                            .and_then(|r| r.member(&voter))
                            .map_or_else(|| voter.short(), |m| m.name.to_string()),
                        voter,
                    }
                })
                .collect(),
            certificate: s.certificate.clone(),
        };
        let mut steps: Vec<HistoryStep> = chain.main_steps().map(|s| step(s, false)).collect();
        let mut side: Vec<HistoryStep> = chain
            .all_steps()
            .filter(|s| !chain.is_main(&s.roster.digest()))
            .map(|s| step(s, true))
            .collect();
        side.sort_by_key(|s| (s.epoch, s.proposal));
        steps.extend(side);
        let head = chain.head();
        Self {
            swarm: head.swarm().to_string(),
            genesis: chain.genesis().digest(),
            head: head.digest(),
            epoch: head.epoch(),
            steps,
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

    use swarmvote_protocol::chain::ROSTER_ACTION;
    use swarmvote_protocol::roster::document::MemberDocument;
    use swarmvote_protocol::{
        Action, Ballot, MemberName, Nonce, Payload, Proposal, SecretKey, SwarmId, UnixMillis, Vote,
    };

    use super::*;

    fn key(i: u8) -> SecretKey {
        SecretKey::from_seed([i; 32])
    }

    /// A change of `genesis` adding member `new`, proposed by `by` and approved by
    /// `voters`.
    fn change(genesis: &Roster, new: u8, by: u8, voters: [u8; 2]) -> Certificate {
        let mut doc = genesis.to_document();
        doc.epoch = 1;
        doc.previous = Some(genesis.digest().to_string());
        doc.members.push(MemberDocument {
            name: format!("m{new}"),
            key: key(new).public().unwrap().to_string(),
        });
        let proposal = Proposal {
            swarm: genesis.swarm().clone(),
            roster: genesis.digest(),
            proposer: key(by).voter_id(),
            action: Action::new(ROSTER_ACTION).unwrap(),
            payload: Payload::from_value(&serde_json::to_value(&doc).unwrap()).unwrap(),
            created_at: UnixMillis(1_000),
            expires_at: UnixMillis(61_000),
            nonce: Nonce([new; 16]),
        }
        .sign(&key(by))
        .unwrap();
        let ballots = voters
            .iter()
            .map(|v| {
                Ballot {
                    swarm: genesis.swarm().clone(),
                    proposal: proposal.id(),
                    voter: key(*v).voter_id(),
                    vote: Vote::Yes,
                    reason: None,
                }
                .sign(&key(*v))
            })
            .collect();
        Certificate::new(proposal, ballots)
    }

    /// Four members at 1/2: two disjoint pairs approve two changes at epoch 1; the
    /// lower proposal id continues the chain, the other is listed as superseded.
    #[test]
    fn the_history_lists_the_main_chain_then_superseded_steps() {
        let genesis = Roster::new(
            SwarmId::new("t").unwrap(),
            "1/2".parse().unwrap(),
            (0..4u8).map(|i| {
                (
                    MemberName::new(format!("m{i}")).unwrap(),
                    key(i).public().unwrap(),
                )
            }),
        )
        .unwrap();
        let a = change(&genesis, 8, 0, [0, 1]);
        let b = change(&genesis, 9, 2, [2, 3]);
        let chain = RosterChain::from_steps(genesis.clone(), [a.clone(), b.clone()]).unwrap();
        let (win, lose) = if a.proposal().id() < b.proposal().id() {
            (a, b)
        } else {
            (b, a)
        };
        let h = RosterHistory::of(&chain);
        assert_eq!(h.genesis, genesis.digest());
        assert_eq!((h.epoch, h.head), (1, chain.head().digest()));
        assert_eq!(h.steps.len(), 2);
        assert_eq!(h.steps[0].proposal, win.proposal().id());
        assert!(!h.steps[0].superseded);
        assert_eq!(h.steps[0].digest, h.head);
        assert_eq!(h.steps[1].proposal, lose.proposal().id());
        assert!(h.steps[1].superseded);
        for s in &h.steps {
            assert_eq!(s.previous, genesis.digest());
            assert_eq!(s.signers.len(), 2);
        }
        // The head view names the change that installed it and the genesis.
        let v = RosterView::head(&chain);
        assert_eq!(v.proposal, Some(win.proposal().id()));
        assert_eq!(
            (v.epoch, v.previous, v.genesis),
            (1, Some(genesis.digest()), genesis.digest())
        );
        assert_eq!(v.n, 5);
        assert!(v.tiers.iter().any(|t| t.applies_to == ROSTER_ACTION));
        assert_eq!(
            Roster::from_document(&v.document).unwrap().digest(),
            v.digest
        );
        let g = RosterView::of(&genesis, &chain, None);
        assert_eq!((g.epoch, g.previous, g.proposal), (0, None, None));
    }
}
