#![no_main]
//! libFuzzer entry for `gridwork_fuzz::wire_response` (src/targets.rs, shared with the stable harness).

libfuzzer_sys::fuzz_target!(|data: &[u8]| gridwork_fuzz::wire_response(data));
