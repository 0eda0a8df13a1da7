//! Replays the fuzz seed corpus (`fuzz/seeds/<target>/`: generated seeds, and `found-*` inputs
//! that fuzzing runs kept as covering new code) and every saved fuzz finding
//! (`tests/data/fuzz/<target>-<what>.bin`) through the fuzz targets' own bodies (`fuzz/harness.rs`),
//! on the stable toolchain: each must end in a clean error or correct output, never a panic.
//!
//! The seeds are regenerated (after a change of the harness's input recipes or of the encoder) with
//! `cargo test --profile ci --test fuzz_regressions -- --ignored regenerate_fuzz_seeds`.

use znn_test_support as common;
use znn_test_support::fuzz as harness;

use common::*;
use std::path::{Path, PathBuf};
use znn_gpu::format::{Codec, TRAILER_LEN};
use znn_gpu::{compress_bytes, Archive, Layout};

fn target(name: &str) -> harness::Target {
    harness::TARGETS
        .iter()
        .find(|t| t.0 == name)
        .unwrap_or_else(|| panic!("no fuzz target named {name}"))
        .1
}

fn files(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)?
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .collect();
    v.sort();
    Ok(v)
}

fn replay(name: &str, path: &Path) {
    let data = std::fs::read(path).unwrap();
    let run = target(name);
    if std::panic::catch_unwind(|| run(&data)).is_err() {
        panic!("fuzz target {name} panics on {}", path.display());
    }
}

#[test]
fn seed_corpus_replays() {
    let root = crate_root().join("fuzz/seeds");
    for (name, _) in harness::TARGETS {
        let seeds = files(&root.join(name)).unwrap();
        assert!(!seeds.is_empty(), "no seeds for {name}");
        for p in seeds {
            replay(name, &p);
        }
    }
}

#[test]
fn saved_findings_replay() {
    let found = files(&test_dir().join("fuzz")).unwrap();
    for p in found
        .iter()
        .filter(|p| p.extension().is_some_and(|e| e == "bin"))
    {
        let file = p.file_name().unwrap().to_string_lossy().into_owned();
        let name = harness::TARGETS
            .iter()
            .map(|t| t.0)
            .find(|t| file.starts_with(&format!("{t}-")))
            .unwrap_or_else(|| panic!("{file}: name must start with a fuzz target name and '-'"));
        replay(name, p);
    }
}

// ---------------------------------------------------------------------------------------------
// Seed generation
// ---------------------------------------------------------------------------------------------

/// Byte that `harness::chunk_size` maps to 4096 (the smallest chunk: most chunks per byte).
const CS_4096: u8 = 3;

/// A small safetensors file cut from the shipped model: its first tensors, up to `budget` bytes.
fn model_slice(budget: usize) -> Vec<u8> {
    let model = repo_model();
    let mut tensors = Vec::new();
    let mut used = 0;
    for (name, dtype, range) in read_safetensors(&model) {
        if used + range.len() > budget {
            continue;
        }
        used += range.len();
        let n = range.len() as u64 / 4;
        tensors.push(tensor(&name, &dtype, &[n], model[range].to_vec()));
    }
    safetensors(&tensors, Some(&[("format", "pt")]), true)
}

/// Raw F32 weights of the shipped model: the data of its largest tensors, `len` bytes.
fn model_f32(len: usize) -> Vec<u8> {
    let model = repo_model();
    let mut t = read_safetensors(&model);
    t.sort_by_key(|t| std::cmp::Reverse(t.2.len()));
    model[t[0].2.start..t[0].2.start + len].to_vec()
}

