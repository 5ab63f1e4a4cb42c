//! The command-line client of a node's HTTP API: finding a node (address and token from
//! its data dir or config), a blocking JSON client, a Server-Sent Events reader that
//! resumes with `Last-Event-ID`, offline certificate checks, and the human renderings
//! the `swarmvote` commands print.

use std::fmt::{self, Write as _};
use std::io::{self, BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use swarmvote_protocol::{
    Certificate, CertificateError, ProposalId, Roster, SignedBallot, SignedProposal, Status, Vote,
    VoterId,
};

use crate::api::{
    ErrorBody, ExecutionRecord, ProposalPage, ProposalReport, ProposalSummary, ProposeBody,
    StatusReport, VoteBody, VoterHealthReport,
};

use crate::config::{self, ConfigError, NodeConfig, Overrides};

/// Largest certificate file `verify-cert` reads.
pub const MAX_CERTIFICATE_FILE: u64 = 32 * 1024 * 1024;
/// Largest line of an event stream; a longer one means the stream is not ours.
pub const MAX_SSE_LINE: usize = 1024 * 1024;
/// Largest JSON response read (a report of a proposal with a large roster is big).
const MAX_RESPONSE: u64 = 64 * 1024 * 1024;
/// Longest `wait_ms` the server honours in one request.
pub const MAX_SERVER_WAIT_MS: u64 = crate::api::MAX_WAIT_MS;
/// Time allowed for an ordinary request.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// An event stream silent for this long is dead (the server sends a keep-alive every 15 s).
const STREAM_READ_TIMEOUT: Duration = Duration::from_secs(60);
/// A stream connection that lasted this long counts as healthy: the retry budget resets.
const STABLE_STREAM: Duration = Duration::from_secs(10);

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
            .timeout_per_call(Some(REQUEST_TIMEOUT))
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
            .timeout_per_call(Some(timeout))
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

    /// `GET /v1/proposals/{id}/certificate`.
    pub fn certificate(&self, id: &ProposalId) -> Result<Value, ClientError> {
        self.get(&format!("/v1/proposals/{id}/certificate"), &[])
    }

    /// `GET /v1/status`.
    pub fn status(&self) -> Result<Value, ClientError> {
        self.get("/v1/status", &[])
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
        let (_, body) = response.into_parts();
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

// ---------------------------------------------------------------------------------------
// Server-Sent Events
// ---------------------------------------------------------------------------------------

/// One Server-Sent Event.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SseEvent {
    /// `id:`, if the event set one.
    pub id: Option<String>,
    /// `event:` (`message` when absent).
    pub event: String,
    /// `data:` lines joined with newlines.
    pub data: String,
}

/// Reads Server-Sent Events from a stream, line by line, each line capped at
/// [`MAX_SSE_LINE`] so a misbehaving server cannot exhaust memory.
pub struct SseReader<R> {
    reader: R,
    /// The previous line ended in CR: an LF right after it belongs to it.
    after_cr: bool,
}

impl<R: BufRead> SseReader<R> {
    /// Wraps a reader.
    pub fn new(reader: R) -> Self {
        Self {
            reader,
            after_cr: false,
        }
    }

    /// The next line without its terminator (CR, LF or CRLF), or `None` at the end.
    fn line(&mut self) -> io::Result<Option<String>> {
        let mut line = Vec::new();
        loop {
            let buf = self.reader.fill_buf()?;
            if buf.is_empty() {
                // A partial last line is not an event: the stream was cut.
                return Ok(if line.is_empty() {
                    None
                } else {
                    Some(String::from_utf8_lossy(&line).into_owned())
                });
            }
            let mut used = 0;
            let mut done = false;
            for &b in buf {
                used += 1;
                if self.after_cr {
                    self.after_cr = false;
                    if b == b'\n' {
                        continue;
                    }
                }
                match b {
                    b'\n' => {
                        done = true;
                        break;
                    }
                    b'\r' => {
                        self.after_cr = true;
                        done = true;
                        break;
                    }
                    _ => line.push(b),
                }
            }
            self.reader.consume(used);
            if line.len() > MAX_SSE_LINE {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("event stream line longer than {MAX_SSE_LINE} bytes"),
                ));
            }
            if done {
                return Ok(Some(String::from_utf8_lossy(&line).into_owned()));
            }
        }
    }

    /// The next event, or `None` when the stream ends.
    pub fn next_event(&mut self) -> io::Result<Option<SseEvent>> {
        let mut event = SseEvent::default();
        let mut data: Option<String> = None;
        let mut any = false;
        loop {
            let Some(line) = self.line()? else {
                return Ok(None);
            };
            if line.is_empty() {
                if any {
                    event.data = data.unwrap_or_default();
                    if event.event.is_empty() {
                        event.event = "message".into();
                    }
                    return Ok(Some(event));
                }
                continue;
            }
            if line.starts_with(':') {
                // A comment (the server's keep-alive).
                continue;
            }
            let (field, value) = match line.split_once(':') {
                Some((f, v)) => (f, v.strip_prefix(' ').unwrap_or(v)),
                None => (line.as_str(), ""),
            };
            match field {
                "data" => {
                    // Several data lines make one value, joined by newlines.
                    match &mut data {
                        Some(d) => {
                            d.push('\n');
                            d.push_str(value);
                        }
                        None => data = Some(value.to_owned()),
                    }
                    any = true;
                }
                "event" => {
                    event.event = value.to_owned();
                    any = true;
                }
                "id" => {
                    event.id = Some(value.to_owned());
                    any = true;
                }
                // `retry` and unknown fields are ignored.
                _ => {}
            }
        }
    }
}

