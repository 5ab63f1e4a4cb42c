//! libFuzzer entry for the `codec_ballot` target (see `swarmvote_fuzz::protocol_targets::codec_ballot`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| swarmvote_fuzz::protocol_targets::codec_ballot(data));
