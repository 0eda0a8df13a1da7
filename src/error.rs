//! The one error type of the library.

use std::io;

/// What went wrong. Every failure of the library is one of these; hostile input gives `Corrupt` or
/// `Truncated`, never a panic.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The input is not a valid `.znn` file, or a check (hash, bounds, code) failed.
    #[error("corrupt input: {0}")]
    Corrupt(String),
    /// The input ends before a structure it declares.
    #[error("truncated input: {0}")]
    Truncated(String),
    /// The input is a `.znn` file of a version this build cannot read.
    #[error("unsupported format version {found} (this build reads version {supported}); upgrade znn-gpu")]
    UnsupportedVersion { found: u16, supported: u16 },
    /// The caller asked for something impossible (bad option, output exists, ...).
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// An I/O operation failed; `context` says on what.
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: io::Error,
    },
    /// The GPU path failed (no adapter, device lost, limits too small...).
    #[error("gpu: {0}")]
    Gpu(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub(crate) fn corrupt(msg: impl Into<String>) -> Self {
        Error::Corrupt(msg.into())
    }
    pub(crate) fn truncated(msg: impl Into<String>) -> Self {
        Error::Truncated(msg.into())
    }
    pub(crate) fn invalid(msg: impl Into<String>) -> Self {
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
