//! libFuzzer entry for the `mcp_args` target (see `swarmvote_fuzz::node_targets::mcp_args`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| swarmvote_fuzz::node_targets::mcp_args(data));
