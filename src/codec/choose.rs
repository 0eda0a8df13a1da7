//! The encoder's choice of codec per stream, by measured (or tightly estimated) size: raw unless a
//! codec saves enough, const for one-valued streams, zstd where zeros dominate.

#![forbid(unsafe_code)]

use super::{huffman, rans, raw, zstd, Encoded, EncodedStream};
use crate::constants::{
    HUFFMAN_MAX_RATIO, SAMPLE_RAW_RATIO, SAMPLE_STRIDE, ZSTD_ZERO_FRACTION, ZSTD_ZERO_RUN_FRACTION,
};
use crate::error::Result;
use crate::huffman::{code_lengths, encoded_bits};

fn histogram(s: &[u8]) -> [u64; 256] {
    // Four tables so that runs of one symbol do not serialise on one counter.
    let mut h = [[0u32; 256]; 4];
    let mut quads = s.chunks_exact(4);
    for q in &mut quads {
        h[0][q[0] as usize] += 1;
        h[1][q[1] as usize] += 1;
        h[2][q[2] as usize] += 1;
        h[3][q[3] as usize] += 1;
    }
    for &b in quads.remainder() {
        h[0][b as usize] += 1;
    }
    let mut out = [0u64; 256];
    for (i, o) in out.iter_mut().enumerate() {
        *o = h.iter().map(|t| t[i] as u64).sum();
    }
    out
}

/// True when zeros dominate the stream (the ZipNN rule for choosing zstd).
fn zeros_dominate(s: &[u8], zeros: u64) -> bool {
    let n = s.len() as f64;
    if zeros as f64 > ZSTD_ZERO_FRACTION * n {
        return true;
    }
    let min_run = (ZSTD_ZERO_RUN_FRACTION * n) as usize;
    if (zeros as usize) <= min_run {
        return false;
    }
    let mut run = 0usize;
    for &b in s {
        run = if b == 0 { run + 1 } else { 0 };
        if run > min_run {
            return true;
        }
    }
    false
}

/// True when a 1-in-`SAMPLE_STRIDE` sample shows a stream that is clearly raw: many distinct
/// values, few zeros, and a Huffman estimate above `SAMPLE_RAW_RATIO` of raw. Sign/mantissa streams
/// of real weights are such; skipping their full histogram saves a third of compression time.
fn clearly_raw(s: &[u8]) -> bool {
    let Some((h, m)) = raw_candidate_sample(s) else {
        return false;
    };
    let cut = SAMPLE_RAW_RATIO * 8.0 * m as f64;
    // Building the sample's code lengths (a sort and a tree) was most of this function's time, and
    // the entropy H decides most streams without them. Huffman never codes the sample in fewer
    // than H bits, so above the cut the lengths would say the same (the margin covers the rounding
    // of the float sum, ~1e-11 here). Huffman takes under H + 1 bit per symbol, so a stream with
    // H + m under the cut is not raw (exponent streams); then the full pass decides by measured
    // size, as it does for every stream this function does not call raw.
    let h_bits = entropy_bits(&h, m);
    if h_bits > cut * (1.0 + 1e-9) {
        return true;
    }
    if h_bits + m as f64 <= cut {
        return false;
    }
    let lens = code_lengths(&h);
    encoded_bits(&h, &lens) as f64 > cut
}

/// The histogram of `s`'s 1-in-`SAMPLE_STRIDE` sample and its size, unless the stream is too short
/// to sample or the sample rules raw out (fewer than two values, or a quarter or more zeros).
fn raw_candidate_sample(s: &[u8]) -> Option<([u64; 256], u64)> {
    if s.len() < 16 * SAMPLE_STRIDE {
        return None;
    }
    let mut h = [0u64; 256];
    for &b in s.iter().step_by(SAMPLE_STRIDE) {
        h[b as usize] += 1;
    }
    let m: u64 = h.iter().sum();
    let raw_possible = h.iter().filter(|&&c| c > 0).count() >= 2 && h[0] * 4 <= m;
    raw_possible.then_some((h, m))
}

/// The order-0 entropy of `m` symbols with counts `h`, in bits: `m log2 m - sum c log2 c`.
fn entropy_bits(h: &[u64; 256], m: u64) -> f64 {
    let xlogx = |c: u64| c as f64 * (c as f64).log2();
    xlogx(m) - h.iter().filter(|&&c| c > 0).map(|&c| xlogx(c)).sum::<f64>()
}

