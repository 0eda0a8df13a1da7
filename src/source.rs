//! Where the bytes of a `.znn` (or of a delta's base) come from: positioned reads at any offset,
//! with no seek position, from any number of threads at once.
//!
//! Every decoder (CPU windows, the [`crate::reader::Reader`], the GPU host side) and the base of a
//! delta read through a [`ByteSource`], so one trait is the only way bytes enter a decode.

#![forbid(unsafe_code)]

use crate::error::{Error, Result};
use std::fs::File;
use std::path::Path;
use std::sync::Arc;

/// Random-access bytes: a file (positioned reads, `pread`) or memory.
pub trait ByteSource: Send + Sync {
    /// Length in bytes.
    fn len(&self) -> u64;

    /// True when the source holds no bytes.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Fills `buf` with the bytes at `offset ..`; a range past the end is `Truncated`.
    fn read_exact_at(&self, offset: u64, buf: &mut [u8]) -> Result<()>;

    /// All the bytes, when they are in memory: readers then slice instead of copying.
    fn as_slice(&self) -> Option<&[u8]> {
        None
    }
}

/// The end of a range, or `Truncated` when `offset + len` passes `size`.
fn checked_end(offset: u64, len: usize, size: u64) -> Result<u64> {
    match offset.checked_add(len as u64) {
        Some(end) if end <= size => Ok(end),
        _ => Err(Error::truncated(format!(
            "read of {len} bytes at {offset} past the end ({size} bytes)"
        ))),
    }
}

impl ByteSource for [u8] {
    fn len(&self) -> u64 {
        <[u8]>::len(self) as u64
    }
    fn read_exact_at(&self, offset: u64, buf: &mut [u8]) -> Result<()> {
        let end = checked_end(offset, buf.len(), ByteSource::len(self))?;
        buf.copy_from_slice(&self[offset as usize..end as usize]);
        Ok(())
    }
    fn as_slice(&self) -> Option<&[u8]> {
        Some(self)
    }
}

impl ByteSource for Vec<u8> {
    fn len(&self) -> u64 {
        self.as_slice().len() as u64
    }
    fn read_exact_at(&self, offset: u64, buf: &mut [u8]) -> Result<()> {
        self.as_slice().read_exact_at(offset, buf)
    }
    fn as_slice(&self) -> Option<&[u8]> {
        Some(self)
    }
}

/// References and smart pointers to a source are sources.
macro_rules! forward {
    ($($t:ty),*) => {$(
        impl<T: ByteSource + ?Sized> ByteSource for $t {
            fn len(&self) -> u64 {
                (**self).len()
            }
            fn read_exact_at(&self, offset: u64, buf: &mut [u8]) -> Result<()> {
                (**self).read_exact_at(offset, buf)
            }
            fn as_slice(&self) -> Option<&[u8]> {
                (**self).as_slice()
            }
        }
    )*};
}
forward!(&T, Arc<T>, Box<T>);

/// A file read with positioned reads. Its length is taken once, when it is opened: a file that
/// shrinks later gives `Truncated` ("ended early"), one that changes in place fails the chunk
/// checksums.
#[derive(Debug)]
pub struct FileSource {
    file: File,
    len: u64,
    name: String,
}

impl FileSource {
    /// Opens `path` for reading.
    pub fn open(path: &Path) -> Result<FileSource> {
        let name = path.display().to_string();
        let file = File::open(path).map_err(|e| Error::io(format!("opening {name}"), e))?;
        FileSource::new(file, name)
    }

    /// A source over an open file; `name` is what errors call it.
    pub fn new(file: File, name: impl Into<String>) -> Result<FileSource> {
        let name = name.into();
        let len = file
            .metadata()
            .map_err(|e| Error::io(format!("reading {name}"), e))?
            .len();
        Ok(FileSource { file, len, name })
    }

    /// What errors call the file.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The file itself (to compare its identity, say).
    pub fn file(&self) -> &File {
        &self.file
    }
}

impl ByteSource for FileSource {
    fn len(&self) -> u64 {
        self.len
    }

    fn read_exact_at(&self, offset: u64, buf: &mut [u8]) -> Result<()> {
        checked_end(offset, buf.len(), self.len)?;
        pread_exact(&self.file, buf, offset).map_err(|e| {
            if e.kind() == std::io::ErrorKind::UnexpectedEof {
                Error::truncated(format!(
                    "{} ended early (did it change while being read?)",
                    self.name
                ))
            } else {
                Error::io(format!("reading {}", self.name), e)
            }
        })
    }
}

#[cfg(unix)]
fn pread_exact(f: &File, buf: &mut [u8], off: u64) -> std::io::Result<()> {
    std::os::unix::fs::FileExt::read_exact_at(f, buf, off)
}

#[cfg(windows)]
fn pread_exact(f: &File, mut buf: &mut [u8], mut off: u64) -> std::io::Result<()> {
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

/// Bytes `offset .. offset + len` of `src` as a slice: borrowed from a source in memory, else read
/// into `buf` (reused; only grown).
pub fn read_span<'a>(
    src: &'a dyn ByteSource,
    offset: u64,
    len: usize,
    buf: &'a mut Vec<u8>,
) -> Result<&'a [u8]> {
    if let Some(all) = src.as_slice() {
        let end = checked_end(offset, len, all.len() as u64)?;
        return Ok(&all[offset as usize..end as usize]);
    }
    buf.clear();
    buf.resize(len, 0);
    src.read_exact_at(offset, buf)?;
    Ok(buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_and_file_sources_agree_and_bound_reads() {
        let bytes: Vec<u8> = (0..10_000u32).map(|i| (i * 7) as u8).collect();
        let dir = std::env::temp_dir().join(format!("znn-source-{}", std::process::id()));
        std::fs::write(&dir, &bytes).unwrap();
        let f = FileSource::open(&dir).unwrap();
        let srcs: [&dyn ByteSource; 2] = [&bytes, &f];
        for s in srcs {
            assert_eq!(s.len(), 10_000);
            let mut b = [0u8; 100];
            s.read_exact_at(9_900, &mut b).unwrap();
            assert_eq!(b[..], bytes[9_900..]);
            let e = s.read_exact_at(9_901, &mut b).unwrap_err();
            assert_eq!(e.kind(), crate::ErrorKind::Truncated);
            assert!(s.read_exact_at(u64::MAX, &mut b).is_err());
        }
        std::fs::remove_file(&dir).unwrap();
    }
}
