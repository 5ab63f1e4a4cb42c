//! libFuzzer entry for the `certificate_json` target (see `swarmvote_fuzz::node_targets::certificate_json`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| swarmvote_fuzz::node_targets::certificate_json(data));
