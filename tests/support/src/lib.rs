//! What the test binaries and fuzz targets of znn-gpu share: deterministic data generators,
//! safetensors builders, corpus access, and an independent reference reader/decoder of the `.znn`
//! format written from FORMAT.md alone ([`reference`]: it shares no code with `src/`), used to
//! check the library's output against the specification rather than against itself; hostile-input
//! fixtures ([`hostile`]), CLI helpers ([`cli`]) and the fuzz target bodies ([`fuzz`]).
#![allow(dead_code)]

pub mod alloc_cap;
pub mod cli;
pub mod delta_pair;
pub mod fuzz;
pub mod hostile;
pub mod reference;
pub mod reference_rans;
pub use reference::*;
pub use reference_rans::reference_rans_selftest;
use std::io::Cursor;
use std::path::{Path, PathBuf};
use xxhash_rust::xxh3::xxh3_64;
use znn_gpu::{Archive, CompressOptions, Layout};

pub const HEADER_LEN: usize = 16;
pub const TRAILER_LEN: usize = 40;
pub const MAGIC: [u8; 8] = *b"\x89ZNN\r\n\x1a\n";
pub const END_MAGIC: [u8; 8] = *b"ZNNEND\0\x01";

// ---------------------------------------------------------------------------------------------
// Deterministic data
// ---------------------------------------------------------------------------------------------

/// xorshift64* PRNG: deterministic, no dependency.
pub struct Rng(pub u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }
    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
    /// Roughly normal (sum of uniforms), mean 0, standard deviation `sd`.
    pub fn normal(&mut self, sd: f64) -> f64 {
        let s: f64 = (0..4).map(|_| self.unit()).sum::<f64>() - 2.0;
        s * sd * (3.0f64).sqrt()
    }
    pub fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next_u64() as u8).collect()
    }
}

/// Floats of many kinds: weight-like values of several scales, log-uniform values from 1e-30 to
/// 1e30, subnormals (of f32), NaN, ±Inf, ±0.
pub fn mixed_floats(rng: &mut Rng, n: usize) -> Vec<f64> {
    (0..n)
        .map(|i| match (i / 997) % 6 {
            0 => rng.normal(0.02),
            1 => rng.normal(1.0),
            2 => {
                let e = rng.unit() * 60.0 - 30.0;
                let s = if rng.below(2) == 0 { 1.0 } else { -1.0 };
                s * 10f64.powf(e)
            }
            3 => {
                // f32 subnormals (and f16/bf16 ones after conversion), both signs
                let m = rng.below(1 << 23) as f64;
                let s = if rng.below(2) == 0 { 1.0 } else { -1.0 };
                s * m * 2f64.powi(-149)
            }
            4 => match rng.below(6) {
                0 => f64::NAN,
                1 => f64::INFINITY,
                2 => f64::NEG_INFINITY,
                3 => -0.0,
                4 => 0.0,
                _ => rng.normal(1e-3),
            },
            _ => (rng.below(2001) as f64 - 1000.0) / 64.0,
        })
        .collect()
}

/// Encodes floats as little-endian elements of `layout`'s natural type (Byte: FP8-like bytes,
/// Group4: f32 bits, as 32-bit integers would be grouped).
pub fn encode_floats(layout: Layout, v: &[f64]) -> Vec<u8> {
    let mut out = Vec::with_capacity(v.len() * layout.elem_size());
    for &x in v {
        match layout {
            Layout::Byte => out.push((x.to_bits() >> 56) as u8 ^ (x.to_bits() >> 48) as u8),
            Layout::Bf16 => out.extend_from_slice(&half::bf16::from_f64(x).to_le_bytes()),
            Layout::Fp16 => out.extend_from_slice(&half::f16::from_f64(x).to_le_bytes()),
            Layout::Fp32 | Layout::Group4 => out.extend_from_slice(&(x as f32).to_le_bytes()),
            Layout::Fp64 => out.extend_from_slice(&x.to_le_bytes()),
        }
    }
    out
}

