//! Host side of the fused decode (`shaders/fused_decode.wgsl`): which chunks skip the staged
//! streams and the merge pass, and their descriptors.
//!
//! A chunk is fused when its layout is BF16, FP16 or FP32, its bytes start and end on a word of
//! the output binding (so no output word is shared with a chunk the merge writes, and the kernel
//! stores whole words only), and one of stream 0 or 1 is decoded by the kernel while every other
//! stream is raw, const or zstd (zstd streams are decoded on the host, as on the two-pass path,
//! and read raw): a Huffman or rANS stream 0 (v1, `--codecs fast`; rANS: `smallest`), a Huffman
//! or rANS stream 1 (the sign and mantissa XOR of a delta, whose exponent XOR is mostly zero and
//! so zstd or const), or a pair stream 0 + 1 (codecs 4 and 5). Deltas fuse too: the kernel XORs
//! each output word with the base word the window uploads for the chunk (descriptor word 3).
//! Chunks whose streams 0 and 1 are both Huffman or rANS coded (a delta's two XOR streams with
//! `--codecs smallest`) fuse too, the kernel decoding both with single lookups. Every other chunk
//! (other layouts, pair codes elsewhere than at stream 0, a third entropy-coded stream, segment
//! edges off a word) takes the two-pass path of `plan.rs`.

use super::plan::{huffman_table, job_groups, Window};
use super::shader_consts::{CHUNK_WORDS, FUSED_NONE_K, FUSED_RANS_K, SRC_FUSED, SRC_SHIFT};
use crate::codec::{Coding, Pairing};
use crate::error::{Error, Result};
use crate::format::{Index, StreamRec};
use crate::layout::Layout;

/// Chunks decoded by each path ([`super::GpuDecoder::take_path_counts`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PathCounts {
    /// By `shaders/fused_decode.wgsl`, straight into the output.
    pub fused: usize,
    /// By the decode kernels into staged streams, then the merge (or the merge alone).
    pub two_pass: usize,
}

/// Which of a fused chunk's streams the kernel decodes, and how.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fuse {
    /// Codec 2 at stream `stream` (0: the exponent, FP16: the high byte; 1: sign and mantissa,
    /// FP16: the low byte); the other of streams 0 and 1 raw, const or zstd.
    Huffman { stream: u8 },
    /// Codec 6 at stream `stream` (0 or 1, as for Huffman); the other of streams 0 and 1 raw,
    /// const or zstd.
    Rans { stream: u8 },
    /// Codec 4 with K = `bits`: streams 0 and 1 together.
    Pair(u8),
    /// Streams 0 and 1 each Huffman (`false`) or rANS (`true`) coded.
    Two([bool; 2]),
}

/// The kernel's K of a Huffman (`false`) or rANS (`true`) stream.
fn coder_k(rans: bool) -> u32 {
    if rans {
        FUSED_RANS_K
    } else {
        0
    }
}

impl Fuse {
    /// Stream `stream` decoded alone, Huffman (`false`) or rANS (`true`) coded.
    fn single(stream: u8, rans: bool) -> Fuse {
        if rans {
            Fuse::Rans { stream }
        } else {
            Fuse::Huffman { stream }
        }
    }

    /// K as the kernel reads it from a job (0: Huffman).
    fn k(self) -> u32 {
        match self {
            Fuse::Huffman { .. } => 0,
            Fuse::Rans { .. } => FUSED_RANS_K,
            Fuse::Pair(bits) => bits as u32,
            Fuse::Two([r0, _]) => coder_k(r0),
        }
    }

    /// The first stream the kernel decodes.
    fn coded(self) -> usize {
        match self {
            Fuse::Huffman { stream } | Fuse::Rans { stream } => stream as usize,
            Fuse::Pair(_) | Fuse::Two(_) => 0,
        }
    }

    /// True for the streams the kernel decodes (the rest are read raw or const).
    pub fn decodes(self, stream: usize) -> bool {
        match self {
            Fuse::Huffman { stream: s } | Fuse::Rans { stream: s } => stream == s as usize,
            Fuse::Pair(_) | Fuse::Two(_) => stream < 2,
        }
    }
}

