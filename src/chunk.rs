//! One chunk: split into streams, a codec per stream ([`crate::codec`]), and the exact inverse,
//! verified against the chunk's checksum.

#![forbid(unsafe_code)]

use crate::codec::pair_decode::WordTable;
use crate::codec::{
    choose, constant, huffman, pair, rans, zstd, CodecSet, Coding, DecodeCtx, Encoded,
    EncodedStream, Pairing,
};
use crate::error::{Error, Result};
use crate::format::Index;
use crate::huffman::decode::DecodeTables;
use crate::layout::{Layout, MAX_STREAMS};
use std::ops::Range;
use xxhash_rust::xxh3::xxh3_64;

/// A coded chunk: its checksum, its streams and their payloads back to back.
#[derive(Clone, Debug, Default)]
pub struct EncodedChunk {
    pub checksum: u64,
    pub streams: Vec<EncodedStream>,
    pub payload: Vec<u8>,
}

/// Per-thread compression scratch, reused across chunks.
#[derive(Default)]
pub struct EncodeScratch {
    streams: Vec<Vec<u8>>,
}

/// Codes one chunk of whole elements with the codecs of `codecs`, no pair codes if `delta` (the
/// chunk is the XOR with a base: its streams are near zero, not exponents). `payload` is an empty
/// buffer to code into (callers recycle them: a fresh 256 KiB allocation per chunk costs page faults
/// comparable to the coding itself).
pub fn encode_chunk(
    layout: Layout,
    src: &[u8],
    sub_symbols: usize,
    codecs: CodecSet,
    delta: bool,
    scratch: &mut EncodeScratch,
    mut payload: Vec<u8>,
) -> Result<EncodedChunk> {
    scratch.streams.resize_with(MAX_STREAMS, Vec::new);
    layout.split(src, &mut scratch.streams);
    payload.clear();
    payload.reserve(src.len() + 256);
    let mut chunk = EncodedChunk {
        checksum: xxh3_64(src),
        streams: Vec::with_capacity(layout.stream_count()),
        payload,
    };
    let streams = &scratch.streams[..layout.stream_count()];
    // The first two streams of the float layouts (exponent and sign + top mantissa bits, or
    // FP16's two bytes) as one pair code, where that is smaller than the two coded alone.
    let pairs = !delta && matches!(layout, Layout::Bf16 | Layout::Fp16 | Layout::Fp32);
    let rans = codecs.rans();
    let mut first = 0;
    if pairs && !codecs.pair_bits().is_empty() {
        let coded = encode_pair_or_alone(
            &streams[0],
            &streams[1],
            sub_symbols,
            codecs.pair_bits(),
            rans,
            &mut chunk.payload,
        )?;
        chunk.streams.extend(coded);
        first = 2;
    }
    for s in &streams[first..] {
        chunk.streams.push(choose::encode_stream(
            s,
            sub_symbols,
            rans,
            &mut chunk.payload,
        )?);
    }
    Ok(chunk)
}

