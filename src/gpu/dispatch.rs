//! Dispatch sizes and kernel parameters of a window, and the errors its verdict reports.

use super::decoder::Pending;
use super::plan::{Window, MERGE_BLOCK};
use super::shader_consts::{
    ERR_BAD_CODE, ERR_DESCRIPTOR, ERR_LENGTH, ERR_MERGE, ERR_PAST_END, ERR_TABLE,
};
use super::upload::PARAMS_WORDS;
use crate::constants::GPU_HUFF_WG;
use crate::error::{Error, Result};
use crate::format::Index;

/// The CPU's checksum error for chunk `ci`, saying that the GPU decoded it.
pub(super) fn gpu_checksum_error(idx: &Index, ci: usize) -> Error {
    let e = crate::chunk::checksum_mismatch(idx, ci);
    Error::corrupt(format!("{} after GPU decode", &e.to_string()[15..]))
}

pub(super) fn kernel_error(flags: u32, at: u32, p: &Pending) -> Error {
    let what = if flags & ERR_PAST_END != 0 {
        "a huffman, pair or rans sub-stream runs past its end"
    } else if flags & ERR_LENGTH != 0 {
        "huffman, pair or rans sub-stream length does not match its codes"
    } else if flags & ERR_TABLE != 0 {
        "a huffman or pair table in the payload is not a complete code, or a rans table is not valid"
    } else if flags & ERR_BAD_CODE != 0 {
        "huffman or pair table is incomplete, or a rans state is out of range"
    } else if flags & ERR_DESCRIPTOR != 0 {
        "a sub-stream descriptor points outside its buffer"
    } else if flags & ERR_MERGE != 0 {
        "a chunk descriptor points outside its buffer"
    } else {
        "unknown kernel error"
    };
    let chunk = p
        .sub_chunk
        .get(at as usize)
        .map(|c| format!(" (chunk {c})"))
        .unwrap_or_default();
    Error::corrupt(format!("GPU decode: {what}{chunk} [flags {flags:#x}]"))
}

/// Kernel parameters and dispatch sizes of a window.
pub(super) struct Params {
    pub words: [u32; PARAMS_WORDS],
    pub huff_groups: (u32, u32),
    pub pair_groups: (u32, u32),
    pub fused_groups: (u32, u32),
    pub rans_groups: (u32, u32),
    pub merge_groups: (u32, u32),
    pub sum_groups: (u32, u32),
}

/// A 2D grid of at least `groups` workgroups, at most `max` per dimension.
fn grid(groups: u64, max: u32) -> Result<(u32, u32)> {
    if groups == 0 {
        return Ok((0, 0));
    }
    let x = groups.min(max as u64);
    let y = groups.div_ceil(x);
    if y > max as u64 {
        return Err(Error::Gpu(format!(
            "{groups} workgroups exceed a {max}² dispatch"
        )));
    }
    Ok((x as u32, y as u32))
}

pub(super) fn params(w: &Window, max_dim: u32) -> Result<Params> {
    let win_start = (w.orig_start - w.out_base) as u32;
    let win_end = (w.orig_end - w.out_base) as u32;
    let first_word = win_start / 4;
    let word_count = win_end.div_ceil(4) - first_word;
    // A fused job takes two entries (fused_decode.wgsl).
    let huff_jobs = w.jobs.len() - w.pair_jobs - 2 * w.fused_jobs - w.rans_jobs;
    let huff_groups = grid(huff_jobs as u64, max_dim)?;
    let pair_groups = grid(w.pair_jobs as u64, max_dim)?;
    let fused_groups = grid(w.fused_jobs as u64, max_dim)?;
    let rans_groups = grid(w.rans_jobs as u64, max_dim)?;
    let merge_groups = grid((word_count as u64).div_ceil(MERGE_BLOCK), max_dim)?;
    let sum_groups = grid(w.chunks.len() as u64, max_dim)?;
    debug_assert!(w.jobs.iter().all(|j| j[2] & 0xFF <= GPU_HUFF_WG));
    Ok(Params {
        words: [
            huff_jobs as u32,
            huff_groups.0,
            word_count,
            merge_groups.0,
            first_word,
            win_start,
            win_end,
            w.chunks.len() as u32,
            w.sum_base,
            sum_groups.0,
            w.pair_jobs as u32,
            pair_groups.0,
            w.fused_jobs as u32,
            fused_groups.0,
            w.rans_jobs as u32,
            rans_groups.0,
        ],
        huff_groups,
        pair_groups,
        fused_groups,
        rans_groups,
        merge_groups,
        sum_groups,
    })
}

#[cfg(test)]
mod tests {
    use super::grid;

    #[test]
    fn grids_stay_within_the_dimension_limit() {
        assert_eq!(grid(0, 65535).unwrap(), (0, 0));
        assert_eq!(grid(5, 65535).unwrap(), (5, 1));
        assert_eq!(grid(65535, 65535).unwrap(), (65535, 1));
        assert_eq!(grid(65536, 65535).unwrap(), (65535, 2));
        let (x, y) = grid(1 << 19, 1000).unwrap();
        assert!(x <= 1000 && y <= 1000 && x as u64 * y as u64 >= 1 << 19);
        assert!(grid(1 << 21, 1000).is_err());
    }
}
