//! `--in-place`: each file is replaced by its compressed (or decompressed) form only once that form
//! is written, synced and verified; a Hugging Face cache snapshot is updated through its links.
//!
//! A regular file `NAME` (compress; decompress is the mirror image, `NAME.znn` -> `NAME`):
//! 1. the new form is written to `.znn-gpu-verify-NAME.znn` beside it (temporary file, fsync,
//!    rename). Crash: a hidden staging file is left (never listed, overwritten by the next run);
//!    `NAME` is untouched.
//! 2. the staged file is verified: decoded (or re-read) and its length and xxh3-64 compared with
//!    those of the original bytes seen while writing it. Crash: as in 1.
//! 3. it is renamed to `NAME.znn` (atomic) and the folder synced. Crash: `NAME` and a verified
//!    `NAME.znn` both exist; a rerun reports `NAME.znn` as an existing output (use -f).
//! 4. `NAME` is removed and the folder synced. From here only the verified `NAME.znn` exists.
//!
//! So at every point the original or a verified replacement exists under its final name.
//!
//! A Hugging Face snapshot file is a link `snapshots/REV/NAME -> ../../blobs/B` (B may be shared
//! by several revisions). The blob is replaced the same way and then the links:
//! 1-3. as above, in `blobs/`: staged `.znn-gpu-verify-B.znn`, verified, renamed to `B.znn`. When
//!    `B.znn` exists already (another revision was compressed before) and decodes to B's bytes it is
//!    reused; one that does not is an error unless -f, which replaces it (after verification, by an
//!    atomic rename, so links to it never see a partial file). Crash: an unreferenced `B.znn`.
//! 4. for each link of the input to B: a link `NAME.znn -> ../../blobs/B.znn` is made under a
//!    temporary name, checked to lead to `B.znn`, renamed over `NAME.znn` (atomic), the folder
//!    synced. Crash: both links exist, each leads to a valid blob.
//! 5. the link `NAME` is removed, the folder synced. Crash: `NAME.znn` leads to `B.znn`.
//! 6. B is deleted only when no link in any `snapshots/*/` of the repo leads to it any more. Crash
//!    before: an orphan blob (space, not correctness).
//!
//! `ZNN_GPU_TEST_CRASH_AT=STEP` (STEP: staged, verified, renamed, linked, unlinked) aborts the
//! process right after that step: a hook for the crash-safety tests, in builds with the
//! `test-hooks` feature only.

use super::walk::{Entry, OWN_PREFIX};
use super::Direction;
use crate::error::{Error, Result};
use crate::files::{sync_dir as sync_folder, Done};
use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};

/// One replacement: a regular file, or a blob of a Hugging Face cache and the input's links to it.
#[derive(Debug)]
pub struct Replace {
    /// The real file: a regular file of the folder, or the blob (canonical path).
    pub src: PathBuf,
    /// The input's links to `src`; empty when `src` is a regular file of the folder.
    pub links: Vec<PathBuf>,
    /// Path relative to the folder of the first file (for --base BASEDIR/REL).
    pub rel: PathBuf,
    pub len: u64,
}

impl Replace {
    /// What is shown for this replacement.
    pub fn shown(&self) -> String {
        self.links
            .first()
            .unwrap_or(&self.src)
            .display()
            .to_string()
    }
}

/// Groups the entries to replace (weights to compress, `.znn` to decompress): links that lead to
/// the same blob become one replacement. Returns the replacements and the outputs that exist
/// already (conflicts unless `force`).
pub fn plan(entries: &[Entry], dir: Direction, force: bool) -> Result<(Vec<Replace>, Vec<String>)> {
    let mut regular = Vec::new();
    let mut blobs: BTreeMap<PathBuf, Replace> = BTreeMap::new();
    let mut conflicts = Vec::new();
    let mut problems = Vec::new();
    for e in entries.iter().filter(|e| e.kind == dir.input_kind()) {
        let new = dir.rename(&e.path);
        if !force && std::fs::symlink_metadata(&new).is_ok() {
            conflicts.push(new.display().to_string());
        }
        if !e.link {
            regular.push(Replace {
                src: e.path.clone(),
                links: Vec::new(),
                rel: e.rel.clone(),
                len: e.len,
            });
            continue;
        }
        match hf_blob(&e.path) {
            Ok(blob) => blobs
                .entry(blob.clone())
                .or_insert_with(|| Replace {
                    src: blob,
                    links: Vec::new(),
                    rel: e.rel.clone(),
                    len: e.len,
                })
                .links
                .push(e.path.clone()),
            Err(m) => problems.push(m),
        }
    }
    if !problems.is_empty() {
        return Err(Error::invalid(format!(
            "replacing in place is not possible for:\n  {}",
            problems.join("\n  ")
        )));
    }
    regular.extend(blobs.into_values());
    Ok((regular, conflicts))
}

