//! The fused decode kernel (`shaders/fused_decode.wgsl`: Huffman or pair decode writing finished
//! elements, no staged streams, no merge) == CPU decode, byte for byte: every fused layout (BF16,
//! FP16, FP32) × v1 and pair codes × stress patterns, sub-stream sizes up to 65,536 elements,
//! tails not a multiple of 4, two-symbol lookups at every code length, fine-tune deltas (the base
//! XORed in the kernel), multi-chunk files, ranges that start and end mid-chunk, files mixing
//! fused and two-pass chunks, the corpus and data/ models. The path taken is counted
//! (`take_path_counts`), hostile descriptors give errors, and a corrupted raw byte fails the
//! device checksum. Tests skip (with a message) only when no adapter exists at all.

use znn_test_support as common;

use common::*;
mod gpu_common;
use gpu_common::gpu;
use znn_gpu::codec::CodecSet;
use znn_gpu::format::{Codec, Index, HEADER_LEN};
use znn_gpu::gpu::fused::{fusable, Fuse};
use znn_gpu::gpu::PathCounts;
use znn_gpu::{
    compress_bytes, decompress_bytes, Archive, CompressOptions, ErrorKind, GpuDecoder, Layout,
};

const SETS: [CodecSet; 3] = [CodecSet::Fast, CodecSet::Balanced, CodecSet::Small];
const FUSED_LAYOUTS: [Layout; 3] = [Layout::Bf16, Layout::Fp16, Layout::Fp32];

fn compress(src: &[u8], layout: Layout, chunk: u32, sub: u32, set: CodecSet) -> (Vec<u8>, Archive) {
    let z = compress_bytes(src, &with_codecs(&opts(chunk, sub, layout), set)).unwrap();
    let a = Archive::from_bytes(&z).unwrap();
    (z, a)
}

/// `n` elements of `layout` whose streams suit `set`: weight-like floats for v1 (their mantissa
/// stream stays raw, so chunks fuse), a mantissa that depends on the exponent for pair codes.
fn data_for(layout: Layout, n: usize, seed: u64, set: CodecSet) -> Vec<u8> {
    if set == CodecSet::Fast {
        let mut g = Rng::new(seed);
        let w: Vec<f64> = (0..n).map(|_| g.normal(0.02)).collect();
        encode_floats(layout, &w)
    } else {
        pair_skewed(layout, n, seed)
    }
}

/// How each chunk of `a` is planned when the output binding starts at original byte 0.
fn plan(a: &Archive) -> Vec<Option<Fuse>> {
    (0..a.index.chunks().len())
        .map(|ci| fusable(&a.index, ci, 0))
        .collect()
}

/// Decodes `z` on the GPU (read back and verified on the host; into a device buffer verified
/// there) and checks both against the CPU's bytes, which must be `src`. Returns the chunks each
/// path took in the device-buffer decode.
fn check(d: &mut GpuDecoder, z: &[u8], src: &[u8], what: &str) -> PathCounts {
    let cpu = decompress_bytes(z).unwrap_or_else(|e| panic!("{what}: CPU: {e}"));
    assert_same(&cpu, src, &format!("{what}: CPU"));
    let g = d
        .decompress_bytes(z)
        .unwrap_or_else(|e| panic!("{what}: GPU: {e}"));
    assert_same(&g, &cpu, &format!("{what}: GPU read back"));
    let a = Archive::from_bytes(z).unwrap();
    d.take_path_counts();
    let out = d
        .decode_to_buffer(&a, &z[Archive::DATA_START as usize..])
        .unwrap_or_else(|e| panic!("{what}: GPU buffer: {e}"));
    let paths = d.take_path_counts();
    let back = d.read_back(&out.buffer, out.len).unwrap();
    assert_same(&back, &cpu, &format!("{what}: GPU device buffer"));
    assert_eq!(
        paths.fused + paths.two_pass,
        a.index.chunks().len(),
        "{what}"
    );
    let planned = plan(&a).iter().filter(|f| f.is_some()).count();
    assert_eq!(paths.fused, planned, "{what}: fused chunks");
    paths
}

