//! Host side of the fused decode (`shaders/fused_decode.wgsl`): which chunks skip the staged
//! streams and the merge pass, and their descriptors.
//!
//! A chunk is fused when its layout is BF16, FP16 or FP32, its bytes start and end on a word of
//! the output binding (so no output word is shared with a chunk the merge writes, and the kernel
//! stores whole words only), and one of stream 0 or 1 is decoded by the kernel while every other
//! stream is raw, const or zstd (zstd streams are decoded on the host, as on the two-pass path,
//! and read raw): a Huffman stream 0 (v1, `--codecs fast`), a Huffman stream 1 (the sign and
//! mantissa XOR of a delta, whose exponent XOR is mostly zero and so zstd or const), or a pair
//! stream 0 + 1 (codecs 4 and 5). Deltas fuse too: the kernel XORs each output word with the base
//! word the window uploads for the chunk (descriptor word 3). Every other chunk (other layouts,
//! two Huffman-coded streams, pair codes elsewhere than at stream 0, segment edges off a word)
//! takes the two-pass path of `plan.rs`.

use super::plan::{huffman_table, push_jobs, Window};
use super::shader_consts::{CHUNK_WORDS, SRC_FUSED, SRC_SHIFT};
use crate::codec::{Coding, Pairing};
use crate::error::Result;
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
    /// Codec 4 with K = `bits`: streams 0 and 1 together.
    Pair(u8),
}

impl Fuse {
    /// K as the kernel reads it from a job (0: Huffman).
    fn k(self) -> u32 {
        match self {
            Fuse::Huffman { .. } => 0,
            Fuse::Pair(bits) => bits as u32,
        }
    }

    /// True for the streams the kernel decodes (the rest are read raw or const).
    pub fn decodes(self, stream: usize) -> bool {
        match self {
            Fuse::Huffman { stream: s } => stream == s as usize,
            Fuse::Pair(_) => stream < 2,
        }
    }
}

/// A stream the fused kernel reads as bytes: raw or const in the payload, or zstd decoded on the
/// host into the window's extra bytes. (A rANS stream is decoded by `rans_decode.wgsl` into
/// `huff`, which the fused kernel does not read: its chunk takes the two-pass path.)
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
    let huffman =
        |s: &StreamRec| s.pairing == Pairing::Alone && matches!(s.coding, Coding::Huffman { .. });
    let (a, b) = (st.first()?, st.get(1)?);
    let fuse = match (a.pairing, a.coding, b.pairing) {
        (Pairing::Pair { bits }, Coding::Huffman { .. }, Pairing::Paired) => Fuse::Pair(bits),
        _ if huffman(a) && read_as_bytes(b) => Fuse::Huffman { stream: 0 },
        _ if read_as_bytes(a) && huffman(b) => Fuse::Huffman { stream: 1 },
        _ => return None,
    };
    st[2..].iter().all(read_as_bytes).then_some(fuse)
}

/// The table, sub-streams and jobs (appended to `jobs`, which the window puts after its pair
/// jobs) of chunk `ci`, fused as `fuse`, the `slot`-th chunk of window `w`; marks the streams the
/// kernel decodes in `desc` (the caller fills in the others). `data` is the window's payload,
/// whose byte 0 is data byte `first_data`.
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
    let c = &idx.chunks()[ci];
    let n = idx.elements(c);
    let streams = idx.chunk_streams(c);
    let coded = match fuse {
        Fuse::Huffman { stream } => stream as usize,
        Fuse::Pair(_) => 0,
    };
    let s0 = &streams[coded];
    let off = s0.data_offset - first_data;
    let body = &data[off as usize..(off + s0.comp_len as u64) as usize];
    let lens = idx.stream_sub_lens(s0, n);
    let (ti, tsize) = match fuse {
        Fuse::Huffman { .. } => huffman_table(body, off, lens)?,
        Fuse::Pair(bits) => super::pair::pair_table(body, off, bits, lens)?,
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
    push_jobs(jobs, first_sub, lens.len(), |f, c| {
        [ti, f, c | fuse.k() << 8, slot as u32]
    });
    for (k, d) in desc[4..4 + streams.len()].iter_mut().enumerate() {
        if fuse.decodes(k) {
            *d = SRC_FUSED << SRC_SHIFT;
        }
    }
    w.fused_chunks += 1;
    Ok(())
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