/// A stream the fused kernel reads as bytes: raw or const in the payload, or zstd decoded on the
/// host into the window's extra bytes.
fn read_as_bytes(s: &StreamRec) -> bool {
    s.pairing == Pairing::Alone
        && matches!(s.coding, Coding::Raw | Coding::Const { .. } | Coding::Zstd)
}

/// How chunk `ci` is fused when byte 0 of the output binding is original byte `out_base`, or
/// `None` for the two-pass path.
pub fn fusable(idx: &Index, ci: usize, out_base: u64) -> Option<Fuse> {
    let c = &idx.chunks()[ci];
    let layout = idx.layout(c);
    if !matches!(layout, Layout::Bf16 | Layout::Fp16 | Layout::Fp32)
        || c.orig_offset < out_base
        || (c.orig_offset - out_base) % 4 != 0
        || c.orig_len % 4 != 0
    {
        return None;
    }
    let st = idx.chunk_streams(c);
    // Whether the kernel decodes a stream as rANS (`true`) or Huffman (`false`); `None` if it has
    // no single-stream decoder for its codec.
    let rans = |s: &StreamRec| match (s.pairing, s.coding) {
        (Pairing::Alone, Coding::Huffman { .. }) => Some(false),
        (Pairing::Alone, Coding::Rans { .. }) => Some(true),
        _ => None,
    };
    let (a, b) = (st.first()?, st.get(1)?);
    let fuse = match (a.pairing, a.coding, b.pairing) {
        (Pairing::Pair { bits }, Coding::Huffman { .. }, Pairing::Paired) => Fuse::Pair(bits),
        _ if read_as_bytes(b) => Fuse::single(0, rans(a)?),
        _ if read_as_bytes(a) => Fuse::single(1, rans(b)?),
        _ => Fuse::Two([rans(a)?, rans(b)?]),
    };
    st[2..].iter().all(read_as_bytes).then_some(fuse)
}

/// The table, sub-streams and jobs (appended to `jobs`, which the window puts after its pair
/// jobs) of chunk `ci`, fused as `fuse`, the `slot`-th chunk of window `w`; marks the streams the
/// kernel decodes in `desc` (the caller fills in the others). `data` is the window's payload,
/// whose byte 0 is data byte `first_data`. A job is two entries (`shaders/fused_decode.wgsl`):
/// the first stream's, then the second stream's of a [`Fuse::Two`] chunk, or none.
#[allow(clippy::too_many_arguments)]
pub(super) fn add_chunk(
    w: &mut Window,
    jobs: &mut Vec<[u32; 4]>,
    idx: &Index,
    ci: usize,
    slot: usize,
    data: &[u8],
    first_data: u64,
    fuse: Fuse,
    desc: &mut [u32; CHUNK_WORDS],
) -> Result<()> {
    let streams = idx.chunk_streams(&idx.chunks()[ci]);
    let mut add = |stream: usize, coder: Fuse| {
        add_stream(w, idx, ci, &streams[stream], data, first_data, coder)
    };
    // A two-stream chunk's streams each decode as a single Huffman or rANS stream would.
    let first = match fuse {
        Fuse::Two([r0, _]) => Fuse::single(0, r0),
        _ => fuse,
    };
    let (ti, top, first_sub, subs) = add(fuse.coded(), first)?;
    let second = match fuse {
        Fuse::Two([_, r1]) => {
            let (t1, top1, first1, subs1) = add(1, Fuse::single(1, r1))?;
            if subs1 != subs {
                return Err(Error::corrupt(
                    "two streams of a chunk with different sub-streams",
                ));
            }
            Some((t1, top1 | coder_k(r1) << 8, first1))
        }
        _ => None,
    };
    for (f, c) in job_groups(first_sub, subs) {
        jobs.push([ti, f, c | fuse.k() << 8 | top, slot as u32]);
        jobs.push(match second {
            Some((t1, z1, first1)) => [t1, first1 + (f - first_sub), z1, 0],
            None => [0, 0, FUSED_NONE_K << 8, 0],
        });
    }
    for (k, d) in desc[4..4 + streams.len()].iter_mut().enumerate() {
        if fuse.decodes(k) {
            *d = SRC_FUSED << SRC_SHIFT;
        }
    }
    w.fused_chunks += 1;
    Ok(())
}

