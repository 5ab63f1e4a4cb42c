//! libFuzzer entry for the `codec_equivocation` target (see `swarmvote_fuzz::protocol_targets::codec_equivocation`).
#![no_main]

libfuzzer_sys::fuzz_target!(
    |data: &[u8]| swarmvote_fuzz::protocol_targets::codec_equivocation(data)
);
