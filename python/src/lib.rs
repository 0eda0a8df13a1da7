//! `znn_gpu._native`: the thin native layer of the Python package over the `znn-gpu` library.
//! Every behaviour (formats, tables, folders, files) is the library's; this crate converts
//! arguments, releases the GIL around every call that reads, decodes or codes, picks the thread
//! pool, and turns library errors into one Python exception, `ZnnError`. The pure-Python layer
//! (`python/znn_gpu/*.py`) holds the framework specifics (torch, numpy, transformers).

use pyo3::prelude::*;
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex};

mod ops;
mod reader;

pyo3::create_exception!(
    znn_gpu,
    ZnnError,
    pyo3::exceptions::PyException,
    "Every failure of znn-gpu. `.kind` is the library's kind: \"corrupt\", \"truncated\", \
     \"unsupported version\", \"invalid argument\", \"io\", \"gpu\" (or \"internal\" for a bug)."
);

/// A library error as a `ZnnError` with its kind.
pub(crate) fn to_py(e: znn_gpu::Error) -> PyErr {
    error(e.kind().name(), e.to_string())
}

pub(crate) fn error(kind: &str, msg: String) -> PyErr {
    Python::attach(|py| {
        let err = ZnnError::new_err(msg);
        // Setting an attribute on a fresh exception instance cannot fail but for memory.
        let _ = err.value(py).setattr("kind", kind);
        err
    })
}

pub(crate) fn invalid(msg: impl Into<String>) -> PyErr {
    to_py(znn_gpu::Error::invalid(msg))
}

/// Thread pools by size, made once: `threads=N` of one call must not spawn N threads each time
/// (a `get_slice` can be a few microseconds of work).
static POOLS: Mutex<Vec<(usize, Arc<rayon::ThreadPool>)>> = Mutex::new(Vec::new());

fn pool(n: usize) -> PyResult<Arc<rayon::ThreadPool>> {
    if n == 0 {
        return Err(invalid("threads must be at least 1"));
    }
    let mut pools = POOLS.lock().unwrap_or_else(|p| p.into_inner());
    if let Some((_, p)) = pools.iter().find(|(k, _)| *k == n) {
        return Ok(p.clone());
    }
    let p = rayon::ThreadPoolBuilder::new()
        .num_threads(n)
        .thread_name(|i| format!("znn-gpu-{i}"))
        .build()
        .map_err(|e| invalid(format!("thread pool: {e}")))?;
    let p = Arc::new(p);
    pools.push((n, p.clone()));
    Ok(p)
}

/// Runs `f` with the GIL released, on a pool of `threads` threads (`None`: rayon's global pool,
/// one thread per core). A panic (a bug: the library does not panic on any input) comes back as a
/// `ZnnError` of kind "internal" rather than tearing down the interpreter.
pub(crate) fn run<T: Send>(
    py: Python<'_>,
    threads: Option<usize>,
    f: impl FnOnce() -> znn_gpu::Result<T> + Send,
) -> PyResult<T> {
    let pool = threads.map(pool).transpose()?;
    let r = py.detach(|| {
        std::panic::catch_unwind(AssertUnwindSafe(|| match &pool {
            Some(p) => p.install(f),
            None => f(),
        }))
    });
    match r {
        Ok(r) => r.map_err(to_py),
        Err(p) => {
            let msg = p
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| p.downcast_ref::<&str>().copied())
                .unwrap_or("panic");
            Err(error("internal", format!("internal error (a bug): {msg}")))
        }
    }
}

#[pymodule]
mod _native {
    #[pymodule_export]
    use super::ZnnError;

    #[pymodule_export]
    use super::reader::Reader;

    #[pymodule_export]
    use super::ops::{
        advise_huge, compress_bytes, compress_file, decompress_file, model_files, save,
        snapshot_dir, verify_file, ModelFiles,
    };

    #[pymodule_init]
    fn init(m: &pyo3::Bound<'_, pyo3::types::PyModule>) -> pyo3::PyResult<()> {
        use pyo3::types::PyModuleMethods;
        m.add("__version__", env!("CARGO_PKG_VERSION"))
    }
}
