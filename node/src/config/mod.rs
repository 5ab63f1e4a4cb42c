//! The node config file (TOML) and its command-line overrides.
//!
//! Relative paths are resolved against the directory of the config file. Unknown fields
//! are refused. Every error names the file and the field.

use std::fmt;
use std::path::{Path, PathBuf};

use crate::keyfile::{self, KeyFileError};
use multiaddr::Multiaddr;

use crate::daemon::network::addrs::{self, Use};
use serde::{Deserialize, Serialize};
use swarmvote_protocol::{Roster, RosterError, SecretKey};

use crate::daemon::evaluator::EvaluatorSection;
use crate::daemon::executor::ExecutorSection;
pub mod gate;
pub mod retention;

use self::gate::GateSection;
use self::retention::RetentionSection;
use crate::daemon::http::limits::ApiLimits;

/// Why a config could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("{path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The TOML does not parse, or a field is unknown, missing or of the wrong type.
    #[error("{path}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// The parser's message: line, column and field.
        message: String,
    },
    /// A field has an invalid value.
    #[error("{path}: field `{field}`: {message}")]
    Field {
        /// The file (or `command line`).
        path: PathBuf,
        /// The field.
        field: String,
        /// What is wrong.
        message: String,
    },
    /// The roster file is invalid.
    #[error("{path}: {source}")]
    Roster {
        /// The roster file.
        path: PathBuf,
        /// What is wrong.
        source: RosterError,
    },
    /// The key file is invalid.
    #[error(transparent)]
    Key(#[from] KeyFileError),
    /// The node's key is not in the roster, nor in any roster step the node stored.
    #[error(
        "key {key_file}: public key {voter} is not a member of roster {roster_file} nor of any roster change this node stored; a new member whose addition is proposed or approved starts with `[network] join = true` (or --join)"
    )]
    NotAMember {
        /// The key file.
        key_file: PathBuf,
        /// The roster file.
        roster_file: PathBuf,
        /// The key's voter id.
        voter: String,
    },
}

/// Log output format.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

impl fmt::Display for LogFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            LogFormat::Text => "text",
            LogFormat::Json => "json",
        })
    }
}

/// `[api]`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiSection {
    /// Address of the local HTTP API.
    #[serde(default = "default_api_listen")]
    pub listen: String,
    /// A fixed bearer token. Without one, a fresh token is written to `<data_dir>/api.cookie`
    /// (mode 0600) at every start.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    /// Allow a non-loopback `listen` address.
    #[serde(default)]
    pub allow_remote: bool,
    /// Serve MCP (Streamable HTTP) at `/mcp` on this listener, behind the same token.
    #[serde(default = "yes")]
    pub mcp: bool,
    /// `[api.limits]`: connections, header and body deadlines.
    #[serde(default)]
    pub limits: ApiLimits,
}

fn yes() -> bool {
    true
}

fn default_api_listen() -> String {
    "127.0.0.1:7100".into()
}

impl Default for ApiSection {
    fn default() -> Self {
        Self {
            listen: default_api_listen(),
            token: None,
            allow_remote: false,
            mcp: true,
            limits: ApiLimits::default(),
        }
    }
}

/// `[log]`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogSection {
    /// `text` or `json`.
    #[serde(default)]
    pub format: LogFormat,
    /// Seconds between status lines; 0 turns them off.
    #[serde(default = "default_status_interval")]
    pub status_interval_secs: u64,
}

fn default_status_interval() -> u64 {
    10
}

impl Default for LogSection {
    fn default() -> Self {
        Self {
            format: LogFormat::Text,
            status_interval_secs: default_status_interval(),
        }
    }
}

/// `[network]`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NetworkSection {
    /// The libp2p identity file; default `<data_dir>/p2p.key`, created on first start.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity_file: Option<PathBuf>,
    /// Discover peers on the LAN with mDNS.
    #[serde(default)]
    pub mdns: bool,
    /// Seconds a connection may stay idle before it is closed.
    #[serde(default = "default_idle")]
    pub idle_timeout_secs: u64,
    /// Established connections in total.
    #[serde(default = "default_max_connections")]
    pub max_connections: u32,
    /// Seconds between catch-up rounds with each peer.
    #[serde(default = "default_sync_interval")]
    pub sync_interval_secs: u64,
    /// Gossip messages published per second at most; the rest wait in a bounded queue.
    #[serde(default = "default_publish_rate")]
    pub publish_rate: u32,
    /// Peer ids never to talk to (for tests that split a swarm).
    #[serde(default)]
    pub blocklist: Vec<String>,
    /// Addresses peers should dial to reach this node, announced to them (for a host
    /// behind NAT or in a container), such as `/dns4/host.example/tcp/7000`.
    #[serde(default)]
    pub external_addresses: Vec<String>,
    /// Find the other members through the members we know (Kademlia on a protocol
    /// name private to the swarm and roster).
    #[serde(default = "default_discovery")]
    pub discovery: bool,
    /// Join the swarm as a member-to-be: start although no roster this node knows
    /// lists its key (a new member whose addition is proposed or approved), follow the
    /// swarm, catch the roster chain up, and sign nothing until a roster change that
    /// lists the key arrives. Off, such a key is refused (usually a wrong key file).
    #[serde(default)]
    pub join: bool,
}

