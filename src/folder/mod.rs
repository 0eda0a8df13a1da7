//! Model folders: every weight file of a folder (or of a Hugging Face cache snapshot) at once, and
//! the folder view (a compressed tree seen as its original).
//!
//! Files are processed by up to `threads` workers, largest first; each file's chunks are coded on
//! the same global rayon pool, so the thread budget is shared and at most one file per worker (a
//! few 4 MiB windows each) is in memory. Every target is checked before any work starts; a file
//! that fails leaves no output of its own (outputs are atomic), the others are finished, and every
//! failure is reported.

#![forbid(unsafe_code)]

mod inplace;
mod model;
mod summary;
mod view;
mod walk;

pub use model::{snapshot, ModelFiles, Shard};
pub use summary::{summarize, FileRow, Sum, Summary};
pub use view::{FolderView, Node, NodeKind};
pub use walk::{classify, single, walk, Entry, Kind};

use crate::compress::CompressOptions;
use crate::decoder::{Decoder, Ran};
use crate::error::{Error, Result};
use crate::files::{self, Done, FileOptions};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Mutex;

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
            Direction::Compress => files::znn_name(p),
            Direction::Decompress => files::strip_znn(p).unwrap_or_else(|_| {
                let mut s = p.as_os_str().to_owned();
                s.push(".orig");
                s.into()
            }),
        }
    }

    pub fn verb(self) -> &'static str {
        match self {
            Direction::Compress => "compressed",
            Direction::Decompress => "decompressed",
        }
    }
}

/// What a folder operation tells its caller as it goes (all optional; the CLI draws a bar).
pub trait Events: Sync {
    /// The original bytes of the whole job, once known.
    fn total(&self, _bytes: u64) {}
    /// More original bytes done.
    fn advance(&self, _bytes: u64) {}
    /// A `.znn` left as it is by compress.
    fn skipped(&self, _path: &Path) {}
    /// The decoder chosen for a decompression.
    fn decoder(&self, _ran: &Ran) {}
    /// One file finished.
    fn done(&self, _shown: &str, _d: &Done) {}
}

/// No events.
pub struct Quiet;
impl Events for Quiet {}

/// How a folder (or one file, in place) is processed.
pub struct FolderOptions<'a> {
    /// A mirrored output tree; `None`: beside the inputs.
    pub output: Option<&'a Path>,
    pub force: bool,
    /// Replace each input by its verified new form.
    pub in_place: bool,
    /// A folder of bases (`BASE/REL` per file), or, for a single file in place, that file's base.
    pub base: Option<&'a Path>,
    /// How to compress (compress only).
    pub codec: CompressOptions,
    /// Who decodes (decompress only).
    pub decoder: &'a Decoder,
    pub events: &'a dyn Events,
}

