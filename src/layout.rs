//! Layouts (byte grouping): how the elements of a chunk are split into byte streams and merged back.
//! The stream definitions are normative (FORMAT.md, "Layouts"); the GPU transposition kernel
//! (`shaders/merge.wgsl`) implements the same merge.

#![forbid(unsafe_code)]

use crate::error::{Error, Result};

/// How a segment's elements are grouped into streams. The discriminant is the on-disk id.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Layout {
    /// One stream: the bytes themselves (FP8, INT8/UINT8, headers, anything else).
    Byte = 0,
    /// BF16: exponent stream E, then sign + 7 mantissa bits M.
    Bf16 = 1,
    /// FP16 and 16-bit integers: high byte, then low byte.
    Fp16 = 2,
    /// FP32: exponent, sign + top 7 mantissa bits, mantissa byte 1, mantissa byte 0.
    Fp32 = 3,
    /// FP64 and 64-bit integers: bytes 7, 6, ..., 0.
    Fp64 = 4,
    /// 32-bit integers: bytes 3, 2, 1, 0.
    Group4 = 5,
}

/// Most streams any layout has (FP64).
pub const MAX_STREAMS: usize = 8;

impl Layout {
    pub const ALL: [Layout; 6] = [
        Layout::Byte,
        Layout::Bf16,
        Layout::Fp16,
        Layout::Fp32,
        Layout::Fp64,
        Layout::Group4,
    ];

    pub fn from_id(id: u8) -> Result<Layout> {
        Layout::ALL
            .get(id as usize)
            .copied()
            .ok_or_else(|| Error::corrupt(format!("unknown layout id {id}")))
    }

    pub fn id(self) -> u8 {
        self as u8
    }

    /// Bytes per element.
    pub fn elem_size(self) -> usize {
        match self {
            Layout::Byte => 1,
            Layout::Bf16 | Layout::Fp16 => 2,
            Layout::Fp32 | Layout::Group4 => 4,
            Layout::Fp64 => 8,
        }
    }

    /// Streams per chunk; each holds one byte per element.
    pub fn stream_count(self) -> usize {
        self.elem_size()
    }

    pub fn name(self) -> &'static str {
        match self {
            Layout::Byte => "byte",
            Layout::Bf16 => "bf16",
            Layout::Fp16 => "fp16",
            Layout::Fp32 => "fp32",
            Layout::Fp64 => "fp64",
            Layout::Group4 => "group4",
        }
    }

    /// Parses a `--dtype` value.
    pub fn from_dtype_name(s: &str) -> Result<Layout> {
        match s.to_ascii_lowercase().as_str() {
            "bf16" | "bfloat16" => Ok(Layout::Bf16),
            "fp16" | "f16" | "float16" => Ok(Layout::Fp16),
            "fp32" | "f32" | "float32" => Ok(Layout::Fp32),
            "fp64" | "f64" | "float64" => Ok(Layout::Fp64),
            "byte" | "u8" | "i8" | "fp8" => Ok(Layout::Byte),
            other => Err(Error::invalid(format!(
                "unknown dtype '{other}' (expected bf16, fp16, fp32, fp64 or byte)"
            ))),
        }
    }

    /// Splits `src` (whole elements) into `stream_count()` streams of `src.len() / elem_size()`
    /// bytes each, written to `streams[k]`.
    pub fn split(self, src: &[u8], streams: &mut [Vec<u8>]) {
        let es = self.elem_size();
        debug_assert_eq!(src.len() % es, 0);
        let n = src.len() / es;
        // Every byte is overwritten below: a reused buffer is only resized, not zeroed.
        for s in streams.iter_mut().take(es) {
            s.resize(n, 0);
        }
        match self {
            Layout::Byte => streams[0].copy_from_slice(src),
            Layout::Bf16 => {
                let (e, m) = streams.split_at_mut(1);
                for ((c, e), m) in src
                    .chunks_exact(2)
                    .zip(e[0].iter_mut())
                    .zip(m[0].iter_mut())
                {
                    let w = u16::from_le_bytes([c[0], c[1]]);
                    *e = (w >> 7) as u8;
                    *m = ((w >> 8) & 0x80) as u8 | (w & 0x7F) as u8;
                }
            }
            Layout::Fp32 => {
                let [s0, s1, s2, s3, ..] = streams else {
                    unreachable!("fp32 has 4 streams")
                };
                let quads = s0
                    .iter_mut()
                    .zip(s1.iter_mut())
                    .zip(s2.iter_mut().zip(s3.iter_mut()));
                for (c, ((e, sm), (b1, b0))) in src.chunks_exact(4).zip(quads) {
                    let w = u32::from_le_bytes([c[0], c[1], c[2], c[3]]);
                    *e = (w >> 23) as u8;
                    *sm = ((w >> 24) & 0x80) as u8 | ((w >> 16) & 0x7F) as u8;
                    *b1 = c[1];
                    *b0 = c[0];
                }
            }
            Layout::Fp16 | Layout::Fp64 | Layout::Group4 => {
                // Stream j holds byte (es - 1 - j): most significant byte first.
                for (i, c) in src.chunks_exact(es).enumerate() {
                    for (j, s) in streams.iter_mut().take(es).enumerate() {
                        s[i] = c[es - 1 - j];
                    }
                }
            }
        }
    }

    /// Merges `streams` (each `out.len() / elem_size()` bytes) back into elements in `out`.
    /// The inverse of [`Layout::split`]; this runs on every decoded byte, so each arm is a
    /// branch-free loop the compiler vectorises.
    pub fn merge(self, streams: &[&[u8]], out: &mut [u8]) {
        let es = self.elem_size();
        let n = out.len() / es;
        debug_assert!(streams.len() >= es && streams.iter().take(es).all(|s| s.len() == n));
        match self {
            Layout::Byte => out.copy_from_slice(&streams[0][..n]),
            Layout::Bf16 => {
                let (e, m) = (&streams[0][..n], &streams[1][..n]);
                for ((o, &e), &m) in out.chunks_exact_mut(2).zip(e).zip(m) {
                    o.copy_from_slice(&float_top(e, m).to_le_bytes());
                }
            }
            Layout::Fp16 => {
                let (h, l) = (&streams[0][..n], &streams[1][..n]);
                for ((o, &h), &l) in out.chunks_exact_mut(2).zip(h).zip(l) {
                    o[0] = l;
                    o[1] = h;
                }
            }
            Layout::Fp32 => {
                let (s0, s1, s2, s3) = (
                    &streams[0][..n],
                    &streams[1][..n],
                    &streams[2][..n],
                    &streams[3][..n],
                );
                let quads = s0.iter().zip(s1).zip(s2.iter().zip(s3));
                for (o, ((&e, &sm), (&b1, &b0))) in out.chunks_exact_mut(4).zip(quads) {
                    let w = (float_top(e, sm) as u32) << 16 | (b1 as u32) << 8 | b0 as u32;
                    o.copy_from_slice(&w.to_le_bytes());
                }
            }
            Layout::Fp64 | Layout::Group4 => {
                for (j, s) in streams.iter().take(es).enumerate() {
                    let b = es - 1 - j;
                    for (o, &v) in out.chunks_exact_mut(es).zip(&s[..n]) {
                        o[b] = v;
                    }
                }
            }
        }
    }
}