fn default_discovery() -> bool {
    true
}

fn default_idle() -> u64 {
    3600
}
fn default_max_connections() -> u32 {
    128
}
fn default_sync_interval() -> u64 {
    10
}
fn default_publish_rate() -> u32 {
    20_000
}

impl Default for NetworkSection {
    fn default() -> Self {
        Self {
            identity_file: None,
            mdns: false,
            idle_timeout_secs: default_idle(),
            max_connections: default_max_connections(),
            sync_interval_secs: default_sync_interval(),
            publish_rate: default_publish_rate(),
            blocklist: Vec::new(),
            external_addresses: Vec::new(),
            discovery: default_discovery(),
            join: false,
        }
    }
}

/// `[metrics]`: Prometheus metrics. `GET /metrics` is always served on the API listener
/// (behind the bearer token); `listen` adds a second listener that serves only
/// `/metrics`, without authentication, for scrapers.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsSection {
    /// Address of the unauthenticated metrics listener, such as `127.0.0.1:9464`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub listen: Option<String>,
    /// Allow a non-loopback `listen` address.
    #[serde(default)]
    pub allow_remote: bool,
}

/// `[doppelganger]`: protection against running one voter key twice. At start the node
/// signs nothing for `listen_secs` while it watches gossip and catch-up for messages
/// signed with its key that it did not sign; seeing one then, or at any later time,
/// stops its signing and the node exits with code 5.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DoppelgangerSection {
    /// Seconds to listen before the first signature; 0 turns the window off (the
    /// check on every message still runs).
    #[serde(default = "default_listen_secs")]
    pub listen_secs: u64,
}

/// The longest start-up window `config check` accepts: an hour.
pub const MAX_LISTEN_SECS: u64 = 3600;

fn default_listen_secs() -> u64 {
    6
}

impl Default for DoppelgangerSection {
    fn default() -> Self {
        Self {
            listen_secs: default_listen_secs(),
        }
    }
}

/// `[health]`: degraded-voter detection (see `crate::daemon::health`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HealthSection {
    /// Settled proposals in the sliding window.
    #[serde(default = "default_window")]
    pub window: u32,
    /// Fraction of the window with a ballot against the outcome that is too much.
    #[serde(default = "default_dissent")]
    pub dissent_fraction: f64,
    /// Fraction of the window without a ballot that is too much.
    #[serde(default = "default_missed")]
    pub missed_fraction: f64,
    /// Invalid signatures naming the member, in the window, that are too many; 0 never.
    #[serde(default = "default_invalid_signatures")]
    pub invalid_signatures: u32,
    /// Consecutive evaluations over a threshold before a member is degraded.
    #[serde(default = "default_k")]
    pub degrade_after: u32,
    /// Consecutive evaluations under every threshold before it recovers.
    #[serde(default = "default_k")]
    pub recover_after: u32,
    /// How long after a decision (or expiry) late ballots still count, in ms.
    #[serde(default = "default_grace")]
    pub grace_ms: u64,
}

// Why these defaults: an honest member that dissents independently on 30% of proposals
// reaches 30 of 50 essentially never (no flag in a million simulated proposals), one at
// 40% about 3 times per 10,000 proposals; a member that always dissents is flagged after
// 32 proposals. See the README.
fn default_window() -> u32 {
    50
}
fn default_dissent() -> f64 {
    0.6
}
fn default_missed() -> f64 {
    0.5
}
fn default_invalid_signatures() -> u32 {
    3
}
fn default_k() -> u32 {
    3
}
fn default_grace() -> u64 {
    10_000
}

impl Default for HealthSection {
    fn default() -> Self {
        Self {
            window: default_window(),
            dissent_fraction: default_dissent(),
            missed_fraction: default_missed(),
            invalid_signatures: default_invalid_signatures(),
            degrade_after: default_k(),
            recover_after: default_k(),
            grace_ms: default_grace(),
        }
    }
}

impl HealthSection {
    /// The thresholds as counts.
    pub fn thresholds(
        &self,
    ) -> Result<crate::daemon::health::Thresholds, crate::daemon::health::ThresholdError> {
        crate::daemon::health::Thresholds::new(
            self.window,
            self.dissent_fraction,
            self.missed_fraction,
            self.invalid_signatures,
            self.degrade_after,
            self.recover_after,
        )
    }
}

/// `[webhook]`: where health transitions are POSTed.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookSection {
    /// The endpoint, `http://host:port/path`.
    pub url: String,
    /// The HMAC secret, inline.
    #[serde(default, skip_serializing)]
    pub secret: Option<String>,
    /// A file holding the HMAC secret (mode 0600 or stricter); surrounding whitespace is
    /// ignored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_file: Option<PathBuf>,
    /// Per-request timeout, ms.
    #[serde(default = "default_webhook_timeout")]
    pub timeout_ms: u64,
    /// Deliveries waiting at most; the oldest is dropped beyond.
    #[serde(default = "default_webhook_queue")]
    pub max_queue: usize,
    /// Retries after a failed attempt, with exponential backoff.
    #[serde(default = "default_webhook_retries")]
    pub max_retries: u32,
}

