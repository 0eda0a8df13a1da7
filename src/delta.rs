//! Deltas against a base file (format v2): a new checkpoint or fine-tune is stored as its XOR with
//! an older file, which turns unchanged bytes into zeros and small updates into mostly-zero
//! exponent and high-mantissa streams. safetensors tensors are matched by name, dtype and shape,
//! not by position, so added, removed or reordered tensors still work.

use crate::error::{Error, Result};
use crate::format::{BaseRef, Index};
use crate::layout::Layout;
use crate::safetensors::{self, Planned};
use std::collections::HashMap;
use std::fs::File;
use std::io::Read;
use std::ops::Range;
use std::path::Path;
use xxhash_rust::xxh3::Xxh3;

/// A base file: its length, hash and tensor table, read on demand at any offset.
pub struct Base {
    src: BaseSrc,
    len: u64,
    hash: u64,
    header: Option<safetensors::Header>,
}

enum BaseSrc {
    File(File),
    Bytes(Vec<u8>),
}

impl Base {
    /// Opens a base file and hashes it whole (one sequential read; xxh3 runs far faster than disks).
    pub fn open(path: &Path) -> Result<Base> {
        let shown = path.display();
        let mut f = File::open(path).map_err(|e| Error::io(format!("opening base {shown}"), e))?;
        let meta = f
            .metadata()
            .map_err(|e| Error::io(format!("reading base {shown}"), e))?;
        if !meta.is_file() {
            return Err(Error::invalid(format!("base {shown} is not a file")));
        }
        let mut h = Xxh3::new();
        let mut block = vec![0u8; 1 << 20];
        let mut len = 0u64;
        loop {
            let n = f
                .read(&mut block)
                .map_err(|e| Error::io(format!("reading base {shown}"), e))?;
            if n == 0 {
                break;
            }
            h.update(&block[..n]);
            len += n as u64;
        }
        let mut base = Base {
            src: BaseSrc::File(f),
            len,
            hash: h.digest(),
            header: None,
        };
        base.header = base.read_header();
        if base.peek_znn() {
            return Err(Error::invalid(format!(
                "base {shown} is a .znn file: give the original (decompressed) base"
            )));
        }
        Ok(base)
    }

    /// A base held in memory.
    pub fn from_bytes(b: Vec<u8>) -> Base {
        let mut h = Xxh3::new();
        h.update(&b);
        let mut base = Base {
            len: b.len() as u64,
            hash: h.digest(),
            src: BaseSrc::Bytes(b),
            header: None,
        };
        base.header = base.read_header();
        base
    }

    pub fn len(&self) -> u64 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// What a delta file records about this base.
    pub fn reference(&self) -> BaseRef {
        BaseRef {
            len: self.len,
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
            Some(end) if end <= self.len => {}
            _ => return Err(Error::invalid("read past the end of the base file")),
        }
        match &self.src {
            BaseSrc::Bytes(b) => {
                buf.copy_from_slice(&b[off as usize..off as usize + buf.len()]);
                Ok(())
            }
            BaseSrc::File(f) => read_exact_at(f, buf, off).map_err(|e| {
                if e.kind() == std::io::ErrorKind::UnexpectedEof {
                    Error::invalid("the base file shrank while it was read")
                } else {
                    Error::io("reading base", e)
                }
            }),
        }
    }

    /// Checks that this is the base `want` names; the error says what was expected.
    pub fn check(&self, want: &BaseRef) -> Result<()> {
        if self.len != want.len || self.hash != want.hash {
            return Err(Error::invalid(format!(
                "wrong base: the delta was made against a base of {} bytes with xxh3 {:016x}; \
                 this base has {} bytes and xxh3 {:016x}",
                want.len, want.hash, self.len, self.hash
            )));
        }
        Ok(())
    }

    fn read_header(&self) -> Option<safetensors::Header> {
        let mut first = [0u8; 8];
        self.read_at(0, &mut first).ok()?;
        let hl = safetensors::header_len(&first, self.len)?;
        let mut head = vec![0u8; hl as usize];
        self.read_at(0, &mut head).ok()?;
        safetensors::parse(&head, self.len)
    }

    fn peek_znn(&self) -> bool {
        let mut m = [0u8; 8];
        self.read_at(0, &mut m).is_ok() && m == crate::format::MAGIC
    }
}

#[cfg(unix)]
fn read_exact_at(f: &File, buf: &mut [u8], off: u64) -> std::io::Result<()> {
    std::os::unix::fs::FileExt::read_exact_at(f, buf, off)
}

#[cfg(windows)]
fn read_exact_at(f: &File, mut buf: &mut [u8], mut off: u64) -> std::io::Result<()> {
    use std::os::windows::fs::FileExt;
    while !buf.is_empty() {
        match f.seek_read(buf, off)? {
            0 => return Err(std::io::ErrorKind::UnexpectedEof.into()),
            n => {
                buf = &mut buf[n..];
                off += n as u64;
            }
        }
    }
    Ok(())
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
pub fn read_window(idx: &Index, range: Range<usize>, base: &Base, out: &mut Vec<u8>) -> Result<()> {
    if range.is_empty() {
        return Ok(());
    }
    let first = idx.chunks[range.start].orig_offset;
    let last = &idx.chunks[range.end - 1];
    out.resize(
        (last.orig_offset + last.orig_len as u64 - first) as usize,
        0,
    );
    // One read per run of delta chunks of one segment.
    let mut ci = range.start;
    while ci < range.end {
        let c = &idx.chunks[ci];
        let seg = &idx.segments[c.segment as usize];
        let Some(bo) = seg.base_offset else {
            ci += 1;
            continue;
        };
        let seg_end_chunk = (seg.first_chunk + seg.chunk_count).min(range.end);
        let end = {
            let l = &idx.chunks[seg_end_chunk - 1];
            l.orig_offset + l.orig_len as u64
        };
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
