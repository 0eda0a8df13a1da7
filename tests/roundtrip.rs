//! Round trips: compress then decompress gives the input back, in memory and through the streaming
//! functions (which must write the very same bytes), with the archive's metadata checked against the
//! input and the output checked by an independent reference decoder (tests/common). Also: codec
//! choices and compressed sizes that are real properties of the data.

mod common;

use common::*;
use znn_gpu::format::Codec;
use znn_gpu::{compress_bytes, decompress_bytes, Archive, CompressOptions, Error, Layout};

const CODEC_NAMES: [&str; 4] = ["raw", "const", "huffman", "zstd"];

fn ratio(znn: &[u8], orig: &[u8]) -> f64 {
    100.0 * znn.len() as f64 / orig.len() as f64
}

/// Every tensor's whole elements lie in segments of the layout its dtype implies; the header lies in
/// byte segments.
fn check_safetensors_segments(file: &[u8], a: &Archive) {
    let layout_at = |pos: u64| {
        let s = a
            .index
            .segments
            .iter()
            .find(|s| s.offset <= pos && pos < s.offset + s.len)
            .unwrap();
        s.layout
    };
    let header_end = 8 + u64::from_le_bytes(file[..8].try_into().unwrap());
    for p in [0, header_end / 2, header_end - 1] {
        assert_eq!(layout_at(p), Layout::Byte, "header byte {p}");
    }
    for (name, dtype, r) in read_safetensors(file) {
        let l = expected_layout(&dtype);
        let es = l.elem_size();
        let whole = (r.len() / es * es) as u64;
        if whole == 0 {
            continue;
        }
        let (start, end) = (r.start as u64, r.start as u64 + whole);
        // The segments overlapping [start, end) all have layout l.
        for s in &a.index.segments {
            if s.offset < end && start < s.offset + s.len {
                assert_eq!(s.layout, l, "tensor {name} ({dtype}) in segment {s:?}");
            }
        }
    }
}

// ------------------------------------------------------------------------------------------
// Real weights
// ------------------------------------------------------------------------------------------

#[test]
fn repo_model_file() {
    let data = repo_model();
    let o = CompressOptions::default();
    let znn = roundtrip(&data, &o, "data/mobilenet-v2.fp32.safetensors");
    let a = Archive::from_bytes(&znn).unwrap();
    check_safetensors_segments(&data, &a);
    let r = ratio(&znn, &data);
    eprintln!("mobilenet-v2.fp32: {r:.2}%");
    // ZipNN 0.5.4 reaches 83.30% on this file (../shared/corpus/README.md); the per-tensor order-0
    // entropy bound is 82.64%.
    assert!(
        r <= 83.30,
        "mobilenet-v2.fp32 compresses to {r:.2}% (> ZipNN's 83.30%)"
    );
    assert!(
        r > 80.0,
        "{r:.2}% is below the entropy bound: impossible for a lossless coder"
    );
}

#[test]
fn repo_model_small_chunks_and_substreams() {
    let data = repo_model();
    let part = &data[..3 << 20];
    for (cs, sub) in [(4096, 256), (65536 + 8, 65536), (16 << 20, 4096)] {
        roundtrip(
            part,
            &opts(cs, sub, Layout::Bf16),
            &format!("mobilenet {cs}/{sub}"),
        );
    }
}

#[test]
fn corpus_bf16_model() {
    let Some(data) = corpus("minilm-l6.bf16.safetensors", "corpus_bf16_model") else {
        return;
    };
    let znn = roundtrip(&data, &CompressOptions::default(), "minilm-l6.bf16");
    let a = Archive::from_bytes(&znn).unwrap();
    check_safetensors_segments(&data, &a);
    let r = ratio(&znn, &data);
    eprintln!("minilm-l6.bf16: {r:.2}%");
    assert!(
        r <= 66.52,
        "minilm-l6.bf16 compresses to {r:.2}% (> ZipNN's 66.52%)"
    );
}

#[test]
fn corpus_fp32_model() {
    let Some(data) = corpus("mobilenet-v2.fp32.safetensors", "corpus_fp32_model") else {
        return;
    };
    assert_same(&data, &repo_model(), "the repo's copy of the corpus file");
    let znn = roundtrip(
        &data,
        &opts(1 << 20, 4096, Layout::Fp32),
        "mobilenet-v2.fp32 1 MiB chunks",
    );
    assert!(ratio(&znn, &data) <= 83.30);
}

