//! Parsing the index (FORMAT.md, "Index"). Every byte is hostile: counts are checked against the
//! bytes that remain before anything is allocated, and the result satisfies every invariant
//! [`Index`] promises.

#![forbid(unsafe_code)]

use super::index::{BaseRef, Index, Planned, Skeleton, StreamRec, SEG_DELTA};
use super::wire::WireReader;
use crate::codec::{read_fields, Codec, Pairing};
use crate::constants::{MAX_SUB_SYMBOLS, MIN_SUB_SYMBOLS};
use crate::error::{Error, Result};
use crate::layout::Layout;

/// Bytes a chunk record takes at least: the checksum and one stream of `codec` + `comp_len`.
const MIN_CHUNK_RECORD: usize = 8 + 2;
/// Bytes a segment record takes at least.
const MIN_SEGMENT_RECORD: usize = 12;

pub(super) fn parse(
    b: &[u8],
    version: u16,
    chunk_size: u32,
    original_len: u64,
    data_len: u64,
) -> Result<Index> {
    let mut r = WireReader::new(b);
    let seg_count = r.u32()? as usize;
    let sub_symbols = r.u32()?;
    if !sub_symbols.is_power_of_two() || !(MIN_SUB_SYMBOLS..=MAX_SUB_SYMBOLS).contains(&sub_symbols)
    {
        return Err(Error::corrupt(format!(
            "invalid sub-stream size {sub_symbols}"
        )));
    }
    let base = match version {
        1 | 3 => None,
        2 => Some(BaseRef {
            len: r.u64()?,
            hash: r.u64()?,
        }),
        // A zero record: no base.
        4 => Some(BaseRef {
            len: r.u64()?,
            hash: r.u64()?,
        })
        .filter(|b| b.len != 0 || b.hash != 0),
        v => {
            return Err(Error::UnsupportedVersion {
                found: v,
                supported: super::header::VERSION,
            })
        }
    };
    // Versions 3 and 4: the number of pair streams, checked against the chunk map below (it also
    // keeps a version 1 index from reading as version 3, and the other way round).
    let pair_streams = if version >= 3 { Some(r.u32()?) } else { None };
    if seg_count > r.remaining() / MIN_SEGMENT_RECORD {
        return Err(Error::corrupt("segment count exceeds the index"));
    }
    let mut plan = Vec::with_capacity(seg_count);
    let (mut total_len, mut chunk_total) = (0u64, 0u64);
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
                    _ => return Err(Error::corrupt("delta segment reaches past the base file")),
                }
            }
            _ => None,
        };
        // Reject impossible chunk counts before the skeleton allocates anything for them.
        chunk_total = chunk_total.saturating_add(len.div_ceil(chunk_size as u64));
        if chunk_total > (r.remaining() / MIN_CHUNK_RECORD) as u64 {
            return Err(Error::corrupt("chunk count exceeds the index"));
        }
        total_len = total_len
            .checked_add(len)
            .ok_or_else(|| Error::corrupt("segment lengths overflow"))?;
        plan.push(Planned {
            layout,
            len,
            base_offset,
        });
    }
    if total_len != original_len {
        return Err(Error::corrupt(
            "segment lengths do not add up to the original length",
        ));
    }
    let mut skel = Skeleton::new(&plan, chunk_size);
    let mut streams = Vec::new();
    let mut sub_lens = Vec::new();
    let mut data_offset = 0u64;
    let layouts: Vec<Layout> = skel.segments().iter().map(|s| s.layout).collect();
    for c in skel.chunks_mut() {
        let layout = layouts[c.segment as usize];
        let n = c.orig_len as usize / layout.elem_size();
        c.checksum = r.u64()?;
        c.stream_start = streams.len() as u32;
        c.data_offset = data_offset;
        for k in 0..layout.stream_count() {
            let codec = Codec::from_id(r.u8()?)?;
            if codec.min_version() > version {
                return Err(Error::corrupt(format!(
                    "codec {} needs format version {} (the file says {version})",
                    codec as u8,
                    codec.min_version()
                )));
            }
            // A pair stream must be followed by its partner, and a partner follow a pair stream.
            let after_pair = k > 0
                && matches!(
                    streams.last(),
                    Some(StreamRec {
                        pairing: Pairing::Pair { .. },
                        ..
                    })
                );
            let pair_fits = codec != Codec::Pair || k + 1 < layout.stream_count();
            if (codec == Codec::Paired) != after_pair || !pair_fits {
                return Err(Error::corrupt(
                    "a pair stream must be followed by a paired stream, and only by one",
                ));
            }
            let comp_len = r.varint()?;
            let (coding, pairing) = read_fields(
                codec,
                &mut r,
                n,
                sub_symbols as usize,
                comp_len,
                &mut sub_lens,
            )?;
            streams.push(StreamRec {
                coding,
                comp_len,
                data_offset,
                pairing,
            });
            data_offset += comp_len as u64;
            if data_offset > data_len {
                return Err(Error::corrupt("chunk map points past the data region"));
            }
        }
        c.data_len = data_offset - c.data_offset;
    }
    if r.remaining() != 0 {
        return Err(Error::corrupt("trailing bytes after the chunk map"));
    }
    if data_offset != data_len {
        return Err(Error::corrupt("chunk map does not cover the data region"));
    }
    if let Some(want) = pair_streams {
        let got = streams
            .iter()
            .filter(|s| matches!(s.pairing, Pairing::Pair { .. }))
            .count();
        if got != want as usize {
            return Err(Error::corrupt(format!(
                "index says {want} pair streams, the chunk map has {got}"
            )));
        }
    }
    Ok(Index::assemble(
        skel,
        sub_symbols,
        streams,
        sub_lens,
        base,
        version,
    ))
}