#[test]
fn every_layout_codec_set_and_pattern_matches_the_cpu() {
    let Some(mut d) = gpu() else { return };
    for layout in FUSED_LAYOUTS {
        let (mut huffman, mut pair) = (0, 0);
        // 12,002 elements: the last chunk's last sub-stream ends in a batch of 2 (FP32: 12,003, 3).
        let n = if layout == Layout::Fp32 {
            12_003
        } else {
            12_002
        };
        for (what, data) in float_patterns(layout, n) {
            for set in SETS {
                for sub in [256, 1024] {
                    let (z, a) = compress(&data, layout, 8192, sub, set);
                    for f in plan(&a).into_iter().flatten() {
                        match f {
                            Fuse::Huffman { .. } => huffman += 1,
                            Fuse::Pair(_) => pair += 1,
                            Fuse::Rans { .. } | Fuse::Two(_) => {}
                        }
                    }
                    check(
                        &mut d,
                        &z,
                        &data,
                        &format!("{layout:?} {what} {set:?} sub {sub}"),
                    );
                }
            }
        }
        assert!(huffman >= 10, "{layout:?}: {huffman} fused Huffman chunks");
        assert!(pair >= 10, "{layout:?}: {pair} fused pair chunks");
    }
}

#[test]
fn tails_odd_counts_and_sub_stream_sizes_match_the_cpu() {
    let Some(mut d) = gpu() else { return };
    for layout in FUSED_LAYOUTS {
        let es = layout.elem_size();
        for extra in 0..4usize {
            // A last chunk of half a chunk + extra elements after three whole chunks.
            let n = 3 * 8192 / es + 4096 / es + extra;
            for set in [CodecSet::Fast, CodecSet::Balanced] {
                let data = data_for(layout, n, extra as u64, set);
                let (z, a) = compress(&data, layout, 8192, 256, set);
                let what = format!("{layout:?} n {n} {set:?}");
                let p = check(&mut d, &z, &data, &what);
                // A 2-byte element chunk that ends off a word is left to the merge.
                let last_fused = plan(&a).last().unwrap().is_some();
                assert_eq!(last_fused, (n * es) % 4 == 0, "{what}");
                assert!(p.fused >= 3, "{what}: {p:?}");
            }
        }
        // Sub-stream sizes, 65,536 elements included (lavapipe stops an invocation after 65,535
        // loop iterations in all), with a tail.
        for sub in [512u32, 4096, 65_536] {
            let n = 2 * 65_536 + 6;
            for set in [CodecSet::Fast, CodecSet::Small] {
                let data = data_for(layout, n, sub as u64, set);
                let (z, _) = compress(&data, layout, 1 << 20, sub, set);
                let p = check(&mut d, &z, &data, &format!("{layout:?} sub {sub} {set:?}"));
                assert!(p.fused >= 1, "{layout:?} sub {sub} {set:?}: {p:?}");
            }
        }
    }
}

#[test]
fn ranges_windows_and_the_two_pass_switch_match_the_cpu() {
    let Some(mut d) = gpu() else { return };
    for (layout, set) in [
        (Layout::Bf16, CodecSet::Fast),
        (Layout::Fp16, CodecSet::Balanced),
        (Layout::Fp32, CodecSet::Small),
    ] {
        let data = data_for(layout, 150_000 / layout.elem_size() * 2 + 2, 4, set);
        let (z, a) = compress(&data, layout, 16384, 256, set);
        assert!(plan(&a).iter().filter(|f| f.is_some()).count() > 5);
        let len = data.len() as u64;
        for (s, e) in [
            (0, len),
            (1, 2),
            (100, 40_000),
            (16_383, 16_385),
            (33_333, 250_001.min(len)),
            (len - 7, len),
        ] {
            let r = d
                .decode_range_to_buffer(&z.as_slice(), &a, s, e, None)
                .unwrap();
            let got = d.read_back(&r.buffer, r.offset + r.len).unwrap();
            let got = &got[r.offset as usize..(r.offset + r.len) as usize];
            let what = format!("{layout:?} range {s}..{e}");
            assert_same(got, &data[s as usize..e as usize], &what);
            let mut w = Vec::new();
            d.extract_range_to(&z.as_slice(), &a, s, e, None, &mut w)
                .unwrap();
            assert_same(
                &w,
                &data[s as usize..e as usize],
                &format!("extract {what}"),
            );
        }
        // Many windows, two in flight, and 2D dispatches.
        d.set_window_bytes(20_000);
        d.set_dispatch_dim(2);
        check(&mut d, &z, &data, &format!("{layout:?} small windows"));
        d.set_window_bytes(u64::MAX);
        d.set_dispatch_dim(u32::MAX);
        // The two-pass path gives the same bytes and takes no fused chunk.
        d.set_fused(false);
        let g = d.decompress_bytes(&z).unwrap();
        assert_same(&g, &data, &format!("{layout:?} two-pass"));
        let p = d.take_path_counts();
        assert_eq!((p.fused, p.two_pass), (0, a.index.chunks().len()));
        d.set_fused(true);
    }
}

