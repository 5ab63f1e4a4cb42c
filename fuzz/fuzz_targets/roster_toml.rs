//! libFuzzer entry for the `roster_toml` target (see `swarmvote_fuzz::protocol_targets::roster_toml`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| swarmvote_fuzz::protocol_targets::roster_toml(data));
