//! Fixed-size header and trailer.

use crate::constants::{MAX_CHUNK_SIZE, MIN_CHUNK_SIZE};
use crate::error::{Error, Result};

pub const MAGIC: [u8; 8] = *b"\x89ZNN\r\n\x1a\n";
pub const END_MAGIC: [u8; 8] = *b"ZNNEND\0\x01";
/// The newest version this build reads and writes. Each file is written with the oldest version
/// that holds what its codec set allows: 1 with no delta segment and no pair codec, 2 for deltas,
/// 3 for pair codecs, 4 for rANS (and deltas with pair codes).
pub const VERSION: u16 = 4;
pub const HEADER_LEN: usize = 16;
pub const TRAILER_LEN: usize = 40;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    /// 1, 2 for a delta file, 3 for a file with pair codecs, 4 with rANS (FORMAT.md, "Versions").
    pub version: u16,
    pub chunk_size: u32,
}

impl Header {
    pub fn to_bytes(&self) -> [u8; HEADER_LEN] {
        let mut b = [0u8; HEADER_LEN];
        b[..8].copy_from_slice(&MAGIC);
        b[8..10].copy_from_slice(&self.version.to_le_bytes());
        b[12..16].copy_from_slice(&self.chunk_size.to_le_bytes());
        b
    }

    pub fn parse(b: &[u8]) -> Result<Header> {
        if b.len() < 8 || b[..8] != MAGIC {
            if b.len() < 8 && MAGIC.starts_with(b) && !b.is_empty() {
                return Err(Error::truncated("file shorter than the .znn header"));
            }
            return Err(Error::NotZnn);
        }
        if b.len() < HEADER_LEN {
            return Err(Error::truncated("file shorter than the .znn header"));
        }
        let version = u16::from_le_bytes([b[8], b[9]]);
        if version == 0 {
            return Err(Error::corrupt("invalid format version 0"));
        }
        if version > VERSION {
            return Err(Error::UnsupportedVersion {
                found: version,
                supported: VERSION,
            });
        }
        if b[10..12] != [0, 0] {
            return Err(Error::corrupt("reserved header flags are set"));
        }
        let chunk_size = u32::from_le_bytes(b[12..16].try_into().unwrap());
        check_chunk_size(chunk_size).map_err(|e| Error::corrupt(e.to_string()))?;
        Ok(Header {
            version,
            chunk_size,
        })
    }
}

/// Valid chunk sizes: multiples of 8 within the bounds of `constants`.
pub fn check_chunk_size(c: u32) -> Result<()> {
    if !(MIN_CHUNK_SIZE..=MAX_CHUNK_SIZE).contains(&c) || c % 8 != 0 {
        return Err(Error::invalid(format!(
            "chunk size {c} must be a multiple of 8 in {MIN_CHUNK_SIZE}..={MAX_CHUNK_SIZE}"
        )));
    }
    Ok(())
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Trailer {
    pub index_len: u64,
    pub original_len: u64,
    pub content_hash: u64,
    pub index_hash: u64,
}

impl Trailer {
    pub fn to_bytes(&self) -> [u8; TRAILER_LEN] {
        let mut b = [0u8; TRAILER_LEN];
        b[0..8].copy_from_slice(&self.index_len.to_le_bytes());
        b[8..16].copy_from_slice(&self.original_len.to_le_bytes());
        b[16..24].copy_from_slice(&self.content_hash.to_le_bytes());
        b[24..32].copy_from_slice(&self.index_hash.to_le_bytes());
        b[32..40].copy_from_slice(&END_MAGIC);
        b
    }

    /// Parses the trailer of a file of `file_len` bytes and checks that the index fits.
    pub fn parse(b: &[u8; TRAILER_LEN], file_len: u64) -> Result<Trailer> {
        if b[32..40] != END_MAGIC {
            return Err(Error::truncated(
                "no .znn trailer at the end of the file (truncated or corrupt)",
            ));
        }
        let u = |i: usize| u64::from_le_bytes(b[i..i + 8].try_into().unwrap());
        let t = Trailer {
            index_len: u(0),
            original_len: u(8),
            content_hash: u(16),
            index_hash: u(24),
        };
        let room = file_len.saturating_sub((HEADER_LEN + TRAILER_LEN) as u64);
        if t.index_len < 8 || t.index_len > room {
            return Err(Error::corrupt(format!(
                "index length {} does not fit in a file of {file_len} bytes",
                t.index_len
            )));
        }
        Ok(t)
    }
}
