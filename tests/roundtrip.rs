//! Round trips: compress then decompress gives the input back, in memory and through the streaming
//! functions (which must write the very same bytes), with the archive's metadata checked against the
//! input and the output checked by an independent reference decoder (tests/common). Also: codec
//! choices and compressed sizes that are real properties of the data.

use znn_test_support as common;

use common::*;
use znn_gpu::format::{Codec, Coding};
use znn_gpu::{decompress_bytes, Archive, CompressOptions, Layout};

fn ratio(znn: &[u8], orig: &[u8]) -> f64 {
    100.0 * znn.len() as f64 / orig.len() as f64
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
    for c in a.index.chunks() {
        let s = a.index.chunk_streams(c);
        assert!(
            s[2].coding == Coding::Const { value: 0 } && s[3].coding == Coding::Const { value: 0 },
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
            assert_eq!(a.index.segments().len(), 1);
            assert_eq!(a.index.segments()[0].layout, l);
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
            .streams()
            .iter()
            .all(|s| s.coding == Coding::Const { value: 0 }));
        assert_eq!(a.data_len(), 0);

        // A constant element (not a constant byte): every stream is const, with the right value.
        let elem: Vec<u8> = (0..l.elem_size() as u8).map(|b| 0x3C + 17 * b).collect();
        let data: Vec<u8> = elem.iter().copied().cycle().take(300_000 / 8 * 8).collect();
        let znn = roundtrip(&data, &opts(65536, 4096, l), &format!("constant {l:?}"));
        assert!(ratio(&znn, &data) < 1.0);
        let a = Archive::from_bytes(&znn).unwrap();
        assert!(a.index.streams().iter().all(|s| s.codec() == Codec::Const));
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
            let segs: Vec<(Layout, u64)> = a
                .index
                .segments()
                .iter()
                .map(|s| (s.layout, s.len))
                .collect();
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
        assert!(a.index.segments().is_empty() && a.index.chunks().is_empty());
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
        for s in a.index.streams() {
            assert_eq!(s.codec(), Codec::Huffman);
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
            a.index.streams().iter().all(|s| s.codec() == Codec::Raw),
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
                a.index.segments().iter().map(|s| s.layout).collect();
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
            a.index.segments().len() > 100,
            "{} segments",
            a.index.segments().len()
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
