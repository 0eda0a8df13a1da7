//! One tensor or one byte range of the original, read from a `.znn` without decoding the rest:
//! only the chunks that intersect the range are read (one seek and one read per window of their
//! payloads) and decoded, each verified whole against its checksum before it is sliced.
//!
//! ```
//! # fn main() -> znn_gpu::Result<()> {
//! let weights: Vec<u8> = (0..300_000u32).flat_map(|i| (i as f32).sin().to_le_bytes()).collect();
//! let znn = znn_gpu::compress_bytes(&weights, &znn_gpu::CompressOptions::default())?;
//! let archive = znn_gpu::Archive::from_bytes(&znn)?;
//! // A `File` works the same way; a `Cursor` serves a `.znn` held in memory.
//! let mut r = std::io::Cursor::new(&znn);
//! let part = znn_gpu::extract::read_range(&mut r, &archive, 1000, 2000)?;
//! assert_eq!(part, weights[1000..2000]);
//! # Ok(()) }
//! ```
//!
//! The safetensors header stored in a `.znn` is as untrusted as the rest: it is parsed by
//! [`crate::safetensors::parse`], which checks every tensor's offsets against the original length,
//! and that length was itself checked against the chunk map when the [`Archive`] was read. So a
//! range is at most `original_len` bytes and every allocation here is bounded by the range, a
//! window, or the header (at most 100 MB, and never more than the original).

use crate::archive::Archive;
use crate::constants::{DECODE_PADDING, WINDOW_BYTES};
use crate::decompress::decode_chunks_with_base;
use crate::delta::{self, Base};
use crate::error::{Error, Result};
use crate::format::Index;
use crate::layout::Layout;
use crate::safetensors;
pub use crate::safetensors::{Header, TensorInfo};
use std::io::{Read, Seek, SeekFrom, Write};
use std::ops::Range;

/// What serving a range cost.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RangeStats {
    /// The chunks that were read and decoded (those intersecting the range).
    pub chunks: Range<usize>,
    /// Payload bytes read from the data region.
    pub payload_bytes: u64,
    /// Original bytes decoded: the range rounded out to chunk boundaries.
    pub decoded_bytes: u64,
}

/// Fills a buffer with data-region bytes from an offset: how chunk payloads reach the decoder,
/// whether from a reader or from the GPU path's sources.
pub(crate) type Fill<'a> = dyn FnMut(u64, &mut [u8]) -> Result<()> + 'a;

/// `InvalidArgument` unless `start <= end <= original_len`.
pub fn check_range(archive: &Archive, start: u64, end: u64) -> Result<()> {
    let len = archive.trailer.original_len;
    if start > end || end > len {
        return Err(Error::invalid(format!(
            "byte range {start}..{end} is not within the original's {len} bytes"
        )));
    }
    Ok(())
}

/// A `fill` that reads the data region of a seekable `.znn`.
fn reader_fill<R: Read + Seek>(r: &mut R) -> impl FnMut(u64, &mut [u8]) -> Result<()> + '_ {
    move |offset, buf| {
        r.seek(SeekFrom::Start(Archive::DATA_START + offset))
            .and_then(|_| r.read_exact(buf))
            .map_err(|e| Error::io("reading .znn data", e))
    }
}

/// Writes bytes `[start, end)` of the original to `w`, reading and decoding only the chunks they
/// cover, window by window (memory: one window of payload and of decoded chunks, whatever the
/// range's length). Every decoded chunk's checksum is verified before any of its bytes is written.
pub fn extract_range_to<R: Read + Seek, W: Write>(
    r: &mut R,
    archive: &Archive,
    start: u64,
    end: u64,
    w: W,
) -> Result<RangeStats> {
    extract_range_with_base_to(r, archive, start, end, None, w)
}

