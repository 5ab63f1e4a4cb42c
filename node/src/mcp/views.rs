//! What the MCP tools take and give: their arguments and their structured results, with
//! the JSON schemas that MCP clients show to models.
//!
//! The results are a view of the API's own types ([`crate::api`]) made for an agent:
//! voters by roster name, the tally as counts against the quorum, the NO reasons pulled
//! out, and a `next` line that says what to do now. They are built from the API's types
//! here and nowhere else.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use swarmvote_protocol::{Status, Vote, VoterId};

use crate::api::{ExecutionRecord, ProposalReport, ProposalSummary};
use crate::cli::progress::Progress;

/// How long `propose_action` waits by default: short, because some MCP clients give a
/// tool call only 5 s.
pub const DEFAULT_PROPOSE_WAIT_S: u64 = 3;
/// How long `await_decision` waits by default.
pub const DEFAULT_AWAIT_WAIT_S: u64 = 3;
/// Longest wait of one tool call.
pub const MAX_WAIT_S: u64 = 300;

/// `propose_action` arguments.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ProposeAction {
    /// What the agent wants to do, such as `fs.delete` or `db.query`: 1 to 64 ASCII
    /// letters, digits, '.', '_', '-', ':' and '/'.
    pub action: String,
    /// Its details, any JSON value (at most 32 KiB as canonical JSON), such as
    /// `{"path": "/backup/db"}`. Voters judge the action by it. Default `{}`.
    #[serde(default = "empty_object")]
    pub payload: Value,
    /// Seconds the swarm has to decide before the proposal expires (default 60, at most
    /// 604800).
    #[serde(default)]
    pub ttl_s: Option<u64>,
    /// Seconds to wait for the decision before answering `pending` (default 3, at most
    /// 300). Keep it below your client's tool-call timeout.
    #[serde(default)]
    pub wait_s: Option<u64>,
}

fn empty_object() -> Value {
    Value::Object(serde_json::Map::new())
}

/// `await_decision` arguments.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AwaitDecision {
    /// The proposal id (64 hex digits) that `propose_action` returned.
    pub id: String,
    /// Seconds to wait for the decision (default 3, at most 300).
    #[serde(default)]
    pub wait_s: Option<u64>,
}

/// Arguments that name one proposal.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ProposalRef {
    /// The proposal id (64 hex digits).
    pub id: String,
}

/// A proposal's status, as a filter.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum StatusName {
    /// Waiting for ballots.
    Pending,
    /// Approved by a quorum.
    Approved,
    /// Approval has become impossible.
    Rejected,
    /// Still pending when it expired.
    Expired,
}

impl From<Status> for StatusName {
    fn from(s: Status) -> Self {
        match s {
            Status::Pending => StatusName::Pending,
            Status::Approved => StatusName::Approved,
            Status::Rejected => StatusName::Rejected,
            Status::Expired => StatusName::Expired,
        }
    }
}

impl StatusName {
    /// The API's word for it.
    pub fn as_str(self) -> &'static str {
        match self {
            StatusName::Pending => "pending",
            StatusName::Approved => "approved",
            StatusName::Rejected => "rejected",
            StatusName::Expired => "expired",
        }
    }
}

/// `list_proposals` arguments.
#[derive(Clone, Debug, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListProposals {
    /// Only proposals with this status.
    #[serde(default)]
    pub status: Option<StatusName>,
    /// Only this action, such as `fs.delete`.
    #[serde(default)]
    pub action: Option<String>,
    /// At most this many, newest first (default 20, at most 1000).
    #[serde(default)]
    pub limit: Option<u32>,
}

/// A vote, as an argument.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum VoteName {
    /// Approve.
    Yes,
    /// Refuse.
    No,
}

impl From<VoteName> for Vote {
    fn from(v: VoteName) -> Self {
        match v {
            VoteName::Yes => Vote::Yes,
            VoteName::No => Vote::No,
        }
    }
}

impl From<Vote> for VoteName {
    fn from(v: Vote) -> Self {
        match v {
            Vote::Yes => VoteName::Yes,
            Vote::No => VoteName::No,
        }
    }
}

/// `cast_vote` arguments.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CastVote {
    /// The proposal id (64 hex digits).
    pub id: String,
    /// `yes` or `no`.
    pub vote: VoteName,
    /// Why (recorded in the signed ballot; 1 to 1024 bytes).
    #[serde(default)]
    pub reason: Option<String>,
}

