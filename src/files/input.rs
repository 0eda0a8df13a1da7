//! Inputs: a file, or standard input (or a pipe, a FIFO, a procfs file) spooled to an anonymous
//! temporary file, so that its length is known and it can be read twice at any offset.

use crate::error::{Error, Result};
use crate::source::FileSource;
use std::fs::File;
use std::io::{self, Read, Seek};
use std::path::Path;

/// An opened input.
pub struct Input {
    pub file: File,
    pub len: u64,
    pub name: String,
}

impl Input {
    /// The input as a positioned-read source.
    pub fn into_source(self) -> Result<FileSource> {
        FileSource::new(self.file, self.name)
    }
}

/// An anonymous read-write file in the system's temporary folder: unnamed (`O_TMPFILE`) where the
/// file system allows, else created and unlinked at once.
fn anonymous_file() -> io::Result<File> {
    let dir = std::env::temp_dir();
    #[cfg(target_os = "linux")]
    if let Ok(f) = super::atomic::unnamed_tmpfile(&dir, libc::O_RDWR) {
        return Ok(f);
    }
    let pid = std::process::id();
    for attempt in 0u32..100 {
        let p = dir.join(format!("{}spool-{pid}-{attempt}", super::OWN_PREFIX));
        match std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&p)
        {
            Ok(f) => {
                let _ = std::fs::remove_file(&p);
                return Ok(f);
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
    Err(io::Error::new(
        io::ErrorKind::AlreadyExists,
        "no free temporary name",
    ))
}

/// Copies `r` to an anonymous temporary file; its length is then known and it can be seeked.
fn spool(r: &mut dyn Read, name: String) -> Result<Input> {
    let mut f = anonymous_file().map_err(|e| Error::io("creating a spool file", e))?;
    let len = io::copy(r, &mut f).map_err(|e| Error::io(format!("reading {name}"), e))?;
    f.rewind().map_err(|e| Error::io("spool file", e))?;
    Ok(Input { file: f, len, name })
}

/// Opens `path`, or standard input for `-`.
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
                    "{name} is a character device, not a file (pipe it to standard input instead)"
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