/// Checkpoint-delta-like data: mostly zero bytes, with sparse small non-zero runs.
/// `n` elements of a float layout (bf16, fp16 or fp32) whose first stream is a skewed byte and
/// whose second stream's top 3 bits are a function of it (the rest random): the kind of
/// dependence pair codes (codec 4) exploit, strong enough to pay in 4 KiB chunks, while each
/// stream alone looks like today's (the second one uniform).
pub fn pair_skewed(layout: Layout, n: usize, seed: u64) -> Vec<u8> {
    let mut rng = Rng::new(seed);
    let mut out = Vec::with_capacity(n * layout.elem_size());
    for _ in 0..n {
        let r = rng.next_u64();
        let a = 112 + (r.trailing_zeros() as u8 % 12);
        let b = (a.wrapping_mul(5) & 7) << 5 | (r >> 40) as u8 & 0x1F;
        let (a, b) = (a as u32, b as u32);
        match layout {
            Layout::Bf16 => {
                let w = (b & 0x80) << 8 | a << 7 | (b & 0x7F);
                out.extend_from_slice(&(w as u16).to_le_bytes());
            }
            Layout::Fp16 => out.extend_from_slice(&[b as u8, a as u8]),
            Layout::Fp32 => {
                let w = (b & 0x80) << 24 | a << 23 | (b & 0x7F) << 16 | (r >> 48) as u32 & 0xFFFF;
                out.extend_from_slice(&w.to_le_bytes());
            }
            _ => panic!("pair_skewed needs a float layout"),
        }
    }
    out
}

/// The low `elem_size` bytes of each of `bits`, little-endian: elements of `layout` from raw bit
/// patterns.
pub fn bits_of(layout: Layout, bits: impl Iterator<Item = u64>) -> Vec<u8> {
    let es = layout.elem_size();
    bits.flat_map(|w| w.to_le_bytes()[..es].to_vec()).collect()
}

