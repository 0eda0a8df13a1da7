//! The index: segment table and chunk metadata map. Parsing treats every byte as hostile: counts are
//! checked against the bytes that remain before anything is allocated.

use crate::constants::{MAX_SUB_SYMBOLS, MIN_SUB_SYMBOLS};
use crate::error::{Error, Result};
use crate::huffman::CodeTable;
use crate::layout::Layout;

/// A stream codec; the discriminant is the on-disk id.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Codec {
    Raw = 0,
    Const = 1,
    Huffman = 2,
    Zstd = 3,
}

impl Codec {
    pub const ALL: [Codec; 4] = [Codec::Raw, Codec::Const, Codec::Huffman, Codec::Zstd];
    pub fn name(self) -> &'static str {
        match self {
            Codec::Raw => "raw",
            Codec::Const => "const",
            Codec::Huffman => "huffman",
            Codec::Zstd => "zstd",
        }
    }
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

/// Segment flag bit 0: the segment is a delta against the base (FORMAT.md, version 2).
const SEG_DELTA: u8 = 1;

/// One coded stream of a chunk.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StreamRec {
    pub codec: Codec,
    /// Payload bytes, table included for Huffman.
    pub comp_len: u32,
    /// Offset of the payload in the data region.
    pub data_offset: u64,
    /// The byte of a `Const` stream.
    pub value: u8,
    /// For Huffman: where this stream's sub-stream lengths start in [`Index::sub_lens`].
    pub sub_start: u32,
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

/// The parsed index. Flat arrays (no allocation per chunk), so that the GPU path can upload them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Index {
    pub chunk_size: u32,
    pub sub_symbols: u32,
    pub original_len: u64,
    pub segments: Vec<Segment>,
    pub chunks: Vec<ChunkRec>,
    pub streams: Vec<StreamRec>,
    pub sub_lens: Vec<u32>,
    /// The base of a delta file (format v2); `None` for a standalone file (format v1).
    pub base: Option<BaseRef>,
}

impl Index {
    /// The format version this index needs: 2 when it refers to a base file, else 1.
    pub fn version(&self) -> u16 {
        if self.base.is_some() {
            2
        } else {
            1
        }
    }

    /// The layout of chunk `c`.
    pub fn layout(&self, c: &ChunkRec) -> Layout {
        self.segments[c.segment as usize].layout
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

    /// Sub-stream lengths of Huffman stream `s` of a chunk of `n` elements.
    pub fn stream_sub_lens(&self, s: &StreamRec, n: usize) -> &[u32] {
        &self.sub_lens[s.sub_start as usize..s.sub_start as usize + self.sub_count(n)]
    }

    /// Total length of the data region the index describes.
    pub fn data_len(&self) -> u64 {
        self.chunks.last().map_or(0, |c| c.data_offset + c.data_len)
    }

    /// Chunks whose original bytes intersect `[start, end)`.
    pub fn chunks_in(&self, start: u64, end: u64) -> std::ops::Range<usize> {
        let first = self
            .chunks
            .partition_point(|c| c.orig_offset + c.orig_len as u64 <= start);
        let last = self.chunks.partition_point(|c| c.orig_offset < end);
        first..last.max(first)
    }

    /// Splits the chunks into consecutive windows of at most `window_bytes` original bytes (at least
    /// one chunk each): the unit of parallel work when streaming.
    pub fn windows(&self, window_bytes: u64) -> Vec<std::ops::Range<usize>> {
        let mut out = Vec::new();
        let mut start = 0;
        while start < self.chunks.len() {
            let mut end = start + 1;
            let mut bytes = self.chunks[start].orig_len as u64;
            while end < self.chunks.len()
                && bytes + self.chunks[end].orig_len as u64 <= window_bytes
            {
                bytes += self.chunks[end].orig_len as u64;
                end += 1;
            }
            out.push(start..end);
            start = end;
        }
        out
    }

    /// Serialises the index (FORMAT.md, "Index").
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut b = Vec::with_capacity(8 + self.segments.len() * 12 + self.chunks.len() * 80);
        b.extend_from_slice(&(self.segments.len() as u32).to_le_bytes());
        b.extend_from_slice(&self.sub_symbols.to_le_bytes());
        if let Some(base) = self.base {
            b.extend_from_slice(&base.len.to_le_bytes());
            b.extend_from_slice(&base.hash.to_le_bytes());
        }
        for s in &self.segments {
            let flags = if s.base_offset.is_some() {
                SEG_DELTA
            } else {
                0
            };
            b.extend_from_slice(&[s.layout.id(), flags, 0, 0]);
            b.extend_from_slice(&s.len.to_le_bytes());
            if let Some(off) = s.base_offset {
                debug_assert!(self.base.is_some(), "a delta segment needs a base");
                b.extend_from_slice(&off.to_le_bytes());
            }
        }
        for c in &self.chunks {
            b.extend_from_slice(&c.checksum.to_le_bytes());
            let n = c.orig_len as usize / self.layout(c).elem_size();
            for s in self.chunk_streams(c) {
                b.push(s.codec as u8);
                put_varint(&mut b, s.comp_len);
                match s.codec {
                    Codec::Const => b.push(s.value),
                    Codec::Huffman => {
                        for &l in self.stream_sub_lens(s, n) {
                            put_varint(&mut b, l);
                        }
                    }
                    Codec::Raw | Codec::Zstd => {}
                }
            }
        }
        b
    }