/// What to do after an event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flow {
    /// Keep reading.
    Continue,
    /// Stop watching.
    Stop,
}

/// How `watch` behaves.
#[derive(Clone, Debug)]
pub struct WatchOptions {
    /// Start after this event id.
    pub after: Option<u64>,
    /// Consecutive failed connections tolerated before giving up.
    pub retries: u32,
    /// First wait before reconnecting; doubles per failure.
    pub first_backoff: Duration,
    /// Longest wait before reconnecting.
    pub max_backoff: Duration,
}

impl Default for WatchOptions {
    fn default() -> Self {
        Self {
            after: None,
            retries: 8,
            first_backoff: Duration::from_millis(250),
            max_backoff: Duration::from_secs(5),
        }
    }
}

/// Follows the node's event stream, calling `on_event` for each event. When the
/// connection drops it re-reads the node's address and token (a restarted node has a new
/// cookie) and resumes with `Last-Event-ID`, backing off between attempts; after
/// `retries` consecutive failures it gives up. `on_retry` hears about each retry.
pub fn watch(
    locator: &Locator,
    options: &WatchOptions,
    on_event: &mut dyn FnMut(&SseEvent) -> io::Result<Flow>,
    on_retry: &mut dyn FnMut(&ClientError, u32, Duration),
) -> Result<(), ClientError> {
    let mut last = options.after;
    let mut failures: u32 = 0;
    loop {
        let connected = locator
            .resolve()
            .and_then(|endpoint| NodeClient::new(endpoint).events(last));
        let error = match connected {
            Err(e) if !e.is_transient() => return Err(e),
            Err(e) => e,
            Ok(mut reader) => {
                let since = Instant::now();
                let mut received = false;
                let error = loop {
                    match reader.next_event() {
                        Ok(Some(event)) => {
                            received = true;
                            if let Some(id) = event.id.as_deref().and_then(|s| s.parse().ok()) {
                                last = Some(id);
                            }
                            if on_event(&event).map_err(ClientError::Output)? == Flow::Stop {
                                return Ok(());
                            }
                        }
                        Ok(None) => break ClientError::StreamEnded,
                        Err(e) => {
                            break ClientError::Transport {
                                what: "event stream".into(),
                                detail: e.to_string(),
                            };
                        }
                    }
                };
                if received || since.elapsed() >= STABLE_STREAM {
                    failures = 0;
                }
                error
            }
        };
        failures = failures.saturating_add(1);
        if failures > options.retries {
            return Err(ClientError::GaveUp {
                attempts: failures,
                last: Box::new(error),
            });
        }
        let backoff = options
            .first_backoff
            .saturating_mul(1u32 << (failures - 1).min(16))
            .min(options.max_backoff);
        on_retry(&error, failures, backoff);
        std::thread::sleep(backoff);
    }
}