/// The blob a Hugging Face snapshot link leads to (directly: `../../blobs/B`), or why the link
/// cannot be replaced in place.
fn hf_blob(link: &Path) -> std::result::Result<PathBuf, String> {
    let shown = link.display();
    let not_hf = || {
        format!("{shown}: a symlink that is not a Hugging Face cache link into blobs/ (write to another folder instead)")
    };
    let blob = link.canonicalize().map_err(|e| format!("{shown}: {e}"))?;
    let blobs = blob.parent().ok_or_else(not_hf)?;
    let repo = blobs.parent().ok_or_else(not_hf)?;
    if blobs.file_name() != Some("blobs".as_ref()) || !repo.join("snapshots").is_dir() {
        return Err(not_hf());
    }
    // The new link is the old target with the blob's new name: the old target must name the blob
    // itself, not another link.
    let target = std::fs::read_link(link).map_err(|e| format!("{shown}: {e}"))?;
    let via = link.parent().unwrap_or(Path::new(".")).join(&target);
    let same_dir = via.parent().and_then(|p| p.canonicalize().ok());
    if target.file_name() != blob.file_name() || same_dir.as_deref() != Some(blobs) {
        return Err(not_hf());
    }
    Ok(blob)
}

/// How the bytes are produced and checked, for one direction.
pub struct Steps<'a> {
    pub dir: Direction,
    pub force: bool,
    /// Writes the new form of `src` to `dst` (atomic output, overwriting): sizes and the xxh3 of
    /// the original bytes.
    pub produce: &'a (dyn Fn(&Path, &Path) -> Result<Done> + Sync),
    /// Length and xxh3 of the original bytes a file holds (a `.znn`: decoded; an original: read).
    pub original_of_new: &'a (dyn Fn(&Path) -> Result<(u64, u64)> + Sync),
    pub original_of_old: &'a (dyn Fn(&Path) -> Result<(u64, u64)> + Sync),
}

/// Replaces one file (or one blob and its links); see the module comment for the order of steps.
/// Returns the sizes (`None` when an existing verified blob was reused).
pub fn replace(r: &Replace, s: &Steps) -> Result<Option<Done>> {
    let new = s.dir.rename(&r.src);
    let write = r.links.is_empty() || !new.exists() || !reuse(r, &new, s)?;
    let done = if write {
        Some(stage_and_rename(&r.src, &new, s)?)
    } else {
        None
    };
    if r.links.is_empty() {
        remove(&r.src)?;
        crash_point("unlinked");
        return Ok(done);
    }
    let new_name = new.file_name().expect("a file name").to_os_string();
    for link in &r.links {
        relink(link, &new_name, &new, s.dir)?;
    }
    let repo = r
        .src
        .parent()
        .and_then(Path::parent)
        .expect("blobs/ in a repo");
    if !referenced(&repo.join("snapshots"), &r.src) {
        std::fs::remove_file(&r.src)
            .map_err(|e| Error::io(format!("removing {}", r.src.display()), e))?;
    }
    Ok(done)
}

/// True when the existing `new` holds the same original bytes as `src`, so it can serve as the
/// replacement; an error when it does not and -f was not given.
fn reuse(r: &Replace, new: &Path, s: &Steps) -> Result<bool> {
    let same = match (s.original_of_new)(new) {
        Ok(h) => h == (s.original_of_old)(&r.src)?,
        Err(_) => false,
    };
    if !same && !s.force {
        return Err(Error::invalid(format!(
            "{} exists and does not hold the content of {} (replace it only by forcing)",
            new.display(),
            r.src.display()
        )));
    }
    Ok(same)
}

