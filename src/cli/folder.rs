//! Model folders: every weight file of a folder (or a Hugging Face snapshot) at once.

use super::device::DeviceArg;
use super::Ui;
use crate::error::{Error, Result};
use crate::CompressOptions;
use std::path::Path;

/// `compress DIR` / `compress FILE --in-place`.
pub fn compress(
    _input: &Path,
    _output: Option<&Path>,
    _force: bool,
    _in_place: bool,
    _opts: &CompressOptions,
    _base: Option<&Path>,
    _ui: Ui,
) -> Result<()> {
    Err(Error::invalid("folders are not supported yet"))
}

/// `decompress DIR` / `decompress FILE.znn --in-place`.
pub fn decompress(
    _input: &Path,
    _output: Option<&Path>,
    _force: bool,
    _in_place: bool,
    _device: DeviceArg,
    _base: Option<&Path>,
    _ui: Ui,
) -> Result<()> {
    Err(Error::invalid("folders are not supported yet"))
}

/// `info DIR`.
pub fn info(_dir: &Path, _json: bool) -> Result<()> {
    Err(Error::invalid("folders are not supported yet"))
}