impl fmt::Debug for WebhookSection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebhookSection")
            .field("url", &self.url)
            .field("secret", &self.secret.as_ref().map(|_| "<redacted>"))
            .field("secret_file", &self.secret_file)
            .field("timeout_ms", &self.timeout_ms)
            .field("max_queue", &self.max_queue)
            .field("max_retries", &self.max_retries)
            .finish()
    }
}

fn default_webhook_timeout() -> u64 {
    5000
}
fn default_webhook_queue() -> usize {
    1000
}
fn default_webhook_retries() -> u32 {
    5
}

/// The largest webhook queue.
pub const MAX_WEBHOOK_QUEUE: usize = 100_000;

impl WebhookSection {
    /// The secret: inline, or read from `secret_file`, which must not be readable by group
    /// or others. Errors name the file and field.
    pub fn load_secret(&self, config: &Path) -> Result<Vec<u8>, ConfigError> {
        let field = |f: &str, message: String| ConfigError::Field {
            path: config.to_owned(),
            field: f.into(),
            message,
        };
        let secret = match (&self.secret, &self.secret_file) {
            (Some(s), None) => s.clone(),
            (None, Some(p)) => {
                #[cfg(unix)]
                {
                    use std::os::unix::fs::PermissionsExt;
                    let meta = std::fs::metadata(p).map_err(|source| ConfigError::Read {
                        path: p.clone(),
                        source,
                    })?;
                    let mode = meta.permissions().mode() & 0o777;
                    if mode & 0o077 != 0 {
                        return Err(field(
                            "webhook.secret_file",
                            format!(
                                "{} has mode {mode:o}; it must not be readable by others (chmod 600)",
                                p.display()
                            ),
                        ));
                    }
                }
                std::fs::read_to_string(p).map_err(|source| ConfigError::Read {
                    path: p.clone(),
                    source,
                })?
            }
            _ => {
                return Err(field(
                    "webhook.secret",
                    "give exactly one of `secret` and `secret_file`".into(),
                ));
            }
        };
        let secret = secret.trim();
        if secret.len() < 16 {
            return Err(field(
                "webhook.secret",
                "the secret must be at least 16 characters".into(),
            ));
        }
        Ok(secret.as_bytes().to_vec())
    }
}

/// The file as written.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfigFile {
    data_dir: PathBuf,
    key_file: PathBuf,
    roster_file: PathBuf,
    #[serde(default = "default_listen")]
    listen: Vec<String>,
    #[serde(default)]
    bootstrap: Vec<String>,
    #[serde(default)]
    api: ApiSection,
    #[serde(default)]
    log: LogSection,
    #[serde(default)]
    network: NetworkSection,
    #[serde(default)]
    evaluator: EvaluatorSection,
    #[serde(default)]
    executor: ExecutorSection,
    #[serde(default)]
    metrics: MetricsSection,
    #[serde(default)]
    health: HealthSection,
    #[serde(default)]
    doppelganger: DoppelgangerSection,
    #[serde(default)]
    webhook: Option<WebhookSection>,
    #[serde(default)]
    gate: GateSection,
    #[serde(default)]
    retention: RetentionSection,
}

fn default_listen() -> Vec<String> {
    vec!["/ip4/0.0.0.0/tcp/7000".into()]
}

/// Command-line values that take precedence over the file.
#[derive(Clone, Debug, Default, clap::Args)]
pub struct Overrides {
    /// Data directory (overrides `data_dir`).
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Voter key file (overrides `key_file`).
    #[arg(long, value_name = "FILE")]
    pub key_file: Option<PathBuf>,
    /// Roster file (overrides `roster_file`).
    #[arg(long = "roster", value_name = "FILE")]
    pub roster_file: Option<PathBuf>,
    /// Listen multiaddr; repeat for several (replaces `listen`).
    #[arg(long, value_name = "MULTIADDR")]
    pub listen: Vec<String>,
    /// Bootstrap peer multiaddr; repeat for several (replaces `bootstrap`).
    #[arg(long, value_name = "MULTIADDR")]
    pub bootstrap: Vec<String>,
    /// API listen address (overrides `api.listen`).
    #[arg(long, value_name = "ADDR")]
    pub api_listen: Option<String>,
    /// Allow a non-loopback API address (sets `api.allow_remote`).
    #[arg(long)]
    pub api_allow_remote: bool,
    /// Log format (overrides `log.format`).
    #[arg(long, value_name = "FORMAT")]
    pub log_format: Option<LogFormat>,
    /// Start with a key no roster lists yet, waiting for a roster change to add it
    /// (sets `network.join`).
    #[arg(long)]
    pub join: bool,
}

/// The effective configuration: file values, overridden by flags, paths resolved.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct NodeConfig {
    /// The config file it came from.
    #[serde(skip)]
    pub source: PathBuf,
    /// Data directory.
    pub data_dir: PathBuf,
    /// Voter key file.
    pub key_file: PathBuf,
    /// Roster file.
    pub roster_file: PathBuf,
    /// libp2p listen addresses.
    pub listen: Vec<String>,
    /// Peers to dial at start.
    pub bootstrap: Vec<String>,
    /// `[api]`.
    pub api: ApiSection,
    /// `[log]`.
    pub log: LogSection,
    /// `[network]`, with `identity_file` resolved.
    pub network: NetworkSection,
    /// `[evaluator]`, with a relative program or policy path resolved.
    pub evaluator: EvaluatorSection,
    /// `[executor]`, with relative program paths resolved.
    pub executor: ExecutorSection,
    /// `[metrics]`.
    pub metrics: MetricsSection,
    /// `[health]`.
    pub health: HealthSection,
    /// `[doppelganger]`.
    pub doppelganger: DoppelgangerSection,
    /// `[webhook]`, with `secret_file` resolved.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub webhook: Option<WebhookSection>,
    /// `[gate]`: which agent tool calls `swarmvote gate hook` sends to the swarm.
    pub gate: GateSection,
    /// `[retention]`: how long settled proposals stay listed.
    pub retention: RetentionSection,
}

