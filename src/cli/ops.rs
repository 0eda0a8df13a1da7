//! One file in, one file out: the single-file `compress` and `decompress` that the folder commands
//! also use, each through an atomic [`Output`].
//!
//! Progress: a bar is advanced by `inc` (deltas of this file's original bytes), never set to an
//! absolute position, so that files processed concurrently can share one bar.

use super::device::DeviceArg;
use super::files::{open_input, Output};
use crate::archive::Archive;
use crate::decompress::decompress_archive_to;
use crate::error::{Error, Result};
use crate::gpu::GpuDecoder;
use crate::{compress_stream_with_base, Base, CompressOptions};
use indicatif::ProgressBar;
use std::io::{BufReader, Read, Seek, Write};
use std::path::{Path, PathBuf};
use xxhash_rust::xxh3::Xxh3;

/// Sizes of one finished operation, and (when asked for) the xxh3-64 of the original
/// (uncompressed) bytes that went through it: what an in-place replacement is verified against.
#[derive(Clone, Copy, Debug, Default)]
pub struct Done {
    pub original: u64,
    pub compressed: u64,
    /// 0 unless the operation was asked to hash.
    pub hash: u64,
}

/// Compresses `input` to `output` (`-` for stdin/stdout). The bar advances by original bytes.
pub fn compress_file(
    input: &Path,
    output: &Path,
    force: bool,
    opts: &CompressOptions,
    base: Option<&Path>,
    bar: &ProgressBar,
) -> Result<Done> {
    compress_file_with(input, output, force, opts, base, bar, false)
}

/// [`compress_file`], hashing the original bytes read when `hash` is set.
pub fn compress_file_with(
    input: &Path,
    output: &Path,
    force: bool,
    opts: &CompressOptions,
    base: Option<&Path>,
    bar: &ProgressBar,
    hash: bool,
) -> Result<Done> {
    let mut out = Output::create(output, force, Some(input))?;
    let base = base.map(open_base).transpose()?;
    let inp = open_input(input)?;
    let mut reader = Hashing::new(BufReader::with_capacity(1 << 20, inp.file), hash);
    let stats = compress_stream_with_base(
        &mut reader,
        inp.len,
        out.writer(),
        opts,
        base.as_ref(),
        &mut advance(bar),
    )?;
    out.commit()?;
    Ok(Done {
        original: stats.original_len,
        compressed: stats.compressed_len,
        hash: reader.digest(),
    })
}

/// Decompresses `input` to `output` on the device `device` picks. The bar advances by original
/// bytes; its length is set from the file when it is 0.
pub fn decompress_file(
    input: &Path,
    output: &Path,
    force: bool,
    device: DeviceArg,
    base: Option<&Path>,
    bar: &ProgressBar,
    verbose: bool,
) -> Result<Done> {
    let mut gpu = super::device::choose(device)?;
    if verbose {
        match &gpu {
            Some(g) => eprintln!("device: gpu: {}", g.describe()),
            None => eprintln!("device: cpu ({} threads)", rayon::current_num_threads()),
        }
    }
    decompress_file_on(input, output, force, gpu.as_mut(), base, bar, false)
}

/// [`decompress_file`] on a decoder chosen by the caller (`None`: the CPU), so that a folder
/// creates one GPU decoder for all its files; hashes the output when `hash` is set.
pub fn decompress_file_on(
    input: &Path,
    output: &Path,
    force: bool,
    gpu: Option<&mut GpuDecoder>,
    base: Option<&Path>,
    bar: &ProgressBar,
    hash: bool,
) -> Result<Done> {
    let mut out = Output::create(output, force, Some(input))?;
    let inp = open_input(input)?;
    let mut file = BufReader::with_capacity(1 << 20, inp.file);
    let (a, base) = open_znn(&mut file, input, base)?;
    let mut w = Hashing::new(out.writer(), hash);
    // The kernels decode standalone chunks only: a delta is restored on the CPU.
    match gpu.filter(|_| base.is_none()) {
        Some(g) => {
            file.rewind()
                .map_err(|e| Error::io(format!("reading {}", input.display()), e))?;
            g.decompress_to_writer(&mut file, &mut w)?;
            bar.inc(a.trailer.original_len);
        }
        None => {
            let mut adv = advance(bar);
            decompress_archive_to(&mut file, &a, &mut w, base.as_ref(), &mut |d| {
                if bar.length() == Some(0) {
                    bar.set_length(d.max(1));
                }
                adv(d)
            })?
        }
    };
    let hash = w.digest();
    out.commit()?;
    Ok(Done {
        original: a.trailer.original_len,
        compressed: inp.len,
        hash,
    })
}

