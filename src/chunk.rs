//! One chunk: split into streams, a codec per stream ([`crate::codec`]), and the exact inverse,
//! verified against the chunk's checksum.

#![forbid(unsafe_code)]

use crate::codec::{
    choose, constant, huffman, pair, zstd, CodecSet, Coding, DecodeCtx, Encoded, EncodedStream,
    Pairing,
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

/// Codes one chunk of whole elements with the codecs of `codecs`. `payload` is an empty buffer to
/// code into (callers recycle them: a fresh 256 KiB allocation per chunk costs page faults
/// comparable to the coding itself).
pub fn encode_chunk(
    layout: Layout,
    src: &[u8],
    sub_symbols: usize,
    codecs: CodecSet,
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
    for s in &scratch.streams[..layout.stream_count()] {
        let st = choose::encode_stream(s, sub_symbols, &mut chunk.payload)?;
        chunk.streams.push(st);
    }
    // The first two streams of the float layouts (exponent and sign + top mantissa bits, or
    // FP16's two bytes) as one pair code, where that is smaller than the two coded alone.
    let pairs = matches!(layout, Layout::Bf16 | Layout::Fp16 | Layout::Fp32);
    if pairs && !codecs.pair_bits().is_empty() {
        let (a, b) = (&scratch.streams[0], &scratch.streams[1]);
        let alone = chunk.streams[0].comp_len as u64 + chunk.streams[1].comp_len as u64;
        let hist = pair::histogram(a, b);
        if let Some(p) = pair::plan(&hist, a.len(), sub_symbols, codecs.pair_bits()) {
            if p.size < alone {
                // The pair payload replaces the first two streams' payloads, which lead the chunk.
                let rest = chunk.payload.split_off(alone as usize);
                chunk.payload.clear();
                let subs = pair::encode(a, b, &p, sub_symbols, &mut chunk.payload);
                let comp_len = chunk.payload.len() as u32;
                chunk.payload.extend_from_slice(&rest);
                chunk.streams[0] = EncodedStream {
                    fields: Encoded::Pair { bits: p.bits, subs },
                    comp_len,
                };
                chunk.streams[1] = EncodedStream {
                    fields: Encoded::Paired,
                    comp_len: 0,
                };
            }
        }
    }
    Ok(chunk)
}

/// Per-thread decompression scratch: stream buffers and Huffman tables, reused across chunks.
pub struct DecodeScratch {
    streams: Vec<Vec<u8>>,
    tables: DecodeTables,
    pair: pair::PairTables,
    zstd: Option<zstd::Decoder>,
}

impl Default for DecodeScratch {
    fn default() -> Self {
        DecodeScratch {
            streams: vec![Vec::new(); MAX_STREAMS],
            tables: DecodeTables::default(),
            pair: pair::PairTables::default(),
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
    // Raw streams are read straight from the payload; the others are decoded into scratch.
    let mut direct: [Option<Range<usize>>; MAX_STREAMS] = Default::default();
    for (k, s) in recs.iter().enumerate() {
        let off = (s.data_offset - c.data_offset) as usize;
        let len = s.comp_len as usize;
        let (done, rest) = scratch.streams.split_at_mut(k);
        let mut earlier: [&[u8]; MAX_STREAMS] = [&[]; MAX_STREAMS];
        for (j, e) in earlier.iter_mut().enumerate().take(k) {
            *e = match &direct[j] {
                Some(r) => &payload[r.clone()],
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
        }
    }
    let mut refs: [&[u8]; MAX_STREAMS] = [&[]; MAX_STREAMS];
    for k in 0..recs.len() {
        refs[k] = match &direct[k] {
            Some(r) => &payload[r.clone()],
            None => &scratch.streams[k][..n],
        };
    }
    layout.merge(&refs[..recs.len()], out);
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
