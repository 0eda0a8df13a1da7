//! Little-endian fields and LEB128 varints of the index (FORMAT.md), read from hostile bytes.

#![forbid(unsafe_code)]

use crate::error::{Error, Result};

/// Appends `v` as an unsigned LEB128 varint (at most 5 bytes).
pub fn put_varint(b: &mut Vec<u8>, mut v: u32) {
    while v >= 0x80 {
        b.push(v as u8 | 0x80);
        v >>= 7;
    }
    b.push(v as u8);
}

/// A cursor over index bytes; every read is bounds-checked.
pub struct WireReader<'a> {
    b: &'a [u8],
    pos: usize,
}

impl<'a> WireReader<'a> {
    pub fn new(b: &'a [u8]) -> Self {
        WireReader { b, pos: 0 }
    }
    pub fn remaining(&self) -> usize {
        self.b.len() - self.pos
    }
    pub fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        if self.remaining() < n {
            return Err(Error::truncated("index ends inside a record"));
        }
        self.pos += n;
        Ok(&self.b[self.pos - n..self.pos])
    }
    pub fn u8(&mut self) -> Result<u8> {
        Ok(self.take(1)?[0])
    }
    pub fn u32(&mut self) -> Result<u32> {
        Ok(u32::from_le_bytes(self.take(4)?.try_into().unwrap()))
    }
    pub fn u64(&mut self) -> Result<u64> {
        Ok(u64::from_le_bytes(self.take(8)?.try_into().unwrap()))
    }
    /// A canonical varint of at most 5 bytes whose value fits in a u32.
    pub fn varint(&mut self) -> Result<u32> {
        let mut v = 0u64;
        for i in 0..5 {
            let byte = self.u8()?;
            v |= ((byte & 0x7F) as u64) << (7 * i);
            if byte & 0x80 == 0 {
                if v > u32::MAX as u64 || (i > 0 && byte == 0) {
                    return Err(Error::corrupt("non-canonical or oversized varint"));
                }
                return Ok(v as u32);
            }
        }
        Err(Error::corrupt("varint longer than 5 bytes"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_round_trip_and_reject_non_canonical_forms() {
        for v in [0u32, 1, 127, 128, 300, 1 << 21, u32::MAX] {
            let mut b = Vec::new();
            put_varint(&mut b, v);
            assert_eq!(WireReader::new(&b).varint().unwrap(), v);
        }
        assert!(WireReader::new(&[0x80, 0x00]).varint().is_err());
        assert!(WireReader::new(&[0xFF; 6]).varint().is_err());
        assert!(WireReader::new(&[0xFF, 0xFF, 0xFF, 0xFF, 0x1F])
            .varint()
            .is_err());
        assert!(WireReader::new(&[0x80]).varint().is_err());
    }
}