/// `verify_certificate` arguments.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct VerifyCertificate {
    /// The certificate, as `get_certificate` returned it (a JSON object).
    pub certificate: Value,
    /// The roster to check it against, as the text of a roster.toml. Absent: the roster
    /// of the node this server serves.
    #[serde(default)]
    pub roster: Option<String>,
}

/// The tally as counts against the quorum of the proposal's tier.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
pub struct TallyView {
    /// Members that signed YES.
    pub yes: usize,
    /// Members that signed NO.
    pub no: usize,
    /// YES votes needed to approve (q).
    pub needed: u32,
    /// Members of the roster (n).
    pub members: u32,
    /// The roster tier that judges the proposal: `default` unless a roster rule (such as
    /// one for deletes under /backup) matched its action and payload.
    pub tier: String,
    /// Four-eyes: the proposer's own ballot does not count, so `needed` YES votes must
    /// come from other members.
    pub four_eyes: bool,
    /// YES votes that count toward `needed` (under four-eyes, the proposer's own is not
    /// among them).
    pub counted_yes: u32,
    /// Groups that must approve too: at least `needed` YES votes from each.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<GroupView>,
}

/// A group requirement of the proposal's tier.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
pub struct GroupView {
    /// The group's name in the roster, such as `security`.
    pub group: String,
    /// YES votes needed from its members.
    pub needed: u32,
    /// YES votes from its members so far (that count).
    pub yes: u32,
}

