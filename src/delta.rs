//! Deltas against a base file (format v2): a new checkpoint or fine-tune is stored as its XOR with
//! an older file, which turns unchanged bytes into zeros and small updates into mostly-zero
//! exponent and high-mantissa streams. safetensors tensors are matched by name, dtype and shape,
//! not by position, so added, removed or reordered tensors still work.

#![forbid(unsafe_code)]

use crate::error::{Error, Result};
use crate::format::{BaseRef, Planned, Skeleton};
use crate::layout::Layout;
use crate::safetensors;
use crate::source::{ByteSource, FileSource};
use std::collections::HashMap;
use std::ops::Range;
use std::path::Path;
use std::sync::Arc;
use xxhash_rust::xxh3::Xxh3;

/// A base file: its length, hash and tensor table, read on demand at any offset. Clones share the
/// source.
#[derive(Clone)]
pub struct Base {
    src: Arc<dyn ByteSource>,
    hash: u64,
    header: Option<safetensors::Header>,
}

impl Base {
    /// Opens a base file and hashes it whole (one sequential read; xxh3 runs far faster than disks).
    pub fn open(path: &Path) -> Result<Base> {
        let shown = path.display();
        let meta =
            std::fs::metadata(path).map_err(|e| Error::io(format!("opening base {shown}"), e))?;
        if !meta.is_file() {
            return Err(Error::invalid(format!("base {shown} is not a file")));
        }
        let src = FileSource::open(path)?;
        let base = Base::from_source(Arc::new(src))?;
        if base.peek_znn() {
            return Err(Error::invalid(format!(
                "base {shown} is a .znn file: give the original (decompressed) base"
            )));
        }
        Ok(base)
    }

    /// A base held in memory.
    pub fn from_bytes(b: Vec<u8>) -> Base {
        Base::from_source(Arc::new(b)).expect("reads of memory cannot fail")
    }

    /// A base read from any source; hashed whole now.
    pub fn from_source(src: Arc<dyn ByteSource>) -> Result<Base> {
        let mut h = Xxh3::new();
        match src.as_slice() {
            Some(all) => h.update(all),
            None => {
                let mut block = vec![0u8; (1 << 20).min(src.len() as usize)];
                let mut at = 0u64;
                while at < src.len() {
                    let n = (src.len() - at).min(block.len() as u64) as usize;
                    src.read_exact_at(at, &mut block[..n])?;
                    h.update(&block[..n]);
                    at += n as u64;
                }
            }
        }
        let mut base = Base {
            src,
            hash: h.digest(),
            header: None,
        };
        base.header = base.read_header();
        Ok(base)
    }

    pub fn len(&self) -> u64 {
        self.src.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// What a delta file records about this base.
    pub fn reference(&self) -> BaseRef {
        BaseRef {
            len: self.len(),
            hash: self.hash,
        }
    }

    /// The base's safetensors tensor table, when it is one.
    pub fn tensors(&self) -> Option<&safetensors::Header> {
        self.header.as_ref()
    }

    /// Fills `buf` from offset `off`. A base that shrank since it was opened is an error, and the
    /// chunk checksums catch one that changed in place.
    pub fn read_at(&self, off: u64, buf: &mut [u8]) -> Result<()> {
        match off.checked_add(buf.len() as u64) {
            Some(end) if end <= self.len() => {}
            _ => return Err(Error::invalid("read past the end of the base file")),
        }
        self.src
            .read_exact_at(off, buf)
            .map_err(|e| match e.kind() {
                crate::ErrorKind::Truncated => {
                    Error::invalid("the base file shrank while it was read")
                }
                _ => e,
            })
    }

    /// Checks that this is the base `want` names; the error says what was expected.
    pub fn check(&self, want: &BaseRef) -> Result<()> {
        if self.len() != want.len || self.hash != want.hash {
            return Err(Error::invalid(format!(
                "wrong base: the delta was made against a base of {} bytes with xxh3 {:016x}; \
                 this base has {} bytes and xxh3 {:016x}",
                want.len,
                want.hash,
                self.len(),
                self.hash
            )));
        }
        Ok(())
    }

    fn read_header(&self) -> Option<safetensors::Header> {
        let mut first = [0u8; 8];
        self.read_at(0, &mut first).ok()?;
        let hl = safetensors::header_len(&first, self.len())?;
        let mut head = vec![0u8; hl as usize];
        self.read_at(0, &mut head).ok()?;
        safetensors::parse(&head, self.len())
    }

    fn peek_znn(&self) -> bool {
        let mut m = [0u8; 8];
        self.read_at(0, &mut m).is_ok() && m == crate::format::MAGIC
    }
}

/// Segments of a new file of `file_len` bytes (whose start is `head`) coded against `base`.
/// safetensors against safetensors: tensors with the same name, dtype and shape in both become
/// delta segments; the rest is coded standalone. Anything else: the bytes both files have, at the
/// same positions, in `dtype` elements.
pub fn plan(head: &[u8], file_len: u64, dtype: Layout, base: &Base) -> Vec<Planned> {
    let Some(new) = safetensors::parse(head, file_len) else {
        // Positional: the whole elements both files have, then the rest standalone.
        let shared = file_len.min(base.len());
        let whole = shared - shared % dtype.elem_size() as u64;
        let delta = Planned {
            layout: dtype,
            len: whole,
            base_offset: Some(0),
        };
        let rest = safetensors::plain_segments(dtype, file_len - whole);
        return (whole > 0)
            .then_some(delta)
            .into_iter()
            .chain(rest)
            .collect();
    };
    let by_name: HashMap<&str, &safetensors::TensorInfo> = base
        .tensors()
        .map(|old| old.tensors.iter().map(|t| (t.name.as_str(), t)).collect())
        .unwrap_or_default();
    safetensors::segments(&new, file_len, crate::constants::MIN_SEGMENT, |t| {
        let b = by_name.get(t.name.as_str())?;
        (b.dtype == t.dtype && b.shape == t.shape && b.end - b.start == t.end - t.start)
            .then_some(b.start)
    })
}

/// Reads the base bytes under the delta chunks of `range` into `out`, which is laid out like the
/// window's original bytes (from the first chunk's original offset); bytes under standalone chunks
/// are left as they are.
pub fn read_window(
    idx: &Skeleton,
    range: Range<usize>,
    base: &Base,
    out: &mut Vec<u8>,
) -> Result<()> {
    if range.is_empty() {
        return Ok(());
    }
    let span = idx.span(range.clone());
    let first = span.orig.start;
    out.resize(span.orig_len(), 0);
    // One read per run of delta chunks of one segment.
    let mut ci = range.start;
    while ci < range.end {
        let c = &idx.chunks()[ci];
        let seg = idx.segment_of(c);
        let Some(bo) = seg.base_offset else {
            ci += 1;
            continue;
        };
        let seg_end_chunk = (seg.first_chunk + seg.chunk_count).min(range.end);
        let end = idx.span(ci..seg_end_chunk).orig.end;
        let at = (c.orig_offset - first) as usize;
        let n = (end - c.orig_offset) as usize;
        base.read_at(bo + (c.orig_offset - seg.offset), &mut out[at..at + n])?;
        ci = seg_end_chunk;
    }
    Ok(())
}

/// `dst ^= src`, byte for byte (the compiler vectorises it).
pub fn xor_into(dst: &mut [u8], src: &[u8]) {
    for (d, s) in dst.iter_mut().zip(src) {
        *d ^= s;
    }
}
