//! `[api.limits]` in the node config: what one client may hold of the API listener. The
//! type lives here, beside the server loop that enforces it; the config embeds it.
//!
//! ```toml
//! [api.limits]
//! max_connections = 256     # open connections at once; more wait in the kernel's backlog
//! header_timeout_ms = 10000 # a request's headers must arrive within this (slowloris)
//! body_timeout_ms = 10000   # and its body within this
//! ```
//!
//! The API's long waits (`wait_ms`, the event stream) are not cut by these: they bound
//! how slowly a client may *send*, not how long it may listen.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// `[api.limits]` as written.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiLimits {
    /// Connections served at once.
    #[serde(default = "default_connections")]
    pub max_connections: usize,
    /// Milliseconds a client has to send a request's headers.
    #[serde(default = "default_timeout_ms")]
    pub header_timeout_ms: u64,
    /// Milliseconds a client has to send a request's body.
    #[serde(default = "default_timeout_ms")]
    pub body_timeout_ms: u64,
}

fn default_connections() -> usize {
    256
}

fn default_timeout_ms() -> u64 {
    10_000
}

impl Default for ApiLimits {
    fn default() -> Self {
        Self {
            max_connections: default_connections(),
            header_timeout_ms: default_timeout_ms(),
            body_timeout_ms: default_timeout_ms(),
        }
    }
}

impl ApiLimits {
    /// The header deadline.
    pub fn header_timeout(&self) -> Duration {
        Duration::from_millis(self.header_timeout_ms)
    }

    /// The body deadline.
    pub fn body_timeout(&self) -> Duration {
        Duration::from_millis(self.body_timeout_ms)
    }

    /// Checks the values: `Err((field, message))`.
    pub fn check(&self) -> Result<(), (&'static str, String)> {
        if !(1..=65_536).contains(&self.max_connections) {
            return Err((
                "api.limits.max_connections",
                format!("{} is out of range: give 1 to 65536", self.max_connections),
            ));
        }
        for (field, ms) in [
            ("api.limits.header_timeout_ms", self.header_timeout_ms),
            ("api.limits.body_timeout_ms", self.body_timeout_ms),
        ] {
            if !(100..=600_000).contains(&ms) {
                return Err((
                    field,
                    format!("{ms} is out of range: give 100 to 600000 ms"),
                ));
            }
        }
        Ok(())
    }
}