/// A safetensors file whose tensors make fused chunks (aligned BF16, FP16, FP32), chunks off a
/// word (after an odd-length U8 tensor), byte-layout chunks and odd-count BF16 ends, decoded in
/// one window (the merge runs beside the fused chunks) and in many.
#[test]
fn files_mixing_fused_and_two_pass_chunks_match_the_cpu() {
    let Some(mut d) = gpu() else { return };
    for set in SETS {
        let t = |name: &str, dtype: &str, layout: Layout, n: usize, seed: u64| {
            let es = layout.elem_size();
            let bytes = if layout == Layout::Byte {
                Rng::new(seed).bytes(n)
            } else {
                data_for(layout, n, seed, set)
            };
            let shape = [(bytes.len() / es) as u64];
            tensor(name, dtype, &shape, bytes)
        };
        let file = safetensors(
            &[
                t("a", "BF16", Layout::Bf16, 20_000, 1),
                t("b", "F32", Layout::Fp32, 9_001, 2),
                t("c", "U8", Layout::Byte, 4_099, 3),
                t("d", "BF16", Layout::Bf16, 10_001, 4),
                t("e", "F16", Layout::Fp16, 12_000, 5),
                t("f", "U8", Layout::Byte, 2, 6),
                t("g", "F32", Layout::Fp32, 5_000, 7),
                t("h", "BF16", Layout::Bf16, 8_193, 8),
            ],
            None,
            true,
        );
        let o = CompressOptions {
            chunk_size: 8192,
            sub_symbols: 512,
            codecs: set,
            ..Default::default()
        };
        let z = compress_bytes(&file, &o).unwrap();
        let p = check(&mut d, &z, &file, &format!("mixed {set:?}"));
        assert!(p.fused >= 5 && p.two_pass >= 3, "{set:?}: {p:?}");
        d.set_window_bytes(30_000);
        check(&mut d, &z, &file, &format!("mixed {set:?} small windows"));
        d.set_window_bytes(u64::MAX);
        let a = Archive::from_bytes(&z).unwrap();
        let len = file.len() as u64;
        for (s, e) in [(5, len - 3), (40_001, 60_003), (len / 2, len / 2 + 9)] {
            let r = d
                .decode_range_to_buffer(&z.as_slice(), &a, s, e, None)
                .unwrap();
            let got = d.read_back(&r.buffer, r.offset + r.len).unwrap();
            let got = &got[r.offset as usize..(r.offset + r.len) as usize];
            assert_same(
                got,
                &file[s as usize..e as usize],
                &format!("{set:?} {s}..{e}"),
            );
        }
    }
}

#[test]
fn models_match_the_cpu_on_the_fused_path() {
    let Some(mut d) = gpu() else { return };
    let mut files = vec![(
        "data/mobilenet-v2.fp32.safetensors".to_string(),
        repo_model(),
    )];
    for name in [
        "minilm-l6.bf16.safetensors",
        "mobilenet-v2.fp32.safetensors",
    ] {
        if let Some(b) = corpus(name, "models_match_the_cpu_on_the_fused_path") {
            files.push((name.to_string(), b));
        }
    }
    for (name, src) in &files {
        for set in SETS {
            let o = CompressOptions {
                codecs: set,
                ..Default::default()
            };
            let z = compress_bytes(src, &o).unwrap();
            let p = check(&mut d, &z, src, &format!("{name} {set:?}"));
            println!(
                "{name} {set:?}: {} of {} chunks fused",
                p.fused,
                p.fused + p.two_pass
            );
            assert!(p.fused * 2 > p.fused + p.two_pass, "{name} {set:?}: {p:?}");
        }
    }
}

