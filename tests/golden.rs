//! Golden files: `tests/data/golden_v1.znn` is the compression of `tests/data/golden_v1.bin` made by
//! the version-1 encoder, and `golden_v2.znn` the delta of `golden_v2.bin` against `golden_v1.bin`
//! (format version 2), and `golden_v3.znn` the compression of `golden_v3.bin` (quantized weights
//! as BF16, FP16 and FP32) with pair codes (format version 3, `--codecs small`); see
//! tests/data/README.md. Any build must read them, and today's encoder
//! must still write them byte for byte. When the encoder legitimately changes its output, regenerate
//! deliberately with
//! `cargo test --profile ci --test golden -- --ignored regenerate_golden`
//! and say why in the commit.

use znn_test_support as common;

use common::*;
use znn_gpu::format::Codec;
use znn_gpu::{compress_bytes, decompress_bytes, Archive, Layout};

fn golden_paths() -> (std::path::PathBuf, std::path::PathBuf) {
    let d = test_dir();
    (d.join("golden_v1.bin"), d.join("golden_v1.znn"))
}

fn read_golden() -> (Vec<u8>, Vec<u8>) {
    let (bin, znn) = golden_paths();
    let b = std::fs::read(&bin).unwrap_or_else(|e| panic!("{}: {e}", bin.display()));
    let z = std::fs::read(&znn).unwrap_or_else(|e| panic!("{}: {e}", znn.display()));
    (b, z)
}

fn golden_v2_paths() -> (std::path::PathBuf, std::path::PathBuf) {
    let d = test_dir();
    (d.join("golden_v2.bin"), d.join("golden_v2.znn"))
}

/// A fine-tune-like update of the golden input: one tensor nudged in its lowest mantissa bits, a
/// few bytes of another changed, one tensor dropped, one added, and the order reversed, so that
/// the delta has matched (delta) and unmatched (standalone) tensors at new offsets.
fn golden_v2_input(v1: &[u8]) -> Vec<u8> {
    let n = u64::from_le_bytes(v1[..8].try_into().unwrap()) as usize;
    let header: serde_json::Value = serde_json::from_slice(&v1[8..8 + n]).unwrap();
    let mut tensors = Vec::new();
    for (name, _, r) in read_safetensors(v1).into_iter().rev() {
        let t = &header[&name];
        let shape: Vec<u64> = t["shape"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d.as_u64().unwrap())
            .collect();
        let mut data = v1[r].to_vec();
        match name.as_str() {
            "mask" => continue,
            "embed.weight" => data.iter_mut().step_by(6).for_each(|b| *b ^= 1),
            "delta" => data
                .iter_mut()
                .step_by(100)
                .for_each(|b| *b = b.wrapping_add(3)),
            _ => {}
        }
        tensors.push(tensor(&name, t["dtype"].as_str().unwrap(), &shape, data));
    }
    let bias: Vec<u8> = (0..64u32)
        .flat_map(|i| (i as f32 * 0.01).to_le_bytes())
        .collect();
    tensors.push(tensor("new.bias", "F32", &[64], bias));
    safetensors(&tensors, Some(&[("note", "znn-gpu golden v2")]), true)
}

#[test]
fn golden_v2_delta_decodes_with_its_base_and_is_rewritten_byte_for_byte() {
    let (v1, _) = read_golden();
    let (bin, znn) = golden_v2_paths();
    let new = std::fs::read(&bin).unwrap_or_else(|e| panic!("{}: {e}", bin.display()));
    let z = std::fs::read(&znn).unwrap_or_else(|e| panic!("{}: {e}", znn.display()));
    assert_eq!(z[8..10], [2, 0], "format version 2");
    let base = znn_gpu::Base::from_bytes(v1.clone());
    assert_same(
        &common::decompress_with_base(&z, Some(&base)).unwrap(),
        &new,
        "golden_v2.znn",
    );
    assert_same(
        &ref_decode_with_base(&z, Some(&v1)).unwrap(),
        &new,
        "reference decoder, v2",
    );
    assert!(decompress_bytes(&z).is_err(), "a v2 delta needs its base");
    let a = Archive::from_bytes(&z).unwrap();
    let deltas = a
        .index
        .segments()
        .iter()
        .filter(|s| s.base_offset.is_some())
        .count();
    assert!(
        deltas >= 5 && deltas < a.index.segments().len(),
        "{deltas} delta segments"
    );
    let now = znn_gpu::compress_bytes(
        &new,
        &common::with_base(&golden_opts(), &std::sync::Arc::new(base.clone())),
    )
    .unwrap();
    assert!(
        now == z,
        "compressing golden_v2.bin against golden_v1.bin no longer gives golden_v2.znn: \
         regenerate on purpose with `cargo test --profile ci --test golden -- --ignored regenerate_golden`"
    );
}

