//! An MCP client (rmcp's) for the tests that talk to `swarmvote mcp`: over a child
//! process's stdio or over Streamable HTTP at a node's `/mcp`. Included with `#[path]` by
//! the tests that use it, so the others do not compile it.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use rmcp::model::{CallToolRequestParams, CallToolResult};
use rmcp::service::RunningService;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rmcp::transport::{ConfigureCommandExt, StreamableHttpClientTransport, TokioChildProcess};
use rmcp::{RoleClient, ServiceExt};
use serde_json::Value;

/// A connected MCP client.
pub type Client = RunningService<RoleClient, ()>;

/// `swarmvote mcp ARGS` as a child process, served over its stdio.
pub async fn stdio_client(args: &[&str]) -> Client {
    let bin = env!("CARGO_BIN_EXE_swarmvote");
    let args: Vec<String> = args.iter().map(|s| (*s).to_owned()).collect();
    let transport = TokioChildProcess::new(tokio::process::Command::new(bin).configure(|c| {
        c.arg("mcp").args(&args);
    }))
    .unwrap();
    ().serve(transport).await.unwrap()
}

/// Streamable HTTP at `addr`'s `/mcp`, with `token` as the bearer.
pub async fn http_client(addr: std::net::SocketAddr, token: &str) -> Result<Client, String> {
    let config = StreamableHttpClientTransportConfig::with_uri(format!("http://{addr}/mcp"))
        .auth_header(token.to_owned());
    let transport = StreamableHttpClientTransport::from_config(config);
    ().serve(transport).await.map_err(|e| format!("{e:?}"))
}

/// Calls `tool`; a call that takes more than 90 s fails the test.
pub async fn call(client: &Client, tool: &str, args: Value) -> CallToolResult {
    let Value::Object(args) = args else {
        panic!("arguments must be an object")
    };
    tokio::time::timeout(
        Duration::from_secs(90),
        client.call_tool(CallToolRequestParams::new(tool.to_owned()).with_arguments(args)),
    )
    .await
    .expect("the tool call hangs")
    .unwrap_or_else(|e| panic!("{tool}: protocol error {e:?}"))
}

/// A successful call's structured result.
pub async fn ok(client: &Client, tool: &str, args: Value) -> Value {
    let r = call(client, tool, args.clone()).await;
    assert_ne!(r.is_error, Some(true), "{tool} {args}: {r:?}");
    r.structured_content
        .clone()
        .unwrap_or_else(|| panic!("{tool}: no structured content: {r:?}"))
}

/// A tool error's text.
pub async fn tool_error(client: &Client, tool: &str, args: Value) -> String {
    let r = call(client, tool, args.clone()).await;
    assert_eq!(r.is_error, Some(true), "{tool} {args} should fail: {r:?}");
    r.content
        .iter()
        .filter_map(|c| c.as_text().map(|t| t.text.clone()))
        .collect::<Vec<_>>()
        .join("\n")
}
