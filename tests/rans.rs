//! rANS (codec 6, format v4, `--codecs smallest`): round trips of every layout and pattern checked
//! against the reference decoder written from FORMAT.md; never larger than `small`; fine-tune
//! deltas smaller than with Huffman (a quarter on minilm-l6); version and record rules; damaged streams; the GPU
//! decoders (`shaders/rans_decode.wgsl`, and `fused_decode.wgsl` for chunks whose other streams
//! are raw or const) equal to the CPU, and refusing damaged streams themselves.

use znn_test_support as common;

#[path = "gpu_common/mod.rs"]
mod gpu_common;

use common::delta_pair::{bf16_weights, to_bf16};
use common::*;
use std::sync::Arc;
use znn_gpu::codec::CodecSet;
use znn_gpu::format::Codec;
use znn_gpu::gpu::fused::{fusable, Fuse};
use znn_gpu::{compress_bytes, Archive, Base, Layout};

fn rans_streams(a: &Archive) -> usize {
    a.index
        .streams()
        .iter()
        .filter(|s| s.codec() == Codec::Rans)
        .count()
}

#[test]
fn the_reference_decoder_agrees_with_the_spec_s_own_encoder() {
    common::reference_rans_selftest().unwrap();
}

#[test]
fn every_layout_and_pattern_round_trips_and_is_never_larger_than_small() {
    for layout in Layout::ALL {
        for (what, data) in float_patterns(layout, 12_000) {
            let name = format!("{layout:?} {what}");
            let small = compress_bytes(
                &data,
                &with_codecs(&opts(8192, 256, layout), CodecSet::Small),
            )
            .unwrap();
            let o = with_codecs(&opts(8192, 256, layout), CodecSet::Smallest);
            let z = roundtrip(&data, &o, &name);
            assert_eq!(z[8..10], [4, 0], "{name}: format version 4");
            assert_eq!(
                common::ref_decode(&z).unwrap(),
                data,
                "{name}: reference decoder"
            );
            // The v4 index's 16-byte empty base record, and rounding in the estimates.
            assert!(
                z.len() <= small.len() + 16 + 8,
                "{name}: {} vs small {}",
                z.len(),
                small.len()
            );
        }
    }
}

/// A BF16 model and the same model fine-tuned: every weight scaled by 1 + 0.002 N(0, 1), as
/// `scripts/derive-corpus.py` moves minilm (most BF16 values unchanged, the rest by an ulp or two).
fn fine_tune() -> (Vec<u8>, Vec<u8>) {
    let mut rng = Rng::new(41);
    let w = bf16_weights(&mut rng, 200_000, 0.02);
    let moved: Vec<f32> = w
        .iter()
        .map(|&x| x * (1.0 + rng.normal(0.002)) as f32)
        .collect();
    let file = |v: &[f32]| safetensors(&[tensor("w", "BF16", &[400, 500], to_bf16(v))], None, true);
    (file(&w), file(&moved))
}

#[test]
fn fine_tune_deltas_use_rans_and_are_smaller() {
    let (base, new) = fine_tune();
    let b = Arc::new(Base::from_bytes(base.clone()));
    let fast = compress_bytes(&new, &with_base(&opts(65536, 4096, Layout::Bf16), &b)).unwrap();
    let o = with_codecs(
        &with_base(&opts(65536, 4096, Layout::Bf16), &b),
        CodecSet::Smallest,
    );
    let z = compress_bytes(&new, &o).unwrap();
    assert_eq!((fast[8], z[8]), (2, 4), "format versions");
    let a = Archive::from_bytes(&z).unwrap();
    assert!(rans_streams(&a) > 0, "the XOR streams are rANS coded");
    assert!(
        z.len() * 20 < fast.len() * 19,
        "rANS delta {} vs Huffman delta {}",
        z.len(),
        fast.len()
    );
    assert_same(
        &common::decompress_with_base(&z, Some(&b)).unwrap(),
        &new,
        "v4 delta",
    );
    assert_same(
        &common::ref_decode_with_base(&z, Some(&base)).unwrap(),
        &new,
        "v4 delta, reference decoder",
    );
    // Without the base it says so; with another base the chunk checks fail.
    assert!(common::decompress_with_base(&z, None).is_err());
    let mut other = base.clone();
    let mid = other.len() / 2;
    other[mid] ^= 4;
    assert!(common::decompress_with_base(&z, Some(&Base::from_bytes(other))).is_err());
}