fn golden_v3_opts() -> znn_gpu::CompressOptions {
    with_codecs(&golden_opts(), znn_gpu::codec::CodecSet::Small)
}

fn golden_v3_paths() -> (std::path::PathBuf, std::path::PathBuf) {
    let d = test_dir();
    (d.join("golden_v3.bin"), d.join("golden_v3.znn"))
}

/// BF16, FP16 and FP32 tensors whose mantissa top bits depend on the exponent ([`pair_skewed`]:
/// pair codes pay even in 4 KiB chunks), plus a few random U8 bytes that stay v1-coded.
fn golden_v3_input() -> Vec<u8> {
    safetensors(
        &[
            tensor(
                "p.bf16",
                "BF16",
                &[3000],
                pair_skewed(Layout::Bf16, 3000, 31),
            ),
            tensor("p.f16", "F16", &[2048], pair_skewed(Layout::Fp16, 2048, 32)),
            tensor("p.f32", "F32", &[1500], pair_skewed(Layout::Fp32, 1500, 33)),
            tensor("bytes", "U8", &[333], Rng::new(34).bytes(333)),
        ],
        Some(&[("note", "znn-gpu golden v3")]),
        true,
    )
}

fn golden_v4_opts() -> znn_gpu::CompressOptions {
    with_codecs(&golden_opts(), znn_gpu::codec::CodecSet::Smallest)
}

fn golden_v4_paths() -> (std::path::PathBuf, std::path::PathBuf) {
    let d = test_dir();
    (d.join("golden_v4.bin"), d.join("golden_v4.znn"))
}

/// The v3 golden input and a sparse U8 tensor (95% zeros, the rest small values: an XOR-like
/// stream where rANS beats Huffman's bit per symbol even in 256-symbol sub-streams).
fn golden_v4_input() -> Vec<u8> {
    let mut rng = Rng::new(44);
    let sparse: Vec<u8> = (0..8192)
        .map(|_| {
            if rng.below(20) == 0 {
                1 + rng.below(7) as u8
            } else {
                0
            }
        })
        .collect();
    let mut tensors = vec![tensor("sparse", "U8", &[8192], sparse)];
    for (name, dtype, r) in read_safetensors(&golden_v3_input()) {
        let data = golden_v3_input()[r].to_vec();
        let n = data.len() as u64 / expected_layout(&dtype).elem_size() as u64;
        tensors.push(tensor(&name, &dtype, &[n], data));
    }
    safetensors(&tensors, Some(&[("note", "znn-gpu golden v4")]), true)
}

#[test]
fn golden_v4_rans_decodes_and_is_rewritten_byte_for_byte() {
    let (bin, p) = golden_v4_paths();
    let orig = std::fs::read(&bin).unwrap_or_else(|e| panic!("{}: {e}", bin.display()));
    let z = std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    assert_eq!(z[8..10], [4, 0], "format version 4");
    assert_same(&decompress_bytes(&z).unwrap(), &orig, "golden_v4.znn");
    assert_same(&ref_decode(&z).unwrap(), &orig, "reference decoder, v4");
    let a = check_archive(&z, &orig, &golden_v4_opts(), "golden_v4.znn");
    let codecs: std::collections::HashSet<Codec> =
        a.index.streams().iter().map(|s| s.codec()).collect();
    assert!(
        codecs.contains(&Codec::Rans) && codecs.contains(&Codec::Pair),
        "codecs {codecs:?}"
    );
    let now = compress_bytes(&orig, &golden_v4_opts()).unwrap();
    assert!(
        now == z,
        "compressing golden_v4.bin with --codecs smallest no longer gives golden_v4.znn: \
         regenerate on purpose with `cargo test --profile ci --test golden -- --ignored regenerate_golden`"
    );
    assert_eq!(
        golden_v4_input(),
        orig,
        "golden_v4_input() no longer makes golden_v4.bin"
    );
}

