//! `znn-gpu extract`: one tensor or byte range of a `.znn`, decoding only the chunks it covers.

use super::hints::with_hint;
use super::Ui;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;
use znn_gpu::extract::{find_tensor, parse_range};
use znn_gpu::files::{self, Output};
use znn_gpu::{Decoder, Device, Error, Reader, ReaderOptions, Result};

/// What to extract and where to.
pub struct Request<'a> {
    pub file: &'a Path,
    pub tensor: Option<&'a str>,
    pub range: Option<&'a str>,
    pub output: &'a Path,
    pub force: bool,
    pub base: Option<&'a Path>,
    pub device: Device,
    pub ui: Ui,
}

pub fn run(req: &Request) -> Result<()> {
    let t = Instant::now();
    let base = req.base.map(files::open_base).transpose()?.map(Arc::new);
    let src = files::open_input(req.file)?.into_source()?;
    let (name, len) = (src.name().to_string(), znn_gpu::ByteSource::len(&src));
    let opts = ReaderOptions {
        base,
        ..Default::default()
    };
    let r = Reader::new(Arc::new(src), &opts)
        .map_err(|e| super::decompress::not_znn_hint(e, req.file))?;
    let (start, end) = match (req.tensor, req.range) {
        (Some(tensor), _) => {
            let header = r.tensors()?.ok_or_else(|| {
                Error::invalid(format!("{}; use --range", not_safetensors(&name)))
            })?;
            let t = find_tensor(header, tensor)
                .map_err(|e| with_hint(e, "`znn-gpu info --tensors` lists them all"))?;
            if req.ui.verbose {
                eprintln!(
                    "tensor {}: {} {:?}, {} bytes at {}",
                    t.name,
                    t.dtype,
                    t.shape,
                    t.end - t.start,
                    t.start
                );
            }
            (t.start, t.end)
        }
        (None, Some(s)) => parse_range(s, r.len()).map_err(|_| {
            Error::invalid(format!(
                "--range {s:?}: expected START..END (bytes, end exclusive)"
            ))
        })?,
        (None, None) => {
            return Err(Error::invalid(
                "extract needs --tensor NAME or --range A..B",
            ))
        }
    };
    znn_gpu::reader::check_range(r.len(), start, end)?;
    if r.archive().index.base().is_some() && opts.base.is_none() {
        return Err(Error::NeedsBase(r.archive().index.base().expect("checked")));
    }
    let decoder = Decoder::new(req.device)?;
    let mut out = Output::create(req.output, req.force, Some(req.file))?;
    let (stats, ran) = decoder.extract(&r, start, end, out.writer())?;
    out.commit()?;
    if req.ui.verbose {
        eprintln!("device: {ran}");
        eprintln!(
            "extracted bytes {start}..{end} ({} bytes) of {name}: {} chunks decoded, {} of its {len} \
             bytes read for them (besides index and header), {:.3} s",
            end - start,
            stats.chunks.len(),
            stats.payload_bytes,
            t.elapsed().as_secs_f64()
        );
    }
    Ok(())
}

/// What a tensor request on an original without a tensor table is told.
pub(super) fn not_safetensors(name: &str) -> String {
    format!("{name}: the original is not a safetensors file, so it has no tensor table")
}