// ---------------------------------------------------------------------------------------
// Certificates, offline
// ---------------------------------------------------------------------------------------

/// A signer of a verified certificate.
#[derive(Clone, Debug, Serialize)]
pub struct Signer {
    /// Its roster name.
    pub name: String,
    /// Its voter id.
    pub voter: VoterId,
    /// Its reason, if it gave one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// What a verified certificate proves.
#[derive(Clone, Debug, Serialize)]
pub struct CertificateSummary {
    /// The approved proposal.
    pub proposal: ProposalId,
    /// The swarm.
    pub swarm: String,
    /// The roster digest it commits to.
    pub roster: String,
    /// The action.
    pub action: String,
    /// The payload.
    pub payload: Value,
    /// The proposer's name.
    pub proposer: String,
    /// Creation time (unix ms).
    pub created_at: u64,
    /// Expiry (unix ms).
    pub expires_at: u64,
    /// Members.
    pub n: u32,
    /// YES votes needed.
    pub q: u32,
    /// The YES signers.
    pub signers: Vec<Signer>,
}

impl fmt::Display for CertificateSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "certificate ok")?;
        writeln!(f, "proposal   {}", self.proposal)?;
        writeln!(f, "swarm      {} (roster {})", self.swarm, self.roster)?;
        writeln!(f, "action     {}", self.action)?;
        writeln!(f, "payload    {}", indent_json(&self.payload))?;
        writeln!(f, "proposer   {}", self.proposer)?;
        writeln!(f, "created    {}", format_time(self.created_at))?;
        writeln!(f, "expires    {}", format_time(self.expires_at))?;
        writeln!(
            f,
            "quorum     {} of {} signed yes (q = {})",
            self.signers.len(),
            self.n,
            self.q
        )?;
        for s in &self.signers {
            match &s.reason {
                Some(r) => writeln!(f, "  {:<16} {}  {r:?}", s.name, s.voter)?,
                None => writeln!(f, "  {:<16} {}", s.name, s.voter)?,
            }
        }
        Ok(())
    }
}

/// Reads a certificate file (at most [`MAX_CERTIFICATE_FILE`] bytes) and checks it
/// against a roster file, offline. Every error names the file and the field, ballot or
/// rule at fault.
pub fn verify_certificate_file(
    cert_path: &Path,
    roster_path: &Path,
) -> Result<CertificateSummary, ClientError> {
    let bad = |message: String| ClientError::BadFile {
        path: cert_path.to_owned(),
        message,
    };
    let read = |source| ClientError::Read {
        path: cert_path.to_owned(),
        source,
    };
    let file = std::fs::File::open(cert_path).map_err(read)?;
    let size = file.metadata().map_err(read)?.len();
    if size > MAX_CERTIFICATE_FILE {
        return Err(bad(format!(
            "{size} bytes; a certificate file may be at most {MAX_CERTIFICATE_FILE} bytes (32 MiB)"
        )));
    }
    // The cap again while reading: the file may grow, or be a pipe.
    let mut bytes = Vec::new();
    file.take(MAX_CERTIFICATE_FILE + 1)
        .read_to_end(&mut bytes)
        .map_err(read)?;
    if u64::try_from(bytes.len()).unwrap_or(u64::MAX) > MAX_CERTIFICATE_FILE {
        return Err(bad(format!(
            "more than {MAX_CERTIFICATE_FILE} bytes; a certificate file may be at most 32 MiB"
        )));
    }
    let value: Value = serde_json::from_slice(&bytes).map_err(|e| bad(format!("not JSON: {e}")))?;
    let cert = parse_certificate(&value).map_err(bad)?;
    let roster = config::load_roster(roster_path)?;
    let name = |v: &VoterId| {
        roster.member(v).map_or_else(
            || format!("non-member {}", v.short()),
            |m| m.name.to_string(),
        )
    };
    if let Err(e) = cert.clone().verify(&roster) {
        let who = match &e {
            CertificateError::NotYes { voter, .. }
            | CertificateError::DuplicateVoter { voter, .. } => format!(" ({})", name(voter)),
            _ => String::new(),
        };
        return Err(bad(format!(
            "does not verify against roster {}: {e}{who}",
            roster_path.display()
        )));
    }
    let p = cert.proposal().proposal();
    Ok(CertificateSummary {
        proposal: cert.proposal().id(),
        swarm: p.swarm.to_string(),
        roster: p.roster.to_string(),
        action: p.action.to_string(),
        payload: p.payload.to_value(),
        proposer: name(&p.proposer),
        created_at: p.created_at.0,
        expires_at: p.expires_at.0,
        n: roster.len(),
        q: roster.required(),
        signers: cert
            .ballots()
            .iter()
            .map(|b| Signer {
                name: name(&b.ballot().voter),
                voter: b.ballot().voter,
                reason: b.ballot().reason.as_ref().map(|r| r.to_string()),
            })
            .collect(),
    })
}

