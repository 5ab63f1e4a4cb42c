//! libFuzzer entry for the `api_vote` target (see `swarmvote_fuzz::node_targets::api_vote`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| swarmvote_fuzz::node_targets::api_vote(data));
