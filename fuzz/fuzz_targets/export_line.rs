//! libFuzzer entry for the `export_line` target (see `swarmvote_fuzz::node_targets::export_line`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| swarmvote_fuzz::node_targets::export_line(data));
