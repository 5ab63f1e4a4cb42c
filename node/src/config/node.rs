//! `[node]`: how this node relates to the swarm's roster chain.
//!
//! ```toml
//! [node]
//! join = true   # start with a key that no roster this node knows lists yet
//! ```
//!
//! A new member's node starts from the genesis roster file and a key that only a roster
//! change will add. Without `join` such a node refuses to start (the usual mistake is a
//! wrong key file); with it, the node follows the swarm, catches the roster chain up,
//! and signs nothing until a step that lists its key arrives.

use serde::{Deserialize, Serialize};

/// `[node]`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeSection {
    /// Start even though no roster of the chain lists this node's key yet (a member
    /// whose addition is proposed or approved but not yet seen here).
    #[serde(default)]
    pub join: bool,
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use std::path::Path;

    use crate::config::{NodeConfig, Overrides};

    const MINIMAL: &str = "data_dir = \"d\"\nkey_file = \"k\"\nroster_file = \"r\"\nlisten = [\"/ip4/127.0.0.1/tcp/7000\"]\n";

    #[test]
    fn join_is_off_by_default_and_set_by_the_file_or_the_flag() {
        let path = Path::new("/srv/node.toml");
        let parse = |text: &str, o: &Overrides| NodeConfig::parse(text, path, o);
        assert!(!parse(MINIMAL, &Overrides::default()).unwrap().node.join);
        let joining = format!("{MINIMAL}\n[node]\njoin = true\n");
        assert!(parse(&joining, &Overrides::default()).unwrap().node.join);
        let flag = Overrides {
            join: true,
            ..Overrides::default()
        };
        assert!(parse(MINIMAL, &flag).unwrap().node.join);
        let err = parse(
            &format!("{MINIMAL}\n[node]\njoin = 1\n"),
            &Overrides::default(),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("join"), "{err}");
        let err = parse(
            &format!("{MINIMAL}\n[node]\njion = true\n"),
            &Overrides::default(),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("jion"), "{err}");
    }
}
