//! Decompression on the CPU: chunks decode independently in parallel (rayon) from the chunk map,
//! file to file in windows so that memory does not grow with the file.

use crate::archive::Archive;
use crate::codec::{decode_chunk_with_base, DecodeScratch};
use crate::constants::{DECODE_PADDING, WINDOW_BYTES};
use crate::delta::{self, Base};
use crate::error::{Error, Result};
use crate::format::Index;
use rayon::prelude::*;
use std::cell::RefCell;
use std::io::{Read, Seek, SeekFrom, Write};
use std::ops::Range;

thread_local! {
    // One scratch per worker thread, reused for every chunk it decodes.
    static SCRATCH: RefCell<DecodeScratch> = RefCell::new(DecodeScratch::default());
}

/// Decodes chunks `range` of `idx` in parallel on the current rayon pool. `data` holds their
/// payloads, starting at the first chunk's data offset (plus, ideally, `DECODE_PADDING` bytes);
/// `out` receives their original bytes, starting at the first chunk's original offset.
pub fn decode_chunks(idx: &Index, range: Range<usize>, data: &[u8], out: &mut [u8]) -> Result<()> {
    decode_chunks_with_base(idx, range, data, None, out)
}

/// [`decode_chunks`] where some chunks may be deltas: `base_window`, laid out like `out`, holds the
/// base bytes under them (see [`delta::read_window`]).
pub fn decode_chunks_with_base(
    idx: &Index,
    range: Range<usize>,
    data: &[u8],
    base_window: Option<&[u8]>,
    out: &mut [u8],
) -> Result<()> {
    if range.is_empty() {
        return Ok(());
    }
    let base_data = idx.chunks[range.start].data_offset;
    let first = idx.chunks[range.start].orig_offset;
    let mut parts = Vec::with_capacity(range.len());
    let mut rest = out;
    for ci in range.clone() {
        let (head, tail) = rest.split_at_mut(idx.chunks[ci].orig_len as usize);
        parts.push((ci, head));
        rest = tail;
    }
    parts.into_par_iter().try_for_each(|(ci, dst)| {
        let c = &idx.chunks[ci];
        let off = (c.data_offset - base_data) as usize;
        let at = (c.orig_offset - first) as usize;
        let b = base_window.and_then(|b| b.get(at..at + dst.len()));
        SCRATCH.with(|s| decode_chunk_with_base(idx, ci, &data[off..], &mut s.borrow_mut(), b, dst))
    })
}

/// Decompresses a whole `.znn` held in memory.
pub fn decompress_bytes(src: &[u8]) -> Result<Vec<u8>> {
    decompress_bytes_with_base(src, None)
}

/// [`decompress_bytes`] of a file that may be a delta: `base` must then be the file it was made
/// against (checked by length and hash before anything is decoded).
pub fn decompress_bytes_with_base(src: &[u8], base: Option<&Base>) -> Result<Vec<u8>> {
    let a = Archive::from_bytes(src)?;
    let base = a.check_base(base)?;
    let mut out = crate::buffer::zeroed(a.trailer.original_len as usize)?;
    let start = Archive::DATA_START as usize;
    let all = 0..a.index.chunks.len();
    let mut bwin = Vec::new();
    if let Some(b) = base {
        delta::read_window(&a.index, all.clone(), b, &mut bwin)?;
    }
    let bw = base.map(|_| &bwin[..]);
    decode_chunks_with_base(&a.index, all, &src[start..], bw, &mut out)?;
    Ok(out)
}

/// Decompresses a seekable `.znn` to `w` window by window. Memory: one compressed and one original
/// window. `progress` gets the original bytes done so far.
pub fn decompress_stream<R: Read + Seek, W: Write + Send>(
    r: &mut R,
    w: W,
    progress: &mut dyn FnMut(u64),
) -> Result<Archive> {
    decompress_stream_with_base(r, w, None, progress)
}

/// [`decompress_stream`] of a file that may be a delta against `base`.
pub fn decompress_stream_with_base<R: Read + Seek, W: Write + Send>(
    r: &mut R,
    w: W,
    base: Option<&Base>,
    progress: &mut dyn FnMut(u64),
) -> Result<Archive> {
    let a = Archive::read(r)?;
    decompress_archive_to(r, &a, w, base, progress)?;
    Ok(a)
}

/// [`decompress_stream_with_base`] of a file whose metadata `a` was already read from `r` (by
/// [`Archive::read`]): the index is not read, hashed and parsed a second time.
pub fn decompress_archive_to<R: Read + Seek, W: Write + Send>(
    r: &mut R,
    a: &Archive,
    w: W,
    base: Option<&Base>,
    progress: &mut dyn FnMut(u64),
) -> Result<()> {
    let base = a.check_base(base)?;
    let idx = &a.index;
    let mut bwin = Vec::new();
    let mut data = crate::buffer::with_capacity(WINDOW_BYTES as usize + DECODE_PADDING);
    crate::pipeline::with_writer(w, 1, |sink| {
        for win in idx.windows(WINDOW_BYTES) {
            let (first, last) = (&idx.chunks[win.start], &idx.chunks[win.end - 1]);
            let dlen = (last.data_offset + last.data_len - first.data_offset) as usize;
            // Only the padding is never overwritten by the read; it is read, never decoded.
            data.resize(dlen + DECODE_PADDING, 0);
            r.seek(SeekFrom::Start(Archive::DATA_START + first.data_offset))
                .and_then(|_| r.read_exact(&mut data[..dlen]))
                .map_err(|e| Error::io("reading .znn data", e))?;
            let olen = (last.orig_offset + last.orig_len as u64 - first.orig_offset) as usize;
            // Every byte is overwritten by the decode: a recycled buffer is only resized.
            let mut out = sink.buffer(olen);
            out.resize(olen, 0);
            if let Some(b) = base {
                delta::read_window(idx, win.clone(), b, &mut bwin)?;
            }
            let bw = base.map(|_| &bwin[..]);
            decode_chunks_with_base(idx, win.clone(), &data, bw, &mut out)?;
            sink.send(out)?;
            progress(last.orig_offset + last.orig_len as u64);
        }
        Ok(())
    })?;
    Ok(())
}
