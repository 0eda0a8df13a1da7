//! Output files are written to a temporary file in the target folder, synced, then moved into place,
//! so a failed run leaves no partial output; inputs are only ever opened for reading.
//!
//! On Linux the temporary file is unnamed (`O_TMPFILE`): it has no name until `commit` links it into
//! the folder, so even a process killed by SIGKILL (which runs no cleanup) leaves nothing behind: the
//! kernel frees an unnamed file when its last descriptor closes. Where the file system lacks
//! `O_TMPFILE`, a named hidden temporary file is used instead, removed on failure; the library
//! installs no signal handler, but tells a front end's (see [`set_temp_hook`]) which file to
//! remove if the process is interrupted.

use crate::error::{Error, Result};
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// Prefix of the library's own temporary and staging files: never listed by the folder walk (a
/// crashed run's leftovers).
pub const OWN_PREFIX: &str = ".znn-gpu-";

/// Told the path of a named temporary file when one exists (`Some`), and `None` once it is gone
/// (renamed or removed).
pub type TempHook = fn(Option<&Path>);

static TEMP_HOOK: OnceLock<TempHook> = OnceLock::new();

/// Installs the hook a front end uses to remove a named temporary file on SIGINT/SIGTERM (the CLI
/// does; a library user need not). Only the first call counts.
pub fn set_temp_hook(hook: TempHook) {
    let _ = TEMP_HOOK.set(hook);
}

fn temp_event(p: Option<&Path>) {
    if let Some(h) = TEMP_HOOK.get() {
        h(p);
    }
}

/// The temporary file behind an `Output::File`.
enum Temp {
    /// Linux `O_TMPFILE`: nameless until `commit` links it into `dir`.
    #[cfg(target_os = "linux")]
    Unnamed { dir: PathBuf },
    /// A named hidden file in the target folder (removed when dropped uncommitted).
    Named(NamedTemp),
}

/// A named temporary file, removed on drop unless it was moved into place.
struct NamedTemp {
    path: PathBuf,
    keep: bool,
}

impl Drop for NamedTemp {
    fn drop(&mut self) {
        if !self.keep {
            let _ = std::fs::remove_file(&self.path);
            temp_event(None);
        }
    }
}

/// Where output goes: a new file (made atomically) or standard output. Dropping an `Output`
/// without `commit` leaves no file: an unnamed temporary file vanishes with its descriptor, a named
/// one is deleted.
pub struct Output(Kind);

enum Kind {
    File {
        tmp: BufWriter<Named>,
        temp: Temp,
        path: PathBuf,
        force: bool,
    },
    Stdout(BufWriter<io::Stdout>),
    /// An existing device or pipe (`/dev/null`, a FIFO): written in place, nothing to rename.
    Special(BufWriter<File>),
}

impl Output {
    /// Prepares `path` (or `-` for stdout). Refuses an existing file unless `force`
    /// ([`Error::OutputExists`]), and refuses to write over `input`.
    pub fn create(path: &Path, force: bool, input: Option<&Path>) -> Result<Output> {
        if path.as_os_str() == "-" {
            let out = BufWriter::with_capacity(1 << 20, io::stdout());
            return Ok(Output(Kind::Stdout(out)));
        }
        let shown = path.display();
        if let Some(inp) = input {
            if inp.as_os_str() != "-" && same_file(inp, path) {
                return Err(Error::invalid(format!("output {shown} is the input file")));
            }
        }
        if let Ok(m) = std::fs::metadata(path) {
            if m.is_dir() {
                return Err(Error::invalid(format!(
                    "output {shown} is a directory (name a file)"
                )));
            }
            if !m.is_file() {
                let f = std::fs::OpenOptions::new()
                    .write(true)
                    .open(path)
                    .map_err(|e| Error::io(format!("opening {shown}"), e))?;
                return Ok(Output(Kind::Special(BufWriter::with_capacity(1 << 20, f))));
            }
        }
        if path.exists() && !force {
            return Err(Error::OutputExists(path.to_path_buf()));
        }
        let dir = parent(path);
        match std::fs::metadata(&dir) {
            Ok(m) if m.is_dir() => {}
            Ok(_) => {
                return Err(Error::invalid(format!(
                    "cannot create {shown}: {} is not a folder",
                    dir.display()
                )))
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(Error::invalid(format!(
                    "cannot create {shown}: folder {} does not exist",
                    dir.display()
                )))
            }
            Err(_) => {} // reported by the creation below, with its cause
        }
        let creating = |e| Error::io(format!("creating a temporary file in {}", dir.display()), e);
        #[cfg(target_os = "linux")]
        match unnamed_tmpfile(&dir, libc::O_WRONLY) {
            Ok(f) => {
                return Ok(Output(Kind::File {
                    tmp: BufWriter::with_capacity(1 << 20, Named::new(f, path)),
                    temp: Temp::Unnamed { dir },
                    path: path.to_path_buf(),
                    force,
                }))
            }
            // The file system (or an old kernel) has no O_TMPFILE: fall back to a named file.
            Err(e)
                if matches!(
                    e.raw_os_error(),
                    Some(libc::EOPNOTSUPP | libc::EISDIR | libc::EINVAL)
                ) => {}
            Err(e) => return Err(creating(e)),
        }
        let (file, tmp_path) = named_tmpfile(&dir).map_err(creating)?;
        let temp = NamedTemp {
            path: tmp_path,
            keep: false,
        };
        temp_event(Some(&temp.path));
        Ok(Output(Kind::File {
            tmp: BufWriter::with_capacity(1 << 20, Named::new(file, path)),
            temp: Temp::Named(temp),
            path: path.to_path_buf(),
            force,
        }))
    }