#[test]
fn derived_dtypes_from_real_weights() {
    let model = repo_model();
    // All F32 tensor data of the model, concatenated.
    let mut f32s = Vec::new();
    for (_, dtype, r) in read_safetensors(&model) {
        if dtype == "F32" {
            f32s.extend_from_slice(&model[r]);
        }
    }
    let f32s = &f32s[..f32s.len().min(6 << 20)];
    let bf16 = f32_to_bf16(f32s);
    let f16 = f32_to_f16(f32s);
    let clean = bf16_widen(&bf16);

    let o = |l| opts(256 * 1024, 4096, l);
    let zb = roundtrip(&bf16, &o(Layout::Bf16), "bf16 from fp32");
    let zh = roundtrip(&f16, &o(Layout::Fp16), "fp16 from fp32");
    let zc = roundtrip(&clean, &o(Layout::Fp32), "clean fp32 (widened bf16)");
    let (rb, rh, rc) = (ratio(&zb, &bf16), ratio(&zh, &f16), ratio(&zc, &clean));
    eprintln!("derived: bf16 {rb:.2}%, fp16 {rh:.2}%, clean fp32 {rc:.2}%");
    assert!(rb < 80.0, "bf16 {rb:.2}%");
    assert!(rh < 95.0, "fp16 {rh:.2}%");
    // The two low bytes of every element are zero: they must cost (almost) nothing, so the clean
    // FP32 file is about half its BF16 ratio.
    assert!(rc < 55.0, "clean fp32 {rc:.2}%");
    assert!(rc < rb / 2.0 + 1.0, "clean fp32 {rc:.2}% vs bf16 {rb:.2}%");
    let a = Archive::from_bytes(&zc).unwrap();
    for c in &a.index.chunks {
        let s = a.index.chunk_streams(c);
        assert!(
            s[2].codec == Codec::Const
                && s[2].value == 0
                && s[3].codec == Codec::Const
                && s[3].value == 0,
            "zero low bytes must be const streams: {s:?}"
        );
    }
    // The same bytes with a wrong dtype still round-trip (only the ratio suffers).
    roundtrip(&bf16[..1 << 20], &o(Layout::Fp32), "bf16 bytes as fp32");
    roundtrip(&clean[..1 << 20], &o(Layout::Fp16), "fp32 bytes as fp16");
}

// ------------------------------------------------------------------------------------------
// Generated data, every layout
// ------------------------------------------------------------------------------------------

#[test]
fn generated_floats_every_layout() {
    for (i, l) in Layout::ALL.into_iter().enumerate() {
        let mut rng = Rng::new(100 + i as u64);
        let v = mixed_floats(&mut rng, 70_000);
        let data = encode_floats(l, &v);
        for (cs, sub) in [(65536, 4096), (4096, 256), (65536 + 8, 65536)] {
            let znn = roundtrip(&data, &opts(cs, sub, l), &format!("{l:?} {cs}/{sub}"));
            let a = Archive::from_bytes(&znn).unwrap();
            assert_eq!(a.index.segments.len(), 1);
            assert_eq!(a.index.segments[0].layout, l);
        }
    }
}

#[test]
fn special_values_survive_bit_exactly() {
    // NaN payloads, signalling NaNs, -0, subnormals, Inf: compared as bits, not as floats.
    let bits32: Vec<u32> = vec![
        0x7FC0_0000,
        0x7F80_0001,
        0xFFC0_1234,
        0x7FFF_FFFF,
        0x8000_0000,
        0x0000_0001,
        0x807F_FFFF,
        0x7F80_0000,
        0xFF80_0000,
        0x0000_0000,
        0x3F80_0000,
        0x0080_0000,
    ];
    let f32s: Vec<u8> = bits32
        .iter()
        .cycle()
        .take(30_011)
        .flat_map(|w| w.to_le_bytes())
        .collect();
    let f64s: Vec<u8> = [
        0x7FF8_0000_0000_0001u64,
        0x8000_0000_0000_0000,
        1,
        0xFFF0_0000_0000_0000,
    ]
    .iter()
    .cycle()
    .take(20_000)
    .flat_map(|w| w.to_le_bytes())
    .collect();
    let h16: Vec<u8> = [0x7E01u16, 0x8000, 0x0001, 0x7C00, 0xFC00, 0x03FF, 0xFF81]
        .iter()
        .cycle()
        .take(40_003)
        .flat_map(|w| w.to_le_bytes())
        .collect();
    roundtrip(&f32s, &opts(4096, 256, Layout::Fp32), "f32 specials");
    roundtrip(
        &f32s,
        &opts(4096, 256, Layout::Group4),
        "f32 specials as group4",
    );
    roundtrip(&f64s, &opts(4096, 256, Layout::Fp64), "f64 specials");
    roundtrip(&h16, &opts(4096, 256, Layout::Fp16), "f16 specials");
    roundtrip(&h16, &opts(4096, 256, Layout::Bf16), "bf16 specials");
}

