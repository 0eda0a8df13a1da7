//! The CPU decode engine: chunks of a `.znn` decoded in parallel (rayon) from a [`ByteSource`],
//! straight into the caller's memory. Whole-file decompression, range extraction and the
//! [`crate::reader::Reader`] all decode through [`Engine::decode`]; the GPU host side reads window
//! payloads with [`Engine::payload`].
//!
//! Each chunk task reads its own payload (and base bytes) with a positioned read, so reading and
//! decoding overlap across the pool's threads with no window-wide buffer and no serial read step.

#![forbid(unsafe_code)]

use crate::archive::Archive;
use crate::chunk::{decode_chunk, DecodeScratch};
use crate::constants::DECODE_PADDING;
use crate::delta::Base;
use crate::error::{Error, Result};
use crate::format::Index;
use crate::source::ByteSource;
use rayon::prelude::*;
use std::cell::RefCell;
use std::ops::Range;

/// Per worker thread: codec scratch, a payload buffer and a base buffer, reused for every chunk.
#[derive(Default)]
struct Scratch {
    codec: DecodeScratch,
    payload: Vec<u8>,
    base: Vec<u8>,
}

thread_local! {
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::default());
}

/// Decodes chunks of one archive from one source, with its base when it is a delta.
#[derive(Clone, Copy)]
pub struct Engine<'a> {
    idx: &'a Index,
    src: &'a dyn ByteSource,
    /// Where the data region starts in `src`: [`Archive::DATA_START`] for a whole `.znn`, 0 for a
    /// source holding the data region alone.
    data_start: u64,
    base: Option<&'a Base>,
}

