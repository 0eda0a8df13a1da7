//! Shared by the hostile-input test files: an allocation cap, the damaged-file fixtures and the
//! verdicts on what a decoder did with a damaged file. Each test binary that includes it gets its
//! own capped global allocator.
#![allow(dead_code)]

use crate::*;
use std::alloc::{GlobalAlloc, Layout as AllocLayout, System};
use std::cell::Cell;
use std::io::Cursor;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::OnceLock;
use znn_gpu::{compress_bytes, decompress_bytes, decompress_stream, Layout};

// ------------------------------------------------------------------------------------------
// Allocation cap
// ------------------------------------------------------------------------------------------

pub const ALLOC_CAP: usize = 1 << 30;

pub struct CappedAlloc;

thread_local! {
    static LARGEST: Cell<usize> = const { Cell::new(0) };
}

fn note(size: usize) {
    let _ = LARGEST.try_with(|l| l.set(l.get().max(size)));
}

unsafe impl GlobalAlloc for CappedAlloc {
    unsafe fn alloc(&self, l: AllocLayout) -> *mut u8 {
        note(l.size());
        if l.size() > ALLOC_CAP {
            return std::ptr::null_mut();
        }
        System.alloc(l)
    }
    unsafe fn alloc_zeroed(&self, l: AllocLayout) -> *mut u8 {
        note(l.size());
        if l.size() > ALLOC_CAP {
            return std::ptr::null_mut();
        }
        System.alloc_zeroed(l)
    }
    unsafe fn dealloc(&self, p: *mut u8, l: AllocLayout) {
        System.dealloc(p, l)
    }
    unsafe fn realloc(&self, p: *mut u8, l: AllocLayout, new_size: usize) -> *mut u8 {
        note(new_size);
        if new_size > ALLOC_CAP {
            return std::ptr::null_mut();
        }
        System.realloc(p, l, new_size)
    }
}

/// Runs `f` and returns its value with the largest allocation this thread requested meanwhile.
/// Only in a binary whose global allocator is [`CappedAlloc`] (`#[global_allocator] static A:
/// CappedAlloc = CappedAlloc;`): a library cannot choose its users' allocator.
pub fn largest_alloc<T>(f: impl FnOnce() -> T) -> (T, usize) {
    LARGEST.with(|l| l.set(0));
    let v = f();
    (v, LARGEST.with(|l| l.get()))
}

// ------------------------------------------------------------------------------------------
// Fixtures and checks
// ------------------------------------------------------------------------------------------

pub struct Small {
    pub orig: Vec<u8>,
    pub znn: Vec<u8>,
    pub index: std::ops::Range<usize>,
}

/// The golden input compressed with 4 KiB chunks and 256-symbol sub-streams.
pub fn small() -> &'static Small {
    static S: OnceLock<Small> = OnceLock::new();
    S.get_or_init(|| {
        let orig = golden_input();
        let znn = compress_bytes(&orig, &golden_opts()).unwrap();
        let a = check_archive(&znn, &orig, &golden_opts(), "small");
        let n = codec_counts(&a);
        assert!(
            n.iter().all(|&c| c > 0),
            "fixture must use every codec: {n:?}"
        );
        assert!(a.index.chunks().len() > 4);
        let index = ref_parse(&znn).unwrap().index_range;
        Small { orig, znn, index }
    })
}

/// A bigger archive: the first 1 MiB of the real model with 4 KiB chunks (256 chunks).
pub fn medium() -> &'static Small {
    static S: OnceLock<Small> = OnceLock::new();
    S.get_or_init(|| {
        let orig = repo_model()[..1 << 20].to_vec();
        let znn = compress_bytes(&orig, &opts(4096, 1024, Layout::Bf16)).unwrap();
        let index = ref_parse(&znn).unwrap().index_range;
        Small { orig, znn, index }
    })
}

