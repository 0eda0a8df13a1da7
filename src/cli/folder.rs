//! Folders (and `--in-place`): the library's folder runner with a progress bar and `-v` lines.

use super::{progress, report, Io, Ui};
use indicatif::ProgressBar;
use std::path::Path;
use std::time::Instant;
use znn_gpu::decoder::Ran;
use znn_gpu::files::Done;
use znn_gpu::folder::{self, Direction, Events, FolderOptions};
use znn_gpu::{CompressOptions, Decoder, Result};

struct Bar {
    bar: ProgressBar,
    verbose: bool,
    verb: &'static str,
}

impl Events for Bar {
    fn total(&self, bytes: u64) {
        self.bar.set_length(bytes);
    }
    fn advance(&self, bytes: u64) {
        self.bar.inc(bytes);
    }
    fn skipped(&self, path: &Path) {
        if self.verbose {
            self.bar
                .suspend(|| eprintln!("skipping {} (compressed already)", path.display()));
        }
    }
    fn decoder(&self, ran: &Ran) {
        if self.verbose {
            self.bar.suspend(|| eprintln!("device: {ran}"));
        }
    }
    fn done(&self, shown: &str, d: &Done) {
        if self.verbose {
            let (from, to) = match self.verb {
                "decompressed" => (d.compressed, d.original),
                _ => (d.original, d.compressed),
            };
            self.bar
                .suspend(|| eprintln!("{} {shown}: {from} -> {to} bytes", self.verb));
        }
    }
}

/// Runs `dir` over the folder (or single in-place file) of `io`.
pub fn run(
    dir: Direction,
    io: &Io,
    codec: &CompressOptions,
    decoder: &Decoder,
    ui: Ui,
) -> Result<()> {
    let t = Instant::now();
    let events = Bar {
        bar: progress(ui.show, 0),
        verbose: ui.verbose,
        verb: dir.verb(),
    };
    let opts = FolderOptions {
        output: io.output.as_deref(),
        force: io.force,
        in_place: io.in_place,
        base: io.base.as_deref(),
        codec: codec.clone(),
        decoder,
        events: &events,
    };
    let r = folder::run(dir, &io.input, &opts);
    events.bar.finish_and_clear();
    let r = r?;
    if ui.verbose {
        let what = format!("{} ({} files)", io.input.display(), r.files);
        report(dir.verb(), Path::new(&what), r.original, r.compressed, t);
    }
    Ok(())
}
