//! libFuzzer entry for the `codec_receipt` target (see `swarmvote_fuzz::protocol_targets::codec_receipt`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| swarmvote_fuzz::protocol_targets::codec_receipt(data));