/// One ballot.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
pub struct BallotView {
    /// The voter's roster name (or a short id).
    pub voter: String,
    /// `yes` or `no`.
    pub vote: VoteName,
    /// Its reason, if it gave one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// The executor's run of an approved proposal (on the proposer's node).
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
pub struct ExecutionView {
    /// `started`, `finished`, `interrupted` or `refused`.
    pub state: String,
    /// The program's exit code, once finished.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,
    /// Why it did not run or finish.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl From<&ExecutionRecord> for ExecutionView {
    fn from(r: &ExecutionRecord) -> Self {
        Self {
            state: r.state.to_string(),
            exit_code: r.exit_code,
            error: r.error.clone(),
        }
    }
}

/// A proposal and where it stands: the result of `propose_action`, `await_decision`,
/// `get_proposal` and `cast_vote`.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
pub struct Decision {
    /// The proposal id (64 hex digits).
    pub id: String,
    /// `pending`, `approved`, `rejected` or `expired`.
    pub status: StatusName,
    /// The action.
    pub action: String,
    /// The payload.
    pub payload: Value,
    /// The proposer's roster name.
    pub proposer: String,
    /// Creation time, unix ms.
    pub created_at: u64,
    /// Expiry, unix ms.
    pub expires_at: u64,
    /// The tally.
    pub tally: TallyView,
    /// Every ballot, with its reason.
    pub ballots: Vec<BallotView>,
    /// The reasons of the NO ballots, as `voter: reason`.
    pub no_reasons: Vec<String>,
    /// Whether a quorum certificate exists (`get_certificate` returns it).
    pub certificate: bool,
    /// The executor's run, if there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub execution: Option<ExecutionView>,
    /// What to do now.
    pub next: String,
}

/// Voter names, from the node's roster.
#[derive(Clone, Debug, Default)]
pub struct Names(pub BTreeMap<VoterId, String>);

impl Names {
    /// A voter's roster name, or its short id.
    pub fn of(&self, v: &VoterId) -> String {
        self.0.get(v).cloned().unwrap_or_else(|| v.short())
    }
}

impl Decision {
    /// The view of `report`.
    pub fn of(report: &ProposalReport, names: &Names) -> Self {
        let p = report.proposal.proposal();
        let id = report.id.to_string();
        let ballots: Vec<BallotView> = report
            .ballots
            .iter()
            .map(|b| {
                let b = b.ballot();
                BallotView {
                    voter: names.of(&b.voter),
                    vote: b.vote.into(),
                    reason: b.reason.as_ref().map(|r| r.as_str().to_owned()),
                }
            })
            .collect();
        let no_reasons = ballots
            .iter()
            .filter(|b| b.vote == VoteName::No)
            .map(|b| match &b.reason {
                Some(r) => format!("{}: {r}", b.voter),
                None => format!("{}: (no reason given)", b.voter),
            })
            .collect();
        let status = StatusName::from(report.status);
        let progress = Progress::of(report);
        let proposer = names.of(&p.proposer);
        // Why it is still pending, where a tier, four-eyes or a group is the reason.
        let waiting = if progress.is_plain() {
            None
        } else {
            progress
                .missing(&proposer)
                .map(|m| format!(" Under tier {} it {m}.", progress.tier))
        };
        let next = match status {
            StatusName::Pending => format!(
                "Not decided yet.{} Do not perform the action. Call await_decision with id {id} \
                 (it waits up to wait_s seconds) until the status is approved, rejected or expired.",
                waiting.unwrap_or_default()
            ),
            StatusName::Approved => format!(
                "Approved by the swarm: you may perform the action exactly as proposed. \
                 get_certificate with id {id} returns the signed proof."
            ),
            StatusName::Rejected => "Rejected by the swarm: do not perform the action. \
                 The NO reasons say why; change the plan rather than proposing the same again."
                .to_owned(),
            StatusName::Expired => "Expired before a quorum decided: do not perform the action. \
                 Propose again (perhaps with a longer ttl_s) if it is still needed."
                .to_owned(),
        };
        Self {
            id,
            status,
            action: p.action.as_str().to_owned(),
            payload: p.payload.to_value(),
            proposer,
            created_at: p.created_at.0,
            expires_at: p.expires_at.0,
            tally: TallyView {
                yes: report.tally.yes.len(),
                no: report.tally.no.len(),
                needed: report.tally.q,
                members: report.tally.n,
                tier: progress.tier.clone(),
                four_eyes: progress.four_eyes,
                counted_yes: progress.yes,
                groups: progress
                    .groups
                    .iter()
                    .map(|g| GroupView {
                        group: g.group.to_string(),
                        needed: g.need,
                        yes: g.yes,
                    })
                    .collect(),
            },
            ballots,
            no_reasons,
            certificate: status == StatusName::Approved,
            execution: report.execution.as_ref().map(ExecutionView::from),
            next,
        }
    }
}

/// One line of `list_proposals`.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
pub struct ProposalLine {
    /// The proposal id.
    pub id: String,
    /// The action.
    pub action: String,
    /// The proposer's roster name.
    pub proposer: String,
    /// Its status.
    pub status: StatusName,
    /// YES signers.
    pub yes: usize,
    /// NO signers.
    pub no: usize,
    /// Creation time, unix ms.
    pub created_at: u64,
    /// Expiry, unix ms.
    pub expires_at: u64,
}

impl ProposalLine {
    /// The view of `s`.
    pub fn of(s: &ProposalSummary, names: &Names) -> Self {
        Self {
            id: s.id.to_string(),
            action: s.action.as_str().to_owned(),
            proposer: names.of(&s.proposer),
            status: s.status.into(),
            yes: s.yes,
            no: s.no,
            created_at: s.created_at.0,
            expires_at: s.expires_at.0,
        }
    }
}

/// The result of `list_proposals`.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
pub struct ProposalList {
    /// Newest first.
    pub proposals: Vec<ProposalLine>,
    /// Whether older proposals match too (raise `limit` to see them).
    pub more: bool,
}

/// The result of `get_certificate`.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
pub struct CertificateView {
    /// The proposal id.
    pub id: String,
    /// The certificate: pass it to `verify_certificate`, or save it and run
    /// `swarmvote verify-cert FILE --roster roster.toml`.
    pub certificate: Value,
}

/// A YES signer of a verified certificate.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
pub struct SignerView {
    /// Its roster name.
    pub name: String,
    /// Its reason, if it gave one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// The result of `verify_certificate`.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
pub struct Verification {
    /// Whether the certificate proves approval under the roster.
    pub valid: bool,
    /// Why not, when it is not valid.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The approved proposal's id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// The approved action.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<String>,
    /// The approved payload.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payload: Option<Value>,
    /// The proposer's roster name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proposer: Option<String>,
    /// YES votes needed (q).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub needed: Option<u32>,
    /// The YES signers.
    #[serde(default)]
    pub signers: Vec<SignerView>,
}
