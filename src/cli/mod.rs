//! The `znn-gpu` command: parse, call the library, report. No codec, file or folder logic lives
//! here: one file per command, plus the hints this front end adds to library errors.

mod bench;
mod compress;
mod decompress;
mod extract;
mod folder;
mod hints;
mod info;
mod info_folder;
mod mount;
mod signals;
mod verify;

use clap::{Parser, Subcommand, ValueEnum};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::Instant;
use znn_gpu::{CompressOptions, Device, Error, Layout, Result};

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
    #[arg(long, default_value_t = znn_gpu::constants::DEFAULT_CHUNK_SIZE)]
    chunk_size: u32,
    /// Symbols per Huffman sub-stream (a power of two, 256..=65536).
    #[arg(long, default_value_t = znn_gpu::constants::DEFAULT_SUB_SYMBOLS)]
    sub_symbols: u32,
    /// Codecs the encoder may use: fast (format v1, every decoder), balanced (+ pair codes,
    /// format v3: smaller files, slower decode), small (pair codes with the best width per
    /// chunk) or smallest (+ rANS, format v4: the smallest files and deltas, slowest).
    #[arg(long, default_value = "fast")]
    codecs: String,
}

impl CodecArgs {
    fn options(&self) -> Result<CompressOptions> {
        Ok(CompressOptions {
            chunk_size: self.chunk_size,
            sub_symbols: self.sub_symbols,
            dtype: Layout::from_dtype_name(&self.dtype)?,
            base: None,
            codecs: znn_gpu::codec::CodecSet::from_name(&self.codecs)?,
        })
    }
}

/// `--device`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum DeviceArg {
    /// The multithreaded CPU decoder.
    Cpu,
    /// The GPU decoder; an error when no adapter exists (a software adapter such as lavapipe counts).
    Gpu,
    /// The GPU when a hardware adapter exists and the job is large, else the CPU.
    Auto,
}

impl From<DeviceArg> for Device {
    fn from(d: DeviceArg) -> Device {
        match d {
            DeviceArg::Cpu => Device::Cpu,
            DeviceArg::Gpu => Device::Gpu,
            DeviceArg::Auto => Device::Auto,
        }
    }
}

/// What `compress` and `decompress` share.
#[derive(clap::Args)]
struct Io {
    /// Input file or folder, or - for standard input.
    input: PathBuf,
    /// Output file or folder (default: beside the input; - for standard output).
    #[arg(short, long)]
    output: Option<PathBuf>,
    /// Overwrite existing outputs.
    #[arg(short, long)]
    force: bool,
    /// Replace each input by its new form once that is verified (follows Hugging Face cache
    /// symlinks into blobs/).
    #[arg(long, conflicts_with = "output")]
    in_place: bool,
    /// The base: compress stores the input as a delta (XOR) against this original file (or folder
    /// of files); decompress needs the base a delta was made against.
    #[arg(long)]
    base: Option<PathBuf>,
}

#[derive(Subcommand)]
enum Cmd {
    /// Compress a file or a model folder (safetensors recognised by its header; anything else by
    /// --dtype). A folder's weight files become NAME.znn; other files are left alone.
    Compress {
        #[command(flatten)]
        io: Io,
        #[command(flatten)]
        codec: CodecArgs,
    },
    /// Decompress a .znn file, or every .znn file of a folder.
    Decompress {
        #[command(flatten)]
        io: Io,
        /// Decoder: cpu, gpu, or auto (the GPU when a hardware adapter exists and the file is
        /// large, else the CPU).
        #[arg(long, value_enum, default_value = "auto")]
        device: DeviceArg,
    },
    /// Decode a .znn file and check every chunk's checksum, writing nothing (like `zstd -t`).
    Verify {
        /// A .znn file.
        file: PathBuf,
        /// The original base file a delta was made against.
        #[arg(long)]
        base: Option<PathBuf>,
        /// Decoder: cpu, gpu, or auto.
        #[arg(long, value_enum, default_value = "auto")]
        device: DeviceArg,
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
        device: DeviceArg,
    },
    /// Show sizes, ratio, a summary per layout with the entropy bounds (and a per-segment,
    /// per-stream table with --segments) of a .znn file; sums for a folder.
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
        /// Also the per-segment, per-stream table (always in --json).
        #[arg(long)]
        segments: bool,
        /// The base a delta was made against: its delta segments' bounds are then of the XOR
        /// bytes the coder saw (without it they are left out, and --tensors reads standalone
        /// chunks only).
        #[arg(long)]
        base: Option<PathBuf>,
    },
    /// Mount a .znn file or a compressed folder (or Hugging Face snapshot) read-only at MOUNTPOINT,
    /// every NAME.znn shown as NAME with its original bytes (FUSE). Returns once the mount is live;
    /// `fusermount3 -u MOUNTPOINT` or `umount MOUNTPOINT` ends it.
    Mount {
        /// A .znn file, or a folder compressed by `compress DIR` or `--in-place`.
        src: PathBuf,
        /// An existing folder.
        mountpoint: PathBuf,
        /// The base of deltas: a file (SRC is one .znn) or a folder holding BASE/REL per file.
        #[arg(long)]
        base: Option<PathBuf>,
        /// MiB of decoded chunks kept for all open files together (default 256).
        #[arg(long)]
        cache_mib: Option<u64>,
        /// Stay in the foreground (SIGINT or SIGTERM unmounts).
        #[arg(short, long)]
        foreground: bool,
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
        device: DeviceArg,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
        /// The GPU device report only (identity, limits, memory types, kernel-only and end-to-end
        /// GB/s with the host breakdown, uncompressed upload); FILE may be an original or a .znn.
        #[arg(long)]
        gpu: bool,
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
    quiet_wsi();
    signals::install();
    let r = run(cli);
    // A failed run dropped (deleted) its temporary file: nothing is left for the handler.
    signals::clear();
    match r {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("error: {}", hints::explain(&e));
            1
        }
    }
}