/// Element patterns of `layout` as raw bit patterns, `n` elements each: the streams that stress
/// pair codes (one exponent, one mantissa value per exponent, subnormals, NaN payloads) and
/// ordinary floats and weights.
pub fn float_patterns(layout: Layout, n: usize) -> Vec<(&'static str, Vec<u8>)> {
    let mut rng = Rng::new(7);
    let es = layout.elem_size();
    let mask = if es == 8 {
        u64::MAX
    } else {
        (1u64 << (8 * es)) - 1
    };
    // Sign bit, exponent field and mantissa bits of each float layout.
    let (man, exp_all) = match layout {
        Layout::Bf16 => (7, 0xFFu64 << 7),
        Layout::Fp16 => (10, 0x1F << 10),
        Layout::Fp32 => (23, 0xFF << 23),
        _ => (8 * es as u32 - 1, 0),
    };
    let mut r = || rng.next_u64();
    let mut v: Vec<(&'static str, Vec<u8>)> = Vec::new();
    let one_exp: Vec<u64> = (0..n)
        .map(|_| (1 << (man + 2)) | (r() & ((1 << man) - 1)))
        .collect();
    v.push(("one exponent", bits_of(layout, one_exp.into_iter())));
    // Powers of two of either sign: each exponent has a single mantissa value.
    let pow2: Vec<u64> = (0..n)
        .map(|_| ((r() % 6 + 3) << man) | (r() & 1) << (8 * es as u32 - 1))
        .collect();
    v.push(("single mantissa", bits_of(layout, pow2.into_iter())));
    let sub: Vec<u64> = (0..n).map(|_| r() & ((1 << man) - 1) & mask).collect();
    v.push(("subnormals", bits_of(layout, sub.into_iter())));
    let nan: Vec<u64> = (0..n)
        .map(|i| {
            let payload = r() & ((1 << man) - 1);
            if i % 3 == 0 {
                exp_all | payload | 1
            } else {
                ((r() % 4 + 120) << man | payload) & mask
            }
        })
        .collect();
    v.push(("NaN payloads", bits_of(layout, nan.into_iter())));
    let floats = mixed_floats(&mut Rng::new(3), n);
    v.push(("mixed floats", encode_floats(layout, &floats)));
    let w: Vec<f64> = {
        let mut g = Rng::new(11);
        (0..n).map(|_| g.normal(0.02)).collect()
    };
    v.push(("weights", encode_floats(layout, &w)));
    if matches!(layout, Layout::Bf16 | Layout::Fp16 | Layout::Fp32) {
        v.push(("mantissa given exponent", pair_skewed(layout, n, 9)));
    }
    v
}

pub fn mostly_zero(rng: &mut Rng, n: usize) -> Vec<u8> {
    let mut v = vec![0u8; n];
    let mut i = 0;
    while i < n {
        i += 64 + rng.below(1024) as usize;
        let run = 1 + rng.below(6) as usize;
        for b in v.iter_mut().skip(i).take(run) {
            *b = rng.next_u64() as u8 | 1;
        }
        i += run;
    }
    v
}

/// `n` bytes whose histogram follows the Fibonacci sequence (symbol k appears fib(k) times, for as
/// many symbols as fit), shuffled: the optimal Huffman code is deeper than 11 bits, so the encoder
/// must limit it and use 11-bit codes.
pub fn fibonacci_bytes(rng: &mut Rng, n: usize) -> Vec<u8> {
    let mut v = Vec::with_capacity(n);
    let (mut a, mut b) = (1usize, 1usize);
    let mut sym = 0u8;
    while v.len() + a <= n && sym < 255 {
        v.resize(v.len() + a, sym);
        (a, b) = (b, a + b);
        sym += 1;
    }
    while v.len() < n {
        v.push(0);
    }
    for i in (1..v.len()).rev() {
        let j = rng.below(i as u64 + 1) as usize;
        v.swap(i, j);
    }
    v
}

/// f32 little-endian bytes -> bf16 bytes (round to nearest even, via `half`).
pub fn f32_to_bf16(b: &[u8]) -> Vec<u8> {
    b.chunks_exact(4)
        .flat_map(|c| half::bf16::from_f32(f32::from_le_bytes(c.try_into().unwrap())).to_le_bytes())
        .collect()
}

/// f32 little-endian bytes -> f16 bytes.
pub fn f32_to_f16(b: &[u8]) -> Vec<u8> {
    b.chunks_exact(4)
        .flat_map(|c| half::f16::from_f32(f32::from_le_bytes(c.try_into().unwrap())).to_le_bytes())
        .collect()
}

/// bf16 bytes -> f32 bytes by widening: the low two bytes of every element are zero.
pub fn bf16_widen(b: &[u8]) -> Vec<u8> {
    b.chunks_exact(2).flat_map(|c| [0, 0, c[0], c[1]]).collect()
}

// ---------------------------------------------------------------------------------------------
// safetensors
// ---------------------------------------------------------------------------------------------

/// One tensor to put in a safetensors file.
pub struct Tensor {
    pub name: String,
    pub dtype: String,
    pub shape: Vec<u64>,
    pub data: Vec<u8>,
}

pub fn tensor(name: &str, dtype: &str, shape: &[u64], data: Vec<u8>) -> Tensor {
    Tensor {
        name: name.into(),
        dtype: dtype.into(),
        shape: shape.to_vec(),
        data,
    }
}

/// Builds a safetensors file: tensors stored in the given order, back to back; the header is
/// padded with spaces to a multiple of 8 (as the reference writer does) when `pad` is set.
pub fn safetensors(tensors: &[Tensor], metadata: Option<&[(&str, &str)]>, pad: bool) -> Vec<u8> {
    let mut obj = serde_json::Map::new();
    if let Some(m) = metadata {
        let mm: serde_json::Map<String, serde_json::Value> = m
            .iter()
            .map(|(k, v)| (k.to_string(), serde_json::Value::from(*v)))
            .collect();
        obj.insert("__metadata__".into(), mm.into());
    }
    let mut off = 0u64;
    for t in tensors {
        let end = off + t.data.len() as u64;
        obj.insert(
            t.name.clone(),
            serde_json::json!({"dtype": t.dtype, "shape": t.shape, "data_offsets": [off, end]}),
        );
        off = end;
    }
    let mut json = serde_json::to_vec(&serde_json::Value::Object(obj)).unwrap();
    if pad {
        while json.len() % 8 != 0 {
            json.push(b' ');
        }
    }
    let mut out = (json.len() as u64).to_le_bytes().to_vec();
    out.extend_from_slice(&json);
    for t in tensors {
        out.extend_from_slice(&t.data);
    }
    out
}

/// Tensors of a safetensors file: (name, dtype, absolute byte range), sorted by start.
pub fn read_safetensors(b: &[u8]) -> Vec<(String, String, std::ops::Range<usize>)> {
    let n = u64::from_le_bytes(b[..8].try_into().unwrap()) as usize;
    let v: serde_json::Value = serde_json::from_slice(&b[8..8 + n]).unwrap();
    let mut out = Vec::new();
    for (name, t) in v.as_object().unwrap() {
        if name == "__metadata__" {
            continue;
        }
        let off = t["data_offsets"].as_array().unwrap();
        let (s, e) = (
            off[0].as_u64().unwrap() as usize,
            off[1].as_u64().unwrap() as usize,
        );
        out.push((
            name.clone(),
            t["dtype"].as_str().unwrap().to_string(),
            8 + n + s..8 + n + e,
        ));
    }
    out.sort_by_key(|t| (t.2.start, t.2.end));
    out
}

/// The layout FORMAT.md's table implies for a safetensors dtype.
pub fn expected_layout(dtype: &str) -> Layout {
    match dtype {
        "BF16" => Layout::Bf16,
        "F16" | "I16" | "U16" => Layout::Fp16,
        "F32" => Layout::Fp32,
        "I32" | "U32" => Layout::Group4,
        "F64" | "I64" | "U64" => Layout::Fp64,
        _ => Layout::Byte,
    }
}

// ---------------------------------------------------------------------------------------------
// Files
// ---------------------------------------------------------------------------------------------

pub fn crate_root() -> PathBuf {
    // This crate lives in tests/support of the repository.
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The real model shipped in the repository (must exist: no skipping).
pub fn repo_model() -> Vec<u8> {
    let p = crate_root().join("data/mobilenet-v2.fp32.safetensors");
    std::fs::read(&p).unwrap_or_else(|e| panic!("{} must ship with the repo: {e}", p.display()))
}

/// Prints a skip notice on the real stderr: `eprintln!` inside a test is captured by the test
/// harness and shown only for failing tests, and a skip must be visible in a normal run.
pub fn say_skipped(msg: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "{msg}");
}

/// A corpus file from `../shared/corpus`, or `None` after printing a SKIPPED line.
pub fn corpus(name: &str, test: &str) -> Option<Vec<u8>> {
    let dir = crate_root().join("../shared/corpus");
    let p = dir.join(name);
    match std::fs::read(&p) {
        Ok(b) => Some(b),
        Err(e) => {
            say_skipped(&format!(
                "SKIPPED: ../shared/corpus not found ({}: {e}) [{test}]",
                p.display()
            ));
            None
        }
    }
}

pub fn test_dir() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../data"))
}

