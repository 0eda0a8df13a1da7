//! Compression: original bytes -> segments -> chunks (in parallel) -> `.znn`, streaming through the
//! input in windows of chunks so that memory does not grow with the file.

#![forbid(unsafe_code)]

use crate::chunk::{encode_chunk, EncodeScratch, EncodedChunk};
use crate::codec::CodecSet;
use crate::constants::{DEFAULT_CHUNK_SIZE, DEFAULT_SUB_SYMBOLS, MIN_SEGMENT, WINDOW_BYTES};
use crate::delta::{self, Base};
use crate::error::{Error, Result};
use crate::format::{
    check_chunk_size, Header, Index, IndexBuilder, Planned, Skeleton, Trailer, HEADER_LEN,
};
use crate::layout::Layout;
use crate::pipeline::Sink;
use crate::safetensors;
use rayon::prelude::*;
use std::io::{Read, Write};
use std::sync::Arc;
use xxhash_rust::xxh3::{xxh3_64, Xxh3};

/// How to compress.
#[derive(Clone)]
pub struct CompressOptions {
    /// Original bytes per chunk (a multiple of 8, 4 KiB ..= 16 MiB).
    pub chunk_size: u32,
    /// Symbols per Huffman sub-stream (a power of two, 256 ..= 65536).
    pub sub_symbols: u32,
    /// Layout for files that are not safetensors.
    pub dtype: Layout,
    /// Store the input as a delta (format v2) against this base where it matches; decoding then
    /// needs the same base.
    pub base: Option<Arc<Base>>,
    /// The codecs the encoder may choose among. Delta files use [`CodecSet::Fast`] unless this
    /// allows rANS (format v2 has neither pair codecs nor rANS; a v4 delta may use both, though
    /// the XORed chunks are never pair coded).
    pub codecs: CodecSet,
}

impl Default for CompressOptions {
    fn default() -> Self {
        CompressOptions {
            chunk_size: DEFAULT_CHUNK_SIZE,
            sub_symbols: DEFAULT_SUB_SYMBOLS,
            dtype: Layout::Bf16,
            base: None,
            codecs: CodecSet::default(),
        }
    }
}

impl std::fmt::Debug for CompressOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CompressOptions")
            .field("chunk_size", &self.chunk_size)
            .field("sub_symbols", &self.sub_symbols)
            .field("dtype", &self.dtype)
            .field("base", &self.base.as_deref().map(Base::reference))
            .field("codecs", &self.codecs)
            .finish()
    }
}

impl CompressOptions {
    fn validate(&self) -> Result<()> {
        check_chunk_size(self.chunk_size)?;
        let s = self.sub_symbols;
        if !s.is_power_of_two()
            || !(crate::constants::MIN_SUB_SYMBOLS..=crate::constants::MAX_SUB_SYMBOLS).contains(&s)
        {
            return Err(Error::invalid(format!(
                "sub-stream size {s} must be a power of two in 256..=65536"
            )));
        }
        Ok(())
    }
}

/// Segments for a file of `file_len` bytes whose first bytes are `head` (at least the safetensors
/// header when there is one): safetensors structure when recognised, else `dtype` throughout; as
/// deltas against `base` where [`delta::plan`] matches it.
pub fn plan_segments(
    head: &[u8],
    file_len: u64,
    dtype: Layout,
    base: Option<&Base>,
) -> Vec<Planned> {
    if let Some(b) = base {
        return delta::plan(head, file_len, dtype, b);
    }
    match safetensors::parse(head, file_len) {
        Some(h) => safetensors::segments(&h, file_len, MIN_SEGMENT, |_| None),
        None => safetensors::plain_segments(dtype, file_len),
    }
}

/// The index and trailer bytes that end the file.
fn tail(idx: &Index) -> Vec<u8> {
    let mut out = idx.to_bytes();
    let mut h = Xxh3::new();
    for c in idx.chunks() {
        h.update(&c.checksum.to_le_bytes());
    }
    let trailer = Trailer {
        index_len: out.len() as u64,
        original_len: idx.original_len(),
        content_hash: h.digest(),
        index_hash: xxh3_64(&out),
    };
    out.extend_from_slice(&trailer.to_bytes());
    out
}