/// The codec chosen for one stream, before its payload is written: what the encoder compares a
/// pair code against without coding both.
// Lives on the stack for one stream; boxing the lengths would allocate per stream.
#[allow(clippy::large_enum_variant)]
pub enum StreamPlan {
    Raw,
    Const(u8),
    /// The stream already coded (zstd's size is only known by coding).
    Zstd(Vec<u8>),
    /// Code lengths and the payload size estimate ([`huffman::estimate`]).
    Huffman {
        lens: [u8; 256],
        est: u64,
    },
    /// Frequencies and the payload size estimate ([`rans::estimate`]).
    Rans {
        freq: [u16; 256],
        est: u64,
    },
}

impl StreamPlan {
    /// Bounds on the payload size of the stream `s` of `n` elements coded by this plan: a Huffman
    /// estimate counts one byte of padding per sub-stream, which each sub-stream may or may not
    /// use.
    pub fn size_bounds(&self, n: usize, sub_symbols: usize) -> (u64, u64) {
        match self {
            StreamPlan::Raw => (n as u64, n as u64),
            StreamPlan::Const(_) => (0, 0),
            StreamPlan::Zstd(z) => (z.len() as u64, z.len() as u64),
            StreamPlan::Huffman { est, .. } => (est - n.div_ceil(sub_symbols) as u64, *est),
            // The estimate counts 6 bytes per sub-stream for the 4-byte state and rounding.
            StreamPlan::Rans { est, .. } => (est - 6 * n.div_ceil(sub_symbols) as u64, *est),
        }
    }

    /// Codes `s` by this plan; appends its payload to `out`.
    pub fn apply(self, s: &[u8], sub_symbols: usize, out: &mut Vec<u8>) -> EncodedStream {
        let start = out.len();
        let fields = match self {
            StreamPlan::Raw => {
                raw::encode(s, out);
                Encoded::Raw
            }
            StreamPlan::Const(v) => Encoded::Const(v),
            StreamPlan::Zstd(z) => {
                out.extend_from_slice(&z);
                Encoded::Zstd
            }
            StreamPlan::Huffman { lens, .. } => {
                Encoded::Huffman(huffman::encode(s, &lens, sub_symbols, out))
            }
            StreamPlan::Rans { freq, est } => {
                let subs = rans::encode(s, &freq, sub_symbols, out);
                debug_assert!(
                    (out.len() - start) as u64 <= est,
                    "rans estimate is a bound"
                );
                Encoded::Rans(subs)
            }
        };
        EncodedStream {
            fields,
            comp_len: (out.len() - start) as u32,
        }
    }
}

/// Picks the codec of stream `s`; rANS (format v4) only if `rans`.
pub fn plan_stream(s: &[u8], sub_symbols: usize, rans: bool) -> Result<StreamPlan> {
    plan_stream_with(s, sub_symbols, rans, histogram)
}

/// [`plan_stream`] with the stream's histogram from `hist` (called only when needed), for a caller
/// that has it already.
pub fn plan_stream_with(
    s: &[u8],
    sub_symbols: usize,
    allow_rans: bool,
    hist: impl FnOnce(&[u8]) -> [u64; 256],
) -> Result<StreamPlan> {
    let n = s.len();
    if clearly_raw(s) {
        return Ok(StreamPlan::Raw);
    }
    let hist = hist(s);
    if hist.iter().filter(|&&c| c > 0).count() <= 1 {
        return Ok(StreamPlan::Const(s.first().copied().unwrap_or(0)));
    }
    let (huff_len, lens) = huffman::estimate(&hist, n, sub_symbols);
    let pays = |len: u64| (len as f64) < HUFFMAN_MAX_RATIO * n as f64;
    let huffman_pays = pays(huff_len);
    // rANS where it is smaller than Huffman's bound (so never a larger file than without it).
    let rans = allow_rans
        .then(|| rans::estimate(&hist, n, sub_symbols))
        .filter(|&(len, _)| pays(len) && len < huff_len);
    let best = match rans {
        Some((len, _)) => len,
        None if huffman_pays => huff_len,
        None => n as u64,
    };
    if zeros_dominate(s, hist[0]) {
        let z = zstd::encode(s)?;
        if (z.len() as u64) < best {
            return Ok(StreamPlan::Zstd(z));
        }
    }
    if let Some((est, freq)) = rans {
        return Ok(StreamPlan::Rans { freq, est });
    }
    if !huffman_pays {
        return Ok(StreamPlan::Raw);
    }
    Ok(StreamPlan::Huffman {
        lens,
        est: huff_len,
    })
}

