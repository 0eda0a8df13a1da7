//! What the command line adds to a library error: the flag that would help.

use znn_gpu::Error;

/// The message for `error: ...`, with this front end's hints.
pub fn explain(e: &Error) -> String {
    match e {
        Error::OutputExists(_) => format!("{e} (use -f to overwrite)"),
        Error::OutputsExist(v) => format!(
            "invalid argument: {} output(s) exist already (use -f to overwrite):\n  {}",
            v.len(),
            v.join("\n  ")
        ),
        Error::NeedsBase(_) => format!("{e}: decompress it with --base BASE"),
        Error::NoOutputName(_) => format!("{e}: use -o"),
        Error::NoAdapter(_) => format!("{e}; or decode on the CPU with --device cpu"),
        Error::FilesFailed {
            total,
            verb,
            failures,
        } => {
            let list: Vec<String> = failures
                .iter()
                .map(|(f, e)| format!("{f}: {}", explain(e)))
                .collect();
            format!(
                "{} of {total} files failed (the others were {verb}; failed files have no \
                 output):\n  {}",
                failures.len(),
                list.join("\n  ")
            )
        }
        e => e.to_string(),
    }
}

/// `e` with `hint` appended to its message, for an `InvalidArgument` (others pass unchanged).
pub fn with_hint(e: Error, hint: &str) -> Error {
    match e {
        Error::InvalidArgument(m) => Error::InvalidArgument(format!("{m}; {hint}")),
        e => e,
    }
}