    pub fn writer(&mut self) -> &mut (dyn Write + Send) {
        match &mut self.0 {
            Kind::File { tmp, .. } => tmp,
            Kind::Stdout(s) => s,
            Kind::Special(f) => f,
        }
    }

    /// Flushes, syncs and moves the file into place, then syncs the folder so that the new name
    /// survives a crash.
    pub fn commit(self) -> Result<()> {
        match self.0 {
            Kind::Stdout(mut s) => s.flush().map_err(|e| Error::io("writing stdout", e)),
            Kind::Special(mut f) => f.flush().map_err(|e| Error::io("writing output", e)),
            Kind::File {
                tmp,
                temp,
                path,
                force,
            } => {
                let shown = path.display().to_string();
                let file = tmp
                    .into_inner()
                    .map_err(|e| Error::io("writing output", e.into_error()))?
                    .file;
                file.sync_all()
                    .map_err(|e| Error::io(format!("syncing {shown}"), e))?;
                match temp {
                    #[cfg(target_os = "linux")]
                    Temp::Unnamed { dir } => link_unnamed(&file, &dir, &path, force)?,
                    Temp::Named(mut t) => {
                        let r = if force {
                            std::fs::rename(&t.path, &path)
                        } else {
                            // A link fails when `path` was created meanwhile: nothing is ever
                            // overwritten without -f.
                            std::fs::hard_link(&t.path, &path)
                                .map(|_| drop(std::fs::remove_file(&t.path)))
                        };
                        match r {
                            Ok(()) => {
                                t.keep = true;
                                temp_event(None);
                            }
                            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                                return Err(Error::OutputExists(path.clone()))
                            }
                            Err(e) => return Err(Error::io(format!("renaming into {shown}"), e)),
                        }
                    }
                }
                sync_dir(&parent(&path))
            }
        }
    }
}

/// The output file, whose write errors name it: "writing output: m.znn: No space left on device"
/// says which file (and so which disk) is full.
struct Named {
    file: File,
    shown: String,
}

impl Named {
    fn new(file: File, path: &Path) -> Named {
        Named {
            file,
            shown: path.display().to_string(),
        }
    }
    fn name(&self, e: io::Error) -> io::Error {
        io::Error::new(e.kind(), format!("{}: {e}", self.shown))
    }
}

impl Write for Named {
    fn write(&mut self, b: &[u8]) -> io::Result<usize> {
        self.file.write(b).map_err(|e| self.name(e))
    }
    fn write_all(&mut self, b: &[u8]) -> io::Result<()> {
        self.file.write_all(b).map_err(|e| self.name(e))
    }
    fn flush(&mut self) -> io::Result<()> {
        self.file.flush().map_err(|e| self.name(e))
    }
}

