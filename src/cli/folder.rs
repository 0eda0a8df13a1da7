//! Model folders: every weight file of a folder (or of a Hugging Face cache snapshot) at once.
//!
//! Files are processed by up to `--threads` workers, largest first; each file's chunks are coded on
//! the same global rayon pool, so the thread budget is shared and at most one file per worker (a
//! few 4 MiB windows each) is in memory. One progress bar counts the original bytes of the whole
//! folder. Every target is checked before any work starts; a file that fails leaves no output of
//! its own (outputs are atomic), the others are finished, and every failure is reported.

mod inplace;
mod summary;
mod walk;

use super::device::DeviceArg;
use super::ops::{self, Done};
use super::Ui;
use crate::error::{Error, Result};
use crate::gpu::GpuDecoder;
use crate::CompressOptions;
use indicatif::ProgressBar;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Instant;
use walk::{Entry, Kind};

pub use summary::info;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    Compress,
    Decompress,
}

impl Direction {
    /// The kind of file this direction works on; the others are left alone (or copied).
    fn input_kind(self) -> Kind {
        match self {
            Direction::Compress => Kind::Weight,
            Direction::Decompress => Kind::Znn,
        }
    }

    /// The output name of `p`: `p.znn`, or `p` without `.znn` (`p.orig` for a `.znn` blob of a
    /// cache whose name lacks the suffix).
    fn rename(self, p: &Path) -> PathBuf {
        match self {
            Direction::Compress => ops::znn_name(p),
            Direction::Decompress => ops::strip_znn(p).unwrap_or_else(|_| {
                let mut s = p.as_os_str().to_owned();
                s.push(".orig");
                s.into()
            }),
        }
    }

    fn verb(self) -> &'static str {
        match self {
            Direction::Compress => "compressed",
            Direction::Decompress => "decompressed",
        }
    }
}

/// What one invocation does to every file.
struct Ctx<'a> {
    dir: Direction,
    force: bool,
    opts: CompressOptions,
    device: DeviceArg,
    /// `--base`: a folder (per-file bases BASEDIR/REL) or, for a single file, that file.
    base: Option<&'a Path>,
    ui: Ui,
}

/// `compress DIR` / `compress FILE --in-place`.
pub fn compress(
    input: &Path,
    output: Option<&Path>,
    force: bool,
    in_place: bool,
    opts: &CompressOptions,
    base: Option<&Path>,
    ui: Ui,
) -> Result<()> {
    let c = Ctx {
        dir: Direction::Compress,
        force,
        opts: *opts,
        device: DeviceArg::Cpu,
        base,
        ui,
    };
    run(input, output, in_place, &c)
}

/// `decompress DIR` / `decompress FILE.znn --in-place`.
pub fn decompress(
    input: &Path,
    output: Option<&Path>,
    force: bool,
    in_place: bool,
    device: DeviceArg,
    base: Option<&Path>,
    ui: Ui,
) -> Result<()> {
    let c = Ctx {
        dir: Direction::Decompress,
        force,
        opts: CompressOptions::default(),
        device,
        base,
        ui,
    };
    run(input, output, in_place, &c)
}

/// One unit of work.
enum Job {
    /// Compress or decompress `src` to `dst`.
    Code {
        src: PathBuf,
        dst: PathBuf,
        base: Option<PathBuf>,
        len: u64,
    },
    /// Copy a file left alone into the mirrored output tree.
    Copy {
        src: PathBuf,
        dst: PathBuf,
        len: u64,
    },
    Replace(inplace::Replace, Option<PathBuf>),
}

impl Job {
    fn len(&self) -> u64 {
        match self {
            Job::Code { len, .. } | Job::Copy { len, .. } => *len,
            Job::Replace(r, _) => r.len,
        }
    }
    fn shown(&self) -> String {
        match self {
            Job::Code { src, .. } | Job::Copy { src, .. } => src.display().to_string(),
            Job::Replace(r, _) => r.shown(),
        }
    }
}

