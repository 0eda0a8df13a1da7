//! Every single-bit flip and every truncation of a small real `.znn`, through every decoder: the CPU
//! decoder in memory (`decompress_bytes`) and from a reader (`decompress_stream`), and the GPU
//! decoder on lavapipe. `tests/corruption.rs` flips whole bytes with a few masks; here each of the
//! file's bits is flipped on its own, so that no single-bit error (the common kind of storage or
//! transfer damage) goes unchecked.
//!
//! Invariant: a damaged file gives a clean `Err` or the original bytes, never a panic, a hang or
//! other bytes. The original is allowed only where FORMAT.md's own reference decoder (tests/common)
//! accepts the damaged file too: bits no check covers, such as the zero padding bits at the end of
//! a Huffman sub-stream, which readers must ignore (so every such flip must decode to the original),
//! and the header's chunk size when every segment fits in one chunk of the old and the new size (the
//! index then describes the same chunks; nothing else in the file depends on it).

use znn_test_support as common;

use common::*;
use rayon::prelude::*;
use std::collections::BTreeMap;
use std::io::Cursor;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::OnceLock;
use znn_gpu::codec::CodecSet;
use znn_gpu::ErrorKind;
use znn_gpu::{compress_bytes, decompress_bytes, decompress_stream, Archive, Error, Layout};

/// The fixture: tensors of the shipped model in a small valid safetensors file, compressed with
/// 4 KiB chunks so that it holds every codec (raw, const, huffman, zstd) in a few KB.
struct Fixture {
    orig: Vec<u8>,
    znn: Vec<u8>,
    /// File offsets of the data region (between the header and the index).
    data: std::ops::Range<usize>,
    /// Huffman padding bits: (file offset, mask).
    padding: std::collections::HashMap<usize, u8>,
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| make_fixture(CodecSet::Fast))
}

/// BF16, FP16 and FP32 tensors whose mantissa top bits depend on the exponent
/// ([`pair_skewed`]), with pair codes (format v3): every float chunk is pair coded at 4 KiB.
fn pair_fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| make_fixture(CodecSet::Small))
}

fn make_fixture(codecs: CodecSet) -> Fixture {
    let model = repo_model();
    // Real FP32 weights: the largest tensor's first 1024 values (a conv kernel).
    let (_, _, r) = read_safetensors(&model)
        .into_iter()
        .filter(|t| t.1 == "F32")
        .max_by_key(|t| t.2.len())
        .unwrap();
    let f32w = model[r.start..r.start + 4096].to_vec();
    let bf16w = f32_to_bf16(&model[r.start + 4096..r.start + 12288]);
    // BF16 values widened to F32: the two low bytes of each element are zero (const streams).
    let widened = bf16_widen(&bf16w[..2048]);
    // A checkpoint delta: mostly zero bytes (zstd).
    let delta = mostly_zero(&mut Rng::new(5), 4096);
    let orig = if codecs == CodecSet::Fast {
        safetensors(
            &[
                tensor("conv.weight", "F32", &[1024], f32w),
                tensor("conv.bf16", "BF16", &[2048], bf16w),
                tensor("proj.weight", "F32", &[1024], widened),
                tensor("delta", "U8", &[4096], delta),
            ],
            Some(&[("format", "pt")]),
            true,
        )
    } else {
        safetensors(
            &[
                tensor(
                    "p.bf16",
                    "BF16",
                    &[2048],
                    pair_skewed(Layout::Bf16, 2048, 1),
                ),
                tensor("p.f16", "F16", &[2048], pair_skewed(Layout::Fp16, 2048, 2)),
                tensor("p.f32", "F32", &[1024], pair_skewed(Layout::Fp32, 1024, 3)),
            ],
            None,
            true,
        )
    };
    let o = with_codecs(&opts(4096, 256, Layout::Bf16), codecs);
    let znn = compress_bytes(&orig, &o).unwrap();
    let a = check_archive(&znn, &orig, &o, "bitflip fixture");
    let n = codec_counts(&a);
    if codecs == CodecSet::Fast {
        assert!(n.iter().all(|&c| c > 0), "fixture uses every codec: {n:?}");
    } else {
        let p = pair_counts(&a);
        assert!(
            p[0] >= 3 && znn[8] == 3,
            "pair fixture uses pair codes: {p:?}"
        );
    }
    eprintln!(
            "fixture: {} original bytes, {} compressed, {} chunks, streams raw/const/huffman/zstd = {n:?}",
            orig.len(),
            znn.len(),
            a.index.chunks().len()
        );
    let data = Archive::DATA_START as usize..(Archive::DATA_START + a.data_len()) as usize;
    let padding = huffman_padding(&znn);
    Fixture {
        orig,
        znn,
        data,
        padding,
    }
}

