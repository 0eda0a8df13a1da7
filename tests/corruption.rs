//! Hostile input: every corruption of a `.znn` file is an error, never a panic, a hang, a huge
//! allocation or wrong output. The small archive is the golden input compressed with 4 KiB chunks
//! (11 chunks, all six layouts, all four codecs); flips cover every byte of it. Forged files have
//! their index hash and content hash recomputed, so that the checks behind the hashes are reached.
//!
//! A capped global allocator refuses any single allocation over 1 GiB (a fallible allocation then
//! fails; an infallible one aborts the test binary, loudly), and records the largest request per
//! thread so that tests can assert that a forged file was rejected before anything big was
//! allocated.

mod common;

use common::*;
use std::alloc::{GlobalAlloc, Layout as AllocLayout, System};
use std::cell::Cell;
use std::io::Cursor;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::OnceLock;
use std::time::{Duration, Instant};
use znn_gpu::format::Codec;
use znn_gpu::{compress_bytes, decompress_bytes, decompress_stream, Archive, Error, Layout};

// ------------------------------------------------------------------------------------------
// Allocation cap
// ------------------------------------------------------------------------------------------

const ALLOC_CAP: usize = 1 << 30;

struct CappedAlloc;

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

#[global_allocator]
static GLOBAL: CappedAlloc = CappedAlloc;

/// Runs `f` and returns its value with the largest allocation this thread requested meanwhile.
fn largest_alloc<T>(f: impl FnOnce() -> T) -> (T, usize) {
    LARGEST.with(|l| l.set(0));
    let v = f();
    (v, LARGEST.with(|l| l.get()))
}

// ------------------------------------------------------------------------------------------
// Fixtures and checks
// ------------------------------------------------------------------------------------------

struct Small {
    orig: Vec<u8>,
    znn: Vec<u8>,
    index: std::ops::Range<usize>,
}

/// The golden input compressed with 4 KiB chunks and 256-symbol sub-streams.
fn small() -> &'static Small {
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
        assert!(a.index.chunks.len() > 4);
        let index = ref_parse(&znn).unwrap().index_range;
        Small { orig, znn, index }
    })
}

/// A bigger archive: the first 1 MiB of the real model with 4 KiB chunks (256 chunks).
fn medium() -> &'static Small {
    static S: OnceLock<Small> = OnceLock::new();
    S.get_or_init(|| {
        let orig = repo_model()[..1 << 20].to_vec();
        let znn = compress_bytes(&orig, &opts(4096, 1024, Layout::Bf16)).unwrap();
        let index = ref_parse(&znn).unwrap().index_range;
        Small { orig, znn, index }
    })
}

fn panic_message(p: Box<dyn std::any::Any + Send>) -> String {
    p.downcast_ref::<String>()
        .cloned()
        .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "<non-string panic>".into())
}

const SAME: &str = "accepted (decoded to the original)";

/// What decoding a damaged file did, when it did not return an error.
fn verdict(r: std::thread::Result<znn_gpu::Result<Vec<u8>>>, orig: &[u8]) -> Option<String> {
    match r {
        Err(p) => Some(format!("PANIC: {}", panic_message(p))),
        Ok(Ok(out)) if out == orig => Some(SAME.into()),
        Ok(Ok(out)) => Some(format!("accepted, WRONG OUTPUT ({} bytes)", out.len())),
        Ok(Err(_)) => None,
    }
}

/// `decompress_bytes` on a damaged file: `None` when it is rejected with an error.
fn bytes_verdict(f: &[u8], orig: &[u8]) -> Option<String> {
    verdict(catch_unwind(AssertUnwindSafe(|| decompress_bytes(f))), orig)
}