#[test]
fn all_zero_and_constant_data() {
    for l in Layout::ALL {
        let zeros = vec![0u8; 1 << 20];
        let znn = roundtrip(&zeros, &opts(65536, 4096, l), &format!("zeros {l:?}"));
        assert!(
            ratio(&znn, &zeros) < 1.0,
            "all-zero {l:?}: {:.3}%",
            ratio(&znn, &zeros)
        );
        let a = Archive::from_bytes(&znn).unwrap();
        assert!(a
            .index
            .streams
            .iter()
            .all(|s| s.codec == Codec::Const && s.value == 0));
        assert_eq!(a.data_len(), 0);

        // A constant element (not a constant byte): every stream is const, with the right value.
        let elem: Vec<u8> = (0..l.elem_size() as u8).map(|b| 0x3C + 17 * b).collect();
        let data: Vec<u8> = elem.iter().copied().cycle().take(300_000 / 8 * 8).collect();
        let znn = roundtrip(&data, &opts(65536, 4096, l), &format!("constant {l:?}"));
        assert!(ratio(&znn, &data) < 1.0);
        let a = Archive::from_bytes(&znn).unwrap();
        assert!(a.index.streams.iter().all(|s| s.codec == Codec::Const));
    }
}

#[test]
fn odd_lengths_and_tiny_inputs() {
    let mut rng = Rng::new(7);
    let base = encode_floats(Layout::Fp64, &mixed_floats(&mut rng, 9000));
    for l in Layout::ALL {
        for len in [
            1usize, 2, 3, 4, 5, 7, 8, 9, 15, 17, 4095, 4096, 4097, 4099, 8191, 8200, 65539,
        ] {
            let data = &base[..len];
            let znn = roundtrip(data, &opts(4096, 256, l), &format!("{l:?} len {len}"));
            let a = Archive::from_bytes(&znn).unwrap();
            let es = l.elem_size();
            let whole = len / es * es;
            // Whole elements in the chosen layout, the remainder as bytes.
            let segs: Vec<(Layout, u64)> =
                a.index.segments.iter().map(|s| (s.layout, s.len)).collect();
            let mut want = Vec::new();
            if whole > 0 {
                want.push((l, whole as u64));
            }
            if len > whole {
                want.push((Layout::Byte, (len - whole) as u64));
            }
            if l == Layout::Byte {
                want = vec![(Layout::Byte, len as u64)];
            }
            assert_eq!(segs, want, "{l:?} len {len}");
        }
    }
}

#[test]
fn empty_input() {
    for l in Layout::ALL {
        let znn = roundtrip(&[], &opts(4096, 256, l), "empty");
        let a = Archive::from_bytes(&znn).unwrap();
        assert!(a.index.segments.is_empty() && a.index.chunks.is_empty());
        assert_eq!(a.trailer.original_len, 0);
        assert_eq!(decompress_bytes(&znn).unwrap(), Vec::<u8>::new());
        // Header + minimal index (segment count, sub_symbols) + trailer.
        assert_eq!(znn.len(), HEADER_LEN + 8 + TRAILER_LEN);
    }
}

#[test]
fn eleven_bit_codes() {
    let mut rng = Rng::new(11);
    let data = fibonacci_bytes(&mut rng, 200_000);
    for (cs, sub) in [(256 * 1024, 4096), (65536, 256)] {
        let znn = roundtrip(&data, &opts(cs, sub, Layout::Byte), "fibonacci");
        let a = Archive::from_bytes(&znn).unwrap();
        let mut max_len = 0;
        for s in &a.index.streams {
            assert_eq!(s.codec, Codec::Huffman);
            let p = &znn[HEADER_LEN + s.data_offset as usize..];
            let lens = ref_table(p).unwrap();
            max_len = max_len.max(*lens.iter().max().unwrap());
        }
        assert_eq!(max_len, 11, "fibonacci histogram must hit the 11-bit limit");
        // Entropy of this (geometric, ratio 1/φ) histogram is ~2.5 bits/symbol.
        assert!(ratio(&znn, &data) < 34.5, "{:.2}%", ratio(&znn, &data));
    }
}

#[test]
fn mostly_zero_data_uses_zstd() {
    let mut rng = Rng::new(3);
    let data = mostly_zero(&mut rng, 3 << 20);
    for l in [Layout::Bf16, Layout::Fp32, Layout::Byte] {
        let znn = roundtrip(
            &data,
            &opts(256 * 1024, 4096, l),
            &format!("mostly zero {l:?}"),
        );
        let a = Archive::from_bytes(&znn).unwrap();
        let n = codec_counts(&a);
        assert!(n[Codec::Zstd as usize] > 0, "{l:?}: no zstd stream: {n:?}");
        let r = ratio(&znn, &data);
        eprintln!("mostly zero {l:?}: {r:.2}% codecs {n:?}");
        assert!(r < 5.0, "{l:?}: {r:.2}%");
    }
}

