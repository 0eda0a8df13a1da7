//! Host side of the GPU decode: splits the chunk map into windows that fit the adapter's limits and
//! builds each window's descriptors (jobs, sub-streams, chunk sources) from the [`Index`]. Decode
//! tables are not expanded here: a job names its table's byte offset in comp and the kernel builds
//! it from the code lengths there (`shaders/table_build.wgsl`). Nothing here touches wgpu, so it is tested without an adapter.
//!
//! The [`Index`] is valid by construction (parsed or built by the compressor): stream records,
//! sub-stream lengths and payload offsets lie where FORMAT.md says. What the host still checks
//! here is what the index cannot promise: that the window's payload bytes are present, that each
//! Huffman and pair table parses (with the CPU decoder's checks: ranges, lengths within the limit,
//! a complete code), and that every offset fits the descriptors' widths. The kernels check every
//! descriptor index again and reject a table that lies outside comp or is not a complete code
//! (they run on bytes the host did not decode).

use super::fused::{add_chunk, fusable};
use super::shader_consts::{
    CHUNK_WORDS, NO_BASE, SRC_COMP, SRC_CONST, SRC_HUFF, SRC_MAX, SRC_SHIFT,
};
use crate::codec::{huffman, Coding, Pairing};
use crate::constants::{GPU_HUFF_WG, GPU_MERGE_WG, GPU_MERGE_WPI};
use crate::error::{Error, Result};
use crate::format::Index;
use std::ops::Range;

/// Output words per merge workgroup (`MERGE_BLOCK` in `shaders/merge.wgsl`).
pub const MERGE_BLOCK: u64 = (GPU_MERGE_WG * GPU_MERGE_WPI) as u64;

/// The adapter limits a window must respect.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WindowLimits {
    /// Largest storage binding in bytes (`max_storage_buffer_binding_size`, also capped by
    /// `max_buffer_size` and by the 30-bit descriptor offsets).
    pub max_binding: u64,
    /// `min_storage_buffer_offset_alignment`: where the output binding of a window may start.
    pub offset_align: u64,
    /// Original bytes per window wanted by the caller (at least one chunk is always taken).
    pub window_bytes: u64,
}

impl WindowLimits {
    /// Bytes of the output binding a window of `orig` bytes may need: alignment slack before it,
    /// word rounding after it.
    fn out_binding(&self, orig: u64) -> u64 {
        orig + self.offset_align + 4
    }
}

/// Buffer sizes (bytes) one window needs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WindowSizes {
    pub comp: u64,
    pub jobs: u64,
    pub subs: u64,
    pub huff: u64,
    pub chunks: u64,
    pub orig: u64,
}

impl WindowSizes {
    fn add(&mut self, o: &WindowSizes) {
        self.comp += o.comp;
        self.jobs += o.jobs;
        self.subs += o.subs;
        self.huff += o.huff;
        self.chunks += o.chunks;
        self.orig += o.orig;
    }
    fn fits(&self, lim: &WindowLimits) -> bool {
        let b = lim.max_binding;
        self.comp + 8 <= b
            && self.jobs <= b
            && self.subs <= b
            && self.huff <= b
            && self.chunks <= b
            && lim.out_binding(self.orig) <= b
    }
}

fn round4(x: u64) -> u64 {
    x.div_ceil(4) * 4
}

/// What chunk `ci` adds to a window.
pub fn chunk_sizes(idx: &Index, ci: usize) -> WindowSizes {
    let c = &idx.chunks()[ci];
    let n = idx.elements(c) as u64;
    let mut w = WindowSizes {
        comp: c.data_len,
        // The descriptor, the merge's block table (one u32 per MERGE_BLOCK output words) and the
        // expected checksum (two u32).
        chunks: (CHUNK_WORDS * 4) as u64 + (c.orig_len as u64 / (4 * MERGE_BLOCK) + 2) * 4 + 8,
        orig: c.orig_len as u64,
        ..Default::default()
    };
    if idx.is_delta(c) {
        // The base bytes the chunk is XORed with, uploaded after the zstd streams.
        w.comp += round4(c.orig_len as u64);
    }
    for s in idx.chunk_streams(c) {
        match s.coding {
            Coding::Zstd => w.comp += round4(n) + 4,
            Coding::Huffman { .. } | Coding::Rans { .. } => {
                // A pair stream: an output region twice a Huffman stream's.
                let k = if matches!(s.pairing, Pairing::Pair { .. }) {
                    2
                } else {
                    1
                };
                let subs = idx.sub_count(n as usize) as u64;
                w.subs += 16 * subs;
                // A job is one 16-byte entry, a fused job two (at most one fused job per
                // stream's jobs).
                w.jobs += 32 * subs.div_ceil(GPU_HUFF_WG as u64);
                w.huff += k * round4(n);
            }
            Coding::Raw | Coding::Const { .. } => {}
        }
    }
    w
}