/// `decompress_stream` (seekable `Cursor`) on a damaged file.
fn stream_verdict(f: &[u8], orig: &[u8]) -> Option<String> {
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
fn spec_accepts(v: &Option<String>, damaged: &[u8], orig: &[u8]) -> bool {
    v.as_deref() == Some(SAME) && ref_decode(damaged).as_deref() == Ok(orig)
}

/// Collects failures and reports them all at the end (the first 30, with counts).
struct Failures {
    what: &'static str,
    tried: usize,
    /// Damaged files that decoded to the original (allowed only where the test says so).
    neutral: usize,
    list: Vec<String>,
}

impl Failures {
    fn new(what: &'static str) -> Self {
        Failures {
            what,
            tried: 0,
            neutral: 0,
            list: Vec::new(),
        }
    }
    fn check(&mut self, case: impl FnOnce() -> String, v: Option<String>) {
        self.check_allowing(case, v, false)
    }
    /// Like `check`, but a damaged file that decodes to the original is counted, not a failure
    /// (`allow_same`): a forged file whose hashes were recomputed may still describe the original.
    fn check_allowing(
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
    fn finish(self) -> usize {
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

fn flipped(f: &[u8], pos: usize, mask: u8) -> Vec<u8> {
    let mut g = f.to_vec();
    g[pos] ^= mask;
    g
}

// ------------------------------------------------------------------------------------------
// Byte flips
// ------------------------------------------------------------------------------------------

#[test]
fn every_index_and_trailer_byte_flip_is_rejected() {
    let s = small();
    let mut fails = Failures::new("index+trailer flips");
    for pos in s.index.start..s.znn.len() {
        for mask in [0xFF, 0x01, 0x80] {
            let g = flipped(&s.znn, pos, mask);
            fails.check(
                || format!("offset {pos} ^ {mask:#04x}"),
                bytes_verdict(&g, &s.orig),
            );
        }
    }
    fails.finish();
}

#[test]
fn every_header_and_data_byte_flip_is_rejected() {
    let s = small();
    let mut fails = Failures::new("header+data flips");
    for pos in 0..s.index.start {
        for mask in [0xFF, 0x01] {
            let g = flipped(&s.znn, pos, mask);
            let v = bytes_verdict(&g, &s.orig);
            let spec_allows = spec_accepts(&v, &g, &s.orig);
            fails.check_allowing(|| format!("offset {pos} ^ {mask:#04x}"), v, spec_allows);
        }
    }
    fails.finish();
}

#[test]
fn data_flips_in_a_larger_file_are_rejected() {
    // A strided sample (≥ 2000 positions) of the data region of a real-weights archive.
    let s = medium();
    let data = HEADER_LEN..s.index.start;
    let step = (data.len() / 2500).max(1);
    let mut fails = Failures::new("medium data flips");
    for pos in data.step_by(step) {
        for mask in [0xFF, 0x01] {
            let g = flipped(&s.znn, pos, mask);
            let v = bytes_verdict(&g, &s.orig);
            let spec_allows = spec_accepts(&v, &g, &s.orig);
            fails.check_allowing(|| format!("offset {pos} ^ {mask:#04x}"), v, spec_allows);
        }
    }
    assert!(fails.finish() >= 4000);
}

#[test]
fn flips_through_decompress_stream() {
    let s = small();
    let mut fails = Failures::new("stream flips");
    for pos in (0..s.znn.len()).step_by(5) {
        let g = flipped(&s.znn, pos, 0xFF);
        fails.check(
            || format!("offset {pos} ^ 0xff"),
            stream_verdict(&g, &s.orig),
        );
    }
    fails.finish();
}

#[test]
fn whole_stream_payloads_overwritten() {
    // Every stream payload replaced by zeros, ones, or noise: stresses the Huffman decoder's bounds
    // (codes running past a sub-stream, all-zero bit patterns) and zstd's frame checks.
    let s = small();
    let a = Archive::from_bytes(&s.znn).unwrap();
    let mut rng = Rng::new(77);
    let mut fails = Failures::new("overwritten payloads");
    for (i, st) in a.index.streams.iter().enumerate() {
        if st.comp_len == 0 {
            continue;
        }
        let r = HEADER_LEN + st.data_offset as usize
            ..HEADER_LEN + (st.data_offset + st.comp_len as u64) as usize;
        // Keep the Huffman table (the first bytes) in one variant, so the sub-streams are decoded.
        let keep = if st.codec == Codec::Huffman {
            let p = &s.znn[r.clone()];
            2 + (p[1] as usize - p[0] as usize + 1).div_ceil(2)
        } else {
            0
        };
        for (variant, fill) in [(0, 0x00u8), (1, 0xFF), (2, 0x55), (3, 0)] {
            let mut g = s.znn.clone();
            for b in &mut g[r.start + keep..r.end] {
                *b = if variant == 3 {
                    rng.next_u64() as u8
                } else {
                    fill
                };
            }
            if g == s.znn {
                continue;
            }
            fails.check(
                || format!("stream {i} ({:?}) variant {variant}", st.codec),
                bytes_verdict(&g, &s.orig),
            );
        }
    }
    fails.finish();
}

// ------------------------------------------------------------------------------------------
// Truncation and splicing
// ------------------------------------------------------------------------------------------

#[test]
fn truncation_at_every_length_is_rejected() {
    let s = small();
    let mut fails = Failures::new("truncations (small, every length)");
    for len in 0..s.znn.len() {
        fails.check(
            || format!("length {len}"),
            bytes_verdict(&s.znn[..len], &s.orig),
        );
        if len % 3 == 0 {
            fails.check(
                || format!("stream, length {len}"),
                stream_verdict(&s.znn[..len], &s.orig),
            );
        }
    }
    fails.finish();
}

#[test]
fn truncation_and_splicing_at_chunk_boundaries() {
    let s = medium();
    let a = Archive::from_bytes(&s.znn).unwrap();
    let tail = &s.znn[s.index.start..];
    let mut fails = Failures::new("chunk-boundary truncations and splices");
    for (ci, c) in a.index.chunks.iter().enumerate() {
        let at = HEADER_LEN + c.data_offset as usize;
        let end = at + c.data_len as usize;
        // Cut at the chunk's start, its middle and its end.
        for cut in [at, at + c.data_len as usize / 2, end] {
            fails.check(
                || format!("cut at {cut} (chunk {ci})"),
                bytes_verdict(&s.znn[..cut], &s.orig),
            );
            // Same cut, but with the index and trailer put back after it: the data region is
            // then too short for the chunk map.
            let mut g = s.znn[..cut].to_vec();
            g.extend_from_slice(tail);
            if g.len() != s.znn.len() {
                fails.check(
                    || format!("data cut at {cut} (chunk {ci}) + index"),
                    bytes_verdict(&g, &s.orig),
                );
            }
        }
        // Chunk ci's payload swapped with the next one's when their lengths are equal, or
        // dropped otherwise.
        let mut g = s.znn[..at].to_vec();
        match a.index.chunks.get(ci + 1) {
            Some(d) if d.data_len == c.data_len && d.data_len > 0 => {
                let next = HEADER_LEN + d.data_offset as usize;
                g.extend_from_slice(&s.znn[next..next + d.data_len as usize]);
                g.extend_from_slice(&s.znn[at..end]);
                g.extend_from_slice(&s.znn[next + d.data_len as usize..]);
            }
            _ => g.extend_from_slice(&s.znn[end..]),
        }
        if g != s.znn {
            fails.check(
                || format!("chunk {ci} dropped or swapped"),
                bytes_verdict(&g, &s.orig),
            );
        }
        if ci % 8 == 0 {
            fails.check(
                || format!("stream, cut at {at}"),
                stream_verdict(&s.znn[..at], &s.orig),
            );
        }
    }
    // Cuts inside the index and the trailer.
    for cut in s
        .index
        .clone()
        .step_by(7)
        .chain(s.znn.len() - TRAILER_LEN..s.znn.len())
    {
        fails.check(
            || format!("cut at {cut} (index/trailer)"),
            bytes_verdict(&s.znn[..cut], &s.orig),
        );
        fails.check(
            || format!("stream, cut at {cut}"),
            stream_verdict(&s.znn[..cut], &s.orig),
        );
    }
    fails.finish();
}

#[test]
fn appended_prepended_and_duplicated_bytes_are_rejected() {
    let s = small();
    let mut fails = Failures::new("appends");
    for extra in [
        &b"\0"[..],
        b"garbage",
        &[0u8; 40],
        &s.znn[s.znn.len() - TRAILER_LEN..],
    ] {
        let mut g = s.znn.clone();
        g.extend_from_slice(extra);
        fails.check(
            || format!("{} bytes appended", extra.len()),
            bytes_verdict(&g, &s.orig),
        );
        fails.check(
            || format!("stream, {} bytes appended", extra.len()),
            stream_verdict(&g, &s.orig),
        );
        let mut g = extra.to_vec();
        g.extend_from_slice(&s.znn);
        fails.check(
            || format!("{} bytes prepended", extra.len()),
            bytes_verdict(&g, &s.orig),
        );
        // Bytes inserted into the data region.
        let mut g = s.znn[..HEADER_LEN + 100].to_vec();
        g.extend_from_slice(extra);
        g.extend_from_slice(&s.znn[HEADER_LEN + 100..]);
        fails.check(
            || format!("{} bytes inserted", extra.len()),
            bytes_verdict(&g, &s.orig),
        );
    }
    let mut twice = s.znn.clone();
    twice.extend_from_slice(&s.znn);
    fails.check(|| "file twice".into(), bytes_verdict(&twice, &s.orig));
    fails.finish();
}

// ------------------------------------------------------------------------------------------
// Header, trailer and error kinds
// ------------------------------------------------------------------------------------------

fn decode_err(f: &[u8]) -> Error {
    let e = decompress_bytes(f).expect_err("damaged file accepted");
    let e2 = decompress_stream(&mut Cursor::new(f), std::io::sink(), &mut |_| {})
        .expect_err("damaged file accepted by decompress_stream");
    assert_eq!(
        std::mem::discriminant(&e),
        std::mem::discriminant(&e2),
        "in memory: {e:?}; streaming: {e2:?}"
    );
    e
}

#[test]
fn header_changes_give_the_right_error_kind() {
    let s = small();
    assert!(matches!(
        decode_err(&{
            let mut g = s.znn.clone();
            g[8..10].copy_from_slice(&0u16.to_le_bytes());
            g
        }),
        Error::Corrupt(_)
    ));
    for v in [3u16, 0x0100, u16::MAX] {
        let mut g = s.znn.clone();
        g[8..10].copy_from_slice(&v.to_le_bytes());
        match decode_err(&g) {
            Error::UnsupportedVersion { found, supported } => {
                assert_eq!((found, supported), (v, 2));
            }
            e => panic!("version {v}: {e:?}"),
        }
    }
    let e = decode_err(&{
        let mut g = s.znn.clone();
        g[8..10].copy_from_slice(&3u16.to_le_bytes());
        g
    });
    assert!(
        e.to_string().contains('3'),
        "message names the version: {e}"
    );
    // A v1 file relabelled v2 reads its segment table as a base record: a corrupt index.
    let mut g = s.znn.clone();
    g[8..10].copy_from_slice(&2u16.to_le_bytes());
    assert!(matches!(
        decode_err(&g),
        Error::Corrupt(_) | Error::Truncated(_)
    ));
    for pos in 0..8 {
        let e = decode_err(&flipped(&s.znn, pos, 0x20));
        assert!(matches!(e, Error::Corrupt(_)), "magic byte {pos}: {e:?}");
        assert!(e.to_string().contains("not a .znn file"), "{e}");
    }
    for flags in [1u16, 0x8000, 0xFFFF] {
        let mut g = s.znn.clone();
        g[10..12].copy_from_slice(&flags.to_le_bytes());
        assert!(
            matches!(decode_err(&g), Error::Corrupt(_)),
            "flags {flags:#x}"
        );
    }
    for cs in [0u32, 4095, 4097, 4100, 2048, (16 << 20) + 8, u32::MAX, 8192] {
        let mut g = s.znn.clone();
        g[12..16].copy_from_slice(&cs.to_le_bytes());
        let e = decode_err(&g);
        assert!(
            matches!(e, Error::Corrupt(_) | Error::Truncated(_)),
            "chunk size {cs}: {e:?}"
        );
    }
    // Not .znn at all, or too short to be one.
    for f in [
        &b""[..],
        b"\x89",
        b"\x89ZNN\r\n\x1a",
        b"PK\x03\x04 zip file",
        &[0u8; 100],
        &s.orig,
    ] {
        let e = decode_err(f);
        assert!(
            matches!(e, Error::Corrupt(_) | Error::Truncated(_)),
            "{} bytes: {e:?}",
            f.len()
        );
    }
    // A valid header and nothing else.
    let e = decode_err(&s.znn[..HEADER_LEN]);
    assert!(
        matches!(e, Error::Corrupt(_) | Error::Truncated(_)),
        "{e:?}"
    );
    // Header + trailer with no index (index_len 0 and 7 are both below the minimum of 8).
    for il in [0u64, 7, 8, 1 << 40, u64::MAX] {
        let mut g = s.znn[..HEADER_LEN].to_vec();
        g.extend_from_slice(&il.to_le_bytes());
        g.extend_from_slice(&[0; 24]);
        g.extend_from_slice(&END_MAGIC);
        let e = decode_err(&g);
        assert!(
            matches!(e, Error::Corrupt(_) | Error::Truncated(_)),
            "index_len {il}: {e:?}"
        );
    }
}

#[test]
fn trailer_changes_are_rejected() {
    let s = small();
    let t = s.znn.len() - TRAILER_LEN;
    let mut g = s.znn.clone();
    g[t + 32] = b'X';
    let e = decode_err(&g);
    assert!(
        matches!(e, Error::Corrupt(_) | Error::Truncated(_)),
        "{e:?}"
    );
    // index_len pointing into the data or past the file start.
    for il in [
        0u64,
        8,
        s.index.len() as u64 - 1,
        s.index.len() as u64 + 1,
        s.znn.len() as u64,
        u64::MAX,
    ] {
        let mut g = s.znn.clone();
        g[t..t + 8].copy_from_slice(&il.to_le_bytes());
        assert!(
            matches!(decode_err(&g), Error::Corrupt(_) | Error::Truncated(_)),
            "{il}"
        );
    }
}

// ------------------------------------------------------------------------------------------
// Forged files (hashes recomputed)
// ------------------------------------------------------------------------------------------

#[test]
fn every_index_byte_mutation_with_valid_hashes_is_rejected() {
    let s = small();
    let index = &s.znn[s.index.clone()];
    let mut rng = Rng::new(1234);
    let mut fails = Failures::new("resealed index mutations");
    for pos in 0..index.len() {
        let mut values = vec![
            index[pos] ^ 0xFF,
            index[pos] ^ 0x01,
            index[pos] ^ 0x80,
            index[pos] ^ 0x02,
            0,
            0x7F,
        ];
        values.push(rng.next_u64() as u8);
        values.retain(|&v| v != index[pos]);
        values.dedup();
        for v in values {
            let mut ix = index.to_vec();
            ix[pos] = v;
            let g = reseal(&s.znn, s.index.clone(), &ix, s.orig.len() as u64);
            fails.check_allowing(
                || format!("index byte {pos} = {v:#04x}"),
                bytes_verdict(&g, &s.orig),
                true,
            );
        }
    }
    fails.finish();
}

#[test]
fn index_records_forged_through_the_library_are_rejected() {
    // Semantic forgeries made with the library's own index serializer, then resealed.
    let s = small();
    let a = Archive::from_bytes(&s.znn).unwrap();
    let orig_len = s.orig.len() as u64;
    let forge = |f: &dyn Fn(&mut znn_gpu::format::Index)| {
        let mut ix = a.index.clone();
        f(&mut ix);
        reseal(&s.znn, s.index.clone(), &ix.to_bytes(), orig_len)
    };
    let mut fails = Failures::new("forged records");
    for (i, st) in a.index.streams.clone().into_iter().enumerate() {
        // Another codec with the same length.
        for c in Codec::ALL {
            if c != st.codec {
                let g = forge(&|ix| ix.streams[i].codec = c);
                fails.check(
                    || format!("stream {i} {:?} -> {c:?}", st.codec),
                    bytes_verdict(&g, &s.orig),
                );
            }
        }
        match st.codec {
            Codec::Const => {
                let g = forge(&|ix| ix.streams[i].value ^= 1);
                fails.check(
                    || format!("const stream {i} value"),
                    bytes_verdict(&g, &s.orig),
                );
            }
            Codec::Huffman => {
                // Move one byte between two sub-streams (the total stays right), or between the
                // table and the first sub-stream.
                let k = st.sub_start as usize;
                let g = forge(&|ix| {
                    ix.sub_lens[k] += 1;
                    if ix.sub_lens.len() > k + 1 && ix.sub_lens[k + 1] > 0 {
                        ix.sub_lens[k + 1] -= 1;
                    } else {
                        ix.streams[i].comp_len += 1;
                    }
                });
                fails.check(
                    || format!("huffman stream {i}: sub_len +1/-1"),
                    bytes_verdict(&g, &s.orig),
                );
                let g = forge(&|ix| {
                    ix.sub_lens[k] = ix.sub_lens[k].saturating_sub(1);
                });
                fails.check(
                    || format!("huffman stream {i}: sub_len -1"),
                    bytes_verdict(&g, &s.orig),
                );
                let g = forge(&|ix| {
                    ix.sub_lens[k] += 1;
                    ix.streams[i].comp_len -= 1;
                });
                fails.check(
                    || format!("huffman stream {i}: table 1 byte shorter"),
                    bytes_verdict(&g, &s.orig),
                );
            }
            _ => {}
        }
    }
    // Layouts swapped between segments of equal element size.
    for (si, seg) in a.index.segments.iter().enumerate() {
        for l in Layout::ALL {
            if l != seg.layout && l.elem_size() == seg.layout.elem_size() {
                let g = forge(&|ix| ix.segments[si].layout = l);
                // Allowed to decode when both layouts split this data into the same streams
                // (e.g. small I32 values read as FP32): the file still describes the original.
                fails.check_allowing(
                    || format!("segment {si} {:?} -> {l:?}", seg.layout),
                    bytes_verdict(&g, &s.orig),
                    true,
                );
            }
        }
    }
    // A chunk checksum changed (content hash recomputed to match).
    for ci in 0..a.index.chunks.len() {
        let g = forge(&|ix| ix.chunks[ci].checksum ^= 1 << (ci % 64));
        fails.check(
            || format!("chunk {ci} checksum"),
            bytes_verdict(&g, &s.orig),
        );
    }
    // sub_symbols changed: the sub-stream counts no longer match.
    for sub in [512u32, 1024, 65536] {
        let g = forge(&|ix| ix.sub_symbols = sub);
        fails.check(|| format!("sub_symbols {sub}"), bytes_verdict(&g, &s.orig));
    }
    fails.finish();
}

/// A hand-made index: `segments` (layout id, length), then `records` verbatim.
fn index_bytes(sub_symbols: u32, segments: &[(u8, u64)], records: &[u8]) -> Vec<u8> {
    let mut b = (segments.len() as u32).to_le_bytes().to_vec();
    b.extend_from_slice(&sub_symbols.to_le_bytes());
    for &(l, len) in segments {
        b.extend_from_slice(&[l, 0, 0, 0]);
        b.extend_from_slice(&len.to_le_bytes());
    }
    b.extend_from_slice(records);
    b
}

/// A whole file from parts, hashes computed.
fn file(
    chunk_size: u32,
    data: &[u8],
    index: &[u8],
    original_len: u64,
    checksums: &[u64],
) -> Vec<u8> {
    let mut f = MAGIC.to_vec();
    f.extend_from_slice(&[1, 0, 0, 0]);
    f.extend_from_slice(&chunk_size.to_le_bytes());
    f.extend_from_slice(data);
    f.extend_from_slice(index);
    let mut h = xxhash_rust::xxh3::Xxh3::new();
    for c in checksums {
        h.update(&c.to_le_bytes());
    }
    f.extend_from_slice(&(index.len() as u64).to_le_bytes());
    f.extend_from_slice(&original_len.to_le_bytes());
    f.extend_from_slice(&h.digest().to_le_bytes());
    f.extend_from_slice(&xxhash_rust::xxh3::xxh3_64(index).to_le_bytes());
    f.extend_from_slice(&END_MAGIC);
    f
}

/// Asserts that `f` is rejected by both decoders within a second, without allocating more than
/// `max_alloc` bytes at once on this thread.
#[track_caller]
fn rejected_fast(f: &[u8], max_alloc: usize, what: &str) {
    let t = Instant::now();
    let (r, big) = largest_alloc(|| catch_unwind(AssertUnwindSafe(|| decompress_bytes(f))));
    match r {
        Err(p) => panic!("{what}: panicked: {}", panic_message(p)),
        Ok(Ok(out)) => panic!("{what}: accepted ({} bytes)", out.len()),
        Ok(Err(e)) => eprintln!("{what}: {e}"),
    }
    assert!(big <= max_alloc, "{what}: allocated {big} bytes at once");
    let (r, big) = largest_alloc(|| {
        catch_unwind(AssertUnwindSafe(|| {
            decompress_stream(&mut Cursor::new(f), std::io::sink(), &mut |_| {})
        }))
    });
    assert!(
        matches!(r, Ok(Err(_))),
        "{what}: decompress_stream did not return an error"
    );
    assert!(
        big <= max_alloc,
        "{what}: decompress_stream allocated {big} bytes at once"
    );
    assert!(
        t.elapsed() < Duration::from_secs(2),
        "{what}: took {:?}",
        t.elapsed()
    );
}

#[test]
fn huge_original_len_fails_fast() {
    let s = small();
    let t = s.znn.len() - TRAILER_LEN;
    // Only the trailer's original_len: it is not covered by a hash, only by the segment sum.
    for ol in [s.orig.len() as u64 + 1, 1 << 40, 1 << 62, u64::MAX] {
        let mut g = s.znn.clone();
        g[t + 8..t + 16].copy_from_slice(&ol.to_le_bytes());
        rejected_fast(&g, 1 << 20, &format!("trailer original_len {ol}"));
    }
    // The last segment made huge to match (index resealed): its chunk count cannot fit the index.
    let a = Archive::from_bytes(&s.znn).unwrap();
    for extra in [1u64 << 32, 1 << 40, 1 << 56] {
        let mut ix = a.index.clone();
        ix.segments.last_mut().unwrap().len += extra;
        // to_bytes only writes the chunks that exist: a segment claims far more than recorded.
        let b = ix.to_bytes();
        let g = reseal(&s.znn, s.index.clone(), &b, s.orig.len() as u64 + extra);
        rejected_fast(&g, 1 << 20, &format!("last segment +{extra}"));
    }
}

#[test]
fn huge_chunk_and_segment_counts_fail_fast() {
    // Segment count u32::MAX in a tiny index.
    let ix = index_bytes(4096, &[], &[]);
    let mut bad = ix.clone();
    bad[..4].copy_from_slice(&u32::MAX.to_le_bytes());
    rejected_fast(
        &file(4096, &[], &bad, 0, &[]),
        1 << 20,
        "segment count u32::MAX",
    );
    // Segments whose chunk counts are astronomically larger than their records.
    for (cs, len) in [
        (4096u32, 1u64 << 40),
        (4096, u64::MAX - 7),
        (16 << 20, 1 << 60),
    ] {
        let ix = index_bytes(4096, &[(0, len)], &[0; 64]);
        rejected_fast(
            &file(cs, &[], &ix, len, &[]),
            1 << 20,
            &format!("segment of {len} bytes"),
        );
    }
    // Many segments whose lengths overflow u64 when added.
    let segs: Vec<(u8, u64)> = (0..4).map(|_| (0u8, 1u64 << 62)).collect();
    let ix = index_bytes(4096, &segs, &[0; 100]);
    rejected_fast(
        &file(4096, &[], &ix, 0, &[]),
        1 << 20,
        "overflowing segment sum",
    );
    // A huffman stream whose sub-stream count (n / sub_symbols) exceeds the index.
    let mut rec = 0u64.to_le_bytes().to_vec();
    rec.extend_from_slice(&[2, 0x80, 0x80, 0x04]); // huffman, comp_len 65536, no sub-lengths
    let ix = index_bytes(256, &[(0, 16 << 20)], &rec);
    rejected_fast(
        &file(16 << 20, &[], &ix, 16 << 20, &[0]),
        1 << 20,
        "huffman sub-stream count",
    );
    // Varints: too long, overflowing, non-canonical.
    for v in [
        &[0xFFu8, 0xFF, 0xFF, 0xFF, 0xFF, 0x01][..],
        &[0xFF, 0xFF, 0xFF, 0xFF, 0x7F],
        &[0x80, 0x00],
    ] {
        let mut rec = 0u64.to_le_bytes().to_vec();
        rec.push(0);
        rec.extend_from_slice(v);
        let ix = index_bytes(4096, &[(0, 4096)], &rec);
        rejected_fast(
            &file(4096, &[0; 4096], &ix, 4096, &[0]),
            1 << 20,
            &format!("varint {v:?}"),
        );
    }
}

#[test]
fn valid_but_enormous_file_fails_fast_in_memory_and_streams_in_bounded_memory() {
    // A well-formed file claiming 1 TiB of zeros: 65536 const chunks of 16 MiB. It is valid, so
    // the streaming decoder may decode it (we stop it after 48 MiB with a failing writer); the
    // in-memory decoder cannot hold it and must say so instead of aborting or swapping.
    let cs = 16u32 << 20;
    let chunks = 65536usize;
    let checksum = xxhash_rust::xxh3::xxh3_64(&vec![0u8; cs as usize]);
    let mut rec = checksum.to_le_bytes().to_vec();
    rec.extend_from_slice(&[1, 0, 0]); // const, comp_len 0, value 0
    let records: Vec<u8> = rec
        .iter()
        .copied()
        .cycle()
        .take(rec.len() * chunks)
        .collect();
    let total = cs as u64 * chunks as u64;
    let ix = index_bytes(4096, &[(0, total)], &records);
    let f = file(cs, &[], &ix, total, &vec![checksum; chunks]);
    let a = Archive::from_bytes(&f).expect("the forged file is well-formed");
    assert_eq!(a.trailer.original_len, 1 << 40);

    let t = Instant::now();
    let r = catch_unwind(AssertUnwindSafe(|| decompress_bytes(&f)));
    match r {
        Err(p) => panic!(
            "decompress_bytes of a 1 TiB file panicked: {}",
            panic_message(p)
        ),
        Ok(Ok(_)) => panic!("decompress_bytes returned 1 TiB?"),
        Ok(Err(e)) => eprintln!("1 TiB in memory: {e}"),
    }
    assert!(
        t.elapsed() < Duration::from_secs(2),
        "took {:?}",
        t.elapsed()
    );

    struct Limited(usize);
    impl std::io::Write for Limited {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            if self.0 < b.len() {
                return Err(std::io::Error::other("disk full"));
            }
            self.0 -= b.len();
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let (r, big) =
        largest_alloc(|| decompress_stream(&mut Cursor::new(&f), Limited(48 << 20), &mut |_| {}));
    let e = r.expect_err("a failing writer must fail the decompression");
    assert!(matches!(e, Error::Io { .. }), "{e:?}");
    assert!(
        big <= 64 << 20,
        "streaming a valid huge file allocated {big} bytes at once"
    );
}

#[test]
fn decompress_stream_from_real_files() {
    // The streaming decoder reading real files (not Cursors): valid, truncated and flipped.
    let s = small();
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("x.znn");
    std::fs::write(&p, &s.znn).unwrap();
    let mut out = Vec::new();
    decompress_stream(&mut std::fs::File::open(&p).unwrap(), &mut out, &mut |_| {}).unwrap();
    assert_same(&out, &s.orig, "file decompress_stream");
    let mut fails = Failures::new("stream from files");
    for (i, pos) in (0..s.znn.len()).step_by(97).enumerate() {
        let g = if i % 2 == 0 {
            s.znn[..pos].to_vec()
        } else {
            flipped(&s.znn, pos, 0x10)
        };
        std::fs::write(&p, &g).unwrap();
        let r = catch_unwind(AssertUnwindSafe(|| {
            let mut out = Vec::new();
            decompress_stream(&mut std::fs::File::open(&p).unwrap(), &mut out, &mut |_| {})
                .map(|_| out)
        }));
        fails.check(|| format!("case {i} at {pos}"), verdict(r, &s.orig));
    }
    fails.finish();
}

/// A read-only "file" of `len` bytes that is zeros except for `head` at 0 and `tail` at the end,
/// without the memory: for files far larger than the test should allocate.
struct VirtualFile {
    len: u64,
    pos: u64,
    head: Vec<u8>,
    tail: Vec<u8>,
}

impl std::io::Read for VirtualFile {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = (buf.len() as u64).min(self.len.saturating_sub(self.pos)) as usize;
        let tail_start = self.len - self.tail.len() as u64;
        for (i, b) in buf[..n].iter_mut().enumerate() {
            let p = self.pos + i as u64;
            *b = if p < self.head.len() as u64 {
                self.head[p as usize]
            } else if p >= tail_start {
                self.tail[(p - tail_start) as usize]
            } else {
                0
            };
        }
        self.pos += n as u64;
        Ok(n)
    }
}

impl std::io::Seek for VirtualFile {
    fn seek(&mut self, to: std::io::SeekFrom) -> std::io::Result<u64> {
        let p = match to {
            std::io::SeekFrom::Start(p) => p as i128,
            std::io::SeekFrom::End(d) => self.len as i128 + d as i128,
            std::io::SeekFrom::Current(d) => self.pos as i128 + d as i128,
        };
        if p < 0 {
            return Err(std::io::Error::other("seek before start"));
        }
        self.pos = p as u64;
        Ok(self.pos)
    }
}

#[test]
fn forged_index_len_does_not_allocate_the_file() {
    // A 512 MiB file whose trailer claims a 300 MiB index (hash wrong): the streaming reader must
    // reject it without allocating the claimed index.
    let len = 512u64 << 20;
    let mut tail = (300u64 << 20).to_le_bytes().to_vec();
    tail.extend_from_slice(&12345u64.to_le_bytes());
    tail.extend_from_slice(&[0; 16]);
    tail.extend_from_slice(&END_MAGIC);
    let head = small().znn[..HEADER_LEN].to_vec();
    let mut f = VirtualFile {
        len,
        pos: 0,
        head,
        tail,
    };
    let (r, big) = largest_alloc(|| decompress_stream(&mut f, std::io::sink(), &mut |_| {}));
    let e = r.expect_err("forged index_len accepted");
    assert!(
        matches!(e, Error::Corrupt(_) | Error::Truncated(_)),
        "{e:?}"
    );
    assert!(
        big <= 64 << 20,
        "rejecting a forged index_len allocated {big} bytes at once"
    );
}

#[test]
fn virtual_file_reader_works() {
    // The VirtualFile above serves a real archive correctly (so the ignored test measures the
    // library, not the helper).
    let s = small();
    let mut f = VirtualFile {
        len: s.znn.len() as u64,
        pos: 0,
        head: s.znn[..s.znn.len() / 2].to_vec(),
        tail: s.znn[s.znn.len() / 2..].to_vec(),
    };
    let mut out = Vec::new();
    decompress_stream(&mut f, &mut out, &mut |_| {}).unwrap();
    assert_same(&out, &s.orig, "via VirtualFile");
}