/// The first stream of a fused chunk, and that chunk.
fn fused_stream(a: &Archive) -> (usize, znn_gpu::format::StreamRec) {
    let ci = plan(a).iter().position(|f| f.is_some()).unwrap();
    let c = &a.index.chunks()[ci];
    (ci, a.index.chunk_streams(c)[0])
}

#[test]
fn hostile_tables_and_sub_stream_lengths_on_the_fused_path_are_errors() {
    let Some(mut d) = gpu() else { return };
    for (layout, set) in [
        (Layout::Bf16, CodecSet::Fast),
        (Layout::Fp32, CodecSet::Fast),
        (Layout::Fp16, CodecSet::Balanced),
        (Layout::Bf16, CodecSet::Small),
    ] {
        let data = data_for(layout, 40_000, 8, set);
        let (z, a) = compress(&data, layout, 16384, 256, set);
        let (_, s) = fused_stream(&a);
        let at = HEADER_LEN + s.data_offset as usize;
        for i in (at..at + 24).chain((at + 24..at + s.comp_len as usize).step_by(131)) {
            let mut bad = z.clone();
            bad[i] ^= 0x5A;
            let e = d.decompress_bytes(&bad).unwrap_err();
            assert!(
                matches!(e.kind(), ErrorKind::Corrupt | ErrorKind::Truncated),
                "{layout:?} byte {i}: {e}"
            );
            let e = d.verify(&a, &bad.as_slice(), None).unwrap_err();
            assert!(
                matches!(e.kind(), ErrorKind::Corrupt | ErrorKind::Truncated),
                "{layout:?} verify, byte {i}: {e}"
            );
        }
        // Sub-stream lengths moved between neighbours: the kernel's own checks catch it without
        // checksums.
        let znn_gpu::codec::Coding::Huffman { sub_start } = s.coding else {
            unreachable!("a fused stream 0 is Huffman or pair coded")
        };
        let zdata = &z[Archive::DATA_START as usize..];
        for (dk, sign) in [(0usize, 1i64), (0, -1), (1, 3), (2, -5)] {
            let mut p = a.index.to_parts();
            let i = sub_start as usize + dk;
            p.sub_lens[i] = (p.sub_lens[i] as i64 + sign) as u32;
            p.sub_lens[i + 1] = (p.sub_lens[i + 1] as i64 - sign) as u32;
            let idx = Index::from_parts(p).unwrap();
            d.take_path_counts();
            let e = d.decode_index(&idx, zdata, false).unwrap_err();
            assert!(d.take_path_counts().fused > 0);
            assert_eq!(e.kind(), ErrorKind::Corrupt, "{e}");
            assert!(e.to_string().contains("GPU decode"), "{layout:?} {dk}: {e}");
        }
        check(&mut d, &z, &data, &format!("{layout:?} after errors"));
    }
}

#[test]
fn a_corrupted_raw_byte_of_a_fused_chunk_fails_the_device_check() {
    let Some(mut d) = gpu() else { return };
    for (layout, set, raw_stream) in [
        (Layout::Bf16, CodecSet::Fast, 1),
        (Layout::Fp32, CodecSet::Fast, 3),
        (Layout::Fp32, CodecSet::Balanced, 2),
    ] {
        let data = data_for(layout, 30_000, 5, set);
        let (z, a) = compress(&data, layout, 16384, 256, set);
        let (ci, _) = fused_stream(&a);
        let c = &a.index.chunks()[ci];
        let s = a.index.chunk_streams(c)[raw_stream];
        assert_eq!(s.codec(), Codec::Raw, "{layout:?} {set:?}");
        let mut bad = z.clone();
        bad[HEADER_LEN + s.data_offset as usize + 77] ^= 0x01;
        let ba = Archive::from_bytes(&bad).unwrap();
        let data_start = Archive::DATA_START as usize;
        for e in [
            d.decode_to_buffer(&ba, &bad[data_start..]).unwrap_err(),
            d.verify(&ba, &bad.as_slice(), None).unwrap_err(),
        ] {
            assert_eq!(e.kind(), ErrorKind::Corrupt, "{e}");
            assert!(e.to_string().contains("after GPU decode"), "{e}");
        }
        let dir = tempfile::tempdir().unwrap();
        cli::write(dir.path(), "bad.znn", &bad);
        let o = cli::run(dir.path(), &["verify", "bad.znn", "--device", "gpu"]);
        cli::fails_with(&o, &["corrupt"], &format!("{layout:?} {set:?} cli verify"));
    }
}

