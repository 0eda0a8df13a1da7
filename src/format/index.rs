//! The index: segment table and chunk metadata map, and the arithmetic every decoder uses on it
//! (which chunks cover a byte range, where their payloads lie, how chunks group into windows).
//!
//! An [`Index`] is only ever made by parsing (every check of FORMAT.md passed) or by the
//! compressor's [`IndexBuilder`]: its fields are private, so code holding one may rely on it being
//! consistent (segments back to back, chunk records matching them, stream payloads inside the
//! data region, sub-stream lengths present). [`IndexParts`] is the open form, for tools and tests
//! that forge maps; [`Index::from_parts`] accepts only what a parse would have produced.

#![forbid(unsafe_code)]

use super::wire;
use crate::codec::{Codec, Coding, EncodedStream, Pairing};
use crate::error::{Error, Result};
use crate::layout::Layout;
use std::ops::{Deref, Range};

/// One planned segment: a layout, a length and, for a delta segment, where its bytes start in the
/// base file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Planned {
    pub layout: Layout,
    pub len: u64,
    pub base_offset: Option<u64>,
}

/// A byte range of the original with one layout.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Segment {
    pub layout: Layout,
    pub offset: u64,
    pub len: u64,
    /// Index of the segment's first chunk.
    pub first_chunk: usize,
    pub chunk_count: usize,
    /// For a delta segment (format v2): where its bytes start in the base file. The stored bytes
    /// are the original XOR `base[base_offset .. base_offset + len]`.
    pub base_offset: Option<u64>,
}

/// The base file a delta `.znn` (format v2) was made against: checked before any byte is decoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BaseRef {
    /// Length of the base file.
    pub len: u64,
    /// xxh3-64 (seed 0) of the whole base file.
    pub hash: u64,
}

/// One coded stream of a chunk.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StreamRec {
    pub coding: Coding,
    /// Payload bytes, table included for Huffman.
    pub comp_len: u32,
    /// Offset of the payload in the data region.
    pub data_offset: u64,
    /// Whether the stream is coded with its neighbour (codecs 4 and 5); see [`Pairing`].
    pub pairing: Pairing,
}

impl StreamRec {
    pub fn codec(&self) -> Codec {
        match self.pairing {
            Pairing::Alone => self.coding.codec(),
            Pairing::Pair { .. } => Codec::Pair,
            Pairing::Paired => Codec::Paired,
        }
    }
}

/// The format version an index needs: 4 when a stream uses rANS, or a delta file pair codes; else
/// 2 when it refers to a base file, 3 when a stream uses a pair codec, and 1.
pub(super) fn version_for(base: Option<BaseRef>, streams: &[StreamRec]) -> u16 {
    let codecs = streams
        .iter()
        .map(|s| s.codec().min_version())
        .max()
        .unwrap_or(1);
    match (base.is_some(), codecs) {
        (true, 3) => 4,
        (true, c) => c.max(2),
        (false, c) => c,
    }
}

/// One chunk of the map.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChunkRec {
    pub checksum: u64,
    pub segment: u32,
    pub orig_offset: u64,
    pub orig_len: u32,
    /// Offset of the chunk's payload in the data region, and its length.
    pub data_offset: u64,
    pub data_len: u64,
    /// Where the chunk's streams start in [`Index::streams`] (count = layout's stream count).
    pub stream_start: u32,
}

/// Where consecutive chunks lie: their original bytes and their payload bytes in the data region.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Span {
    pub orig: Range<u64>,
    pub data: Range<u64>,
}

impl Span {
    pub fn orig_len(&self) -> usize {
        (self.orig.end - self.orig.start) as usize
    }
    pub fn data_len(&self) -> usize {
        (self.data.end - self.data.start) as usize
    }
}

/// Segments and chunk records: what follows from the segment table alone (chunk payload fields are
/// filled by the parser or the compressor), with the range arithmetic over it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Skeleton {
    chunk_size: u32,
    original_len: u64,
    segments: Vec<Segment>,
    chunks: Vec<ChunkRec>,
}