/// Splits all chunks into windows (consecutive chunk ranges) whose buffers fit `lim`. A chunk that
/// alone does not fit is an error naming the limit.
pub fn plan_windows(idx: &Index, lim: &WindowLimits) -> Result<Vec<Range<usize>>> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut acc = WindowSizes::default();
    for ci in 0..idx.chunks().len() {
        let s = chunk_sizes(idx, ci);
        let mut next = acc;
        next.add(&s);
        if ci > start && (!next.fits(lim) || next.orig > lim.window_bytes) {
            out.push(start..ci);
            start = ci;
            next = s;
        }
        if !next.fits(lim) {
            return Err(Error::Gpu(format!(
                "chunk {ci} needs more than the adapter's {} byte storage binding limit",
                lim.max_binding
            )));
        }
        acc = next;
    }
    if start < idx.chunks().len() {
        out.push(start..idx.chunks().len());
    }
    Ok(out)
}

/// One window's descriptors, ready to upload.
#[derive(Debug, Default)]
pub struct Window {
    pub chunks: Range<usize>,
    /// The window's payloads in the data region: `data_offset .. data_offset + data_len`.
    pub data_offset: u64,
    pub data_len: u64,
    /// CPU-decoded zstd streams; uploaded at byte `extra_offset` of the comp buffer.
    pub extra: Vec<u8>,
    pub extra_offset: u64,
    /// Delta chunks: (chunk, byte offset in comp of its base bytes), after the zstd streams;
    /// `base_len` bytes in all (each rounded up to 4).
    pub bases: Vec<(usize, u64)>,
    pub base_len: u64,
    /// Where the expected checksums (two u32 per chunk) start in `chunk_words`.
    pub sum_base: u32,
    /// Huffman jobs, then `pair_jobs` pair jobs (`shaders/pair_decode.wgsl`), then `fused_jobs`
    /// fused jobs of two entries each (`shaders/fused_decode.wgsl`), then the last `rans_jobs`:
    /// rANS jobs (`shaders/rans_decode.wgsl`).
    pub jobs: Vec<[u32; 4]>,
    pub pair_jobs: usize,
    pub fused_jobs: usize,
    pub rans_jobs: usize,
    /// Chunks decoded by the fused kernel (the rest take the decode + merge passes).
    pub fused_chunks: usize,
    pub subs: Vec<[u32; 4]>,
    /// For each sub-stream, its chunk (for error messages).
    pub sub_chunk: Vec<u32>,
    /// Chunk descriptors (`CHUNK_WORDS` each), then the merge's block table: for each block of
    /// `MERGE_BLOCK` output words, the chunk holding its first byte inside the window.
    pub chunk_words: Vec<u32>,
    pub huff_words: u64,
    /// The window's original byte range.
    pub orig_start: u64,
    pub orig_end: u64,
    /// Absolute original byte at offset 0 of the output binding.
    pub out_base: u64,
}

impl Window {
    /// Bytes of the comp buffer: window data, then the zstd streams, then the delta bases.
    pub fn comp_len(&self) -> u64 {
        self.extra_offset + self.extra.len() as u64 + self.base_len
    }
}

/// The decoder of the streams the host decodes for the GPU (zstd), kept across windows.
#[derive(Default)]
pub struct HostCodecs {
    pub zstd: Option<crate::codec::zstd::Decoder>,
}

