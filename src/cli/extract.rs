//! `znn-gpu extract`: one tensor or byte range of a `.znn`, decoding only the chunks it covers.

use super::device::DeviceArg;
use super::Ui;
use crate::error::{Error, Result};
use std::path::Path;

/// What to extract and where to.
pub struct Request<'a> {
    pub file: &'a Path,
    pub tensor: Option<&'a str>,
    pub range: Option<&'a str>,
    pub output: &'a Path,
    pub force: bool,
    pub base: Option<&'a Path>,
    pub device: DeviceArg,
    pub ui: Ui,
}

pub fn run(_r: &Request) -> Result<()> {
    Err(Error::invalid("extract is not supported yet"))
}