/// Deserialises a certificate; on failure, finds the part at fault so the message can
/// name it (serde's own message for a nested value has no path).
fn parse_certificate(value: &Value) -> Result<Certificate, String> {
    let whole = match serde_json::from_value::<Certificate>(value.clone()) {
        Ok(c) => return Ok(c),
        Err(e) => e.to_string(),
    };
    let Some(obj) = value.as_object() else {
        return Err("expected a JSON object with `proposal` and `ballots`".into());
    };
    for field in ["proposal", "ballots"] {
        if !obj.contains_key(field) {
            return Err(format!("missing field `{field}`"));
        }
    }
    if let Some(extra) = obj.keys().find(|k| *k != "proposal" && *k != "ballots") {
        return Err(format!("unknown field `{extra}`"));
    }
    if let Err(e) = serde_json::from_value::<SignedProposal>(value["proposal"].clone()) {
        return Err(format!("field `proposal`: {e}"));
    }
    let Some(ballots) = value["ballots"].as_array() else {
        return Err("field `ballots`: expected an array".into());
    };
    for (i, b) in ballots.iter().enumerate() {
        if let Err(e) = serde_json::from_value::<SignedBallot>(b.clone()) {
            return Err(format!("ballots[{i}]: {e}"));
        }
    }
    Err(whole)
}

// ---------------------------------------------------------------------------------------
// Human output
// ---------------------------------------------------------------------------------------

/// Names voters: by roster name when a roster is known, else by short id.
#[derive(Clone, Debug, Default)]
pub struct Names {
    roster: Option<Roster>,
}

impl Names {
    /// With a roster (`None`: short ids).
    pub fn new(roster: Option<Roster>) -> Self {
        Self { roster }
    }

    /// A voter's display name.
    pub fn of(&self, v: &VoterId) -> String {
        self.roster
            .as_ref()
            .and_then(|r| r.member(v))
            .map_or_else(|| v.short(), |m| m.name.to_string())
    }

    /// Like [`Names::of`] for a voter id given as JSON text.
    pub fn of_str(&self, v: &str) -> String {
        v.parse::<VoterId>()
            .map_or_else(|_| v.to_owned(), |id| self.of(&id))
    }
}

/// Unix ms as `YYYY-MM-DD HH:MM:SS.mmmZ` (UTC).
pub fn format_time(ms: u64) -> String {
    let secs = ms / 1000;
    let days = i64::try_from(secs / 86_400).unwrap_or(i64::MAX / 2);
    let rem = secs % 86_400;
    // Howard Hinnant's days-to-civil algorithm.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        ms % 1000
    )
}

fn indent_json(v: &Value) -> String {
    let text = serde_json::to_string_pretty(v).unwrap_or_else(|_| v.to_string());
    text.replace('\n', "\n           ")
}

fn decode<T: serde::de::DeserializeOwned>(what: &str, v: &Value) -> Result<T, ClientError> {
    serde_json::from_value(v.clone()).map_err(|e| ClientError::Decode {
        what: what.to_owned(),
        detail: e.to_string(),
    })
}

/// One row of `GET /v1/proposals`.
pub type SummaryView = ProposalSummary;

/// A page of `GET /v1/proposals`.
pub type PageView = ProposalPage;

impl ProposalPage {
    /// Decodes a page.
    pub fn from_json(v: &Value) -> Result<Self, ClientError> {
        decode("GET /v1/proposals", v)
    }
}

