//! `znn-gpu verify`: decode everything and check every checksum, writing nothing.

use super::Ui;
use std::path::Path;
use std::time::Instant;
use znn_gpu::files::open_znn;
use znn_gpu::{Decoder, Device, Result};

pub fn run(file: &Path, base: Option<&Path>, device: Device, ui: Ui) -> Result<()> {
    let t = Instant::now();
    let (src, a, base) =
        open_znn(file, base).map_err(|e| super::decompress::not_znn_hint(e, file))?;
    let decoder = Decoder::new(device)?;
    let ran = decoder.verify(&a, &src, base.as_ref(), &mut |_| {})?;
    if ui.verbose {
        eprintln!("device: {ran}");
        let s = t.elapsed().as_secs_f64();
        eprintln!(
            "verified {}: {} chunks, {} bytes of original, every checksum correct, {:.2} s, {:.2} GB/s",
            file.display(),
            a.index.chunks().len(),
            a.original_len(),
            s,
            a.original_len() as f64 / s / 1e9
        );
    }
    Ok(())
}