/// Picks and applies the codec of stream `s`; appends its payload to `out`.
pub fn encode_stream(
    s: &[u8],
    sub_symbols: usize,
    rans: bool,
    out: &mut Vec<u8>,
) -> Result<EncodedStream> {
    Ok(plan_stream(s, sub_symbols, rans)?.apply(s, sub_symbols, out))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::Codec;

    fn codec_of(s: &[u8]) -> Codec {
        encode_stream(s, 4096, false, &mut Vec::new())
            .unwrap()
            .fields
            .codec()
    }

    /// `clearly_raw` as it was before the entropy shortcuts: the sample's code lengths decide.
    fn raw_by_lengths(s: &[u8]) -> bool {
        raw_candidate_sample(s).is_some_and(|(h, m)| {
            encoded_bits(&h, &code_lengths(&h)) as f64 > SAMPLE_RAW_RATIO * 8.0 * m as f64
        })
    }

    #[test]
    fn the_entropy_shortcuts_decide_as_the_code_lengths_do() {
        let mut x = 0x9E3779B97F4A7C15u64;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let (mut raw, mut coded) = (0, 0);
        for case in 0..600u64 {
            let len = [4096, 16384, 65536][case as usize % 3];
            // Uniform over k values (k near 256: the cut), or a mixture of uniform bytes and one
            // value, across the whole range of entropies.
            let k = if case % 2 == 0 {
                1 + next() % 256
            } else {
                240 + next() % 17
            };
            let dominant = [0, next() % 4, next() % 100][case as usize / 3 % 3];
            let s: Vec<u8> = (0..len)
                .map(|_| {
                    let r = next();
                    if r % 100 < dominant {
                        7
                    } else {
                        ((r >> 8) % k) as u8
                    }
                })
                .collect();
            let want = raw_by_lengths(&s);
            assert_eq!(
                clearly_raw(&s),
                want,
                "case {case}: k {k}, dominant {dominant}%"
            );
            if want {
                raw += 1;
            } else {
                coded += 1;
            }
        }
        assert!(raw > 50 && coded > 50, "{raw} raw, {coded} not");
    }

    #[test]
    fn each_kind_of_stream_gets_its_codec() {
        let random: Vec<u8> = (0..65536u32)
            .map(|i| (i.wrapping_mul(2654435761) >> 11) as u8)
            .collect();
        let skewed: Vec<u8> = (0..65536u32).map(|i| 120 + (i % 7 == 0) as u8).collect();
        let zeros: Vec<u8> = (0..65536u32).map(|i| (i % 500 == 0) as u8 * 3).collect();
        assert_eq!(codec_of(&random), Codec::Raw);
        assert_eq!(codec_of(&skewed), Codec::Huffman);
        assert_eq!(codec_of(&zeros), Codec::Zstd);
        assert_eq!(codec_of(&[5; 1000]), Codec::Const);
        assert_eq!(codec_of(&[]), Codec::Const);
        // With rANS allowed: a dominant symbol goes to rANS, random bytes stay raw.
        let rans_of = |s: &[u8]| {
            encode_stream(s, 4096, true, &mut Vec::new())
                .unwrap()
                .fields
                .codec()
        };
        // 80% zeros at random, the rest 1..=3 (a fine-tune's XOR): zstd is tried and loses.
        let mut x = 0x9E3779B97F4A7C15u64;
        let near_zero: Vec<u8> = (0..65536)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                ((x >> 32) % 5 == 0) as u8 * (1 + (x >> 40) as u8 % 3)
            })
            .collect();
        assert_eq!(rans_of(&near_zero), Codec::Rans);
        assert_eq!(rans_of(&random), Codec::Raw);
        assert_eq!(rans_of(&[5; 1000]), Codec::Const);
    }
}
