//! Random access to the original bytes of a `.znn`: the one place that maps a byte range to its
//! chunks, decodes them (verified against their checksums) and caches them. `extract`, the mount
//! and the Python package read through a [`Reader`].
//!
//! ```
//! # fn main() -> znn_gpu::Result<()> {
//! let weights: Vec<u8> = (0..300_000u32).flat_map(|i| (i as f32).sin().to_le_bytes()).collect();
//! let znn = znn_gpu::compress_bytes(&weights, &znn_gpu::CompressOptions::default())?;
//! let r = znn_gpu::Reader::from_bytes(znn, &Default::default())?;
//! let mut part = vec![0u8; 1000];
//! r.read_at(5000, &mut part)?; // any offset and length, from any thread
//! assert_eq!(part, weights[5000..6000]);
//! let mut all = vec![0u8; weights.len()]; // decoded straight into caller memory, in parallel
//! r.decode_into(0, &mut all)?;
//! assert_eq!(all, weights);
//! # Ok(()) }
//! ```
//!
//! - [`Reader::read_at`] serves any offset and length from the decoded-chunk cache; a chunk asked
//!   for by several threads at once is decoded once. Sequential reads start read-ahead: the next
//!   chunks are decoded on the rayon pool before they are asked for.
//! - [`Reader::decode_into`] decodes a range straight into the caller's buffer (the chunks wholly
//!   inside it in parallel, bypassing the cache; only the two edge chunks go through it).
//! - A chunk that fails its checksum is an error for every read that touches it, never wrong
//!   bytes.

#![forbid(unsafe_code)]

mod cache;

pub use cache::ChunkCache;

use crate::archive::Archive;
use crate::constants::{READAHEAD_BYTES, READER_CACHE_BYTES, WINDOW_BYTES};
use crate::delta::Base;
use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::layout::Layout;
use crate::safetensors::{self, Header};
use crate::source::{ByteSource, FileSource};
use rayon::prelude::*;
use std::io::Write;
use std::ops::Range;
use std::path::Path;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

/// How a reader caches and reads ahead.
#[derive(Clone, Default)]
pub struct ReaderOptions {
    /// The base file of a delta (checked when the reader opens).
    pub base: Option<Arc<Base>>,
    /// A cache shared with other readers (a mount's open files): one bound for all of them. When
    /// `None`, the reader gets its own of `cache_bytes`.
    pub cache: Option<Arc<ChunkCache>>,
    /// Bytes of the reader's own cache (default [`READER_CACHE_BYTES`]).
    pub cache_bytes: Option<u64>,
    /// Bytes decoded ahead of a sequential reader (default [`READAHEAD_BYTES`], at most a quarter
    /// of the cache); 0 turns read-ahead off.
    pub readahead_bytes: Option<u64>,
}

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

/// A `.znn` opened for random access; cheap to clone (clones share everything) and usable from any
/// number of threads.
#[derive(Clone)]
pub struct Reader(Arc<Inner>);

struct Inner {
    id: u64,
    archive: Archive,
    src: Arc<dyn ByteSource>,
    base: Option<Arc<Base>>,
    cache: Arc<ChunkCache>,
    header: OnceLock<Option<Header>>,
    /// Original bytes decoded ahead of a sequential reader (counted in bytes, not chunks: a
    /// safetensors file's small tensors make chunks far shorter than the chunk size).
    readahead_bytes: u64,
    /// Where the last read ended: a read starting near it is sequential.
    last_end: AtomicU64,
    /// Chunks below this were handed to read-ahead already.
    ahead_to: AtomicUsize,
}

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

impl Drop for Inner {
    fn drop(&mut self) {
        self.cache.forget(self.id);
    }
}

impl Reader {
    /// Opens the `.znn` file at `path`.
    pub fn open(path: &Path, opts: &ReaderOptions) -> Result<Reader> {
        Reader::new(Arc::new(FileSource::open(path)?), opts)
    }

