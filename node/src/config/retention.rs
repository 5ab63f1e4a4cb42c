//! `[retention]` in the node config: how long a settled proposal stays listed.
//!
//! ```toml
//! [retention]
//! listed_secs = 86400   # a proposal leaves the default listing a day after it expires
//! ```
//!
//! The engine holds a proposal in memory until `listed_secs` after it expires, so this is
//! also what bounds the node's memory. The store keeps everything regardless: the API's
//! history (`GET /v1/proposals?history=true`) and `swarmvote export` read it, and only
//! `swarmvote store prune` removes anything.

use serde::{Deserialize, Serialize};

/// The default window: a day, what the node always did.
pub const DEFAULT_LISTED_SECS: u64 = 24 * 60 * 60;

/// The longest window `config check` accepts: a year. Memory grows with it.
pub const MAX_LISTED_SECS: u64 = 366 * 24 * 60 * 60;

fn default_listed_secs() -> u64 {
    DEFAULT_LISTED_SECS
}

/// `[retention]` as written.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetentionSection {
    /// Seconds a proposal stays listed (and in memory) after it expires.
    #[serde(default = "default_listed_secs")]
    pub listed_secs: u64,
}

impl Default for RetentionSection {
    fn default() -> Self {
        Self {
            listed_secs: default_listed_secs(),
        }
    }
}

impl RetentionSection {
    /// The window in milliseconds, as the engine takes it.
    pub fn listed_ms(&self) -> u64 {
        self.listed_secs.saturating_mul(1000)
    }

    /// Checks the value; the error is the message for field `retention.listed_secs`.
    pub fn check(&self) -> Result<(), String> {
        if self.listed_secs == 0 || self.listed_secs > MAX_LISTED_SECS {
            return Err(format!(
                "{} is out of range: give 1 to {MAX_LISTED_SECS} seconds",
                self.listed_secs
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::path::Path;

    use super::*;
    use crate::config::{NodeConfig, Overrides};

    const BASE: &str = "data_dir = \"d\"\nkey_file = \"k\"\nroster_file = \"r\"\n";

    fn parse(extra: &str) -> Result<NodeConfig, String> {
        NodeConfig::parse(
            &format!("{BASE}{extra}"),
            Path::new("n.toml"),
            &Overrides::default(),
        )
        .map_err(|e| e.to_string())
    }

    #[test]
    fn the_retention_section_defaults_parses_and_names_its_field() {
        assert_eq!(
            parse("").unwrap().retention.listed_secs,
            DEFAULT_LISTED_SECS
        );
        let c = parse("[retention]\nlisted_secs = 3600\n").unwrap();
        assert_eq!(c.retention.listed_ms(), 3_600_000);
        for bad in ["0", "99999999999"] {
            let e = parse(&format!("[retention]\nlisted_secs = {bad}\n")).unwrap_err();
            assert!(
                e.contains("n.toml") && e.contains("retention.listed_secs") && e.contains(bad),
                "{e}"
            );
        }
        let e = parse("[retention]\nlisted = 3\n").unwrap_err();
        assert!(e.contains("listed"), "{e}");
    }
}