#[test]
fn random_bytes_barely_expand() {
    let mut rng = Rng::new(99);
    let data = rng.bytes(2 << 20);
    for l in Layout::ALL {
        let znn = roundtrip(&data, &opts(256 * 1024, 4096, l), &format!("random {l:?}"));
        let r = ratio(&znn, &data);
        assert!(r < 101.0, "random bytes as {l:?} expand to {r:.3}%");
        let a = Archive::from_bytes(&znn).unwrap();
        assert!(
            a.index.streams.iter().all(|s| s.codec == Codec::Raw),
            "{l:?}"
        );
    }
}

// ------------------------------------------------------------------------------------------
// safetensors
// ------------------------------------------------------------------------------------------

#[test]
fn safetensors_every_dtype() {
    let mut rng = Rng::new(42);
    let fl = |rng: &mut Rng, l, n| encode_floats(l, &mixed_floats(rng, n));
    let ts = vec![
        tensor("a.bf16", "BF16", &[3000], fl(&mut rng, Layout::Bf16, 3000)),
        tensor("b.f16", "F16", &[50, 61], fl(&mut rng, Layout::Fp16, 3050)),
        tensor("c.f32", "F32", &[4001], fl(&mut rng, Layout::Fp32, 4001)),
        tensor("d.f64", "F64", &[1500], fl(&mut rng, Layout::Fp64, 1500)),
        tensor(
            "e.i64",
            "I64",
            &[700],
            (0..700i64)
                .flat_map(|i| (i * i - 9000).to_le_bytes())
                .collect(),
        ),
        tensor(
            "f.i32",
            "I32",
            &[901],
            (0..901i32)
                .flat_map(|i| (i * 7 - 3000).to_le_bytes())
                .collect(),
        ),
        tensor("g.u8", "U8", &[999], rng.bytes(999)),
        tensor(
            "h.f8",
            "F8_E4M3",
            &[2049],
            (0..2049).map(|_| rng.below(120) as u8).collect(),
        ),
        tensor(
            "i.bool",
            "BOOL",
            &[333],
            (0..333).map(|_| rng.below(2) as u8).collect(),
        ),
        tensor("j.u16", "U16", &[17], rng.bytes(34)),
        tensor("k.empty", "F32", &[0], Vec::new()),
    ];
    let meta = [("format", "pt"), ("source", "znn-gpu tests")];
    for pad in [true, false] {
        let file = safetensors(&ts, Some(&meta), pad);
        for (cs, sub) in [(4096, 256), (256 * 1024, 4096), (65536 + 8, 65536)] {
            let znn = roundtrip(
                &file,
                &opts(cs, sub, Layout::Fp64),
                &format!("mixed st {cs}/{sub}"),
            );
            let a = Archive::from_bytes(&znn).unwrap();
            check_safetensors_segments(&file, &a);
            let layouts: std::collections::HashSet<Layout> =
                a.index.segments.iter().map(|s| s.layout).collect();
            assert_eq!(layouts.len(), 6, "every layout is used: {layouts:?}");
        }
    }
}

#[test]
fn safetensors_many_tiny_tensors() {
    let mut rng = Rng::new(5);
    let dtypes = [
        "BF16", "F16", "F32", "F64", "I64", "I32", "U8", "BOOL", "F8_E5M2",
    ];
    let ts: Vec<Tensor> = (0..400)
        .map(|i| {
            let dt = dtypes[i % dtypes.len()];
            let n = 1 + rng.below(40) as usize;
            let es = expected_layout(dt).elem_size();
            tensor(&format!("layer.{i}.w"), dt, &[n as u64], rng.bytes(n * es))
        })
        .collect();
    let file = safetensors(&ts, None, true);
    for cs in [4096, 65536] {
        let znn = roundtrip(&file, &opts(cs, 256, Layout::Bf16), "many tiny tensors");
        let a = Archive::from_bytes(&znn).unwrap();
        check_safetensors_segments(&file, &a);
        assert!(
            a.index.segments.len() > 100,
            "{} segments",
            a.index.segments.len()
        );
    }
}

