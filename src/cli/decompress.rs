//! `znn-gpu decompress`: one file, or a folder.

use super::{progress, report, Io, Ui};
use std::io::Read;
use std::path::Path;
use std::time::Instant;
use znn_gpu::files::{self, FileOptions};
use znn_gpu::folder::Direction;
use znn_gpu::{safetensors, CompressOptions, Decoder, Device, Error, Result};

pub fn run(io: &Io, device: Device, ui: Ui) -> Result<()> {
    let decoder = Decoder::new(device)?;
    if io.in_place || io.input.is_dir() {
        let codec = CompressOptions::default();
        return super::folder::run(Direction::Decompress, io, &codec, &decoder, ui);
    }
    let out = match &io.output {
        Some(p) => p.clone(),
        None => files::strip_znn(&io.input)?,
    };
    let t = Instant::now();
    let bar = progress(ui.show, 0);
    let inc = |n: u64| {
        if bar.length() == Some(0) {
            bar.set_length(n.max(1));
        }
        bar.inc(n)
    };
    let f = FileOptions {
        force: io.force,
        base: io.base.as_deref(),
        hash: false,
        progress: Some(&inc),
    };
    let d = files::decompress_file(&io.input, &out, &decoder, &f)
        .map_err(|e| not_znn_hint(e, &io.input))?;
    bar.finish_and_clear();
    if ui.verbose {
        if let Some(ran) = &d.ran {
            eprintln!("device: {ran}");
        }
        report("decompressed", &io.input, d.original, d.compressed, t);
    }
    Ok(())
}

/// A file that is not a `.znn` but a safetensors model was most likely meant for `compress`.
pub fn not_znn_hint(e: Error, input: &Path) -> Error {
    if !matches!(e, Error::NotZnn) {
        return e;
    }
    let len = std::fs::metadata(input).map_or(0, |m| m.len());
    let mut head = [0u8; 9];
    let read = std::fs::File::open(input).and_then(|mut f| f.read_exact(&mut head));
    if read.is_ok() && safetensors::header_len(&head, len).is_some() && head[8] == b'{' {
        let n = input.display();
        return Error::invalid(format!(
            "{n} is not a .znn file but a safetensors model: compress it with `znn-gpu compress {n}`"
        ));
    }
    e
}
