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