/// Codes chunks `range` of `idx`, whose original bytes are `window` (starting at the first
/// chunk's offset), in parallel on the current rayon pool. `base_window`, laid out like `window`,
/// holds the base bytes under delta chunks.
fn encode_window(
    idx: &Skeleton,
    range: std::ops::Range<usize>,
    window: &[u8],
    base_window: &[u8],
    sub_symbols: usize,
    codecs: CodecSet,
    sink: &Sink,
) -> Result<Vec<EncodedChunk>> {
    let first = idx.chunks()[range.start].orig_offset;
    idx.chunks()[range]
        .par_iter()
        .map_init(
            || (EncodeScratch::default(), Vec::new()),
            |(scratch, xored), c| {
                let off = (c.orig_offset - first) as usize;
                let src = &window[off..off + c.orig_len as usize];
                let layout = idx.layout(c);
                if !idx.is_delta(c) {
                    return encode_chunk(
                        layout,
                        src,
                        sub_symbols,
                        codecs,
                        false,
                        scratch,
                        sink.buffer(0),
                    );
                }
                // The checksum covers the original bytes, so that a decode with the wrong base
                // bytes fails its check; what is coded is the XOR.
                xored.clear();
                let under = &base_window[off..off + src.len()];
                xored.extend(src.iter().zip(under).map(|(a, b)| a ^ b));
                let mut coded = encode_chunk(
                    layout,
                    xored,
                    sub_symbols,
                    codecs,
                    true,
                    scratch,
                    sink.buffer(0),
                )?;
                coded.checksum = xxh3_64(src);
                Ok(coded)
            },
        )
        .collect()
}

/// Summary of a compression.
#[derive(Clone, Debug)]
pub struct CompressStats {
    pub original_len: u64,
    pub compressed_len: u64,
    pub index: Index,
}

