//! Hostile input: every corruption of a `.znn` file is an error, never a panic, a hang, a huge
//! allocation or wrong output. The small archive is the golden input compressed with 4 KiB chunks
//! (11 chunks, all six layouts, all four codecs); flips cover every byte of it. Forged files have
//! their index hash and content hash recomputed, so that the checks behind the hashes are reached
//! (`tests/forged.rs`, which also rejects enormous claims).
//!
//! A capped global allocator (`common/hostile.rs`) refuses any single allocation over 1 GiB (a
//! fallible allocation then fails; an infallible one aborts the test binary, loudly), and records
//! the largest request per thread.

use znn_gpu::ErrorKind;
use znn_test_support as common;
use znn_test_support::hostile;

use common::*;
use hostile::*;

// Allocations over `ALLOC_CAP` fail, and `largest_alloc` sees every allocation of this binary.
#[global_allocator]
static GLOBAL: CappedAlloc = CappedAlloc;
use std::io::Cursor;
use znn_gpu::format::Codec;
use znn_gpu::{decompress_bytes, decompress_stream, Archive, Error};

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
    for (i, st) in a.index.streams().iter().enumerate() {
        if st.comp_len == 0 {
            continue;
        }
        let r = HEADER_LEN + st.data_offset as usize
            ..HEADER_LEN + (st.data_offset + st.comp_len as u64) as usize;
        // Keep the Huffman table (the first bytes) in one variant, so the sub-streams are decoded.
        let keep = if st.codec() == Codec::Huffman {
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
                || format!("stream {i} ({:?}) variant {variant}", st.codec()),
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
    for (ci, c) in a.index.chunks().iter().enumerate() {
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
        match a.index.chunks().get(ci + 1) {
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
        (decode_err(&{
            let mut g = s.znn.clone();
            g[8..10].copy_from_slice(&0u16.to_le_bytes());
            g
        }))
        .kind(),
        ErrorKind::Corrupt
    ));
    for v in [5u16, 0x0100, u16::MAX] {
        let mut g = s.znn.clone();
        g[8..10].copy_from_slice(&v.to_le_bytes());
        match decode_err(&g) {
            Error::UnsupportedVersion { found, supported } => {
                assert_eq!((found, supported), (v, 4));
            }
            e => panic!("version {v}: {e:?}"),
        }
    }
    let e = decode_err(&{
        let mut g = s.znn.clone();
        g[8..10].copy_from_slice(&5u16.to_le_bytes());
        g
    });
    assert!(
        e.to_string().contains('5'),
        "message names the version: {e}"
    );
    // A v1 file relabelled v3 reads its segment count as `pair_streams`: a corrupt index.
    let e = decode_err(&{
        let mut g = s.znn.clone();
        g[8..10].copy_from_slice(&3u16.to_le_bytes());
        g
    });
    assert_eq!(e.kind(), znn_gpu::ErrorKind::Corrupt, "{e}");
    // A v1 file relabelled v2 reads its segment table as a base record: a corrupt index.
    let mut g = s.znn.clone();
    g[8..10].copy_from_slice(&2u16.to_le_bytes());
    assert!(matches!(
        decode_err(&g).kind(),
        ErrorKind::Corrupt | ErrorKind::Truncated
    ));
    for pos in 0..8 {
        let e = decode_err(&flipped(&s.znn, pos, 0x20));
        assert!(matches!(e, Error::NotZnn), "magic byte {pos}: {e:?}");
        assert_eq!(e.kind(), znn_gpu::ErrorKind::Corrupt);
        assert!(e.to_string().contains("not a .znn file"), "{e}");
    }
    for flags in [1u16, 0x8000, 0xFFFF] {
        let mut g = s.znn.clone();
        g[10..12].copy_from_slice(&flags.to_le_bytes());
        assert!(
            matches!(decode_err(&g).kind(), ErrorKind::Corrupt),
            "flags {flags:#x}"
        );
    }
    for cs in [0u32, 4095, 4097, 4100, 2048, (16 << 20) + 8, u32::MAX, 8192] {
        let mut g = s.znn.clone();
        g[12..16].copy_from_slice(&cs.to_le_bytes());
        let e = decode_err(&g);
        assert!(
            matches!(e.kind(), ErrorKind::Corrupt | ErrorKind::Truncated),
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
            matches!(e.kind(), ErrorKind::Corrupt | ErrorKind::Truncated),
            "{} bytes: {e:?}",
            f.len()
        );
    }
    // A valid header and nothing else.
    let e = decode_err(&s.znn[..HEADER_LEN]);
    assert!(
        matches!(e.kind(), ErrorKind::Corrupt | ErrorKind::Truncated),
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
            matches!(e.kind(), ErrorKind::Corrupt | ErrorKind::Truncated),
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
        matches!(e.kind(), ErrorKind::Corrupt | ErrorKind::Truncated),
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
            matches!(
                decode_err(&g).kind(),
                ErrorKind::Corrupt | ErrorKind::Truncated
            ),
            "{il}"
        );
    }
}
