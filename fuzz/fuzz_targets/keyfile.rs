//! libFuzzer entry for the `keyfile` target (see `swarmvote_fuzz::protocol_targets::keyfile`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| swarmvote_fuzz::protocol_targets::keyfile(data));
