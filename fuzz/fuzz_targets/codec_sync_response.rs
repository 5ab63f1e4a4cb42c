//! libFuzzer entry for the `codec_sync_response` target (see `swarmvote_fuzz::protocol_targets::codec_sync_response`).
#![no_main]

libfuzzer_sys::fuzz_target!(
    |data: &[u8]| swarmvote_fuzz::protocol_targets::codec_sync_response(data)
);