/// A delta file whose new tensors are standalone segments: those chunks are fused, the delta
/// chunks (XOR with the base) take the merge, in the same windows.
#[test]
fn deltas_mix_fused_standalone_chunks_with_merged_delta_chunks() {
    let Some(mut d) = gpu() else { return };
    let w = |n, seed| data_for(Layout::Bf16, n, seed, CodecSet::Fast);
    let old = safetensors(
        &[
            tensor("a", "BF16", &[20_000], w(20_000, 1)),
            tensor(
                "b",
                "F32",
                &[6_000],
                data_for(Layout::Fp32, 6_000, 2, CodecSet::Fast),
            ),
        ],
        None,
        true,
    );
    let mut a2 = w(20_000, 1);
    for i in (0..a2.len()).step_by(61) {
        a2[i] ^= 0x03;
    }
    let new = safetensors(
        &[
            tensor("a", "BF16", &[20_000], a2),
            tensor("c", "BF16", &[30_000], w(30_000, 3)),
            tensor(
                "b",
                "F32",
                &[6_000],
                data_for(Layout::Fp32, 6_000, 2, CodecSet::Fast),
            ),
        ],
        None,
        true,
    );
    let base = std::sync::Arc::new(znn_gpu::Base::from_bytes(old));
    let o = with_base(&opts(8192, 256, Layout::Bf16), &base);
    let z = compress_bytes(&new, &o).unwrap();
    let a = Archive::from_bytes(&z).unwrap();
    d.take_path_counts();
    let out = d
        .decode_delta_to_buffer(&a, &z.as_slice(), Some(&base))
        .unwrap();
    let p = d.take_path_counts();
    assert_same(&d.read_back(&out.buffer, out.len).unwrap(), &new, "delta");
    assert!(p.fused >= 5 && p.two_pass >= 5, "{p:?}");
}

