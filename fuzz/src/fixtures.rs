//! Fixed inputs the targets check against: the golden roster and messages of the wire
//! format's vectors (protocol/tests/vectors/v1.txt), and the example config's gate rules.

use std::path::Path;
use std::sync::OnceLock;

use swarmvote_node::config::gate::GateRules;
use swarmvote_node::config::{NodeConfig, Overrides};
use swarmvote_protocol::{MemberName, Quorum, Roster, SecretKey, SwarmId};

/// The golden vectors, compiled in so a fuzz binary runs from any directory.
pub const VECTORS: &str = include_str!("../../protocol/tests/vectors/v1.txt");
/// The example node config, whose `[gate]` rules the hook target classifies with.
pub const NODE_EXAMPLE: &str = include_str!("../../configs/node.example.toml");

/// The golden key of member `i`: `i` as 4 little-endian bytes, zeros, and 0x5a last.
pub fn key(i: u32) -> SecretKey {
    let mut seed = [0u8; 32];
    seed[..4].copy_from_slice(&i.to_le_bytes());
    seed[31] = 0x5a;
    SecretKey::from_seed(seed)
}

/// The golden roster: swarm `golden`, members m0..m2, quorum 2/3.
pub fn roster() -> &'static Roster {
    static ROSTER: OnceLock<Roster> = OnceLock::new();
    ROSTER.get_or_init(|| {
        let members = (0..3u32).map(|i| {
            let name = MemberName::new(format!("m{i}")).expect("golden member name");
            (name, key(i).public().expect("golden key"))
        });
        let quorum: Quorum = "2/3".parse().expect("golden quorum");
        let swarm = SwarmId::new("golden").expect("golden swarm");
        Roster::new(swarm, quorum, members).expect("golden roster")
    })
}

/// The bytes of the golden vector `name` (such as `proposal` or `ballot.yes`).
pub fn vector(name: &str) -> Vec<u8> {
    VECTORS
        .lines()
        .filter_map(|l| l.split_once(" = "))
        .find(|(k, _)| *k == name)
        .and_then(|(_, v)| hex::decode(v.trim()).ok())
        .unwrap_or_else(|| panic!("no golden vector {name}"))
}

/// The example config's gate rules.
pub fn gate_rules() -> &'static GateRules {
    static RULES: OnceLock<GateRules> = OnceLock::new();
    RULES.get_or_init(|| {
        let config = NodeConfig::parse(
            NODE_EXAMPLE,
            Path::new("configs/node.example.toml"),
            &Overrides::default(),
        )
        .expect("the example config parses");
        config.gate.check().expect("the example gate rules check")
    })
}
