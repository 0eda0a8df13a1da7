//! Decompression on the CPU: chunks decode independently in parallel (rayon) from the chunk map
//! ([`crate::engine`]), file to file in windows so that memory does not grow with the file.

#![forbid(unsafe_code)]

use crate::archive::Archive;
use crate::constants::WINDOW_BYTES;
use crate::delta::Base;
use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::source::ByteSource;
use std::io::{Read, Seek, SeekFrom, Write};
use std::sync::Mutex;

/// How to decompress.
#[derive(Clone, Copy, Default)]
pub struct DecompressOptions<'a> {
    /// The base file a delta was made against (checked by length and hash before anything is
    /// decoded); not needed, and ignored, for a standalone file.
    pub base: Option<&'a Base>,
}

/// Decompresses a whole `.znn` held in memory (a standalone file; see [`decompress_to`] for a
/// delta).
pub fn decompress_bytes(src: &[u8]) -> Result<Vec<u8>> {
    let a = Archive::from_bytes(src)?;
    a.check_base(None)?;
    let engine = Engine::new(&a, &src, None)?;
    let mut out = crate::buffer::zeroed(a.original_len() as usize)?;
    let all = 0..a.index.chunks().len();
    engine.decode(all, &mut out)?;
    Ok(out)
}

/// Decompresses the `.znn` in `src` to `w`, window by window (memory: one compressed and one
/// original window). Returns the file's metadata.
pub fn decompress_to<W: Write + Send>(
    src: &dyn ByteSource,
    w: W,
    opts: &DecompressOptions,
    progress: &mut dyn FnMut(u64),
) -> Result<Archive> {
    let a = Archive::read(src)?;
    decompress_archive_to(&a, src, w, opts, progress)?;
    Ok(a)
}

/// [`decompress_to`] of a file whose metadata `a` was already read from `src`: the index is not
/// read, hashed and parsed a second time. `progress` gets the original bytes done so far.
pub fn decompress_archive_to<W: Write + Send>(
    a: &Archive,
    src: &dyn ByteSource,
    w: W,
    opts: &DecompressOptions,
    progress: &mut dyn FnMut(u64),
) -> Result<()> {
    a.check_base(opts.base)?;
    let engine = Engine::new(a, src, opts.base)?;
    crate::pipeline::with_writer(w, 1, |sink| {
        for win in a.index.windows(WINDOW_BYTES) {
            let span = a.index.span(win.clone());
            // Every byte is overwritten by the decode: a recycled buffer is only resized.
            // One buffer decoding, one queued, one being written.
            let mut out = sink.bounded_buffer(span.orig_len(), 3);
            out.resize(span.orig_len(), 0);
            engine.decode(win, &mut out)?;
            sink.send(out)?;
            progress(span.orig.end);
        }
        Ok(())
    })?;
    Ok(())
}

/// Decompresses a seekable `.znn` stream (a `Cursor`, a `File`) to `w`; see [`decompress_to`].
pub fn decompress_stream<R: Read + Seek + Send, W: Write + Send>(
    r: &mut R,
    w: W,
    progress: &mut dyn FnMut(u64),
) -> Result<Archive> {
    let src = SeekSource::new(r)?;
    decompress_to(&src, w, &DecompressOptions::default(), progress)
}

/// A `Read + Seek` stream as a [`ByteSource`]: each read seeks, under a lock.
pub struct SeekSource<R> {
    r: Mutex<R>,
    len: u64,
}

impl<R: Read + Seek + Send> SeekSource<R> {
    pub fn new(mut r: R) -> Result<SeekSource<R>> {
        let len = r
            .seek(SeekFrom::End(0))
            .map_err(|e| Error::io("reading .znn file", e))?;
        Ok(SeekSource {
            r: Mutex::new(r),
            len,
        })
    }
}

impl<R: Read + Seek + Send> ByteSource for SeekSource<R> {
    fn len(&self) -> u64 {
        self.len
    }
    fn read_exact_at(&self, offset: u64, buf: &mut [u8]) -> Result<()> {
        let mut r = self.r.lock().unwrap_or_else(|p| p.into_inner());
        r.seek(SeekFrom::Start(offset))
            .and_then(|_| r.read_exact(buf))
            .map_err(|e| {
                if e.kind() == std::io::ErrorKind::UnexpectedEof {
                    Error::truncated("the .znn stream ended early")
                } else {
                    Error::io("reading .znn file", e)
                }
            })
    }
}
