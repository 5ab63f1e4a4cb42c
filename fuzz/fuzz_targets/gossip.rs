//! libFuzzer entry for the `gossip` target (see `swarmvote_fuzz::protocol_targets::gossip`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| swarmvote_fuzz::protocol_targets::gossip(data));