    /// A reader over a `.znn` held in memory.
    pub fn from_bytes(znn: Vec<u8>, opts: &ReaderOptions) -> Result<Reader> {
        Reader::new(Arc::new(znn), opts)
    }

    /// A reader over any source of a whole `.znn` file: its metadata is read and checked now, and
    /// a given base against the one a delta names. A delta opened without its base reads its
    /// standalone chunks (the tensor table, say); a read that needs a delta chunk fails with
    /// [`Error::NeedsBase`].
    pub fn new(src: Arc<dyn ByteSource>, opts: &ReaderOptions) -> Result<Reader> {
        let archive = Archive::read(&*src)?;
        if opts.base.is_some() {
            archive.check_base(opts.base.as_deref())?;
        }
        let cache = match &opts.cache {
            Some(c) => c.clone(),
            None => ChunkCache::new(opts.cache_bytes.unwrap_or(READER_CACHE_BYTES)),
        };
        let ahead = opts
            .readahead_bytes
            .unwrap_or(READAHEAD_BYTES)
            .min(cache.capacity() / 4);
        let chunk = archive.header.chunk_size as u64;
        Ok(Reader(Arc::new(Inner {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            base: opts.base.clone().filter(|_| archive.index.base().is_some()),
            archive,
            src,
            cache,
            header: OnceLock::new(),
            readahead_bytes: if ahead >= chunk { ahead } else { 0 },
            last_end: AtomicU64::new(u64::MAX),
            ahead_to: AtomicUsize::new(0),
        })))
    }

    /// The file's metadata.
    pub fn archive(&self) -> &Archive {
        &self.0.archive
    }

    /// The base a delta reads with (`None` for a standalone file, or a delta opened without one).
    pub fn base(&self) -> Option<&Base> {
        self.0.base.as_deref()
    }

    /// Length of the original.
    pub fn len(&self) -> u64 {
        self.0.archive.original_len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The source the reader reads from.
    pub fn source(&self) -> &Arc<dyn ByteSource> {
        &self.0.src
    }

    fn engine(&self) -> Engine<'_> {
        let i = &*self.0;
        Engine::new(&i.archive, &*i.src, i.base.as_deref()).expect("base checked at open")
    }

    /// Chunk `ci`, decoded (or from the cache).
    fn chunk(&self, ci: usize) -> Result<cache::Data> {
        self.0.cache.get_or_decode((self.0.id, ci), |mut out| {
            // Any contents: decode_one overwrites every byte (only growth is zeroed here).
            out.resize(self.0.archive.index.chunks()[ci].orig_len as usize, 0);
            self.engine().decode_one(ci, &mut out)?;
            Ok(out)
        })
    }

    /// Reads up to `buf.len()` original bytes from `offset` (fewer only at the end of the
    /// original: 0 at or past it). Chunks come from the cache, several in parallel.
    pub fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<usize> {
        let len = self.len();
        if offset >= len || buf.is_empty() {
            return Ok(0);
        }
        let end = len.min(offset + buf.len() as u64);
        let idx = &self.0.archive.index;
        let chunks = idx.covering(offset, end);
        let got: Vec<cache::Data> = if chunks.len() > 1 {
            chunks
                .clone()
                .into_par_iter()
                .map(|ci| self.chunk(ci))
                .collect::<Result<_>>()?
        } else {
            vec![self.chunk(chunks.start)?]
        };
        for (ci, data) in chunks.clone().zip(&got) {
            copy_overlap(
                &idx.chunks()[ci],
                data,
                offset,
                &mut buf[..(end - offset) as usize],
            );
        }
        let last = self.0.last_end.swap(end, Ordering::Relaxed);
        // Sequential, or nearly (a kernel keeps several requests of one stream in flight).
        let near = self.0.readahead_bytes + idx.chunk_size() as u64;
        if last != u64::MAX && offset <= last.saturating_add(near) && offset + near >= last {
            self.read_ahead(chunks.end);
        }
        Ok((end - offset) as usize)
    }

