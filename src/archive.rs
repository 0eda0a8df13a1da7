//! Opening a `.znn` file: header, trailer and index, read and validated before any data is touched.

use crate::error::{Error, Result};
use crate::format::{Header, Index, Trailer, HEADER_LEN, TRAILER_LEN};
use std::io::{Read, Seek, SeekFrom};
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

    /// Parses a whole `.znn` file held in memory.
    pub fn from_bytes(b: &[u8]) -> Result<Archive> {
        let header = Header::parse(b)?;
        if b.len() < HEADER_LEN + TRAILER_LEN {
            return Err(Error::truncated("file shorter than header and trailer"));
        }
        let t: &[u8; TRAILER_LEN] = b[b.len() - TRAILER_LEN..].try_into().unwrap();
        let trailer = Trailer::parse(t, b.len() as u64)?;
        let end = b.len() - TRAILER_LEN;
        let index = &b[end - trailer.index_len as usize..end];
        Self::finish(header, trailer, index, b.len() as u64)
    }

    /// Reads and validates the metadata of a seekable `.znn` file; memory is bounded by the index,
    /// whose length is checked against the file's real length first.
    pub fn read<R: Read + Seek>(r: &mut R) -> Result<Archive> {
        let io = |e| Error::io("reading .znn file", e);
        let file_len = r.seek(SeekFrom::End(0)).map_err(io)?;
        r.seek(SeekFrom::Start(0)).map_err(io)?;
        let mut hb = vec![0u8; (HEADER_LEN as u64).min(file_len) as usize];
        r.read_exact(&mut hb).map_err(io)?;
        let header = Header::parse(&hb)?;
        if file_len < (HEADER_LEN + TRAILER_LEN) as u64 {
            return Err(Error::truncated("file shorter than header and trailer"));
        }
        let mut tb = [0u8; TRAILER_LEN];
        r.seek(SeekFrom::End(-(TRAILER_LEN as i64))).map_err(io)?;
        r.read_exact(&mut tb).map_err(io)?;
        let trailer = Trailer::parse(&tb, file_len)?;
        let index_start = file_len - TRAILER_LEN as u64 - trailer.index_len;
        // A damaged `index_len` can claim most of the file: check the index hash with fixed-size
        // reads before allocating anything of that size.
        r.seek(SeekFrom::Start(index_start)).map_err(io)?;
        let mut h = Xxh3::new();
        let mut block = vec![0u8; (1 << 20).min(trailer.index_len as usize)];
        let mut left = trailer.index_len;
        while left > 0 {
            let n = left.min(block.len() as u64) as usize;
            r.read_exact(&mut block[..n]).map_err(io)?;
            h.update(&block[..n]);
            left -= n as u64;
        }
        if h.digest() != trailer.index_hash {
            return Err(Error::corrupt("index checksum mismatch"));
        }
        let mut index = Vec::new();
        index
            .try_reserve_exact(trailer.index_len as usize)
            .map_err(|_| Error::invalid("index too large for memory"))?;
        index.resize(trailer.index_len as usize, 0);
        r.seek(SeekFrom::Start(index_start)).map_err(io)?;
        r.read_exact(&mut index).map_err(io)?;
        Self::finish(header, trailer, &index, file_len)
    }

    /// The base to decode with: `base` after checking that it is the one this delta file names,
    /// `None` for a standalone file (a base given for one is not needed and is ignored).
    pub fn check_base<'b>(
        &self,
        base: Option<&'b crate::delta::Base>,
    ) -> Result<Option<&'b crate::delta::Base>> {
        match (self.index.base, base) {
            (None, _) => Ok(None),
            (Some(want), None) => Err(Error::invalid(format!(
                "this .znn is a delta against a base file ({} bytes, xxh3 {:016x}): \
                 decompress it with --base BASE",
                want.len, want.hash
            ))),
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
        for c in &index.chunks {
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