#[test]
fn safetensors_odd_tensor_lengths_and_odd_headers() {
    let mut rng = Rng::new(6);
    // Byte lengths that are not whole elements of the dtype (a malformed but parseable file).
    let ts = vec![
        tensor("f32_6", "F32", &[1], rng.bytes(6)),
        tensor("bf16_odd", "BF16", &[2000], rng.bytes(4001)),
        tensor("f64_13", "F64", &[1], rng.bytes(13)),
        tensor("i32_4099", "I32", &[1024], rng.bytes(4099)),
        tensor("f16_1", "F16", &[1], rng.bytes(1)),
    ];
    for pad in [false, true] {
        let file = safetensors(&ts, None, pad);
        for cs in [4096, 65536] {
            roundtrip(&file, &opts(cs, 256, Layout::Fp32), "odd tensor lengths");
        }
    }
    // Things that look like safetensors but are not: they are compressed as plain data.
    let mut fake = (1_000_000u64).to_le_bytes().to_vec(); // header longer than the file
    fake.extend(rng.bytes(5000));
    roundtrip(
        &fake,
        &opts(4096, 256, Layout::Bf16),
        "header length past the end",
    );
    let mut bad_json = 20u64.to_le_bytes().to_vec();
    bad_json.extend_from_slice(b"{\"a\": {\"dtype\": [}}}");
    bad_json.extend(rng.bytes(3000));
    roundtrip(&bad_json, &opts(4096, 256, Layout::Fp16), "bad json");
    let out_of_range = safetensors(&[tensor("x", "F32", &[2], rng.bytes(8))], None, false);
    let cut = &out_of_range[..out_of_range.len() - 3];
    roundtrip(
        cut,
        &opts(4096, 256, Layout::Fp32),
        "tensor past the end of the file",
    );
    // Overlapping tensors and gaps between tensors.
    let mut obj = serde_json::Map::new();
    obj.insert(
        "a".into(),
        serde_json::json!({"dtype":"F32","shape":[100],"data_offsets":[0,400]}),
    );
    obj.insert(
        "b".into(),
        serde_json::json!({"dtype":"BF16","shape":[100],"data_offsets":[200,400]}),
    );
    obj.insert(
        "c".into(),
        serde_json::json!({"dtype":"F64","shape":[10],"data_offsets":[1000,1080]}),
    );
    let json = serde_json::to_vec(&serde_json::Value::Object(obj)).unwrap();
    let mut f = (json.len() as u64).to_le_bytes().to_vec();
    f.extend_from_slice(&json);
    f.extend(rng.bytes(1200));
    roundtrip(&f, &opts(4096, 256, Layout::Bf16), "overlaps and gaps");
}

// ------------------------------------------------------------------------------------------
// Options
// ------------------------------------------------------------------------------------------

#[test]
fn chunk_and_substream_sizes() {
    let mut rng = Rng::new(8);
    let data: Vec<u8> = (0..400_000)
        .flat_map(|_| half::bf16::from_f64(rng.normal(0.05)).to_le_bytes())
        .collect();
    let mut sizes = Vec::new();
    for cs in [4096u32, 4104, 65536 + 8, 256 * 1024, 1 << 20] {
        for sub in [256u32, 1024, 4096, 65536] {
            let znn = roundtrip(
                &data,
                &opts(cs, sub, Layout::Bf16),
                &format!("bf16 {cs}/{sub}"),
            );
            let a = Archive::from_bytes(&znn).unwrap();
            assert_eq!(a.index.chunks.len(), data.len().div_ceil(cs as usize));
            // Huffman streams carry ceil(n / sub) sub-streams.
            for c in &a.index.chunks {
                let n = c.orig_len as usize / 2;
                for s in a.index.chunk_streams(c) {
                    if s.codec == Codec::Huffman {
                        assert_eq!(
                            a.index.stream_sub_lens(s, n).len(),
                            n.div_ceil(sub as usize)
                        );
                    }
                }
            }
            sizes.push(znn.len());
        }
    }
    // Smaller sub-streams and chunks cost a little, never a lot.
    let (min, max) = (sizes.iter().min().unwrap(), sizes.iter().max().unwrap());
    assert!((*max as f64) < *min as f64 * 1.05, "sizes {sizes:?}");
}

#[test]
fn invalid_options_are_rejected() {
    let data = vec![1u8; 10_000];
    for (cs, sub) in [
        (4095, 4096),
        (4100, 4096),
        (0, 4096),
        (4088, 4096),
        ((16 << 20) + 8, 4096),
        (u32::MAX, 4096),
        (4096, 0),
        (4096, 128),
        (4096, 300),
        (4096, 131_072),
        (4096, 4095),
    ] {
        let o = opts(cs, sub, Layout::Bf16);
        let e = compress_bytes(&data, &o).expect_err("bad options accepted");
        assert!(matches!(e, Error::InvalidArgument(_)), "{cs}/{sub}: {e:?}");
        let e = znn_gpu::compress_stream(
            &mut std::io::Cursor::new(&data),
            data.len() as u64,
            std::io::sink(),
            &o,
            &mut |_| {},
        )
        .expect_err("bad options accepted");
        assert!(matches!(e, Error::InvalidArgument(_)), "{cs}/{sub}: {e:?}");
    }
    // The bounds themselves are valid.
    for (cs, sub) in [(4096, 256), (16 << 20, 65536)] {
        roundtrip(&data, &opts(cs, sub, Layout::Bf16), "bounds");
    }
}

