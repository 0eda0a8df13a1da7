//! Chunk coding: split a chunk into streams, pick a codec per stream, and the exact inverse.

use crate::constants::{
    DECODE_PADDING, HUFFMAN_MAX_RATIO, MULTI_TABLE_MIN_SYMBOLS, SAMPLE_RAW_RATIO, SAMPLE_STRIDE,
    ZSTD_LEVEL, ZSTD_ZERO_FRACTION, ZSTD_ZERO_RUN_FRACTION,
};
use crate::error::{Error, Result};
use crate::format::{huffman_table, Codec, Index};
use crate::huffman::decode::{decode_substreams, DecodeTables};
use crate::huffman::{code_lengths, encode::encode, encoded_bits, CodeTable};
use crate::layout::{Layout, MAX_STREAMS};
use xxhash_rust::xxh3::xxh3_64;

/// One coded stream, as the chunk map will record it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EncodedStream {
    pub codec: Codec,
    pub comp_len: u32,
    pub value: u8,
    pub sub_lens: Vec<u32>,
}

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

/// Codes one chunk of whole elements. `payload` is an empty buffer to code into (callers recycle
/// them: a fresh 256 KiB allocation per chunk costs page faults comparable to the coding itself).
pub fn encode_chunk(
    layout: Layout,
    src: &[u8],
    sub_symbols: usize,
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
        let st = encode_stream(s, sub_symbols, &mut chunk.payload)?;
        chunk.streams.push(st);
    }
    Ok(chunk)
}

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

/// Estimated Huffman payload for `hist` (upper bound: each sub-stream pads at most one byte).
fn huffman_estimate(hist: &[u64; 256], n: usize, sub_symbols: usize) -> (u64, [u8; 256]) {
    let lens = code_lengths(hist);
    let len = CodeTable::serialized_len(&lens) as u64
        + encoded_bits(hist, &lens).div_ceil(8)
        + n.div_ceil(sub_symbols) as u64;
    (len, lens)
}

/// True when a 1-in-`SAMPLE_STRIDE` sample shows a stream that is clearly raw: many distinct
/// values, few zeros, and a Huffman estimate above `SAMPLE_RAW_RATIO` of raw. Sign/mantissa streams
/// of real weights are such; skipping their full histogram saves a third of compression time.
fn clearly_raw(s: &[u8]) -> bool {
    if s.len() < 16 * SAMPLE_STRIDE {
        return false;
    }
    let mut h = [0u64; 256];
    for &b in s.iter().step_by(SAMPLE_STRIDE) {
        h[b as usize] += 1;
    }
    let m: u64 = h.iter().sum();
    if h.iter().filter(|&&c| c > 0).count() < 2 || h[0] * 4 > m {
        return false;
    }
    let lens = code_lengths(&h);
    encoded_bits(&h, &lens) as f64 > SAMPLE_RAW_RATIO * 8.0 * m as f64
}

/// Picks and applies the codec of one stream; appends its payload to `out`.
fn encode_stream(s: &[u8], sub_symbols: usize, out: &mut Vec<u8>) -> Result<EncodedStream> {
    let n = s.len();
    if clearly_raw(s) {
        out.extend_from_slice(s);
        return Ok(EncodedStream {
            codec: Codec::Raw,
            comp_len: n as u32,
            value: 0,
            sub_lens: Vec::new(),
        });
    }
    let hist = histogram(s);
    let distinct = hist.iter().filter(|&&c| c > 0).count();
    if distinct <= 1 {
        return Ok(EncodedStream {
            codec: Codec::Const,
            comp_len: 0,
            value: s.first().copied().unwrap_or(0),
            sub_lens: Vec::new(),
        });
    }
    let (huff_len, lens) = huffman_estimate(&hist, n, sub_symbols);
    let mut best = (n as u64, Codec::Raw);
    if (huff_len as f64) < HUFFMAN_MAX_RATIO * n as f64 {
        best = (huff_len, Codec::Huffman);
    }
    let mut zst = None;
    if zeros_dominate(s, hist[0]) {
        let z =
            zstd::bulk::compress(s, ZSTD_LEVEL).map_err(|e| Error::io("zstd compression", e))?;
        if (z.len() as u64) < best.0 {
            best = (z.len() as u64, Codec::Zstd);
            zst = Some(z);
        }
    }
    let start = out.len();
    let mut sub_lens = Vec::new();
    match best.1 {
        Codec::Raw => out.extend_from_slice(s),
        Codec::Zstd => out.extend_from_slice(&zst.expect("zstd payload")),
        Codec::Huffman => encode(s, &lens, sub_symbols, out, &mut sub_lens),
        Codec::Const => unreachable!(),
    }
    Ok(EncodedStream {
        codec: best.1,
        comp_len: (out.len() - start) as u32,
        value: 0,
        sub_lens,
    })
}