// ---------------------------------------------------------------------------------------------
// Assertions
// ---------------------------------------------------------------------------------------------

/// assert_eq for big buffers: reports lengths and the first differing offset, not the bytes.
#[track_caller]
pub fn assert_same(got: &[u8], want: &[u8], what: &str) {
    if got != want {
        let first = got.iter().zip(want).position(|(a, b)| a != b);
        panic!(
            "{what}: output differs (got {} bytes, want {}; first difference at {:?})",
            got.len(),
            want.len(),
            first
        );
    }
}

/// Full round trip of `data`: in memory, through the streaming functions (which must produce the
/// very same `.znn` bytes), through the reference decoder when small enough, with the archive's
/// metadata checked against the input. Returns the `.znn` bytes.
#[track_caller]
pub fn roundtrip(data: &[u8], opts: &CompressOptions, what: &str) -> Vec<u8> {
    let znn = znn_gpu::compress_bytes(data, opts)
        .unwrap_or_else(|e| panic!("{what}: compress_bytes failed: {e}"));
    let back = znn_gpu::decompress_bytes(&znn)
        .unwrap_or_else(|e| panic!("{what}: decompress failed: {e}"));
    assert_same(&back, data, &format!("{what}: decompress_bytes"));

    // Streaming compress: same bytes as in memory; stats agree.
    let mut streamed = Vec::new();
    let mut last_progress = 0u64;
    let stats = znn_gpu::compress_stream(
        &mut Cursor::new(data),
        data.len() as u64,
        &mut streamed,
        opts,
        &mut |d| {
            assert!(d >= last_progress, "{what}: progress went backwards");
            last_progress = d;
        },
    )
    .unwrap_or_else(|e| panic!("{what}: compress_stream failed: {e}"));
    assert_same(
        &streamed,
        &znn,
        &format!("{what}: compress_stream vs compress_bytes"),
    );
    assert_eq!(stats.original_len, data.len() as u64, "{what}: stats");
    assert_eq!(stats.compressed_len, znn.len() as u64, "{what}: stats");
    assert_eq!(last_progress, data.len() as u64, "{what}: final progress");

    // Streaming decompress from a seekable reader.
    let mut out = Vec::new();
    let mut progressed = 0u64;
    let a = znn_gpu::decompress_stream(&mut Cursor::new(&znn), &mut out, &mut |d| progressed = d)
        .unwrap_or_else(|e| panic!("{what}: decompress_stream failed: {e}"));
    assert_same(&out, data, &format!("{what}: decompress_stream"));
    assert_eq!(progressed, data.len() as u64, "{what}: final progress");
    assert_eq!(a.trailer.original_len, data.len() as u64);
    same_index(
        &stats.index,
        &a.index,
        &format!("{what}: stats.index vs parsed index"),
    );

    check_archive(&znn, data, opts, what);
    znn
}

