//! libFuzzer entry point; the body is `harness::pair_decode` (shared with `tests/fuzz_regressions.rs`).
#![no_main]

use znn_test_support::{alloc_cap, fuzz as harness};

#[global_allocator]
static ALLOC: alloc_cap::CappedAlloc = alloc_cap::CappedAlloc;

libfuzzer_sys::fuzz_target!(|data: &[u8]| harness::pair_decode(data));
