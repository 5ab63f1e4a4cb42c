//! libFuzzer entry for the `codec_decision` target (see `swarmvote_fuzz::protocol_targets::codec_decision`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| swarmvote_fuzz::protocol_targets::codec_decision(data));
