//! libFuzzer entry for the `hook_event` target (see `swarmvote_fuzz::node_targets::hook_event`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| swarmvote_fuzz::node_targets::hook_event(data));
