//! One tensor or one byte range of the original, read from a `.znn` without decoding the rest:
//! thin calls on [`Reader`], which reads and decodes only the chunks that intersect the range,
//! each verified whole against its checksum before it is sliced.
//!
//! ```
//! # fn main() -> znn_gpu::Result<()> {
//! let weights: Vec<u8> = (0..300_000u32).flat_map(|i| (i as f32).sin().to_le_bytes()).collect();
//! let znn = znn_gpu::compress_bytes(&weights, &znn_gpu::CompressOptions::default())?;
//! // `Reader::open(path, ..)` works the same way on a file.
//! let r = znn_gpu::Reader::from_bytes(znn, &Default::default())?;
//! assert_eq!(r.read_range(1000, 2000)?, weights[1000..2000]);
//! # Ok(()) }
//! ```
//!
//! The safetensors header stored in a `.znn` is as untrusted as the rest: it is parsed by
//! [`crate::safetensors::parse`], which checks every tensor's offsets against the original length,
//! and that length was itself checked against the chunk map when the archive was read. So a
//! range is at most `original_len` bytes and every allocation is bounded by the range, a window,
//! or the header (at most 100 MB, and never more than the original).

#![forbid(unsafe_code)]

use crate::error::{Error, Result};
use crate::format::Index;
use crate::reader::Reader;
pub use crate::reader::{check_range, RangeStats};
pub use crate::safetensors::{Header, TensorInfo};
use std::ops::Range;

/// The tensor called `name`, or an `InvalidArgument` that names a few of the tensors there are.
pub fn find_tensor<'a>(header: &'a Header, name: &str) -> Result<&'a TensorInfo> {
    if let Some(t) = header.tensors.iter().find(|t| t.name == name) {
        return Ok(t);
    }
    const SHOWN: usize = 5;
    let mut names: Vec<&str> = header.tensors.iter().map(|t| t.name.as_str()).collect();
    names.sort_unstable();
    // Names sharing the longest prefix with the one asked for come first: likely typos.
    let common = |n: &str| {
        n.bytes()
            .zip(name.bytes())
            .take_while(|(a, b)| a == b)
            .count()
    };
    names.sort_by_key(|n| std::cmp::Reverse(common(n)));
    let more = names.len().saturating_sub(SHOWN);
    let mut list = names[..names.len().min(SHOWN)].join(", ");
    if more > 0 {
        list.push_str(&format!(" and {more} more"));
    }
    Err(Error::invalid(format!(
        "no tensor named {name:?} ({} tensors: {list})",
        header.tensors.len()
    )))
}

/// The header of a safetensors original, or an `InvalidArgument` saying it is not one.
pub fn require_tensor_table(r: &Reader) -> Result<&Header> {
    r.tensors()?.ok_or_else(|| {
        Error::invalid(
            "the original is not a safetensors file: it has no tensors (use a byte range)",
        )
    })
}

/// One tensor's description and raw bytes (exactly its slice of the safetensors data), decoding
/// only the header's chunks and the tensor's.
pub fn read_tensor(r: &Reader, name: &str) -> Result<(TensorInfo, Vec<u8>)> {
    let t = find_tensor(require_tensor_table(r)?, name)?.clone();
    let bytes = r.read_range(t.start, t.end)?;
    Ok((t, bytes))
}

/// [`read_tensor`] from a whole `.znn` held in memory.
pub fn read_tensor_bytes(znn: &[u8], name: &str) -> Result<(TensorInfo, Vec<u8>)> {
    read_tensor(
        &Reader::from_bytes(znn.to_vec(), &Default::default())?,
        name,
    )
}

/// Payload bytes of the chunks covering `[start, end)`: what extracting that range reads.
pub fn covering_bytes(idx: &Index, start: u64, end: u64) -> (Range<usize>, u64) {
    let chunks = idx.covering(start, end);
    let bytes = idx.chunks()[chunks.clone()]
        .iter()
        .map(|c| c.data_len)
        .sum();
    (chunks, bytes)
}

/// `START..END`; either bound may be left out (`..END`, `START..`) for the original's start or end.
pub fn parse_range(s: &str, len: u64) -> Result<(u64, u64)> {
    let bad = || {
        Error::invalid(format!(
            "range {s:?}: expected START..END (bytes, end exclusive)"
        ))
    };
    let (a, b) = s.split_once("..").ok_or_else(bad)?;
    let num = |x: &str, default: u64| -> Result<u64> {
        if x.is_empty() {
            Ok(default)
        } else {
            x.trim().parse().map_err(|_| bad())
        }
    };
    Ok((num(a, 0)?, num(b, len)?))
}

#[cfg(test)]
mod tests {
    use super::parse_range;

    #[test]
    fn ranges_parse_with_optional_bounds() {
        assert_eq!(parse_range("3..10", 99).unwrap(), (3, 10));
        assert_eq!(parse_range("..10", 99).unwrap(), (0, 10));
        assert_eq!(parse_range("3..", 99).unwrap(), (3, 99));
        assert_eq!(parse_range("..", 99).unwrap(), (0, 99));
        assert!(parse_range("3-10", 99).is_err());
        assert!(parse_range("a..10", 99).is_err());
        assert!(parse_range("-1..10", 99).is_err());
    }
}