/// Codes streams `a` and `b` (the chunk's first two, `payload` still empty) as one pair code or
/// each alone, whichever makes the smaller chunk, index records counted. Each side's size is first
/// known to within a byte of padding per sub-stream and a few record bytes; only where those ranges
/// overlap are both coded and measured, so most chunks are coded once.
fn encode_pair_or_alone(
    a: &[u8],
    b: &[u8],
    sub_symbols: usize,
    bits: &[u8],
    rans: bool,
    payload: &mut Vec<u8>,
) -> Result<[EncodedStream; 2]> {
    debug_assert!(payload.is_empty());
    let joint = pair::histogram(a, b);
    let plans = [
        choose::plan_stream_with(a, sub_symbols, rans, |_| pair::first_byte_histogram(&joint))?,
        choose::plan_stream(b, sub_symbols, rans)?,
    ];
    let (lo, hi) = plans
        .iter()
        .zip([a, b])
        .map(|(p, s)| p.size_bounds(s.len(), sub_symbols))
        .fold((0, 0), |(l, h), (pl, ph)| (l + pl, h + ph));
    let subs = a.len().div_ceil(sub_symbols) as u64;
    // More than the records of either side can differ by: up to 3 varint bytes per sub-stream
    // length for each of two streams, plus codec bytes, `bits` and `comp_len` varints.
    let margin = 6 * subs + 16;
    let pair = pair::plan(&joint, a.len(), sub_symbols, bits)
        .filter(|p| p.size.saturating_sub(subs) < hi + margin);
    let paired = |p: &pair::Plan, payload: &mut Vec<u8>| {
        let start = payload.len();
        let subs = pair::encode(a, b, p, sub_symbols, payload);
        let comp_len = (payload.len() - start) as u32;
        let fields = Encoded::Pair { bits: p.bits, subs };
        [
            EncodedStream { fields, comp_len },
            EncodedStream {
                fields: Encoded::Paired,
                comp_len: 0,
            },
        ]
    };
    if let Some(p) = pair.as_ref().filter(|p| p.size + margin < lo) {
        return Ok(paired(p, payload));
    }
    let [pa, pb] = plans;
    let alone = [
        pa.apply(a, sub_symbols, payload),
        pb.apply(b, sub_symbols, payload),
    ];
    let Some(p) = pair else {
        return Ok(alone);
    };
    let mut coded = Vec::new();
    let with_pair = paired(&p, &mut coded);
    let cost = |s: &[EncodedStream; 2], payload: usize| {
        payload
            + s.iter()
                .map(|s| record_bytes(&s.fields, s.comp_len))
                .sum::<usize>()
    };
    if cost(&with_pair, coded.len()) < cost(&alone, payload.len()) {
        payload.clear();
        payload.extend_from_slice(&coded);
        return Ok(with_pair);
    }
    Ok(alone)
}

/// Bytes of a stream record in the chunk map (FORMAT.md "Chunk record").
fn record_bytes(fields: &Encoded, comp_len: u32) -> usize {
    let varint = |v: u32| (32 - v.leading_zeros()).div_ceil(7).max(1) as usize;
    let subs = |s: &[u32]| s.iter().map(|&l| varint(l)).sum::<usize>();
    1 + varint(comp_len)
        + match fields {
            Encoded::Raw | Encoded::Zstd | Encoded::Paired => 0,
            Encoded::Const(_) => 1,
            Encoded::Huffman(s) | Encoded::Rans(s) => subs(s),
            Encoded::Pair { subs: s, .. } => 1 + subs(s),
        }
}

/// Per-thread decompression scratch: stream buffers and Huffman tables, reused across chunks.
pub struct DecodeScratch {
    streams: Vec<Vec<u8>>,
    tables: DecodeTables,
    pair: WordTable,
    rans: rans::DecodeTable,
    zstd: Option<zstd::Decoder>,
}

impl Default for DecodeScratch {
    fn default() -> Self {
        DecodeScratch {
            streams: vec![Vec::new(); MAX_STREAMS],
            tables: DecodeTables::default(),
            pair: WordTable::default(),
            rans: rans::DecodeTable::default(),
            zstd: None,
        }
    }
}

