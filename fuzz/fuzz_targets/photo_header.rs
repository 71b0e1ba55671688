#![no_main]
//! libFuzzer entry for `gridwork_fuzz::photo_header` (src/targets.rs, shared with the stable harness).

libfuzzer_sys::fuzz_target!(|data: &[u8]| gridwork_fuzz::photo_header(data));
