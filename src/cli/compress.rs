//! `znn-gpu compress`: one file, or a folder.

use super::{file_len, progress, report, Io, Ui};
use std::time::Instant;
use znn_gpu::files::{self, FileOptions};
use znn_gpu::folder::Direction;
use znn_gpu::{CompressOptions, Decoder, Error, Result};

pub fn run(io: &Io, opts: &CompressOptions, ui: Ui) -> Result<()> {
    if io.in_place || io.input.is_dir() {
        return super::folder::run(Direction::Compress, io, opts, &Decoder::cpu(), ui);
    }
    let out = io
        .output
        .clone()
        .unwrap_or_else(|| files::znn_name(&io.input));
    if io.input.as_os_str() == "-" && out.as_os_str() == "-.znn" {
        return Err(Error::invalid(
            "reading stdin needs -o (a file, or - for stdout)",
        ));
    }
    let t = Instant::now();
    let bar = progress(ui.show, file_len(&io.input));
    let inc = |n: u64| bar.inc(n);
    let f = FileOptions {
        force: io.force,
        base: io.base.as_deref(),
        hash: false,
        progress: Some(&inc),
    };
    let d = files::compress_file(&io.input, &out, opts, &f)?;
    bar.finish_and_clear();
    if ui.verbose {
        report("compressed", &io.input, d.original, d.compressed, t);
    }
    Ok(())
}
