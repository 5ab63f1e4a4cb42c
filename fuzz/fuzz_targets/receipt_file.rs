//! libFuzzer entry for the `receipt_file` target (see `swarmvote_fuzz::node_targets::receipt_file`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| swarmvote_fuzz::node_targets::receipt_file(data));