/// Mesa's window-system layer prints "error: XDG_RUNTIME_DIR is invalid or not set" when a Vulkan
/// instance is created without it, although no window is ever used: a private one is made for
/// this process (before any thread starts), so that probing for a GPU prints nothing.
fn quiet_wsi() {
    #[cfg(unix)]
    if std::env::var_os("XDG_RUNTIME_DIR").is_none() {
        use std::os::unix::fs::DirBuilderExt;
        let d = std::env::temp_dir().join(format!("znn-gpu-runtime-{}", unsafe_uid()));
        let ok = std::fs::DirBuilder::new().mode(0o700).create(&d).is_ok()
            || std::fs::metadata(&d).is_ok_and(|m| m.is_dir());
        if ok {
            std::env::set_var("XDG_RUNTIME_DIR", &d);
        }
    }
}

#[cfg(unix)]
fn unsafe_uid() -> u32 {
    // SAFETY: getuid has no preconditions and cannot fail.
    unsafe { libc::getuid() }
}

fn run(cli: Cli) -> Result<()> {
    if let Some(n) = cli.threads {
        if n == 0 {
            return Err(Error::InvalidArgument(
                "--threads must be at least 1".into(),
            ));
        }
        rayon::ThreadPoolBuilder::new()
            .num_threads(n)
            .build_global()
            .map_err(|e| Error::InvalidArgument(format!("thread pool: {e}")))?;
    }
    let ui = Ui {
        show: !cli.quiet && std::io::stderr().is_terminal(),
        verbose: cli.verbose,
    };
    match cli.cmd {
        Cmd::Compress { io, codec } => compress::run(&io, &codec.options()?, ui),
        Cmd::Decompress { io, device } => decompress::run(&io, device.into(), ui),
        Cmd::Verify { file, base, device } => {
            verify::run(&file, base.as_deref(), device.into(), ui)
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
            device: device.into(),
            ui,
        }),
        Cmd::Info {
            file,
            json,
            tensors,
            segments,
            base,
        } => info::run(&file, base.as_deref(), json, tensors, segments),
        Cmd::Mount {
            src,
            mountpoint,
            base,
            cache_mib,
            foreground,
        } => mount::run(&mount::Request {
            src: &src,
            mountpoint: &mountpoint,
            base: base.as_deref(),
            cache_mib,
            foreground,
            threads: cli.threads,
        }),
        Cmd::Bench {
            file,
            runs,
            codec,
            json,
            gpu: true,
            ..
        } => bench::run_gpu(&file, &codec.options()?, runs.max(1), json),
        Cmd::Bench {
            file,
            runs,
            codec,
            device,
            json,
            gpu: false,
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

/// `-v`'s last line: `from -> to` bytes in the direction of the work, with the ratio of the
/// compressed size to the original.
fn report(what: &str, name: &Path, original: u64, compressed: u64, t: Instant) {
    let name = name.display();
    let s = t.elapsed().as_secs_f64();
    let (from, to) = if what.starts_with("decompressed") {
        (compressed, original)
    } else {
        (original, compressed)
    };
    eprintln!(
        "{what} {name}: {from} -> {to} bytes (compressed {:.2}% of original), {:.2} s, {:.2} GB/s",
        100.0 * compressed as f64 / original.max(1) as f64,
        s,
        original as f64 / s / 1e9
    );
}