#[test]
fn stream_input_shorter_than_declared_is_an_error() {
    let data = vec![7u8; 50_000];
    let e = znn_gpu::compress_stream(
        &mut std::io::Cursor::new(&data),
        60_000,
        std::io::sink(),
        &CompressOptions::default(),
        &mut |_| {},
    )
    .expect_err("short input accepted");
    assert!(matches!(e, Error::Truncated(_) | Error::Io { .. }), "{e:?}");
}

#[test]
fn codec_names_cover_the_format() {
    // The on-disk ids of FORMAT.md's codec table.
    for (i, c) in Codec::ALL.iter().enumerate() {
        assert_eq!(*c as usize, i);
        assert_eq!(c.name(), CODEC_NAMES[i]);
    }
    for (i, l) in Layout::ALL.iter().enumerate() {
        assert_eq!(l.id() as usize, i);
    }
}

// ------------------------------------------------------------------------------------------
// Huffman edge cases and API robustness
// ------------------------------------------------------------------------------------------

/// Bytes from a skewed (geometric-like) distribution over `k` symbols.
fn skewed(rng: &mut Rng, n: usize, k: u32) -> Vec<u8> {
    (0..n)
        .map(|_| {
            let z = (rng.next_u64() | 1 << 63).trailing_zeros().min(k - 1);
            (z as u8).wrapping_mul(37).wrapping_add(3)
        })
        .collect()
}

#[test]
fn huffman_substream_boundaries_and_short_codes() {
    let mut rng = Rng::new(21);
    for sub in [256usize, 1024] {
        // Element counts around multiples of the sub-stream size (1..=9 sub-streams, so the
        // decoder's groups of four end at every possible place), in one chunk.
        let counts: Vec<usize> = [1, 2, 3, 4, 5, 8, 9]
            .iter()
            .flat_map(|&k| {
                [
                    k * sub - 1,
                    k * sub,
                    k * sub + 1,
                    k * sub + 19,
                    k * sub + 21,
                ]
            })
            .collect();
        for n in counts {
            for (kind, data) in [
                ("skewed", skewed(&mut rng, n, 12)),
                // Two symbols: 1-bit codes, four symbols per table lookup.
                ("coin", (0..n).map(|_| rng.below(2) as u8 * 0x41).collect()),
                // Three symbols: 1- and 2-bit codes.
                (
                    "three",
                    (0..n)
                        .map(|_| [7u8, 7, 9, 200][rng.below(4) as usize])
                        .collect(),
                ),
            ] {
                let o = opts(65536, sub as u32, Layout::Byte);
                let znn = roundtrip(&data, &o, &format!("{kind} n={n} sub={sub}"));
                let a = Archive::from_bytes(&znn).unwrap();
                if n >= 64 {
                    assert_eq!(a.index.streams[0].codec, Codec::Huffman, "{kind} n={n}");
                }
            }
        }
    }
}

#[test]
fn concurrent_calls_from_many_threads() {
    let inputs: Vec<Vec<u8>> = (0..8u64)
        .map(|i| {
            let mut rng = Rng::new(i);
            encode_floats(Layout::ALL[i as usize % 6], &mixed_floats(&mut rng, 50_000))
        })
        .collect();
    std::thread::scope(|s| {
        for (i, data) in inputs.iter().enumerate() {
            s.spawn(move || {
                let o = opts(4096, 256, Layout::ALL[i % 6]);
                for _ in 0..3 {
                    let z = compress_bytes(data, &o).unwrap();
                    assert_same(&decompress_bytes(&z).unwrap(), data, "concurrent");
                }
            });
        }
    });
}

