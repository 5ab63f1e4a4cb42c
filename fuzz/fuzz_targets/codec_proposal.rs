//! libFuzzer entry for the `codec_proposal` target (see `swarmvote_fuzz::protocol_targets::codec_proposal`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| swarmvote_fuzz::protocol_targets::codec_proposal(data));