/// Index equality that reports the first differing record instead of dumping both indexes.
#[track_caller]
pub fn same_index(got: &znn_gpu::format::Index, want: &znn_gpu::format::Index, what: &str) {
    let (got, want) = (got.to_parts(), want.to_parts());
    assert_eq!(
        (got.chunk_size, got.sub_symbols, got.original_len),
        (want.chunk_size, want.sub_symbols, want.original_len),
        "{what}"
    );
    assert_eq!(got.segments, want.segments, "{what}: segments");
    assert_eq!(got.chunks.len(), want.chunks.len(), "{what}: chunk count");
    if let Some(i) = (0..got.chunks.len()).find(|&i| got.chunks[i] != want.chunks[i]) {
        panic!(
            "{what}: chunk {i}: {:?} vs {:?}",
            got.chunks[i], want.chunks[i]
        );
    }
    assert_eq!(
        got.streams.len(),
        want.streams.len(),
        "{what}: stream count"
    );
    if let Some(i) = (0..got.streams.len()).find(|&i| got.streams[i] != want.streams[i]) {
        panic!(
            "{what}: stream {i}: {:?} vs {:?}",
            got.streams[i], want.streams[i]
        );
    }
    assert!(got.sub_lens == want.sub_lens, "{what}: sub_lens differ");
}

