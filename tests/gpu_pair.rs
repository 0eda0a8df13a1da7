//! GPU decode of pair codes (codecs 4 and 5, format v3; `shaders/pair_decode.wgsl`) == CPU decode,
//! byte for byte: every layout and the patterns that stress pair codes, both codec sets that write
//! them, every K, real weights, ranges, many windows, sub-streams of 65,536 elements; hostile
//! tables and sub-stream lengths give errors, and `verify --device gpu` fails on corrupted bytes.
//! Tests skip (with a message) only when no adapter exists at all.

use znn_test_support as common;

use common::*;
mod gpu_common;
use gpu_common::gpu;
use std::collections::BTreeSet;
use std::sync::Arc;
use znn_gpu::codec::CodecSet;
use znn_gpu::format::{Codec, Coding, Index, Pairing, StreamRec, HEADER_LEN};
use znn_gpu::{
    compress_bytes, decompress_bytes, Archive, Base, Error, ErrorKind, GpuDecoder, Layout,
};

const SETS: [CodecSet; 2] = [CodecSet::Balanced, CodecSet::Small];

/// K of every pair stream of `a`.
fn pair_widths(a: &Archive) -> BTreeSet<u8> {
    a.index
        .streams()
        .iter()
        .filter_map(|s| match s.pairing {
            Pairing::Pair { bits } => Some(bits),
            _ => None,
        })
        .collect()
}

/// Decodes `z` on the GPU (read back and verified on the host; into a device buffer and verified
/// there) and checks both against the CPU's bytes, which must be `src`.
fn check(d: &mut GpuDecoder, z: &[u8], src: &[u8], what: &str) {
    let cpu = decompress_bytes(z).unwrap_or_else(|e| panic!("{what}: CPU: {e}"));
    assert_same(&cpu, src, &format!("{what}: CPU"));
    let g = d
        .decompress_bytes(z)
        .unwrap_or_else(|e| panic!("{what}: GPU: {e}"));
    assert_same(&g, &cpu, &format!("{what}: GPU read back"));
    let a = Archive::from_bytes(z).unwrap();
    let out = d
        .decode_to_buffer(&a, &z[Archive::DATA_START as usize..])
        .unwrap_or_else(|e| panic!("{what}: GPU buffer: {e}"));
    let back = d.read_back(&out.buffer, out.len).unwrap();
    assert_same(&back, &cpu, &format!("{what}: GPU device buffer"));
}

fn compress(src: &[u8], layout: Layout, chunk: u32, sub: u32, set: CodecSet) -> (Vec<u8>, Archive) {
    let z = compress_bytes(src, &with_codecs(&opts(chunk, sub, layout), set)).unwrap();
    let a = Archive::from_bytes(&z).unwrap();
    (z, a)
}

/// BF16 elements whose sign and top `k - 1` mantissa bits (the top `k` bits of stream 1) are a
/// function of a skewed exponent and the rest random, so that `--codecs small` picks K = `k`.
fn top_bits_skewed(n: usize, k: u32, seed: u64) -> Vec<u8> {
    let mut rng = Rng::new(seed);
    let mut out = Vec::with_capacity(2 * n);
    for _ in 0..n {
        let r = rng.next_u64();
        let a = 112 + (r.trailing_zeros() % 12);
        let hi = (a.wrapping_mul(0x9E37_79B9) >> 7) & ((1 << k) - 1);
        let b = hi << (8 - k) | (r >> 40) as u32 & ((1 << (8 - k)) - 1);
        let w = (b & 0x80) << 8 | a << 7 | (b & 0x7F);
        out.extend_from_slice(&(w as u16).to_le_bytes());
    }
    out
}

#[test]
fn every_layout_and_pattern_matches_the_cpu() {
    let Some(mut d) = gpu() else { return };
    let (mut widths, mut paired) = (BTreeSet::new(), 0);
    for layout in Layout::ALL {
        for (what, data) in float_patterns(layout, 12_000) {
            for set in SETS {
                for sub in [256, 1024] {
                    let (z, a) = compress(&data, layout, 8192, sub, set);
                    widths.extend(pair_widths(&a));
                    paired += (pair_counts(&a)[0] > 0) as usize;
                    let name = format!("{layout:?} {what} {set:?} sub {sub}");
                    check(&mut d, &z, &data, &name);
                }
            }
        }
    }
    assert!(paired >= 20, "{paired} pair-coded files");
    assert!(widths.len() >= 2, "K seen: {widths:?}");
}

