//! Host-side inputs and outputs of a decode: where window payloads come from, and the safetensors
//! tensor table (decoded on the CPU from the first segment).

use crate::archive::Archive;
use crate::decompress::decode_chunks;
use crate::error::{Error, Result};
use crate::format::Index;
use crate::layout::Layout;
use crate::safetensors;
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

/// The safetensors tensor table of the output, from its header (the first segment), decoded on
/// the CPU: the header is small and needed on the host anyway. Empty when the first segment is
/// not a safetensors header.
pub(crate) fn tensor_table(idx: &Index, src: &mut dyn Source) -> Result<Vec<TensorEntry>> {
    let Some(seg) = idx.segments.first() else {
        return Ok(Vec::new());
    };
    if seg.layout != Layout::Byte {
        return Ok(Vec::new());
    }
    let mut head = Vec::new();
    for ci in seg.first_chunk..seg.first_chunk + seg.chunk_count {
        let c = &idx.chunks[ci];
        let payload = src.get(c.data_offset, c.data_len)?;
        let at = head.len();
        head.resize(at + c.orig_len as usize, 0);
        decode_chunks(idx, ci..ci + 1, payload, &mut head[at..])?;
        let Some(need) = safetensors::header_len(&head, idx.original_len) else {
            return Ok(Vec::new());
        };
        if head.len() as u64 >= need {
            return Ok(tensors_of(&head, idx.original_len));
        }
    }
    Ok(Vec::new())
}

fn tensors_of(head: &[u8], len: u64) -> Vec<TensorEntry> {
    safetensors::parse(head, len)
        .map(|h| {
            h.tensors
                .into_iter()
                .map(|t| TensorEntry {
                    name: t.name,
                    dtype: t.dtype,
                    shape: t.shape,
                    offset: t.start,
                    len: t.end - t.start,
                })
                .collect()
        })
        .unwrap_or_default()
}
