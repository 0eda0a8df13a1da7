//! `Reader`: one opened weight file (a `.znn`, or a plain safetensors file left uncompressed in a
//! folder), its tensor table, and decoding of any byte range straight into memory the caller owns
//! (a torch or numpy buffer): no intermediate `bytes`, the GIL released, every chunk on the pool.

use crate::{invalid, run};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use znn_gpu::safetensors::{read_table, Header};
use znn_gpu::{ByteSource, Error, FileSource, ReaderOptions};

/// What `Reader(source)` was given.
enum Given {
    Bytes(Vec<u8>),
    Path(PathBuf),
}

#[derive(Clone)]
enum Src {
    Znn(znn_gpu::Reader),
    /// Not a `.znn` (no magic): read as an uncompressed safetensors file.
    Plain {
        src: Arc<dyn ByteSource>,
        table: Arc<Header>,
    },
}

impl Src {
    fn open(src: Arc<dyn ByteSource>, opts: &ReaderOptions) -> znn_gpu::Result<Src> {
        match znn_gpu::Reader::new(src.clone(), opts) {
            Ok(r) => Ok(Src::Znn(r)),
            Err(Error::NotZnn) => {
                let table = Arc::new(read_table(&*src)?);
                Ok(Src::Plain { src, table })
            }
            Err(e) => Err(e),
        }
    }

    fn len(&self) -> u64 {
        match self {
            Src::Znn(r) => r.len(),
            Src::Plain { src, .. } => src.len(),
        }
    }

    fn table(&self) -> znn_gpu::Result<&Header> {
        match self {
            Src::Znn(r) => r.table(),
            Src::Plain { table, .. } => Ok(table),
        }
    }
}

/// A weight file opened for random access; usable from any number of Python threads at once.
#[pyclass(frozen, module = "znn_gpu._native")]
pub struct Reader {
    /// `None` once closed.
    src: Mutex<Option<Src>>,
    threads: Option<usize>,
    chunks_decoded: AtomicU64,
}

impl Reader {
    fn get(&self) -> PyResult<Src> {
        let s = self.src.lock().unwrap_or_else(|p| p.into_inner());
        s.clone().ok_or_else(|| invalid("file is closed"))
    }
}

#[pymethods]
impl Reader {
    /// `source`: a path (str or os.PathLike) or the bytes of a whole file. `base`: the base file
    /// of a delta. `threads`: decode threads (None: all cores). `cache_bytes`: the budget of
    /// decoded chunks kept for small reads that share a chunk.
    #[new]
    #[pyo3(signature = (source, base=None, threads=None, cache_bytes=None))]
    fn new(
        py: Python<'_>,
        source: &Bound<'_, PyAny>,
        base: Option<PathBuf>,
        threads: Option<usize>,
        cache_bytes: Option<u64>,
    ) -> PyResult<Reader> {
        let given = match source.cast::<PyBytes>() {
            Ok(b) => Given::Bytes(b.as_bytes().to_vec()),
            Err(_) => Given::Path(source.extract::<PathBuf>()?),
        };
        let src = run(py, threads, move || {
            let src: Arc<dyn ByteSource> = match given {
                Given::Bytes(b) => Arc::new(b),
                Given::Path(p) => Arc::new(FileSource::open(&p)?),
            };
            let opts = ReaderOptions {
                base: base
                    .map(|b| znn_gpu::files::open_base(&b).map(Arc::new))
                    .transpose()?,
                cache_bytes,
                ..Default::default()
            };
            Src::open(src, &opts)
        })?;
        Ok(Reader {
            src: Mutex::new(Some(src)),
            threads,
            chunks_decoded: AtomicU64::new(0),
        })
    }

    /// Length of the original file.
    #[getter]
    fn original_len(&self) -> PyResult<u64> {
        Ok(self.get()?.len())
    }

    /// True for a `.znn`, False for a plain safetensors file.
    #[getter]
    fn compressed(&self) -> PyResult<bool> {
        Ok(matches!(self.get()?, Src::Znn(_)))
    }

