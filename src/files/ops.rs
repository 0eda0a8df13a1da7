//! One file in, one file out: the single-file compress and decompress that folders also use, each
//! through an atomic [`Output`], and the hashing that in-place verification relies on.

use super::atomic::Output;
use super::input::open_input;
use crate::archive::Archive;
use crate::compress::{compress_stream, CompressOptions};
use crate::decoder::{Decoder, Ran};
use crate::delta::Base;
use crate::error::{Error, Result};
use std::io::{BufReader, Read, Write};
use std::path::Path;
use xxhash_rust::xxh3::Xxh3;

/// How one file is compressed or decompressed.
#[derive(Clone, Copy, Default)]
pub struct FileOptions<'a> {
    /// Replace an existing output.
    pub force: bool,
    /// Compress: store a delta against this original; decompress: the base a delta needs.
    pub base: Option<&'a Path>,
    /// Hash (xxh3-64) the original bytes that pass through: [`Done::hash`].
    pub hash: bool,
    /// Told each increment of original bytes done (files running at once may share one bar).
    pub progress: Option<&'a (dyn Fn(u64) + Sync)>,
}

impl FileOptions<'_> {
    /// A progress callback (absolute bytes done of this file) that reports increments.
    fn advance(&self) -> impl FnMut(u64) + '_ {
        let mut last = 0;
        move |d| {
            if let Some(p) = self.progress {
                p(d.saturating_sub(last));
            }
            last = last.max(d);
        }
    }
}

/// Sizes of one finished operation, and (when asked for) the xxh3-64 of the original
/// (uncompressed) bytes that went through it: what an in-place replacement is verified against.
#[derive(Clone, Debug)]
pub struct Done {
    pub original: u64,
    pub compressed: u64,
    /// 0 unless [`FileOptions::hash`] was set.
    pub hash: u64,
    /// Which decoder ran (decompress only).
    pub ran: Option<Ran>,
}

/// Compresses `input` to `output` (`-` for stdin/stdout).
pub fn compress_file(
    input: &Path,
    output: &Path,
    opts: &CompressOptions,
    f: &FileOptions,
) -> Result<Done> {
    let mut out = Output::create(output, f.force, Some(input))?;
    let base = f.base.map(open_base).transpose()?;
    let opts = CompressOptions {
        base: base.map(std::sync::Arc::new),
        ..opts.clone()
    };
    let inp = open_input(input)?;
    let mut reader = Hashing::new(BufReader::with_capacity(1 << 20, inp.file), f.hash);
    let stats = compress_stream(&mut reader, inp.len, out.writer(), &opts, &mut f.advance())?;
    out.commit()?;
    Ok(Done {
        original: stats.original_len,
        compressed: stats.compressed_len,
        hash: reader.digest(),
        ran: None,
    })
}

/// Compresses the concatenation of `parts` (pieces of memory in order, e.g. a
/// [`crate::safetensors::Serialized`] file) to `output`, atomically, with no intermediate file.
/// `f.hash` hashes the original bytes as they are read.
pub fn compress_parts(
    parts: &[&[u8]],
    output: &Path,
    opts: &CompressOptions,
    f: &FileOptions,
) -> Result<Done> {
    let mut out = Output::create(output, f.force, None)?;
    let base = f.base.map(open_base).transpose()?;
    let opts = CompressOptions {
        base: base.map(std::sync::Arc::new),
        ..opts.clone()
    };
    let hash = f.hash.then(|| {
        let mut h = Xxh3::new();
        parts.iter().for_each(|p| h.update(p));
        h.digest()
    });
    let stats = crate::compress::compress_parts(parts, out.writer(), &opts, &mut f.advance())?;
    out.commit()?;
    Ok(Done {
        original: stats.original_len,
        compressed: stats.compressed_len,
        hash: hash.unwrap_or(0),
        ran: None,
    })
}

/// Decompresses `input` to `output` on `decoder` (deltas on the CPU), every chunk verified.
pub fn decompress_file(
    input: &Path,
    output: &Path,
    decoder: &Decoder,
    f: &FileOptions,
) -> Result<Done> {
    let mut out = Output::create(output, f.force, Some(input))?;
    let (src, a, base) = open_znn(input, f.base)?;
    let mut w = Hashing::new(out.writer(), f.hash);
    let ran = decoder.decompress(&a, &src, &mut w, base.as_ref(), &mut f.advance())?;
    let hash = w.digest();
    out.commit()?;
    Ok(Done {
        original: a.original_len(),
        compressed: a.file_len,
        hash,
        ran: Some(ran),
    })
}

/// Decodes the `.znn` file `znn` on the CPU, discarding the bytes: the length and xxh3-64 of its
/// original. Every chunk checksum is checked on the way (the base of `verify`).
pub fn decoded_hash(znn: &Path, base: Option<&Path>) -> Result<(u64, u64)> {
    let (src, a, base) = open_znn(znn, base)?;
    let mut w = Hashing::new(std::io::sink(), true);
    Decoder::cpu().decompress(&a, &src, &mut w, base.as_ref(), &mut |_| {})?;
    Ok((a.original_len(), w.digest()))
}

/// The source and metadata of the `.znn` at `path` and the base it needs: `None` for a standalone
/// file, the opened and checked base for a delta.
pub fn open_znn(
    path: &Path,
    base: Option<&Path>,
) -> Result<(crate::source::FileSource, Archive, Option<Base>)> {
    let src = open_input(path)?.into_source()?;
    let a = Archive::read(&src)?;
    let base = match (a.index.base(), base) {
        (Some(_), Some(p)) => Some(open_base(p)?),
        _ => None,
    };
    a.check_base(base.as_ref())?;
    Ok((src, a, base))
}

/// Opens (and hashes) a base file.
pub fn open_base(p: &Path) -> Result<Base> {
    if p.is_dir() {
        return Err(Error::invalid(format!(
            "base {} is a folder: a single file needs a base file",
            p.display()
        )));
    }
    Base::open(p)
}

/// Length and xxh3-64 of a file's bytes.
pub fn file_hash(path: &Path) -> Result<(u64, u64)> {
    let inp = open_input(path)?;
    let mut r = Hashing::new(BufReader::with_capacity(1 << 20, inp.file), true);
    let n = std::io::copy(&mut r, &mut std::io::sink())
        .map_err(|e| Error::io(format!("reading {}", path.display()), e))?;
    Ok((n, r.digest()))
}

/// A reader or writer that hashes (xxh3-64) the bytes passing through, or only passes them when
/// no hash is wanted (the hash runs on the reading or writing thread, which paces a whole file).
pub struct Hashing<T> {
    inner: T,
    h: Option<Xxh3>,
}

impl<T> Hashing<T> {
    pub fn new(inner: T, hash: bool) -> Self {
        Hashing {
            inner,
            h: hash.then(Xxh3::new),
        }
    }
    /// The hash so far; 0 when not hashing.
    pub fn digest(&self) -> u64 {
        self.h.as_ref().map_or(0, Xxh3::digest)
    }
}

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        if let Some(h) = &mut self.h {
            h.update(&buf[..n]);
        }
        Ok(n)
    }
}

impl<W: Write> Write for Hashing<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        if let Some(h) = &mut self.h {
            h.update(&buf[..n]);
        }
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}