/// The sub-streams of stream `s` of chunk `ci`, decoded as `coder` (its K and table), appended to
/// the window's. Returns the job's word 0 (the table's offset in the data), the top 16 bits of
/// its word 2 (a rANS table's size, at most 514: shader_consts.rs; else 0), the first sub-stream
/// and their count.
fn add_stream(
    w: &mut Window,
    idx: &Index,
    ci: usize,
    s: &StreamRec,
    data: &[u8],
    first_data: u64,
    coder: Fuse,
) -> Result<(u32, u32, u32, usize)> {
    let n = idx.elements(&idx.chunks()[ci]);
    let off = s.data_offset - first_data;
    let body = &data[off as usize..(off + s.comp_len as u64) as usize];
    let lens = idx.stream_sub_lens(s, n);
    let (ti, tsize, top) = match coder {
        Fuse::Rans { .. } => {
            let tsize = super::rans::rans_table(body, lens.iter().map(|&l| l as u64).sum())?;
            if tsize >= 1 << 16 {
                return Err(Error::corrupt("rans table longer than any valid one"));
            }
            (off as u32, tsize, (tsize as u32) << 16)
        }
        Fuse::Pair(bits) => {
            let (ti, tsize) = super::pair::pair_table(body, off, bits, lens)?;
            (ti, tsize, 0)
        }
        Fuse::Huffman { .. } => {
            let (ti, tsize) = huffman_table(body, off, lens)?;
            (ti, tsize, 0)
        }
        Fuse::Two(_) => return Err(Error::invalid("a stream decodes as one coder, not two")),
    };
    let sub_symbols = idx.sub_symbols() as usize;
    let first_sub = w.subs.len() as u32;
    let mut at = off + tsize as u64;
    for (k, &len) in lens.iter().enumerate() {
        let first = k * sub_symbols;
        w.subs.push([
            at as u32,
            len,
            first as u32,
            (n - first).min(sub_symbols) as u32,
        ]);
        w.sub_chunk.push(ci as u32);
        at += len as u64;
    }
    Ok((ti, top, first_sub, lens.len()))
}

/// Symbols and table lookups on the dependent chains of every standalone chunk fused with a
/// Huffman stream (`Fuse::Huffman`), counted by replaying `fused_decode.wgsl`'s schedule over the
/// symbols of `original` (the file `idx` and `data` describe): per sub-stream, batches of 4 from
/// one lookup per symbol pair where both codes fit in `TABLE_LOG` bits while `4 b + 5 <= n`, then
/// one lookup per symbol. A count from the code, not a timing: each lookup is one step of the
/// serial chain the speed model names as the kernel's limit.
pub fn chain_lookups(idx: &Index, data: &[u8], original: &[u8]) -> Result<(u64, u64)> {
    let mut streams = vec![Vec::new(); crate::layout::MAX_STREAMS];
    let (mut symbols, mut lookups) = (0u64, 0u64);
    let mut lens = Vec::new();
    for (ci, c) in idx.chunks().iter().enumerate() {
        let Some(Fuse::Huffman { stream }) = fusable(idx, ci, 0) else {
            continue;
        };
        if idx.is_delta(c) {
            continue;
        }
        let orig = original
            .get(c.orig_offset as usize..(c.orig_offset + c.orig_len as u64) as usize)
            .ok_or_else(|| crate::error::Error::invalid("original shorter than the index says"))?;
        idx.layout(c).split(orig, &mut streams);
        let s = &idx.chunk_streams(c)[stream as usize];
        let table = data
            .get(s.data_offset as usize..)
            .ok_or_else(|| crate::error::Error::truncated("stream payload"))?;
        let (table, _) = crate::huffman::build::CodeTable::parse(table)?;
        for sub in streams[stream as usize].chunks(idx.sub_symbols() as usize) {
            lens.clear();
            lens.extend(sub.iter().map(|&x| table.lens[x as usize] as u32));
            symbols += lens.len() as u64;
            lookups += sub_stream_lookups(&lens);
        }
    }
    Ok((symbols, lookups))
}