/// Steps 1-3: the new form is staged, verified, then renamed to `new`.
fn stage_and_rename(src: &Path, new: &Path, s: &Steps) -> Result<Done> {
    let staged = hidden(new, "verify-");
    let done = (s.produce)(src, &staged)?;
    crash_point("staged");
    let check = (s.original_of_new)(&staged);
    if check.as_ref().ok() != Some(&(done.original, done.hash)) {
        let _ = std::fs::remove_file(&staged);
        let why = match check {
            Err(e) => e.to_string(),
            Ok(_) => "content differs from the original".into(),
        };
        return Err(Error::corrupt(format!(
            "verifying {} failed ({why}); {} left as it was",
            new.display(),
            src.display()
        )));
    }
    crash_point("verified");
    std::fs::rename(&staged, new)
        .map_err(|e| Error::io(format!("renaming into {}", new.display()), e))?;
    sync_dir(new)?;
    crash_point("renamed");
    Ok(done)
}

/// Steps 4-5 for one link: `link`'s replacement is made to lead to `new` (the new blob, whose file
/// name is `new_name`), then `link` is removed.
fn relink(link: &Path, new_name: &OsString, new: &Path, dir: Direction) -> Result<()> {
    let new_link = dir.rename(link);
    let target = std::fs::read_link(link)
        .map_err(|e| Error::io(format!("reading link {}", link.display()), e))?;
    let new_target = target.with_file_name(new_name);
    let tmp = hidden(&new_link, "link-");
    let _ = std::fs::remove_file(&tmp);
    symlink(&new_target, &tmp)?;
    if tmp.canonicalize().ok() != new.canonicalize().ok() {
        let _ = std::fs::remove_file(&tmp);
        return Err(Error::invalid(format!(
            "a link to {} made beside {} would not lead to it",
            new.display(),
            link.display()
        )));
    }
    std::fs::rename(&tmp, &new_link)
        .map_err(|e| Error::io(format!("renaming into {}", new_link.display()), e))?;
    sync_dir(&new_link)?;
    crash_point("linked");
    remove(link)?;
    crash_point("unlinked");
    Ok(())
}

/// True when a link somewhere under `snapshots` leads to `blob`.
fn referenced(snapshots: &Path, blob: &Path) -> bool {
    let Ok(rd) = std::fs::read_dir(snapshots) else {
        // Unknown: keeping the blob is the safe answer.
        return true;
    };
    rd.filter_map(|e| e.ok()).any(|e| {
        let p = e.path();
        match std::fs::symlink_metadata(&p) {
            Ok(m) if m.file_type().is_symlink() => {
                p.canonicalize().is_ok_and(|c| c == blob) || (p.is_dir() && referenced(&p, blob))
            }
            Ok(m) if m.is_dir() => referenced(&p, blob),
            Ok(_) => false,
            Err(_) => true,
        }
    })
}

/// Removes `path` (a file or a link) and syncs its folder.
fn remove(path: &Path) -> Result<()> {
    std::fs::remove_file(path).map_err(|e| Error::io(format!("removing {}", path.display()), e))?;
    sync_dir(path)
}

/// `.znn-gpu-KIND-NAME` beside `path`: never listed by the walk.
fn hidden(path: &Path, kind: &str) -> PathBuf {
    let mut n = OsString::from(OWN_PREFIX);
    n.push(kind);
    n.push(path.file_name().expect("a file name"));
    path.with_file_name(n)
}

/// Makes the renames and removals in `path`'s folder durable (the library's one folder sync,
/// which tolerates file systems that cannot sync a folder).
fn sync_dir(path: &Path) -> Result<()> {
    sync_folder(&crate::files::parent(path))
}

#[cfg(unix)]
fn symlink(target: &Path, link: &Path) -> Result<()> {
    std::os::unix::fs::symlink(target, link)
        .map_err(|e| Error::io(format!("creating link {}", link.display()), e))
}

#[cfg(not(unix))]
fn symlink(_: &Path, link: &Path) -> Result<()> {
    Err(Error::invalid(format!(
        "{}: replacing links in place needs a Unix system",
        link.display()
    )))
}

/// The test-only crash hook (see the module comment): compiled in with the `test-hooks` feature
/// only, which the test-support crate turns on for `cargo test`.
#[cfg(feature = "test-hooks")]
fn crash_point(step: &str) {
    static AT: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();
    let at = AT.get_or_init(|| std::env::var("ZNN_GPU_TEST_CRASH_AT").ok());
    if at.as_deref() == Some(step) {
        std::process::abort();
    }
}

#[cfg(not(feature = "test-hooks"))]
fn crash_point(_: &str) {}