#[test]
fn every_pair_width_matches_the_cpu() {
    let Some(mut d) = gpu() else { return };
    for k in 1..=4u32 {
        let data = top_bits_skewed(30_001, k, k as u64);
        for sub in [256, 4096] {
            let (z, a) = compress(&data, Layout::Bf16, 16384, sub, CodecSet::Small);
            let widths = pair_widths(&a);
            assert!(widths.contains(&(k as u8)), "K {k}: {widths:?}");
            check(&mut d, &z, &data, &format!("K {k} sub {sub}"));
        }
    }
}

#[test]
fn corpus_weights_match_the_cpu() {
    let Some(mut d) = gpu() else { return };
    for (name, set) in [
        ("minilm-l6.bf16.safetensors", CodecSet::Balanced),
        ("mobilenet-v2.fp32.safetensors", CodecSet::Balanced),
        ("mobilenet-v2.fp32.safetensors", CodecSet::Small),
    ] {
        let Some(src) = corpus(name, "corpus_weights_match_the_cpu") else {
            continue;
        };
        let o = znn_gpu::CompressOptions {
            codecs: set,
            ..Default::default()
        };
        let z = compress_bytes(&src, &o).unwrap();
        let a = Archive::from_bytes(&z).unwrap();
        assert!(pair_counts(&a)[0] > 0, "{name} {set:?}: pair coded");
        check(&mut d, &z, &src, &format!("{name} {set:?}"));
        let out = d
            .decode_to_buffer(&a, &z[Archive::DATA_START as usize..])
            .unwrap();
        assert!(out.tensors.len() > 10, "{name}: tensors");
    }
}

#[test]
fn ranges_windows_and_long_sub_streams_match_the_cpu() {
    let Some(mut d) = gpu() else { return };
    let data = pair_skewed(Layout::Fp16, 150_001, 4);
    let (z, a) = compress(&data, Layout::Fp16, 16384, 256, CodecSet::Balanced);
    assert!(pair_counts(&a)[0] > 1);
    let len = data.len() as u64;
    for (s, e) in [
        (0, len),
        (1, 2),
        (100, 40_000),
        (16_383, 16_385),
        (33_333, 250_001),
        (len - 7, len),
    ] {
        let r = d
            .decode_range_to_buffer(&z.as_slice(), &a, s, e, None)
            .unwrap();
        let got = d.read_back(&r.buffer, r.offset + r.len).unwrap();
        let got = &got[r.offset as usize..(r.offset + r.len) as usize];
        assert_same(
            got,
            &data[s as usize..e as usize],
            &format!("range {s}..{e}"),
        );
        let mut w = Vec::new();
        d.extract_range_to(&z.as_slice(), &a, s, e, None, &mut w)
            .unwrap();
        assert_same(
            &w,
            &data[s as usize..e as usize],
            &format!("extract {s}..{e}"),
        );
    }
    // Many windows, two in flight, a pair stream in each.
    d.set_window_bytes(20_000);
    check(&mut d, &z, &data, "small windows");
    d.set_window_bytes(u64::MAX);
    // Sub-streams of 65,536 elements: lavapipe stops an invocation after 65,535 loop iterations.
    let data = pair_skewed(Layout::Bf16, 3 * 65_536 + 5, 6);
    let (z, a) = compress(&data, Layout::Bf16, 1 << 20, 65_536, CodecSet::Balanced);
    assert!(pair_counts(&a)[0] > 0);
    check(&mut d, &z, &data, "65,536-element sub-streams");
}

/// Deltas are format v2 (codecs 0..=3) whatever the codec set: the GPU decodes them as before.
#[test]
fn deltas_take_no_pair_codes() {
    let Some(mut d) = gpu() else { return };
    let old = pair_skewed(Layout::Bf16, 40_000, 1);
    let mut new = old.clone();
    for i in (0..new.len()).step_by(97) {
        new[i] ^= 0x11;
    }
    let base = Arc::new(Base::from_bytes(old));
    let o = with_base(
        &with_codecs(&opts(16384, 256, Layout::Bf16), CodecSet::Balanced),
        &base,
    );
    let z = compress_bytes(&new, &o).unwrap();
    let a = Archive::from_bytes(&z).unwrap();
    assert_eq!(pair_counts(&a), [0, 0]);
    let out = d
        .decode_delta_to_buffer(&a, &z.as_slice(), Some(&base))
        .unwrap();
    assert_same(&d.read_back(&out.buffer, out.len).unwrap(), &new, "delta");
}

/// A table whose range grows past its stream is `Truncated` (as on the CPU), else `Corrupt`.
fn bad_input(e: &Error) -> bool {
    matches!(e.kind(), ErrorKind::Corrupt | ErrorKind::Truncated)
}