fn run(input: &Path, output: Option<&Path>, in_place: bool, c: &Ctx) -> Result<()> {
    let t = Instant::now();
    let is_dir = input.is_dir();
    let shown = input.display();
    if let Some(b) = c.base {
        if is_dir && !b.is_dir() {
            return Err(Error::invalid(format!(
                "--base {} must be a folder when the input is a folder",
                b.display()
            )));
        }
    }
    let entries = if is_dir {
        walk::walk(input)?
    } else {
        vec![walk::single(input)?]
    };
    let kind = c.dir.input_kind();
    if !entries.iter().any(|e| e.kind == kind) {
        let done = entries.iter().filter(|e| e.kind == Kind::Znn).count();
        return Err(Error::invalid(match (c.dir, is_dir) {
            (Direction::Compress, true) if done > 0 => {
                format!(
                    "no weight files found in {shown} ({done} .znn files are compressed already)"
                )
            }
            (Direction::Compress, true) => format!("no weight files found in {shown}"),
            (Direction::Decompress, true) => format!("no .znn files found in {shown}"),
            (Direction::Compress, false) => format!("{shown} is compressed already"),
            (Direction::Decompress, false) => format!("{shown} is not a .znn file"),
        }));
    }
    if c.ui.verbose && c.dir == Direction::Compress {
        for e in entries.iter().filter(|e| e.kind == Kind::Znn) {
            eprintln!("skipping {} (compressed already)", e.path.display());
        }
    }
    let base_for = |rel: &Path| -> Option<PathBuf> {
        let b = c.base?;
        if !is_dir {
            return Some(b.to_path_buf());
        }
        let orig = match c.dir {
            Direction::Compress => rel.to_path_buf(),
            Direction::Decompress => c.dir.rename(rel),
        };
        Some(b.join(orig)).filter(|p| p.is_file())
    };
    let (mut jobs, conflicts) = if in_place {
        let (reps, conflicts) = inplace::plan(&entries, c.dir, c.force)?;
        let jobs = reps
            .into_iter()
            .map(|r| {
                let b = base_for(&r.rel);
                Job::Replace(r, b)
            })
            .collect();
        (jobs, conflicts)
    } else {
        if let Some(o) = output {
            check_output(input, o)?;
        }
        plan_outputs(&entries, output, c, &base_for)
    };
    if !conflicts.is_empty() {
        return Err(Error::invalid(format!(
            "{} output(s) exist already (use -f to overwrite):\n  {}",
            conflicts.len(),
            conflicts.join("\n  ")
        )));
    }
    if c.dir == Direction::Decompress {
        // The bar counts original bytes: a `.znn`'s trailer says how many.
        for j in &mut jobs {
            match j {
                Job::Code { src, len, .. } => *len = original_len(src).unwrap_or(*len),
                Job::Replace(r, _) => r.len = original_len(&r.src).unwrap_or(r.len),
                Job::Copy { .. } => {}
            }
        }
    }
    jobs.sort_by_key(|j| std::cmp::Reverse(j.len()));
    let total: u64 = jobs.iter().map(Job::len).sum();
    let bar = super::progress(c.ui.show, total);
    let gpu = match c.dir {
        Direction::Decompress => super::device::choose(c.device)?,
        Direction::Compress => None,
    };
    let threads = rayon::current_num_threads();
    if c.ui.verbose {
        match &gpu {
            Some(g) => eprintln!("device: gpu: {}", g.describe()),
            None if c.dir == Direction::Decompress => {
                eprintln!("device: cpu ({threads} threads)")
            }
            None => {}
        }
    }
    // One GPU decoder serves one file at a time; the CPU paths share the rayon pool.
    let workers = if gpu.is_some() { 1 } else { threads }.min(jobs.len());
    let gpu = gpu.map(Mutex::new);
    let sums = [AtomicU64::new(0), AtomicU64::new(0), AtomicU64::new(0)];
    let failures = run_jobs(&jobs, workers, |j| {
        let d = do_job(j, c, gpu.as_ref(), &bar)?;
        if let Some(d) = d {
            sums[0].fetch_add(1, Ordering::Relaxed);
            sums[1].fetch_add(d.original, Ordering::Relaxed);
            sums[2].fetch_add(d.compressed, Ordering::Relaxed);
            if c.ui.verbose {
                bar.suspend(|| {
                    eprintln!(
                        "{} {}: {} -> {} bytes",
                        c.dir.verb(),
                        j.shown(),
                        d.original,
                        d.compressed
                    )
                });
            }
        }
        Ok(())
    });
    bar.finish_and_clear();
    if !failures.is_empty() {
        let list: Vec<String> = failures
            .iter()
            .map(|(i, e)| format!("{}: {e}", jobs[*i].shown()))
            .collect();
        return Err(Error::invalid(format!(
            "{} of {} files failed (the others were {}; failed files have no output):\n  {}",
            failures.len(),
            jobs.len(),
            c.dir.verb(),
            list.join("\n  ")
        )));
    }
    if c.ui.verbose {
        let n = sums[0].load(Ordering::Relaxed);
        let (o, z) = (
            sums[1].load(Ordering::Relaxed),
            sums[2].load(Ordering::Relaxed),
        );
        let what = format!("{} ({n} files)", input.display());
        super::report(c.dir.verb(), Path::new(&what), o, z, t);
    }
    Ok(())
}

