//! Whole-file operations (compress, decompress, verify; files or model folders, as the CLI does
//! them), compressing a safetensors file from the tensors' own memory, and the weight files of a
//! model folder.

use crate::{invalid, run};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use znn_gpu::codec::CodecSet;
use znn_gpu::files::{self, FileOptions};
use znn_gpu::folder::{self, Direction, FolderOptions, Quiet};
use znn_gpu::safetensors::{Serialized, TensorData};
use znn_gpu::{CompressOptions, Decoder, Layout};

/// The options of a compressing call: `dtype` for a file that is not safetensors, `codecs` named as
/// the CLI's `--codecs` (the library parses both names, so the two accept the same ones).
fn codec(dtype: Option<&str>, codecs: &str) -> PyResult<CompressOptions> {
    let mut o = CompressOptions {
        codecs: CodecSet::from_name(codecs).map_err(crate::to_py)?,
        ..CompressOptions::default()
    };
    if let Some(d) = dtype {
        o.dtype = Layout::from_dtype_name(d).map_err(crate::to_py)?;
    }
    Ok(o)
}

/// A file or a folder, in `dir`'s direction, as `znn-gpu compress|decompress SRC [-o DST]`.
fn file_or_folder(
    dir: Direction,
    src: &Path,
    dst: Option<&Path>,
    opts: &CompressOptions,
    base: Option<&Path>,
    force: bool,
) -> znn_gpu::Result<(u64, u64)> {
    let decoder = Decoder::cpu();
    if src.is_dir() {
        let o = FolderOptions {
            output: dst,
            force,
            in_place: false,
            base,
            codec: opts.clone(),
            decoder: &decoder,
            events: &Quiet,
        };
        let r = folder::run(dir, src, &o)?;
        return Ok((r.original, r.compressed));
    }
    let f = FileOptions {
        force,
        base,
        ..Default::default()
    };
    let d = match dir {
        Direction::Compress => {
            let out = dst.map_or_else(|| files::znn_name(src), Path::to_path_buf);
            files::compress_file(src, &out, opts, &f)?
        }
        Direction::Decompress => {
            let out = match dst {
                Some(p) => p.to_path_buf(),
                None => files::strip_znn(src)?,
            };
            files::decompress_file(src, &out, &decoder, &f)?
        }
    };
    Ok((d.original, d.compressed))
}

/// Compresses a file or a model folder; returns `(original_bytes, compressed_bytes)`.
#[pyfunction]
#[pyo3(signature = (src, dst=None, *, threads=None, dtype=None, base=None, overwrite=false, codecs="fast"))]
#[allow(clippy::too_many_arguments)]
pub fn compress_file(
    py: Python<'_>,
    src: PathBuf,
    dst: Option<PathBuf>,
    threads: Option<usize>,
    dtype: Option<String>,
    base: Option<PathBuf>,
    overwrite: bool,
    codecs: &str,
) -> PyResult<(u64, u64)> {
    let opts = codec(dtype.as_deref(), codecs)?;
    run(py, threads, || {
        file_or_folder(
            Direction::Compress,
            &src,
            dst.as_deref(),
            &opts,
            base.as_deref(),
            overwrite,
        )
    })
}

/// Decompresses a `.znn` or a compressed folder; returns `(original_bytes, compressed_bytes)`.
#[pyfunction]
#[pyo3(signature = (src, dst=None, *, threads=None, base=None, overwrite=false))]
pub fn decompress_file(
    py: Python<'_>,
    src: PathBuf,
    dst: Option<PathBuf>,
    threads: Option<usize>,
    base: Option<PathBuf>,
    overwrite: bool,
) -> PyResult<(u64, u64)> {
    let opts = CompressOptions::default();
    run(py, threads, || {
        file_or_folder(
            Direction::Decompress,
            &src,
            dst.as_deref(),
            &opts,
            base.as_deref(),
            overwrite,
        )
    })
}

/// Decodes every chunk of a `.znn` and checks every checksum, writing nothing; returns
/// `(original_bytes, xxh3_64 of the original)`.
#[pyfunction]
#[pyo3(signature = (src, *, threads=None, base=None))]
pub fn verify_file(
    py: Python<'_>,
    src: PathBuf,
    threads: Option<usize>,
    base: Option<PathBuf>,
) -> PyResult<(u64, u64)> {
    run(py, threads, || files::decoded_hash(&src, base.as_deref()))
}

/// The `.znn` bytes of `data`.
#[pyfunction]
#[pyo3(signature = (data, *, threads=None, dtype=None, codecs="fast"))]
pub fn compress_bytes<'py>(
    py: Python<'py>,
    data: &Bound<'py, PyBytes>,
    threads: Option<usize>,
    dtype: Option<String>,
    codecs: &str,
) -> PyResult<Bound<'py, PyBytes>> {
    let opts = codec(dtype.as_deref(), codecs)?;
    let src = data.as_bytes();
    let out = run(py, threads, || znn_gpu::compress_bytes(src, &opts))?;
    Ok(PyBytes::new(py, &out))
}

