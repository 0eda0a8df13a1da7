//! Host side of the GPU pair decode (codecs 4 and 5, FORMAT.md "Pair streams";
//! `shaders/pair_decode.wgsl`). The table is parsed and validated by [`pair::table`], as the CPU
//! decoder's is; the kernel builds its entries from the code lengths in the payload
//! (`shaders/table_build.wgsl`, the same canonical codes as [`pair::fill_table`]). A pair stream decodes into two regions of the `huff` binding, stream *k* then stream
//! *k + 1*, each `ceil(n / 4)` words; the two streams' chunk descriptors point there, so the merge
//! kernel reads them like any Huffman-decoded stream.

use super::plan::{push_jobs, push_subs, Window};
use super::shader_consts::{SRC_HUFF, SRC_SHIFT};
use crate::codec::pair;
use crate::error::Result;

/// Validates the pair table at the start of `body` (the stream's payload, at byte `off` of the
/// window data; K = `bits`, sub-stream lengths `lens`); returns the table's offset in comp (what a
/// job names) and its size in the payload.
pub(super) fn pair_table(body: &[u8], off: u64, bits: u8, lens: &[u32]) -> Result<(u32, usize)> {
    if let Some(size) = super::plan::unchecked_table_size(body, 2) {
        return Ok((off as u32, size?));
    }
    let (_, tsize) = pair::table(body, bits, lens)?;
    Ok((off as u32, tsize))
}

/// The pair stream of chunk `ci` with payload `body` (at byte `off` of the window data), `n`
/// elements, `K = bits` and sub-stream lengths `lens`: its table, sub-streams and jobs (appended
/// to `jobs`, which the window puts after its Huffman jobs). Returns the sources of streams *k*
/// and *k + 1*.
#[allow(clippy::too_many_arguments)]
pub(super) fn add_stream(
    w: &mut Window,
    jobs: &mut Vec<[u32; 4]>,
    ci: usize,
    body: &[u8],
    off: u64,
    n: usize,
    sub_symbols: usize,
    bits: u8,
    lens: &[u32],
) -> Result<(u32, u32)> {
    let (ti, tsize) = pair_table(body, off, bits, lens)?;
    // Stream k + 1 starts `stride` words after stream k.
    let stride = (n as u64).div_ceil(4);
    let out_word = w.huff_words;
    let first_sub = push_subs(w, ci, lens, off + tsize as u64, out_word, n, sub_symbols);
    push_jobs(jobs, first_sub, lens.len(), |f, c| {
        [ti, f, c | (bits as u32) << 8, stride as u32]
    });
    w.huff_words += 2 * stride;
    // Offsets past SRC_MAX are caught by build_window's final check on `huff_words`.
    let src = |word: u64| (SRC_HUFF << SRC_SHIFT) | (word * 4) as u32;
    Ok((src(out_word), src(out_word + stride)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::pair::{PairTable, MAX_PAIR_BITS, MIN_PAIR_BITS, PAIR_TABLE_LOG};
    use crate::codec::pair_decode::{Word, WordTable};
    use crate::gpu::shader_consts::{PAIR_LEN_SHIFT, PAIR_TABLE_WORDS};

    /// The table `shaders/table_build.wgsl` builds for `t`, by the host's expansion: entry
    /// `symbol | length << PAIR_LEN_SHIFT` (the symbol is x = a << K | b_hi >> (8 − K), length =
    /// take − (8 − K)), two per word.
    fn push_table(t: &PairTable, scratch: &mut [u32; 1 << PAIR_TABLE_LOG], out: &mut Vec<u32>) {
        let bits = t.bits as u32;
        let raw = 8 - bits;
        pair::fill_table(t, scratch, |a, b_hi, take| {
            ((a as u32) << bits | (b_hi as u32) >> raw) | (take - raw) << PAIR_LEN_SHIFT
        });
        out.extend(scratch.chunks_exact(2).map(|p| p[0] | p[1] << 16));
    }

    /// Every entry of every K of the kernel's table format decodes to the CPU decoder's bytes and bit
    /// count.
    #[test]
    fn gpu_entries_hold_the_cpu_entries() {
        for bits in MIN_PAIR_BITS..=MAX_PAIR_BITS {
            let alphabet = 1usize << (8 + bits);
            // A complete code: symbol 0 of length 1, the rest of the tree down to 12 bits.
            let mut lens = vec![0u8; alphabet];
            for (i, l) in lens.iter_mut().enumerate().take(PAIR_TABLE_LOG as usize) {
                *l = (i + 1) as u8;
            }
            lens[alphabet - 1] = PAIR_TABLE_LOG as u8;
            let mut b = Vec::new();
            PairTable::write(&lens, &mut b);
            let (parsed, _) = PairTable::parse(&b, bits).unwrap();
            let mut words = Vec::new();
            push_table(&parsed, &mut [0; 1 << PAIR_TABLE_LOG], &mut words);
            assert_eq!(words.len(), PAIR_TABLE_WORDS);
            let mut cpu = WordTable::default();
            cpu.build(parsed, Word::Joined);
            let raw = 8 - bits as u32;
            for (i, &e) in cpu.entries().iter().enumerate() {
                let g = (words[i / 2] >> (16 * (i % 2) as u32)) & 0xFFFF;
                let (x, len) = (g & ((1 << PAIR_LEN_SHIFT) - 1), g >> PAIR_LEN_SHIFT);
                // The CPU's Joined entry: take | (a << 8 | b_hi) << 8.
                assert_eq!(x >> bits, e >> 16, "K {bits} entry {i}: a");
                assert_eq!((x & ((1 << bits) - 1)) << raw, (e >> 8) & 0xFF, "b_hi");
                assert_eq!(len + raw, e & 0xFF, "bits taken");
                assert!(len >= 1);
            }
        }
    }
}
