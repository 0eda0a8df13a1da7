//! libFuzzer entry point; the body is `harness::chunk_decode` (shared with `tests/fuzz_regressions.rs`).
#![no_main]

#[path = "../harness.rs"]
mod harness;

libfuzzer_sys::fuzz_target!(|data: &[u8]| harness::chunk_decode(data));
