//! Codec 3, zstd: one zstd frame of the stream's bytes, for streams where zeros dominate
//! (checkpoint deltas, sparse tensors), which Huffman codes at a bit per symbol at best.

#![forbid(unsafe_code)]

use crate::constants::ZSTD_LEVEL;
use crate::error::{Error, Result};

/// The zstd frame of `s` at [`ZSTD_LEVEL`].
pub fn encode(s: &[u8]) -> Result<Vec<u8>> {
    ::zstd::bulk::compress(s, ZSTD_LEVEL).map_err(|e| Error::io("zstd compression", e))
}

/// A decoder context, made on first use and kept by the caller's scratch.
pub type Decoder = ::zstd::bulk::Decompressor<'static>;

/// Decodes the frame `body`, which must hold exactly `n` bytes, into `buf`.
pub fn decode(body: &[u8], n: usize, dec: &mut Option<Decoder>, buf: &mut Vec<u8>) -> Result<()> {
    let z = match dec {
        Some(z) => z,
        None => dec.insert(Decoder::new().map_err(|e| Error::io("zstd decoder", e))?),
    };
    buf.clear();
    buf.reserve(n);
    let got = z
        .decompress_to_buffer(body, buf)
        .map_err(|e| Error::corrupt(format!("zstd stream: {e}")))?;
    if got != n {
        return Err(Error::corrupt("zstd stream has the wrong length"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_decode_to_exactly_their_length() {
        let s: Vec<u8> = (0..5000u32).map(|i| (i % 97 == 0) as u8).collect();
        let z = encode(&s).unwrap();
        let (mut dec, mut buf) = (None, Vec::new());
        decode(&z, s.len(), &mut dec, &mut buf).unwrap();
        assert_eq!(buf, s);
        assert!(decode(&z, s.len() - 1, &mut dec, &mut buf).is_err());
        assert!(decode(&z[..z.len() / 2], s.len(), &mut dec, &mut buf).is_err());
    }
}
