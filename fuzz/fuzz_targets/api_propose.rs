//! libFuzzer entry for the `api_propose` target (see `swarmvote_fuzz::node_targets::api_propose`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| swarmvote_fuzz::node_targets::api_propose(data));