/// Builds the descriptors of `range`. `data` holds the window's payloads (it starts at the first
/// chunk's data offset); `out_base` is the absolute original byte that offset 0 of the output
/// binding holds (at or before the window's first byte). `fuse` lets chunks that
/// [`fusable`] accepts take the fused kernel.
pub fn build_window(
    idx: &Index,
    range: Range<usize>,
    data: &[u8],
    out_base: u64,
    host: &mut HostCodecs,
    fuse: bool,
) -> Result<Window> {
    let span = idx.span(range.clone());
    let (first_data, data_len) = (span.data.start, span.data_len() as u64);
    if (data.len() as u64) < data_len {
        return Err(Error::truncated("window payload"));
    }
    if out_base > span.orig.start || span.orig.end - out_base > SRC_MAX {
        return Err(Error::Gpu("window too large for 30-bit offsets".into()));
    }
    let mut w = Window {
        chunks: range.clone(),
        data_offset: first_data,
        data_len,
        extra_offset: round4(data_len) + 4,
        orig_start: span.orig.start,
        orig_end: span.orig.end,
        out_base,
        ..Default::default()
    };
    let mut pair_jobs = Vec::new();
    let mut fused_jobs = Vec::new();
    let mut rans_jobs = Vec::new();
    let mut buf = Vec::new();
    for (slot, ci) in range.enumerate() {
        let c = &idx.chunks()[ci];
        let n = idx.elements(c);
        let mut desc = [0u32; CHUNK_WORDS];
        desc[0] = (c.orig_offset - out_base) as u32;
        desc[1] = c.orig_len;
        desc[2] = idx.layout(c).id() as u32;
        desc[3] = NO_BASE;
        let fused = fusable(idx, ci, out_base).filter(|_| fuse);
        if let Some(f) = fused {
            let jobs = &mut fused_jobs;
            add_chunk(&mut w, jobs, idx, ci, slot, data, first_data, f, &mut desc)?;
        }
        // The source of the stream after a pair stream (decoded with it).
        let mut partner = None;
        for (k, s) in idx.chunk_streams(c).iter().enumerate() {
            if fused.is_some_and(|f| f.decodes(k)) {
                // Raw, const or zstd from here on (fusable).
                continue;
            }
            let off = s.data_offset - first_data;
            let body = &data[off as usize..(off + s.comp_len as u64) as usize];
            let src = |kind: u32, value: u64| (kind << SRC_SHIFT) | value as u32;
            match s.pairing {
                Pairing::Alone => {}
                Pairing::Paired => {
                    desc[4 + k] = partner
                        .take()
                        .ok_or_else(|| Error::corrupt("a paired stream after no pair stream"))?;
                    continue;
                }
                Pairing::Pair { bits } => {
                    let lens = idx.stream_sub_lens(s, n);
                    let (a, b) = super::pair::add_stream(
                        &mut w,
                        &mut pair_jobs,
                        ci,
                        body,
                        off,
                        n,
                        idx.sub_symbols() as usize,
                        bits,
                        lens,
                    )?;
                    desc[4 + k] = a;
                    partner = Some(b);
                    continue;
                }
            }
            desc[4 + k] = match s.coding {
                Coding::Const { value } => src(SRC_CONST, value as u64),
                Coding::Raw => src(SRC_COMP, off),
                Coding::Rans { .. } => {
                    let lens = idx.stream_sub_lens(s, n);
                    let sub_symbols = idx.sub_symbols() as usize;
                    let jobs = &mut rans_jobs;
                    super::rans::add_stream(&mut w, jobs, ci, body, off, n, sub_symbols, lens)?
                }
                Coding::Zstd => {
                    let at = w.extra_offset + w.extra.len() as u64;
                    crate::codec::zstd::decode(body, n, &mut host.zstd, &mut buf)?;
                    w.extra.extend_from_slice(&buf);
                    w.extra.resize(round4(w.extra.len() as u64) as usize, 0);
                    src(SRC_COMP, at)
                }
                Coding::Huffman { .. } => {
                    let lens = idx.stream_sub_lens(s, n);
                    let (ti, tsize) = huffman_table(body, off, lens)?;
                    let out_word = w.huff_words;
                    let sub_symbols = idx.sub_symbols() as usize;
                    let at = off + tsize as u64;
                    let first_sub = push_subs(&mut w, ci, lens, at, out_word, n, sub_symbols);
                    push_jobs(&mut w.jobs, first_sub, lens.len(), |f, c| [ti, f, c, 0]);
                    w.huff_words += (n as u64).div_ceil(4);
                    src(SRC_HUFF, out_word * 4)
                }
            };
        }
        if partner.is_some() {
            return Err(Error::corrupt("a pair stream ends its chunk"));
        }
        w.chunk_words.extend_from_slice(&desc);
    }
    w.pair_jobs = pair_jobs.len();
    w.jobs.extend(pair_jobs);
    w.fused_jobs = fused_jobs.len() / 2;
    w.jobs.extend(fused_jobs);
    w.rans_jobs = rans_jobs.len();
    w.jobs.extend(rans_jobs);
    block_table(&mut w);
    w.sum_base = w.chunk_words.len() as u32;
    for ci in w.chunks.clone() {
        let sum = idx.chunks()[ci].checksum;
        w.chunk_words.extend([sum as u32, (sum >> 32) as u32]);
    }
    // Delta bases after the zstd streams; word 3 of their descriptors says where.
    let mut at = round4(w.extra_offset + w.extra.len() as u64);
    for (k, ci) in w.chunks.clone().enumerate() {
        let c = &idx.chunks()[ci];
        if idx.is_delta(c) {
            w.bases.push((ci, at));
            w.chunk_words[k * CHUNK_WORDS + 3] = at as u32;
            at += round4(c.orig_len as u64);
        }
    }
    w.base_len = at - (w.extra_offset + w.extra.len() as u64);
    if w.comp_len() > SRC_MAX || w.huff_words * 4 > SRC_MAX {
        return Err(Error::Gpu("window too large for 30-bit offsets".into()));
    }
    Ok(w)
}

