//! The command-line client of a node's HTTP API: finding a node (address and token from
//! its data dir or config) and a blocking JSON client that decodes the API's own types.

use std::io::{self, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::Value;
use swarmvote_protocol::{ProposalId, Status, Vote};

use crate::api::{ErrorBody, ProposalReport, ProposeBody, Proposed, VoteBody};

use super::sse::SseReader;
use crate::config::{ConfigError, NodeConfig, Overrides};

/// Largest JSON response read (a report of a proposal with a large roster is big).
const MAX_RESPONSE: u64 = 64 * 1024 * 1024;
/// Longest `wait_ms` the server honours in one request.
pub const MAX_SERVER_WAIT_MS: u64 = crate::api::MAX_WAIT_MS;
/// Time allowed for an ordinary request.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// An event stream silent for this long is dead (the server sends a keep-alive every 15 s).
const STREAM_READ_TIMEOUT: Duration = Duration::from_secs(60);

/// Why a client command failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The node config could not be used.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// Nothing answers: no `api.addr`, or the connection was refused.
    #[error("the node is not running: {detail} (data dir {})", data_dir.display())]
    NotRunning {
        /// The node's data dir.
        data_dir: PathBuf,
        /// What was found missing.
        detail: String,
    },
    /// A file could not be read.
    #[error("{}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: io::Error,
    },
    /// A file holds something unexpected.
    #[error("{}: {message}", path.display())]
    BadFile {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// The node answered 401.
    #[error(
        "the node refused the API token ({message}): the token read from {token_from} is wrong or missing (a node writes a new api.cookie at every start; a fixed [api] token needs --config)"
    )]
    Unauthorized {
        /// Where the token came from.
        token_from: String,
        /// The server's message.
        message: String,
    },
    /// The node answered with another error.
    #[error("{message} (HTTP {status}, {code})")]
    Api {
        /// HTTP status.
        status: u16,
        /// The API's error code.
        code: String,
        /// The API's message.
        message: String,
    },
    /// The request failed on the way.
    #[error("{what}: {detail}")]
    Transport {
        /// The request.
        what: String,
        /// What failed.
        detail: String,
    },
    /// The answer is not what the API documents.
    #[error("{what}: unexpected answer: {detail}")]
    Decode {
        /// The request.
        what: String,
        /// What was wrong.
        detail: String,
    },
    /// The event stream ended (the node stopped or restarted).
    #[error("the event stream ended")]
    StreamEnded,
    /// Reconnecting failed too often.
    #[error("gave up after {attempts} failed attempts to (re)connect the event stream: {last}")]
    GaveUp {
        /// Consecutive failures.
        attempts: u32,
        /// The last one.
        last: Box<ClientError>,
    },
    /// A command-line value is invalid.
    #[error("{what}: {message}")]
    Usage {
        /// The flag or argument.
        what: String,
        /// What is wrong.
        message: String,
    },
    /// Writing our output failed (for example a closed pipe).
    #[error("writing output: {0}")]
    Output(io::Error),
}

impl ClientError {
    /// Whether waiting and reconnecting may help (node down or restarting).
    pub fn is_transient(&self) -> bool {
        match self {
            ClientError::NotRunning { .. }
            | ClientError::Transport { .. }
            | ClientError::StreamEnded => true,
            ClientError::Api { status, .. } => *status >= 500,
            _ => false,
        }
    }
}

/// How the client finds a node: through its config file or its data dir.
#[derive(Clone, Debug)]
pub enum Locator {
    /// A node config file: `api.addr` in its data dir, else `api.listen`; the token from
    /// `[api] token`, else the cookie.
    Config(PathBuf),
    /// A data dir: `api.addr` and `api.cookie` in it.
    DataDir(PathBuf),
}

/// A node's API address and token, with where each came from (for error messages).
#[derive(Clone, Debug)]
pub struct Endpoint {
    /// `host:port`.
    pub addr: SocketAddr,
    /// Where the address came from.
    pub addr_from: String,
    /// The bearer token.
    pub token: String,
    /// Where the token came from.
    pub token_from: String,
    /// The node's data dir.
    pub data_dir: PathBuf,
    /// The roster file named by the config, if a config was given.
    pub roster_file: Option<PathBuf>,
}