#[test]
fn every_byte_of_a_rans_stream_damaged_is_caught() {
    let (base, new) = fine_tune();
    let b = Arc::new(Base::from_bytes(base));
    let o = with_codecs(
        &with_base(&opts(65536, 4096, Layout::Bf16), &b),
        CodecSet::Smallest,
    );
    let z = compress_bytes(&new, &o).unwrap();
    let a = Archive::from_bytes(&z).unwrap();
    let s = a
        .index
        .streams()
        .iter()
        .find(|s| s.codec() == Codec::Rans)
        .expect("a rANS stream");
    let start = 16 + s.data_offset as usize;
    // Each byte of one stream (table, states, words) flipped in turn: an error, never other
    // bytes (the chunk checksums and content hash are left as they are).
    for i in start..start + s.comp_len as usize {
        for bit in [0, 3, 7] {
            let mut bad = z.clone();
            bad[i] ^= 1 << bit;
            match common::decompress_with_base(&bad, Some(&b)) {
                Err(_) => {}
                Ok(out) => panic!("byte {i} bit {bit}: decoded {} bytes", out.len()),
            }
        }
    }
}

#[test]
fn gpu_decodes_rans_files_as_the_cpu_does() {
    let Some(mut g) = gpu_common::gpu() else {
        return;
    };
    let (base, new) = fine_tune();
    let b = Arc::new(Base::from_bytes(base));
    for (what, data, base) in [
        ("delta", &new, Some(&b)),
        (
            "standalone",
            &float_patterns(Layout::Bf16, 40_000)[0].1,
            None,
        ),
    ] {
        let mut o = with_codecs(&opts(65536, 4096, Layout::Bf16), CodecSet::Smallest);
        o.base = base.cloned();
        let z = compress_bytes(data, &o).unwrap();
        let a = Archive::from_bytes(&z).unwrap();
        assert_eq!(z[8], 4, "{what}");
        assert!(base.is_none() || rans_streams(&a) > 0, "{what} uses rANS");
        let mut out = Vec::new();
        g.take_path_counts();
        g.decompress_to_writer_with_base(&a, &z, base.map(|b| &**b), &mut out)
            .unwrap();
        assert_same(&out, data, &format!("gpu {what}"));
        // Every chunk the fused kernel takes is fused, rANS ones included (a delta's two XOR
        // streams, each rANS or Huffman, as `Fuse::Two`).
        let fusable = (0..a.index.chunks().len())
            .filter_map(|ci| fusable(&a.index, ci, 0))
            .collect::<Vec<_>>();
        let with_rans = fusable
            .iter()
            .filter(|f| matches!(f, Fuse::Rans { .. } | Fuse::Two([true, _] | [_, true])));
        assert!(
            base.is_none() || with_rans.count() > 0,
            "{what}: fused rANS"
        );
        assert_eq!(g.take_path_counts().fused, fusable.len(), "{what}");
        g.verify(&a, &z, base.map(|b| &**b)).unwrap();
    }
}

#[test]
fn forged_rans_records_are_errors_never_other_bytes() {
    let mut rng = Rng::new(9);
    // Near-zero bytes: every chunk rANS coded.
    let data: Vec<u8> = (0..60_000)
        .map(|_| {
            if rng.below(10) == 0 {
                1 + rng.below(3) as u8
            } else {
                0
            }
        })
        .collect();
    let o = with_codecs(&opts(16384, 4096, Layout::Byte), CodecSet::Smallest);
    let z = compress_bytes(&data, &o).unwrap();
    let a = Archive::from_bytes(&z).unwrap();
    assert_eq!(rans_streams(&a), a.index.streams().len(), "all rANS");
    let forge = |f: &dyn Fn(&mut znn_gpu::format::IndexParts)| common::hostile::forge_index(&z, f);
    use znn_gpu::format::Coding;
    let verdict = |g: &[u8], what: &str| match znn_gpu::decompress_bytes(g) {
        Err(_) => {}
        Ok(out) => assert_eq!(out, data, "{what}: decoded other bytes"),
    };
    for i in 0..a.index.streams().len() {
        let Coding::Rans { sub_start } = a.index.streams()[i].coding else {
            unreachable!()
        };
        let k = sub_start as usize;
        // Read as Huffman with the same lengths; a word moved between two sub-streams; the first
        // sub-stream a word shorter, so that the table seems a word longer.
        verdict(
            &forge(&|p| p.streams[i].coding = Coding::Huffman { sub_start }),
            "as huffman",
        );
        verdict(
            &forge(&|p| {
                p.sub_lens[k] += 2;
                p.sub_lens[k + 1] -= 2;
            }),
            "word moved",
        );
        verdict(&forge(&|p| p.sub_lens[k] -= 2), "table longer");
    }
    let mut v3 = z.clone();
    v3[8] = 3;
    assert!(
        znn_gpu::decompress_bytes(&v3).is_err(),
        "codec 6 in a v3 file"
    );
    assert!(
        common::ref_decode(&v3).is_err(),
        "reference: codec 6 in a v3 file"
    );
}

