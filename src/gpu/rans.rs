//! Host side of the GPU rANS decode (codec 6, FORMAT.md "rANS streams";
//! `shaders/rans_decode.wgsl`). The table is parsed and validated by [`RansTable::parse`], as the
//! CPU decoder's is, and the kernel parses it again from the payload with the same checks,
//! including that it ends where the index says the sub-streams start (it runs on bytes the host
//! did not decode). A job is `(table offset in comp, first sub-stream, count, table size)`. A rANS stream decodes into one region of the `huff`
//! binding, `ceil(n / 4)` words, which the chunk descriptor points at, so the merge kernel reads it
//! like a Huffman-decoded stream.

use super::plan::{push_jobs, push_subs, Window};
use super::shader_consts::{SRC_HUFF, SRC_SHIFT};
use crate::codec::rans::RansTable;
use crate::error::{Error, Result};

/// The size of the rANS table at the start of `body` (the stream's payload, of which the
/// sub-streams take `subs_len` bytes after the table): what the index implies, checked against the
/// table parsed and validated as the CPU decoder does (unless
/// [`super::plan::skip_host_table_checks`] is on: then the kernel's checks are the only ones).
pub(super) fn rans_table(body: &[u8], subs_len: u64) -> Result<usize> {
    let size = (body.len() as u64)
        .checked_sub(subs_len)
        .ok_or_else(|| Error::corrupt("rans sub-streams longer than the stream"))?;
    if !super::plan::skipping_table_checks() && RansTable::parse(body)?.1 as u64 != size {
        return Err(Error::corrupt("rans table size does not match the stream"));
    }
    Ok(size as usize)
}

/// The rANS stream of chunk `ci` with payload `body` (at byte `off` of the window data), `n`
/// symbols and sub-stream lengths `lens`: its sub-streams and jobs (appended to `jobs`, which the
/// window puts after its fused jobs). Returns the stream's source.
#[allow(clippy::too_many_arguments)]
pub(super) fn add_stream(
    w: &mut Window,
    jobs: &mut Vec<[u32; 4]>,
    ci: usize,
    body: &[u8],
    off: u64,
    n: usize,
    sub_symbols: usize,
    lens: &[u32],
) -> Result<u32> {
    let tsize = rans_table(body, lens.iter().map(|&l| l as u64).sum())?;
    let out_word = w.huff_words;
    let first_sub = push_subs(w, ci, lens, off + tsize as u64, out_word, n, sub_symbols);
    push_jobs(jobs, first_sub, lens.len(), |f, c| {
        [off as u32, f, c, tsize as u32]
    });
    w.huff_words += (n as u64).div_ceil(4);
    // Offsets past SRC_MAX are caught by build_window's final check on `huff_words`.
    Ok((SRC_HUFF << SRC_SHIFT) | (out_word * 4) as u32)
}
