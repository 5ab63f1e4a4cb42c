//! libFuzzer entry for the `node_config` target (see `swarmvote_fuzz::node_targets::node_config`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| swarmvote_fuzz::node_targets::node_config(data));