#[test]
fn io_errors_are_reported_not_panicked() {
    struct FailingReader(usize);
    impl std::io::Read for FailingReader {
        fn read(&mut self, b: &mut [u8]) -> std::io::Result<usize> {
            if self.0 == 0 {
                return Err(std::io::Error::other("device went away"));
            }
            let n = b.len().min(self.0).min(1000);
            b[..n].fill(0x3F);
            self.0 -= n;
            Ok(n)
        }
    }
    let e = znn_gpu::compress_stream(
        &mut FailingReader(100_000),
        1 << 20,
        std::io::sink(),
        &CompressOptions::default(),
        &mut |_| {},
    )
    .expect_err("failing reader");
    assert!(matches!(e, Error::Io { .. }), "{e:?}");

    struct FailingWriter;
    impl std::io::Write for FailingWriter {
        fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
            Err(std::io::Error::other("disk full"))
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let data = vec![5u8; 100_000];
    let e = znn_gpu::compress_stream(
        &mut std::io::Cursor::new(&data),
        data.len() as u64,
        FailingWriter,
        &CompressOptions::default(),
        &mut |_| {},
    )
    .expect_err("failing writer");
    assert!(matches!(e, Error::Io { .. }), "{e:?}");
    let z = compress_bytes(&data, &CompressOptions::default()).unwrap();
    let e = znn_gpu::decompress_stream(&mut std::io::Cursor::new(&z), FailingWriter, &mut |_| {})
        .expect_err("failing writer");
    assert!(matches!(e, Error::Io { .. }), "{e:?}");
}

#[test]
fn inputs_larger_than_one_streaming_window() {
    // The streaming functions work in windows of 16 MiB: inputs that span several, with chunk
    // sizes that do and do not divide the window, and a chunk as large as a window.
    let mut rng = Rng::new(31);
    let data: Vec<u8> = (0..(37 << 20) / 2)
        .flat_map(|i| {
            let x = if i % 5000 < 40 { 0.0 } else { rng.normal(0.03) };
            half::bf16::from_f64(x).to_le_bytes()
        })
        .collect();
    for cs in [256 * 1024, (3 << 20) + 8, 16 << 20] {
        roundtrip(
            &data,
            &opts(cs, 4096, Layout::Bf16),
            &format!("37 MiB, chunk {cs}"),
        );
    }
}

#[test]
fn safetensors_header_larger_than_one_streaming_window() {
    // A 17 MB `__metadata__` value: the header alone spans two streaming windows.
    let mut rng = Rng::new(32);
    let blob = "w".repeat(17 << 20);
    let ts = vec![
        tensor(
            "a",
            "F32",
            &[10_000],
            encode_floats(Layout::Fp32, &mixed_floats(&mut rng, 10_000)),
        ),
        tensor(
            "b",
            "BF16",
            &[999],
            encode_floats(Layout::Bf16, &mixed_floats(&mut rng, 999)),
        ),
    ];
    let file = safetensors(&ts, Some(&[("blob", blob.as_str())]), true);
    let znn = roundtrip(&file, &CompressOptions::default(), "17 MB header");
    let a = Archive::from_bytes(&znn).unwrap();
    check_safetensors_segments(&file, &a);
    assert!(
        ratio(&znn, &file) < 2.0,
        "a repeated byte header compresses to almost nothing"
    );
}

#[test]
fn many_symbol_distributions() {
    // Code-length construction under every kind of histogram: 2..=256 symbols, uniform, geometric
    // of several ratios, Zipf, one dominant symbol with singletons, (almost) all 256 once.
    let mut rng = Rng::new(41);
    let mut cases: Vec<(String, Vec<u8>)> = Vec::new();
    for k in [2u32, 3, 5, 17, 40, 100, 255, 256] {
        let uniform: Vec<u8> = (0..8000).map(|_| rng.below(k as u64) as u8).collect();
        cases.push((format!("uniform {k}"), uniform));
        for r in [0.3, 0.5, 0.618, 0.8, 0.95] {
            let g: Vec<u8> = (0..8000)
                .map(|_| {
                    let mut s = 0;
                    while s + 1 < k && rng.unit() > r {
                        s += 1;
                    }
                    s as u8
                })
                .collect();
            cases.push((format!("geometric {r} over {k}"), g));
        }
        let zipf: Vec<u8> = (0..8000)
            .map(|_| ((k as f64).powf(rng.unit()) as u32).min(k - 1) as u8)
            .collect();
        cases.push((format!("zipf {k}"), zipf));
        let mut dom = vec![9u8; 8000];
        for (i, s) in (0..k).enumerate() {
            dom[i * 13] = s as u8;
        }
        cases.push((format!("dominant + {k} singletons"), dom));
    }
    let mut all: Vec<u8> = (0..=255u8).collect();
    all.extend(std::iter::repeat_n(0u8, 4000));
    cases.push(("every byte once, one frequent".into(), all));
    for (name, data) in cases {
        for sub in [256, 4096] {
            roundtrip(&data, &opts(4096, sub, Layout::Byte), &name);
        }
    }
}

#[test]
fn mutated_safetensors_headers_still_roundtrip() {
    // Whatever the header says (broken JSON, odd offsets, huge numbers, a wrong length prefix),
    // compression never fails and the round trip is exact.
    let mut rng = Rng::new(43);
    let ts = vec![
        tensor(
            "a",
            "F32",
            &[300],
            encode_floats(Layout::Fp32, &mixed_floats(&mut rng, 300)),
        ),
        tensor(
            "b",
            "BF16",
            &[301],
            encode_floats(Layout::Bf16, &mixed_floats(&mut rng, 301)),
        ),
        tensor("c", "I64", &[20], rng.bytes(160)),
        tensor("d", "U8", &[33], rng.bytes(33)),
    ];
    let file = safetensors(&ts, Some(&[("k", "v")]), false);
    let hl = u64::from_le_bytes(file[..8].try_into().unwrap()) as usize;
    let o = opts(4096, 256, Layout::Fp16);
    let replacements: [&[u8]; 10] = [
        b"0",
        b"9",
        b"-",
        b"\"",
        b"{",
        b"]",
        b"18446744073709551615",
        b"1e3",
        b" ",
        b"null",
    ];
    for i in 0..1500 {
        let mut g = file.clone();
        match i % 3 {
            0 => {
                let p = 8 + rng.below(hl as u64) as usize;
                g[p] = rng.next_u64() as u8;
            }
            1 => {
                // Replace a digit run (an offset or a shape) with something else.
                let p = 8 + rng.below(hl as u64) as usize;
                let r = replacements[rng.below(replacements.len() as u64) as usize];
                g.splice(p..p + 1, r.iter().copied());
                let new_len = (hl + r.len() - 1) as u64;
                g[..8].copy_from_slice(&new_len.to_le_bytes());
            }
            _ => {
                let n = match rng.below(5) {
                    0 => g.len() as u64 - 8,
                    1 => g.len() as u64 - 7,
                    2 => rng.below(g.len() as u64),
                    3 => 1,
                    _ => u64::MAX - rng.below(100),
                };
                g[..8].copy_from_slice(&n.to_le_bytes());
            }
        }
        let z = compress_bytes(&g, &o).unwrap_or_else(|e| panic!("mutation {i}: {e}"));
        assert_same(&decompress_bytes(&z).unwrap(), &g, &format!("mutation {i}"));
        if i % 50 == 0 {
            roundtrip(&g, &o, &format!("mutation {i}"));
        }
    }
}

#[test]
fn largest_chunks_with_extreme_substream_sizes() {
    // 16 MiB byte chunks: 256 sub-streams of 65536 symbols, or 65536 sub-streams of 256.
    let mut rng = Rng::new(51);
    let data = skewed(&mut rng, (16 << 20) + 1000, 20);
    for sub in [65536, 256] {
        let znn = roundtrip(
            &data,
            &opts(16 << 20, sub, Layout::Byte),
            &format!("16 MiB chunk, sub {sub}"),
        );
        let a = Archive::from_bytes(&znn).unwrap();
        assert_eq!(a.index.chunks.len(), 2);
        let s = &a.index.streams[0];
        assert_eq!(s.codec, Codec::Huffman);
        assert_eq!(
            a.index.stream_sub_lens(s, 16 << 20).len(),
            (16 << 20) / sub as usize
        );
    }
}

#[test]
fn output_does_not_depend_on_the_thread_count() {
    let data = repo_model()[..4 << 20].to_vec();
    let o = opts(65536, 1024, Layout::Bf16);
    let with = |n: usize| {
        rayon::ThreadPoolBuilder::new()
            .num_threads(n)
            .build()
            .unwrap()
            .install(|| compress_bytes(&data, &o).unwrap())
    };
    let one = with(1);
    for n in [2, 3, 7] {
        assert_same(&with(n), &one, &format!("{n} threads vs 1"));
    }
    let back = rayon::ThreadPoolBuilder::new()
        .num_threads(5)
        .build()
        .unwrap()
        .install(|| decompress_bytes(&one).unwrap());
    assert_same(&back, &data, "decompressed on 5 threads");
}

/// A writer that accepts `0` more bytes, then fails with "disk full (test)".
struct FullDisk(usize);

impl std::io::Write for FullDisk {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        if self.0 == 0 {
            return Err(std::io::Error::other("disk full (test)"));
        }
        let n = b.len().min(self.0);
        self.0 -= n;
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn the_writers_own_error_reaches_the_caller() {
    // Several streaming windows (16 MiB each) of output: the write error happens while later
    // windows are still being coded. The error must say what the writer said, whichever window
    // it happens in.
    let data = vec![0u8; 50 << 20];
    let z = compress_bytes(&data, &CompressOptions::default()).unwrap();
    for limit in [0usize, 1000, 20 << 20] {
        let e =
            znn_gpu::decompress_stream(&mut std::io::Cursor::new(&z), FullDisk(limit), &mut |_| {})
                .expect_err("failing writer");
        assert!(matches!(e, Error::Io { .. }), "{e:?}");
        assert!(
            e.to_string().contains("disk full (test)"),
            "decompress_stream, writer fails after {limit} bytes: {e}"
        );
    }
    let mut rng = Rng::new(61);
    let big = rng.bytes(40 << 20);
    for limit in [0usize, 1000, 20 << 20] {
        let e = znn_gpu::compress_stream(
            &mut std::io::Cursor::new(&big),
            big.len() as u64,
            FullDisk(limit),
            &CompressOptions::default(),
            &mut |_| {},
        )
        .expect_err("failing writer");
        assert!(matches!(e, Error::Io { .. }), "{e:?}");
        assert!(
            e.to_string().contains("disk full (test)"),
            "compress_stream, writer fails after {limit} bytes: {e}"
        );
    }
}