/// [`extract_range_to`] of a file that may be a delta against `base` (checked first).
pub fn extract_range_with_base_to<R: Read + Seek, W: Write>(
    r: &mut R,
    archive: &Archive,
    start: u64,
    end: u64,
    base: Option<&Base>,
    mut w: W,
) -> Result<RangeStats> {
    check_range(archive, start, end)?;
    let base = archive.check_base(base)?;
    let mut write = |b: &[u8]| w.write_all(b).map_err(|e| Error::io("writing output", e));
    let stats = range_with(
        &archive.index,
        start,
        end,
        &mut reader_fill(r),
        base,
        &mut write,
    )?;
    w.flush().map_err(|e| Error::io("writing output", e))?;
    Ok(stats)
}

/// Bytes `[start, end)` of the original; see [`extract_range_to`].
pub fn read_range<R: Read + Seek>(
    r: &mut R,
    archive: &Archive,
    start: u64,
    end: u64,
) -> Result<Vec<u8>> {
    let mut out = range_buffer(archive, start, end)?;
    extract_range_to(r, archive, start, end, &mut out)?;
    Ok(out)
}

/// An empty buffer with room for bytes `[start, end)` of the original, after checking the range
/// (whose length is bounded by the original's, itself checked against the chunk map).
pub(crate) fn range_buffer(archive: &Archive, start: u64, end: u64) -> Result<Vec<u8>> {
    check_range(archive, start, end)?;
    let mut out = Vec::new();
    out.try_reserve_exact((end - start) as usize)
        .map_err(|_| Error::invalid("range too large for memory"))?;
    Ok(out)
}

/// The windows of a full decode cut to `chunks`: a range decodes in the same groups (and within the
/// same limits) as the whole file.
pub(crate) fn clip_windows(windows: Vec<Range<usize>>, chunks: &Range<usize>) -> Vec<Range<usize>> {
    windows
        .into_iter()
        .map(|w| w.start.max(chunks.start)..w.end.min(chunks.end))
        .filter(|w| !w.is_empty())
        .collect()
}

/// The CPU range decode over any payload source; `emit` receives the range's bytes in order.
/// The caller has checked the range against `idx.original_len`.
pub(crate) fn range_with(
    idx: &Index,
    start: u64,
    end: u64,
    fill: &mut Fill,
    base: Option<&Base>,
    emit: &mut dyn FnMut(&[u8]) -> Result<()>,
) -> Result<RangeStats> {
    let chunks = if start < end {
        idx.chunks_in(start, end)
    } else {
        0..0
    };
    let mut stats = RangeStats {
        chunks: chunks.clone(),
        ..Default::default()
    };
    let mut data = Vec::new();
    let mut out = Vec::new();
    let mut bwin = Vec::new();
    for win in clip_windows(idx.windows(WINDOW_BYTES), &chunks) {
        let (first, last) = (&idx.chunks[win.start], &idx.chunks[win.end - 1]);
        let dlen = (last.data_offset + last.data_len)
            .checked_sub(first.data_offset)
            .ok_or_else(|| Error::corrupt("chunk payloads out of order"))?
            as usize;
        // The padding is never filled: the fast Huffman loop may read it, never decode it.
        data.clear();
        data.resize(dlen + DECODE_PADDING, 0);
        fill(first.data_offset, &mut data[..dlen])?;
        let orig_end = last.orig_offset + last.orig_len as u64;
        out.clear();
        out.resize((orig_end - first.orig_offset) as usize, 0);
        if let Some(b) = base {
            delta::read_window(idx, win.clone(), b, &mut bwin)?;
        }
        let bw = base.map(|_| &bwin[..]);
        decode_chunks_with_base(idx, win.clone(), &data, bw, &mut out)?;
        let lo = start.max(first.orig_offset) - first.orig_offset;
        let hi = end.min(orig_end) - first.orig_offset;
        emit(&out[lo as usize..hi as usize])?;
        stats.payload_bytes += dlen as u64;
        stats.decoded_bytes += out.len() as u64;
    }
    Ok(stats)
}

/// The safetensors header of the original, decoding only the chunks that hold its 8-byte length
/// prefix and its JSON (no tensor data). `None` when the original is not a safetensors file.
pub fn tensor_table<R: Read + Seek>(r: &mut R, archive: &Archive) -> Result<Option<Header>> {
    header_with(&archive.index, &mut reader_fill(r))
}

