//! The MCP tools: what an agent can ask of its node, each with its schema, annotations
//! and a description written for a model.
//!
//! Every failure is a tool error (a result with `isError`), never a protocol error or a
//! crash, and its text says what to do next: a model reads it.

use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::handler::server::wrapper::Parameters;
use rmcp::{Json, tool, tool_router};
use swarmvote_protocol::ProposalId;

use crate::api::{ListQuery, ProposalPage, ProposalReport, Proposed};
use crate::cli::certificate::verify_certificate;
use crate::cli::client::ClientError;
use swarmvote_protocol::Roster;

use super::link::{NodeLink, decode};
use super::views::{
    AwaitDecision, CastVote, CertificateView, DEFAULT_AWAIT_WAIT_S, DEFAULT_PROPOSE_WAIT_S,
    Decision, ListProposals, MAX_WAIT_S, ProposalLine, ProposalList, ProposalRef, ProposeAction,
    SignerView, Verification, VerifyCertificate,
};

/// Default `list_proposals` limit.
const DEFAULT_LIST_LIMIT: u32 = 20;
/// Largest `list_proposals` limit (the API's page bound).
const MAX_LIST_LIMIT: u32 = 1000;

/// The swarmvote MCP server: its tools, over one link to the node.
#[derive(Clone)]
pub struct Tools {
    pub(super) link: NodeLink,
    pub(super) tool_router: ToolRouter<Self>,
}

/// What an API failure means to an agent, and what it should do.
fn explain(e: &ClientError, id: Option<&ProposalId>) -> String {
    let which = id.map_or_else(String::new, |id| format!(" {id}"));
    match e {
        ClientError::NotRunning { .. } | ClientError::Transport { .. } => format!(
            "the swarmvote node is not reachable ({e}). The action must not proceed without \
             the swarm's approval: ask the operator to start the node (`swarmvote run`), \
             then call this tool again."
        ),
        ClientError::Unauthorized { .. } => format!(
            "the swarmvote node refused this MCP server's API token ({e}). The operator must \
             fix the token (restart the MCP server after the node restarted, or set [api] \
             token). Do not proceed with the action."
        ),
        ClientError::Api { status: 404, .. } => format!(
            "unknown proposal{which}: check the id (64 hex digits, as propose_action \
             returned it), or find it with list_proposals."
        ),
        ClientError::Api {
            status: 409,
            message,
            ..
        } => format!(
            "{message}. Call get_proposal{} to see where it stands.",
            id.map_or_else(String::new, |id| format!(" with id {id}"))
        ),
        ClientError::Api {
            status: 429,
            message,
            ..
        } => format!(
            "{message}. Too many of this node's proposals are open: wait for some to be \
             decided (await_decision), then propose again."
        ),
        ClientError::Api {
            status: 400 | 413,
            message,
            ..
        } => format!("invalid argument: {message}. Fix the argument and call again."),
        other => format!("{other}"),
    }
}

fn parse_id(text: &str) -> Result<ProposalId, String> {
    text.trim().parse().map_err(|e| {
        format!(
            "invalid argument id {text:?}: {e}. A proposal id is the 64 hex digits that \
             propose_action returned."
        )
    })
}

fn wait_ms(wait_s: Option<u64>, default_s: u64) -> u64 {
    wait_s
        .unwrap_or(default_s)
        .min(MAX_WAIT_S)
        .saturating_mul(1000)
}