/// Decodes the `.znn` file `znn` on the CPU, discarding the bytes: the length and xxh3-64 of its
/// original. Every chunk checksum is checked on the way.
pub fn decoded_hash(znn: &Path, base: Option<&Path>) -> Result<(u64, u64)> {
    let inp = open_input(znn)?;
    let mut w = Hashing::new(std::io::sink(), true);
    let mut file = BufReader::with_capacity(1 << 20, inp.file);
    let (a, base) = open_znn(&mut file, znn, base)?;
    decompress_archive_to(&mut file, &a, &mut w, base.as_ref(), &mut |_| {})?;
    Ok((a.trailer.original_len, w.digest()))
}

/// The metadata of the `.znn` in `file` and the base it needs: `None` for a standalone file, the
/// opened and checked `base` for a delta; an error naming what is missing or wrong.
fn open_znn<R: Read + Seek>(
    file: &mut R,
    name: &Path,
    base: Option<&Path>,
) -> Result<(Archive, Option<Base>)> {
    let meta = Archive::read(file).map_err(|e| explain_not_znn(e, file, name))?;
    let base = match (meta.index.base, base) {
        (Some(_), Some(p)) => Some(open_base(p)?),
        _ => None,
    };
    meta.check_base(base.as_ref())?;
    Ok((meta, base))
}

/// A file that is not a `.znn` but a safetensors model was most likely meant for `compress`.
fn explain_not_znn<R: Read + Seek>(e: Error, file: &mut R, name: &Path) -> Error {
    if !matches!(&e, Error::Corrupt(m) if m.contains("bad magic")) {
        return e;
    }
    let mut head = [0u8; 9];
    let len = file.seek(std::io::SeekFrom::End(0)).unwrap_or(0);
    let read = file
        .seek(std::io::SeekFrom::Start(0))
        .and_then(|_| file.read_exact(&mut head));
    if read.is_ok() && crate::safetensors::header_len(&head, len).is_some() && head[8] == b'{' {
        let n = name.display();
        return Error::invalid(format!(
            "{n} is not a .znn file but a safetensors model: compress it with `znn-gpu compress {n}`"
        ));
    }
    e
}

/// Opens (and hashes) a base file named by `--base`.
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

/// A progress callback (absolute bytes done of one file) that advances `bar` by the difference.
fn advance(bar: &ProgressBar) -> impl FnMut(u64) + '_ {
    let mut last = 0;
    move |d| {
        bar.inc(d.saturating_sub(last));
        last = last.max(d);
    }
}

/// A reader or writer that hashes (xxh3-64) the bytes passing through, or only passes them when
/// no hash is wanted (the hash runs on the reading or writing thread, which paces a whole file).
struct Hashing<T> {
    inner: T,
    h: Option<Xxh3>,
}

impl<T> Hashing<T> {
    fn new(inner: T, hash: bool) -> Self {
        Hashing {
            inner,
            h: hash.then(Xxh3::new),
        }
    }
    fn digest(&self) -> u64 {
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

/// `INPUT.znn`.
pub fn znn_name(input: &Path) -> PathBuf {
    let mut p = input.to_path_buf().into_os_string();
    p.push(".znn");
    p.into()
}

/// `INPUT` without its `.znn` suffix.
pub fn strip_znn(input: &Path) -> Result<PathBuf> {
    match input.to_str().and_then(|s| s.strip_suffix(".znn")) {
        Some(s) if !s.is_empty() && s != "-" && !s.ends_with('/') => Ok(PathBuf::from(s)),
        _ => Err(Error::invalid(format!(
            "cannot derive an output name from {} (it does not end in .znn): use -o",
            input.display()
        ))),
    }
}
