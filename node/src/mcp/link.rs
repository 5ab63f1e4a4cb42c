//! The MCP server's way to its node: the node's own HTTP API, through the blocking API
//! client ([`NodeClient`]) run on tokio's blocking pool.
//!
//! The server is a client of the API in both transports (stdio, and `/mcp` inside the
//! node, which calls its own listener on loopback), so every tool goes through exactly
//! the checks, limits and own-vote guard that `curl` and the CLI go through, and there is
//! one implementation of each tool.

use std::sync::{Arc, Mutex};

use serde::de::DeserializeOwned;
use serde_json::Value;
use swarmvote_protocol::Roster;
use tokio::sync::Semaphore;

use crate::api::StatusReport;
use crate::cli::client::{ClientError, Endpoint, Locator, NodeClient};
use crate::config;

use super::views::Names;

/// API calls in flight at once; more wait for a slot.
const MAX_IN_FLIGHT: usize = 64;

/// Where the node is.
#[derive(Clone, Debug)]
pub enum Target {
    /// Found through a data dir or config, again after each failure (a restarted node has
    /// a new address file and cookie).
    Locate(Locator),
    /// A fixed address and token (the node's own `/mcp`).
    Fixed(Endpoint),
}

/// A shared handle on the node's API.
#[derive(Clone)]
pub struct NodeLink {
    inner: Arc<Inner>,
}

struct Inner {
    target: Target,
    client: Mutex<Option<Arc<NodeClient>>>,
    names: Mutex<Option<Names>>,
    slots: Semaphore,
}

impl NodeLink {
    /// A link to `target`; nothing is contacted until the first call.
    pub fn new(target: Target) -> Self {
        Self {
            inner: Arc::new(Inner {
                target,
                client: Mutex::new(None),
                names: Mutex::new(None),
                slots: Semaphore::new(MAX_IN_FLIGHT),
            }),
        }
    }

    fn client(&self) -> Result<Arc<NodeClient>, ClientError> {
        let mut slot = self
            .inner
            .client
            .lock()
            .map_err(|_| ClientError::Transport {
                what: "mcp".into(),
                detail: "client lock poisoned".into(),
            })?;
        if let Some(c) = slot.as_ref() {
            return Ok(c.clone());
        }
        let endpoint = match &self.inner.target {
            Target::Locate(l) => l.resolve()?,
            Target::Fixed(e) => e.clone(),
        };
        let c = Arc::new(NodeClient::new(endpoint));
        *slot = Some(c.clone());
        Ok(c)
    }

    fn forget_client(&self) {
        if let Ok(mut slot) = self.inner.client.lock() {
            *slot = None;
        }
    }

    /// Runs `f` against the node on the blocking pool. When the node was not reachable or
    /// refused the token, the address and token are read again and `f` runs once more:
    /// neither failure can have done anything on the node.
    pub async fn call<T, F>(&self, f: F) -> Result<T, ClientError>
    where
        T: Send + 'static,
        F: Fn(&NodeClient) -> Result<T, ClientError> + Send + Sync + 'static,
    {
        let _slot = self
            .inner
            .slots
            .acquire()
            .await
            .map_err(|_| ClientError::StreamEnded)?;
        let f = Arc::new(f);
        let mut retried = false;
        loop {
            let client = self.client()?;
            let g = f.clone();
            let result = tokio::task::spawn_blocking(move || g(&client))
                .await
                .map_err(|e| ClientError::Transport {
                    what: "mcp".into(),
                    detail: format!("api call failed: {e}"),
                })?;
            match result {
                Err(ClientError::NotRunning { .. } | ClientError::Unauthorized { .. })
                    if !retried && matches!(self.inner.target, Target::Locate(_)) =>
                {
                    self.forget_client();
                    retried = true;
                }
                other => return other,
            }
        }
    }

    /// The roster this server checks certificates against by default: the one its config
    /// names. `Err` says why there is none.
    pub fn roster(&self) -> Result<(Roster, String), String> {
        let file = match &self.inner.target {
            Target::Fixed(e) => e.roster_file.clone(),
            Target::Locate(Locator::Config(path)) => self
                .client()
                .ok()
                .and_then(|c| c.endpoint().roster_file.clone())
                .or_else(|| {
                    config::NodeConfig::load(path, &config::Overrides::default())
                        .ok()
                        .map(|c| c.roster_file)
                }),
            Target::Locate(Locator::DataDir(_)) => None,
        };
        let Some(file) = file else {
            return Err(
                "this MCP server knows no roster file (it was started with --data-dir): \
                 pass `roster` (the text of the swarm's roster.toml), or start it with --config"
                    .into(),
            );
        };
        config::load_roster(&file)
            .map(|r| (r, file.display().to_string()))
            .map_err(|e| e.to_string())
    }

    /// Voter names: from the roster when this server knows one, else from the node's
    /// status. Cached after the first success.
    pub async fn names(&self) -> Names {
        if let Ok(guard) = self.inner.names.lock()
            && let Some(n) = guard.as_ref()
        {
            return n.clone();
        }
        let names = match self.roster() {
            Ok((roster, _)) => Some(Names(
                roster
                    .members()
                    .map(|(v, m)| (*v, m.name.to_string()))
                    .collect(),
            )),
            Err(_) => self
                .call(|c| decode::<StatusReport>("GET /v1/status", c.status()?))
                .await
                .ok()
                .map(|s| {
                    Names(
                        s.health
                            .into_iter()
                            .map(|h| (h.health.voter, h.name))
                            .collect(),
                    )
                }),
        };
        match names {
            Some(n) => {
                if let Ok(mut guard) = self.inner.names.lock() {
                    *guard = Some(n.clone());
                }
                n
            }
            None => Names::default(),
        }
    }
}

/// Decodes an API answer into the API's own type.
pub fn decode<T: DeserializeOwned>(what: &str, value: Value) -> Result<T, ClientError> {
    serde_json::from_value(value).map_err(|e| ClientError::Decode {
        what: what.to_owned(),
        detail: e.to_string(),
    })
}
