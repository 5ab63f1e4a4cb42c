//! Fuzz targets for every decoder of untrusted bytes in swarmvote, shared by the libFuzzer
//! binaries (`fuzz_targets/`, long runs with `cargo fuzz`) and the CI smoke test
//! (`tests/smoke.rs`, every target over its seeds and deterministic mutations).
//!
//! A target takes any bytes and returns normally when the code under test behaves: it
//! refuses bad input with an error, and what it accepts survives a round trip. A broken
//! property is reported by panicking, which is how both libFuzzer and the test notice.
// Panicking is how a fuzz target reports a broken property (see above).
#![allow(clippy::panic, clippy::expect_used, clippy::unwrap_used)]

pub mod fixtures;
pub mod mutate;
pub mod node_targets;
pub mod protocol_targets;
pub mod seeds;

/// A target: its name (the libFuzzer binary's, and the corpus directory's) and function.
pub type Target = (&'static str, fn(&[u8]));

/// Every target, in the order the smoke test runs them.
pub const TARGETS: &[Target] = &[
    ("codec_proposal", protocol_targets::codec_proposal),
    ("codec_ballot", protocol_targets::codec_ballot),
    ("codec_equivocation", protocol_targets::codec_equivocation),
    ("codec_certificate", protocol_targets::codec_certificate),
    ("codec_decision", protocol_targets::codec_decision),
    ("codec_sync_request", protocol_targets::codec_sync_request),
    ("codec_sync_response", protocol_targets::codec_sync_response),
    ("codec_receipt", protocol_targets::codec_receipt),
    ("gossip", protocol_targets::gossip),
    ("roster_toml", protocol_targets::roster_toml),
    ("keyfile", protocol_targets::keyfile),
    ("certificate_json", node_targets::certificate_json),
    ("rego_policy", protocol_targets::rego_policy),
    ("sync_frame", node_targets::sync_frame),
    ("node_config", node_targets::node_config),
    ("api_propose", node_targets::api_propose),
    ("api_vote", node_targets::api_vote),
    ("export_line", node_targets::export_line),
    ("receipt_file", node_targets::receipt_file),
    ("mcp_args", node_targets::mcp_args),
    ("hook_event", node_targets::hook_event),
];

/// The target called `name`.
pub fn target(name: &str) -> Option<fn(&[u8])> {
    TARGETS.iter().find(|(n, _)| *n == name).map(|(_, f)| *f)
}