    /// The safetensors table, checked as safetensors checks it: `(data_start, tensors, metadata)`
    /// with `tensors` a list of `(name, dtype, shape, start, end)` in data order (offsets relative
    /// to `data_start`) and `metadata` a dict or None.
    fn table<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let src = self.get()?;
        let h = run(py, None, || src.table().cloned())?;
        let ds = h.data_start;
        let tensors: Vec<(String, String, Vec<u64>, u64, u64)> = h
            .tensors
            .into_iter()
            .map(|t| (t.name, t.dtype, t.shape, t.start - ds, t.end - ds))
            .collect();
        let meta = match h.metadata {
            Some(m) => {
                let d = PyDict::new(py);
                for (k, v) in m {
                    d.set_item(k, v)?;
                }
                Some(d)
            }
            None => None,
        };
        (ds, tensors, meta).into_pyobject(py).map(|t| t.into_any())
    }

    /// Decodes original bytes `[start, end)` to memory at `address` (an int: `end - start`
    /// writable bytes that the caller owns and keeps alive for the call, such as
    /// `tensor.data_ptr()` or `array.ctypes.data`). Only the chunks covering the range are
    /// decoded, each checked against its checksum before the call returns.
    #[pyo3(signature = (start, end, address))]
    fn read_into(&self, py: Python<'_>, start: u64, end: u64, address: usize) -> PyResult<()> {
        let src = self.get()?;
        if start > end || end > src.len() {
            return Err(invalid(format!(
                "byte range {start}..{end} is not within the original's {} bytes",
                src.len()
            )));
        }
        let len = usize::try_from(end - start).map_err(|_| invalid("range too large"))?;
        if len == 0 {
            return Ok(());
        }
        if address == 0 {
            return Err(invalid("null address"));
        }
        // SAFETY: the caller (the Python layer, `_core.py`) passes the address of `len` writable
        // bytes of a buffer it holds a reference to until this call returns, and no other
        // reader writes to the same bytes meanwhile (it decodes each byte range once, under a
        // lock per tensor). This module is internal API: the public functions never take an
        // address from users.
        let out = unsafe { std::slice::from_raw_parts_mut(address as *mut u8, len) };
        let n = run(py, self.threads, move || match &src {
            Src::Znn(r) => Ok(r.decode_into(start, out)?.chunks.len() as u64),
            Src::Plain { src, .. } => src.read_exact_at(start, out).map(|_| 0),
        })?;
        self.chunks_decoded.fetch_add(n, Ordering::Relaxed);
        Ok(())
    }

    /// `{"chunks": total chunks, "chunks_decoded": chunks decoded by read_into so far,
    /// "chunk_size": bytes}` (zeros for a plain file).
    fn stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let (chunks, size) = match self.get()? {
            Src::Znn(r) => (
                r.archive().index.chunks().len() as u64,
                r.archive().header.chunk_size as u64,
            ),
            Src::Plain { .. } => (0, 0),
        };
        let d = PyDict::new(py);
        d.set_item("chunks", chunks)?;
        d.set_item(
            "chunks_decoded",
            self.chunks_decoded.load(Ordering::Relaxed),
        )?;
        d.set_item("chunk_size", size)?;
        Ok(d)
    }

    /// The original offset where each chunk starts (empty for a plain file): chunks follow
    /// segments (a tensor starts one), so these are the boundaries a range read may cross.
    fn chunk_starts(&self) -> PyResult<Vec<u64>> {
        Ok(match self.get()? {
            Src::Znn(r) => r
                .archive()
                .index
                .chunks()
                .iter()
                .map(|c| c.orig_offset)
                .collect(),
            Src::Plain { .. } => Vec::new(),
        })
    }

    /// Drops the file; later calls raise `ZnnError`. Decodes in flight on other threads finish.
    fn close(&self) {
        let mut s = self.src.lock().unwrap_or_else(|p| p.into_inner());
        *s = None;
    }

    #[getter]
    fn closed(&self) -> bool {
        self.src.lock().unwrap_or_else(|p| p.into_inner()).is_none()
    }
}