fn read_small(path: &Path) -> Result<Option<String>, ClientError> {
    match std::fs::read_to_string(path) {
        Ok(s) => Ok(Some(s)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(ClientError::Read {
            path: path.to_owned(),
            source,
        }),
    }
}

fn parse_addr(text: &str, path: &Path) -> Result<SocketAddr, ClientError> {
    text.trim().parse().map_err(|e| ClientError::BadFile {
        path: path.to_owned(),
        message: format!(
            "{:?} is not an address like 127.0.0.1:7100 ({e})",
            text.trim()
        ),
    })
}

impl Locator {
    /// Reads the address and token. Called again on every reconnect: a restarted node
    /// has a new cookie.
    pub fn resolve(&self) -> Result<Endpoint, ClientError> {
        match self {
            Locator::DataDir(dir) => {
                if !dir.is_dir() {
                    return Err(ClientError::NotRunning {
                        data_dir: dir.clone(),
                        detail: "the data dir does not exist".into(),
                    });
                }
                let addr_file = dir.join("api.addr");
                let Some(addr) = read_small(&addr_file)? else {
                    return Err(ClientError::NotRunning {
                        data_dir: dir.clone(),
                        detail: "no api.addr in the data dir (is `swarmvote run` running?)".into(),
                    });
                };
                let addr = parse_addr(&addr, &addr_file)?;
                let cookie = dir.join("api.cookie");
                let Some(token) = read_small(&cookie)? else {
                    return Err(ClientError::NotRunning {
                        data_dir: dir.clone(),
                        detail: "api.addr but no api.cookie in the data dir (a node with a fixed [api] token needs --config)".into(),
                    });
                };
                Ok(Endpoint {
                    addr,
                    addr_from: addr_file.display().to_string(),
                    token: token.trim().to_owned(),
                    token_from: cookie.display().to_string(),
                    data_dir: dir.clone(),
                    roster_file: None,
                })
            }
            Locator::Config(path) => {
                let config = NodeConfig::load(path, &Overrides::default())?;
                let dir = config.data_dir.clone();
                let addr_file = dir.join("api.addr");
                let (addr, addr_from) = match read_small(&addr_file)? {
                    Some(text) => (
                        parse_addr(&text, &addr_file)?,
                        addr_file.display().to_string(),
                    ),
                    // Checked by NodeConfig::load, so the fallback is never used.
                    None => (
                        config
                            .api
                            .listen
                            .parse()
                            .unwrap_or(SocketAddr::from(([127, 0, 0, 1], 7100))),
                        format!("api.listen in {}", path.display()),
                    ),
                };
                let (token, token_from) = match &config.api.token {
                    Some(t) => (t.clone(), format!("[api] token in {}", path.display())),
                    None => {
                        let cookie = dir.join("api.cookie");
                        let Some(token) = read_small(&cookie)? else {
                            return Err(ClientError::NotRunning {
                                data_dir: dir,
                                detail:
                                    "no api.cookie in the data dir (is `swarmvote run` running?)"
                                        .into(),
                            });
                        };
                        (token.trim().to_owned(), cookie.display().to_string())
                    }
                };
                Ok(Endpoint {
                    addr,
                    addr_from,
                    token,
                    token_from,
                    data_dir: dir,
                    roster_file: Some(config.roster_file),
                })
            }
        }
    }
}

/// Filters for `GET /v1/proposals`.
pub use crate::api::ListQuery;

/// A blocking client of one node's API.
pub struct NodeClient {
    endpoint: Endpoint,
    base: String,
    agent: ureq::Agent,
    stream_agent: ureq::Agent,
    /// No request runs past this (for callers that must answer in time).
    deadline: Option<Instant>,
}

/// A proposal submitted and followed until it was decided or expired, or the caller's
/// deadline passed ([`NodeClient::propose_and_follow`]).
#[derive(Clone, Debug)]
pub struct Followed {
    /// The proposal's id.
    pub id: ProposalId,
    /// The last report, as the node sent it.
    pub raw: Value,
    /// The same, decoded; its status is pending only if the deadline passed first.
    pub report: ProposalReport,
}

type HttpResult = Result<ureq::http::Response<ureq::Body>, ureq::Error>;

impl NodeClient {
    /// A client for `endpoint`.
    pub fn new(endpoint: Endpoint) -> Self {
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_connect(Some(Duration::from_secs(5)))
            .build()
            .new_agent();
        // An event stream has no end; only silence means trouble.
        let stream_agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_connect(Some(Duration::from_secs(5)))
            .timeout_per_read(Some(STREAM_READ_TIMEOUT))
            .build()
            .new_agent();
        Self {
            base: format!("http://{}", endpoint.addr),
            endpoint,
            agent,
            stream_agent,
            deadline: None,
        }
    }

    /// The same client, whose requests all end by `deadline` (a request still running
    /// then fails as a transport error).
    pub fn with_deadline(mut self, deadline: Instant) -> Self {
        self.deadline = Some(deadline);
        self
    }

    /// `timeout`, shortened to what is left before the deadline (at least 1 ms: a zero
    /// timeout would mean none).
    fn bounded(&self, timeout: Duration) -> Duration {
        match self.deadline {
            Some(d) => timeout
                .min(d.saturating_duration_since(Instant::now()))
                .max(Duration::from_millis(1)),
            None => timeout,
        }
    }

    /// The endpoint in use.
    pub fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    fn auth(&self) -> String {
        format!("Bearer {}", self.endpoint.token)
    }

    fn transport(&self, what: &str, e: &ureq::Error) -> ClientError {
        let refused = match e {
            ureq::Error::Io(io) => matches!(
                io.kind(),
                io::ErrorKind::ConnectionRefused | io::ErrorKind::AddrNotAvailable
            ),
            ureq::Error::ConnectionFailed => true,
            _ => false,
        };
        if refused {
            ClientError::NotRunning {
                data_dir: self.endpoint.data_dir.clone(),
                detail: format!(
                    "nothing answers at {} (from {}): {e}",
                    self.endpoint.addr, self.endpoint.addr_from
                ),
            }
        } else {
            ClientError::Transport {
                what: what.to_owned(),
                detail: e.to_string(),
            }
        }
    }

    fn http_error(&self, status: u16, text: &str) -> ClientError {
        let parsed: Option<(String, String)> = serde_json::from_str::<ErrorBody>(text)
            .ok()
            .map(|b| (b.error.code, b.error.message));
        let (code, message) = parsed.unwrap_or_else(|| {
            let text = text.trim();
            let message = if text.is_empty() {
                format!("HTTP {status}")
            } else {
                text.chars().take(500).collect()
            };
            ("http".into(), message)
        });
        if status == 401 {
            ClientError::Unauthorized {
                token_from: self.endpoint.token_from.clone(),
                message,
            }
        } else {
            ClientError::Api {
                status,
                code,
                message,
            }
        }
    }

    fn finish(&self, what: &str, result: HttpResult) -> Result<Value, ClientError> {
        let mut response = result.map_err(|e| self.transport(what, &e))?;
        let status = response.status().as_u16();
        let text = response
            .body_mut()
            .with_config()
            .limit(MAX_RESPONSE)
            .read_to_string()
            .map_err(|e| self.transport(what, &e))?;
        if !(200..300).contains(&status) {
            return Err(self.http_error(status, &text));
        }
        serde_json::from_str(&text).map_err(|e| ClientError::Decode {
            what: what.to_owned(),
            detail: format!("{e}"),
        })
    }

    fn get(&self, path: &str, query: &[(&str, String)]) -> Result<Value, ClientError> {
        self.get_within(path, query, REQUEST_TIMEOUT)
    }

    fn get_within(
        &self,
        path: &str,
        query: &[(&str, String)],
        timeout: Duration,
    ) -> Result<Value, ClientError> {
        let what = format!("GET {path}");
        let mut request = self
            .agent
            .get(format!("{}{path}", self.base))
            .header("Authorization", &self.auth());
        for (k, v) in query {
            request = request.query(*k, v);
        }
        let result = request
            .config()
            .timeout_per_call(Some(self.bounded(timeout)))
            .build()
            .call();
        self.finish(&what, result)
    }

    fn post(
        &self,
        path: &str,
        body: &impl Serialize,
        timeout: Duration,
    ) -> Result<Value, ClientError> {
        let what = format!("POST {path}");
        let result = self
            .agent
            .post(format!("{}{path}", self.base))
            .header("Authorization", &self.auth())
            .config()
            .timeout_per_call(Some(self.bounded(timeout)))
            .build()
            .send_json(body);
        self.finish(&what, result)
    }

    /// `POST /v1/proposals`: `{id, proposal?}`. With `wait_ms`, the server answers once
    /// the proposal is decided or expired, or the wait (at most 300 s) is over.
    pub fn propose(
        &self,
        action: &str,
        payload: Value,
        ttl_ms: Option<u64>,
        wait_ms: Option<u64>,
    ) -> Result<Value, ClientError> {
        let body = ProposeBody {
            action: action.to_owned(),
            payload,
            ttl_ms,
            wait_ms,
        };
        let timeout =
            REQUEST_TIMEOUT + Duration::from_millis(wait_ms.unwrap_or(0).min(MAX_SERVER_WAIT_MS));
        self.post("/v1/proposals", &body, timeout)
    }

    /// Submits a proposal and follows it until it is decided or expired, or `deadline`
    /// passes (then the report says pending). The server waits for the decision in the
    /// submitting request (at most 300 s); for a later deadline the rest is polled.
    pub fn propose_and_follow(
        &self,
        action: &str,
        payload: Value,
        ttl_ms: Option<u64>,
        deadline: Instant,
    ) -> Result<Followed, ClientError> {
        let left = |now: Instant| deadline.saturating_duration_since(now);
        // The server answers a little before the deadline, so that its answer arrives
        // in time (the request itself may be bounded by the deadline); polling covers
        // the rest.
        let before = left(Instant::now());
        let margin = (before / 10).min(Duration::from_secs(1));
        let wait_ms = u64::try_from((before - margin).as_millis()).unwrap_or(u64::MAX);
        let answer = self.propose(
            action,
            payload,
            ttl_ms,
            Some(wait_ms.min(MAX_SERVER_WAIT_MS)),
        )?;
        let mut raw = answer
            .get("proposal")
            .cloned()
            .unwrap_or(serde_json::Value::Null);
        let proposed: Proposed =
            serde_json::from_value(answer).map_err(|e| ClientError::Decode {
                what: "POST /v1/proposals".into(),
                detail: e.to_string(),
            })?;
        let id = proposed.id;
        let mut report = proposed.proposal;
        loop {
            if let Some(r) = report.take() {
                let done = |r: ProposalReport, raw: Value| Followed { id, raw, report: r };
                if r.status != Status::Pending || left(Instant::now()).is_zero() {
                    return Ok(done(r, raw));
                }
                std::thread::sleep(left(Instant::now()).min(Duration::from_millis(250)));
                if left(Instant::now()).is_zero() {
                    return Ok(done(r, raw));
                }
            }
            raw = self.proposal(&id)?;
            report = Some(ProposalReport::from_json(&raw)?);
        }
    }

    /// `POST /v1/proposals/{id}/vote`: the signed ballot.
    pub fn vote(
        &self,
        id: &ProposalId,
        vote: Vote,
        reason: Option<&str>,
    ) -> Result<Value, ClientError> {
        let body = VoteBody {
            vote,
            reason: reason.map(str::to_owned),
        };
        self.post(&format!("/v1/proposals/{id}/vote"), &body, REQUEST_TIMEOUT)
    }

    /// `GET /v1/proposals`: one page.
    pub fn list(&self, q: &ListQuery) -> Result<Value, ClientError> {
        let mut query = Vec::new();
        if let Some(s) = &q.status {
            query.push(("status", s.clone()));
        }
        if let Some(a) = &q.action {
            query.push(("action", a.clone()));
        }
        if let Some(s) = q.since {
            query.push(("since", s.to_string()));
        }
        if let Some(l) = q.limit {
            query.push(("limit", l.to_string()));
        }
        if let Some(c) = &q.cursor {
            query.push(("cursor", c.clone()));
        }
        self.get("/v1/proposals", &query)
    }

    /// `GET /v1/proposals/{id}`: the full report.
    pub fn proposal(&self, id: &ProposalId) -> Result<Value, ClientError> {
        self.get(&format!("/v1/proposals/{id}"), &[])
    }

    /// `GET /v1/proposals/{id}?wait_ms=`: the report once the proposal is decided or
    /// expired, or as it is after `wait_ms` (the server waits at most 300 s).
    pub fn proposal_decided(&self, id: &ProposalId, wait_ms: u64) -> Result<Value, ClientError> {
        let wait_ms = wait_ms.min(MAX_SERVER_WAIT_MS);
        self.get_within(
            &format!("/v1/proposals/{id}"),
            &[("wait_ms", wait_ms.to_string())],
            REQUEST_TIMEOUT + Duration::from_millis(wait_ms),
        )
    }

    /// `GET /v1/proposals/{id}/certificate`.
    pub fn certificate(&self, id: &ProposalId) -> Result<Value, ClientError> {
        self.get(&format!("/v1/proposals/{id}/certificate"), &[])
    }

    /// `GET /v1/proposals/{id}/receipts`: the execution receipts with their standing and
    /// certificates.
    pub fn receipts(&self, id: &ProposalId) -> Result<Value, ClientError> {
        self.get(&format!("/v1/proposals/{id}/receipts"), &[])
    }

    /// `GET /v1/status`.
    pub fn status(&self) -> Result<Value, ClientError> {
        self.get("/v1/status", &[])
    }

    /// `GET /v1/roster`: the head roster.
    pub fn roster(&self) -> Result<Value, ClientError> {
        self.get("/v1/roster", &[])
    }

    /// `GET /v1/roster/history`: the roster chain with its certificates.
    pub fn roster_history(&self) -> Result<Value, ClientError> {
        self.get("/v1/roster/history", &[])
    }

    /// Sends a streaming request; the body of a 200 answer, or the API's error.
    fn open_stream(
        &self,
        what: &str,
        request: ureq::RequestBuilder<ureq::typestate::WithoutBody>,
    ) -> Result<ureq::Body, ClientError> {
        let mut response = request.call().map_err(|e| self.transport(what, &e))?;
        let status = response.status().as_u16();
        if status != 200 {
            let text = response
                .body_mut()
                .with_config()
                .limit(MAX_RESPONSE)
                .read_to_string()
                .unwrap_or_default();
            return Err(self.http_error(status, &text));
        }
        Ok(response.into_body())
    }

    /// `GET /v1/export`: streams the audit export into `out`; returns the bytes written.
    /// The answer is checked for its status only: `swarmvote export verify` checks the
    /// content.
    pub fn export(
        &self,
        since: u64,
        until: Option<u64>,
        out: &mut impl io::Write,
    ) -> Result<u64, ClientError> {
        let what = "GET /v1/export";
        let mut request = self
            .stream_agent
            .get(format!("{}/v1/export", self.base))
            .header("Authorization", &self.auth())
            .query("since", since.to_string());
        if let Some(until) = until {
            request = request.query("until", until.to_string());
        }
        let body = self.open_stream(what, request)?;
        io::copy(&mut body.into_reader(), out).map_err(|e| ClientError::Transport {
            what: what.to_owned(),
            detail: format!("the export was cut short: {e}"),
        })
    }

    /// `GET /v1/events`, resuming after `last_event_id` when given.
    pub fn events(
        &self,
        last_event_id: Option<u64>,
    ) -> Result<SseReader<BufReader<ureq::BodyReader<'static>>>, ClientError> {
        let what = "GET /v1/events";
        let mut request = self
            .stream_agent
            .get(format!("{}/v1/events", self.base))
            .header("Authorization", &self.auth())
            .header("Accept", "text/event-stream");
        if let Some(id) = last_event_id {
            request = request.header("Last-Event-ID", &id.to_string());
        }
        let body = self.open_stream(what, request)?;
        Ok(SseReader::new(BufReader::new(body.into_reader())))
    }
}

/// Parses a proposal id given on the command line; the error names it.
pub fn parse_proposal_id(text: &str) -> Result<ProposalId, ClientError> {
    text.trim()
        .parse()
        .map_err(|e: swarmvote_protocol::ids::IdError| ClientError::Usage {
            what: format!("proposal id {text:?}"),
            message: e.to_string(),
        })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;

    #[test]
    fn a_missing_data_dir_or_addr_means_not_running() {
        let dir = tempfile::tempdir().unwrap();
        let err = Locator::DataDir(dir.path().join("nope"))
            .resolve()
            .unwrap_err();
        assert!(err.to_string().contains("not running"), "{err}");
        let err = Locator::DataDir(dir.path().to_owned())
            .resolve()
            .unwrap_err();
        assert!(err.to_string().contains("no api.addr"), "{err}");
        std::fs::write(dir.path().join("api.addr"), "nonsense\n").unwrap();
        let err = Locator::DataDir(dir.path().to_owned())
            .resolve()
            .unwrap_err();
        assert!(err.to_string().contains("api.addr"), "{err}");
    }
}