fn cat(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

/// `archive_parse` index mode: chunk-size byte, original length, data length, index bytes.
fn index_seed(znn: &[u8]) -> Vec<u8> {
    let a = Archive::from_bytes(znn).unwrap();
    assert_eq!(a.header.chunk_size, 4096);
    let end = znn.len() - TRAILER_LEN;
    let index = &znn[end - a.trailer.index_len as usize..end];
    let ol = a.trailer.original_len.to_le_bytes();
    let dl = a.data_len().to_le_bytes();
    cat(&[&[1, CS_4096], &ol, &dl, index])
}

/// `huffman_decode` forged mode (16-bit sub-stream lengths) holding the real Huffman streams of a
/// file compressed with 256-symbol sub-streams.
fn huffman_seeds(znn: &[u8], max: usize) -> Vec<Vec<u8>> {
    let a = Archive::from_bytes(znn).unwrap();
    assert_eq!(a.index.sub_symbols(), 256);
    let mut out = Vec::new();
    for c in a.index.chunks() {
        let n = c.orig_len as usize / a.index.layout(c).elem_size();
        for s in a.index.chunk_streams(c) {
            if s.codec() != Codec::Huffman || out.len() == max {
                continue;
            }
            let mut seed = vec![4, 0];
            seed.extend_from_slice(&((n - 1) as u16).to_le_bytes());
            for &l in a.index.stream_sub_lens(s, n) {
                seed.extend_from_slice(&(l as u16).to_le_bytes());
            }
            let at = (Archive::DATA_START + s.data_offset) as usize;
            seed.extend_from_slice(&znn[at..at + s.comp_len as usize]);
            out.push(seed);
        }
    }
    out
}

/// `chunk_decode` recipe: every stream of every chunk coded with `codec`, from skewed data over a
/// small alphabet (const streams from one symbol); `cs` is the chunk-size byte and its size.
/// `harness::forge_stream` reads kind, then damage and position for Huffman and zstd; damage 4
/// changes nothing.
fn chunk_seed(layout: Layout, codec: u8, elems: u32, cs: (u8, usize), sub: u8) -> Vec<u8> {
    let es = layout.elem_size();
    let mut s = vec![layout.id(), cs.0, sub];
    s.extend_from_slice(&(elems - 1).to_le_bytes());
    s.extend_from_slice(&0x9E37_79B9_7F4A_7C15u64.to_le_bytes());
    s.extend_from_slice(&[4, 0, 1, 2, 3, 0xFE]);
    let chunks = (elems as usize * es).div_ceil(cs.1);
    for _ in 0..chunks {
        s.extend_from_slice(&vec![u8::from(codec != 1); es]);
        for _ in 0..es {
            s.push(codec);
            if codec >= 2 {
                s.extend_from_slice(&[4, 0, 0, 0, 0]);
            }
        }
    }
    s
}

#[test]
#[ignore = "writes fuzz/seeds; run by hand after a change of the harness recipes or the encoder"]
fn regenerate_fuzz_seeds() {
    let golden = std::fs::read(test_dir().join("golden_v1.znn")).unwrap();
    let golden_bin = std::fs::read(test_dir().join("golden_v1.bin")).unwrap();
    let st = model_slice(24 << 10);
    let f32s = model_f32(16 << 10);
    let bf16 = f32_to_bf16(&f32s);
    let f16 = f32_to_f16(&f32s[..8192]);
    let z = |b: &[u8], sub, dtype| compress_bytes(b, &opts(4096, sub, dtype)).unwrap();
    let znns = [
        ("golden", golden.clone()),
        ("mobilenet-st", z(&st, 256, Layout::Bf16)),
        ("bf16", z(&bf16, 256, Layout::Bf16)),
        ("fp16", z(&f16, 512, Layout::Fp16)),
        ("fp32", z(&f32s[..8192], 256, Layout::Fp32)),
    ];
    let mut seeds: Vec<(&str, String, Vec<u8>)> = Vec::new();
    // Pair codes (format v3): files, their indexes, and pair streams alone.
    let golden_v3 = std::fs::read(test_dir().join("golden_v3.znn")).unwrap();
    let zp = |b: &[u8], sub, dtype| {
        let o = with_codecs(&opts(4096, sub, dtype), znn_gpu::codec::CodecSet::Small);
        compress_bytes(b, &o).unwrap()
    };
    let pair_znns = [
        ("golden-v3", golden_v3),
        ("bf16-pair", zp(&bf16, 256, Layout::Bf16)),
        ("fp16-pair", zp(&f16, 512, Layout::Fp16)),
        ("fp32-pair", zp(&f32s[..8192], 256, Layout::Fp32)),
    ];
    for (name, f) in &pair_znns {
        seeds.push(("archive_parse", name.to_string(), cat(&[&[0], f])));
        seeds.push(("archive_parse", format!("{name}-index"), index_seed(f)));
        seeds.push(("decompress", name.to_string(), f.clone()));
        seeds.push((
            "no_output_leak",
            format!("znn-{name}"),
            cat(&[&[1, 0x10, 0x27, 0x00, 0x03], f]),
        ));
    }
    let alphabet8 = [120u8, 121, 119, 122, 118, 3, 200, 7];
    for bits in 1..=4u8 {
        for (name, mode) in [("encode", 1u8), ("encode-long", 7)] {
            let mut s = vec![mode, 4, bits, 0xB8, 0x0B, 4];
            s.extend_from_slice(&[0x35, 0x12, 0, 0, 7, 0, 0, 0, 0, 0, 0, 1]);
            s.extend_from_slice(&alphabet8);
            seeds.push(("pair_decode", format!("{name}-k{bits}"), s.clone()));
            s[5] = 0;
            seeds.push(("pair_decode", format!("{name}-k{bits}-flipped"), s));
        }
    }
    // Forged mode: a valid two-symbol table (first 0, last 1, lengths 1 and 1) and some bits.
    seeds.push((
        "pair_decode",
        "forged".into(),
        vec![0, 0, 1, 0x10, 0, 0, 0, 1, 0, 0x11, 0xA5, 0x5A, 0xFF],
    ));
    for (name, f) in &znns {
        seeds.push(("archive_parse", name.to_string(), cat(&[&[0], f])));
        seeds.push(("decompress", name.to_string(), f.clone()));
        if *name != "fp16" {
            seeds.push(("archive_parse", format!("{name}-index"), index_seed(f)));
        }
    }
    for (i, s) in huffman_seeds(&golden, 4).into_iter().enumerate() {
        seeds.push(("huffman_decode", format!("golden-{i}"), s));
    }
    for (i, s) in huffman_seeds(&znns[2].1, 2).into_iter().enumerate() {
        seeds.push(("huffman_decode", format!("bf16-{i}"), s));
    }
    // Encode mode: skewed data over an alphabet; 8x length (multi-symbol tables); a damaged one.
    let alphabet = [120u8, 121, 119, 122, 118, 3, 200, 7];
    for (name, mode, n, damage) in [("encode", 1u8, 3000u16, 4u8), ("encode-long", 3, 4000, 4)] {
        let mut s = vec![mode | 4, 4];
        s.extend_from_slice(&n.to_le_bytes());
        s.push(damage);
        s.extend_from_slice(&[0x35, 0x12, 0, 0, 7, 0, 0, 0, 0, 0, 0, 1]);
        s.extend_from_slice(&alphabet);
        seeds.push(("huffman_decode", name.into(), s.clone()));
        s[4] = 0;
        seeds.push(("huffman_decode", format!("{name}-flipped"), s));
    }
    for layout in Layout::ALL {
        for (codec, cname) in ["raw", "const", "huffman", "zstd"].iter().enumerate() {
            let elems = 5000 / layout.elem_size() as u32;
            let s = chunk_seed(layout, codec as u8, elems, (CS_4096, 4096), 0);
            seeds.push(("chunk_decode", format!("{}-{cname}", layout.name()), s));
        }
    }
    let two = chunk_seed(Layout::Byte, 2, 2 * 4096, (CS_4096, 4096), 6);
    seeds.push(("chunk_decode", "byte-huffman-2chunks".into(), two));
    // 64 KiB chunks: streams long enough for the multi-symbol tables.
    let long = chunk_seed(Layout::Bf16, 2, 40000, (2, 65536), 4);
    seeds.push(("chunk_decode", "bf16-huffman-long".into(), long));
    // Round trip: flags (bit 2: also compare compress_stream), dtype, chunk size, sub size.
    let rt = |flags: u8, dtype: Layout, sub: u8, body: &[u8]| {
        cat(&[&[flags, dtype.id(), CS_4096, sub], body])
    };
    seeds.push((
        "roundtrip",
        "golden-st".into(),
        rt(7, Layout::Bf16, 0, &golden_bin),
    ));
    seeds.push((
        "roundtrip",
        "mobilenet-st".into(),
        rt(7, Layout::Bf16, 0, &st),
    ));
    seeds.push((
        "roundtrip",
        "fp32".into(),
        rt(3, Layout::Fp32, 0, &f32s[..12288]),
    ));
    seeds.push(("roundtrip", "bf16".into(), rt(7, Layout::Bf16, 1, &bf16)));
    // The dtype byte's bits 3.. choose the codec set: + 8 balanced, + 16 small.
    let rtc = |flags: u8, dtype: Layout, set: u8, sub: u8, body: &[u8]| {
        cat(&[&[flags, dtype.id() + 8 * set, CS_4096, sub], body])
    };
    seeds.push((
        "roundtrip",
        "bf16-balanced".into(),
        rtc(7, Layout::Bf16, 1, 1, &bf16),
    ));
    seeds.push((
        "roundtrip",
        "fp16-small".into(),
        rtc(3, Layout::Fp16, 2, 2, &f16),
    ));
    seeds.push((
        "roundtrip",
        "fp32-small".into(),
        rtc(3, Layout::Fp32, 2, 0, &f32s[..12288]),
    ));
    seeds.push((
        "roundtrip",
        "golden-st-balanced".into(),
        rtc(7, Layout::Bf16, 1, 0, &golden_bin),
    ));
    seeds.push(("roundtrip", "fp16".into(), rt(3, Layout::Fp16, 2, &f16)));
    seeds.push((
        "roundtrip",
        "fp64".into(),
        rt(3, Layout::Fp64, 0, &f32s[..4096]),
    ));
    let skew = cat(&[&[0x40, 0x1F], &[0x15; 8], &alphabet]);
    seeds.push(("roundtrip", "skewed".into(), rt(5, Layout::Bf16, 0, &skew)));
    // safetensors built by the harness: 32 recipe bytes, then tensor data.
    let recipe = [
        5u8, 0, 0x00, 0x10, 0, 2, 0x00, 0x08, 1, 1, 0x00, 0x04, 0, 3, 0, 0,
    ];
    let mut st_seed = rt(6, Layout::Byte, 0, &recipe);
    st_seed.resize(4 + 32, 0);
    st_seed.extend_from_slice(&bf16[..8192]);
    seeds.push(("roundtrip", "harness-st".into(), st_seed));
    // No output leak: flags (bit 0: the body is a .znn to decode as it is), two range cuts, then
    // a fresh file's dtype, chunk size, sub size and data, or the .znn.
    let leak = |flags: u8, tail: &[u8]| cat(&[&[flags, 0x10, 0x27, 0x00, 0x03], tail]);
    let fresh = |dtype: Layout, sub: u8, body: &[u8]| cat(&[&[dtype.id(), CS_4096, sub], body]);
    seeds.push((
        "no_output_leak",
        "fresh-golden".into(),
        leak(0, &fresh(Layout::Bf16, 0, &golden_bin)),
    ));
    seeds.push((
        "no_output_leak",
        "fresh-fp32".into(),
        leak(0, &fresh(Layout::Fp32, 0, &f32s[..12288])),
    ));
    seeds.push(("no_output_leak", "znn-golden".into(), leak(1, &golden)));
    seeds.push(("no_output_leak", "znn-bf16".into(), leak(1, &znns[2].1)));

    // Generated seeds are replaced; `found-*` inputs (kept from fuzzing runs) stay.
    let root = crate_root().join("fuzz/seeds");
    for (t, _) in harness::TARGETS {
        for p in files(&root.join(t)).unwrap_or_default() {
            if !p
                .file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("found-")
            {
                std::fs::remove_file(p).unwrap();
            }
        }
    }
    for (t, name, data) in seeds {
        let dir = root.join(t);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(format!("{name}.bin")), data).unwrap();
    }
    let total: u64 = harness::TARGETS
        .iter()
        .flat_map(|t| files(&root.join(t.0)).unwrap())
        .map(|p| p.metadata().unwrap().len())
        .sum();
    assert!(
        total < 2 << 20,
        "seed corpus is {total} bytes: keep it under 2 MB"
    );
    seed_corpus_replays();
}
