//! Output files are written to a temporary file in the target folder, synced, then renamed, so a
//! failed run leaves no partial output; inputs are only ever opened for reading.

use crate::error::{Error, Result};
use std::fs::File;
use std::io::{self, BufWriter, Seek, Write};
use std::path::{Path, PathBuf};

/// An input: a file, or standard input spooled to an anonymous temporary file (so that it can be
/// read twice and seeked, with memory bounded like a file).
pub struct Input {
    pub file: File,
    pub len: u64,
    pub name: String,
}

pub fn open_input(path: &Path) -> Result<Input> {
    if path.as_os_str() == "-" {
        let mut f = tempfile::tempfile().map_err(|e| Error::io("creating a spool file", e))?;
        let len = io::copy(&mut io::stdin().lock(), &mut f)
            .map_err(|e| Error::io("reading standard input", e))?;
        f.rewind().map_err(|e| Error::io("spool file", e))?;
        return Ok(Input {
            file: f,
            len,
            name: "<stdin>".into(),
        });
    }
    let name = path.display().to_string();
    let file = File::open(path).map_err(|e| Error::io(format!("opening {name}"), e))?;
    let meta = file
        .metadata()
        .map_err(|e| Error::io(format!("reading {name}"), e))?;
    if meta.is_dir() {
        return Err(Error::invalid(format!("{name} is a directory")));
    }
    Ok(Input {
        file,
        len: meta.len(),
        name,
    })
}

/// Where output goes: a new file (made atomically) or standard output. Dropping an `Output`
/// without `commit` deletes the temporary file.
pub enum Output {
    File {
        tmp: BufWriter<tempfile::NamedTempFile>,
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
            if !m.is_file() && !m.is_dir() {
                let f = std::fs::OpenOptions::new()
                    .write(true)
                    .open(path)
                    .map_err(|e| Error::io(format!("opening {shown}"), e))?;
                return Ok(Output::Special(BufWriter::with_capacity(1 << 20, f)));
            }
        }
        if path.exists() && !force {
            return Err(Error::invalid(format!(
                "{shown} already exists (use -f to overwrite)"
            )));
        }
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
        let tmp = tempfile::Builder::new()
            .prefix(".znn-gpu-")
            .suffix(".tmp")
            .tempfile_in(dir)
            .map_err(|e| Error::io(format!("creating a temporary file in {}", dir.display()), e))?;
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
        Ok(Output::File {
            tmp: BufWriter::with_capacity(1 << 20, tmp),
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

    /// Flushes, syncs and renames into place.
    pub fn commit(self) -> Result<()> {
        match self {
            Output::Stdout(mut s) => s.flush().map_err(|e| Error::io("writing stdout", e)),
            Output::Special(mut f) => f.flush().map_err(|e| Error::io("writing output", e)),
            Output::File { tmp, path, force } => {
                let shown = path.display().to_string();
                let tmp = tmp
                    .into_inner()
                    .map_err(|e| Error::io(format!("writing {shown}"), e.into_error()))?;
                tmp.as_file()
                    .sync_all()
                    .map_err(|e| Error::io(format!("syncing {shown}"), e))?;
                let res = if force {
                    tmp.persist(&path).map(|_| ())
                } else {
                    tmp.persist_noclobber(&path).map(|_| ())
                };
                super::signals::clear();
                res.map_err(|e| Error::io(format!("renaming into {shown}"), e.error))
            }
        }
    }
}

fn same_file(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(x), Ok(y)) => x == y,
        _ => false,
    }
}
