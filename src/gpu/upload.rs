//! Host to device: a window's staging image (payload, CPU-decoded zstd streams, delta bases,
//! descriptors, the error-flag reset and the kernel parameters, back to back) and its copies into
//! the window's buffers.
//!
//! The image is written straight into a persistent mapped staging buffer ([`super::ring::Staging`]):
//! the payload by several threads reading the [`crate::source::ByteSource`] in place, the rest by
//! the host after [`super::plan::build_window`]. One `copy_buffer_to_buffer` per region then moves
//! it to the device. The legacy path (kept for side-by-side host-time figures, `bench`) builds the
//! same image in a `Vec` on one thread and hands each region to `queue.write_buffer`, which copies
//! it again into a staging buffer that wgpu allocates per call.

use super::plan::{chunk_sizes, Window};
use super::ring::BufferSet;
use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::format::Index;
use std::ops::Range;

/// Bytes of the kernel parameters (the `Params` uniform of `shaders/common.wgsl`).
pub const PARAMS_WORDS: usize = 16;
/// Bytes of the error reset: flags, smallest failing sub-stream, smallest failing chunk, unused.
pub const ERROR_WORDS: usize = 4;
/// Payload bytes each host thread reads per task when filling a staging buffer.
pub const FILL_PIECE: usize = 8 << 20;

/// Byte offsets of a window's regions in its staging image; all are multiples of 4.
#[derive(Clone, Copy, Debug)]
pub struct StageLayout {
    /// Payload, zero padding, zstd streams, delta bases: the comp buffer's bytes.
    pub comp_len: u64,
    pub jobs: u64,
    pub subs: u64,
    pub chunks: u64,
    pub errors: u64,
    pub params: u64,
    pub end: u64,
}

impl StageLayout {
    pub fn of(w: &Window) -> StageLayout {
        let comp_len = w.comp_len().div_ceil(4) * 4;
        let jobs = comp_len;
        let subs = jobs + w.jobs.len() as u64 * 16;
        let chunks = subs + w.subs.len() as u64 * 16;
        let errors = chunks + w.chunk_words.len() as u64 * 4;
        let params = errors + ERROR_WORDS as u64 * 4;
        StageLayout {
            comp_len,
            jobs,
            subs,
            chunks,
            errors,
            params,
            end: params + PARAMS_WORDS as u64 * 4,
        }
    }
}

/// An upper bound of the staging bytes of chunks `range`, known before the window is built (the
/// payload must be read before the descriptors can be).
pub fn stage_bound(idx: &Index, range: Range<usize>) -> u64 {
    let mut b = 16 + ((ERROR_WORDS + PARAMS_WORDS) * 4) as u64;
    for ci in range {
        let s = chunk_sizes(idx, ci);
        b += s.comp + 8 + s.jobs + s.subs + s.chunks;
    }
    b.div_ceil(4) * 4
}

/// Writes the image after its payload: zero padding, zstd streams, delta bases (read from
/// `engine`), descriptors, the error reset and `params`. `img[0]` is image byte `origin` (0 for a
/// staging buffer, which already holds the payload; the legacy path keeps the payload apart and
/// passes the payload's length rounded down to 4, having copied the payload bytes from there on).
pub fn write_image(
    img: &mut [u8],
    origin: u64,
    w: &Window,
    lay: &StageLayout,
    engine: &Engine,
    params: &[u32; PARAMS_WORDS],
) -> Result<()> {
    if (img.len() as u64) < lay.end - origin || origin > w.data_len {
        return Err(Error::Gpu(format!(
            "staging image of {} bytes is smaller than the window's {} (estimate too low)",
            img.len(),
            lay.end - origin
        )));
    }
    let o = |at: u64| (at - origin) as usize;
    img[o(w.data_len)..o(w.extra_offset)].fill(0);
    let x = o(w.extra_offset);
    img[x..x + w.extra.len()].copy_from_slice(&w.extra);
    for &(ci, at) in &w.bases {
        let len = engine.index().chunks()[ci].orig_len as usize;
        let at = o(at);
        engine.read_base_into(ci, &mut img[at..at + len])?;
        img[at + len..(at + len).div_ceil(4) * 4].fill(0);
    }
    img[o(w.comp_len())..o(lay.comp_len)].fill(0);
    let put = |img: &mut [u8], at: u64, words: &[u32]| {
        let at = o(at);
        img[at..at + words.len() * 4].copy_from_slice(bytemuck::cast_slice(words));
    };
    put(img, lay.jobs, bytemuck::cast_slice(&w.jobs));
    put(img, lay.subs, bytemuck::cast_slice(&w.subs));
    put(img, lay.chunks, &w.chunk_words);
    put(img, lay.errors, &[0, u32::MAX, u32::MAX, 0]);
    put(img, lay.params, params);
    Ok(())
}

/// `(offset in the image, length, destination)` of each non-empty region.
fn regions<'a>(set: &'a BufferSet, lay: &StageLayout) -> Vec<(u64, u64, &'a wgpu::Buffer)> {
    [
        (0, lay.comp_len, &set.comp.buf),
        (lay.jobs, lay.subs - lay.jobs, &set.jobs.buf),
        (lay.subs, lay.chunks - lay.subs, &set.subs.buf),
        (lay.chunks, lay.errors - lay.chunks, &set.chunks.buf),
        (lay.errors, lay.params - lay.errors, &set.errors),
        (lay.params, lay.end - lay.params, &set.params),
    ]
    .into_iter()
    .filter(|r| r.1 > 0)
    .collect()
}

impl BufferSet {
    /// Encodes the copies of the staging image into the window's buffers.
    pub fn encode_copies(&self, enc: &mut wgpu::CommandEncoder, lay: &StageLayout) {
        for (at, len, dst) in regions(self, lay) {
            enc.copy_buffer_to_buffer(&self.stage.buf, at, dst, 0, len);
        }
    }

    /// The legacy upload: the payload bytes before `origin` from `payload`, every other byte of
    /// the image from `img` (image byte `origin` on), each through `queue.write_buffer`.
    pub fn write_regions(
        &self,
        queue: &wgpu::Queue,
        payload: &[u8],
        img: &[u8],
        origin: u64,
        lay: &StageLayout,
    ) {
        for (at, len, dst) in regions(self, lay) {
            if at == 0 {
                if origin > 0 {
                    queue.write_buffer(dst, 0, &payload[..origin as usize]);
                }
                queue.write_buffer(dst, origin, &img[..(len - origin) as usize]);
            } else {
                let a = (at - origin) as usize;
                queue.write_buffer(dst, 0, &img[a..a + len as usize]);
            }
        }
    }
}

/// The mapped bytes of `view` as a plain slice, so that [`crate::source::ByteSource::read_exact_at`]
/// can fill them in place.
pub fn mapped_bytes(view: &mut wgpu::BufferViewMut) -> &mut [u8] {
    let mut w = view.slice(..);
    let len = w.len();
    let p = w.as_raw_element_ptr();
    // SAFETY: the range is mapped for the view's lifetime and held exclusively through `&mut`;
    // wgpu zero-fills a mapped range it has not initialised before handing it out, so every byte
    // is initialised; the memory is host-visible and may be read (slowly, when write-combined:
    // the host reads back only table headers and zstd streams).
    unsafe { std::slice::from_raw_parts_mut(p.as_ptr(), len) }
}
