//! libFuzzer entry for the `codec_certificate` target (see `swarmvote_fuzz::protocol_targets::codec_certificate`).
#![no_main]

libfuzzer_sys::fuzz_target!(
    |data: &[u8]| swarmvote_fuzz::protocol_targets::codec_certificate(data)
);