/// The proposals table.
pub fn render_list(rows: &[SummaryView], names: &Names) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<64}  {:<8}  {:>3}  {:>3}  {:<24}  {:<12}  CREATED",
        "ID", "STATUS", "YES", "NO", "ACTION", "PROPOSER"
    );
    for r in rows {
        let _ = writeln!(
            out,
            "{:<64}  {:<8}  {:>3}  {:>3}  {:<24}  {:<12}  {}",
            r.id,
            status_word(r.status),
            r.yes,
            r.no,
            r.action,
            names.of(&r.proposer),
            format_time(r.created_at.0)
        );
    }
    if rows.is_empty() {
        let _ = writeln!(out, "(no proposals)");
    }
    out
}

/// A status as one word.
pub fn status_word(s: Status) -> &'static str {
    match s {
        Status::Pending => "pending",
        Status::Approved => "approved",
        Status::Rejected => "rejected",
        Status::Expired => "expired",
    }
}

/// `GET /v1/proposals/{id}`.
pub type ReportView = ProposalReport;

impl ProposalReport {
    /// Decodes a report.
    pub fn from_json(v: &Value) -> Result<Self, ClientError> {
        decode("GET /v1/proposals/{id}", v)
    }

    /// `approved: 2 yes, 0 no (n = 3, q = 2)` and the signers.
    pub fn outcome(&self, names: &Names) -> String {
        let t = &self.tally;
        let list = |v: &BTreeSet<VoterId>| {
            if v.is_empty() {
                "-".to_owned()
            } else {
                v.iter().map(|x| names.of(x)).collect::<Vec<_>>().join(", ")
            }
        };
        let mut out = format!(
            "{}: {} yes, {} no (n = {}, q = {}){}\n",
            status_word(self.status),
            t.yes.len(),
            t.no.len(),
            t.n,
            t.q,
            if t.conflicting {
                " CONFLICTING: approved through equivocation"
            } else {
                ""
            }
        );
        let _ = writeln!(out, "  yes: {}", list(&t.yes));
        let _ = writeln!(out, "  no:  {}", list(&t.no));
        out
    }

    /// The full `show` text.
    pub fn render(&self, names: &Names) -> String {
        let p = self.proposal.proposal();
        let t = &self.tally;
        let mut out = String::new();
        let _ = writeln!(out, "proposal   {}", self.id);
        let _ = writeln!(out, "action     {}", p.action);
        let _ = writeln!(out, "payload    {}", indent_json(&p.payload.to_value()));
        let _ = writeln!(out, "proposer   {}", names.of(&p.proposer));
        let _ = writeln!(out, "created    {}", format_time(p.created_at.0));
        let _ = writeln!(out, "expires    {}", format_time(p.expires_at.0));
        let _ = write!(out, "status     {}", status_word(self.status));
        if let Some(at) = self.decided_at {
            let _ = write!(out, " (decided {})", format_time(at.0));
        }
        let _ = writeln!(out);
        let _ = writeln!(
            out,
            "tally      n = {}, q = {}, yes = {}, no = {}{}",
            t.n,
            t.q,
            t.yes.len(),
            t.no.len(),
            if t.conflicting {
                " (conflicting: approved through equivocation)"
            } else {
                ""
            }
        );
        let _ = writeln!(out, "ballots    {}", self.ballots.len());
        for b in &self.ballots {
            let b = b.ballot();
            let mut line = format!("  {:<16} {:<3}", names.of(&b.voter), b.vote.to_string());
            if let Some(r) = &b.reason {
                let _ = write!(line, "  {:?}", r.as_str());
            }
            let _ = writeln!(out, "{}", line.trim_end());
        }
        if self.equivocations.is_empty() && t.equivocators.is_empty() {
            let _ = writeln!(out, "equivocations  none");
        } else {
            let _ = writeln!(out, "equivocations  {}", self.equivocations.len());
            for e in &self.equivocations {
                let _ = writeln!(out, "  {} signed both yes and no", names.of(&e.voter()));
            }
        }
        match &self.own_ballot {
            Some(b) => {
                let _ = writeln!(out, "own ballot {}", b.ballot().vote);
            }
            None => {
                let _ = writeln!(out, "own ballot none");
            }
        }
        if let Some(exec) = &self.execution {
            let _ = writeln!(out, "execution");
            render_execution(&mut out, exec);
        }
        out
    }
}

