//! Fault injection: writers and readers that fail part-way, a full disk (`RLIMIT_FSIZE`), a process
//! killed mid-run, an input that shrinks while it is read. Invariant: every fault gives an error,
//! never a panic and never success; the CLI then leaves no output file and no temporary file, and
//! keeps a pre-existing output and the input as they were. Every fault injected is counted, and so
//! is every case that lost data or left a partial output (which must be none).

use znn_test_support as common;
use znn_test_support::cli as cli_util;

use common::{opts, repo_model};
use std::io::{self, Cursor, Read, Seek, SeekFrom, Write};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};
use znn_gpu::{compress_bytes, compress_stream, decompress_stream, Archive, Layout};

/// Faults injected and faults that lost data, over all tests of this file (printed by each).
static INJECTED: AtomicUsize = AtomicUsize::new(0);
static LOST: AtomicUsize = AtomicUsize::new(0);

fn counted(what: &str, injected: usize, lost: usize) {
    INJECTED.fetch_add(injected, Ordering::SeqCst);
    LOST.fetch_add(lost, Ordering::SeqCst);
    eprintln!("{what}: {injected} faults injected, {lost} lost data or left partial output");
    assert_eq!(lost, 0, "{what}: faults that lost data");
}

// ------------------------------------------------------------------------------------------
// Library: writers and readers that fail
// ------------------------------------------------------------------------------------------

/// How a writer or reader fails once `limit` bytes went through.
#[derive(Clone, Copy, Debug)]
enum Fail {
    /// An I/O error (EIO, ENOSPC...).
    Error,
    /// `Ok(0)`: a writer that accepts nothing more; a reader at an early end of file.
    Zero,
}

/// Accepts `limit` bytes (in short writes that stop exactly at the limit), then fails.
struct FailingWriter {
    limit: usize,
    written: usize,
    how: Fail,
}

impl Write for FailingWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let room = self.limit - self.written;
        if room == 0 && !buf.is_empty() {
            return match self.how {
                Fail::Error => Err(io::Error::other("injected write fault")),
                Fail::Zero => Ok(0),
            };
        }
        let n = buf.len().min(room);
        self.written += n;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// A seekable reader over `data` that yields `limit` bytes in all, then fails; its reads are short
/// (at most `step` bytes) and every third one is `Interrupted`, both of which callers must handle.
struct FailingReader<'a> {
    data: Cursor<&'a [u8]>,
    limit: usize,
    read: usize,
    step: usize,
    calls: usize,
    how: Fail,
}

impl<'a> FailingReader<'a> {
    fn new(data: &'a [u8], limit: usize, step: usize, how: Fail) -> Self {
        FailingReader {
            data: Cursor::new(data),
            limit,
            read: 0,
            step,
            calls: 0,
            how,
        }
    }
}

impl Read for FailingReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.calls += 1;
        if self.calls % 3 == 0 {
            return Err(io::ErrorKind::Interrupted.into());
        }
        let room = self.limit - self.read;
        if room == 0 && !buf.is_empty() {
            return match self.how {
                Fail::Error => Err(io::Error::other("injected read fault")),
                Fail::Zero => Ok(0),
            };
        }
        let n = buf.len().min(room).min(self.step);
        let n = self.data.read(&mut buf[..n])?;
        self.read += n;
        Ok(n)
    }
}

impl Seek for FailingReader<'_> {
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        self.data.seek(pos)
    }
}

/// Byte counts at which to fail a stream of `len` bytes: 0, every power of two and its neighbours
/// below `len`, and `around` (structure boundaries) ± 2.
fn limits(len: usize, around: &[usize]) -> Vec<usize> {
    let mut v = vec![0, 1, 2, 3];
    let mut p = 4;
    while p < len {
        v.extend([p - 1, p, p + 1]);
        p *= 2;
    }
    for &a in around {
        v.extend(a.saturating_sub(2)..=a + 2);
    }
    v.extend([len - 2, len - 1]);
    v.retain(|&n| n < len);
    v.sort_unstable();
    v.dedup();
    v
}

/// The test input: the first 1.5 MiB of the shipped model (a safetensors header, then FP32 weights),
/// and its archive with 64 KiB chunks.
fn fixture() -> (Vec<u8>, Vec<u8>) {
    let orig = repo_model()[..3 << 19].to_vec();
    let z = compress_bytes(&orig, &opts(65536, 4096, Layout::Bf16)).unwrap();
    (orig, z)
}

/// Structure boundaries of an archive: end of header, end of data, start of trailer, end.
fn boundaries(z: &[u8]) -> Vec<usize> {
    let a = Archive::from_bytes(z).unwrap();
    let data_end = (Archive::DATA_START + a.data_len()) as usize;
    vec![16, data_end, z.len() - 40, z.len()]
}

