//! safetensors: recognition for compression (the header becomes a byte segment and each run of
//! tensor data gets the layout of its dtype; nothing from the header is trusted, offsets are
//! checked against the file), the strict table a loader hands tensors out from ([`Header::validate`],
//! [`read_table`]), and the exact bytes the safetensors package writes ([`Serialized`]).

#![forbid(unsafe_code)]

mod table;
mod write;

pub use table::{dtype_bits, dtype_rank, read_table, tensor_bytes, DTYPES};
pub use write::{Serialized, TensorData};

use crate::layout::Layout;
use std::collections::BTreeMap;

/// Largest header accepted (the safetensors reference implementation uses 100 MB).
const MAX_HEADER: u64 = 100_000_000;

/// One tensor of the header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TensorInfo {
    pub name: String,
    pub dtype: String,
    pub shape: Vec<u64>,
    /// Absolute byte range in the file.
    pub start: u64,
    pub end: u64,
}

/// A parsed safetensors header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Header {
    /// 8 + JSON length: where tensor data starts.
    pub data_start: u64,
    /// In file order (by data offset).
    pub tensors: Vec<TensorInfo>,
    /// The `__metadata__` entry (string to string), when present; a non-string value is kept as
    /// its JSON text.
    pub metadata: Option<BTreeMap<String, String>>,
}

/// Bytes of a file's start needed to parse its header, if the first 8 bytes can be a safetensors
/// length prefix of a file of `file_len` bytes.
pub fn header_len(first8: &[u8], file_len: u64) -> Option<u64> {
    let n = u64::from_le_bytes(first8.get(..8)?.try_into().ok()?);
    if !(2..=MAX_HEADER).contains(&n) {
        return None;
    }
    // `n` is bounded first: `8 + n` overflows for a prefix near u64::MAX (a panic wherever overflow
    // checks are on: debug builds, the fuzz targets).
    let len = 8 + n;
    (len <= file_len).then_some(len)
}

/// Parses the header at the start of `head` (which holds at least `header_len` bytes) of a file of
/// `file_len` bytes. `None` when it is not a well-formed safetensors header.
pub fn parse(head: &[u8], file_len: u64) -> Option<Header> {
    let data_start = header_len(head, file_len)?;
    let json = head.get(8..data_start as usize)?;
    if json.first() != Some(&b'{') {
        return None;
    }
    let v: serde_json::Value = serde_json::from_slice(json).ok()?;
    let mut tensors = Vec::new();
    let mut metadata = None;
    for (name, t) in v.as_object()? {
        if name == "__metadata__" {
            // Not a map: not valid safetensors metadata; ignored, as it always was for planning.
            if let Some(m) = t.as_object() {
                let text = |v: &serde_json::Value| match v {
                    serde_json::Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                metadata = Some(m.iter().map(|(k, v)| (k.clone(), text(v))).collect());
            }
            continue;
        }
        let dtype = t.get("dtype")?.as_str()?.to_string();
        let shape = t
            .get("shape")?
            .as_array()?
            .iter()
            .map(|d| d.as_u64())
            .collect::<Option<Vec<u64>>>()?;
        let off = t.get("data_offsets")?.as_array()?;
        let (s, e) = (off.first()?.as_u64()?, off.get(1)?.as_u64()?);
        let (start, end) = (data_start.checked_add(s)?, data_start.checked_add(e)?);
        if s > e || end > file_len {
            return None;
        }
        tensors.push(TensorInfo {
            name: name.clone(),
            dtype,
            shape,
            start,
            end,
        });
    }
    tensors.sort_by_key(|t| (t.start, t.end));
    Some(Header {
        data_start,
        tensors,
        metadata,
    })
}

/// The layout for a safetensors dtype name.
pub fn dtype_layout(dtype: &str) -> Layout {
    match dtype {
        "BF16" => Layout::Bf16,
        "F16" | "I16" | "U16" => Layout::Fp16,
        "F32" => Layout::Fp32,
        "I32" | "U32" => Layout::Group4,
        "F64" | "I64" | "U64" => Layout::Fp64,
        _ => Layout::Byte,
    }
}

pub use crate::format::Planned;

/// Segments covering a safetensors file of `file_len` bytes, in order: the header
/// as bytes, each tensor with the layout of its dtype, anything else (gaps, overlaps, a tail) as
/// bytes. A length that is not whole elements has its tail split off as bytes.
///
/// A tensor starts a segment of its own, so that chunks (and their Huffman tables) follow tensor
/// statistics: 0.05 points smaller on BF16 models than cutting runs of tensors into chunks. A
/// neighbour of the same layout is merged in when either is shorter than `min_segment` bytes,
/// because a chunk per tiny tensor (biases, norms) costs a table and a record for a few symbols.
///
/// A tensor for which `base_of` gives a base offset becomes a delta segment of its own (never
/// merged: its bytes are XORed with one range of the base).
pub fn segments(
    h: &Header,
    file_len: u64,
    min_segment: u64,
    base_of: impl Fn(&TensorInfo) -> Option<u64>,
) -> Vec<Planned> {
    let mut out: Vec<Planned> = Vec::new();
    // Whether the last segment may take more tensors (it is a short one, or bytes).
    let mut open = false;
    let mut push = |l: Layout, len: u64, tensor: bool, base_offset: Option<u64>| {
        if len == 0 {
            return;
        }
        if base_offset.is_some() {
            out.push(Planned {
                layout: l,
                len,
                base_offset,
            });
            open = false;
            return;
        }
        match out.last_mut() {
            Some(p)
                if p.base_offset.is_none()
                    && p.layout == l
                    && (l == Layout::Byte || (tensor && (open || len < min_segment))) =>
            {
                p.len += len;
                open = p.len < min_segment;
            }
            _ => {
                out.push(Planned {
                    layout: l,
                    len,
                    base_offset: None,
                });
                open = len < min_segment;
            }
        }
    };
    let mut pos = 0u64;
    push(Layout::Byte, h.data_start, false, None);
    pos += h.data_start;
    for t in &h.tensors {
        if t.start < pos {
            // Overlapping tensors: the overlap was already covered; the rest goes as bytes.
            let end = t.end.max(pos);
            push(Layout::Byte, end - pos, false, None);
            pos = end;
            continue;
        }
        push(Layout::Byte, t.start - pos, false, None);
        let l = dtype_layout(&t.dtype);
        let len = t.end - t.start;
        let whole = len - len % l.elem_size() as u64;
        match base_of(t) {
            // The tail is part of the same matched tensor: XOR it with the base too.
            Some(b) if len % l.elem_size() as u64 != 0 => {
                push(l, whole, true, Some(b));
                push(Layout::Byte, len - whole, false, Some(b + whole));
            }
            b => {
                push(l, whole, true, b);
                push(Layout::Byte, len - whole, false, None);
            }
        }
        pos = t.end;
    }
    push(Layout::Byte, file_len - pos, false, None);
    out
}
/// Segments for a file without structure: the whole elements of `layout`, then the tail as bytes.
pub fn plain_segments(layout: Layout, file_len: u64) -> Vec<Planned> {
    let whole = file_len - file_len % layout.elem_size() as u64;
    [(layout, whole), (Layout::Byte, file_len - whole)]
        .into_iter()
        .filter(|&(_, len)| len > 0)
        .map(|(layout, len)| Planned {
            layout,
            len,
            base_offset: None,
        })
        .collect()
}
