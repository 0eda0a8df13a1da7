//! One byte range of the original decoded on the GPU: only the chunks that intersect it are read
//! and decoded, in the windows a full decode would use, cut to those chunks.
//!
//! Chunks rarely start or end at the range's bounds, and a storage binding may only start at a
//! multiple of `min_storage_buffer_offset_alignment` (often 256), so the device buffer holds the
//! covering chunks from an aligned original offset on, and [`GpuRange::offset`] says where the
//! range starts in it. A tight copy (`copy_buffer_to_buffer`) would need 4-byte-aligned offsets and
//! sizes, which a tensor need not have (an odd-length `U8` tensor, a range at any byte), so none is
//! made: bind `buffer` at `offset` when it is aligned, or index from `offset` in a shader.

use super::decoder::{GpuDecoder, Sink};
use crate::archive::Archive;
use crate::delta::Base;
use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::reader::{check_range, RangeStats};
use crate::source::ByteSource;
use std::io::Write;
use std::ops::Range;

/// A range of the original in device memory.
#[derive(Debug)]
pub struct GpuRange {
    /// `STORAGE | COPY_SRC | COPY_DST`. Byte `i` is original byte `base + i`; the range is
    /// `offset .. offset + len`. Bytes before the first covering chunk and the rounding up to a
    /// multiple of 4 are zero; the rest of the covering chunks' bytes are decoded too.
    pub buffer: wgpu::Buffer,
    /// The original offset of the buffer's byte 0: the first covering chunk's offset rounded down
    /// to the adapter's storage offset alignment.
    pub base: u64,
    /// Where the range starts in `buffer` (`start - base`).
    pub offset: u64,
    /// The range's length (`end - start`).
    pub len: u64,
    /// The chunks that were read and decoded.
    pub chunks: Range<usize>,
}

impl GpuDecoder {
    /// Decodes bytes `[start, end)` of the original into a new device buffer (see [`GpuRange`]),
    /// reading only the covering chunks' payloads from `src` (the whole `.znn`). As with
    /// [`GpuDecoder::decode_to_buffer`], every covering chunk's checksum is verified on the device
    /// and only the verdict is read back. `delta_base`: the base of a delta file (checked against
    /// the one it names; its covering bytes go up with the payloads); a delta without it fails
    /// with [`Error::NeedsBase`], a standalone file ignores it.
    pub fn decode_range_to_buffer(
        &mut self,
        src: &dyn ByteSource,
        archive: &Archive,
        start: u64,
        end: u64,
        delta_base: Option<&Base>,
    ) -> Result<GpuRange> {
        check_range(archive.original_len(), start, end)?;
        let idx = &archive.index;
        let chunks = idx.covering(start, end);
        let align = self.window_limits().offset_align;
        let (base, span) = if chunks.is_empty() {
            (start / align * align, 0)
        } else {
            let span = idx.span(chunks.clone());
            let base = span.orig.start / align * align;
            (base, span.orig.end - base)
        };
        let first = idx
            .chunks()
            .get(chunks.start)
            .map_or(0, |c| c.orig_offset - base);
        let engine = Engine::new(archive, src, delta_base)?;
        let buffer = self.output_buffer_from(span, first)?;
        self.run_chunks(
            idx,
            chunks.clone(),
            engine,
            Sink::Device(&buffer, base),
            true,
            None,
        )?;
        Ok(GpuRange {
            buffer,
            base,
            offset: start - base,
            len: end - start,
            chunks,
        })
    }

    /// Writes bytes `[start, end)` of the original to `w`, decoded on the GPU from only the
    /// covering chunks and read back window by window; every chunk's xxh3 is verified on the host
    /// before any of its bytes is written, so the bytes equal the CPU's
    /// ([`crate::Reader::write_range`]). `delta_base` as for
    /// [`GpuDecoder::decode_range_to_buffer`].
    pub fn extract_range_to<W: Write>(
        &mut self,
        src: &dyn ByteSource,
        archive: &Archive,
        start: u64,
        end: u64,
        delta_base: Option<&Base>,
        mut w: W,
    ) -> Result<RangeStats> {
        check_range(archive.original_len(), start, end)?;
        let idx = &archive.index;
        let chunks = idx.covering(start, end);
        let mut stats = RangeStats {
            chunks: chunks.clone(),
            ..Default::default()
        };
        // Windows arrive in order: `pos` is the original offset of the next one's first byte.
        let mut pos = idx
            .chunks()
            .get(chunks.start)
            .map_or(start, |c| c.orig_offset);
        let mut write = |b: &[u8]| {
            let (lo, hi) = (start.max(pos), end.min(pos + b.len() as u64));
            if lo < hi {
                w.write_all(&b[(lo - pos) as usize..(hi - pos) as usize])
                    .map_err(|e| Error::io("writing output", e))?;
            }
            pos += b.len() as u64;
            stats.decoded_bytes += b.len() as u64;
            Ok(())
        };
        let engine = Engine::new(archive, src, delta_base)?;
        self.run_chunks(
            idx,
            chunks.clone(),
            engine,
            Sink::Host(&mut write),
            true,
            None,
        )?;
        w.flush().map_err(|e| Error::io("writing output", e))?;
        stats.payload_bytes = idx.chunks()[chunks].iter().map(|c| c.data_len).sum();
        Ok(stats)
    }

    /// Bytes `[start, end)` of the original, decoded on the GPU and verified; see
    /// [`GpuDecoder::extract_range_to`].
    pub fn read_range(
        &mut self,
        src: &dyn ByteSource,
        archive: &Archive,
        start: u64,
        end: u64,
        delta_base: Option<&Base>,
    ) -> Result<Vec<u8>> {
        check_range(archive.original_len(), start, end)?;
        let mut out = Vec::new();
        out.try_reserve_exact((end - start) as usize)
            .map_err(|_| Error::invalid("range too large for memory"))?;
        self.extract_range_to(src, archive, start, end, delta_base, &mut out)?;
        Ok(out)
    }
}