impl Skeleton {
    /// Segments back to back from 0, each cut into `ceil(len / chunk_size)` chunks of `chunk_size`
    /// bytes but the last (FORMAT.md, "Index"). The one place chunk boundaries are computed: the
    /// compressor plans with it, the parser checks a file against it. The caller has bounded the
    /// total chunk count.
    pub(crate) fn new(plan: &[Planned], chunk_size: u32) -> Skeleton {
        let cs = chunk_size as u64;
        let total: u64 = plan.iter().map(|p| p.len.div_ceil(cs)).sum();
        let mut s = Skeleton {
            chunk_size,
            original_len: 0,
            segments: Vec::with_capacity(plan.len()),
            chunks: Vec::with_capacity(total as usize),
        };
        for (si, p) in plan.iter().enumerate() {
            let count = p.len.div_ceil(cs) as usize;
            s.segments.push(Segment {
                layout: p.layout,
                offset: s.original_len,
                len: p.len,
                first_chunk: s.chunks.len(),
                chunk_count: count,
                base_offset: p.base_offset,
            });
            for k in 0..count as u64 {
                s.chunks.push(ChunkRec {
                    checksum: 0,
                    segment: si as u32,
                    orig_offset: s.original_len + k * cs,
                    orig_len: (p.len - k * cs).min(cs) as u32,
                    data_offset: 0,
                    data_len: 0,
                    stream_start: 0,
                });
            }
            s.original_len += p.len;
        }
        s
    }

    pub fn chunk_size(&self) -> u32 {
        self.chunk_size
    }
    /// Length of the decoded output.
    pub fn original_len(&self) -> u64 {
        self.original_len
    }
    pub fn segments(&self) -> &[Segment] {
        &self.segments
    }
    pub fn chunks(&self) -> &[ChunkRec] {
        &self.chunks
    }
    /// The segment chunk `c` belongs to.
    pub fn segment_of(&self, c: &ChunkRec) -> &Segment {
        &self.segments[c.segment as usize]
    }
    /// The layout of chunk `c`.
    pub fn layout(&self, c: &ChunkRec) -> Layout {
        self.segment_of(c).layout
    }
    /// Elements (symbols per stream) of chunk `c`.
    pub fn elements(&self, c: &ChunkRec) -> usize {
        c.orig_len as usize / self.layout(c).elem_size()
    }
    /// True when chunk `c` is coded as a delta against the base.
    pub fn is_delta(&self, c: &ChunkRec) -> bool {
        self.segment_of(c).base_offset.is_some()
    }

    /// The original and payload bytes of chunks `r` (consecutive, non-empty).
    pub fn span(&self, r: Range<usize>) -> Span {
        let (first, last) = (&self.chunks[r.start], &self.chunks[r.end - 1]);
        Span {
            orig: first.orig_offset..last.orig_offset + last.orig_len as u64,
            data: first.data_offset..last.data_offset + last.data_len,
        }
    }

    /// The chunks whose original bytes intersect `[start, end)`; none for an empty range.
    pub fn covering(&self, start: u64, end: u64) -> Range<usize> {
        if start >= end {
            return 0..0;
        }
        let first = self
            .chunks
            .partition_point(|c| c.orig_offset + c.orig_len as u64 <= start);
        let last = self.chunks.partition_point(|c| c.orig_offset < end);
        first..last.max(first)
    }

    /// Splits all chunks into consecutive windows of at most `window_bytes` original bytes (at
    /// least one chunk each): the unit of parallel work when streaming.
    pub fn windows(&self, window_bytes: u64) -> Vec<Range<usize>> {
        self.windows_in(0..self.chunks.len(), window_bytes)
    }

    /// The windows of a full decode cut to `chunks`: a range decodes in the same groups (and within
    /// the same limits) as the whole file.
    pub fn windows_in(&self, chunks: Range<usize>, window_bytes: u64) -> Vec<Range<usize>> {
        let mut out = Vec::new();
        let mut start = 0;
        while start < chunks.end.min(self.chunks.len()) {
            let mut end = start + 1;
            let mut bytes = self.chunks[start].orig_len as u64;
            while end < self.chunks.len()
                && bytes + self.chunks[end].orig_len as u64 <= window_bytes
            {
                bytes += self.chunks[end].orig_len as u64;
                end += 1;
            }
            let w = start.max(chunks.start)..end.min(chunks.end);
            if !w.is_empty() {
                out.push(w);
            }
            start = end;
        }
        out
    }
}

/// The parsed, validated index.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Index {
    skel: Skeleton,
    sub_symbols: u32,
    streams: Vec<StreamRec>,
    sub_lens: Vec<u32>,
    base: Option<BaseRef>,
    /// The file's format version (1 to 4): versions 3 and 4 have a `pair_streams` field, 2 and 4
    /// a `base_record`.
    version: u16,
}

/// An index is its skeleton plus the stream records: the skeleton's arithmetic applies as it is.
impl Deref for Index {
    type Target = Skeleton;
    fn deref(&self) -> &Skeleton {
        &self.skel
    }
}

