//! Command-line interface: parse, call the library, report. No codec logic lives here.

mod bench;
mod device;
mod extract;
mod files;
mod folder;
mod info;
mod ops;
mod signals;

use crate::error::{Error, Result};
use crate::layout::Layout;
use crate::CompressOptions;
use clap::{Parser, Subcommand};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::Instant;

#[derive(Parser)]
#[command(
    name = "znn-gpu",
    version,
    about = "Lossless compression of neural-network weights; GPU and multithreaded CPU decompression"
)]
struct Cli {
    /// Worker threads (default: all cores).
    #[arg(long, global = true)]
    threads: Option<usize>,
    /// No progress bar.
    #[arg(short, long, global = true)]
    quiet: bool,
    /// Say more (which device ran, timings).
    #[arg(short, long, global = true)]
    verbose: bool,
    #[command(subcommand)]
    cmd: Cmd,
}

/// How to compress: shared by `compress` and `bench`.
#[derive(clap::Args)]
struct CodecArgs {
    /// Element type of a file that is not safetensors: bf16, fp16, fp32, fp64 or byte.
    #[arg(long, default_value = "bf16")]
    dtype: String,
    /// Original bytes per chunk.
    #[arg(long, default_value_t = crate::constants::DEFAULT_CHUNK_SIZE)]
    chunk_size: u32,
    /// Symbols per Huffman sub-stream (a power of two, 256..=65536).
    #[arg(long, default_value_t = crate::constants::DEFAULT_SUB_SYMBOLS)]
    sub_symbols: u32,
}

impl CodecArgs {
    fn options(&self) -> Result<CompressOptions> {
        Ok(CompressOptions {
            chunk_size: self.chunk_size,
            sub_symbols: self.sub_symbols,
            dtype: Layout::from_dtype_name(&self.dtype)?,
        })
    }
}

#[derive(Subcommand)]
enum Cmd {
    /// Compress a file or a model folder (safetensors recognised by its header; anything else by
    /// --dtype). A folder's weight files become NAME.znn; other files are left alone.
    Compress {
        /// Input file or folder, or - for standard input.
        input: PathBuf,
        /// Output file or folder (default: INPUT.znn beside a file, beside each file of a folder;
        /// - for standard output).
        #[arg(short, long)]
        output: Option<PathBuf>,
        /// Overwrite existing outputs.
        #[arg(short, long)]
        force: bool,
        /// Replace each input by its compressed form once that is verified (follows Hugging Face
        /// cache symlinks into blobs/).
        #[arg(long, conflicts_with = "output")]
        in_place: bool,
        /// Store the input as a delta (XOR) against this original file (or folder of files).
        #[arg(long)]
        base: Option<PathBuf>,
        #[command(flatten)]
        codec: CodecArgs,
    },
    /// Decompress a .znn file, or every .znn file of a folder.
    Decompress {
        /// Input .znn file or folder, or - for standard input.
        input: PathBuf,
        /// Output file or folder (default: INPUT without .znn; - for standard output).
        #[arg(short, long)]
        output: Option<PathBuf>,
        /// Overwrite existing outputs.
        #[arg(short, long)]
        force: bool,
        /// Replace each .znn by its decompressed form once that is verified.
        #[arg(long, conflicts_with = "output")]
        in_place: bool,
        /// The original base file (or folder) a delta was made against.
        #[arg(long)]
        base: Option<PathBuf>,
        /// Decoder: cpu, gpu, or auto (the GPU when a hardware adapter exists, else the CPU).
        #[arg(long, value_enum, default_value = "auto")]
        device: device::DeviceArg,
    },
    /// Write one tensor (or a byte range of the original) of a .znn file, decoding only its chunks.
    Extract {
        /// Input .znn file.
        file: PathBuf,
        /// Name of a safetensors tensor.
        #[arg(long, conflicts_with = "range", required_unless_present = "range")]
        tensor: Option<String>,
        /// A byte range of the original, START..END (end exclusive).
        #[arg(long)]
        range: Option<String>,
        /// Output file (- for standard output).
        #[arg(short, long)]
        output: PathBuf,
        /// Overwrite an existing output.
        #[arg(short, long)]
        force: bool,
        /// The original base file a delta was made against.
        #[arg(long)]
        base: Option<PathBuf>,
        /// Decoder: cpu, gpu, or auto.
        #[arg(long, value_enum, default_value = "auto")]
        device: device::DeviceArg,
    },
    /// Show sizes, ratio and a per-segment, per-stream table of a .znn file; sums for a folder.
    Info {
        /// A .znn file or a folder.
        file: PathBuf,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
        /// The safetensors tensor table (name, dtype, shape, offsets), read without decoding any
        /// tensor data.
        #[arg(long)]
        tensors: bool,
    },
    /// Measure ratio and GB/s (compress, decompress; 1 and N threads; zstd -3 for comparison).
    Bench {
        /// An original (uncompressed) file.
        file: PathBuf,
        /// Timed runs per figure (the best is reported).
        #[arg(long, default_value_t = 5)]
        runs: usize,
        #[command(flatten)]
        codec: CodecArgs,
        /// GPU columns: cpu (none), gpu (any adapter, software ones too), auto (hardware adapters).
        #[arg(long, value_enum, default_value = "auto")]
        device: device::DeviceArg,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
}

/// What the user asked to see.
#[derive(Clone, Copy, Debug)]
pub struct Ui {
    /// Draw progress bars (stderr is a terminal and not --quiet).
    pub show: bool,
    pub verbose: bool,
}

/// Runs the CLI; returns the process exit code.
pub fn main() -> i32 {
    let cli = Cli::parse();
    let r = run(cli);
    // A failed run dropped (deleted) its temporary file: nothing is left for the handler.
    signals::clear();
    match r {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("error: {e}");
            1
        }
    }
}

