//! `znn-gpu extract`: one tensor or byte range of a `.znn`, decoding only the chunks it covers.

use super::device::DeviceArg;
use super::files::{open_input, Output};
use super::Ui;
use crate::archive::Archive;
use crate::error::{Error, Result};
use crate::extract::{self, find_tensor};
use std::io::BufReader;
use std::path::Path;
use std::time::Instant;

/// What to extract and where to.
pub struct Request<'a> {
    pub file: &'a Path,
    pub tensor: Option<&'a str>,
    pub range: Option<&'a str>,
    pub output: &'a Path,
    pub force: bool,
    pub base: Option<&'a Path>,
    pub device: DeviceArg,
    pub ui: Ui,
}

pub fn run(req: &Request) -> Result<()> {
    let t = Instant::now();
    let inp = open_input(req.file)?;
    // Small reads: a tensor's chunks are read with one seek and one read per window.
    let mut r = BufReader::with_capacity(64 * 1024, inp.file);
    let a = Archive::read(&mut r)?;
    let (start, end) = match (req.tensor, req.range) {
        (Some(name), _) => {
            let header = extract::tensor_table(&mut r, &a)?.ok_or_else(|| {
                Error::invalid(format!("{}; use --range", not_safetensors(&inp.name)))
            })?;
            let t = find_tensor(&header, name)?;
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
        (None, Some(s)) => parse_range(s, a.trailer.original_len)?,
        (None, None) => {
            return Err(Error::invalid(
                "extract needs --tensor NAME or --range A..B",
            ))
        }
    };
    extract::check_range(&a, start, end)?;
    let base = match (a.index.base, req.base) {
        (Some(_), Some(p)) => Some(super::ops::open_base(p)?),
        _ => None,
    };
    a.check_base(base.as_ref())?;
    // The kernels decode standalone chunks only: a delta is restored on the CPU.
    let device = if base.is_some() {
        DeviceArg::Cpu
    } else {
        req.device
    };
    let mut out = Output::create(req.output, req.force, Some(req.file))?;
    let stats = match super::device::choose(device)? {
        Some(mut g) => {
            if req.ui.verbose {
                eprintln!("device: gpu: {}", g.describe());
            }
            g.extract_range_to(&mut r, &a, start, end, out.writer())?
        }
        None => {
            if req.ui.verbose {
                eprintln!("device: cpu ({} threads)", rayon::current_num_threads());
            }
            extract::extract_range_with_base_to(
                &mut r,
                &a,
                start,
                end,
                base.as_ref(),
                out.writer(),
            )?
        }
    };
    out.commit()?;
    if req.ui.verbose {
        eprintln!(
            "extracted bytes {start}..{end} ({} bytes) of {}: {} chunks decoded, {} of its {} \
             bytes read for them (besides index and header), {:.3} s",
            end - start,
            inp.name,
            stats.chunks.len(),
            stats.payload_bytes,
            inp.len,
            t.elapsed().as_secs_f64()
        );
    }
    Ok(())
}

/// What a tensor request on an original without a tensor table is told.
pub(super) fn not_safetensors(name: &str) -> String {
    format!("{name}: the original is not a safetensors file, so it has no tensor table")
}

/// `START..END`; either bound may be left out (`..END`, `START..`) for the original's start or end.
fn parse_range(s: &str, len: u64) -> Result<(u64, u64)> {
    let bad = || {
        Error::invalid(format!(
            "--range {s:?}: expected START..END (bytes, end exclusive)"
        ))
    };
    let (a, b) = s.split_once("..").ok_or_else(bad)?;
    let num = |x: &str, default: u64| -> Result<u64> {
        if x.is_empty() {
            Ok(default)
        } else {
            x.trim().parse().map_err(|_| bad())
        }
    };
    Ok((num(a, 0)?, num(b, len)?))
}

#[cfg(test)]
mod tests {
    use super::parse_range;

    #[test]
    fn ranges_parse_with_optional_bounds() {
        assert_eq!(parse_range("3..10", 99).unwrap(), (3, 10));
        assert_eq!(parse_range("..10", 99).unwrap(), (0, 10));
        assert_eq!(parse_range("3..", 99).unwrap(), (3, 99));
        assert_eq!(parse_range("..", 99).unwrap(), (0, 99));
        assert!(parse_range("3-10", 99).is_err());
        assert!(parse_range("a..10", 99).is_err());
        assert!(parse_range("-1..10", 99).is_err());
    }
}
