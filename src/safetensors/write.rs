//! Writing safetensors: the exact bytes the safetensors package (0.8) writes for the same tensors
//! and metadata, kept as the header plus the tensors' own memory so that a compressor can read
//! them in order without an intermediate copy of the file ([`crate::compress::compress_parts`]).
//!
//! Byte layout (checked against safetensors 0.8's `serialize`, see `python/tests/test_save.py`):
//! `u64 LE n | n bytes of compact JSON, padded with spaces to a multiple of 8 | data`. The JSON
//! object holds `__metadata__` first when metadata is given (`{}` included), then one entry per
//! tensor in data order, each `{"dtype":..,"shape":[..],"data_offsets":[s,e]}`; strings are
//! escaped by serde_json, as safetensors' own serializer does. Data order: descending dtype rank
//! ([`super::DTYPES`]), then name (bytewise). safetensors keeps metadata in a `HashMap`, so with two
//! or more keys its order is random per call; here it is the caller's order (one of those).

#![forbid(unsafe_code)]

use super::table::{dtype_rank, tensor_bytes};
use crate::error::{Error, Result};
use std::cmp::Reverse;
use std::collections::HashSet;
use std::fmt::Write as _;

/// One tensor to write: its name, safetensors dtype code (`"BF16"`), shape, and bytes (little
/// endian, row major, exactly `shape`'s size).
#[derive(Clone, Debug)]
pub struct TensorData<'a> {
    pub name: String,
    pub dtype: String,
    pub shape: Vec<u64>,
    pub data: &'a [u8],
}

/// A safetensors file as its header bytes and the tensors' data in file order.
#[derive(Clone, Debug)]
pub struct Serialized<'a> {
    header: Vec<u8>,
    data: Vec<&'a [u8]>,
}

impl<'a> Serialized<'a> {
    /// Lays out `tensors` (any order) with `metadata` (`None`: no `__metadata__` entry). Refuses
    /// an unknown dtype, bytes that are not the shape's size, a duplicate name, the name
    /// `__metadata__` (safetensors writes such a file and then cannot read it back) and duplicate
    /// metadata keys.
    pub fn new(
        mut tensors: Vec<TensorData<'a>>,
        metadata: Option<&[(String, String)]>,
    ) -> Result<Serialized<'a>> {
        let mut names = HashSet::new();
        for t in &tensors {
            let want = tensor_bytes(&t.dtype, &t.shape).ok_or_else(|| {
                Error::invalid(format!(
                    "tensor {}: dtype {} with shape {:?} has no safetensors byte size",
                    t.name, t.dtype, t.shape
                ))
            })?;
            if want != t.data.len() as u64 {
                return Err(Error::invalid(format!(
                    "tensor {}: {} bytes given, its dtype and shape need {want}",
                    t.name,
                    t.data.len()
                )));
            }
            if t.name == "__metadata__" {
                return Err(Error::invalid("a tensor may not be named __metadata__"));
            }
            if !names.insert(t.name.as_str()) {
                return Err(Error::invalid(format!(
                    "tensor name {} given twice",
                    t.name
                )));
            }
        }
        if let Some(m) = metadata {
            let mut keys = HashSet::new();
            if let Some((k, _)) = m.iter().find(|(k, _)| !keys.insert(k.as_str())) {
                return Err(Error::invalid(format!("metadata key {k} given twice")));
            }
        }
        // The rank exists: tensor_bytes knew the dtype.
        tensors.sort_by(|a, b| {
            let key = |t: &TensorData| Reverse(dtype_rank(&t.dtype));
            key(a)
                .cmp(&key(b))
                .then_with(|| a.name.as_bytes().cmp(b.name.as_bytes()))
        });
        let mut json = String::from("{");
        if let Some(m) = metadata {
            json.push_str("\"__metadata__\":{");
            for (i, (k, v)) in m.iter().enumerate() {
                if i > 0 {
                    json.push(',');
                }
                let _ = write!(json, "{}:{}", quote(k), quote(v));
            }
            json.push('}');
        }
        let mut pos = 0u64;
        for (i, t) in tensors.iter().enumerate() {
            if i > 0 || metadata.is_some() {
                json.push(',');
            }
            let shape: Vec<String> = t.shape.iter().map(u64::to_string).collect();
            let end = pos + t.data.len() as u64;
            let _ = write!(
                json,
                "{}:{{\"dtype\":{},\"shape\":[{}],\"data_offsets\":[{pos},{end}]}}",
                quote(&t.name),
                quote(&t.dtype),
                shape.join(",")
            );
            pos = end;
        }
        json.push('}');
        let mut body = json.into_bytes();
        body.resize(body.len().next_multiple_of(8), b' ');
        let mut header = (body.len() as u64).to_le_bytes().to_vec();
        header.extend_from_slice(&body);
        Ok(Serialized {
            header,
            data: tensors.into_iter().map(|t| t.data).collect(),
        })
    }

    /// The length prefix and the padded JSON.
    pub fn header(&self) -> &[u8] {
        &self.header
    }

    /// Every byte of the file, as slices in order: the header, then each tensor's data.
    pub fn parts(&self) -> Vec<&[u8]> {
        let mut v = vec![&self.header[..]];
        v.extend(self.data.iter().copied().filter(|d| !d.is_empty()));
        v
    }

    /// Length of the file.
    pub fn len(&self) -> u64 {
        self.header.len() as u64 + self.data.iter().map(|d| d.len() as u64).sum::<u64>()
    }

    pub fn is_empty(&self) -> bool {
        false
    }

    /// The whole file in one buffer (tests, small files).
    pub fn to_vec(&self) -> Vec<u8> {
        self.parts().concat()
    }
}