#[test]
fn failing_writers_give_errors() {
    let (orig, z) = fixture();
    let o = opts(65536, 4096, Layout::Bf16);
    let (mut injected, mut lost) = (0, 0);
    for how in [Fail::Error, Fail::Zero] {
        for limit in limits(z.len(), &boundaries(&z)) {
            let w = FailingWriter {
                limit,
                written: 0,
                how,
            };
            let r = catch_unwind(AssertUnwindSafe(|| {
                compress_stream(&mut &orig[..], orig.len() as u64, w, &o, &mut |_| {})
            }));
            injected += 1;
            match r {
                Ok(Err(_)) => {}
                Ok(Ok(_)) => {
                    lost += 1;
                    eprintln!("compress_stream: writer failing at {limit} ({how:?}): Ok");
                }
                Err(_) => panic!("compress_stream panicked: writer failing at {limit} ({how:?})"),
            }
        }
        // The archive's chunks end at 64 KiB multiples of the original; fail around each.
        let chunk_ends: Vec<usize> = (1..orig.len() / 65536).map(|i| i * 65536).collect();
        for limit in limits(orig.len(), &chunk_ends) {
            let w = FailingWriter {
                limit,
                written: 0,
                how,
            };
            let r = catch_unwind(AssertUnwindSafe(|| {
                decompress_stream(&mut Cursor::new(&z), w, &mut |_| {})
            }));
            injected += 1;
            match r {
                Ok(Err(_)) => {}
                Ok(Ok(_)) => {
                    lost += 1;
                    eprintln!("decompress_stream: writer failing at {limit} ({how:?}): Ok");
                }
                Err(_) => panic!("decompress_stream panicked: writer failing at {limit} ({how:?})"),
            }
        }
    }
    // Control: a writer with room for everything gets the same bytes as `compress_bytes`.
    let mut full = Vec::new();
    compress_stream(
        &mut &orig[..],
        orig.len() as u64,
        &mut full,
        &o,
        &mut |_| {},
    )
    .unwrap();
    assert_eq!(full, z, "compress_stream and compress_bytes differ");
    counted("failing writers", injected, lost);
}

#[test]
fn failing_and_shrinking_readers_give_errors() {
    let (orig, z) = fixture();
    let o = opts(65536, 4096, Layout::Bf16);
    let (mut injected, mut lost) = (0, 0);
    // A header of 8 bytes, then a safetensors JSON header: fail around both, and around chunks.
    let st_header = 8 + u64::from_le_bytes(orig[..8].try_into().unwrap()) as usize;
    let around = [8, st_header, 65536, 4 << 20];
    for how in [Fail::Error, Fail::Zero] {
        // Compress: `len` promises the whole input, the reader gives `limit` bytes: the input
        // shrank (or broke) while being read.
        for limit in limits(orig.len(), &around) {
            let mut r = FailingReader::new(&orig, limit, 100_003, how);
            let res = catch_unwind(AssertUnwindSafe(|| {
                compress_stream(&mut r, orig.len() as u64, Vec::new(), &o, &mut |_| {})
            }));
            injected += 1;
            match res {
                Ok(Err(e)) => {
                    if matches!(how, Fail::Zero) {
                        assert!(
                            matches!(e, znn_gpu::Error::Truncated(_)),
                            "input ended at {limit}: {e}"
                        );
                    }
                }
                Ok(Ok(_)) => {
                    lost += 1;
                    eprintln!("compress_stream: input ending at {limit} ({how:?}): Ok");
                }
                Err(_) => panic!("compress_stream panicked: reader failing at {limit} ({how:?})"),
            }
        }
        // Decompress: the file's length (seek to end) is whole, its reads stop at `limit`.
        for limit in limits(z.len(), &boundaries(&z)) {
            let mut r = FailingReader::new(&z, limit, 70_001, how);
            let res = catch_unwind(AssertUnwindSafe(|| {
                decompress_stream(&mut r, Vec::new(), &mut |_| {})
            }));
            injected += 1;
            match res {
                Ok(Err(_)) => {}
                Ok(Ok(_)) => {
                    lost += 1;
                    eprintln!("decompress_stream: input ending at {limit} ({how:?}): Ok");
                }
                Err(_) => panic!("decompress_stream panicked: reader failing at {limit} ({how:?})"),
            }
        }
    }
    // Short and interrupted reads are not faults: with no limit both directions round-trip.
    let mut r = FailingReader::new(&orig, usize::MAX, 777, Fail::Error);
    let mut zz = Vec::new();
    compress_stream(&mut r, orig.len() as u64, &mut zz, &o, &mut |_| {}).unwrap();
    assert_eq!(zz, z, "short reads changed the archive");
    let mut back = Vec::new();
    decompress_stream(
        &mut FailingReader::new(&z, usize::MAX, 777, Fail::Error),
        &mut back,
        &mut |_| {},
    )
    .unwrap();
    assert!(back == orig, "short reads changed the output");
    counted("failing and shrinking readers", injected, lost);
}

#[path = "faults/cli.rs"]
mod cli;
