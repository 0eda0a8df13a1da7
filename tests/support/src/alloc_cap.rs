//! A global allocator that aborts on any single allocation over `CAP`: a hostile size that reaches
//! an allocation becomes a crash libFuzzer reports, with or without a sanitizer (libFuzzer's own
//! `-malloc_limit_mb` needs a sanitizer's malloc hooks). The harness never asks for more than a few
//! MiB on its own: forged files declaring more than `MAX_DECLARED_OUTPUT` are skipped.

use std::alloc::{GlobalAlloc, Layout, System};
use std::io::Write;

pub const CAP: usize = 256 << 20;

pub struct CappedAlloc;

fn check(size: usize) {
    if size > CAP {
        // A literal through the unbuffered stderr: no allocation inside the allocator.
        let _ = std::io::stderr().write_all(b"==alloc_cap== single allocation over 256 MiB\n");
        std::process::abort();
    }
}

// SAFETY: every call is forwarded unchanged to the system allocator; `check` only aborts.
unsafe impl GlobalAlloc for CappedAlloc {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        check(l.size());
        System.alloc(l)
    }
    unsafe fn alloc_zeroed(&self, l: Layout) -> *mut u8 {
        check(l.size());
        System.alloc_zeroed(l)
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, new_size: usize) -> *mut u8 {
        check(new_size);
        System.realloc(p, l, new_size)
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        System.dealloc(p, l)
    }
}