/// The pair streams of `a` (record and its index).
fn pair_streams(a: &Archive) -> Vec<(usize, StreamRec)> {
    a.index
        .streams()
        .iter()
        .copied()
        .enumerate()
        .filter(|(_, s)| s.codec() == Codec::Pair)
        .collect()
}

#[test]
fn hostile_tables_and_sub_stream_lengths_are_errors() {
    let Some(mut d) = gpu() else { return };
    let data = pair_skewed(Layout::Bf16, 40_000, 8);
    let (z, a) = compress(&data, Layout::Bf16, 16384, 256, CodecSet::Balanced);
    let pairs = pair_streams(&a);
    assert!(!pairs.is_empty());
    let (_, s) = pairs[0];
    // Every byte of the first table and a few of its sub-streams flipped: the host's table checks,
    // the kernel's flags or the checksums catch it, on either verifying path.
    let at = HEADER_LEN + s.data_offset as usize;
    for i in (at..at + 40).chain((at + 40..at + s.comp_len as usize).step_by(97)) {
        let mut bad = z.clone();
        bad[i] ^= 0x5A;
        let e = d.decompress_bytes(&bad).unwrap_err();
        assert!(bad_input(&e), "byte {i}: {e}");
        let e = d.verify(&a, &bad.as_slice(), None).unwrap_err();
        assert!(bad_input(&e), "verify, byte {i}: {e}");
    }
    // A table whose range ends on an absent symbol: refused on the host, before any kernel.
    let mut bad = z.clone();
    bad[at + 4] &= 0xF0;
    let e = d.decode_index(&a.index, &bad[Archive::DATA_START as usize..], false);
    let e = e.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Corrupt, "{e}");
    assert!(e.to_string().contains("pair table"), "{e}");

    // Sub-stream lengths moved between neighbours: sums and hashes still pass, the codes do not,
    // and the kernel's own checks say so without checksums.
    let Coding::Huffman { sub_start } = s.coding else {
        unreachable!("a pair stream has sub-stream lengths")
    };
    let zdata = &z[Archive::DATA_START as usize..];
    for (dk, sign) in [(0usize, 1i64), (0, -1), (1, 3), (2, -5)] {
        let mut p = a.index.to_parts();
        let i = sub_start as usize + dk;
        p.sub_lens[i] = (p.sub_lens[i] as i64 + sign) as u32;
        p.sub_lens[i + 1] = (p.sub_lens[i + 1] as i64 - sign) as u32;
        let idx = Index::from_parts(p).unwrap();
        let e = d.decode_index(&idx, zdata, false).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Corrupt, "{e}");
        assert!(e.to_string().contains("GPU decode"), "{e}");
        let e = d.decode_index(&idx, zdata, true).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Corrupt, "{e}");
    }
    // A sub-stream length past the payload cannot even make an index.
    let mut p = a.index.to_parts();
    p.sub_lens[sub_start as usize] += 1_000_000;
    assert!(Index::from_parts(p).is_err());
    // The decoder still works after errors.
    check(&mut d, &z, &data, "after errors");
}

#[test]
fn cli_verify_on_the_gpu_fails_on_corrupted_pair_bytes() {
    if gpu().is_none() {
        return;
    }
    let data = pair_skewed(Layout::Bf16, 40_000, 9);
    let (z, a) = compress(&data, Layout::Bf16, 16384, 256, CodecSet::Small);
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    cli::write(d, "p.znn", &z);
    let o = cli::run(d, &["verify", "p.znn", "--device", "gpu", "-v"]);
    let err = cli::stderr(&o);
    assert!(o.status.success(), "{err}");
    assert!(err.contains("device: gpu"), "{err}");
    let o = cli::run(d, &["decompress", "p.znn", "-o", "back", "--device", "gpu"]);
    assert!(o.status.success(), "{}", cli::stderr(&o));
    assert_same(
        &std::fs::read(d.join("back")).unwrap(),
        &data,
        "cli decompress",
    );
    let (_, s) = pair_streams(&a)[0];
    for off in [2usize, s.comp_len as usize / 2] {
        let mut bad = z.clone();
        bad[HEADER_LEN + s.data_offset as usize + off] ^= 0x24;
        cli::write(d, "bad.znn", &bad);
        let o = cli::run(d, &["verify", "bad.znn", "--device", "gpu"]);
        cli::fails_with(&o, &["corrupt"], &format!("verify, byte {off} flipped"));
    }
}
