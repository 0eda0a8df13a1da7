//! The tensor table as the safetensors package itself accepts it: what a loader hands out tensors
//! from (Python's `safe_open`, `load_file`). [`super::parse`] is lenient on purpose (it only plans
//! segments, and anything it does not understand is coded as bytes); [`Header::validate`] adds the
//! rules of safetensors' `Metadata::validate`, so that a file safetensors refuses is refused here
//! too, as `Corrupt`.

#![forbid(unsafe_code)]

use super::{header_len, parse, Header, MAX_HEADER};
use crate::error::{Error, Result};
use crate::source::ByteSource;

/// Every safetensors dtype code with its bits per element, in the declaration order of the
/// safetensors crate's `Dtype` enum (0.8). That order is its derived `Ord`, by which
/// `save_file` lays tensors out (descending), so it is part of the byte format we reproduce.
pub const DTYPES: [(&str, u32); 22] = [
    ("BOOL", 8),
    ("F4", 4),
    ("F6_E2M3", 6),
    ("F6_E3M2", 6),
    ("U8", 8),
    ("I8", 8),
    ("F8_E5M2", 8),
    ("F8_E4M3", 8),
    ("F8_E8M0", 8),
    ("F8_E4M3FNUZ", 8),
    ("F8_E5M2FNUZ", 8),
    ("I16", 16),
    ("U16", 16),
    ("F16", 16),
    ("BF16", 16),
    ("I32", 32),
    ("U32", 32),
    ("F32", 32),
    ("C64", 64),
    ("F64", 64),
    ("I64", 64),
    ("U64", 64),
];

/// Bits per element of a dtype code, `None` for a code safetensors does not know.
pub fn dtype_bits(dtype: &str) -> Option<u32> {
    DTYPES.iter().find(|(d, _)| *d == dtype).map(|&(_, b)| b)
}

/// The rank of a dtype code in [`DTYPES`].
pub fn dtype_rank(dtype: &str) -> Option<usize> {
    DTYPES.iter().position(|(d, _)| *d == dtype)
}

/// Bytes of a tensor of `dtype` and `shape`: `None` when the dtype is unknown, the element count
/// overflows, or the bits do not fill whole bytes (safetensors' "misaligned slice").
pub fn tensor_bytes(dtype: &str, shape: &[u64]) -> Option<u64> {
    let bits = dtype_bits(dtype)? as u64;
    let n = shape.iter().try_fold(1u64, |a, &d| a.checked_mul(d))?;
    let total = n.checked_mul(bits)?;
    (total % 8 == 0).then_some(total / 8)
}

impl Header {
    /// Checks the table of a file of `file_len` bytes as safetensors does before handing out any
    /// tensor: known dtypes, each tensor's bytes exactly its shape's, the data back to back from
    /// the end of the header to the end of the file (no gap, no overlap, nothing after).
    pub fn validate(&self, file_len: u64) -> Result<()> {
        let mut pos = self.data_start;
        for t in &self.tensors {
            let name = &t.name;
            if t.start != pos {
                return Err(Error::corrupt(format!(
                    "safetensors header: tensor {name} starts at data offset {} where the previous \
                     tensor ends at {} (gap or overlap)",
                    t.start - self.data_start,
                    pos - self.data_start
                )));
            }
            if dtype_bits(&t.dtype).is_none() {
                return Err(Error::corrupt(format!(
                    "safetensors header: tensor {name} has unknown dtype {}",
                    t.dtype
                )));
            }
            match tensor_bytes(&t.dtype, &t.shape) {
                Some(n) if n == t.end - t.start => {}
                Some(n) => {
                    return Err(Error::corrupt(format!(
                        "safetensors header: tensor {name} of shape {:?} needs {n} bytes, its \
                         offsets give {}",
                        t.shape,
                        t.end - t.start
                    )))
                }
                None => {
                    return Err(Error::corrupt(format!(
                        "safetensors header: tensor {name} of shape {:?} has no byte size \
                         (not whole bytes, or too large)",
                        t.shape
                    )))
                }
            }
            pos = t.end;
        }
        if pos != file_len {
            return Err(Error::corrupt(format!(
                "safetensors header: the tensors end at byte {pos} of a {file_len}-byte file \
                 (incomplete metadata, file not fully covered)"
            )));
        }
        Ok(())
    }

