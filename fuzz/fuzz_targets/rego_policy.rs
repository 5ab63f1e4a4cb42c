//! libFuzzer entry for the `rego_policy` target (see `swarmvote_fuzz::protocol_targets::rego_policy`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| swarmvote_fuzz::protocol_targets::rego_policy(data));