    /// Parses and validates a version 1 index (see [`Index::parse_version`]).
    pub fn parse(b: &[u8], chunk_size: u32, original_len: u64, data_len: u64) -> Result<Index> {
        Self::parse_version(b, 1, chunk_size, original_len, data_len)
    }

    /// Parses and validates an index of format `version` (1 or 2). `chunk_size` and `version` come
    /// from the header; `original_len` and `data_len` (the bytes between header and index) from the
    /// trailer and the file length.
    pub fn parse_version(
        b: &[u8],
        version: u16,
        chunk_size: u32,
        original_len: u64,
        data_len: u64,
    ) -> Result<Index> {
        let mut r = Reader { b, pos: 0 };
        let seg_count = r.u32()? as usize;
        let sub_symbols = r.u32()?;
        if !sub_symbols.is_power_of_two()
            || !(MIN_SUB_SYMBOLS..=MAX_SUB_SYMBOLS).contains(&sub_symbols)
        {
            return Err(Error::corrupt(format!(
                "invalid sub-stream size {sub_symbols}"
            )));
        }
        let base = match version {
            1 => None,
            2 => Some(BaseRef {
                len: r.u64()?,
                hash: r.u64()?,
            }),
            v => {
                return Err(Error::UnsupportedVersion {
                    found: v,
                    supported: super::header::VERSION,
                })
            }
        };
        if seg_count > r.remaining() / 12 {
            return Err(Error::corrupt("segment count exceeds the index"));
        }
        let mut segments = Vec::with_capacity(seg_count);
        let (mut offset, mut chunk_total) = (0u64, 0u64);
        for _ in 0..seg_count {
            let layout = Layout::from_id(r.u8()?)?;
            let flags = r.u8()?;
            if r.take(2)? != [0, 0] || flags & !SEG_DELTA != 0 || (flags != 0 && base.is_none()) {
                return Err(Error::corrupt("reserved segment bytes are set"));
            }
            let len = r.u64()?;
            if len == 0 || len % layout.elem_size() as u64 != 0 {
                return Err(Error::corrupt(
                    "segment length is zero or not whole elements",
                ));
            }
            let base_offset = match (flags & SEG_DELTA != 0, base) {
                (true, Some(b)) => {
                    let off = r.u64()?;
                    match off.checked_add(len) {
                        Some(end) if end <= b.len => Some(off),
                        _ => {
                            return Err(Error::corrupt("delta segment reaches past the base file"))
                        }
                    }
                }
                _ => None,
            };
            let chunk_count = len.div_ceil(chunk_size as u64);
            // Every chunk record needs at least 8 + 2 bytes: reject impossible counts before
            // allocating anything for them.
            chunk_total = chunk_total.saturating_add(chunk_count);
            if chunk_total > (r.remaining() / 10) as u64 {
                return Err(Error::corrupt("chunk count exceeds the index"));
            }
            segments.push(Segment {
                layout,
                offset,
                len,
                first_chunk: (chunk_total - chunk_count) as usize,
                chunk_count: chunk_count as usize,
                base_offset,
            });
            offset = offset
                .checked_add(len)
                .ok_or_else(|| Error::corrupt("segment lengths overflow"))?;
        }
        if offset != original_len {
            return Err(Error::corrupt(
                "segment lengths do not add up to the original length",
            ));
        }
        let mut idx = Index {
            chunk_size,
            sub_symbols,
            original_len,
            segments,
            chunks: Vec::with_capacity(chunk_total as usize),
            streams: Vec::new(),
            sub_lens: Vec::new(),
            base,
        };
        let mut data_offset = 0u64;
        for si in 0..idx.segments.len() {
            let seg = idx.segments[si];
            for k in 0..seg.chunk_count as u64 {
                let orig_offset = seg.offset + k * chunk_size as u64;
                let orig_len = (seg.len - k * chunk_size as u64).min(chunk_size as u64) as u32;
                let n = orig_len as usize / seg.layout.elem_size();
                let checksum = r.u64()?;
                let stream_start = idx.streams.len() as u32;
                let chunk_start = data_offset;
                for _ in 0..seg.layout.stream_count() {
                    let rec = parse_stream(&mut r, &mut idx, n, data_offset)?;
                    data_offset += rec.comp_len as u64;
                    if data_offset > data_len {
                        return Err(Error::corrupt("chunk map points past the data region"));
                    }
                    idx.streams.push(rec);
                }
                idx.chunks.push(ChunkRec {
                    checksum,
                    segment: si as u32,
                    orig_offset,
                    orig_len,
                    data_offset: chunk_start,
                    data_len: data_offset - chunk_start,
                    stream_start,
                });
            }
        }
        if r.remaining() != 0 {
            return Err(Error::corrupt("trailing bytes after the chunk map"));
        }
        if data_offset != data_len {
            return Err(Error::corrupt("chunk map does not cover the data region"));
        }
        Ok(idx)
    }
}