impl NodeConfig {
    /// Reads, overrides, resolves and validates a config file. Does not touch the key,
    /// roster or data dir; see [`NodeConfig::load_identity`].
    pub fn load(path: &Path, overrides: &Overrides) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::parse(&text, path, overrides)
    }

    /// Like [`NodeConfig::load`], from text.
    pub fn parse(text: &str, path: &Path, overrides: &Overrides) -> Result<Self, ConfigError> {
        let file: ConfigFile = toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: path.to_owned(),
            message: e.to_string().trim_end().replace('\n', " "),
        })?;
        let base = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        let base = std::path::absolute(base).unwrap_or_else(|_| base.to_owned());
        let resolve = |p: PathBuf| if p.is_absolute() { p } else { base.join(p) };
        let cli = Path::new("command line");
        let pick = |flag: &Option<PathBuf>, file: PathBuf| match flag {
            Some(p) => p.clone(),
            None => resolve(file),
        };
        let config = Self {
            source: path.to_owned(),
            data_dir: pick(&overrides.data_dir, file.data_dir),
            key_file: pick(&overrides.key_file, file.key_file),
            roster_file: pick(&overrides.roster_file, file.roster_file),
            listen: if overrides.listen.is_empty() {
                file.listen
            } else {
                overrides.listen.clone()
            },
            bootstrap: if overrides.bootstrap.is_empty() {
                file.bootstrap
            } else {
                overrides.bootstrap.clone()
            },
            api: ApiSection {
                listen: overrides.api_listen.clone().unwrap_or(file.api.listen),
                allow_remote: overrides.api_allow_remote || file.api.allow_remote,
                ..file.api
            },
            log: LogSection {
                format: overrides.log_format.unwrap_or(file.log.format),
                ..file.log
            },
            network: NetworkSection {
                join: overrides.join || file.network.join,
                ..file.network
            },
            evaluator: file.evaluator,
            executor: file.executor,
            metrics: file.metrics,
            health: file.health,
            doppelganger: file.doppelganger,
            webhook: file.webhook,
            gate: file.gate,
            retention: file.retention,
        };
        let mut config = config;
        config.network.identity_file = Some(match config.network.identity_file.take() {
            Some(p) => resolve(p),
            None => config.data_dir.join("p2p.key"),
        });
        for (i, p) in config.network.blocklist.iter().enumerate() {
            p.parse::<libp2p::PeerId>()
                .map_err(|e| ConfigError::Field {
                    path: path.to_owned(),
                    field: format!("network.blocklist[{i}]"),
                    message: format!("{p:?} is not a peer id ({e})"),
                })?;
        }
        // The Rego policy file, like every other path, is relative to the config file.
        config.evaluator.policy = config.evaluator.policy.take().map(resolve);
        crate::daemon::evaluator::Evaluator::new(&config.evaluator).map_err(|e| {
            ConfigError::Field {
                path: path.to_owned(),
                field: "evaluator".into(),
                message: e.to_string(),
            }
        })?;
        crate::daemon::executor::Executor::new(&config.executor).map_err(|e| {
            ConfigError::Field {
                path: path.to_owned(),
                field: "executor".into(),
                message: e.to_string(),
            }
        })?;
        // A program given as a relative path with a directory (`./vote.sh`, `bin/x`) is
        // relative to the config file, like every other path; a bare name uses PATH.
        let program = |argv: &mut Vec<String>| {
            if let Some(first) = argv.first_mut()
                && first.contains('/')
                && Path::new(first.as_str()).is_relative()
            {
                *first = base.join(first.as_str()).display().to_string();
            }
        };
        program(&mut config.evaluator.command);
        for a in &mut config.executor.actions {
            program(&mut a.command);
        }
        config.check_telemetry(path, &resolve)?;
        config.gate.check().map_err(|e| ConfigError::Field {
            path: path.to_owned(),
            field: e.field,
            message: e.message,
        })?;
        config
            .api
            .limits
            .check()
            .map_err(|(field, message)| ConfigError::Field {
                path: path.to_owned(),
                field: field.into(),
                message,
            })?;
        config
            .retention
            .check()
            .map_err(|message| ConfigError::Field {
                path: path.to_owned(),
                field: "retention.listed_secs".into(),
                message,
            })?;
        let origin = |from_cli: bool| if from_cli { cli } else { path };
        for (i, a) in config.listen.iter().enumerate() {
            check_multiaddr(
                a,
                origin(!overrides.listen.is_empty()),
                &format!("listen[{i}]"),
                Use::Listen,
            )?;
        }
        if config.listen.is_empty() {
            return Err(ConfigError::Field {
                path: path.to_owned(),
                field: "listen".into(),
                message: "at least one listen address is needed".into(),
            });
        }
        for (i, a) in config.bootstrap.iter().enumerate() {
            check_multiaddr(
                a,
                origin(!overrides.bootstrap.is_empty()),
                &format!("bootstrap[{i}]"),
                Use::Dial,
            )?;
        }
        for (i, a) in config.network.external_addresses.iter().enumerate() {
            check_multiaddr(
                a,
                path,
                &format!("network.external_addresses[{i}]"),
                Use::Announce,
            )?;
        }
        let api = config
            .api
            .listen
            .parse::<std::net::SocketAddr>()
            .map_err(|e| ConfigError::Field {
                path: origin(overrides.api_listen.is_some()).to_owned(),
                field: "api.listen".into(),
                message: format!(
                    "{:?} is not a socket address like 127.0.0.1:7100 ({e})",
                    config.api.listen
                ),
            })?;
        // The API can vote and submit on the node's behalf: loopback unless asked.
        if !api.ip().is_loopback() && !config.api.allow_remote {
            return Err(ConfigError::Field {
                path: origin(overrides.api_listen.is_some()).to_owned(),
                field: "api.listen".into(),
                message: format!(
                    "{api} is not a loopback address; set api.allow_remote = true (or pass --api-allow-remote) to expose the API"
                ),
            });
        }
        Ok(config)
    }

    /// Checks `[metrics]`, `[health]`, `[doppelganger]` and `[webhook]`; resolves
    /// `webhook.secret_file`.
    fn check_telemetry(
        &mut self,
        path: &Path,
        resolve: &dyn Fn(PathBuf) -> PathBuf,
    ) -> Result<(), ConfigError> {
        let field = |f: &str, message: String| ConfigError::Field {
            path: path.to_owned(),
            field: f.to_owned(),
            message,
        };
        if let Some(listen) = &self.metrics.listen {
            let addr = listen.parse::<std::net::SocketAddr>().map_err(|e| {
                field(
                    "metrics.listen",
                    format!("{listen:?} is not a socket address like 127.0.0.1:9464 ({e})"),
                )
            })?;
            if !addr.ip().is_loopback() && !self.metrics.allow_remote {
                return Err(field(
                    "metrics.listen",
                    format!("{addr} is not a loopback address; set metrics.allow_remote = true"),
                ));
            }
        }
        self.health.thresholds().map_err(|e| {
            let name = match &e {
                crate::daemon::health::ThresholdError::OutOfRange { field, .. }
                | crate::daemon::health::ThresholdError::Fraction { field, .. } => *field,
            };
            field(&format!("health.{name}"), e.to_string())
        })?;
        if self.doppelganger.listen_secs > MAX_LISTEN_SECS {
            return Err(field(
                "doppelganger.listen_secs",
                format!(
                    "{} is more than {MAX_LISTEN_SECS} seconds; a few seconds suffice (0 turns the window off)",
                    self.doppelganger.listen_secs
                ),
            ));
        }
        if let Some(w) = &mut self.webhook {
            if !w.url.starts_with("http://") {
                return Err(field(
                    "webhook.url",
                    format!(
                        "{:?}: only http:// URLs are supported (for https, relay through a local proxy)",
                        w.url
                    ),
                ));
            }
            if w.url.parse::<axum::http::Uri>().is_err() {
                return Err(field("webhook.url", format!("{:?} is not a URL", w.url)));
            }
            if w.secret.is_some() == w.secret_file.is_some() {
                return Err(field(
                    "webhook.secret",
                    "give exactly one of `secret` and `secret_file`".into(),
                ));
            }
            w.secret_file = w.secret_file.take().map(resolve);
            if w.timeout_ms == 0 {
                return Err(field("webhook.timeout_ms", "must be above 0".into()));
            }
            if w.max_queue == 0 || w.max_queue > MAX_WEBHOOK_QUEUE {
                return Err(field(
                    "webhook.max_queue",
                    format!("must be between 1 and {MAX_WEBHOOK_QUEUE}"),
                ));
            }
            if w.max_retries > 100 {
                return Err(field("webhook.max_retries", "must be at most 100".into()));
            }
        }
        Ok(())
    }

    /// Reads the roster and the key, and checks that the key is a member (unless
    /// `network.join` says it is not one yet).
    pub fn load_identity(&self) -> Result<(Roster, SecretKey), ConfigError> {
        let (roster, key) = self.load_genesis_and_key()?;
        if roster.member(&key.voter_id()).is_none() && !self.network.join {
            return Err(self.not_a_member(&key));
        }
        Ok((roster, key))
    }

    /// Reads the roster file (the genesis roster of the chain) and the key, without the
    /// membership check: a node checks it against every roster of its chain, which its
    /// store may have carried past the file (a rotated key is listed only there).
    pub fn load_genesis_and_key(&self) -> Result<(Roster, SecretKey), ConfigError> {
        Ok((
            load_roster(&self.roster_file)?,
            keyfile::read_secret_key(&self.key_file)?,
        ))
    }

    /// The error for a key that no known roster lists.
    pub fn not_a_member(&self, key: &SecretKey) -> ConfigError {
        ConfigError::NotAMember {
            key_file: self.key_file.clone(),
            roster_file: self.roster_file.clone(),
            voter: key.voter_id().to_string(),
        }
    }

    /// The effective config as TOML, for `config check`.
    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).unwrap_or_else(|e| format!("# cannot render: {e}\n"))
    }
}