/// Jobs writing beside the inputs (no `output`) or into a mirrored tree under `output`, and the
/// targets that exist already.
fn plan_outputs(
    entries: &[Entry],
    output: Option<&Path>,
    c: &Ctx,
    base_for: &dyn Fn(&Path) -> Option<PathBuf>,
) -> (Vec<Job>, Vec<String>) {
    let mut jobs = Vec::new();
    for e in entries {
        let coded = e.kind == c.dir.input_kind();
        let dst = match (output, coded) {
            (None, false) => continue,
            (None, true) => c.dir.rename(&e.path),
            (Some(o), true) => o.join(c.dir.rename(&e.rel)),
            (Some(o), false) => o.join(&e.rel),
        };
        jobs.push(if coded {
            Job::Code {
                src: e.path.clone(),
                dst,
                base: base_for(&e.rel),
                len: e.len,
            }
        } else {
            Job::Copy {
                src: e.path.clone(),
                dst,
                len: e.len,
            }
        });
    }
    let mut conflicts = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for j in &jobs {
        let (Job::Code { dst, .. } | Job::Copy { dst, .. }) = j else {
            continue;
        };
        if !seen.insert(dst.clone()) {
            conflicts.push(format!("{} (two inputs would write it)", dst.display()));
        } else if !c.force && std::fs::symlink_metadata(dst).is_ok() {
            conflicts.push(dst.display().to_string());
        }
    }
    (jobs, conflicts)
}

fn do_job(
    j: &Job,
    c: &Ctx,
    gpu: Option<&Mutex<GpuDecoder>>,
    bar: &ProgressBar,
) -> Result<Option<Done>> {
    match j {
        Job::Code { src, dst, base, .. } => {
            make_parent(dst)?;
            code(c, gpu, src, dst, base.as_deref(), bar, Target::Output).map(Some)
        }
        Job::Copy { src, dst, len } => {
            make_parent(dst)?;
            let mut out = super::files::Output::create(dst, c.force, Some(src))?;
            let mut f = std::fs::File::open(src)
                .map_err(|e| Error::io(format!("opening {}", src.display()), e))?;
            std::io::copy(&mut f, out.writer())
                .map_err(|e| Error::io(format!("copying {}", src.display()), e))?;
            out.commit()?;
            bar.inc(*len);
            Ok(None)
        }
        Job::Replace(r, base) => {
            let b = base.as_deref();
            let produce = |src: &Path, dst: &Path| code(c, gpu, src, dst, b, bar, Target::Staged);
            let (decoded, read) = (
                |p: &Path| ops::decoded_hash(p, b),
                |p: &Path| ops::file_hash(p),
            );
            let steps = match c.dir {
                Direction::Compress => inplace::Steps {
                    dir: c.dir,
                    force: c.force,
                    produce: &produce,
                    original_of_new: &decoded,
                    original_of_old: &read,
                },
                Direction::Decompress => inplace::Steps {
                    dir: c.dir,
                    force: c.force,
                    produce: &produce,
                    original_of_new: &read,
                    original_of_old: &decoded,
                },
            };
            let d = inplace::replace(r, &steps)?;
            if d.is_none() {
                bar.inc(r.len);
            }
            Ok(d)
        }
    }
}