    /// Bytes of tensor data (from the end of the header) in a file of `file_len` bytes.
    pub fn data_len(&self, file_len: u64) -> u64 {
        file_len.saturating_sub(self.data_start)
    }
}

/// The validated table of an uncompressed safetensors file.
pub fn read_table<S: ByteSource + ?Sized>(src: &S) -> Result<Header> {
    let len = src.len();
    if len < 8 {
        return Err(Error::corrupt("safetensors header too small"));
    }
    let mut first = [0u8; 8];
    src.read_exact_at(0, &mut first)?;
    let n = u64::from_le_bytes(first);
    if n > MAX_HEADER {
        return Err(Error::corrupt(format!(
            "safetensors header too large ({n} bytes)"
        )));
    }
    let need = header_len(&first, len).ok_or_else(|| {
        Error::corrupt(format!(
            "safetensors header: invalid header length {n} for a {len}-byte file"
        ))
    })?;
    let mut head = vec![0u8; need as usize];
    src.read_exact_at(0, &mut head)?;
    let h = parse(&head, len)
        .ok_or_else(|| Error::corrupt("safetensors header is not a valid JSON table of tensors"))?;
    h.validate(len)?;
    Ok(h)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(json: &str, data: usize) -> Vec<u8> {
        let mut v = (json.len() as u64).to_le_bytes().to_vec();
        v.extend_from_slice(json.as_bytes());
        v.resize(v.len() + data, 7);
        v
    }

    #[test]
    fn accepts_what_safetensors_accepts() {
        let j = r#"{"__metadata__":{"format":"pt"},"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F4","shape":[2,3],"data_offsets":[8,11]},"c":{"dtype":"BF16","shape":[],"data_offsets":[11,13]},"e":{"dtype":"U8","shape":[0,5],"data_offsets":[13,13]}}"#;
        let f = file(j, 13);
        let h = read_table(&f[..]).unwrap();
        let names: Vec<&str> = h.tensors.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(names, ["a", "b", "c", "e"]);
        assert_eq!(h.data_len(f.len() as u64), 13);
        assert_eq!(h.metadata.unwrap()["format"], "pt");
    }

    #[test]
    fn refuses_what_safetensors_refuses() {
        let t = |dtype: &str, shape: &str, s: u64, e: u64| {
            format!(r#"{{"t":{{"dtype":"{dtype}","shape":{shape},"data_offsets":[{s},{e}]}}}}"#)
        };
        let cases = [
            (t("F32", "[2]", 0, 8), 9),                    // a byte after the data
            (t("F32", "[2]", 0, 8), 7), // short: the lenient parse already refuses
            (t("F32", "[3]", 0, 8), 8), // shape and offsets disagree
            (t("F4", "[3]", 0, 1), 1),  // 12 bits
            (t("X9", "[1]", 0, 1), 1),  // unknown dtype
            (t("F32", "[2]", 4, 12), 12), // a gap before the first tensor
            (t("U8", "[4294967296,4294967296]", 0, 0), 0), // element count overflows
        ];
        for (j, data) in cases {
            let f = file(&j, data);
            let e = read_table(&f[..]).unwrap_err();
            assert_eq!(e.kind(), crate::ErrorKind::Corrupt, "{j}: {e}");
        }
        let two = r#"{"a":{"dtype":"U8","shape":[4],"data_offsets":[0,4]},"b":{"dtype":"U8","shape":[4],"data_offsets":[2,6]}}"#;
        assert!(read_table(&file(two, 6)[..]).is_err(), "overlap");
        for short in [
            &b""[..],
            b"\x02\0\0\0",
            b"\xff\xff\xff\xff\xff\xff\xff\x7f{}",
        ] {
            assert_eq!(
                read_table(short).unwrap_err().kind(),
                crate::ErrorKind::Corrupt
            );
        }
    }

    #[test]
    fn sizes_and_ranks() {
        assert_eq!(tensor_bytes("BF16", &[3, 5]), Some(30));
        assert_eq!(tensor_bytes("F4", &[2, 3]), Some(3));
        assert_eq!(tensor_bytes("F6_E2M3", &[4]), Some(3));
        assert_eq!(tensor_bytes("F6_E2M3", &[3]), None);
        assert_eq!(tensor_bytes("F32", &[]), Some(4));
        assert!(dtype_rank("U64") > dtype_rank("F32"));
        assert!(dtype_rank("BF16") > dtype_rank("F16"));
    }
}
