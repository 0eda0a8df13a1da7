//! Codec 0, raw: the stream's bytes as they are. Incompressible streams (sign and mantissa bytes of
//! weights) decode at memory speed, read straight from the payload with no copy.

#![forbid(unsafe_code)]

use crate::error::{Error, Result};

/// A raw stream's payload is exactly its `n` bytes.
pub fn check_fields(n: usize, comp_len: u32) -> Result<()> {
    if comp_len as usize != n {
        return Err(Error::corrupt(
            "raw stream length differs from its element count",
        ));
    }
    Ok(())
}

/// Appends the payload of `s`.
pub fn encode(s: &[u8], out: &mut Vec<u8>) {
    out.extend_from_slice(s);
}

#[cfg(test)]
mod tests {
    #[test]
    fn length_must_equal_the_element_count() {
        assert!(super::check_fields(10, 10).is_ok());
        assert!(super::check_fields(10, 9).is_err());
        let mut out = vec![1];
        super::encode(&[2, 3], &mut out);
        assert_eq!(out, [1, 2, 3]);
    }
}