/// What `code` writes.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Target {
    /// A final output: an existing file is replaced only with -f.
    Output,
    /// An in-place staging file: always replaced (a crashed run's leftover), and the original
    /// bytes are hashed for the verification that follows.
    Staged,
}

/// Compresses or decompresses one file.
fn code(
    c: &Ctx,
    gpu: Option<&Mutex<GpuDecoder>>,
    src: &Path,
    dst: &Path,
    base: Option<&Path>,
    bar: &ProgressBar,
    target: Target,
) -> Result<Done> {
    let hash = target == Target::Staged;
    let force = hash || c.force;
    match (c.dir, gpu) {
        (Direction::Compress, _) => {
            ops::compress_file_with(src, dst, force, &c.opts, base, bar, hash)
        }
        (Direction::Decompress, Some(g)) => {
            let mut g = g.lock().unwrap_or_else(|p| p.into_inner());
            ops::decompress_file_on(src, dst, force, Some(&mut g), base, bar, hash)
        }
        (Direction::Decompress, None) => {
            ops::decompress_file_on(src, dst, force, None, base, bar, hash)
        }
    }
}

/// Runs `f` on every job with `workers` threads taking the next job in order; returns the
/// failures (job index, error). Every job is attempted: one failure does not stop the others.
fn run_jobs<J: Sync>(
    jobs: &[J],
    workers: usize,
    f: impl Fn(&J) -> Result<()> + Sync,
) -> Vec<(usize, Error)> {
    let next = AtomicUsize::new(0);
    let failures = Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for _ in 0..workers.max(1) {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(j) = jobs.get(i) else { break };
                if let Err(e) = f(j) {
                    failures.lock().unwrap().push((i, e));
                }
            });
        }
    });
    let mut v = failures.into_inner().unwrap();
    v.sort_by_key(|(i, _)| *i);
    v
}

fn make_parent(p: &Path) -> Result<()> {
    match p.parent() {
        Some(d) if !d.as_os_str().is_empty() => std::fs::create_dir_all(d)
            .map_err(|e| Error::io(format!("creating {}", d.display()), e)),
        _ => Ok(()),
    }
}

/// Original length recorded in a `.znn`'s trailer.
fn original_len(p: &Path) -> Option<u64> {
    let f = std::fs::File::open(p).ok()?;
    let a = crate::archive::Archive::read(&mut std::io::BufReader::new(f)).ok()?;
    Some(a.trailer.original_len)
}

/// Refuses an output that is not a folder, and an output folder inside the input folder or the
/// other way round (the walk would list its own outputs, or the outputs would overwrite the
/// inputs).
fn check_output(input: &Path, output: &Path) -> Result<()> {
    if output.as_os_str() == "-" {
        return Err(Error::invalid(
            "a folder cannot be written to standard output: -o needs a folder",
        ));
    }
    if output.exists() && !output.is_dir() {
        return Err(Error::invalid(format!(
            "output {} exists and is not a folder",
            output.display()
        )));
    }
    let i = input
        .canonicalize()
        .map_err(|e| Error::io(format!("reading {}", input.display()), e))?;
    let o = lenient_canonical(output)?;
    if o.starts_with(&i) || i.starts_with(&o) {
        return Err(Error::invalid(format!(
            "input {} and output {} are nested in each other: choose an output folder outside",
            input.display(),
            output.display()
        )));
    }
    Ok(())
}

/// The canonical form of a path that may not exist yet: its deepest existing ancestor
/// canonicalized, the rest appended.
fn lenient_canonical(p: &Path) -> Result<PathBuf> {
    let abs = std::path::absolute(p).map_err(|e| Error::io(format!("{}", p.display()), e))?;
    let mut rest = Vec::new();
    let mut cur = abs.as_path();
    loop {
        if let Ok(c) = cur.canonicalize() {
            return Ok(rest.iter().rev().fold(c, |acc, n| acc.join(n)));
        }
        match (cur.parent(), cur.file_name()) {
            (Some(parent), Some(name)) => {
                rest.push(name.to_os_string());
                cur = parent;
            }
            _ => return Ok(abs),
        }
    }
}
