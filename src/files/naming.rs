//! `NAME` <-> `NAME.znn`: the one naming rule of compressed files.

use crate::error::{Error, Result};
use std::path::{Path, PathBuf};

/// `INPUT.znn`.
pub fn znn_name(input: &Path) -> PathBuf {
    let mut p = input.to_path_buf().into_os_string();
    p.push(".znn");
    p.into()
}

/// `INPUT` without its `.znn` suffix; [`Error::NoOutputName`] when it has none.
pub fn strip_znn(input: &Path) -> Result<PathBuf> {
    match input.to_str().and_then(|s| s.strip_suffix(".znn")) {
        Some(s) if !s.is_empty() && s != "-" && !s.ends_with('/') => Ok(PathBuf::from(s)),
        _ => Err(Error::NoOutputName(input.to_path_buf())),
    }
}

/// True when `p`'s file name ends in `.znn`.
pub fn is_znn_name(p: &Path) -> bool {
    p.extension().is_some_and(|e| e == "znn")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_map_both_ways() {
        assert_eq!(
            znn_name(Path::new("a/m.safetensors")),
            Path::new("a/m.safetensors.znn")
        );
        assert_eq!(
            strip_znn(Path::new("a/m.bin.znn")).unwrap(),
            Path::new("a/m.bin")
        );
        for bad in ["m.bin", ".znn", "-.znn", "a/.znn"] {
            assert!(strip_znn(Path::new(bad)).is_err(), "{bad}");
        }
        assert!(is_znn_name(Path::new("x.znn")) && !is_znn_name(Path::new("x.znnx")));
    }
}