/// `n` bytes, nine in ten zero and the rest 1..=3: every chunk a single rANS stream.
fn sparse(n: usize, seed: u64) -> Vec<u8> {
    let mut rng = Rng::new(seed);
    (0..n)
        .map(|_| {
            if rng.below(10) == 0 {
                1 + rng.below(3) as u8
            } else {
                0
            }
        })
        .collect()
}

/// `shaders/rans_decode.wgsl` decodes byte for byte as the CPU: chunk tails whose last sub-stream
/// is not a whole number of words, streams of more sub-streams than one workgroup takes (several
/// jobs per table), the largest sub-streams, with the fused kernel on and off (a byte layout
/// always takes the two passes).
#[test]
fn the_gpu_kernel_decodes_rans_streams_as_the_cpu_does() {
    let Some(mut g) = gpu_common::gpu() else {
        return;
    };
    for (n, chunk, sub) in [
        (60_001, 16384, 256),
        (5_003, 4096, 4096),
        (300_002, 131072, 65536),
    ] {
        let data = sparse(n, n as u64);
        let z = compress_bytes(
            &data,
            &with_codecs(&opts(chunk, sub, Layout::Byte), CodecSet::Smallest),
        )
        .unwrap();
        let a = Archive::from_bytes(&z).unwrap();
        assert_eq!(rans_streams(&a), a.index.streams().len(), "{n}: all rANS");
        for fuse in [true, false] {
            g.set_fused(fuse);
            let out = g.decompress_bytes(&z).unwrap();
            assert_same(&out, &data, &format!("gpu {n} {chunk} {sub} fuse {fuse}"));
            let paths = g.take_path_counts();
            assert_eq!(paths.fused, 0, "{n}: byte chunks take the two passes");
            assert_eq!(paths.two_pass, a.index.chunks().len());
        }
    }
    g.set_fused(true);
}

/// Each byte of a rANS stream damaged: a GPU error, never other bytes, on the two-pass path (a
/// byte layout) and the fused one (BF16). A damaged table is refused on the host and, with the
/// host's checks skipped, by the kernel itself (the same checks).
#[test]
fn damaged_rans_streams_are_gpu_errors_never_other_bytes() {
    let Some(mut g) = gpu_common::gpu() else {
        return;
    };
    for (layout, data) in [
        (Layout::Byte, sparse(8192, 3)),
        (Layout::Bf16, rans_exponents(Layout::Bf16, 4096, 3)),
    ] {
        let z = compress_bytes(
            &data,
            &with_codecs(&opts(4096, 256, layout), CodecSet::Smallest),
        )
        .unwrap();
        let a = Archive::from_bytes(&z).unwrap();
        assert_eq!(fused_rans(&a) > 0, layout == Layout::Bf16, "{layout:?}");
        let s = &a.index.streams()[0];
        assert_eq!(s.codec(), Codec::Rans);
        let start = znn_gpu::format::HEADER_LEN + s.data_offset as usize;
        let body = start..start + s.comp_len as usize;
        let (_, tsize) = znn_gpu::codec::rans::RansTable::parse(&z[body.clone()]).unwrap();
        let mut kernel_refusals = 0;
        for i in body.clone() {
            for bit in [0, 5, 7] {
                let mut bad = z.clone();
                bad[i] ^= 1 << bit;
                let what = format!("{layout:?} byte {} bit {bit}", i - start);
                assert!(znn_gpu::decompress_bytes(&bad).is_err(), "cpu {what}");
                match g.decompress_bytes(&bad) {
                    Err(e) => assert_eq!(e.kind(), znn_gpu::ErrorKind::Corrupt, "{what}: {e}"),
                    Ok(out) => panic!("gpu {what}: decoded {} bytes", out.len()),
                }
                let table_bad = znn_gpu::codec::rans::RansTable::parse(&bad[body.clone()])
                    .map_or(true, |(_, size)| size != tsize);
                if i - start < tsize && table_bad {
                    znn_gpu::gpu::plan::skip_host_table_checks(true);
                    let e = g.decompress_bytes(&bad);
                    znn_gpu::gpu::plan::skip_host_table_checks(false);
                    let e = e.unwrap_err().to_string();
                    assert!(
                        e.contains("GPU decode") && e.contains("rans table"),
                        "kernel {what}: {e}"
                    );
                    kernel_refusals += 1;
                }
            }
        }
        assert!(
            kernel_refusals >= 3 * 2,
            "{layout:?}: the table's bytes: {kernel_refusals}"
        );
        assert_same(&g.decompress_bytes(&z).unwrap(), &data, "after the damage");
    }
}