fn kind(e: &Error) -> &'static str {
    match e.kind() {
        ErrorKind::Corrupt => "corrupt",
        ErrorKind::Truncated => "truncated",
        ErrorKind::UnsupportedVersion => "version",
        ErrorKind::InvalidArgument => "invalid-argument",
        ErrorKind::Io => "io",
        ErrorKind::Gpu => "gpu",
    }
}

/// What one decode of a damaged file did.
#[derive(Clone, Debug, PartialEq)]
enum Outcome {
    Err(&'static str),
    Same,
    /// A failure of the invariant: a panic or wrong output.
    Bad(String),
}

fn outcome(r: std::thread::Result<znn_gpu::Result<Vec<u8>>>, orig: &[u8]) -> Outcome {
    match r {
        Ok(Err(e)) => Outcome::Err(kind(&e)),
        Ok(Ok(out)) if out == orig => Outcome::Same,
        Ok(Ok(out)) => Outcome::Bad(format!("accepted, WRONG OUTPUT ({} bytes)", out.len())),
        Err(p) => Outcome::Bad(format!(
            "PANIC: {}",
            p.downcast_ref::<String>()
                .cloned()
                .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default()
        )),
    }
}

fn cpu_bytes(f: &[u8], orig: &[u8]) -> Outcome {
    outcome(catch_unwind(AssertUnwindSafe(|| decompress_bytes(f))), orig)
}

fn cpu_stream(f: &[u8], orig: &[u8]) -> Outcome {
    outcome(
        catch_unwind(AssertUnwindSafe(|| {
            let mut out = Vec::new();
            decompress_stream(&mut Cursor::new(f), &mut out, &mut |_| {}).map(|_| out)
        })),
        orig,
    )
}

/// Counts of outcomes for one decoder, and the failures (with the case that caused them).
#[derive(Default)]
struct Tally {
    cases: usize,
    errors: BTreeMap<&'static str, usize>,
    same: usize,
    failures: Vec<String>,
}

impl Tally {
    fn add(&mut self, case: &str, o: &Outcome, same_allowed: bool) {
        self.cases += 1;
        match o {
            Outcome::Err(k) => *self.errors.entry(k).or_default() += 1,
            Outcome::Same if same_allowed => self.same += 1,
            Outcome::Same => self
                .failures
                .push(format!("{case}: decoded to the original")),
            Outcome::Bad(m) => self.failures.push(format!("{case}: {m}")),
        }
    }
    #[track_caller]
    fn report(&self, what: &str) {
        eprintln!(
            "{what}: {} cases, errors by kind {:?}, identical output {}",
            self.cases, self.errors, self.same
        );
        assert!(
            self.failures.is_empty(),
            "{what}: {} failures:\n{}",
            self.failures.len(),
            self.failures[..self.failures.len().min(30)].join("\n")
        );
    }
}

fn flip(f: &[u8], bit: usize) -> Vec<u8> {
    let mut g = f.to_vec();
    g[bit / 8] ^= 1 << (bit % 8);
    g
}

/// Whether a flip of `bit` may decode to the original: only where the specification's reference
/// decoder also accepts the damaged file and yields the original (decided lazily: it is slow).
fn spec_accepts(g: &[u8], orig: &[u8]) -> bool {
    ref_decode(g).as_deref() == Ok(orig)
}

#[test]
fn every_bit_flip_is_an_error_or_the_original() {
    bit_flips(fixture());
}

#[test]
fn every_bit_flip_of_a_pair_coded_file_is_an_error_or_the_original() {
    bit_flips(pair_fixture());
}

fn bit_flips(fx: &Fixture) {
    let bits = fx.znn.len() * 8;
    let results: Vec<(usize, Outcome, Outcome, bool)> = (0..bits)
        .into_par_iter()
        .map(|bit| {
            let g = flip(&fx.znn, bit);
            let b = cpu_bytes(&g, &fx.orig);
            let s = cpu_stream(&g, &fx.orig);
            let allowed = (b == Outcome::Same || s == Outcome::Same) && spec_accepts(&g, &fx.orig);
            (bit, b, s, allowed)
        })
        .collect();
    let (mut tb, mut ts) = (Tally::default(), Tally::default());
    let (mut padding_bits, mut outside) = (0, Vec::new());
    for (bit, b, s, allowed) in &results {
        let case = format!("bit {bit} (byte {} ^ {:#04x})", bit / 8, 1u8 << (bit % 8));
        tb.add(&case, b, *allowed);
        ts.add(&case, s, *allowed);
        // Both readers of the library agree on every file: one cannot accept what the other
        // rejects.
        if (*b == Outcome::Same) != (*s == Outcome::Same) {
            tb.failures.push(format!(
                "{case}: decompress_bytes {b:?}, decompress_stream {s:?}"
            ));
        }
        // A padding bit is ignored by every reader (FORMAT.md: readers ignore these bits).
        let byte = bit / 8;
        if fx
            .padding
            .get(&byte)
            .is_some_and(|m| m & (1 << (bit % 8)) != 0)
        {
            padding_bits += 1;
            if *b != Outcome::Same {
                tb.failures
                    .push(format!("{case}: Huffman padding bit rejected ({b:?})"));
            }
        } else if *b == Outcome::Same && !fx.data.contains(&byte) {
            // Outside the data region only a field no check can see qualifies: the header's
            // chunk size, when every segment fits in one chunk of either size (the index then
            // reads the same); the reference decoder accepted the file, as `allowed` says.
            outside.push(*bit);
        }
    }
    eprintln!(
        "bit flips: {bits} bits of a {}-byte file, each through 2 decoders ({} Huffman padding bits)",
        fx.znn.len(),
        padding_bits
    );
    eprintln!("flips outside the data region that decoded to the original: bits {outside:?}");
    assert!(
        outside.iter().all(|b| (96..128).contains(b)),
        "only the header's chunk size field may be unchecked: {outside:?}"
    );
    tb.report("decompress_bytes bit flips");
    ts.report("decompress_stream bit flips");
    assert_eq!(tb.cases, bits);
}

#[test]
fn every_truncation_is_an_error() {
    truncations(fixture());
}

#[test]
fn every_truncation_of_a_pair_coded_file_is_an_error() {
    truncations(pair_fixture());
}

fn truncations(fx: &Fixture) {
    let n = fx.znn.len();
    let results: Vec<(usize, Outcome, Outcome)> = (0..n)
        .into_par_iter()
        .map(|len| {
            let g = &fx.znn[..len];
            (len, cpu_bytes(g, &fx.orig), cpu_stream(g, &fx.orig))
        })
        .collect();
    let (mut tb, mut ts) = (Tally::default(), Tally::default());
    for (len, b, s) in &results {
        // A prefix is never the whole file: no outcome but an error is right.
        tb.add(&format!("prefix of {len} bytes"), b, false);
        ts.add(&format!("prefix of {len} bytes"), s, false);
    }
    eprintln!("truncations: {n} prefixes (0..{n} bytes), each through 2 decoders");
    tb.report("decompress_bytes truncations");
    ts.report("decompress_stream truncations");
}

/// The same damaged files through the GPU decoder (lavapipe in CI): every bit of the header, index
/// and trailer; in the data region every bit of the first 64 bytes of each chunk's payload region
/// and every 7th bit elsewhere (a lavapipe decode costs milliseconds, so all 64k bits would take
/// minutes); and a truncation at every 7th length plus the lengths around each region boundary.
#[test]
fn gpu_decoder_bit_flips_and_truncations() {
    let Some(mut gpu) = gpu() else { return };
    let fx = fixture();
    let bits = fx.znn.len() * 8;
    let a = Archive::from_bytes(&fx.znn).unwrap();
    let chunk_starts: Vec<usize> = a
        .index
        .chunks()
        .iter()
        .map(|c| fx.data.start + c.data_offset as usize)
        .collect();
    let near_chunk_start = |byte: usize| chunk_starts.iter().any(|&s| byte >= s && byte < s + 64);
    let mut flips = Tally::default();
    for bit in 0..bits {
        let byte = bit / 8;
        let in_data = fx.data.contains(&byte);
        if in_data && !near_chunk_start(byte) && bit % 7 != 0 {
            continue;
        }
        let g = flip(&fx.znn, bit);
        let o = outcome(
            catch_unwind(AssertUnwindSafe(|| gpu.decompress_bytes(&g))),
            &fx.orig,
        );
        let allowed = o == Outcome::Same && spec_accepts(&g, &fx.orig);
        flips.add(&format!("GPU bit {bit}"), &o, allowed);
    }
    let n = fx.znn.len();
    let mut lens: Vec<usize> = (0..n).step_by(7).collect();
    for edge in [16, fx.data.end, n - 40] {
        lens.extend(edge.saturating_sub(3)..(edge + 3).min(n));
    }
    lens.extend(n - 8..n);
    lens.sort_unstable();
    lens.dedup();
    let mut cuts = Tally::default();
    for len in lens {
        let o = outcome(
            catch_unwind(AssertUnwindSafe(|| gpu.decompress_bytes(&fx.znn[..len]))),
            &fx.orig,
        );
        cuts.add(&format!("GPU prefix of {len} bytes"), &o, false);
    }
    // The decoder still works after all the damage it was given.
    assert_same(
        &gpu.decompress_bytes(&fx.znn).unwrap(),
        &fx.orig,
        "GPU after hostile input",
    );
    flips.report("GPU bit flips");
    cuts.report("GPU truncations");
}

/// A GPU decoder on Vulkan (lavapipe in CI), or `None` with a SKIPPED line when no adapter exists.
fn gpu() -> Option<znn_gpu::GpuDecoder> {
    match znn_gpu::GpuDecoder::new() {
        Ok(d) => Some(d),
        Err(Error::NoAdapter(m)) => {
            say_skipped(&format!("SKIPPED: no GPU adapter ({m})"));
            None
        }
        Err(e) => panic!("GPU decoder: {e}"),
    }
}