impl Index {
    /// The format version of the file: 2 when it refers to a base file, 3 when its streams may
    /// use pair codecs, 4 when they may use rANS (a file need not use what its version allows),
    /// else 1.
    pub fn version(&self) -> u16 {
        self.version
    }
    /// Whether some stream uses a codec of format version 3 (pair codes).
    pub fn has_pairs(&self) -> bool {
        self.streams.iter().any(|s| s.pairing != Pairing::Alone)
    }
    /// Symbols per Huffman sub-stream.
    pub fn sub_symbols(&self) -> u32 {
        self.sub_symbols
    }
    pub fn streams(&self) -> &[StreamRec] {
        &self.streams
    }
    /// Sub-stream lengths of all Huffman streams, in stream order.
    pub fn sub_lens(&self) -> &[u32] {
        &self.sub_lens
    }
    /// The base of a delta file (format v2); `None` for a standalone file (format v1).
    pub fn base(&self) -> Option<BaseRef> {
        self.base
    }
    /// The stream records of chunk `c`.
    pub fn chunk_streams(&self, c: &ChunkRec) -> &[StreamRec] {
        let n = self.layout(c).stream_count();
        &self.streams[c.stream_start as usize..c.stream_start as usize + n]
    }
    /// Number of sub-streams of a Huffman stream of `n` symbols.
    pub fn sub_count(&self, n: usize) -> usize {
        n.div_ceil(self.sub_symbols as usize)
    }
    /// Sub-stream lengths of stream `s` of `n` symbols (none unless it is a Huffman, pair or
    /// rANS stream).
    pub fn stream_sub_lens(&self, s: &StreamRec, n: usize) -> &[u32] {
        match s.coding {
            Coding::Huffman { sub_start } | Coding::Rans { sub_start } => {
                &self.sub_lens[sub_start as usize..sub_start as usize + self.sub_count(n)]
            }
            Coding::Raw | Coding::Const { .. } | Coding::Zstd => &[],
        }
    }
    /// Total length of the data region the index describes.
    pub fn data_len(&self) -> u64 {
        self.chunks()
            .last()
            .map_or(0, |c| c.data_offset + c.data_len)
    }

    /// Serialises the index (FORMAT.md, "Index").
    pub fn to_bytes(&self) -> Vec<u8> {
        wire_bytes(
            self.version,
            self.sub_symbols,
            self.base,
            self.segments(),
            self.chunks(),
            &self.streams,
            &self.sub_lens,
        )
    }

    /// Parses and validates a version 1 index (see [`Index::parse_version`]).
    pub fn parse(b: &[u8], chunk_size: u32, original_len: u64, data_len: u64) -> Result<Index> {
        Self::parse_version(b, 1, chunk_size, original_len, data_len)
    }

    /// Parses and validates an index of format `version` (1 to 4). `chunk_size` and `version` come
    /// from the header; `original_len` and `data_len` (the bytes between header and index) from the
    /// trailer and the file length.
    pub fn parse_version(
        b: &[u8],
        version: u16,
        chunk_size: u32,
        original_len: u64,
        data_len: u64,
    ) -> Result<Index> {
        super::parse::parse(b, version, chunk_size, original_len, data_len)
    }

    /// The open form of this index.
    pub fn to_parts(&self) -> IndexParts {
        IndexParts {
            chunk_size: self.chunk_size(),
            sub_symbols: self.sub_symbols,
            original_len: self.original_len(),
            segments: self.segments().to_vec(),
            chunks: self.chunks().to_vec(),
            streams: self.streams.clone(),
            sub_lens: self.sub_lens.clone(),
            base: self.base,
            version: self.version,
        }
    }

    /// The index `p` describes, if it is exactly what parsing its serialised form gives (every
    /// derived field consistent); else `Corrupt`.
    pub fn from_parts(p: IndexParts) -> Result<Index> {
        let data_len: u64 = p.streams.iter().map(|s| s.comp_len as u64).sum();
        let idx = Self::parse_version(
            &p.to_bytes(),
            p.version,
            p.chunk_size,
            p.original_len,
            data_len,
        )?;
        if idx.to_parts() != p {
            return Err(Error::corrupt("index records are inconsistent"));
        }
        Ok(idx)
    }

    /// Assembles a parsed index (the parser's last step).
    pub(super) fn assemble(
        skel: Skeleton,
        sub_symbols: u32,
        streams: Vec<StreamRec>,
        sub_lens: Vec<u32>,
        base: Option<BaseRef>,
        version: u16,
    ) -> Index {
        Index {
            skel,
            sub_symbols,
            streams,
            sub_lens,
            base,
            version,
        }
    }
}