/// The kernel's lookups for one sub-stream whose code lengths are `lens` (see [`chain_lookups`]).
fn sub_stream_lookups(lens: &[u32]) -> u64 {
    let n = lens.len();
    let fast = if n >= 5 { (n - 1) / 4 } else { 0 };
    let (mut j, mut carried, mut lookups) = (0usize, 0usize, 0u64);
    for _ in 0..fast {
        let mut na = carried;
        for k in 0..4 {
            if k >= 2 && na >= 4 {
                break;
            }
            lookups += 1;
            let two = j + 1 < n && lens[j] + lens[j + 1] <= crate::constants::TABLE_LOG;
            let got = if two { 2 } else { 1 };
            j += got;
            na += got;
        }
        carried = na - 4;
    }
    // Single-symbol batches and the tail; the carried symbol costs no lookup.
    lookups + (n - j) as u64
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::CodecSet;
    use crate::{Archive, CompressOptions};

    fn index(src: &[u8], dtype: Layout, codecs: CodecSet) -> Index {
        let opts = CompressOptions {
            chunk_size: 4096,
            dtype,
            codecs,
            ..Default::default()
        };
        let z = crate::compress_bytes(src, &opts).unwrap();
        Archive::from_bytes(&z).unwrap().index
    }

    fn weights(n: usize) -> Vec<u8> {
        (0..n as u32)
            .flat_map(|i| ((i as f32 * 0.37).sin() * 0.02).to_le_bytes())
            .collect()
    }

    #[test]
    fn common_layouts_fuse_and_edges_do_not() {
        let src = weights(10_000);
        for dtype in [Layout::Bf16, Layout::Fp16, Layout::Fp32] {
            for codecs in [CodecSet::Fast, CodecSet::Balanced] {
                let idx = index(&src, dtype, codecs);
                let got: Vec<_> = (0..idx.chunks().len())
                    .map(|ci| fusable(&idx, ci, 0))
                    .collect();
                let fused = got.iter().filter(|f| f.is_some()).count();
                assert!(fused * 2 > got.len(), "{dtype:?} {codecs:?}: {got:?}");
            }
        }
        for dtype in [Layout::Bf16, Layout::Fp32] {
            let idx = index(&src, dtype, CodecSet::Fast);
            // Off a word of the binding: never fused.
            assert!((0..idx.chunks().len()).all(|ci| fusable(&idx, ci, 2).is_none()));
        }
        let idx = index(&src, Layout::Byte, CodecSet::Fast);
        assert!((0..idx.chunks().len()).all(|ci| fusable(&idx, ci, 0).is_none()));
    }

    #[test]
    fn lookups_pair_short_codes_and_fall_back_to_one_per_symbol() {
        // Short codes: two per lookup in the fast batches (3 of them for n = 16: 4 b + 5 <= 16),
        // the last 4 symbols one each.
        assert_eq!(sub_stream_lookups(&[2; 16]), 3 * 2 + 4);
        // Codes that never pair: one lookup per symbol, as before.
        assert_eq!(sub_stream_lookups(&[6; 16]), 16);
        // Fewer than 5 symbols: no fast batch.
        assert_eq!(sub_stream_lookups(&[1; 4]), 4);
        // Batch 0 pairs (3, 2), takes 9 alone (9 + 3 > 11), pairs (3, 3) and carries one;
        // batch 1 pairs twice and carries the last symbol, which the tail stores: 5 lookups.
        assert_eq!(sub_stream_lookups(&[3, 2, 9, 3, 3, 3, 3, 3, 3]), 5);
    }
}