/// Per-thread decompression scratch: stream buffers and Huffman tables, reused across chunks.
pub struct DecodeScratch {
    streams: Vec<Vec<u8>>,
    tables: DecodeTables,
    zstd: Option<zstd::bulk::Decompressor<'static>>,
}

impl Default for DecodeScratch {
    fn default() -> Self {
        DecodeScratch {
            streams: vec![Vec::new(); MAX_STREAMS],
            tables: DecodeTables::default(),
            zstd: None,
        }
    }
}

/// Decodes chunk `ci` of `idx` into `out` (its original length) and verifies its checksum.
/// `payload` starts at the chunk's first payload byte; it may extend past the chunk, and should keep
/// `DECODE_PADDING` readable bytes after the chunk for the fast Huffman loop (without them the
/// decoder stays correct, only slower at the very end).
pub fn decode_chunk(
    idx: &Index,
    ci: usize,
    payload: &[u8],
    scratch: &mut DecodeScratch,
    out: &mut [u8],
) -> Result<()> {
    decode_chunk_with_base(idx, ci, payload, scratch, None, out)
}

/// [`decode_chunk`] for a chunk that may be a delta: `base` holds the base bytes under it (its
/// original length), XORed into the decoded bytes before the checksum is verified.
pub fn decode_chunk_with_base(
    idx: &Index,
    ci: usize,
    payload: &[u8],
    scratch: &mut DecodeScratch,
    base: Option<&[u8]>,
    out: &mut [u8],
) -> Result<()> {
    let c = &idx.chunks[ci];
    let layout = idx.layout(c);
    let n = c.orig_len as usize / layout.elem_size();
    debug_assert_eq!(out.len(), c.orig_len as usize);
    if payload.len() < c.data_len as usize {
        return Err(Error::truncated("chunk payload"));
    }
    let recs = idx.chunk_streams(c);
    // Which streams are read straight from the payload (raw) and which from scratch.
    let mut direct: [Option<std::ops::Range<usize>>; MAX_STREAMS] = Default::default();
    for (k, s) in recs.iter().enumerate() {
        let off = (s.data_offset - c.data_offset) as usize;
        let body = &payload[off..off + s.comp_len as usize];
        let buf = &mut scratch.streams[k];
        match s.codec {
            Codec::Raw => direct[k] = Some(off..off + n),
            Codec::Const => {
                buf.clear();
                buf.resize(n, s.value);
            }
            Codec::Huffman => {
                let subs = idx.stream_sub_lens(s, n);
                let (table, tsize) = huffman_table(body, subs)?;
                scratch
                    .tables
                    .build(&table.lens, n >= MULTI_TABLE_MIN_SYMBOLS);
                buf.resize(n, 0);
                // The fast loop may read up to DECODE_PADDING bytes past the stream.
                let end = (off + s.comp_len as usize + DECODE_PADDING).min(payload.len());
                decode_substreams(
                    &payload[off..end],
                    tsize,
                    subs,
                    idx.sub_symbols as usize,
                    &scratch.tables,
                    buf,
                )?;
            }
            Codec::Zstd => {
                let z = match &mut scratch.zstd {
                    Some(z) => z,
                    None => scratch.zstd.insert(
                        zstd::bulk::Decompressor::new()
                            .map_err(|e| Error::io("zstd decoder", e))?,
                    ),
                };
                buf.clear();
                buf.reserve(n);
                let got = z
                    .decompress_to_buffer(body, buf)
                    .map_err(|e| Error::corrupt(format!("zstd stream: {e}")))?;
                if got != n {
                    return Err(Error::corrupt("zstd stream has the wrong length"));
                }
            }
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
    if idx.segments[c.segment as usize].base_offset.is_some() {
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
        return Err(Error::corrupt(format!(
            "checksum mismatch in chunk {ci} (original bytes {}..{})",
            c.orig_offset,
            c.orig_offset + c.orig_len as u64
        )));
    }
    Ok(())
}