/// The record as a table of its fields, by name (empty ones left out).
fn render_execution(out: &mut String, exec: &ExecutionRecord) {
    let Ok(Value::Object(obj)) = serde_json::to_value(exec) else {
        return;
    };
    for (k, v) in &obj {
        let text = match v {
            Value::Null => continue,
            Value::String(s) if s.is_empty() => continue,
            Value::String(s) => {
                let s = s.trim_end();
                if s.contains('\n') {
                    format!("\n    {}", s.replace('\n', "\n    "))
                } else {
                    s.to_owned()
                }
            }
            Value::Number(n) if k.ends_with("_at") => {
                n.as_u64().map_or_else(|| n.to_string(), format_time)
            }
            other => other.to_string(),
        };
        let _ = writeln!(out, "  {k:<16} {text}");
    }
}

/// The `status` text of a `GET /v1/status` answer.
pub fn render_status(s: &Value) -> String {
    match StatusReport::deserialize(s) {
        Ok(report) => render_status_report(&report),
        Err(e) => format!("GET /v1/status: unexpected answer: {e}\n"),
    }
}

/// The `status` text.
pub fn render_status_report(s: &StatusReport) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "node       {} (voter {})", s.name, s.voter);
    let _ = writeln!(out, "version    {}", s.version);
    let _ = writeln!(out, "peer id    {}", s.peer_id);
    let _ = writeln!(
        out,
        "swarm      {}: n = {}, q = {} (roster {})",
        s.swarm, s.n, s.q, s.roster_digest
    );
    let admitted = s.peers.iter().filter(|p| p.admitted).count();
    let _ = writeln!(
        out,
        "peers      {} connected, {admitted} admitted, {} in the gossip mesh",
        s.peers.len(),
        s.mesh_peers
    );
    for p in &s.peers {
        let score = p
            .score
            .map_or_else(|| "-".to_owned(), |x| format!("{x:.1}"));
        let _ = writeln!(
            out,
            "  {}  {}  score {score}",
            p.peer_id,
            if p.admitted {
                "admitted"
            } else {
                "not admitted"
            }
        );
    }
    // The server lists every status; one it left out has no proposals.
    let count = |k: &str| s.counts.get(k).copied().unwrap_or(0);
    let _ = writeln!(
        out,
        "proposals  pending {}, approved {}, rejected {}, expired {}",
        count("pending"),
        count("approved"),
        count("rejected"),
        count("expired")
    );
    let _ = writeln!(out, "orphans    {}", s.orphans);
    match s.last_decision_ms {
        Some(ms) => {
            let _ = writeln!(out, "last decision  {ms} ms");
        }
        None => {
            let _ = writeln!(out, "last decision  none");
        }
    }
    let t = &s.traffic;
    let _ = writeln!(
        out,
        "traffic    in {} msgs ({} B), out {} msgs ({} B)",
        t.messages_in, t.bytes_in, t.messages_out, t.bytes_out
    );
    render_health(&mut out, s);
    out
}

/// The health lines of `swarmvote status`: every degraded member with its reasons and
/// counts, or one line saying all are healthy.
fn render_health(out: &mut String, s: &StatusReport) {
    let (settled, size) = s.health_window;
    let degraded: Vec<&VoterHealthReport> = s.health.iter().filter(|h| h.health.degraded).collect();
    let _ = write!(
        out,
        "health     window {settled} of {size} settled proposals: "
    );
    if degraded.is_empty() {
        let _ = writeln!(out, "all {} members healthy", s.health.len());
        return;
    }
    let _ = writeln!(out, "{} degraded", degraded.len());
    for h in degraded {
        let reasons: Vec<&str> = h.health.reasons.iter().map(|r| r.as_str()).collect();
        let c = &h.health.counts;
        let _ = writeln!(
            out,
            "  DEGRADED {}  {}  (dissent {}, missed {}, invalid signatures {}, equivocations {})",
            h.name,
            reasons.join(", "),
            c.dissent,
            c.missed,
            c.invalid_signatures,
            c.equivocations
        );
    }
}