/// Decodes chunk `ci` of `idx` into `out` (its original length) and verifies its checksum.
/// `payload` starts at the chunk's first payload byte; it may extend past the chunk, and should keep
/// `DECODE_PADDING` readable bytes after the chunk for the fast Huffman loop (without them the
/// decoder stays correct, only slower at the very end). A delta chunk needs `base`: the base bytes
/// under it (its original length), XORed into the decoded bytes before the checksum is verified.
pub fn decode_chunk(
    idx: &Index,
    ci: usize,
    payload: &[u8],
    scratch: &mut DecodeScratch,
    base: Option<&[u8]>,
    out: &mut [u8],
) -> Result<()> {
    let c = &idx.chunks()[ci];
    let layout = idx.layout(c);
    let n = idx.elements(c);
    debug_assert_eq!(out.len(), c.orig_len as usize);
    if payload.len() < c.data_len as usize {
        return Err(Error::truncated("chunk payload"));
    }
    let recs = idx.chunk_streams(c);
    // Raw streams are read straight from the payload; the others are decoded into scratch. A pair
    // code over the first two streams of a float layout writes BF16 and FP16 elements straight
    // into `out`, and FP32's top halves into stream 0's buffer for one streaming merge.
    let mut direct: [Option<Range<usize>>; MAX_STREAMS] = Default::default();
    let fused = matches!(layout, Layout::Bf16 | Layout::Fp16 | Layout::Fp32)
        && matches!(recs.first().map(|s| s.pairing), Some(Pairing::Pair { .. }));
    for (k, s) in recs.iter().enumerate() {
        let off = (s.data_offset - c.data_offset) as usize;
        let len = s.comp_len as usize;
        let (done, rest) = scratch.streams.split_at_mut(k);
        let mut earlier: [&[u8]; MAX_STREAMS] = [&[]; MAX_STREAMS];
        for (j, e) in earlier.iter_mut().enumerate().take(k) {
            *e = match &direct[j] {
                Some(r) => &payload[r.clone()],
                // Decoded into `out`, not into a stream buffer.
                None if fused && j < 2 => &[],
                None => &done[j][..n],
            };
        }
        let ctx = DecodeCtx {
            n,
            sub_symbols: idx.sub_symbols() as usize,
            earlier: &earlier[..k],
        };
        let buf = &mut rest[0];
        match s.pairing {
            Pairing::Alone => {}
            // Decoded with the pair stream before it (the parser checked the order).
            Pairing::Paired => continue,
            Pairing::Pair { bits } if fused && k == 0 => {
                let subs = idx.stream_sub_lens(s, n);
                let p = &payload[off..];
                let t = &mut scratch.pair;
                // FP32's top halves go to stream 0's buffer, merged with the low bytes below.
                let dst = if layout == Layout::Fp32 {
                    buf.resize(2 * n, 0);
                    &mut buf[..]
                } else {
                    &mut *out
                };
                let done =
                    pair::decode_elements(layout, n, ctx.sub_symbols, p, len, bits, subs, t, dst)?;
                debug_assert!(done, "fused is set only for layouts decode_elements writes");
                continue;
            }
            Pairing::Pair { bits } => {
                let (a, b) = rest.split_at_mut(1);
                pair::decode(
                    n,
                    ctx.sub_symbols,
                    &payload[off..],
                    len,
                    bits,
                    idx.stream_sub_lens(s, n),
                    &mut scratch.pair,
                    &mut a[0],
                    &mut b[0],
                )?;
                continue;
            }
        }
        match s.coding {
            Coding::Raw => direct[k] = Some(off..off + n),
            Coding::Const { value } => constant::decode(value, n, buf),
            Coding::Huffman { .. } => huffman::decode(
                &ctx,
                &payload[off..],
                len,
                idx.stream_sub_lens(s, n),
                &mut scratch.tables,
                buf,
            )?,
            Coding::Zstd => zstd::decode(&payload[off..off + len], n, &mut scratch.zstd, buf)?,
            Coding::Rans { .. } => rans::decode(
                n,
                ctx.sub_symbols,
                &payload[off..],
                len,
                idx.stream_sub_lens(s, n),
                &mut scratch.rans,
                buf,
            )?,
        }
    }
    let mut refs: [&[u8]; MAX_STREAMS] = [&[]; MAX_STREAMS];
    for k in usize::from(fused) * 2..recs.len() {
        refs[k] = match &direct[k] {
            Some(r) => &payload[r.clone()],
            None => &scratch.streams[k][..n],
        };
    }
    match layout {
        _ if !fused => layout.merge(&refs[..recs.len()], out),
        Layout::Fp32 => {
            crate::layout::merge_fp32(&scratch.streams[0][..2 * n], refs[2], refs[3], out)
        }
        _ => {}
    }
    if idx.is_delta(c) {
        match base {
            Some(b) if b.len() == out.len() => crate::delta::xor_into(out, b),
            _ => {
                return Err(Error::invalid(
                    "this chunk is a delta: decoding it needs the base file",
                ))
            }
        }
    }
    if xxh3_64(out) != c.checksum {
        return Err(checksum_mismatch(idx, ci));
    }
    Ok(())
}

/// The error for chunk `ci` whose decoded bytes fail their checksum.
pub fn checksum_mismatch(idx: &Index, ci: usize) -> Error {
    let c = &idx.chunks()[ci];
    Error::corrupt(format!(
        "checksum mismatch in chunk {ci} (original bytes {}..{})",
        c.orig_offset,
        c.orig_offset + c.orig_len as u64
    ))
}