/// FP32 elements from their top halves `top` (2-byte little-endian words, back to back) and
/// streams 2 and 3 (bytes 1 and 0): a streaming pass the compiler vectorises.
pub fn merge_fp32(top: &[u8], b1: &[u8], b0: &[u8], out: &mut [u8]) {
    let parts = top.chunks_exact(2).zip(b1).zip(b0);
    for (o, ((t, &h), &l)) in out.chunks_exact_mut(4).zip(parts) {
        let w = (u16::from_le_bytes([t[0], t[1]]) as u32) << 16 | (h as u32) << 8 | l as u32;
        o.copy_from_slice(&w.to_le_bytes());
    }
}

/// The top 16 bits of a BF16 or FP32 element from its exponent `e` and its sign + top mantissa
/// byte `m` (the inverse of the first two streams of [`Layout::split`]).
#[inline]
pub fn float_top(e: u8, m: u8) -> u16 {
    ((m as u16 & 0x80) << 8) | ((e as u16) << 7) | (m as u16 & 0x7F)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fp32_merges_from_top_halves_and_low_bytes() {
        for n in [0usize, 1, 15, 16, 17, 1000] {
            let src: Vec<u8> = (0..4 * n as u32)
                .map(|i| (i.wrapping_mul(2654435761) >> 11) as u8)
                .collect();
            let mut streams = vec![Vec::new(); 4];
            Layout::Fp32.split(&src, &mut streams);
            let top: Vec<u8> = (0..n)
                .flat_map(|i| float_top(streams[0][i], streams[1][i]).to_le_bytes())
                .collect();
            let mut out = vec![0xA5u8; src.len()];
            merge_fp32(&top, &streams[2], &streams[3], &mut out);
            assert_eq!(out, src, "{n} elements");
        }
    }

    #[test]
    fn split_merge_inverse_every_layout() {
        let src: Vec<u8> = (0..4096u32)
            .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
            .collect();
        for l in Layout::ALL {
            let mut streams = vec![Vec::new(); l.stream_count()];
            l.split(&src, &mut streams);
            let refs: Vec<&[u8]> = streams.iter().map(|s| s.as_slice()).collect();
            let mut out = vec![0u8; src.len()];
            l.merge(&refs, &mut out);
            assert_eq!(out, src, "{l:?}");
        }
    }

    #[test]
    fn bf16_streams_are_exponent_and_sign_mantissa() {
        let v = half::bf16::from_f32(-1.5).to_bits().to_le_bytes();
        let mut s = vec![Vec::new(); 2];
        Layout::Bf16.split(&v, &mut s);
        assert_eq!(s[0], [127]); // biased exponent of 1.5
        assert_eq!(s[1], [0x80 | 0x40]); // sign, mantissa .1000000
    }
}