impl Skeleton {
    pub(super) fn chunks_mut(&mut self) -> &mut [ChunkRec] {
        &mut self.chunks
    }
}

/// Every field of an index, open: for tools and tests that forge or inspect maps. Nothing
/// guarantees its consistency; [`Index::from_parts`] checks it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct IndexParts {
    pub chunk_size: u32,
    pub sub_symbols: u32,
    pub original_len: u64,
    pub segments: Vec<Segment>,
    pub chunks: Vec<ChunkRec>,
    pub streams: Vec<StreamRec>,
    pub sub_lens: Vec<u32>,
    pub base: Option<BaseRef>,
    /// The format version the parts are serialised for (1 to 4).
    pub version: u16,
}

impl IndexParts {
    /// Serialises the parts as they are (FORMAT.md, "Index"); references that lead nowhere write
    /// what they can (a chunk of a missing segment as one stream, missing sub-stream lengths as
    /// none), so any forgery can be written.
    pub fn to_bytes(&self) -> Vec<u8> {
        wire_bytes(
            self.version,
            self.sub_symbols,
            self.base,
            &self.segments,
            &self.chunks,
            &self.streams,
            &self.sub_lens,
        )
    }
}

/// Segment flag bit 0: the segment is a delta against the base (FORMAT.md, version 2).
pub(super) const SEG_DELTA: u8 = 1;

#[allow(clippy::too_many_arguments)]
fn wire_bytes(
    version: u16,
    sub_symbols: u32,
    base: Option<BaseRef>,
    segments: &[Segment],
    chunks: &[ChunkRec],
    streams: &[StreamRec],
    sub_lens: &[u32],
) -> Vec<u8> {
    let mut b = Vec::with_capacity(8 + segments.len() * 12 + chunks.len() * 80);
    b.extend_from_slice(&(segments.len() as u32).to_le_bytes());
    b.extend_from_slice(&sub_symbols.to_le_bytes());
    // Version 4 always has a base record, zero for "no base".
    if let Some(base) = base.or((version == 4).then_some(BaseRef { len: 0, hash: 0 })) {
        b.extend_from_slice(&base.len.to_le_bytes());
        b.extend_from_slice(&base.hash.to_le_bytes());
    }
    if version >= 3 {
        let pairs = streams
            .iter()
            .filter(|s| matches!(s.pairing, Pairing::Pair { .. }))
            .count();
        b.extend_from_slice(&(pairs as u32).to_le_bytes());
    }
    for s in segments {
        let flags = if s.base_offset.is_some() {
            SEG_DELTA
        } else {
            0
        };
        b.extend_from_slice(&[s.layout.id(), flags, 0, 0]);
        b.extend_from_slice(&s.len.to_le_bytes());
        if let Some(off) = s.base_offset {
            b.extend_from_slice(&off.to_le_bytes());
        }
    }
    let sub = sub_symbols.max(1) as usize;
    for c in chunks {
        b.extend_from_slice(&c.checksum.to_le_bytes());
        let layout = segments
            .get(c.segment as usize)
            .map_or(Layout::Byte, |s| s.layout);
        let n = c.orig_len as usize / layout.elem_size();
        let start = c.stream_start as usize;
        let recs = streams
            .get(start..start + layout.stream_count())
            .unwrap_or(&[]);
        for s in recs {
            b.push(s.codec() as u8);
            wire::put_varint(&mut b, s.comp_len);
            let subs = match s.coding {
                Coding::Huffman { sub_start } | Coding::Rans { sub_start } => {
                    let at = sub_start as usize;
                    sub_lens.get(at..at + n.div_ceil(sub)).unwrap_or(&[])
                }
                _ => &[],
            };
            crate::codec::write_fields(&s.coding, s.pairing, subs, &mut b);
        }
    }
    b
}

/// The compressor's index: the skeleton of a plan, filled chunk by chunk as chunks are coded.
pub struct IndexBuilder {
    skel: Skeleton,
    sub_symbols: u32,
    base: Option<BaseRef>,
    streams: Vec<StreamRec>,
    sub_lens: Vec<u32>,
    next_chunk: usize,
    data_offset: u64,
    /// Whether chunks may be pair coded (the header then says version 3, or 4 for a delta).
    pairs: bool,
    /// Whether streams may be rANS coded (the header then says version 4).
    rans: bool,
}