/// `n` elements of `layout` whose exponent is one value nine times in ten (order-0 entropy well
/// under Huffman's whole bit, so rANS codes it) and whose top mantissa bits are zero: BF16's
/// stream 1 is const, FP16's low byte and FP32's two low bytes are random (raw). So every chunk
/// fuses with a rANS stream 0.
fn rans_exponents(layout: Layout, n: usize, seed: u64) -> Vec<u8> {
    let mut rng = Rng::new(seed);
    let mut out = Vec::with_capacity(n * layout.elem_size());
    for _ in 0..n {
        let skew = rng.below(10) != 0;
        let r = rng.next_u64();
        match layout {
            Layout::Bf16 => {
                let e = if skew {
                    120
                } else {
                    112 + rng.below(16) as u16
                };
                out.extend_from_slice(&(e << 7).to_le_bytes());
            }
            Layout::Fp16 => {
                let e = if skew { 14 } else { 8 + rng.below(16) as u16 };
                out.extend_from_slice(&(e << 10 | (r as u16 & 0xFF)).to_le_bytes());
            }
            _ => {
                let e = if skew {
                    120
                } else {
                    112 + rng.below(16) as u32
                };
                out.extend_from_slice(&(e << 23 | (r as u32 & 0xFFFF)).to_le_bytes());
            }
        }
    }
    out
}

/// The chunks of `a` that `fused_decode.wgsl` decodes with a rANS stream.
fn fused_rans(a: &Archive) -> usize {
    (0..a.index.chunks().len())
        .filter(|&ci| matches!(fusable(&a.index, ci, 0), Some(Fuse::Rans { .. })))
        .count()
}

/// `fused_decode.wgsl` decodes chunks with a rANS stream 0 (BF16, FP16, FP32) as the CPU does,
/// read back and into a device buffer, with tails of 1-3 elements, several sub-stream sizes (up
/// to 65,536 elements) and more sub-streams than a workgroup takes; and as the two-pass path does
/// with the fused kernel off.
#[test]
fn the_fused_kernel_decodes_rans_chunks_as_the_cpu_does() {
    let Some(mut g) = gpu_common::gpu() else {
        return;
    };
    for layout in [Layout::Bf16, Layout::Fp16, Layout::Fp32] {
        for (n, chunk, sub) in [
            (20_002, 16384, 256),
            (70_003, 1 << 20, 65_536),
            (600_001, 1 << 22, 4096),
        ] {
            // 2-byte elements: an even count, so the last chunk ends on a word and fuses.
            let n = if layout == Layout::Fp32 { n } else { n & !1 };
            let data = rans_exponents(layout, n, n as u64);
            let o = with_codecs(&opts(chunk, sub, layout), CodecSet::Smallest);
            let z = compress_bytes(&data, &o).unwrap();
            let a = Archive::from_bytes(&z).unwrap();
            let what = format!("{layout:?} n {n} sub {sub}");
            assert_eq!(
                fused_rans(&a),
                a.index.chunks().len(),
                "{what}: every chunk"
            );
            gpu_common::fused_and_two_pass_match_the_cpu(&mut g, &z, &data, &what);
        }
    }
}