/// Where a window's original bytes come from.
enum Input<'a> {
    /// The whole original in memory: windows are slices of it.
    Memory(&'a [u8]),
    /// A reader positioned after `head`, the bytes already read from its start.
    Reader(&'a mut dyn Read, Vec<u8>),
}

/// Compresses `len` original bytes from `input` to `w`: windows of chunks are coded in parallel on
/// the current rayon pool while a background thread writes the previous window's payloads.
fn compress_to<W: Write + Send>(
    mut input: Input,
    len: u64,
    w: W,
    opts: &CompressOptions,
    progress: &mut dyn FnMut(u64),
) -> Result<(W, CompressStats)> {
    let head: &[u8] = match &input {
        Input::Memory(src) => src,
        Input::Reader(_, head) => head,
    };
    let base = opts.base.as_deref();
    let plan = plan_segments(head, len, opts.dtype, base);
    let mut idx = IndexBuilder::new(
        &plan,
        opts.chunk_size,
        opts.sub_symbols,
        base.map(Base::reference),
    );
    // The header goes out before any chunk is coded, so its version follows what the chunks may
    // use: 4 when rANS is allowed; else 3 when pair codes are allowed and some segment could take
    // them; a delta without rANS is version 2, whose codecs are the fast set's.
    idx.allow_rans(opts.codecs.rans());
    let codecs = if idx.version() == 2 {
        CodecSet::Fast
    } else {
        opts.codecs
    };
    idx.allow_pairs(!codecs.pair_bits().is_empty());
    let wins = idx.skeleton().windows(WINDOW_BYTES);
    // Up to two windows of chunk payloads queued for the writer.
    let depth = 2 * (WINDOW_BYTES / opts.chunk_size as u64).max(1) as usize;
    let ((index, compressed_len), w) = crate::pipeline::with_writer(w, depth, move |sink| {
        let header = Header {
            version: idx.version(),
            chunk_size: opts.chunk_size,
        };
        sink.send(header.to_bytes().to_vec())?;
        let mut buf = Vec::new();
        let mut base_buf = Vec::new();
        for win in wins {
            let span = idx.skeleton().span(win.clone());
            let (first, wlen) = (span.orig.start, span.orig_len());
            let window: &[u8] = match &mut input {
                Input::Memory(src) => &src[first as usize..],
                Input::Reader(r, head) => {
                    if buf.capacity() == 0 {
                        buf = crate::buffer::with_capacity(WINDOW_BYTES as usize);
                    }
                    buf.resize(wlen, 0);
                    // Bytes already read for the header come first.
                    let from_head = head.len().saturating_sub(first as usize).min(wlen);
                    if from_head > 0 {
                        let f = first as usize;
                        buf[..from_head].copy_from_slice(&head[f..f + from_head]);
                    }
                    r.read_exact(&mut buf[from_head..]).map_err(short_read)?;
                    &buf
                }
            };
            if let Some(b) = base {
                delta::read_window(idx.skeleton(), win.clone(), b, &mut base_buf)?;
            }
            let coded = encode_window(
                idx.skeleton(),
                win,
                window,
                &base_buf,
                opts.sub_symbols as usize,
                codecs,
                sink,
            )?;
            for c in coded {
                idx.push(c.checksum, &c.streams);
                sink.send(c.payload)?;
            }
            progress(span.orig.end);
        }
        let data_len = idx.data_len();
        let index = idx.finish();
        let tail = tail(&index);
        let compressed_len = HEADER_LEN as u64 + data_len + tail.len() as u64;
        sink.send(tail)?;
        Ok((index, compressed_len))
    })?;
    Ok((
        w,
        CompressStats {
            original_len: len,
            compressed_len,
            index,
        },
    ))
}

fn short_read(e: std::io::Error) -> Error {
    if e.kind() == std::io::ErrorKind::UnexpectedEof {
        Error::truncated("input ended early (did it change while being read?)")
    } else {
        Error::io("reading input", e)
    }
}

/// Compresses a buffer in memory (chunks coded in parallel on the current rayon pool); a delta
/// when `opts.base` is given.
pub fn compress_bytes(src: &[u8], opts: &CompressOptions) -> Result<Vec<u8>> {
    opts.validate()?;
    // Capacity for the worst case (stored raw plus the index), untouched until written.
    let out = crate::buffer::with_capacity(src.len() + src.len() / 32 + 4096);
    let len = src.len() as u64;
    Ok(compress_to(Input::Memory(src), len, out, opts, &mut |_| {})?.0)
}

/// Compresses `len` bytes read from `r` to `w`, in windows of about `WINDOW_BYTES`; memory stays
/// bounded by a few windows (plus the index, ~0.03% of the input). `progress` is called with the
/// number of original bytes done so far.
pub fn compress_stream<R: Read, W: Write + Send>(
    r: &mut R,
    len: u64,
    w: W,
    opts: &CompressOptions,
    progress: &mut dyn FnMut(u64),
) -> Result<CompressStats> {
    opts.validate()?;
    // Read just enough of the start to recognise a safetensors header.
    let mut head = vec![0u8; len.min(8) as usize];
    r.read_exact(&mut head).map_err(short_read)?;
    if let Some(hl) = safetensors::header_len(&head, len) {
        head.resize(hl as usize, 0);
        r.read_exact(&mut head[8..]).map_err(short_read)?;
    }
    Ok(compress_to(Input::Reader(r, head), len, w, opts, progress)?.1)
}

/// Compresses the concatenation of `parts` (a file given as pieces of memory: a safetensors
/// header and each tensor's bytes, say) to `w`, without joining them: windows are filled from the
/// parts in order, as [`compress_stream`] fills them from a reader.
pub fn compress_parts<W: Write + Send>(
    parts: &[&[u8]],
    w: W,
    opts: &CompressOptions,
    progress: &mut dyn FnMut(u64),
) -> Result<CompressStats> {
    let len = parts.iter().map(|p| p.len() as u64).sum();
    let mut r = Concat { parts, at: 0 };
    compress_stream(&mut r, len, w, opts, progress)
}

/// A reader over slices, one after the other.
struct Concat<'a> {
    parts: &'a [&'a [u8]],
    /// Bytes of `parts[0]` read already.
    at: usize,
}

impl Read for Concat<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let mut n = 0;
        while n < buf.len() {
            let Some((first, rest)) = self.parts.split_first() else {
                break;
            };
            let k = (first.len() - self.at).min(buf.len() - n);
            buf[n..n + k].copy_from_slice(&first[self.at..self.at + k]);
            n += k;
            self.at += k;
            if self.at == first.len() {
                self.parts = rest;
                self.at = 0;
            }
        }
        Ok(n)
    }
}
