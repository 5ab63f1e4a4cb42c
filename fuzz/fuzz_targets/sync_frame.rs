//! libFuzzer entry for the `sync_frame` target (see `swarmvote_fuzz::node_targets::sync_frame`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| swarmvote_fuzz::node_targets::sync_frame(data));