impl<'a> Engine<'a> {
    /// An engine over `src`, the whole `.znn` file whose metadata is `archive`. A given `base` is
    /// checked against the one a delta file names (and ignored for a standalone file); without
    /// it, a delta's standalone chunks (its safetensors header, say) still decode and its delta
    /// chunks fail with [`Error::NeedsBase`].
    pub fn new(
        archive: &'a Archive,
        src: &'a dyn ByteSource,
        base: Option<&'a Base>,
    ) -> Result<Engine<'a>> {
        let base = match base {
            Some(_) => archive.check_base(base)?,
            None => None,
        };
        Ok(Engine {
            idx: &archive.index,
            src,
            data_start: Archive::DATA_START,
            base,
        })
    }

    /// An engine over a source holding the data region alone (offset 0 = the first payload byte),
    /// for a standalone index.
    pub fn over_data(idx: &'a Index, data: &'a dyn ByteSource) -> Result<Engine<'a>> {
        Self::over_data_at(idx, data, 0)
    }

    /// An engine for a standalone index whose data region starts at `data_start` in `src`.
    pub fn over_data_at(
        idx: &'a Index,
        src: &'a dyn ByteSource,
        data_start: u64,
    ) -> Result<Engine<'a>> {
        if let Some(b) = idx.base() {
            return Err(Error::NeedsBase(b));
        }
        Ok(Engine {
            idx,
            src,
            data_start,
            base: None,
        })
    }

    pub fn index(&self) -> &'a Index {
        self.idx
    }

    /// The payload bytes of chunks `chunks` (consecutive, non-empty), followed by up to
    /// `DECODE_PADDING` readable bytes: borrowed from a source in memory, else read into `buf`.
    pub fn payload<'b>(&self, chunks: Range<usize>, buf: &'b mut Vec<u8>) -> Result<&'b [u8]>
    where
        'a: 'b,
    {
        let span = self.idx.span(chunks);
        let start = self.data_start + span.data.start;
        let len = span.data_len();
        if let Some(all) = self.src.as_slice() {
            let end = start + len as u64;
            if end > all.len() as u64 {
                return Err(Error::truncated("data region shorter than the chunk map"));
            }
            let padded = (end as usize + DECODE_PADDING).min(all.len());
            return Ok(&all[start as usize..padded]);
        }
        // Only the padding is never overwritten by the read; it is read, never decoded.
        buf.resize(len + DECODE_PADDING, 0);
        self.src.read_exact_at(start, &mut buf[..len])?;
        Ok(&buf[..])
    }

    /// Where the payloads of chunks `chunks` (consecutive, non-empty) lie in the source: absolute
    /// offset and length.
    pub fn payload_range(&self, chunks: Range<usize>) -> (u64, usize) {
        let span = self.idx.span(chunks);
        (self.data_start + span.data.start, span.data_len())
    }

    /// Reads the payloads of chunks `chunks` into `dst` (exactly their length) straight from the
    /// source, in pieces of `piece` bytes read in parallel on the current rayon pool: the GPU
    /// host side fills mapped staging memory this way, with no intermediate buffer.
    pub fn read_payload_into(
        &self,
        chunks: Range<usize>,
        dst: &mut [u8],
        piece: usize,
    ) -> Result<()> {
        let (start, len) = self.payload_range(chunks);
        if dst.len() != len {
            return Err(Error::invalid("payload buffer of the wrong length"));
        }
        if start
            .checked_add(len as u64)
            .is_none_or(|e| e > self.src.len())
        {
            return Err(Error::truncated("data region shorter than the chunk map"));
        }
        dst.par_chunks_mut(piece.max(4096))
            .enumerate()
            .try_for_each(|(k, d)| {
                self.src
                    .read_exact_at(start + (k * piece.max(4096)) as u64, d)
            })
    }

    /// True when this engine holds the base of a delta.
    pub fn has_base(&self) -> bool {
        self.base.is_some()
    }

    /// The base bytes chunk `ci` is XORed with, read into `dst` (its original length): `false` for
    /// a standalone chunk, [`Error::NeedsBase`] for a delta chunk without a base.
    pub fn read_base_into(&self, ci: usize, dst: &mut [u8]) -> Result<bool> {
        let c = &self.idx.chunks()[ci];
        if !self.idx.is_delta(c) {
            return Ok(false);
        }
        let Some(b) = self.base else {
            return Err(Error::NeedsBase(self.idx.base().expect("a delta index")));
        };
        let seg = self.idx.segment_of(c);
        let at = seg.base_offset.expect("a delta segment") + (c.orig_offset - seg.offset);
        b.read_at(at, dst)?;
        Ok(true)
    }

    /// Decodes chunks `chunks` (consecutive) into `out`, which holds exactly their original bytes,
    /// in parallel on the current rayon pool; every chunk's checksum is verified before this
    /// returns. `out` may hold anything: every byte is overwritten.
    pub fn decode(&self, chunks: Range<usize>, out: &mut [u8]) -> Result<()> {
        if chunks.is_empty() {
            return Ok(());
        }
        debug_assert_eq!(out.len(), self.idx.span(chunks.clone()).orig_len());
        let recs = self.idx.chunks();
        let mut parts = Vec::with_capacity(chunks.len());
        let mut rest = out;
        for ci in chunks {
            let (head, tail) = rest.split_at_mut(recs[ci].orig_len as usize);
            parts.push((ci, head));
            rest = tail;
        }
        parts
            .into_par_iter()
            .try_for_each(|(ci, dst)| self.decode_one(ci, dst))
    }

    /// Bytes `start .. end` of the original (inside it): the covering chunks decoded whole, then
    /// sliced.
    pub fn read_range(&self, start: u64, end: u64) -> Result<Vec<u8>> {
        let chunks = self.idx.covering(start, end);
        if chunks.is_empty() {
            return Ok(Vec::new());
        }
        let span = self.idx.span(chunks.clone());
        let mut buf = vec![0u8; span.orig_len()];
        self.decode(chunks, &mut buf)?;
        let lo = (start - span.orig.start) as usize;
        buf.truncate((end - span.orig.start) as usize);
        buf.drain(..lo);
        Ok(buf)
    }

    /// Decodes chunk `ci` into `out` (its original length) on the calling thread.
    pub fn decode_one(&self, ci: usize, out: &mut [u8]) -> Result<()> {
        SCRATCH.with(|s| {
            let s = &mut *s.borrow_mut();
            let payload = self.payload(ci..ci + 1, &mut s.payload)?;
            let c = &self.idx.chunks()[ci];
            let base = match (self.base, self.idx.is_delta(c)) {
                (None, true) => {
                    return Err(Error::NeedsBase(self.idx.base().expect("a delta index")))
                }
                (Some(b), true) => {
                    let seg = self.idx.segment_of(c);
                    let at =
                        seg.base_offset.expect("a delta segment") + (c.orig_offset - seg.offset);
                    s.base.resize(c.orig_len as usize, 0);
                    b.read_at(at, &mut s.base)?;
                    Some(&s.base[..])
                }
                _ => None,
            };
            decode_chunk(self.idx, ci, payload, &mut s.codec, base, out)
        })
    }
}