    /// Hands the chunks after `from` (up to the read-ahead distance) to the rayon pool.
    fn read_ahead(&self, from: usize) {
        let n = self.0.archive.index.chunks().len();
        let Some(at) = self
            .0
            .archive
            .index
            .chunks()
            .get(from)
            .map(|c| c.orig_offset)
        else {
            return;
        };
        let stop = self.len().min(at + self.0.readahead_bytes);
        let want = self.0.archive.index.covering(at, stop).end.min(n);
        let ahead = &self.0.ahead_to;
        let mut cur = ahead.load(Ordering::Relaxed);
        let start = loop {
            let start = cur.max(from);
            if start >= want {
                return;
            }
            match ahead.compare_exchange(cur, want, Ordering::Relaxed, Ordering::Relaxed) {
                Ok(_) => break start,
                Err(now) => cur = now,
            }
        };
        for ci in start..want {
            if self.0.cache.contains((self.0.id, ci)) {
                continue;
            }
            let me = self.clone();
            // A failure is reported to the read that asks for the chunk.
            rayon::spawn(move || drop(me.chunk(ci)));
        }
    }

    /// Decodes original bytes `offset .. offset + out.len()` straight into `out` (any contents:
    /// every byte is overwritten). The chunks wholly inside the range decode in parallel on the
    /// rayon pool without going through the cache.
    pub fn decode_into(&self, offset: u64, out: &mut [u8]) -> Result<RangeStats> {
        let end = offset
            .checked_add(out.len() as u64)
            .ok_or_else(|| Error::invalid("range end overflows"))?;
        check_range(self.len(), offset, end)?;
        let idx = &self.0.archive.index;
        let chunks = idx.covering(offset, end);
        let mut stats = RangeStats {
            chunks: chunks.clone(),
            payload_bytes: idx.chunks()[chunks.clone()]
                .iter()
                .map(|c| c.data_len)
                .sum(),
            decoded_bytes: 0,
        };
        if chunks.is_empty() {
            return Ok(stats);
        }
        stats.decoded_bytes = idx.span(chunks.clone()).orig_len() as u64;
        let inside = |ci: usize| {
            let c = &idx.chunks()[ci];
            c.orig_offset >= offset && c.orig_offset + c.orig_len as u64 <= end
        };
        let first = chunks.start + !inside(chunks.start) as usize;
        let last = (chunks.end - !inside(chunks.end - 1) as usize).max(first);
        // Edge chunks through the cache (a neighbouring range will want the rest of them).
        for ci in chunks.clone().filter(|&ci| ci < first || ci >= last) {
            copy_overlap(&idx.chunks()[ci], &self.chunk(ci)?, offset, out);
        }
        if first < last {
            let span = idx.span(first..last);
            let at = (span.orig.start - offset) as usize;
            self.engine()
                .decode(first..last, &mut out[at..at + span.orig_len()])?;
        }
        Ok(stats)
    }

    /// Bytes `start .. end` of the original in a new buffer.
    pub fn read_range(&self, start: u64, end: u64) -> Result<Vec<u8>> {
        check_range(self.len(), start, end)?;
        let mut out = crate::buffer::zeroed((end - start) as usize)?;
        self.decode_into(start, &mut out)?;
        Ok(out)
    }