/// One human line for an event of the stream.
pub fn render_event(e: &SseEvent, names: &Names) -> String {
    let Ok(d) = serde_json::from_str::<Value>(&e.data) else {
        return format!("{:<16} {}", e.event, e.data);
    };
    let id = d["proposal"].as_str().unwrap_or("?");
    let s = |k: &str| d[k].as_str().unwrap_or("?").to_owned();
    let n = |k: &str| {
        d[k].as_u64()
            .map_or_else(|| "?".to_owned(), |x| x.to_string())
    };
    let detail = match e.event.as_str() {
        "proposal_seen" => format!(
            "{id}  {} by {}{}",
            s("action"),
            names.of_str(&s("proposer")),
            if d["local"] == true { " (here)" } else { "" }
        ),
        "ballot_accepted" => format!(
            "{id}  {} voted {}{}",
            names.of_str(&s("voter")),
            s("vote"),
            if d["own"] == true { " (this node)" } else { "" }
        ),
        "decided" => format!(
            "{id}  {} {}  yes {} no {}  after {} ms{}",
            s("action"),
            s("verdict"),
            n("yes"),
            n("no"),
            n("latency_ms"),
            if d["conflicting"] == true {
                "  CONFLICTING"
            } else {
                ""
            }
        ),
        "equivocation" => {
            let voter = d["evidence"]["yes"]["ballot"]["voter"]
                .as_str()
                .unwrap_or("?");
            let proposal = d["evidence"]["yes"]["ballot"]["proposal"]
                .as_str()
                .unwrap_or("?");
            format!("{proposal}  {} signed both yes and no", names.of_str(voter))
        }
        "invalid_message" => format!("peer {}: {}", d["peer"], d["reason"]),
        "expired" => id.to_owned(),
        "voter_degraded" | "voter_recovered" => {
            let reasons: Vec<&str> = d["reasons"]
                .as_array()
                .map(|a| a.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            format!(
                "{}  {} {}  (window {})",
                s("name"),
                if e.event == "voter_degraded" {
                    "degraded:"
                } else {
                    "recovered, was"
                },
                reasons.join(", "),
                n("window")
            )
        }
        _ => e.data.clone(),
    };
    let when = e.id.as_deref().unwrap_or("-");
    format!("{when}  {:<16} {detail}", e.event)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;

    fn events(text: &str) -> Vec<SseEvent> {
        let mut r = SseReader::new(io::Cursor::new(text.as_bytes().to_vec()));
        let mut out = Vec::new();
        while let Some(e) = r.next_event().unwrap() {
            out.push(e);
        }
        out
    }

    #[test]
    fn sse_fields_comments_and_line_endings() {
        let got = events(
            ": keep-alive\n\nid: 7\nevent: decided\ndata: {\"a\":1}\n\nid:8\r\nevent:x\r\ndata: one\r\ndata: two\r\n\r\ndata: lone-cr\r\rretry: 5\nevent: cut\n",
        );
        assert_eq!(
            got,
            vec![
                SseEvent {
                    id: Some("7".into()),
                    event: "decided".into(),
                    data: "{\"a\":1}".into()
                },
                SseEvent {
                    id: Some("8".into()),
                    event: "x".into(),
                    data: "one\ntwo".into()
                },
                SseEvent {
                    id: None,
                    event: "message".into(),
                    data: "lone-cr".into()
                },
            ]
        );
    }

    #[test]
    fn sse_refuses_endless_lines() {
        let long = format!("data: {}\n\n", "x".repeat(MAX_SSE_LINE + 10));
        let mut r = SseReader::new(BufReader::with_capacity(
            4096,
            io::Cursor::new(long.into_bytes()),
        ));
        let err = r.next_event().unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
    }

    #[test]
    fn times_are_utc() {
        assert_eq!(format_time(0), "1970-01-01 00:00:00.000Z");
        assert_eq!(format_time(951_782_400_123), "2000-02-29 00:00:00.123Z");
        assert_eq!(format_time(1_700_000_000_000), "2023-11-14 22:13:20.000Z");
    }

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