#[test]
fn golden_v3_pair_codes_decode_and_are_rewritten_byte_for_byte() {
    let (bin, p) = golden_v3_paths();
    let orig = std::fs::read(&bin).unwrap_or_else(|e| panic!("{}: {e}", bin.display()));
    let z = std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    assert_eq!(z[8..10], [3, 0], "format version 3");
    assert_same(&decompress_bytes(&z).unwrap(), &orig, "golden_v3.znn");
    assert_same(&ref_decode(&z).unwrap(), &orig, "reference decoder, v3");
    let a = check_archive(&z, &orig, &golden_v3_opts(), "golden_v3.znn");
    let pairs = pair_counts(&a);
    assert!(
        pairs[0] >= 4 && pairs[0] == pairs[1],
        "pair streams {pairs:?}"
    );
    // Layouts with pair codes: bf16, fp16 and fp32.
    let paired: std::collections::HashSet<Layout> = a
        .index
        .chunks()
        .iter()
        .filter(|c| a.index.chunk_streams(c)[0].codec() == Codec::Pair)
        .map(|c| a.index.layout(c))
        .collect();
    assert_eq!(paired.len(), 3, "pair coded layouts {paired:?}");
    let bits: std::collections::HashSet<u8> = a
        .index
        .streams()
        .iter()
        .filter_map(|s| match s.pairing {
            znn_gpu::format::Pairing::Pair { bits } => Some(bits),
            _ => None,
        })
        .collect();
    eprintln!("golden v3: pair widths {bits:?}, pair streams {pairs:?}");
    let now = compress_bytes(&orig, &golden_v3_opts()).unwrap();
    assert!(
        now == z,
        "compressing golden_v3.bin with --codecs small no longer gives golden_v3.znn: \
         regenerate on purpose with `cargo test --profile ci --test golden -- --ignored regenerate_golden`"
    );
    assert_eq!(
        golden_v3_input(),
        orig,
        "golden_v3_input() still makes golden_v3.bin"
    );
    let fast = compress_bytes(&orig, &golden_opts()).unwrap();
    assert!(z.len() < fast.len(), "{} vs {} bytes", z.len(), fast.len());
}

#[test]
fn golden_decompresses_to_the_original() {
    let (orig, znn) = read_golden();
    assert_same(&decompress_bytes(&znn).unwrap(), &orig, "golden_v1.znn");
    let mut out = Vec::new();
    znn_gpu::decompress_stream(&mut std::io::Cursor::new(&znn), &mut out, &mut |_| {}).unwrap();
    assert_same(&out, &orig, "golden_v1.znn via decompress_stream");
    // And an independent decoder written from FORMAT.md agrees.
    assert_same(&ref_decode(&znn).unwrap(), &orig, "reference decoder");
}

#[test]
fn encoder_still_writes_the_golden_bytes() {
    let (orig, znn) = read_golden();
    let now = compress_bytes(&orig, &golden_opts()).unwrap();
    if now != znn {
        let first = now.iter().zip(&znn).position(|(a, b)| a != b);
        panic!(
            "compressing golden_v1.bin no longer gives golden_v1.znn ({} vs {} bytes, first \
             difference at {first:?}). If the encoder changed on purpose, regenerate with \
             `cargo test --profile ci --test golden -- --ignored regenerate_golden`",
            now.len(),
            znn.len()
        );
    }
    let mut streamed = Vec::new();
    znn_gpu::compress_stream(
        &mut std::io::Cursor::new(&orig),
        orig.len() as u64,
        &mut streamed,
        &golden_opts(),
        &mut |_| {},
    )
    .unwrap();
    assert_same(&streamed, &znn, "compress_stream of golden_v1.bin");
}

