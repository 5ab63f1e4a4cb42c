//! `swarmvote mcp`: the node's tools for AI agents over the Model Context Protocol, on
//! stdio (a process an MCP client starts) and on Streamable HTTP (`/mcp` on the node's
//! API listener, behind its bearer token).
//!
//! Both transports serve the same [`Tools`], which reach the node through its HTTP API
//! ([`link`]). Decisions are not pushed to the client: MCP's logging notifications are
//! deprecated and the current protocol revision has no sessions to push on, so an agent
//! that got `pending` polls with `await_decision`, which waits on the node's side.

mod link;
mod tools;
mod views;

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

use rmcp::handler::server::tool::ToolCallContext;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, ContentBlock, Implementation, ListToolsResult,
    PaginatedRequestParams, ServerCapabilities, ServerConfig, Tool,
};
use rmcp::service::RequestContext;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use rmcp::{ErrorData, RoleServer, ServerHandler, ServiceExt};

use tokio_util::sync::CancellationToken;

use crate::cli::client::{Endpoint, Locator};

pub use link::{NodeLink, Target};
pub use tools::Tools;
pub use views::{
    AwaitDecision, BallotView, CastVote, CertificateView, DEFAULT_AWAIT_WAIT_S,
    DEFAULT_PROPOSE_WAIT_S, Decision, ListProposals, MAX_WAIT_S, ProposalLine, ProposalList,
    ProposalRef, ProposeAction, StatusName, TallyView, Verification, VerifyCertificate,
};

/// Where `/mcp` is mounted on the API listener.
pub const PATH: &str = "/mcp";

/// What the server tells a client about itself at initialisation.
const INSTRUCTIONS: &str = "swarmvote is a peer-to-peer voting gate: critical actions need \
the approval of a quorum of independent agents' nodes. Before any destructive or risky \
action, call propose_action and perform the action only if the status is approved. If it \
is pending, call await_decision with the id. If it is rejected or expired, do not perform \
it. Nodes that vote by hand use cast_vote. A certificate (get_certificate) proves an \
approval to anyone offline (verify_certificate).";

impl Tools {
    /// The tools, over `link`.
    pub fn new(link: NodeLink) -> Self {
        Self {
            link,
            tool_router: Self::tool_router(),
        }
    }
}

impl ServerHandler for Tools {
    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let tool = request.name.clone();
        let mut response = self
            .tool_router
            .call(ToolCallContext::new(self, request, context))
            .await?;
        // rmcp reports arguments that do not match the schema as a tool error already;
        // name the tool and say what to do, as every other tool error does.
        if let CallToolResponse::Complete(result) = &mut response
            && result.is_error == Some(true)
        {
            for block in &mut result.content {
                if let Some(text) = block.as_text()
                    && text.text.starts_with("failed to deserialize parameters")
                {
                    let fixed = format!(
                        "invalid arguments for {tool}: {}. Call it again with arguments that \
                         match its input schema.",
                        text.text
                    );
                    *block = ContentBlock::text(fixed);
                }
            }
        }
        Ok(response)
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        Ok(ListToolsResult::with_all_items(self.tool_router.list_all()))
    }

    fn get_tool(&self, name: &str) -> Option<Tool> {
        self.tool_router.get(name).cloned()
    }

    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(
                Implementation::new("swarmvote", env!("CARGO_PKG_VERSION"))
                    .with_title("swarmvote voting gate"),
            )
            .with_instructions(INSTRUCTIONS)
    }
}

/// Serves the tools on standard input and output until the client closes them.
pub async fn serve_stdio(locator: Locator) -> Result<(), McpError> {
    let tools = Tools::new(NodeLink::new(Target::Locate(locator)));
    let running = tools
        .serve(rmcp::transport::stdio())
        .await
        .map_err(|e| McpError::Start(e.to_string()))?;
    running
        .waiting()
        .await
        .map_err(|e| McpError::Stopped(e.to_string()))?;
    Ok(())
}

/// The Streamable HTTP service for `/mcp`, calling the node's API at `endpoint`, until
/// `stop` is cancelled (at shutdown, so open requests do not hold it up). The caller puts
/// it behind the API's bearer-token check; `Host` is not checked, because the token, not
/// the address, is what admits a caller.
pub fn http_service(
    endpoint: Endpoint,
    stop: CancellationToken,
) -> StreamableHttpService<Tools, LocalSessionManager> {
    let link = NodeLink::new(Target::Fixed(endpoint));
    let config = StreamableHttpServerConfig::default()
        .disable_allowed_hosts()
        .with_json_response(true)
        .with_cancellation_token(stop);
    StreamableHttpService::new(
        move || Ok(Tools::new(link.clone())),
        Arc::new(LocalSessionManager::default()),
        config,
    )
}

/// The address a node's own `/mcp` calls its API at: the bound address, with a wildcard
/// IP replaced by loopback.
pub fn loopback_of(bound: SocketAddr) -> SocketAddr {
    match bound {
        SocketAddr::V4(a) if a.ip().is_unspecified() => {
            SocketAddr::from((Ipv4Addr::LOCALHOST, a.port()))
        }
        SocketAddr::V6(a) if a.ip().is_unspecified() => {
            SocketAddr::from((Ipv6Addr::LOCALHOST, a.port()))
        }
        other => other,
    }
}

/// Why the MCP server stopped.
#[derive(Debug, thiserror::Error)]
pub enum McpError {
    /// The MCP handshake failed.
    #[error("mcp: the client's initialisation failed: {0}")]
    Start(String),
    /// The session ended with an error.
    #[error("mcp: the session failed: {0}")]
    Stopped(String),
}
