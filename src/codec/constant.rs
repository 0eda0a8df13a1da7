//! Codec 1, const: a stream of one repeated byte (padding, zero tensors, masks); the value sits in
//! the chunk map and there is no payload.

#![forbid(unsafe_code)]

use super::Coding;
use crate::error::{Error, Result};
use crate::format::WireReader;

/// `value:u8`; the payload must be empty.
pub fn read_fields(r: &mut WireReader, comp_len: u32) -> Result<Coding> {
    let value = r.u8()?;
    if comp_len != 0 {
        return Err(Error::corrupt("const stream with a payload"));
    }
    Ok(Coding::Const { value })
}

/// The stream: `n` copies of `value` in `buf`.
pub fn decode(value: u8, n: usize, buf: &mut Vec<u8>) {
    buf.clear();
    buf.resize(n, value);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn value_from_the_map_and_no_payload() {
        assert_eq!(
            read_fields(&mut WireReader::new(&[7]), 0).unwrap(),
            Coding::Const { value: 7 }
        );
        assert!(read_fields(&mut WireReader::new(&[7]), 1).is_err());
        assert!(read_fields(&mut WireReader::new(&[]), 0).is_err());
        let mut b = vec![1, 2, 3, 4, 5];
        decode(9, 3, &mut b);
        assert_eq!(b, [9, 9, 9]);
    }
}