/// Checks a `.znn` against its original and the options it was made with: the library's parsed
/// metadata, the reference parser's view of the same bytes, and (for small files) the reference
/// decoder's output.
#[track_caller]
pub fn check_archive(znn: &[u8], orig: &[u8], opts: &CompressOptions, what: &str) -> Archive {
    let a = Archive::from_bytes(znn).unwrap_or_else(|e| panic!("{what}: Archive::from_bytes: {e}"));
    let b = Archive::read(&znn).unwrap();
    assert_eq!(a.header, b.header);
    assert_eq!(a.trailer, b.trailer);
    same_index(&a.index, &b.index, "Archive::read vs from_bytes");
    assert_eq!(a.file_len, znn.len() as u64);
    assert_eq!(Archive::DATA_START, HEADER_LEN as u64);
    assert_eq!(a.header.chunk_size, opts.chunk_size, "{what}");
    assert_eq!(a.trailer.original_len, orig.len() as u64, "{what}");
    let idx = &a.index;
    assert_eq!(idx.chunk_size(), opts.chunk_size);
    assert_eq!(idx.sub_symbols(), opts.sub_symbols);
    assert_eq!(idx.original_len(), orig.len() as u64);
    assert_eq!(
        a.data_len(),
        znn.len() as u64 - (HEADER_LEN + TRAILER_LEN) as u64 - a.trailer.index_len
    );
    assert_eq!(
        idx.data_len(),
        a.data_len(),
        "{what}: chunk map covers the data"
    );

    // Segments: back to back from 0, whole elements, chunk numbering.
    let cs = opts.chunk_size as u64;
    let (mut off, mut next_chunk) = (0u64, 0usize);
    for s in idx.segments() {
        assert_eq!(s.offset, off, "{what}: segments back to back");
        assert!(
            s.len > 0 && s.len % s.layout.elem_size() as u64 == 0,
            "{what}: {s:?}"
        );
        assert_eq!(s.first_chunk, next_chunk);
        assert_eq!(s.chunk_count as u64, s.len.div_ceil(cs));
        off += s.len;
        next_chunk += s.chunk_count;
    }
    assert_eq!(off, orig.len() as u64);
    assert_eq!(next_chunk, idx.chunks().len());

    // Chunks: offsets, payload contiguity, checksums, stream records.
    let mut data_off = 0u64;
    let mut hasher = xxhash_rust::xxh3::Xxh3::new();
    for (ci, c) in idx.chunks().iter().enumerate() {
        let seg = &idx.segments()[c.segment as usize];
        assert!(ci >= seg.first_chunk && ci < seg.first_chunk + seg.chunk_count);
        let k = (ci - seg.first_chunk) as u64;
        assert_eq!(c.orig_offset, seg.offset + k * cs);
        assert_eq!(c.orig_len as u64, (seg.len - k * cs).min(cs));
        assert_eq!(
            c.data_offset, data_off,
            "{what}: chunk payloads back to back"
        );
        let src = &orig[c.orig_offset as usize..(c.orig_offset + c.orig_len as u64) as usize];
        assert_eq!(c.checksum, xxh3_64(src), "{what}: chunk {ci} checksum");
        hasher.update(&c.checksum.to_le_bytes());
        let streams = idx.chunk_streams(c);
        assert_eq!(streams.len(), seg.layout.stream_count());
        let mut s_off = c.data_offset;
        for s in streams {
            assert_eq!(s.data_offset, s_off);
            s_off += s.comp_len as u64;
        }
        assert_eq!(s_off - c.data_offset, c.data_len);
        data_off += c.data_len;
    }
    assert_eq!(hasher.digest(), a.trailer.content_hash);
    let index_start = znn.len() - TRAILER_LEN - a.trailer.index_len as usize;
    assert_eq!(
        xxh3_64(&znn[index_start..znn.len() - TRAILER_LEN]),
        a.trailer.index_hash
    );

    // The reference reader sees the same structure; the reference decoder (for inputs of a few
    // MB) gives the original back.
    let r = ref_parse(znn).unwrap_or_else(|e| panic!("{what}: reference parser rejects: {e}"));
    assert_eq!(r.chunk_size, opts.chunk_size);
    assert_eq!(r.index.segments.len(), idx.segments().len());
    for (rs, s) in r.index.segments.iter().zip(idx.segments()) {
        assert_eq!((rs.0, rs.1), (s.layout.id(), s.len));
    }
    assert_eq!(r.index.chunks.len(), idx.chunks().len());
    for (rc, c) in r.index.chunks.iter().zip(idx.chunks()) {
        assert_eq!(rc.checksum, c.checksum);
        for (rs, s) in rc.streams.iter().zip(idx.chunk_streams(c)) {
            assert_eq!(rs.codec, s.codec() as u8);
            assert_eq!(rs.comp_len, s.comp_len);
        }
    }
    if orig.len() <= 4 << 20 {
        let dec = ref_decode(znn).unwrap_or_else(|e| panic!("{what}: reference decoder: {e}"));
        assert_same(&dec, orig, &format!("{what}: reference decoder"));
    }
    a
}

/// Which of codecs 0..=3 (by on-disk id) the archive uses, as a 4-element count array; the pair
/// codecs (4 and 5) are counted by [`pair_counts`].
pub fn codec_counts(a: &Archive) -> [usize; 4] {
    let mut n = [0usize; 4];
    for s in a.index.streams() {
        if let Some(c) = n.get_mut(s.codec().index()) {
            *c += 1;
        }
    }
    n
}

/// Streams of codec 4 (pair) and 5 (paired) in the archive.
pub fn pair_counts(a: &Archive) -> [usize; 2] {
    let mut n = [0usize; 2];
    for s in a.index.streams() {
        match s.codec().index() {
            4 => n[0] += 1,
            5 => n[1] += 1,
            _ => {}
        }
    }
    n
}