    /// Writes bytes `start .. end` of the original to `w`, window by window (memory: one window
    /// whatever the range's length). Every chunk is verified before any of its bytes is written.
    pub fn write_range<W: Write>(&self, start: u64, end: u64, mut w: W) -> Result<RangeStats> {
        check_range(self.len(), start, end)?;
        let idx = &self.0.archive.index;
        let chunks = idx.covering(start, end);
        let mut stats = RangeStats {
            chunks: chunks.clone(),
            ..Default::default()
        };
        let mut buf = Vec::new();
        let mut at = start;
        for win in idx.windows_in(chunks, WINDOW_BYTES) {
            let span = idx.span(win);
            let (lo, hi) = (at.max(span.orig.start), end.min(span.orig.end));
            buf.resize((hi - lo) as usize, 0);
            let s = self.decode_into(lo, &mut buf)?;
            w.write_all(&buf)
                .map_err(|e| Error::io("writing output", e))?;
            stats.payload_bytes += s.payload_bytes;
            stats.decoded_bytes += span.orig_len() as u64;
            at = hi;
        }
        w.flush().map_err(|e| Error::io("writing output", e))?;
        Ok(stats)
    }

    /// The safetensors header of the original (tensors and `__metadata__`), decoding only the
    /// chunks that hold it; `None` when the original is not a safetensors file. Read once.
    pub fn tensors(&self) -> Result<Option<&Header>> {
        if let Some(h) = self.0.header.get() {
            return Ok(h.as_ref());
        }
        let h = self.read_header()?;
        Ok(self.0.header.get_or_init(|| h).as_ref())
    }

    /// The safetensors table of the original, checked as the safetensors package checks it before
    /// handing out tensors ([`Header::validate`]): what a loader (Python's `safe_open`) reads
    /// tensors by. `InvalidArgument` when the original is not a safetensors file.
    pub fn table(&self) -> Result<&Header> {
        let h = self
            .tensors()?
            .ok_or_else(|| Error::invalid("the original of this .znn is not a safetensors file"))?;
        h.validate(self.len())?;
        Ok(h)
    }

    fn read_header(&self) -> Result<Option<Header>> {
        header_via(&self.0.archive.index, &mut |s, e| self.read_range(s, e))
    }
}

/// The safetensors header of the original of `idx`, reading original bytes with `read(start, end)`
/// (the header's chunks only). The compressor always makes a safetensors header a byte segment of
/// its own at offset 0, so any other first segment means "not safetensors" without decoding
/// anything.
pub(crate) fn header_via(
    idx: &crate::format::Index,
    read: &mut dyn FnMut(u64, u64) -> Result<Vec<u8>>,
) -> Result<Option<Header>> {
    let len = idx.original_len();
    let (Some(seg), Some(c0)) = (idx.segments().first(), idx.chunks().first()) else {
        return Ok(None);
    };
    if seg.layout != Layout::Byte || len < 8 {
        return Ok(None);
    }
    // The first chunk whole, then the rest of the header if it is longer.
    let mut head = read(0, (c0.orig_len as u64).min(len).max(8))?;
    let Some(need) = safetensors::header_len(&head, len) else {
        return Ok(None);
    };
    if (head.len() as u64) < need {
        let rest = read(head.len() as u64, need)?;
        head.extend_from_slice(&rest);
    }
    Ok(safetensors::parse(&head, len))
}

/// Copies the bytes chunk `c` (decoded: `data`) shares with `out`, which holds original bytes
/// `offset .. offset + out.len()`.
fn copy_overlap(c: &crate::format::ChunkRec, data: &[u8], offset: u64, out: &mut [u8]) {
    let end = offset + out.len() as u64;
    let (lo, hi) = (
        offset.max(c.orig_offset),
        end.min(c.orig_offset + c.orig_len as u64),
    );
    out[(lo - offset) as usize..(hi - offset) as usize]
        .copy_from_slice(&data[(lo - c.orig_offset) as usize..(hi - c.orig_offset) as usize]);
}

/// `InvalidArgument` unless `start <= end <= len`.
pub fn check_range(len: u64, start: u64, end: u64) -> Result<()> {
    if start > end || end > len {
        return Err(Error::invalid(format!(
            "byte range {start}..{end} is not within the original's {len} bytes"
        )));
    }
    Ok(())
}