#[tool_router(router = tool_router, vis = "pub(super)")]
impl Tools {
    /// Asks the swarm to approve an action before the agent performs it.
    #[tool(
        name = "propose_action",
        description = "Ask the swarm for approval BEFORE performing a critical or dangerous \
action (deleting data, deploying, granting access, spending money...). The action becomes \
a signed proposal that every member's node judges independently; a quorum of signed YES \
votes approves it; riskier actions may fall in a roster tier that needs more YES votes, \
YES votes from a named group, or four-eyes (your own YES does not count: another member \
must approve). Waits up to wait_s seconds (default 3) for the decision. Returns the \
proposal id, its status (pending, approved, rejected, expired), the tally (with its tier \
and what a pending proposal still needs) and every ballot with its reason. Perform the action only if the status is approved; if pending, call \
await_decision with the id; if rejected or expired, do not perform it.",
        annotations(
            title = "Propose an action to the swarm",
            read_only_hint = false,
            destructive_hint = false,
            idempotent_hint = false,
            open_world_hint = true
        )
    )]
    pub async fn propose_action(
        &self,
        Parameters(args): Parameters<ProposeAction>,
    ) -> Result<Json<Decision>, String> {
        if let Some(0) = args.ttl_s {
            return Err("invalid argument ttl_s: must be at least 1 second".into());
        }
        let ttl_ms = args.ttl_s.map(|s| s.saturating_mul(1000));
        let wait = wait_ms(args.wait_s, DEFAULT_PROPOSE_WAIT_S);
        let ProposeAction {
            action, payload, ..
        } = args;
        let proposed: Proposed = self
            .link
            .call(move |c| {
                decode(
                    "POST /v1/proposals",
                    c.propose(&action, payload.clone(), ttl_ms, Some(wait))?,
                )
            })
            .await
            .map_err(|e| explain(&e, None))?;
        let report = match proposed.proposal {
            Some(r) => r,
            None => self.report(proposed.id).await?,
        };
        Ok(Json(Decision::of(&report, &self.link.names().await)))
    }

    /// Waits for a proposal's decision.
    #[tool(
        name = "await_decision",
        description = "Wait up to wait_s seconds (default 3, at most 300) for a proposal to \
be decided, then return where it stands: status, tally, ballots with reasons. Call it again \
while the status is pending. Perform the action only once the status is approved.",
        annotations(
            title = "Wait for the swarm's decision",
            read_only_hint = true,
            destructive_hint = false,
            idempotent_hint = true,
            open_world_hint = false
        )
    )]
    pub async fn await_decision(
        &self,
        Parameters(args): Parameters<AwaitDecision>,
    ) -> Result<Json<Decision>, String> {
        let id = parse_id(&args.id)?;
        let wait = wait_ms(args.wait_s, DEFAULT_AWAIT_WAIT_S);
        let report: ProposalReport = self
            .link
            .call(move |c| decode("GET /v1/proposals/{id}", c.proposal_decided(&id, wait)?))
            .await
            .map_err(|e| explain(&e, Some(&id)))?;
        Ok(Json(Decision::of(&report, &self.link.names().await)))
    }

    /// One proposal as it stands now.
    #[tool(
        name = "get_proposal",
        description = "Return a proposal as it stands now, without waiting: action, payload, \
status, tally against the quorum, every ballot with its reason, whether a quorum \
certificate exists, and the executor's record if it ran.",
        annotations(
            title = "Get a proposal",
            read_only_hint = true,
            destructive_hint = false,
            idempotent_hint = true,
            open_world_hint = false
        )
    )]
    pub async fn get_proposal(
        &self,
        Parameters(args): Parameters<ProposalRef>,
    ) -> Result<Json<Decision>, String> {
        let id = parse_id(&args.id)?;
        let report = self.report(id).await?;
        Ok(Json(Decision::of(&report, &self.link.names().await)))
    }

    /// Recent proposals.
    #[tool(
        name = "list_proposals",
        description = "List proposals this node knows, newest first, optionally only those \
with a status (pending, approved, rejected, expired) or an action. limit defaults to 20.",
        annotations(
            title = "List proposals",
            read_only_hint = true,
            destructive_hint = false,
            idempotent_hint = true,
            open_world_hint = false
        )
    )]
    pub async fn list_proposals(
        &self,
        Parameters(args): Parameters<ListProposals>,
    ) -> Result<Json<ProposalList>, String> {
        let limit = args.limit.unwrap_or(DEFAULT_LIST_LIMIT);
        if limit == 0 || limit > MAX_LIST_LIMIT {
            return Err(format!(
                "invalid argument limit {limit}: must be 1 to {MAX_LIST_LIMIT}"
            ));
        }
        let query = ListQuery {
            status: args.status.map(|s| s.as_str().to_owned()),
            action: args.action,
            since: None,
            limit: Some(usize::try_from(limit).unwrap_or(usize::MAX)),
            cursor: None,
            history: None,
        };
        let page: ProposalPage = self
            .link
            .call(move |c| decode("GET /v1/proposals", c.list(&query)?))
            .await
            .map_err(|e| explain(&e, None))?;
        let names = self.link.names().await;
        Ok(Json(ProposalList {
            proposals: page
                .proposals
                .iter()
                .map(|s| ProposalLine::of(s, &names))
                .collect(),
            more: page.next_cursor.is_some(),
        }))
    }

    /// This node's own ballot, for agents that vote themselves.
    #[tool(
        name = "cast_vote",
        description = "Cast this node's signed YES or NO ballot on a pending proposal, with a \
reason. For agents that judge proposals themselves (a node whose evaluator is manual). A \
node votes at most once per proposal: voting the same way again returns the same ballot, \
voting the other way is refused. Returns the proposal as it stands after the vote.",
        annotations(
            title = "Vote on a proposal",
            read_only_hint = false,
            destructive_hint = false,
            idempotent_hint = true,
            open_world_hint = true
        )
    )]
    pub async fn cast_vote(
        &self,
        Parameters(args): Parameters<CastVote>,
    ) -> Result<Json<Decision>, String> {
        let id = parse_id(&args.id)?;
        let vote = args.vote.into();
        let reason = args.reason;
        self.link
            .call(move |c| c.vote(&id, vote, reason.as_deref()))
            .await
            .map_err(|e| explain(&e, Some(&id)))?;
        let report = self.report(id).await?;
        Ok(Json(Decision::of(&report, &self.link.names().await)))
    }

    /// The quorum certificate of an approved proposal.
    #[tool(
        name = "get_certificate",
        description = "Return the quorum certificate of an approved proposal: the signed \
proposal and the YES ballots that approve it. Anyone can check it offline against the \
swarm's roster (verify_certificate, or `swarmvote verify-cert`).",
        annotations(
            title = "Get a quorum certificate",
            read_only_hint = true,
            destructive_hint = false,
            idempotent_hint = true,
            open_world_hint = false
        )
    )]
    pub async fn get_certificate(
        &self,
        Parameters(args): Parameters<ProposalRef>,
    ) -> Result<Json<CertificateView>, String> {
        let id = parse_id(&args.id)?;
        let certificate = self
            .link
            .call(move |c| c.certificate(&id))
            .await
            .map_err(|e| explain(&e, Some(&id)))?;
        Ok(Json(CertificateView {
            id: id.to_string(),
            certificate,
        }))
    }

    /// Checks a certificate offline.
    #[tool(
        name = "verify_certificate",
        description = "Check a quorum certificate offline against a roster (by default the \
swarm roster of this node): every signature, that each signer is a member, and that the \
YES signers reach the quorum. Returns valid true with the approved action, payload and \
signers, or valid false with the reason.",
        annotations(
            title = "Verify a quorum certificate",
            read_only_hint = true,
            destructive_hint = false,
            idempotent_hint = true,
            open_world_hint = false
        )
    )]
    pub async fn verify_certificate(
        &self,
        Parameters(args): Parameters<VerifyCertificate>,
    ) -> Result<Json<Verification>, String> {
        let (roster, roster_name) = match &args.roster {
            Some(text) => Roster::from_toml(text)
                .map(|r| (r, "given as `roster`".to_owned()))
                .map_err(|e| format!("invalid argument roster: not a roster: {e}"))?,
            None => self.link.roster()?,
        };
        Ok(Json(match verify_certificate(&args.certificate, &roster) {
            Ok(s) => Verification {
                valid: true,
                error: None,
                id: Some(s.proposal.to_string()),
                action: Some(s.action),
                payload: Some(s.payload),
                proposer: Some(s.proposer),
                needed: Some(s.q),
                signers: s
                    .signers
                    .into_iter()
                    .map(|g| SignerView {
                        name: g.name,
                        reason: g.reason,
                    })
                    .collect(),
            },
            Err(fault) => Verification {
                valid: false,
                error: Some(format!("{fault} (roster {roster_name})")),
                id: None,
                action: None,
                payload: None,
                proposer: None,
                needed: None,
                signers: Vec::new(),
            },
        }))
    }
}

impl Tools {
    /// The full report of `id`.
    async fn report(&self, id: ProposalId) -> Result<ProposalReport, String> {
        self.link
            .call(move |c| decode("GET /v1/proposals/{id}", c.proposal(&id)?))
            .await
            .map_err(|e| explain(&e, Some(&id)))
    }
}