/// The folder of `path` (`.` for a bare name).
pub fn parent(path: &Path) -> PathBuf {
    match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// Makes new, renamed or removed entries of `dir` durable. File systems that cannot sync a folder
/// (EINVAL, ENOTSUP: some network and FUSE file systems) have nothing to sync. The one folder sync
/// of the library: plain outputs and the in-place steps both use it.
pub fn sync_dir(dir: &Path) -> Result<()> {
    let r = File::open(dir).and_then(|d| d.sync_all());
    match r {
        Err(e) if !cannot_sync_dirs(&e) => {
            Err(Error::io(format!("syncing folder {}", dir.display()), e))
        }
        _ => Ok(()),
    }
}

fn cannot_sync_dirs(e: &io::Error) -> bool {
    if e.kind() == io::ErrorKind::InvalidInput || e.kind() == io::ErrorKind::Unsupported {
        return true;
    }
    #[cfg(unix)]
    if matches!(e.raw_os_error(), Some(libc::EINVAL | libc::ENOTSUP)) {
        return true;
    }
    false
}

/// A hidden `.znn-gpu-PID-NANOS-N.tmp` created (exclusively) in `dir`, mode 0666 minus the umask.
fn named_tmpfile(dir: &Path) -> io::Result<(File, PathBuf)> {
    let pid = std::process::id();
    for attempt in 0u32..100 {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let p = dir.join(format!("{OWN_PREFIX}{pid}-{nanos:x}-{attempt}.tmp"));
        match std::fs::OpenOptions::new()
            .write(true)
            .read(true)
            .create_new(true)
            .open(&p)
        {
            Ok(f) => return Ok((f, p)),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
    Err(io::Error::new(
        io::ErrorKind::AlreadyExists,
        "no free temporary name",
    ))
}

#[cfg(target_os = "linux")]
fn cstr(p: &Path) -> io::Result<std::ffi::CString> {
    use std::os::unix::ffi::OsStrExt;
    std::ffi::CString::new(p.as_os_str().as_bytes())
        .map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))
}

/// Opens an unnamed regular file in `dir` (`access`: `O_WRONLY` or `O_RDWR`), mode 0666 minus the
/// umask (what `File::create` gives).
#[cfg(target_os = "linux")]
pub(crate) fn unnamed_tmpfile(dir: &Path, access: libc::c_int) -> io::Result<File> {
    use std::os::fd::FromRawFd;
    let d = cstr(dir)?;
    // SAFETY: `d` is a valid C string; the returned descriptor is owned by the `File`.
    let fd = unsafe {
        libc::open(
            d.as_ptr(),
            libc::O_TMPFILE | access | libc::O_CLOEXEC,
            0o666 as libc::c_uint,
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` was just opened and is owned by nobody else.
    Ok(unsafe { File::from_raw_fd(fd) })
}

/// Gives the unnamed `file` the name `to`: `linkat` through `/proc/self/fd` (which needs no
/// privilege, unlike `AT_EMPTY_PATH`).
#[cfg(target_os = "linux")]
fn link_fd(file: &File, to: &Path) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    let from = cstr(Path::new(&format!("/proc/self/fd/{}", file.as_raw_fd())))?;
    let to = cstr(to)?;
    // SAFETY: both are valid C strings; linkat does not retain them.
    let r = unsafe {
        libc::linkat(
            libc::AT_FDCWD,
            from.as_ptr(),
            libc::AT_FDCWD,
            to.as_ptr(),
            libc::AT_SYMLINK_FOLLOW,
        )
    };
    if r == 0 {
        return Ok(());
    }
    let e = io::Error::last_os_error();
    if e.raw_os_error() == Some(libc::ENOENT) && !Path::new("/proc/self/fd").exists() {
        // No /proc: AT_EMPTY_PATH links the descriptor itself (needs CAP_DAC_READ_SEARCH).
        // SAFETY: as above; the empty path is a valid C string.
        let r = unsafe {
            libc::linkat(
                file.as_raw_fd(),
                c"".as_ptr(),
                libc::AT_FDCWD,
                to.as_ptr(),
                libc::AT_EMPTY_PATH,
            )
        };
        if r == 0 {
            return Ok(());
        }
        return Err(io::Error::last_os_error());
    }
    Err(e)
}

/// Commits an unnamed file. Without `force`, a link straight to `path` (it fails if `path` was
/// created meanwhile: nothing is ever overwritten). With `force`, a link to a fresh hidden name in
/// `dir`, then a rename over `path`: readers of `path` see the old file or the new one, never a part.
#[cfg(target_os = "linux")]
fn link_unnamed(file: &File, dir: &Path, path: &Path, force: bool) -> Result<()> {
    let shown = path.display().to_string();
    if !force {
        return link_fd(file, path).map_err(|e| match e.kind() {
            io::ErrorKind::AlreadyExists => Error::OutputExists(path.to_path_buf()),
            _ => Error::io(format!("creating {shown}"), e),
        });
    }
    let pid = std::process::id();
    for attempt in 0u32.. {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let tmp = dir.join(format!("{OWN_PREFIX}{pid}-{nanos:x}-{attempt}.tmp"));
        // The named file exists between link and rename: a front end's handler removes it then.
        temp_event(Some(&tmp));
        match link_fd(file, &tmp) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists && attempt < 100 => continue,
            Err(e) => {
                temp_event(None);
                return Err(Error::io(format!("creating {shown}"), e));
            }
        }
        let r = std::fs::rename(&tmp, path);
        if r.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        temp_event(None);
        return r.map_err(|e| Error::io(format!("renaming into {shown}"), e));
    }
    unreachable!("the loop returns")
}

fn same_file(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(x), Ok(y)) => x == y,
        _ => false,
    }
}