/// Validates the Huffman table at the start of `body` (the stream's payload, at byte `off` of the
/// window data; sub-stream lengths `lens`) with the CPU decoder's parser; returns the table's
/// offset in comp (what a job names) and its size in the payload.
pub(super) fn huffman_table(body: &[u8], off: u64, lens: &[u32]) -> Result<(u32, usize)> {
    if let Some(size) = unchecked_table_size(body, 1) {
        return Ok((off as u32, size?));
    }
    let (_, tsize) = huffman::table(body, lens)?;
    Ok((off as u32, tsize))
}

thread_local! {
    static SKIP_TABLE_CHECKS: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Test hook: while `on`, windows built on this thread take each table's size from its header
/// and skip the host's table checks, so that the kernels' own checks (`shaders/table_build.wgsl`)
/// are the only defence. Never set outside tests.
#[doc(hidden)]
pub fn skip_host_table_checks(on: bool) {
    SKIP_TABLE_CHECKS.with(|c| c.set(on));
}

/// True while [`skip_host_table_checks`] is on.
pub(super) fn skipping_table_checks() -> bool {
    SKIP_TABLE_CHECKS.with(|c| c.get())
}

/// `None` unless [`skip_host_table_checks`] is on; then the size of the table at the start of
/// `body` from its header alone (`first` and `last` of `width` bytes each, then the nibbles).
pub(super) fn unchecked_table_size(body: &[u8], width: usize) -> Option<Result<usize>> {
    if !skipping_table_checks() {
        return None;
    }
    let field = |i: usize| {
        body[i * width..(i + 1) * width]
            .iter()
            .rev()
            .fold(0usize, |v, &b| v << 8 | b as usize)
    };
    if body.len() < 2 * width {
        return Some(Err(Error::truncated("table header")));
    }
    let size = 2 * width + (field(1).saturating_sub(field(0)) + 1).div_ceil(2);
    Some(if size <= body.len() {
        Ok(size)
    } else {
        Err(Error::truncated("table lengths"))
    })
}

/// Appends the sub-stream descriptors of a coded stream of `n` elements whose sub-streams (byte
/// lengths `lens`) start at byte `at` of the window data and decode to the `huff` words from
/// `out_word` on; returns the first one's index.
pub(super) fn push_subs(
    w: &mut Window,
    ci: usize,
    lens: &[u32],
    mut at: u64,
    out_word: u64,
    n: usize,
    sub_symbols: usize,
) -> u32 {
    let first_sub = w.subs.len() as u32;
    for (k, &len) in lens.iter().enumerate() {
        let symbols = (n - k * sub_symbols).min(sub_symbols);
        w.subs.push([
            at as u32,
            len,
            (out_word + (k * sub_symbols / 4) as u64) as u32,
            symbols as u32,
        ]);
        w.sub_chunk.push(ci as u32);
        at += len as u64;
    }
    first_sub
}

/// The jobs of `subs` sub-streams of one stream, the first `first_sub`: one per group of up to
/// [`GPU_HUFF_WG`] (a workgroup), as (first sub-stream, count).
pub(super) fn job_groups(first_sub: u32, subs: usize) -> impl Iterator<Item = (u32, u32)> {
    (0..subs).step_by(GPU_HUFF_WG as usize).map(move |j| {
        let count = (subs - j).min(GPU_HUFF_WG as usize) as u32;
        (first_sub + j as u32, count)
    })
}

/// Appends the jobs of [`job_groups`], `job(first sub-stream, count)` each.
pub(super) fn push_jobs(
    jobs: &mut Vec<[u32; 4]>,
    first_sub: u32,
    subs: usize,
    job: impl Fn(u32, u32) -> [u32; 4],
) {
    jobs.extend(job_groups(first_sub, subs).map(|(f, c)| job(f, c)));
}

/// Appends the merge's block table to the chunk descriptors of `w`.
fn block_table(w: &mut Window) {
    let win_start = w.orig_start - w.out_base;
    let win_end = w.orig_end - w.out_base;
    let first_word = win_start / 4;
    let words = win_end.div_ceil(4) - first_word;
    let n = w.chunk_words.len() / CHUNK_WORDS;
    let mut c = 0;
    for b in 0..words.div_ceil(MERGE_BLOCK) {
        let p = ((first_word + b * MERGE_BLOCK) * 4).max(win_start);
        while c + 1 < n && w.chunk_words[(c + 1) * CHUNK_WORDS] as u64 <= p {
            c += 1;
        }
        w.chunk_words.push(c as u32);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layout::Layout;
    use crate::{Archive, CompressOptions};

    fn archive(n: usize) -> (Vec<u8>, Archive) {
        let src: Vec<u8> = (0..n as u32)
            .flat_map(|i| half::bf16::from_f32((i as f32 * 0.37).sin() * 0.02).to_le_bytes())
            .collect();
        let opts = CompressOptions {
            chunk_size: 4096,
            dtype: Layout::Bf16,
            ..Default::default()
        };
        let z = crate::compress_bytes(&src, &opts).unwrap();
        let a = Archive::from_bytes(&z).unwrap();
        (z, a)
    }

    #[test]
    fn windows_cover_chunks_and_respect_limits() {
        let (_, a) = archive(50_000);
        let lim = WindowLimits {
            max_binding: 1 << 27,
            offset_align: 256,
            window_bytes: 10_000,
        };
        let ws = plan_windows(&a.index, &lim).unwrap();
        assert_eq!(ws.first().unwrap().start, 0);
        assert_eq!(ws.last().unwrap().end, a.index.chunks().len());
        for pair in ws.windows(2) {
            assert_eq!(pair[0].end, pair[1].start);
        }
        for w in &ws {
            let orig: u64 = w.clone().map(|c| a.index.chunks()[c].orig_len as u64).sum();
            assert!(orig <= 10_000 || w.len() == 1);
        }
        let tiny = WindowLimits {
            max_binding: 1024,
            ..lim
        };
        assert!(matches!(plan_windows(&a.index, &tiny), Err(Error::Gpu(_))));
    }

    #[test]
    fn descriptors_point_inside_the_window() {
        let (z, a) = archive(30_000);
        let data = &z[Archive::DATA_START as usize..];
        let all = 0..a.index.chunks().len();
        // Fused: no staged stream at all.
        let f = build_window(
            &a.index,
            all.clone(),
            data,
            0,
            &mut HostCodecs::default(),
            true,
        )
        .unwrap();
        assert_eq!(f.fused_chunks, all.len());
        assert_eq!(
            (f.huff_words, f.fused_jobs, f.pair_jobs),
            (0, f.jobs.len() / 2, 0)
        );
        let w = build_window(&a.index, all, data, 0, &mut HostCodecs::default(), false).unwrap();
        assert_eq!((w.fused_chunks, w.fused_jobs), (0, 0));
        assert!(w.chunk_words.len() > a.index.chunks().len() * CHUNK_WORDS);
        // Every job names its table's offset in the window data, before its first sub-stream.
        for j in &w.jobs {
            assert!((j[0] as u64) < w.data_len);
            assert!(j[0] < w.subs[j[1] as usize][0]);
        }
        for s in &w.subs {
            assert!(s[0] as u64 + s[1] as u64 <= w.data_len);
            assert!(s[2] as u64 + (s[3] as u64).div_ceil(4) <= w.huff_words);
        }
    }
}
