//! One file in, one file out: the single-file `compress` and `decompress` that the folder commands
//! also use, each through an atomic [`Output`].

use super::device::DeviceArg;
use super::files::{open_input, Output};
use crate::archive::Archive;
use crate::error::{Error, Result};
use crate::{compress_stream_with_base, decompress_stream_with_base, Base, CompressOptions};
use indicatif::ProgressBar;
use std::io::{BufReader, Seek};
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
    let mut out = Output::create(output, force, Some(input))?;
    let base = base.map(open_base).transpose()?;
    let inp = open_input(input)?;
    let start = bar.position();
    let mut reader = BufReader::with_capacity(1 << 20, inp.file);
    let stats = compress_stream_with_base(
        &mut reader,
        inp.len,
        out.writer(),
        opts,
        base.as_ref(),
        &mut |d| bar.set_position(start + d),
    )?;
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
    let mut out = Output::create(output, force, Some(input))?;
    let inp = open_input(input)?;
    let mut file = BufReader::with_capacity(1 << 20, inp.file);
    // A delta needs its base, checked before any decoding, and decodes on the CPU.
    let meta = Archive::read(&mut file)?;
    file.rewind()
        .map_err(|e| Error::io(format!("reading {}", input.display()), e))?;
    let base = match (meta.index.base, base) {
        (Some(_), Some(p)) => Some(open_base(p)?),
        _ => None,
    };
    meta.check_base(base.as_ref())?;
    let gpu = match (base.is_some(), device) {
        (true, DeviceArg::Gpu) => {
            return Err(Error::invalid(
                "delta files (made with --base) decode on the CPU: use --device cpu or auto",
            ))
        }
        (true, _) => None,
        (false, d) => super::device::choose(d)?,
    };
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
            decompress_stream_with_base(&mut file, out.writer(), base.as_ref(), &mut |d| {
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
