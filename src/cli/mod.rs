//! Command-line interface: parse, call the library, report. No codec logic lives here.

mod bench;
mod device;
mod files;
mod info;
mod signals;

use crate::error::{Error, Result};
use crate::layout::Layout;
use crate::{compress_stream, decompress_stream, CompressOptions};
use clap::{Parser, Subcommand};
use files::{open_input, Output};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::{BufReader, IsTerminal};
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
    /// Compress a file (safetensors recognised by its header; anything else by --dtype).
    Compress {
        /// Input file, or - for standard input.
        input: PathBuf,
        /// Output (default: INPUT.znn; - for standard output).
        #[arg(short, long)]
        output: Option<PathBuf>,
        /// Overwrite an existing output.
        #[arg(short, long)]
        force: bool,
        #[command(flatten)]
        codec: CodecArgs,
    },
    /// Decompress a .znn file.
    Decompress {
        /// Input .znn file, or - for standard input.
        input: PathBuf,
        /// Output (default: INPUT without .znn; - for standard output).
        #[arg(short, long)]
        output: Option<PathBuf>,
        /// Overwrite an existing output.
        #[arg(short, long)]
        force: bool,
        /// Decoder: cpu, gpu, or auto (the GPU when a hardware adapter exists, else the CPU).
        #[arg(long, value_enum, default_value = "auto")]
        device: device::DeviceArg,
    },
    /// Show sizes, ratio and a per-segment, per-stream table of a .znn file.
    Info {
        file: PathBuf,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
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
    let show = !cli.quiet && std::io::stderr().is_terminal();
    match cli.cmd {
        Cmd::Compress {
            input,
            output,
            force,
            codec,
        } => {
            let opts = codec.options()?;
            let out_path = output.unwrap_or_else(|| {
                let mut p = input.clone().into_os_string();
                p.push(".znn");
                p.into()
            });
            if input.as_os_str() == "-" && out_path.as_os_str() == "-.znn" {
                return Err(Error::invalid(
                    "reading stdin needs -o (a file, or - for stdout)",
                ));
            }
            let mut out = Output::create(&out_path, force, Some(&input))?;
            let inp = open_input(&input)?;
            let t = Instant::now();
            let bar = progress(show, inp.len);
            let mut reader = BufReader::with_capacity(1 << 20, inp.file);
            let stats = compress_stream(&mut reader, inp.len, out.writer(), &opts, &mut |d| {
                bar.set_position(d)
            })?;
            out.commit()?;
            bar.finish_and_clear();
            if cli.verbose {
                report(
                    "compressed",
                    &inp.name,
                    stats.original_len,
                    stats.compressed_len,
                    t,
                );
            }
            Ok(())
        }
        Cmd::Decompress {
            input,
            output,
            force,
            device,
        } => {
            let out_path = match output {
                Some(p) => p,
                None => strip_znn(&input)?,
            };
            let mut out = Output::create(&out_path, force, Some(&input))?;
            let inp = open_input(&input)?;
            let gpu = device::choose(device)?;
            let t = Instant::now();
            let mut file = BufReader::with_capacity(1 << 20, inp.file);
            let a = match gpu {
                Some(mut g) => {
                    if cli.verbose {
                        eprintln!("device: gpu: {}", g.describe());
                    }
                    g.decompress_to_writer(&mut file, out.writer())?
                }
                None => {
                    if cli.verbose {
                        eprintln!("device: cpu ({} threads)", rayon::current_num_threads());
                    }
                    let bar = progress(show, 0);
                    let a = decompress_stream(&mut file, out.writer(), &mut |d| {
                        if bar.length() == Some(0) {
                            bar.set_length(d.max(1));
                        }
                        bar.set_position(d)
                    })?;
                    bar.finish_and_clear();
                    a
                }
            };
            out.commit()?;
            if cli.verbose {
                report(
                    "decompressed",
                    &inp.name,
                    a.trailer.original_len,
                    inp.len,
                    t,
                );
            }
            Ok(())
        }
        Cmd::Info { file, json } => info::run(&file, json),
        Cmd::Bench {
            file,
            runs,
            codec,
            device,
            json,
        } => bench::run(&file, &codec.options()?, runs.max(1), device, json),
    }
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

fn strip_znn(input: &Path) -> Result<PathBuf> {
    match input.to_str().and_then(|s| s.strip_suffix(".znn")) {
        Some(s) if !s.is_empty() && s != "-" => Ok(PathBuf::from(s)),
        _ => Err(Error::invalid(format!(
            "cannot derive an output name from {} (it does not end in .znn): use -o",
            input.display()
        ))),
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

fn report(what: &str, name: &str, orig: u64, comp: u64, t: Instant) {
    let s = t.elapsed().as_secs_f64();
    eprintln!(
        "{what} {name}: {orig} -> {comp} bytes ({:.2}%), {:.2} s, {:.2} GB/s",
        100.0 * comp as f64 / orig.max(1) as f64,
        s,
        orig as f64 / s / 1e9
    );
}
