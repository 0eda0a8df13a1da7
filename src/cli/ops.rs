//! One file in, one file out: the single-file `compress` and `decompress` that the folder commands
//! also use, each through an atomic [`Output`].

use super::device::DeviceArg;
use super::files::{open_input, Output};
use crate::error::{Error, Result};
use crate::{compress_stream, decompress_stream, CompressOptions};
use indicatif::ProgressBar;
use std::io::BufReader;
use std::path::{Path, PathBuf};

/// Sizes of one finished operation.
#[derive(Clone, Copy, Debug, Default)]
pub struct Done {
    pub original: u64,
    pub compressed: u64,
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
    if base.is_some() {
        return Err(Error::invalid("--base is not supported yet"));
    }
    let mut out = Output::create(output, force, Some(input))?;
    let inp = open_input(input)?;
    let start = bar.position();
    let mut reader = BufReader::with_capacity(1 << 20, inp.file);
    let stats = compress_stream(&mut reader, inp.len, out.writer(), opts, &mut |d| {
        bar.set_position(start + d)
    })?;
    out.commit()?;
    Ok(Done {
        original: stats.original_len,
        compressed: stats.compressed_len,
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
    if base.is_some() {
        return Err(Error::invalid("--base is not supported yet"));
    }
    let mut out = Output::create(output, force, Some(input))?;
    let inp = open_input(input)?;
    let gpu = super::device::choose(device)?;
    let mut file = BufReader::with_capacity(1 << 20, inp.file);
    let start = bar.position();
    let a = match gpu {
        Some(mut g) => {
            if verbose {
                eprintln!("device: gpu: {}", g.describe());
            }
            g.decompress_to_writer(&mut file, out.writer())?
        }
        None => {
            if verbose {
                eprintln!("device: cpu ({} threads)", rayon::current_num_threads());
            }
            decompress_stream(&mut file, out.writer(), &mut |d| {
                if bar.length() == Some(0) {
                    bar.set_length(d.max(1));
                }
                bar.set_position(start + d)
            })?
        }
    };
    out.commit()?;
    Ok(Done {
        original: a.trailer.original_len,
        compressed: inp.len,
    })
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
