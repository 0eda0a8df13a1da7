//! The one error type of the library.
//!
//! Callers act on [`Error::kind`] (and on the few specific variants below), never on message text.
//! Messages say what happened in the library's terms; they never name a command-line flag: a front
//! end adds its own hint (the CLI's "use -f to overwrite", say).

use crate::format::BaseRef;
use std::io;
use std::path::PathBuf;

/// The kind of a failure: what a caller (the CLI's exit message, Python's `ZnnError`, the mount's
/// EIO) needs to know.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// The input is not a valid `.znn` file, or a check (hash, bounds, code) failed.
    Corrupt,
    /// The input ends before a structure it declares.
    Truncated,
    /// A `.znn` of a newer format version.
    UnsupportedVersion,
    /// The caller asked for something impossible (bad option, output exists, missing base...).
    InvalidArgument,
    /// An I/O operation failed.
    Io,
    /// The GPU path failed (no adapter, device lost, limits too small...).
    Gpu,
}

impl ErrorKind {
    /// A short lowercase name (`corrupt`, `truncated`, ...), as Python's `ZnnError` reports it.
    pub fn name(self) -> &'static str {
        match self {
            ErrorKind::Corrupt => "corrupt",
            ErrorKind::Truncated => "truncated",
            ErrorKind::UnsupportedVersion => "unsupported version",
            ErrorKind::InvalidArgument => "invalid argument",
            ErrorKind::Io => "io",
            ErrorKind::Gpu => "gpu",
        }
    }
}

/// What went wrong. Every failure of the library is one of these; hostile input gives a `Corrupt`
/// or `Truncated` kind, never a panic.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    #[error("corrupt input: {0}")]
    Corrupt(String),
    #[error("truncated input: {0}")]
    Truncated(String),
    #[error("unsupported format version {found} (this build reads version {supported}); upgrade znn-gpu")]
    UnsupportedVersion { found: u16, supported: u16 },
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// `context` says on what (a path, usually).
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: io::Error,
    },
    #[error("gpu: {0}")]
    Gpu(String),
    /// Kind `Corrupt`: the input does not start with the `.znn` magic (it may be an original that
    /// was meant to be compressed).
    #[error("corrupt input: not a .znn file (bad magic)")]
    NotZnn,
    /// Kind `Gpu`: no adapter exists for the backends tried.
    #[error("gpu: no GPU adapter for backends {0}")]
    NoAdapter(String),
    /// Kind `InvalidArgument`: an output that exists, and overwriting was not asked for.
    #[error("invalid argument: {} already exists", .0.display())]
    OutputExists(PathBuf),
    /// Kind `InvalidArgument`: a delta `.znn` decoded without its base.
    #[error(
        "invalid argument: this .znn is a delta against a base file ({} bytes, xxh3 {:016x})",
        .0.len, .0.hash
    )]
    NeedsBase(BaseRef),
    /// Kind `InvalidArgument`: outputs of a folder operation that exist already, and
    /// overwriting was not asked for.
    #[error("invalid argument: {} output(s) exist already:\n  {}", .0.len(), .0.join("\n  "))]
    OutputsExist(Vec<String>),
    /// Files of a folder operation that failed (the others were done): `(file, error)` each.
    /// Its kind is that of the first failure.
    #[error("{} of {total} files failed (the others were {verb}; failed files have no output):\n  {}",
        .failures.len(),
        .failures.iter().map(|(f, e)| format!("{f}: {e}")).collect::<Vec<_>>().join("\n  "))]
    FilesFailed {
        total: usize,
        verb: &'static str,
        failures: Vec<(String, Error)>,
    },
    /// Kind `InvalidArgument`: no output name follows from an input name without `.znn`.
    #[error("invalid argument: cannot derive an output name from {} (it does not end in .znn)", .0.display())]
    NoOutputName(PathBuf),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A copy of the same kind and message (an I/O error keeps its `io::ErrorKind` and text): a
/// decode that failed once is reported to every reader that waited for it.
impl Clone for Error {
    fn clone(&self) -> Self {
        match self {
            Error::Corrupt(m) => Error::Corrupt(m.clone()),
            Error::Truncated(m) => Error::Truncated(m.clone()),
            Error::UnsupportedVersion { found, supported } => Error::UnsupportedVersion {
                found: *found,
                supported: *supported,
            },
            Error::InvalidArgument(m) => Error::InvalidArgument(m.clone()),
            Error::Io { context, source } => Error::Io {
                context: context.clone(),
                source: io::Error::new(source.kind(), source.to_string()),
            },
            Error::Gpu(m) => Error::Gpu(m.clone()),
            Error::NotZnn => Error::NotZnn,
            Error::NoAdapter(m) => Error::NoAdapter(m.clone()),
            Error::OutputExists(p) => Error::OutputExists(p.clone()),
            Error::NeedsBase(b) => Error::NeedsBase(*b),
            Error::NoOutputName(p) => Error::NoOutputName(p.clone()),
            Error::OutputsExist(v) => Error::OutputsExist(v.clone()),
            Error::FilesFailed {
                total,
                verb,
                failures,
            } => Error::FilesFailed {
                total: *total,
                verb,
                failures: failures.clone(),
            },
        }
    }
}

impl Error {
    /// The kind of this error.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::Corrupt(_) | Error::NotZnn => ErrorKind::Corrupt,
            Error::Truncated(_) => ErrorKind::Truncated,
            Error::UnsupportedVersion { .. } => ErrorKind::UnsupportedVersion,
            Error::InvalidArgument(_)
            | Error::OutputExists(_)
            | Error::NeedsBase(_)
            | Error::NoOutputName(_)
            | Error::OutputsExist(_) => ErrorKind::InvalidArgument,
            Error::FilesFailed { failures, .. } => failures
                .first()
                .map_or(ErrorKind::InvalidArgument, |(_, e)| e.kind()),
            Error::Io { .. } => ErrorKind::Io,
            Error::Gpu(_) | Error::NoAdapter(_) => ErrorKind::Gpu,
        }
    }

    pub fn corrupt(msg: impl Into<String>) -> Self {
        Error::Corrupt(msg.into())
    }
    pub fn truncated(msg: impl Into<String>) -> Self {
        Error::Truncated(msg.into())
    }
    pub fn invalid(msg: impl Into<String>) -> Self {
        Error::InvalidArgument(msg.into())
    }
    /// Wraps an I/O error with what was being done (a path, usually).
    pub fn io(context: impl Into<String>, source: io::Error) -> Self {
        Error::Io {
            context: context.into(),
            source,
        }
    }
}