/// One tensor for `save`: name, safetensors dtype code, shape, address and length of its bytes.
type Entry = (String, String, Vec<u64>, usize, usize);

/// Compresses the safetensors file that the safetensors package would write for `entries` and
/// `metadata` (a list of key/value pairs, or None), reading each tensor's memory in place: to the
/// file `dst` (atomically; replaced when it exists, as safetensors' `save_file` does), or, when
/// `dst` is None, returned as bytes.
#[pyfunction]
#[pyo3(signature = (entries, metadata, dst, *, threads=None, base=None, overwrite=true, codecs="fast"))]
#[allow(clippy::too_many_arguments)]
pub fn save<'py>(
    py: Python<'py>,
    entries: Vec<Entry>,
    metadata: Option<Vec<(String, String)>>,
    dst: Option<PathBuf>,
    threads: Option<usize>,
    base: Option<PathBuf>,
    overwrite: bool,
    codecs: &str,
) -> PyResult<Option<Bound<'py, PyBytes>>> {
    let opts = codec(None, codecs)?;
    let mut tensors = Vec::with_capacity(entries.len());
    for (name, dtype, shape, address, len) in entries {
        if len > 0 && address == 0 {
            return Err(invalid(format!("tensor {name}: null address")));
        }
        let data: &[u8] = if len == 0 {
            &[]
        } else {
            // SAFETY: the Python layer (`torch.py`, `numpy.py`) passes each tensor's data pointer
            // and byte length, for contiguous CPU tensors it holds references to until this call
            // returns; the bytes are only read.
            unsafe { std::slice::from_raw_parts(address as *const u8, len) }
        };
        tensors.push(TensorData {
            name,
            dtype,
            shape,
            data,
        });
    }
    let out = run(py, threads, move || {
        let s = Serialized::new(tensors, metadata.as_deref())?;
        let parts = s.parts();
        match &dst {
            Some(p) => {
                let f = FileOptions {
                    force: overwrite,
                    base: base.as_deref(),
                    ..Default::default()
                };
                files::compress_parts(&parts, p, &opts, &f)?;
                Ok(None)
            }
            None => {
                let opts = CompressOptions {
                    base: base
                        .as_deref()
                        .map(files::open_base)
                        .transpose()?
                        .map(Arc::new),
                    ..opts
                };
                let mut v = Vec::new();
                znn_gpu::compress_parts(&parts, &mut v, &opts, &mut |_| {})?;
                Ok(Some(v))
            }
        }
    })?;
    Ok(out.map(|v| PyBytes::new(py, &v)))
}

/// The weight files of a model folder (see the library's `folder::ModelFiles`).
#[pyclass(frozen, module = "znn_gpu._native")]
pub struct ModelFiles(folder::ModelFiles);

#[pymethods]
impl ModelFiles {
    /// The folder (a Hugging Face cache repo resolved to its snapshot).
    #[getter]
    fn root(&self) -> PathBuf {
        self.0.root.clone()
    }

    /// `(original name, file, compressed)` per shard, in transformers' order.
    #[getter]
    fn shards(&self) -> Vec<(String, PathBuf, bool)> {
        let s = &self.0.shards;
        s.iter()
            .map(|s| (s.name.clone(), s.path.clone(), s.compressed))
            .collect()
    }

    /// The index's tensor -> shard map, or None without an index.
    #[getter]
    fn weight_map<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyDict>>> {
        let Some(wm) = &self.0.weight_map else {
            return Ok(None);
        };
        let d = PyDict::new(py);
        for (k, v) in wm {
            d.set_item(k, v)?;
        }
        Ok(Some(d))
    }

    /// Checks the tensor names found in each shard against each other and the index.
    fn check(&self, found: Vec<Vec<String>>) -> PyResult<()> {
        if found.len() != self.0.shards.len() {
            return Err(invalid("one list of names per shard"));
        }
        self.0.check(&found).map_err(crate::to_py)
    }
}

/// The weight files of the model at `path` (a folder, a cache repo folder, or one file).
#[pyfunction]
pub fn model_files(py: Python<'_>, path: PathBuf) -> PyResult<ModelFiles> {
    run(py, None, || folder::ModelFiles::open(&path)).map(ModelFiles)
}

/// A Hugging Face cache repo folder resolved to its `refs/main` snapshot; any other path as is.
#[pyfunction]
pub fn snapshot_dir(py: Python<'_>, path: PathBuf) -> PyResult<PathBuf> {
    run(py, None, || folder::snapshot(&path))
}

/// Advises the kernel to back `len` bytes at `address` (a fresh tensor or array the caller owns,
/// about to be decoded into) with huge pages: first-touch page faults otherwise cost about as much
/// as the decode itself (measured in docs/python.md).
#[pyfunction]
pub fn advise_huge(address: usize, len: usize) {
    if address == 0 || len == 0 {
        return;
    }
    // SAFETY: the Python layer passes the data pointer and length of a buffer it has just
    // allocated and holds; the advice neither reads nor changes the bytes.
    let buf = unsafe { std::slice::from_raw_parts_mut(address as *mut u8, len) };
    znn_gpu::buffer::advise_huge_pages(buf);
}
