//! Hostile input, continued: forged files whose index and content hashes were recomputed (so the
//! checks behind the hashes are reached), and claims of enormous sizes, which must be rejected
//! before anything big is allocated (the capped allocator of `common/hostile.rs` records the largest
//! request).

use znn_test_support as common;
use znn_test_support::hostile;

use common::*;
use hostile::*;

// Allocations over `ALLOC_CAP` fail, and `largest_alloc` sees every allocation of this binary.
#[global_allocator]
static GLOBAL: CappedAlloc = CappedAlloc;
use std::io::Cursor;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::{Duration, Instant};
use znn_gpu::format::{Codec, Coding};
use znn_gpu::ErrorKind;
use znn_gpu::{decompress_bytes, decompress_stream, Archive, Error, Layout};

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

/// The coding of codec `c`, keeping what `old` records where `c` needs such a field.
fn with_codec(c: Codec, old: &Coding) -> Coding {
    match c {
        Codec::Raw => Coding::Raw,
        Codec::Const => Coding::Const { value: 0 },
        Codec::Huffman => match *old {
            Coding::Huffman { sub_start } => Coding::Huffman { sub_start },
            _ => Coding::Huffman { sub_start: 0 },
        },
        Codec::Zstd => Coding::Zstd,
        Codec::Pair | Codec::Paired | Codec::Rans => {
            unreachable!("pair codecs are forged in tests/pair.rs, rANS in tests/rans.rs")
        }
    }
}

#[test]
fn index_records_forged_through_the_library_are_rejected() {
    // Semantic forgeries made with the library's own index serializer, then resealed.
    let s = small();
    let a = Archive::from_bytes(&s.znn).unwrap();
    let forge = |f: &dyn Fn(&mut znn_gpu::format::IndexParts)| forge_index(&s.znn, f);
    let mut fails = Failures::new("forged records");
    for (i, st) in a.index.streams().to_vec().into_iter().enumerate() {
        // Another codec with the same length.
        for c in Codec::ALL.into_iter().filter(|c| c.min_version() == 1) {
            if c != st.codec() {
                let g = forge(&|ix| ix.streams[i].coding = with_codec(c, &st.coding));
                fails.check(
                    || format!("stream {i} {:?} -> {c:?}", st.codec()),
                    bytes_verdict(&g, &s.orig),
                );
            }
        }
        match st.codec() {
            Codec::Const => {
                let g = forge(&|ix| {
                    if let Coding::Const { value } = &mut ix.streams[i].coding {
                        *value ^= 1;
                    }
                });
                fails.check(
                    || format!("const stream {i} value"),
                    bytes_verdict(&g, &s.orig),
                );
            }
            Codec::Huffman => {
                // Move one byte between two sub-streams (the total stays right), or between the
                // table and the first sub-stream.
                let Coding::Huffman { sub_start } = st.coding else {
                    unreachable!("a huffman stream")
                };
                let k = sub_start as usize;
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
    for (si, seg) in a.index.segments().iter().enumerate() {
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
    for ci in 0..a.index.chunks().len() {
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
        let mut ix = a.index.to_parts();
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
        matches!(e.kind(), ErrorKind::Corrupt | ErrorKind::Truncated),
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
