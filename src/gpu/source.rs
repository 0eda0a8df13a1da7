//! Host-side inputs and outputs of a decode: where window payloads come from, and the safetensors
//! tensor table (decoded on the CPU from the first segment).

use crate::archive::Archive;
use crate::error::{Error, Result};
use crate::format::Index;
use std::io::{Read, Seek, SeekFrom};

/// One tensor of a decoded safetensors file: where its bytes lie in
/// [`GpuOutput::buffer`](super::GpuOutput::buffer).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TensorEntry {
    pub name: String,
    /// The safetensors dtype name (`BF16`, `F32`, ...).
    pub dtype: String,
    pub shape: Vec<u64>,
    /// Byte offset in the decoded output (safetensors header included).
    pub offset: u64,
    pub len: u64,
}

/// Where window payloads come from.
pub(crate) trait Source {
    /// `len` bytes of the data region from `offset`.
    fn get(&mut self, offset: u64, len: u64) -> Result<&[u8]>;
}

pub(crate) struct SliceSource<'a>(pub &'a [u8]);

impl Source for SliceSource<'_> {
    fn get(&mut self, offset: u64, len: u64) -> Result<&[u8]> {
        offset
            .checked_add(len)
            .and_then(|end| self.0.get(offset as usize..end as usize))
            .ok_or_else(|| Error::truncated("data region shorter than the chunk map"))
    }
}

pub(crate) struct ReaderSource<'a, R> {
    pub r: &'a mut R,
    pub buf: Vec<u8>,
}

impl<R: Read + Seek> Source for ReaderSource<'_, R> {
    fn get(&mut self, offset: u64, len: u64) -> Result<&[u8]> {
        self.buf.clear();
        self.buf.resize(len as usize, 0);
        self.r
            .seek(SeekFrom::Start(Archive::DATA_START + offset))
            .and_then(|_| self.r.read_exact(&mut self.buf))
            .map_err(|e| Error::io("reading .znn data", e))?;
        Ok(&self.buf)
    }
}

/// The safetensors tensor table of the output, from its header, decoded on the CPU (the header is
/// small and needed on the host anyway) by [`crate::extract`]. Empty when the original is not a
/// safetensors file.
pub(crate) fn tensor_table(idx: &Index, src: &mut dyn Source) -> Result<Vec<TensorEntry>> {
    let mut fill = |offset: u64, buf: &mut [u8]| {
        buf.copy_from_slice(src.get(offset, buf.len() as u64)?);
        Ok(())
    };
    let Some(h) = crate::extract::header_with(idx, &mut fill)? else {
        return Ok(Vec::new());
    };
    Ok(h.tensors
        .into_iter()
        .map(|t| TensorEntry {
            name: t.name,
            dtype: t.dtype,
            shape: t.shape,
            offset: t.start,
            len: t.end - t.start,
        })
        .collect())
}