fn run(cli: Cli) -> Result<()> {
    if let Some(n) = cli.threads {
        if n == 0 {
            return Err(Error::invalid("--threads must be at least 1"));
        }
        rayon::ThreadPoolBuilder::new()
            .num_threads(n)
            .build_global()
            .map_err(|e| Error::invalid(format!("thread pool: {e}")))?;
    }
    let ui = Ui {
        show: !cli.quiet && std::io::stderr().is_terminal(),
        verbose: cli.verbose,
    };
    match cli.cmd {
        Cmd::Compress {
            input,
            output,
            force,
            in_place,
            base,
            codec,
        } => {
            let opts = codec.options()?;
            if in_place || input.is_dir() {
                let out = output.as_deref();
                return folder::compress(&input, out, force, in_place, &opts, base.as_deref(), ui);
            }
            let out_path = output.unwrap_or_else(|| ops::znn_name(&input));
            if input.as_os_str() == "-" && out_path.as_os_str() == "-.znn" {
                return Err(Error::invalid(
                    "reading stdin needs -o (a file, or - for stdout)",
                ));
            }
            let t = Instant::now();
            let bar = progress(ui.show, file_len(&input));
            let d = ops::compress_file(&input, &out_path, force, &opts, base.as_deref(), &bar)?;
            bar.finish_and_clear();
            if ui.verbose {
                report("compressed", &input, d.original, d.compressed, t);
            }
            Ok(())
        }
        Cmd::Decompress {
            input,
            output,
            force,
            in_place,
            base,
            device,
        } => {
            if in_place || input.is_dir() {
                let out = output.as_deref();
                return folder::decompress(
                    &input,
                    out,
                    force,
                    in_place,
                    device,
                    base.as_deref(),
                    ui,
                );
            }
            let out_path = match output {
                Some(p) => p,
                None => ops::strip_znn(&input)?,
            };
            let t = Instant::now();
            let bar = progress(ui.show, 0);
            let d = ops::decompress_file(
                &input,
                &out_path,
                force,
                device,
                base.as_deref(),
                &bar,
                ui.verbose,
            )?;
            bar.finish_and_clear();
            if ui.verbose {
                report("decompressed", &input, d.original, d.compressed, t);
            }
            Ok(())
        }
        Cmd::Extract {
            file,
            tensor,
            range,
            output,
            force,
            base,
            device,
        } => extract::run(&extract::Request {
            file: &file,
            tensor: tensor.as_deref(),
            range: range.as_deref(),
            output: &output,
            force,
            base: base.as_deref(),
            device,
            ui,
        }),
        Cmd::Info {
            file,
            json,
            tensors,
        } => {
            if file.is_dir() {
                folder::info(&file, json)
            } else {
                info::run(&file, json, tensors)
            }
        }
        Cmd::Bench {
            file,
            runs,
            codec,
            device,
            json,
        } => bench::run(&file, &codec.options()?, runs.max(1), device, json),
    }
}

/// The length of a regular file (0 when unknown: stdin, a pipe), for a progress bar.
fn file_len(p: &Path) -> u64 {
    std::fs::metadata(p).map(|m| m.len()).unwrap_or(0)
}

/// Prints a report; a closed stdout (`| head`) is an I/O error, not a panic.
fn print_stdout(s: &str) -> Result<()> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    match out.write_all(s.as_bytes()).and_then(|_| out.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        r => r.map_err(|e| Error::io("writing stdout", e)),
    }
}

fn progress(show: bool, len: u64) -> ProgressBar {
    if !show {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(Some(len), ProgressDrawTarget::stderr());
    bar.set_style(
        ProgressStyle::with_template(
            "{bar:40} {bytes}/{total_bytes} {binary_bytes_per_sec} eta {eta}",
        )
        .expect("static template"),
    );
    bar
}

fn report(what: &str, name: &Path, orig: u64, comp: u64, t: Instant) {
    let name = name.display();
    let s = t.elapsed().as_secs_f64();
    eprintln!(
        "{what} {name}: {orig} -> {comp} bytes ({:.2}%), {:.2} s, {:.2} GB/s",
        100.0 * comp as f64 / orig.max(1) as f64,
        s,
        orig as f64 / s / 1e9
    );
}
