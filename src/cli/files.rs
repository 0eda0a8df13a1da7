//! Output files are written to a temporary file in the target folder, synced, then moved into place,
//! so a failed run leaves no partial output; inputs are only ever opened for reading.
//!
//! On Linux the temporary file is unnamed (`O_TMPFILE`): it has no name until `commit` links it into
//! the folder, so even a process killed by SIGKILL (which runs no cleanup) leaves nothing behind: the
//! kernel frees an unnamed file when its last descriptor closes. Where the file system lacks
//! `O_TMPFILE`, a named hidden temporary file is used instead, removed on failure and by the
//! SIGINT/SIGTERM/SIGHUP handler of `signals`.

use crate::error::{Error, Result};
use std::fs::File;
use std::io::{self, BufWriter, Read, Seek, Write};
use std::path::{Path, PathBuf};

/// An input: a file, or standard input (or a pipe) spooled to an anonymous temporary file (so that
/// it can be read twice and seeked, with memory bounded like a file).
pub struct Input {
    pub file: File,
    pub len: u64,
    pub name: String,
}

/// Copies `r` to an anonymous temporary file; its length is then known and it can be seeked.
fn spool(r: &mut dyn Read, name: String) -> Result<Input> {
    let mut f = tempfile::tempfile().map_err(|e| Error::io("creating a spool file", e))?;
    let len = io::copy(r, &mut f).map_err(|e| Error::io(format!("reading {name}"), e))?;
    f.rewind().map_err(|e| Error::io("spool file", e))?;
    Ok(Input { file: f, len, name })
}

pub fn open_input(path: &Path) -> Result<Input> {
    if path.as_os_str() == "-" {
        return spool(&mut io::stdin().lock(), "standard input".into());
    }
    let name = path.display().to_string();
    let file = File::open(path).map_err(|e| Error::io(format!("opening {name}"), e))?;
    let meta = file
        .metadata()
        .map_err(|e| Error::io(format!("reading {name}"), e))?;
    if meta.is_dir() {
        return Err(Error::invalid(format!("{name} is a directory")));
    }
    if !meta.is_file() {
        // A FIFO (`<(cmd)`, `mkfifo`) or socket reports length 0 and cannot seek: taking its length
        // from the metadata would compress nothing and report success. Spooled like stdin.
        #[cfg(unix)]
        {
            use std::os::unix::fs::FileTypeExt;
            let t = meta.file_type();
            if t.is_char_device() {
                return Err(Error::invalid(format!(
                    "{name} is a character device, not a file (pipe it: ... | znn-gpu compress - -o OUT)"
                )));
            }
            if t.is_block_device() {
                let mut file = file;
                let len = file
                    .seek(io::SeekFrom::End(0))
                    .and_then(|l| file.rewind().map(|_| l))
                    .map_err(|e| Error::io(format!("reading {name}"), e))?;
                return Ok(Input { file, len, name });
            }
        }
        let mut file = file;
        return spool(&mut file, name);
    }
    if meta.len() == 0 {
        // procfs and sysfs files report length 0 whatever they hold: read what is really there.
        let mut file = file;
        return spool(&mut file, name);
    }
    Ok(Input {
        file,
        len: meta.len(),
        name,
    })
}

/// The temporary file behind an `Output::File`.
pub enum Temp {
    /// Linux `O_TMPFILE`: nameless until `commit` links it into `dir`.
    #[cfg(target_os = "linux")]
    Unnamed { dir: PathBuf },
    /// A named hidden file in the target folder (deleted when dropped).
    Named(tempfile::TempPath),
}