#[test]
fn golden_covers_every_codec_and_several_layouts() {
    let (orig, znn) = read_golden();
    let a = check_archive(&znn, &orig, &golden_opts(), "golden_v1.znn");
    let n = codec_counts(&a);
    for c in Codec::ALL.into_iter().filter(|c| c.min_version() == 1) {
        assert!(
            n[c as usize] > 0,
            "golden file has no {} stream: {n:?}",
            c.name()
        );
    }
    let layouts: std::collections::HashSet<Layout> =
        a.index.segments().iter().map(|s| s.layout).collect();
    assert_eq!(layouts.len(), Layout::ALL.len(), "layouts {layouts:?}");
    assert!(
        a.index.chunks().len() >= 8,
        "{} chunks",
        a.index.chunks().len()
    );
    assert!(
        orig.len() + znn.len() < 64 * 1024,
        "golden files must stay small"
    );
}

#[test]
fn golden_header_and_trailer_bytes() {
    let (orig, znn) = read_golden();
    // FORMAT.md: magic, version 1, flags 0, chunk_size 4096.
    assert_eq!(
        znn[..16],
        [0x89, b'Z', b'N', b'N', 0x0D, 0x0A, 0x1A, 0x0A, 1, 0, 0, 0, 0x00, 0x10, 0, 0]
    );
    assert_eq!(znn[znn.len() - 8..], *b"ZNNEND\0\x01");
    let t = &znn[znn.len() - 40..];
    assert_eq!(
        u64::from_le_bytes(t[8..16].try_into().unwrap()),
        orig.len() as u64
    );
    let a = Archive::from_bytes(&znn).unwrap();
    assert_eq!(
        a.trailer.index_len,
        u64::from_le_bytes(t[..8].try_into().unwrap())
    );
}

/// Writes tests/data/golden_v1.{bin,znn}. Run deliberately (see the module docs).
#[test]
#[ignore = "writes tests/data/golden_v1.*; run only to regenerate the golden files on purpose"]
fn regenerate_golden() {
    let orig = golden_input();
    let znn = compress_bytes(&orig, &golden_opts()).unwrap();
    check_archive(&znn, &orig, &golden_opts(), "new golden");
    let (bin, z) = golden_paths();
    std::fs::create_dir_all(test_dir()).unwrap();
    std::fs::write(&bin, &orig).unwrap();
    std::fs::write(&z, &znn).unwrap();
    let new = golden_v2_input(&orig);
    let base = znn_gpu::Base::from_bytes(orig.clone());
    let delta = znn_gpu::compress_bytes(
        &new,
        &common::with_base(&golden_opts(), &std::sync::Arc::new(base.clone())),
    )
    .unwrap();
    let (bin2, z2) = golden_v2_paths();
    std::fs::write(&bin2, &new).unwrap();
    std::fs::write(&z2, &delta).unwrap();
    let in3 = golden_v3_input();
    let v3 = compress_bytes(&in3, &golden_v3_opts()).unwrap();
    check_archive(&v3, &in3, &golden_v3_opts(), "new golden v3");
    let (bin3, z3) = golden_v3_paths();
    std::fs::write(&bin3, &in3).unwrap();
    std::fs::write(&z3, &v3).unwrap();
    let in4 = golden_v4_input();
    let v4 = compress_bytes(&in4, &golden_v4_opts()).unwrap();
    check_archive(&v4, &in4, &golden_v4_opts(), "new golden v4");
    let (bin4, z4) = golden_v4_paths();
    std::fs::write(&bin4, &in4).unwrap();
    std::fs::write(&z4, &v4).unwrap();
    eprintln!(
        "wrote {} ({} bytes) and {} ({} bytes)",
        bin.display(),
        orig.len(),
        z.display(),
        znn.len()
    );
}