/// Totals of a finished folder operation.
#[derive(Clone, Debug, Default)]
pub struct Report {
    /// Files compressed or decompressed (copies and reused blobs not counted).
    pub files: u64,
    pub original: u64,
    pub compressed: u64,
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

/// Compresses or decompresses `input` (a folder, or one file in place) as `o` says.
pub fn run(dir: Direction, input: &Path, o: &FolderOptions) -> Result<Report> {
    let is_dir = input.is_dir();
    let shown = input.display();
    if let Some(b) = o.base {
        if is_dir && !b.is_dir() {
            return Err(Error::invalid(format!(
                "the base {} must be a folder when the input is a folder",
                b.display()
            )));
        }
    }
    let entries = if is_dir {
        walk::walk(input)?
    } else {
        vec![walk::single(input)?]
    };
    let kind = dir.input_kind();
    if !entries.iter().any(|e| e.kind == kind) {
        let done = entries.iter().filter(|e| e.kind == Kind::Znn).count();
        return Err(Error::invalid(match (dir, is_dir) {
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
    if dir == Direction::Compress {
        for e in entries.iter().filter(|e| e.kind == Kind::Znn) {
            o.events.skipped(&e.path);
        }
    }
    let base_for = |rel: &Path| -> Option<PathBuf> {
        let b = o.base?;
        if !is_dir {
            return Some(b.to_path_buf());
        }
        let orig = match dir {
            Direction::Compress => rel.to_path_buf(),
            Direction::Decompress => dir.rename(rel),
        };
        Some(b.join(orig)).filter(|p| p.is_file())
    };
    let (mut jobs, conflicts) = if o.in_place {
        let (reps, conflicts) = inplace::plan(&entries, dir, o.force)?;
        let jobs = reps
            .into_iter()
            .map(|r| {
                let b = base_for(&r.rel);
                Job::Replace(r, b)
            })
            .collect();
        (jobs, conflicts)
    } else {
        if let Some(out) = o.output {
            check_output(input, out)?;
        }
        plan_outputs(&entries, o.output, dir, o.force, &base_for)
    };
    if !conflicts.is_empty() {
        return Err(Error::OutputsExist(conflicts));
    }
    let mut largest = 0;
    if dir == Direction::Decompress {
        // Progress counts original bytes: a `.znn`'s trailer says how many.
        for j in &mut jobs {
            match j {
                Job::Code { src, len, .. } => *len = original_len(src).unwrap_or(*len),
                Job::Replace(r, _) => r.len = original_len(&r.src).unwrap_or(r.len),
                Job::Copy { .. } => {}
            }
            if !matches!(j, Job::Copy { .. }) {
                largest = largest.max(j.len());
            }
        }
    }
    jobs.sort_by_key(|j| std::cmp::Reverse(j.len()));
    o.events.total(jobs.iter().map(Job::len).sum());
    let gpu = dir == Direction::Decompress && o.decoder.uses_gpu(largest);
    if dir == Direction::Decompress {
        o.events.decoder(&o.decoder.describe(largest));
    }
    // One GPU decoder serves one file at a time; the CPU paths share the rayon pool.
    let threads = rayon::current_num_threads();
    let workers = if gpu { 1 } else { threads }.min(jobs.len());
    let sums = [AtomicU64::new(0), AtomicU64::new(0), AtomicU64::new(0)];
    let failures = run_jobs(&jobs, workers, |j| {
        if let Some(d) = do_job(j, dir, o)? {
            sums[0].fetch_add(1, Ordering::Relaxed);
            sums[1].fetch_add(d.original, Ordering::Relaxed);
            sums[2].fetch_add(d.compressed, Ordering::Relaxed);
            o.events.done(&j.shown(), &d);
        }
        Ok(())
    });
    if !failures.is_empty() {
        return Err(Error::FilesFailed {
            total: jobs.len(),
            verb: dir.verb(),
            failures: failures
                .into_iter()
                .map(|(i, e)| (jobs[i].shown(), e))
                .collect(),
        });
    }
    let [files, original, compressed] = sums.map(AtomicU64::into_inner);
    Ok(Report {
        files,
        original,
        compressed,
    })
}

/// Jobs writing beside the inputs (no `output`) or into a mirrored tree under `output`, and the
/// targets that exist already.
fn plan_outputs(
    entries: &[Entry],
    output: Option<&Path>,
    dir: Direction,
    force: bool,
    base_for: &dyn Fn(&Path) -> Option<PathBuf>,
) -> (Vec<Job>, Vec<String>) {
    let mut jobs = Vec::new();
    for e in entries {
        let coded = e.kind == dir.input_kind();
        let dst = match (output, coded) {
            (None, false) => continue,
            (None, true) => dir.rename(&e.path),
            (Some(o), true) => o.join(dir.rename(&e.rel)),
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
        } else if !force && std::fs::symlink_metadata(dst).is_ok() {
            conflicts.push(dst.display().to_string());
        }
    }
    (jobs, conflicts)
}

fn do_job(j: &Job, dir: Direction, o: &FolderOptions) -> Result<Option<Done>> {
    let progress = |n: u64| o.events.advance(n);
    match j {
        Job::Code { src, dst, base, .. } => {
            make_parent(dst)?;
            code(dir, o, src, dst, base.as_deref(), false).map(Some)
        }
        Job::Copy { src, dst, len } => {
            make_parent(dst)?;
            let mut out = files::Output::create(dst, o.force, Some(src))?;
            let mut f = std::fs::File::open(src)
                .map_err(|e| Error::io(format!("opening {}", src.display()), e))?;
            std::io::copy(&mut f, out.writer())
                .map_err(|e| Error::io(format!("copying {}", src.display()), e))?;
            out.commit()?;
            progress(*len);
            Ok(None)
        }
        Job::Replace(r, base) => {
            let b = base.as_deref();
            let produce = |src: &Path, dst: &Path| code(dir, o, src, dst, b, true);
            let (decoded, read) = (
                |p: &Path| files::decoded_hash(p, b),
                |p: &Path| files::file_hash(p),
            );
            let steps = match dir {
                Direction::Compress => inplace::Steps {
                    dir,
                    force: o.force,
                    produce: &produce,
                    original_of_new: &decoded,
                    original_of_old: &read,
                },
                Direction::Decompress => inplace::Steps {
                    dir,
                    force: o.force,
                    produce: &produce,
                    original_of_new: &read,
                    original_of_old: &decoded,
                },
            };
            let d = inplace::replace(r, &steps)?;
            if d.is_none() {
                progress(r.len);
            }
            Ok(d)
        }
    }
}

/// Compresses or decompresses one file. A `staged` output (in place) is always replaced (a
/// crashed run's leftover) and the original bytes are hashed for the verification that follows.
fn code(
    dir: Direction,
    o: &FolderOptions,
    src: &Path,
    dst: &Path,
    base: Option<&Path>,
    staged: bool,
) -> Result<Done> {
    let progress = |n: u64| o.events.advance(n);
    let f = FileOptions {
        force: staged || o.force,
        base,
        hash: staged,
        progress: Some(&progress),
    };
    match dir {
        Direction::Compress => files::compress_file(src, dst, &o.codec, &f),
        Direction::Decompress => files::decompress_file(src, dst, o.decoder, &f),
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
    let src = crate::source::FileSource::open(p).ok()?;
    let a = crate::archive::Archive::read(&src).ok()?;
    Some(a.original_len())
}

/// Refuses an output that is not a folder, and an output folder inside the input folder or the
/// other way round (the walk would list its own outputs, or the outputs would overwrite the
/// inputs).
fn check_output(input: &Path, output: &Path) -> Result<()> {
    if output.as_os_str() == "-" {
        return Err(Error::invalid(
            "a folder cannot be written to standard output: the output must be a folder",
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
