//! Opening a `.znn` file: header, trailer and index, read and validated before any data is touched.

#![forbid(unsafe_code)]

use crate::delta::Base;
use crate::error::{Error, Result};
use crate::format::{Header, Index, Trailer, HEADER_LEN, TRAILER_LEN};
use crate::source::ByteSource;
use xxhash_rust::xxh3::{xxh3_64, Xxh3};

/// A validated `.znn` file's metadata: everything needed to decode any chunk.
#[derive(Clone, Debug)]
pub struct Archive {
    pub header: Header,
    pub trailer: Trailer,
    pub index: Index,
    /// Length of the whole `.znn` file.
    pub file_len: u64,
}

impl Archive {
    /// Where the data region starts in the file.
    pub const DATA_START: u64 = HEADER_LEN as u64;

    /// Length of the data region.
    pub fn data_len(&self) -> u64 {
        self.file_len - (HEADER_LEN + TRAILER_LEN) as u64 - self.trailer.index_len
    }

    /// Length of the decoded original.
    pub fn original_len(&self) -> u64 {
        self.trailer.original_len
    }

    /// Parses a whole `.znn` file held in memory.
    pub fn from_bytes(b: &[u8]) -> Result<Archive> {
        Self::read(&b)
    }

    /// Reads and validates the metadata of a `.znn` file; memory is bounded by the index, whose
    /// length is checked against the file's real length first.
    pub fn read(src: &dyn ByteSource) -> Result<Archive> {
        let file_len = src.len();
        let mut hb = vec![0u8; (HEADER_LEN as u64).min(file_len) as usize];
        src.read_exact_at(0, &mut hb)?;
        let header = Header::parse(&hb)?;
        if file_len < (HEADER_LEN + TRAILER_LEN) as u64 {
            return Err(Error::truncated("file shorter than header and trailer"));
        }
        let mut tb = [0u8; TRAILER_LEN];
        src.read_exact_at(file_len - TRAILER_LEN as u64, &mut tb)?;
        let trailer = Trailer::parse(&tb, file_len)?;
        let index_start = file_len - TRAILER_LEN as u64 - trailer.index_len;
        if let Some(all) = src.as_slice() {
            let index = &all[index_start as usize..(file_len - TRAILER_LEN as u64) as usize];
            return Self::finish(header, trailer, index, file_len);
        }
        // A damaged `index_len` can claim most of the file: check the index hash with fixed-size
        // reads before allocating anything of that size.
        let mut h = Xxh3::new();
        let mut block = vec![0u8; (1 << 20).min(trailer.index_len as usize)];
        let mut at = index_start;
        while at < index_start + trailer.index_len {
            let n = (index_start + trailer.index_len - at).min(block.len() as u64) as usize;
            src.read_exact_at(at, &mut block[..n])?;
            h.update(&block[..n]);
            at += n as u64;
        }
        if h.digest() != trailer.index_hash {
            return Err(Error::corrupt("index checksum mismatch"));
        }
        let mut index = Vec::new();
        index
            .try_reserve_exact(trailer.index_len as usize)
            .map_err(|_| Error::invalid("index too large for memory"))?;
        index.resize(trailer.index_len as usize, 0);
        src.read_exact_at(index_start, &mut index)?;
        Self::finish(header, trailer, &index, file_len)
    }

    /// The base to decode with: `base` after checking that it is the one this delta file names,
    /// `None` for a standalone file (a base given for one is not needed and is ignored).
    pub fn check_base<'b>(&self, base: Option<&'b Base>) -> Result<Option<&'b Base>> {
        match (self.index.base(), base) {
            (None, _) => Ok(None),
            (Some(want), None) => Err(Error::NeedsBase(want)),
            (Some(want), Some(b)) => b.check(&want).map(|_| Some(b)),
        }
    }

    fn finish(header: Header, trailer: Trailer, index: &[u8], file_len: u64) -> Result<Archive> {
        if xxh3_64(index) != trailer.index_hash {
            return Err(Error::corrupt("index checksum mismatch"));
        }
        let data_len = file_len - (HEADER_LEN + TRAILER_LEN) as u64 - trailer.index_len;
        let index = Index::parse_version(
            index,
            header.version,
            header.chunk_size,
            trailer.original_len,
            data_len,
        )?;
        let mut h = Xxh3::new();
        for c in index.chunks() {
            h.update(&c.checksum.to_le_bytes());
        }
        if h.digest() != trailer.content_hash {
            return Err(Error::corrupt(
                "content hash does not match the chunk checksums",
            ));
        }
        Ok(Archive {
            header,
            trailer,
            index,
            file_len,
        })
    }
}