pub fn opts(chunk_size: u32, sub_symbols: u32, dtype: Layout) -> CompressOptions {
    CompressOptions {
        chunk_size,
        sub_symbols,
        dtype,
        base: None,
        codecs: Default::default(),
    }
}

/// `opts` with the codec set `codecs`.
pub fn with_codecs(opts: &CompressOptions, codecs: znn_gpu::codec::CodecSet) -> CompressOptions {
    CompressOptions {
        codecs,
        ..opts.clone()
    }
}

/// `opts` storing a delta against `base`.
pub fn with_base(opts: &CompressOptions, base: &std::sync::Arc<znn_gpu::Base>) -> CompressOptions {
    CompressOptions {
        base: Some(base.clone()),
        ..opts.clone()
    }
}

/// Decompresses a delta (or standalone) `.znn` held in memory with `base`.
pub fn decompress_with_base(znn: &[u8], base: Option<&znn_gpu::Base>) -> znn_gpu::Result<Vec<u8>> {
    let mut out = Vec::new();
    let o = znn_gpu::DecompressOptions { base };
    znn_gpu::decompress_to(&znn, &mut out, &o, &mut |_| {})?;
    Ok(out)
}

// ---------------------------------------------------------------------------------------------
// The golden input (tests/data/golden_v1.bin) and the small archive of the corruption tests.
// ---------------------------------------------------------------------------------------------

/// Options the golden file is compressed with.
pub fn golden_opts() -> CompressOptions {
    opts(4096, 256, Layout::Bf16)
}

/// A small safetensors file (~35 KB) with several dtypes whose chunks, compressed with
/// [`golden_opts`], use all four codecs: BF16 exponents (huffman) and sign+mantissa (raw), a
/// widened-BF16 F32 tensor (const low bytes), a mostly-zero U8 delta (zstd), plus F16, I64, I32,
/// BOOL and F8 tensors, one of odd length, and `__metadata__`.
pub fn golden_input() -> Vec<u8> {
    let mut rng = Rng::new(20_260_401);
    let bf16: Vec<u8> = (0..4096)
        .flat_map(|_| half::bf16::from_f64(rng.normal(0.02)).to_le_bytes())
        .collect();
    let f32_clean = bf16_widen(&bf16[..4096]);
    let delta = mostly_zero(&mut rng, 8192);
    let f16: Vec<u8> = (0..2048)
        .flat_map(|_| half::f16::from_f64(rng.normal(0.5)).to_le_bytes())
        .collect();
    let i64s: Vec<u8> = (0..256)
        .flat_map(|_| (rng.below(200) as i64 - 100).to_le_bytes())
        .collect();
    let i32s: Vec<u8> = (0..500i32)
        .flat_map(|i| (i * 3 - 700).to_le_bytes())
        .collect();
    let mask: Vec<u8> = (0..1000).map(|_| (rng.below(4) == 0) as u8).collect();
    let f8: Vec<u8> = (0..777).map(|_| 0x30 + rng.below(16) as u8).collect();
    safetensors(
        &[
            tensor("embed.weight", "BF16", &[64, 64], bf16),
            tensor("proj.weight", "F32", &[32, 32], f32_clean),
            tensor("delta", "U8", &[8192], delta),
            tensor("head.weight", "F16", &[2048], f16),
            tensor("steps", "I64", &[256], i64s),
            tensor("ids", "I32", &[500], i32s),
            tensor("mask", "BOOL", &[1000], mask),
            tensor("scale", "F8_E4M3", &[777], f8),
        ],
        Some(&[("format", "pt"), ("note", "znn-gpu golden v1")]),
        true,
    )
}

/// Every tensor's whole elements lie in segments of the layout its dtype implies; the header lies in
/// byte segments.
pub fn check_safetensors_segments(file: &[u8], a: &Archive) {
    let layout_at = |pos: u64| {
        let s = a
            .index
            .segments()
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
        for s in a.index.segments() {
            if s.offset < end && start < s.offset + s.len {
                assert_eq!(s.layout, l, "tensor {name} ({dtype}) in segment {s:?}");
            }
        }
    }
}