impl IndexBuilder {
    /// For segments `plan`; `base` is recorded only when some segment is a delta (a file with no
    /// delta segment stays a standalone version 1 file).
    pub fn new(
        plan: &[Planned],
        chunk_size: u32,
        sub_symbols: u32,
        base: Option<BaseRef>,
    ) -> IndexBuilder {
        IndexBuilder {
            skel: Skeleton::new(plan, chunk_size),
            sub_symbols,
            base: base.filter(|_| plan.iter().any(|p| p.base_offset.is_some())),
            streams: Vec::new(),
            sub_lens: Vec::new(),
            next_chunk: 0,
            data_offset: 0,
            pairs: false,
            rans: false,
        }
    }

    /// Lets streams be rANS coded (format v4); before any chunk is pushed and before
    /// [`IndexBuilder::allow_pairs`].
    pub fn allow_rans(&mut self, allow: bool) {
        self.rans = allow;
    }

    /// Lets chunks of float segments be pair coded (format v3), if `allow` and the file is no
    /// delta or may use rANS (format v4 holds both); before any chunk is pushed.
    pub fn allow_pairs(&mut self, allow: bool) {
        let floats = self
            .skel
            .segments()
            .iter()
            .any(|s| matches!(s.layout, Layout::Bf16 | Layout::Fp16 | Layout::Fp32));
        self.pairs = allow && floats && (self.base.is_none() || self.rans);
    }

    /// The segments and chunk boundaries (payload fields not yet filled).
    pub fn skeleton(&self) -> &Skeleton {
        &self.skel
    }

    /// The version of the file being written: as [`Index::version`], and whatever the allowed
    /// codecs need (a header is written before the chunks are coded): 4 with rANS, 3 with pair
    /// codes.
    pub fn version(&self) -> u16 {
        let v = version_for(self.base, &self.streams);
        if self.rans {
            4
        } else if self.pairs {
            v.max(3)
        } else {
            v
        }
    }

    /// Payload bytes recorded so far.
    pub fn data_len(&self) -> u64 {
        self.data_offset
    }

    /// Records the next chunk: its checksum and its coded streams (payloads back to back).
    pub fn push(&mut self, checksum: u64, streams: &[EncodedStream]) {
        let stream_start = self.streams.len() as u32;
        debug_assert!(
            streams
                .iter()
                .all(|s| match s.fields.codec().min_version() {
                    1 => true,
                    3 => self.pairs,
                    _ => self.rans,
                }),
            "a codec the file's header does not allow"
        );
        let mut off = self.data_offset;
        for s in streams {
            use crate::codec::Encoded;
            let mut subs_at = |subs: &[u32]| {
                let sub_start = self.sub_lens.len() as u32;
                self.sub_lens.extend_from_slice(subs);
                sub_start
            };
            let (coding, pairing) = match &s.fields {
                Encoded::Raw => (Coding::Raw, Pairing::Alone),
                Encoded::Const(value) => (Coding::Const { value: *value }, Pairing::Alone),
                Encoded::Zstd => (Coding::Zstd, Pairing::Alone),
                Encoded::Huffman(subs) => {
                    let sub_start = subs_at(subs);
                    (Coding::Huffman { sub_start }, Pairing::Alone)
                }
                Encoded::Pair { bits, subs } => {
                    let sub_start = subs_at(subs);
                    (Coding::Huffman { sub_start }, Pairing::Pair { bits: *bits })
                }
                Encoded::Rans(subs) => {
                    let sub_start = subs_at(subs);
                    (Coding::Rans { sub_start }, Pairing::Alone)
                }
                Encoded::Paired => (Coding::Const { value: 0 }, Pairing::Paired),
            };
            self.streams.push(StreamRec {
                coding,
                comp_len: s.comp_len,
                data_offset: off,
                pairing,
            });
            off += s.comp_len as u64;
        }
        let rec = &mut self.skel.chunks[self.next_chunk];
        rec.checksum = checksum;
        rec.data_offset = self.data_offset;
        rec.data_len = off - self.data_offset;
        rec.stream_start = stream_start;
        self.data_offset = off;
        self.next_chunk += 1;
    }

    /// The finished index; every chunk of the plan must have been pushed.
    pub fn finish(self) -> Index {
        assert_eq!(
            self.next_chunk,
            self.skel.chunks.len(),
            "every chunk is coded before the index is finished"
        );
        let version = self.version();
        Index {
            skel: self.skel,
            sub_symbols: self.sub_symbols,
            streams: self.streams,
            sub_lens: self.sub_lens,
            base: self.base,
            version,
        }
    }
}
