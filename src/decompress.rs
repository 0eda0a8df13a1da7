//! Decompression on the CPU: chunks decode independently in parallel (rayon) from the chunk map,
//! file to file in windows so that memory does not grow with the file.

use crate::archive::Archive;
use crate::codec::{decode_chunk, DecodeScratch};
use crate::constants::{DECODE_PADDING, WINDOW_BYTES};
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
    if range.is_empty() {
        return Ok(());
    }
    let base_data = idx.chunks[range.start].data_offset;
    let mut parts = Vec::with_capacity(range.len());
    let mut rest = out;
    for ci in range.clone() {
        let (head, tail) = rest.split_at_mut(idx.chunks[ci].orig_len as usize);
        parts.push((ci, head));
        rest = tail;
    }
    parts.into_par_iter().try_for_each(|(ci, dst)| {
        let off = (idx.chunks[ci].data_offset - base_data) as usize;
        SCRATCH.with(|s| decode_chunk(idx, ci, &data[off..], &mut s.borrow_mut(), dst))
    })
}

/// Decompresses a whole `.znn` held in memory.
pub fn decompress_bytes(src: &[u8]) -> Result<Vec<u8>> {
    let a = Archive::from_bytes(src)?;
    let mut out = crate::buffer::zeroed(a.trailer.original_len as usize)?;
    let start = Archive::DATA_START as usize;
    decode_chunks(&a.index, 0..a.index.chunks.len(), &src[start..], &mut out)?;
    Ok(out)
}

/// Decompresses a seekable `.znn` to `w` window by window. Memory: one compressed and one original
/// window. `progress` gets the original bytes done so far.
pub fn decompress_stream<R: Read + Seek, W: Write + Send>(
    r: &mut R,
    w: W,
    progress: &mut dyn FnMut(u64),
) -> Result<Archive> {
    let a = Archive::read(r)?;
    let idx = &a.index;
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
            decode_chunks(idx, win.clone(), &data, &mut out)?;
            sink.send(out)?;
            progress(last.orig_offset + last.orig_len as u64);
        }
        Ok(())
    })?;
    Ok(a)
}