fn parse_stream(r: &mut Reader, idx: &mut Index, n: usize, data_offset: u64) -> Result<StreamRec> {
    let id = r.u8()?;
    let codec = *Codec::ALL
        .get(id as usize)
        .ok_or_else(|| Error::corrupt(format!("unknown codec id {id}")))?;
    let comp_len = r.varint()?;
    let mut rec = StreamRec {
        codec,
        comp_len,
        data_offset,
        value: 0,
        sub_start: 0,
    };
    match codec {
        Codec::Raw if comp_len as usize != n => {
            return Err(Error::corrupt(
                "raw stream length differs from its element count",
            ))
        }
        Codec::Const => {
            rec.value = r.u8()?;
            if comp_len != 0 {
                return Err(Error::corrupt("const stream with a payload"));
            }
        }
        Codec::Huffman => {
            let count = idx.sub_count(n);
            if count > r.remaining() {
                return Err(Error::truncated("huffman sub-stream lengths"));
            }
            rec.sub_start = idx.sub_lens.len() as u32;
            let mut total = 0u64;
            for _ in 0..count {
                let l = r.varint()?;
                total += l as u64;
                idx.sub_lens.push(l);
            }
            // The table takes at least 3 bytes (first, last, one nibble byte).
            if total + 3 > comp_len as u64 || comp_len as u64 - total > 2 + 128 {
                return Err(Error::corrupt(
                    "huffman sub-stream lengths do not match the stream",
                ));
            }
        }
        Codec::Raw | Codec::Zstd => {}
    }
    Ok(rec)
}

/// Parses the table of a Huffman stream whose payload is `payload` and checks that its size plus the
/// sub-stream lengths is the payload length.
pub fn huffman_table(payload: &[u8], sub_lens: &[u32]) -> Result<(CodeTable, usize)> {
    let (t, size) = CodeTable::parse(payload)?;
    let total: u64 = sub_lens.iter().map(|&l| l as u64).sum();
    if size as u64 + total != payload.len() as u64 {
        return Err(Error::corrupt(
            "huffman table size does not match the stream",
        ));
    }
    Ok((t, size))
}

fn put_varint(b: &mut Vec<u8>, mut v: u32) {
    while v >= 0x80 {
        b.push(v as u8 | 0x80);
        v >>= 7;
    }
    b.push(v as u8);
}

struct Reader<'a> {
    b: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn remaining(&self) -> usize {
        self.b.len() - self.pos
    }
    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        if self.remaining() < n {
            return Err(Error::truncated("index ends inside a record"));
        }
        self.pos += n;
        Ok(&self.b[self.pos - n..self.pos])
    }
    fn u8(&mut self) -> Result<u8> {
        Ok(self.take(1)?[0])
    }
    fn u32(&mut self) -> Result<u32> {
        Ok(u32::from_le_bytes(self.take(4)?.try_into().unwrap()))
    }
    fn u64(&mut self) -> Result<u64> {
        Ok(u64::from_le_bytes(self.take(8)?.try_into().unwrap()))
    }
    fn varint(&mut self) -> Result<u32> {
        let mut v = 0u64;
        for i in 0..5 {
            let byte = self.u8()?;
            v |= ((byte & 0x7F) as u64) << (7 * i);
            if byte & 0x80 == 0 {
                if v > u32::MAX as u64 || (i > 0 && byte == 0) {
                    return Err(Error::corrupt("non-canonical or oversized varint"));
                }
                return Ok(v as u32);
            }
        }
        Err(Error::corrupt("varint longer than 5 bytes"))
    }
}