/// Reads and validates a roster file; errors name the file.
pub fn load_roster(path: &Path) -> Result<Roster, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_owned(),
        source,
    })?;
    Roster::from_toml(&text).map_err(|source| ConfigError::Roster {
        path: path.to_owned(),
        source,
    })
}

/// Checks that `addr` parses and that the transport can use it for `purpose`.
fn check_multiaddr(addr: &str, path: &Path, field: &str, purpose: Use) -> Result<(), ConfigError> {
    let err = |message: String| ConfigError::Field {
        path: path.to_owned(),
        field: field.to_owned(),
        message,
    };
    let parsed = addr.parse::<Multiaddr>().map_err(|e| {
        err(format!(
            "{addr:?} is not a multiaddr like /ip4/127.0.0.1/tcp/7000 ({e})"
        ))
    })?;
    addrs::check(&parsed, purpose).map_err(|e| err(format!("{addr:?}: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
        data_dir = "data"
        key_file = "voter.key"
        roster_file = "/etc/swarmvote/roster.toml"
        listen = ["/ip4/127.0.0.1/tcp/7000"]
        [api]
        listen = "127.0.0.1:7100"
    "#;

    #[test]
    fn join_is_off_by_default_and_set_by_the_file_or_the_flag() {
        let path = Path::new("/srv/node/node.toml");
        let parse = |text: &str, o: &Overrides| NodeConfig::parse(text, path, o);
        assert!(!parse(GOOD, &Overrides::default()).unwrap().network.join);
        let joining = format!("{GOOD}\n[network]\njoin = true\n");
        assert!(parse(&joining, &Overrides::default()).unwrap().network.join);
        let flag = Overrides {
            join: true,
            ..Overrides::default()
        };
        assert!(parse(GOOD, &flag).unwrap().network.join);
        let err = parse(
            &format!("{GOOD}\n[network]\njoin = 1\n"),
            &Overrides::default(),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("join"), "{err}");
    }

    #[test]
    fn paths_resolve_against_the_file_and_flags_win() {
        let path = Path::new("/srv/node/node.toml");
        let c = NodeConfig::parse(GOOD, path, &Overrides::default()).unwrap();
        assert_eq!(c.data_dir, Path::new("/srv/node/data"));
        assert_eq!(c.key_file, Path::new("/srv/node/voter.key"));
        assert_eq!(c.roster_file, Path::new("/etc/swarmvote/roster.toml"));
        assert_eq!(c.log.format, LogFormat::Text);
        let o = Overrides {
            data_dir: Some("/tmp/other".into()),
            listen: vec!["/ip4/127.0.0.1/tcp/9".into()],
            log_format: Some(LogFormat::Json),
            ..Overrides::default()
        };
        let c = NodeConfig::parse(GOOD, path, &o).unwrap();
        assert_eq!(c.data_dir, Path::new("/tmp/other"));
        assert_eq!(c.listen, ["/ip4/127.0.0.1/tcp/9"]);
        assert_eq!(c.log.format, LogFormat::Json);
        assert!(c.to_toml().contains("/tmp/other"));
    }

    #[test]
    fn evaluator_and_executor_commands_parse_and_resolve() {
        let path = Path::new("/srv/node/node.toml");
        let text = format!(
            "{GOOD}\n[evaluator]\nkind = \"command\"\ncommand = [\"./vote.sh\", \"x\"]\n\n\
             [[executor.actions]]\naction = \"fs.*\"\ncommand = [\"do-delete\"]\n\n\
             [[executor.actions]]\naction = \"deploy\"\ncommand = [\"/bin/deploy\"]\ntimeout_ms = 5\n"
        );
        let c = NodeConfig::parse(&text, path, &Overrides::default()).unwrap();
        assert_eq!(c.evaluator.command, ["/srv/node/./vote.sh", "x"]);
        assert_eq!(c.evaluator.timeout_ms, 5000);
        let actions = &c.executor.actions;
        assert_eq!(actions.len(), 2);
        // A bare name is left to PATH.
        assert_eq!(
            (actions[0].command[0].as_str(), actions[0].timeout_ms),
            ("do-delete", 60_000)
        );
        assert_eq!(actions[1].timeout_ms, 5);
        assert!(
            c.to_toml().contains("[[executor.actions]]"),
            "{}",
            c.to_toml()
        );

        for (bad, field) in [
            ("[evaluator]\nkind = \"command\"\n", "evaluator.command"),
            ("[evaluator]\ncommand = [\"/bin/x\"]\n", "evaluator.command"),
            (
                "[[executor.actions]]\naction = \"a\"\ncommand = []\n",
                "executor.actions[0].command",
            ),
            (
                "[[executor.actions]]\naction = \"[\"\ncommand = [\"/x\"]\n",
                "executor.actions[0].action",
            ),
            (
                "[[executor.actions]]\naction = \"a\"\ncommand = [\"/x\"]\ncolour = 1\n",
                "colour",
            ),
        ] {
            let err = NodeConfig::parse(&format!("{GOOD}\n{bad}"), path, &Overrides::default())
                .unwrap_err();
            assert!(err.to_string().contains(field), "{bad}: {err}");
        }
    }

    #[test]
    fn the_doppelganger_section_defaults_parses_and_is_checked() {
        let path = Path::new("/srv/node/node.toml");
        let c = NodeConfig::parse(GOOD, path, &Overrides::default()).unwrap();
        assert_eq!(c.doppelganger.listen_secs, 6);
        let c = NodeConfig::parse(
            &format!("{GOOD}\n[doppelganger]\nlisten_secs = 0\n"),
            path,
            &Overrides::default(),
        )
        .unwrap();
        assert_eq!(c.doppelganger.listen_secs, 0);
        for (bad, field) in [
            (
                "[doppelganger]\nlisten_secs = 7200\n",
                "doppelganger.listen_secs",
            ),
            ("[doppelganger]\nlisten = 3\n", "listen"),
            ("[doppelganger]\nlisten_secs = -1\n", "listen_secs"),
        ] {
            let err = NodeConfig::parse(&format!("{GOOD}\n{bad}"), path, &Overrides::default())
                .unwrap_err();
            assert!(err.to_string().contains(field), "{bad}: {err}");
        }
    }

    #[test]
    fn telemetry_sections_parse_validate_and_name_fields() {
        let path = Path::new("/srv/node/node.toml");
        let c = NodeConfig::parse(GOOD, path, &Overrides::default()).unwrap();
        assert_eq!(c.health, HealthSection::default());
        assert!(c.webhook.is_none() && c.metrics.listen.is_none());
        let text = format!(
            "{GOOD}\n[metrics]\nlisten = \"127.0.0.1:9464\"\n\n[health]\nwindow = 5\n\
             degrade_after = 1\n\n[webhook]\nurl = \"http://127.0.0.1:9/hook\"\n\
             secret_file = \"hook.secret\"\n"
        );
        let c = NodeConfig::parse(&text, path, &Overrides::default()).unwrap();
        assert_eq!(c.health.window, 5);
        assert_eq!(c.health.thresholds().unwrap().dissent, 3);
        let w = c.webhook.unwrap();
        assert_eq!(
            w.secret_file.as_deref(),
            Some(Path::new("/srv/node/hook.secret"))
        );
        assert_eq!((w.timeout_ms, w.max_queue, w.max_retries), (5000, 1000, 5));

        for (bad, field) in [
            ("[health]\nwindow = 0\n", "health.window"),
            (
                "[health]\ndissent_fraction = 1.5\n",
                "health.dissent_fraction",
            ),
            (
                "[health]\nmissed_fraction = 0.0\n",
                "health.missed_fraction",
            ),
            ("[health]\nrecover_after = 0\n", "health.recover_after"),
            ("[health]\nwindow = 3\nbogus = 1\n", "bogus"),
            ("[metrics]\nlisten = \"0.0.0.0:9464\"\n", "metrics.listen"),
            ("[metrics]\nlisten = \"nine\"\n", "metrics.listen"),
            (
                "[webhook]\nurl = \"https://x/\"\nsecret = \"0123456789abcdef\"\n",
                "webhook.url",
            ),
            ("[webhook]\nurl = \"http://x/\"\n", "webhook.secret"),
            (
                "[webhook]\nurl = \"http://x/\"\nsecret = \"0123456789abcdef\"\nsecret_file = \"f\"\n",
                "webhook.secret",
            ),
            (
                "[webhook]\nurl = \"http://x/\"\nsecret = \"0123456789abcdef\"\nmax_queue = 0\n",
                "webhook.max_queue",
            ),
        ] {
            let err = NodeConfig::parse(&format!("{GOOD}\n{bad}"), path, &Overrides::default())
                .unwrap_err();
            assert!(err.to_string().contains(field), "{bad}: {err}");
        }
    }

    #[test]
    fn the_gate_section_parses_and_its_errors_name_file_and_field() {
        let path = Path::new("/srv/node/node.toml");
        let c = NodeConfig::parse(GOOD, path, &Overrides::default()).unwrap();
        assert_eq!(c.gate, GateSection::default());
        let text = format!(
            "{GOOD}\n[gate]\ndeadline_s = 20\n[[gate.rules]]\ntool = \"Bash\"\n\
             field = \"command\"\nmatch = [\"rm -rf *\"]\naction = \"shell.exec\"\n"
        );
        let c = NodeConfig::parse(&text, path, &Overrides::default()).unwrap();
        assert_eq!((c.gate.deadline_s, c.gate.rules.len()), (20, 1));
        assert!(c.to_toml().contains("[[gate.rules]]"), "{}", c.to_toml());
        for (bad, field) in [
            ("[gate]\ndeadline_s = 0\n", "field `gate.deadline_s`"),
            (
                "[[gate.rules]]\ntool = \"Bash\"\nfield = \"command\"\naction = \"a\"\n",
                "field `gate.rules[0].match`",
            ),
            ("[gate]\ndeadline = 3\n", "deadline"),
        ] {
            let err = NodeConfig::parse(&format!("{GOOD}\n{bad}"), path, &Overrides::default())
                .unwrap_err()
                .to_string();
            assert!(
                err.starts_with("/srv/node/node.toml") && err.contains(field),
                "{bad}: {err}"
            );
        }
    }

    #[test]
    fn webhook_secrets_load_inline_or_from_a_private_file() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("hook.secret");
        std::fs::write(&file, "  0123456789abcdef-secret\n").unwrap();
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
        let mut w = WebhookSection {
            url: "http://127.0.0.1:9/".into(),
            secret: None,
            secret_file: Some(file.clone()),
            timeout_ms: 1,
            max_queue: 1,
            max_retries: 0,
        };
        let cfg = Path::new("node.toml");
        let err = w.load_secret(cfg).unwrap_err();
        assert!(err.to_string().contains("webhook.secret_file"), "{err}");
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert_eq!(w.load_secret(cfg).unwrap(), b"0123456789abcdef-secret");
        w.secret_file = None;
        w.secret = Some("short".into());
        assert!(w.load_secret(cfg).unwrap_err().to_string().contains("16"));
        // The secret never appears in Debug output or the rendered config.
        w.secret = Some("0123456789abcdef-inline".into());
        assert!(!format!("{w:?}").contains("inline"));
    }

    #[test]
    fn addresses_the_transport_cannot_use_are_refused_naming_field_and_address() {
        let path = Path::new("node.toml");
        let with = |listen: &str, bootstrap: &str, network: &str| {
            let text = format!(
                "data_dir = \"d\"\nkey_file = \"k\"\nroster_file = \"r\"\nlisten = [{listen}]\nbootstrap = [{bootstrap}]\n[api]\nlisten = \"127.0.0.1:7100\"\n[network]\n{network}\n"
            );
            NodeConfig::parse(&text, path, &Overrides::default()).map_err(|e| e.to_string())
        };
        let good = "\"/ip4/0.0.0.0/tcp/7000\"";
        let c = with(
            good,
            "\"/dns4/localhost/tcp/7001\", \"/dns/a.example/tcp/7002\", \"/ip6/::1/tcp/7003\"",
            "external_addresses = [\"/dns4/host.example/tcp/7000\"]",
        )
        .unwrap();
        assert_eq!(
            c.network.external_addresses,
            ["/dns4/host.example/tcp/7000"]
        );
        assert!(c.network.discovery, "discovery is on by default");
        for (listen, bootstrap, network, field, addr) in [
            (
                good,
                "\"/dns4/a/tcp/1\", \"/ip4/1.2.3.4/tcp/2\", \"/ip4/1.2.3.4/udp/7000/quic-v1\"",
                "",
                "bootstrap[2]",
                "/ip4/1.2.3.4/udp/7000/quic-v1",
            ),
            (
                good,
                "\"/unix/tmp%2Fs\"",
                "",
                "bootstrap[0]",
                "/unix/tmp%2Fs",
            ),
            (good, "\"/memory/4\"", "", "bootstrap[0]", "/memory/4"),
            (good, "\"/ip4/1.2.3.4\"", "", "bootstrap[0]", "/ip4/1.2.3.4"),
            (
                "\"/dns4/localhost/tcp/7000\"",
                "",
                "",
                "listen[0]",
                "/dns4/localhost/tcp/7000",
            ),
            (
                good,
                "",
                "external_addresses = [\"/ip4/1.2.3.4/udp/1\"]",
                "network.external_addresses[0]",
                "/ip4/1.2.3.4/udp/1",
            ),
        ] {
            let err = with(listen, bootstrap, network).unwrap_err();
            assert!(
                err.contains(&format!("field `{field}`")) && err.contains(addr),
                "{field}: {err}"
            );
        }
        let err = with(good, "", "discovery = \"yes\"").unwrap_err();
        assert!(err.contains("discovery"), "{err}");
    }

    #[test]
    fn errors_name_file_and_field() {
        let path = Path::new("node.toml");
        let err = NodeConfig::parse(
            &format!("{GOOD}\ncolour = 1\n"),
            path,
            &Overrides::default(),
        )
        .unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.starts_with("node.toml:") && msg.contains("colour"),
            "{msg}"
        );

        let err = NodeConfig::parse("data_dir = 3", path, &Overrides::default()).unwrap_err();
        assert!(err.to_string().contains("data_dir"), "{err}");

        let bad = GOOD.replace("/ip4/127.0.0.1/tcp/7000", "tcp:7000");
        let err = NodeConfig::parse(&bad, path, &Overrides::default()).unwrap_err();
        assert!(err.to_string().contains("field `listen[0]`"), "{err}");

        let bad = GOOD.replace("127.0.0.1:7100", "localhost");
        let err = NodeConfig::parse(&bad, path, &Overrides::default()).unwrap_err();
        assert!(err.to_string().contains("api.listen"), "{err}");

        // A non-loopback API address needs an explicit opt-in.
        let remote = GOOD.replace("127.0.0.1:7100", "0.0.0.0:7100");
        let err = NodeConfig::parse(&remote, path, &Overrides::default()).unwrap_err();
        assert!(err.to_string().contains("allow_remote"), "{err}");
        let o = Overrides {
            api_allow_remote: true,
            ..Overrides::default()
        };
        assert!(
            NodeConfig::parse(&remote, path, &o)
                .unwrap()
                .api
                .allow_remote
        );

        let err = NodeConfig::parse(
            "key_file = \"k\"\nroster_file = \"r\"",
            path,
            &Overrides::default(),
        )
        .unwrap_err();
        assert!(err.to_string().contains("data_dir"), "{err}");
    }
}