/// Fine-tune deltas (each weight moved by a small relative step, as between two checkpoints):
/// the exponent XOR is mostly zero (zstd or const), the sign and mantissa XOR Huffman-coded, so
/// the kernel decodes stream 1, reads stream 0 as bytes and XORs the base in as it stores; for
/// every fused layout, with several windows, GPU == CPU on the device buffer and on read-back.
#[test]
fn fine_tune_deltas_fuse_with_the_base_xored_in_the_kernel() {
    let Some(mut d) = gpu() else { return };
    for layout in FUSED_LAYOUTS {
        let n = 120_000 / layout.elem_size() * 2;
        let mut g = Rng::new(layout.elem_size() as u64);
        let w: Vec<f64> = (0..n).map(|_| g.normal(0.02)).collect();
        let moved: Vec<f64> = w.iter().map(|x| x * (1.0 + g.normal(2e-3))).collect();
        let (old, new) = (encode_floats(layout, &w), encode_floats(layout, &moved));
        let base = std::sync::Arc::new(znn_gpu::Base::from_bytes(old));
        let z = compress_bytes(&new, &with_base(&opts(16384, 256, layout), &base)).unwrap();
        let a = Archive::from_bytes(&z).unwrap();
        let cpu = decompress_with_base(&z, Some(&base)).unwrap();
        assert_same(&cpu, &new, &format!("{layout:?} CPU"));
        let planned = plan(&a);
        let deltas = (0..planned.len()).filter(|&ci| a.index.is_delta(&a.index.chunks()[ci]));
        let fused_deltas = deltas.filter(|&ci| planned[ci].is_some()).count();
        let chunks = a.index.chunks().len();
        assert!(fused_deltas * 4 >= chunks * 3, "{layout:?}: {planned:?}");
        let hs1 = planned
            .iter()
            .filter(|f| **f == Some(Fuse::Huffman { stream: 1 }))
            .count();
        if layout != Layout::Fp16 {
            // FP16's high byte holds the sign and two mantissa bits: its XOR is not zero-heavy.
            assert!(hs1 * 2 >= chunks, "{layout:?}: {planned:?}");
        }
        for window in [1u64 << 30, 40_000] {
            d.set_window_bytes(window);
            d.take_path_counts();
            let out = d
                .decode_delta_to_buffer(&a, &z.as_slice(), Some(&base))
                .unwrap();
            let p = d.take_path_counts();
            let what = format!("{layout:?} window {window}");
            assert_same(&d.read_back(&out.buffer, out.len).unwrap(), &cpu, &what);
            let want = planned.iter().filter(|f| f.is_some()).count();
            assert_eq!(p.fused, want, "{what}: {p:?}");
            let mut back = Vec::new();
            d.decompress_to_writer_with_base(&a, &z.as_slice(), Some(&base), &mut back)
                .unwrap();
            assert_same(&back, &cpu, &format!("{what} writer"));
        }
        d.set_window_bytes(znn_gpu::constants::GPU_WINDOW_BYTES);
        // A flipped byte in the payload of the stream the kernel decodes: the kernel's checks or
        // the device checksum (of the bytes after the XOR) catch it.
        let ci = planned.iter().position(|f| f.is_some()).unwrap();
        let Some(Fuse::Huffman { stream }) = planned[ci] else {
            panic!("{layout:?}: a delta chunk fused with a pair code: {planned:?}")
        };
        let s = a.index.chunk_streams(&a.index.chunks()[ci])[stream as usize];
        let mut bad = z.clone();
        bad[HEADER_LEN + s.data_offset as usize + s.comp_len as usize / 2] ^= 0x10;
        let e = d
            .decode_delta_to_buffer(&a, &bad.as_slice(), Some(&base))
            .unwrap_err();
        assert!(
            matches!(e.kind(), ErrorKind::Corrupt | ErrorKind::Truncated),
            "{layout:?}: {e}"
        );
    }
}

/// The two-symbol lookups at every code length: exponents drawn geometrically give codes of 1 to
/// 11 bits, so symbol pairs whose codes fill exactly 11 bits, and pairs that do not fit, both
/// occur; GPU == CPU, and the replayed schedule (`chain_lookups`) sits strictly between one
/// lookup per two symbols and one per symbol.
#[test]
fn two_symbol_lookups_at_every_code_length_match_the_cpu() {
    let Some(mut d) = gpu() else { return };
    for layout in FUSED_LAYOUTS {
        let mut g = Rng::new(21);
        let man = match layout {
            Layout::Bf16 => 7,
            Layout::Fp16 => 10,
            _ => 23,
        };
        let exp_max = if layout == Layout::Fp16 { 30 } else { 250 };
        let n = 40_003;
        let bits = (0..n).map(|_| {
            let mut e = 1u64;
            while e < exp_max && g.below(2) == 0 {
                e += 1;
            }
            // A random sign and mantissa: the other streams stay raw, so the chunks fuse.
            let sign = g.below(2) << (8 * layout.elem_size() as u32 - 1);
            sign | (e << man) | (g.next_u64() & ((1 << man) - 1))
        });
        let data = bits_of(layout, bits);
        let (z, a) = compress(&data, layout, 1 << 16, 1024, CodecSet::Fast);
        let (symbols, lookups) =
            znn_gpu::gpu::fused::chain_lookups(&a.index, &z[HEADER_LEN..], &data).unwrap();
        let per4 = 4.0 * lookups as f64 / symbols as f64;
        assert!(
            symbols > 0 && per4 > 2.0 && per4 < 4.0,
            "{layout:?}: {per4}"
        );
        check(
            &mut d,
            &z,
            &data,
            &format!("{layout:?} geometric exponents"),
        );
    }
}