/// `znn` with its index records edited by `f` (the library's own serialiser writes them back) and
/// the file resealed: index and content hashes right, records lying, so that only the decoders'
/// own checks stand.
pub fn forge_index(znn: &[u8], f: impl FnOnce(&mut znn_gpu::format::IndexParts)) -> Vec<u8> {
    let a = znn_gpu::Archive::from_bytes(znn).unwrap();
    let mut parts = a.index.to_parts();
    f(&mut parts);
    let range = ref_parse(znn).unwrap().index_range;
    reseal(znn, range, &parts.to_bytes(), a.original_len())
}

pub fn panic_message(p: Box<dyn std::any::Any + Send>) -> String {
    p.downcast_ref::<String>()
        .cloned()
        .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "<non-string panic>".into())
}

pub const SAME: &str = "accepted (decoded to the original)";

/// What decoding a damaged file did, when it did not return an error.
pub fn verdict(r: std::thread::Result<znn_gpu::Result<Vec<u8>>>, orig: &[u8]) -> Option<String> {
    match r {
        Err(p) => Some(format!("PANIC: {}", panic_message(p))),
        Ok(Ok(out)) if out == orig => Some(SAME.into()),
        Ok(Ok(out)) => Some(format!("accepted, WRONG OUTPUT ({} bytes)", out.len())),
        Ok(Err(_)) => None,
    }
}

/// `decompress_bytes` on a damaged file: `None` when it is rejected with an error.
pub fn bytes_verdict(f: &[u8], orig: &[u8]) -> Option<String> {
    verdict(catch_unwind(AssertUnwindSafe(|| decompress_bytes(f))), orig)
}

/// `decompress_stream` (seekable `Cursor`) on a damaged file.
pub fn stream_verdict(f: &[u8], orig: &[u8]) -> Option<String> {
    verdict(
        catch_unwind(AssertUnwindSafe(|| {
            let mut out = Vec::new();
            decompress_stream(&mut Cursor::new(f), &mut out, &mut |_| {}).map(|_| out)
        })),
        orig,
    )
}

/// True when the library accepted a damaged file, decoded it to the original, and the reference
/// decoder (FORMAT.md) accepts it too: a change no check of the format can see, such as the zero
/// padding bits at the end of a Huffman sub-stream, or a table's `last` symbol moved onto an absent
/// symbol (a zero nibble where the padding nibble was).
pub fn spec_accepts(v: &Option<String>, damaged: &[u8], orig: &[u8]) -> bool {
    v.as_deref() == Some(SAME) && ref_decode(damaged).as_deref() == Ok(orig)
}

/// Collects failures and reports them all at the end (the first 30, with counts).
pub struct Failures {
    pub what: &'static str,
    pub tried: usize,
    /// Damaged files that decoded to the original (allowed only where the test says so).
    pub neutral: usize,
    pub list: Vec<String>,
}

impl Failures {
    pub fn new(what: &'static str) -> Self {
        Failures {
            what,
            tried: 0,
            neutral: 0,
            list: Vec::new(),
        }
    }
    pub fn check(&mut self, case: impl FnOnce() -> String, v: Option<String>) {
        self.check_allowing(case, v, false)
    }
    /// Like `check`, but a damaged file that decodes to the original is counted, not a failure
    /// (`allow_same`): a forged file whose hashes were recomputed may still describe the original.
    pub fn check_allowing(
        &mut self,
        case: impl FnOnce() -> String,
        v: Option<String>,
        allow_same: bool,
    ) {
        self.tried += 1;
        match v {
            Some(v) if allow_same && v == SAME => self.neutral += 1,
            Some(v) => self.list.push(format!("{}: {v}", case())),
            None => {}
        }
    }
    #[track_caller]
    pub fn finish(self) -> usize {
        eprintln!(
            "{}: {} cases tried, {} decoded to the original",
            self.what, self.tried, self.neutral
        );
        if !self.list.is_empty() {
            panic!(
                "{}: {} of {} damaged files were not rejected with an error:\n{}",
                self.what,
                self.list.len(),
                self.tried,
                self.list
                    .iter()
                    .take(30)
                    .cloned()
                    .collect::<Vec<_>>()
                    .join("\n")
            );
        }
        self.tried
    }
}

pub fn flipped(f: &[u8], pos: usize, mask: u8) -> Vec<u8> {
    let mut g = f.to_vec();
    g[pos] ^= mask;
    g
}
