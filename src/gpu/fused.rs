//! Host side of the fused decode (`shaders/fused_decode.wgsl`): which chunks skip the staged
//! streams and the merge pass, and their descriptors.
//!
//! A chunk is fused when its layout is BF16, FP16 or FP32, it is standalone (not a delta), its
//! bytes start and end on a word of the output binding (so no output word is shared with a chunk
//! the merge writes, and the kernel stores whole words only), and its streams are either a
//! Huffman stream 0 with every other stream raw or const (v1, `--codecs fast`), or a pair stream
//! 0 + 1 with every other stream raw or const (codecs 4 and 5). Every other chunk (other layouts,
//! zstd or Huffman-coded mantissas, pair codes elsewhere than at stream 0, deltas, segment edges
//! off a word) takes the two-pass path of `plan.rs`.

use super::plan::{huffman_table, Window};
use super::shader_consts::{CHUNK_WORDS, SRC_COMP, SRC_CONST, SRC_FUSED, SRC_SHIFT};
use crate::codec::{Coding, Pairing};
use crate::constants::GPU_HUFF_WG;
use crate::error::Result;
use crate::format::{Index, StreamRec};
use crate::layout::Layout;

/// Chunks decoded by each path ([`GpuDecoder::take_path_counts`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PathCounts {
    /// By `shaders/fused_decode.wgsl`, straight into the output.
    pub fused: usize,
    /// By the decode kernels into staged streams, then the merge (or the merge alone).
    pub two_pass: usize,
}

/// How a fused chunk's stream 0 is coded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fuse {
    /// Codec 2: the exponent (FP16: the high byte); stream 1 raw or const.
    Huffman,
    /// Codec 4 with K = `bits`: streams 0 and 1 together.
    Pair(u8),
}

impl Fuse {
    /// K as the kernel reads it from a job (0: Huffman).
    fn k(self) -> u32 {
        match self {
            Fuse::Huffman => 0,
            Fuse::Pair(bits) => bits as u32,
        }
    }
}

fn raw_or_const(s: &StreamRec) -> bool {
    s.pairing == Pairing::Alone && matches!(s.coding, Coding::Raw | Coding::Const { .. })
}

/// How chunk `ci` is fused when byte 0 of the output binding is original byte `out_base`, or
/// `None` for the two-pass path.
pub fn fusable(idx: &Index, ci: usize, out_base: u64) -> Option<Fuse> {
    let c = &idx.chunks()[ci];
    let layout = idx.layout(c);
    if idx.is_delta(c)
        || !matches!(layout, Layout::Bf16 | Layout::Fp16 | Layout::Fp32)
        || c.orig_offset < out_base
        || (c.orig_offset - out_base) % 4 != 0
        || c.orig_len % 4 != 0
    {
        return None;
    }
    let st = idx.chunk_streams(c);
    match (st.first()?.pairing, st[0].coding) {
        (Pairing::Alone, Coding::Huffman { .. }) if st[1..].iter().all(raw_or_const) => {
            Some(Fuse::Huffman)
        }
        (Pairing::Pair { bits }, Coding::Huffman { .. })
            if st.len() >= 2
                && st[1].pairing == Pairing::Paired
                && st[2..].iter().all(raw_or_const) =>
        {
            Some(Fuse::Pair(bits))
        }
        _ => None,
    }
}

/// The descriptor, table, sub-streams and jobs (appended to `jobs`, which the window puts after
/// its pair jobs) of chunk `ci`, fused as `fuse`, the `slot`-th chunk of window `w`. `data` is
/// the window's payload, whose byte 0 is data byte `first_data`.
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
    let s0 = &streams[0];
    let off = s0.data_offset - first_data;
    let body = &data[off as usize..(off + s0.comp_len as u64) as usize];
    let lens = idx.stream_sub_lens(s0, n);
    let (ti, tsize) = match fuse {
        Fuse::Huffman => huffman_table(body, off, lens)?,
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
    for j in (0..lens.len()).step_by(GPU_HUFF_WG as usize) {
        let count = (lens.len() - j).min(GPU_HUFF_WG as usize) as u32;
        jobs.push([ti, first_sub + j as u32, count | fuse.k() << 8, slot as u32]);
    }
    let src = |kind: u32, value: u64| (kind << SRC_SHIFT) | value as u32;
    for (k, s) in streams.iter().enumerate() {
        desc[4 + k] = match (s.pairing, s.coding) {
            (Pairing::Alone, Coding::Const { value }) => src(SRC_CONST, value as u64),
            (Pairing::Alone, Coding::Raw) => src(SRC_COMP, s.data_offset - first_data),
            // Stream 0, and stream 1 of a pair: decoded by the fused kernel.
            _ => src(SRC_FUSED, 0),
        };
    }
    w.fused_chunks += 1;
    Ok(())
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
}
