//! Every value the WGSL kernels share with Rust, defined once here and generated into the shaders'
//! preamble ([`preamble`]), so the two sides agree by construction. A test parses and validates the
//! generated sources with naga.

use crate::constants::{GPU_HUFF_WG, GPU_MERGE_WG, GPU_MERGE_WPI, GPU_TABLE_WORDS, TABLE_LOG};
use crate::layout::{Layout, MAX_STREAMS};

/// Kernel error flags (OR-ed into `errors[0]`).
pub const ERR_PAST_END: u32 = 1;
pub const ERR_LENGTH: u32 = 2;
pub const ERR_DESCRIPTOR: u32 = 4;
pub const ERR_MERGE: u32 = 8;
pub const ERR_BAD_CODE: u32 = 16;

/// u32 words per chunk descriptor: first byte, length, layout, unused, one source per stream.
pub const CHUNK_WORDS: usize = 4 + MAX_STREAMS;
/// Source kinds of a chunk descriptor's stream (`kind << SRC_SHIFT | value`).
pub const SRC_COMP: u32 = 0;
pub const SRC_HUFF: u32 = 1;
pub const SRC_CONST: u32 = 2;
pub const SRC_SHIFT: u32 = 30;
/// Largest byte offset a source can hold (30 bits).
pub const SRC_MAX: u64 = (1 << SRC_SHIFT) - 1;
/// Bit positions inside one binding are u32 in the shaders (byte offset × 8, plus one 11-bit
/// peek): 256 MiB keeps them in range whatever the adapter allows.
pub const BINDING_CAP_BYTES: u64 = 256 * 1024 * 1024;
/// Bytes of `huffman_decode.wgsl`'s workgroup table; wgpu 30 does not check it against the limit.
pub const HUFF_WORKGROUP_BYTES: u32 = (GPU_TABLE_WORDS * 4) as u32;

const _: () = assert!(BINDING_CAP_BYTES * 8 + TABLE_LOG as u64 <= u32::MAX as u64);
const _: () = assert!(SRC_MAX < BINDING_CAP_BYTES * 8);
const _: () = assert!(GPU_MERGE_WG % GPU_HUFF_WG == 0 || GPU_HUFF_WG % GPU_MERGE_WG == 0);

/// `(name, value, what it is)`: the table the preamble is generated from.
pub fn table() -> Vec<(&'static str, u32, &'static str)> {
    let mut t = vec![
        (
            "ERR_PAST_END",
            ERR_PAST_END,
            "a sub-stream's codes run past its declared length",
        ),
        (
            "ERR_LENGTH",
            ERR_LENGTH,
            "a sub-stream leaves a whole byte over",
        ),
        (
            "ERR_DESCRIPTOR",
            ERR_DESCRIPTOR,
            "a descriptor points outside its buffer",
        ),
        (
            "ERR_MERGE",
            ERR_MERGE,
            "the merge read outside a stream buffer or found no chunk",
        ),
        (
            "ERR_BAD_CODE",
            ERR_BAD_CODE,
            "a table entry of length 0 (an incomplete table)",
        ),
        (
            "CHUNK_WORDS",
            CHUNK_WORDS as u32,
            "u32 words per chunk descriptor",
        ),
        ("SRC_COMP", SRC_COMP, "stream source: byte offset in comp"),
        ("SRC_HUFF", SRC_HUFF, "stream source: byte offset in huff"),
        ("SRC_CONST", SRC_CONST, "stream source: a constant byte"),
        ("SRC_SHIFT", SRC_SHIFT, "source kind bit position"),
        ("SRC_MASK", SRC_MAX as u32, "source value bits"),
        ("TABLE_LOG", TABLE_LOG, "longest Huffman code, bits"),
        (
            "TABLE_WORDS",
            GPU_TABLE_WORDS as u32,
            "u32 words of one decode table",
        ),
        (
            "BINDING_CAP",
            BINDING_CAP_BYTES as u32,
            "largest binding the kernels address",
        ),
        ("HUFF_WG", GPU_HUFF_WG, "Huffman workgroup size"),
        ("MERGE_WG", GPU_MERGE_WG, "merge workgroup size"),
        (
            "MERGE_WPI",
            GPU_MERGE_WPI,
            "output words per merge invocation",
        ),
        (
            "LAYOUT_COUNT",
            Layout::ALL.len() as u32,
            "layout ids are below this",
        ),
    ];
    for l in Layout::ALL {
        t.push((layout_const(l), l.id() as u32, "layout id"));
    }
    t
}

fn layout_const(l: Layout) -> &'static str {
    match l {
        Layout::Byte => "LAYOUT_BYTE",
        Layout::Bf16 => "LAYOUT_BF16",
        Layout::Fp16 => "LAYOUT_FP16",
        Layout::Fp32 => "LAYOUT_FP32",
        Layout::Fp64 => "LAYOUT_FP64",
        Layout::Group4 => "LAYOUT_GROUP4",
    }
}

/// The WGSL constants every kernel starts with.
pub fn preamble() -> String {
    let mut s = String::from("// Generated from src/gpu/shader_consts.rs: do not edit here.\n");
    for (name, v, what) in table() {
        s.push_str(&format!("const {name}: u32 = {v}u; // {what}\n"));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_values_fit() {
        let t = table();
        let mut names: Vec<_> = t.iter().map(|e| e.0).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), t.len());
        assert!(preamble().lines().count() == t.len() + 1);
    }
}