/// Where output goes: a new file (made atomically) or standard output. Dropping an `Output`
/// without `commit` leaves no file: an unnamed temporary file vanishes with its descriptor, a named
/// one is deleted.
pub enum Output {
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
    /// Prepares `path` (or `-` for stdout). Refuses an existing file unless `force`, and refuses to
    /// write over `input`.
    pub fn create(path: &Path, force: bool, input: Option<&Path>) -> Result<Output> {
        if path.as_os_str() == "-" {
            return Ok(Output::Stdout(BufWriter::with_capacity(
                1 << 20,
                io::stdout(),
            )));
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
                    "output {shown} is a directory (name a file with -o)"
                )));
            }
            if !m.is_file() {
                let f = std::fs::OpenOptions::new()
                    .write(true)
                    .open(path)
                    .map_err(|e| Error::io(format!("opening {shown}"), e))?;
                return Ok(Output::Special(BufWriter::with_capacity(1 << 20, f)));
            }
        }
        if path.exists() && !force {
            return Err(exists(path));
        }
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
        match std::fs::metadata(dir) {
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
        match unnamed_tmpfile(dir) {
            Ok(f) => {
                return Ok(Output::File {
                    tmp: BufWriter::with_capacity(1 << 20, Named::new(f, path)),
                    temp: Temp::Unnamed {
                        dir: dir.to_path_buf(),
                    },
                    path: path.to_path_buf(),
                    force,
                })
            }
            // The file system (or an old kernel) has no O_TMPFILE: fall back to a named file.
            Err(e)
                if matches!(
                    e.raw_os_error(),
                    Some(libc::EOPNOTSUPP | libc::EISDIR | libc::EINVAL)
                ) => {}
            Err(e) => return Err(creating(e)),
        }
        let tmp = tempfile::Builder::new()
            .prefix(".znn-gpu-")
            .suffix(".tmp")
            .tempfile_in(dir)
            .map_err(creating)?;
        // A temporary file is created 0600; the output gets what `File::create` would give.
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::Permissions::from_mode(super::signals::default_mode());
            tmp.as_file()
                .set_permissions(mode)
                .map_err(|e| Error::io(format!("setting the mode of {shown}"), e))?;
        }
        super::signals::register(tmp.path());
        let (file, temp) = tmp.into_parts();
        Ok(Output::File {
            tmp: BufWriter::with_capacity(1 << 20, Named::new(file, path)),
            temp: Temp::Named(temp),
            path: path.to_path_buf(),
            force,
        })
    }

    pub fn writer(&mut self) -> &mut (dyn Write + Send) {
        match self {
            Output::File { tmp, .. } => tmp,
            Output::Stdout(s) => s,
            Output::Special(f) => f,
        }
    }

    /// Flushes, syncs and moves the file into place, then syncs the folder so that the new name
    /// survives a crash.
    pub fn commit(self) -> Result<()> {
        match self {
            Output::Stdout(mut s) => s.flush().map_err(|e| Error::io("writing stdout", e)),
            Output::Special(mut f) => f.flush().map_err(|e| Error::io("writing output", e)),
            Output::File {
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
                let dir = match temp {
                    #[cfg(target_os = "linux")]
                    Temp::Unnamed { dir } => {
                        link_unnamed(&file, &dir, &path, force)?;
                        dir
                    }
                    Temp::Named(t) => {
                        let res = if force {
                            t.persist(&path)
                        } else {
                            t.persist_noclobber(&path)
                        };
                        // Renamed, or deleted by the error's drop: nothing left to remove.
                        super::signals::clear();
                        res.map_err(|e| match e.error.kind() {
                            io::ErrorKind::AlreadyExists => exists(&path),
                            _ => Error::io(format!("renaming into {shown}"), e.error),
                        })?;
                        parent(&path)
                    }
                };
                sync_dir(&dir)
            }
        }
    }
}

/// The output file, whose write errors name it: "writing output: m.znn: No space left on device"
/// says which file (and so which disk) is full.
pub struct Named {
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

fn exists(path: &Path) -> Error {
    Error::invalid(format!(
        "{} already exists (use -f to overwrite)",
        path.display()
    ))
}

fn parent(path: &Path) -> PathBuf {
    match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// Makes the new directory entry durable. File systems that cannot sync a directory (EINVAL) have
/// nothing to sync.
fn sync_dir(dir: &Path) -> Result<()> {
    let r = File::open(dir).and_then(|d| d.sync_all());
    match r {
        Err(e) if e.kind() != io::ErrorKind::InvalidInput => {
            Err(Error::io(format!("syncing folder {}", dir.display()), e))
        }
        _ => Ok(()),
    }
}

#[cfg(target_os = "linux")]
fn cstr(p: &Path) -> io::Result<std::ffi::CString> {
    use std::os::unix::ffi::OsStrExt;
    std::ffi::CString::new(p.as_os_str().as_bytes())
        .map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))
}

/// Opens an unnamed regular file in `dir`, mode 0666 minus the umask (what `File::create` gives).
#[cfg(target_os = "linux")]
fn unnamed_tmpfile(dir: &Path) -> io::Result<File> {
    use std::os::fd::FromRawFd;
    let d = cstr(dir)?;
    // SAFETY: `d` is a valid C string; the returned descriptor is owned by the `File`.
    let fd = unsafe {
        libc::open(
            d.as_ptr(),
            libc::O_TMPFILE | libc::O_WRONLY | libc::O_CLOEXEC,
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
            io::ErrorKind::AlreadyExists => exists(path),
            _ => Error::io(format!("creating {shown}"), e),
        });
    }
    let pid = std::process::id();
    for attempt in 0u32.. {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let tmp = dir.join(format!(".znn-gpu-{pid}-{nanos:x}-{attempt}.tmp"));
        // The named file exists between link and rename: the signal handler removes it then.
        super::signals::register(&tmp);
        match link_fd(file, &tmp) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists && attempt < 100 => continue,
            Err(e) => {
                super::signals::clear();
                return Err(Error::io(format!("creating {shown}"), e));
            }
        }
        let r = std::fs::rename(&tmp, path);
        if r.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        super::signals::clear();
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