/// [`tensor_table`] over any payload source. The compressor always makes a safetensors header a
/// byte segment of its own at offset 0, so any other first segment means "not safetensors" without
/// decoding anything.
pub(crate) fn header_with(idx: &Index, fill: &mut Fill) -> Result<Option<Header>> {
    let len = idx.original_len;
    let (Some(seg), Some(c0)) = (idx.segments.first(), idx.chunks.first()) else {
        return Ok(None);
    };
    if seg.layout != Layout::Byte || len < 8 {
        return Ok(None);
    }
    let mut read = |s: u64, e: u64, head: &mut Vec<u8>| {
        range_with(idx, s, e, fill, None, &mut |b| {
            head.extend_from_slice(b);
            Ok(())
        })
        .map(|_| ())
    };
    // The first chunk whole, then the rest of the header if it is longer: no chunk twice.
    let mut head = Vec::new();
    read(0, (c0.orig_len as u64).min(len), &mut head)?;
    if head.len() < 8 {
        read(head.len() as u64, 8, &mut head)?;
    }
    let Some(need) = safetensors::header_len(&head, len) else {
        return Ok(None);
    };
    if (head.len() as u64) < need {
        read(head.len() as u64, need, &mut head)?;
    }
    Ok(safetensors::parse(&head, len))
}

/// The tensor called `name`, or an `InvalidArgument` that names a few of the tensors there are.
pub fn find_tensor<'a>(header: &'a Header, name: &str) -> Result<&'a TensorInfo> {
    if let Some(t) = header.tensors.iter().find(|t| t.name == name) {
        return Ok(t);
    }
    const SHOWN: usize = 5;
    let mut names: Vec<&str> = header.tensors.iter().map(|t| t.name.as_str()).collect();
    names.sort_unstable();
    // Names sharing the longest prefix with the one asked for come first: likely typos.
    let common = |n: &str| {
        n.bytes()
            .zip(name.bytes())
            .take_while(|(a, b)| a == b)
            .count()
    };
    names.sort_by_key(|n| std::cmp::Reverse(common(n)));
    let more = names.len().saturating_sub(SHOWN);
    let mut list = names[..names.len().min(SHOWN)].join(", ");
    if more > 0 {
        list.push_str(&format!(" and {more} more"));
    }
    Err(Error::invalid(format!(
        "no tensor named {name:?} ({} tensors: {list}; `znn-gpu info --tensors` lists them all)",
        header.tensors.len()
    )))
}

/// The header of a safetensors original, or an `InvalidArgument` saying it is not one.
pub fn require_tensor_table<R: Read + Seek>(r: &mut R, archive: &Archive) -> Result<Header> {
    tensor_table(r, archive)?.ok_or_else(|| {
        Error::invalid(
            "the original is not a safetensors file: it has no tensors (use a byte range)",
        )
    })
}

/// One tensor's description and raw bytes (exactly its slice of the safetensors data), decoding
/// only the header's chunks and the tensor's.
pub fn read_tensor<R: Read + Seek>(
    r: &mut R,
    archive: &Archive,
    name: &str,
) -> Result<(TensorInfo, Vec<u8>)> {
    let header = require_tensor_table(r, archive)?;
    let t = find_tensor(&header, name)?.clone();
    let bytes = read_range(r, archive, t.start, t.end)?;
    Ok((t, bytes))
}

/// [`read_tensor`] from a whole `.znn` held in memory.
pub fn read_tensor_bytes(znn: &[u8], name: &str) -> Result<(TensorInfo, Vec<u8>)> {
    let archive = Archive::from_bytes(znn)?;
    read_tensor(&mut std::io::Cursor::new(znn), &archive, name)
}

/// Payload bytes of the chunks covering `[start, end)`: what extracting that range reads.
pub fn covering_bytes(idx: &Index, start: u64, end: u64) -> (Range<usize>, u64) {
    let chunks = if start < end {
        idx.chunks_in(start, end)
    } else {
        0..0
    };
    let bytes = idx.chunks[chunks.clone()].iter().map(|c| c.data_len).sum();
    (chunks, bytes)
}