/// A JSON string literal as serde_json writes it.
fn quote(s: &str) -> String {
    serde_json::to_string(s).expect("a string always serializes")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t<'a>(name: &str, dtype: &str, shape: &[u64], data: &'a [u8]) -> TensorData<'a> {
        TensorData {
            name: name.into(),
            dtype: dtype.into(),
            shape: shape.to_vec(),
            data,
        }
    }

    #[test]
    fn same_bytes_as_safetensors() {
        // Expected bytes as safetensors 0.8 writes them (python: safetensors.torch.save).
        assert_eq!(
            Serialized::new(vec![], None).unwrap().to_vec(),
            b"\x08\0\0\0\0\0\0\0{}      "
        );
        let a = [0u8; 8];
        let s = Serialized::new(
            vec![t("a", "F32", &[2], &a)],
            Some(&[("format".into(), "pt".into())]),
        )
        .unwrap();
        let json = br#"{"__metadata__":{"format":"pt"},"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#;
        let mut want = 88u64.to_le_bytes().to_vec();
        want.extend_from_slice(json);
        want.resize(8 + 88, b' ');
        want.extend_from_slice(&a);
        assert_eq!(json.len(), 85);
        assert_eq!(s.to_vec(), want);
        assert_eq!(s.len(), want.len() as u64);
    }

    #[test]
    fn order_escapes_and_scalars() {
        let (f, h, b, u) = ([1u8; 4], [2u8; 2], [3u8; 2], [4u8; 1]);
        let s = Serialized::new(
            vec![
                t("z", "U8", &[1], &u),
                t("b\"é\n", "F16", &[], &h),
                t("a", "F16", &[1], &b),
                t("e", "BF16", &[0, 3], &[]),
                t("x", "F32", &[1, 1], &f),
            ],
            Some(&[]),
        )
        .unwrap();
        let head = s.header();
        let n = u64::from_le_bytes(head[..8].try_into().unwrap()) as usize;
        assert_eq!(n % 8, 0);
        let json = std::str::from_utf8(&head[8..8 + n]).unwrap().trim_end();
        assert_eq!(
            json,
            "{\"__metadata__\":{},\"x\":{\"dtype\":\"F32\",\"shape\":[1,1],\"data_offsets\":[0,4]},\
             \"e\":{\"dtype\":\"BF16\",\"shape\":[0,3],\"data_offsets\":[4,4]},\
             \"a\":{\"dtype\":\"F16\",\"shape\":[1],\"data_offsets\":[4,6]},\
             \"b\\\"é\\n\":{\"dtype\":\"F16\",\"shape\":[],\"data_offsets\":[6,8]},\
             \"z\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[8,9]}}"
        );
        assert_eq!(&s.to_vec()[8 + n..], [1, 1, 1, 1, 3, 3, 2, 2, 4]);
        // and it reads back as a valid table
        let all = s.to_vec();
        let h = super::super::read_table(&all[..]).unwrap();
        assert_eq!(h.tensors.len(), 5);
    }

    #[test]
    fn refusals() {
        let d = [0u8; 4];
        let bad = [
            vec![t("a", "F32", &[2], &d)],
            vec![t("a", "Q7", &[4], &d)],
            vec![t("__metadata__", "U8", &[4], &d)],
            vec![t("a", "U8", &[4], &d), t("a", "I8", &[4], &d)],
        ];
        for v in bad {
            let e = Serialized::new(v, None).unwrap_err();
            assert_eq!(e.kind(), crate::ErrorKind::InvalidArgument);
        }
        let m = [("k".to_string(), "1".to_string()), ("k".into(), "2".into())];
        assert!(Serialized::new(vec![], Some(&m)).is_err());
    }
}
