//! Every value the WGSL kernels share with Rust, defined once here and generated into the shaders'
//! preamble ([`preamble`]), so the two sides agree by construction. A test parses and validates the
//! generated sources with naga.

use crate::codec::pair::{MAX_PAIR_BITS, MIN_PAIR_BITS, PAIR_TABLE_LOG};
use crate::codec::rans;
use crate::constants::{
    GPU_HUFF_WG, GPU_MERGE_WG, GPU_MERGE_WPI, GPU_TABLE_WORDS, MAX_SUB_SYMBOLS, TABLE_LOG,
};
use crate::layout::{Layout, MAX_STREAMS};

/// Kernel error flags (OR-ed into `errors[0]`).
pub const ERR_PAST_END: u32 = 1;
pub const ERR_LENGTH: u32 = 2;
pub const ERR_DESCRIPTOR: u32 = 4;
pub const ERR_MERGE: u32 = 8;
pub const ERR_BAD_CODE: u32 = 16;
pub const ERR_CHECKSUM: u32 = 32;
pub const ERR_TABLE: u32 = 64;

/// Chunk descriptor word 3 of a standalone chunk (a delta chunk holds its base bytes' offset).
pub const NO_BASE: u32 = u32::MAX;
/// Longest valid Huffman sub-stream in bytes: `MAX_SUB_SYMBOLS` codes of at most `TABLE_LOG` bits.
/// A longer descriptor is corrupt, and the bound keeps the kernel's relative bit positions
/// (counted from the sub-stream's first word) far inside a u32.
pub const MAX_SUB_BYTES: u32 = MAX_SUB_SYMBOLS * TABLE_LOG / 8 + 1;
/// u32 words of one pair decode table (`table_build.wgsl`): `2^PAIR_TABLE_LOG` u16 entries, two
/// per word.
pub const PAIR_TABLE_WORDS: usize = (1 << PAIR_TABLE_LOG) / 2;
/// A GPU pair entry is `x | code length << PAIR_LEN_SHIFT`: the symbol `x < 2^(8 + K) <= 2^12`,
/// the length `<= 12` in the 4 bits above it, so every K of 1..=4 fits 16 bits.
pub const PAIR_LEN_SHIFT: u32 = 8 + MAX_PAIR_BITS as u32;
/// Longest valid pair sub-stream in bytes: `MAX_SUB_SYMBOLS` elements of at most a 12-bit code and
/// 7 raw bits.
pub const MAX_PAIR_SUB_BYTES: u32 =
    MAX_SUB_SYMBOLS * (PAIR_TABLE_LOG + 8 - MIN_PAIR_BITS as u32) / 8 + 1;
/// Longest valid rANS sub-stream in bytes: the 4-byte state and at most one 16-bit word per symbol
/// (FORMAT.md "rANS streams": a step renormalises at most once).
pub const MAX_RANS_SUB_BYTES: u32 = 4 + 2 * MAX_SUB_SYMBOLS;
/// u32 words of the rANS slot table: one symbol byte per slot, four per word.
pub const RANS_SLOT_WORDS: u32 = (1 << rans::PROB_BITS) / 4;
/// u32 words of a rANS decode table (`rans_symbols.wgsl`): the slot table, then `freq | cum << 16`
/// per symbol.
pub const RANS_TABLE_WORDS: u32 = RANS_SLOT_WORDS + 256;
/// K of a fused job's rANS stream (`fused_decode.wgsl`; 0 is Huffman, 1..=4 a pair code's K): the
/// top 16 bits of the job's word 2 hold the rANS table's size.
pub const FUSED_RANS_K: u32 = 255;
/// K of a fused job's second stream when the job decodes one stream only.
pub const FUSED_NONE_K: u32 = 254;
/// Word of the fused kernel's `table` where the table of a job's second stream starts: after the
/// largest first table that leaves room for it (rANS; a Huffman table is smaller).
pub const FUSED_TABLE1_WORD: u32 = RANS_TABLE_WORDS;
/// Words of the fused kernel's `table`: a pair table (or a Huffman table and its second-symbol
/// table), or two tables of a job that decodes two streams (Huffman or rANS each).
pub const FUSED_TABLE_WORDS: u32 = max(PAIR_TABLE_WORDS as u32, 2 * RANS_TABLE_WORDS);

const fn max(a: u32, b: u32) -> u32 {
    if a > b {
        a
    } else {
        b
    }
}
/// Workgroup bytes of `table_build.wgsl` besides the table: block counts (16 per invocation), the
/// first code per length, each invocation's last mark, the verdict; and `rans_symbols.wgsl`'s
/// verdict (the fused kernel has both).
pub const BUILD_SCRATCH_BYTES: u32 = (GPU_HUFF_WG * 16 + 16 + GPU_HUFF_WG + 1 + 1) * 4;
/// Workgroup bytes of the kernel that needs most of them, `fused_decode.wgsl`: its table array
/// (a pair table, a Huffman table and its second-symbol table, or two tables) and the builder's
/// scratch, 14.3 KiB of the 16 KiB every device offers (`huffman_decode.wgsl` and
/// `pair_decode.wgsl` size their array for a pair table: 12.3 KiB); wgpu 30 does not check them
/// against the limit.
pub const TABLE_WORKGROUP_BYTES: u32 = FUSED_TABLE_WORDS * 4 + BUILD_SCRATCH_BYTES;
/// Invocations of a checksum workgroup (one workgroup per chunk): 8 accumulator lanes times
/// `CSUM_WG / 8` blocks computed at once.
pub const CSUM_WG: u32 = 256;

/// u32 words per chunk descriptor: first byte, length, layout, unused, one source per stream.
pub const CHUNK_WORDS: usize = 4 + MAX_STREAMS;
/// Source kinds of a chunk descriptor's stream (`kind << SRC_SHIFT | value`).
pub const SRC_COMP: u32 = 0;
pub const SRC_HUFF: u32 = 1;
pub const SRC_CONST: u32 = 2;
/// Stream 0 (and a paired stream 1) of a chunk that `fused_decode.wgsl` writes straight into the
/// output: nothing is staged, and the merge leaves the chunk's words alone.
pub const SRC_FUSED: u32 = 3;
pub const SRC_SHIFT: u32 = 30;
/// Largest byte offset a source can hold (30 bits).
pub const SRC_MAX: u64 = (1 << SRC_SHIFT) - 1;
/// Largest binding the kernels address: byte offsets in descriptors are 30-bit sources
/// ([`SRC_MAX`]); bit positions are relative to a sub-stream, so they no longer bound it.
pub const BINDING_CAP_BYTES: u64 = 1 << SRC_SHIFT;

const _: () = assert!((MAX_SUB_BYTES as u64 + 4) * 8 + 64 <= u32::MAX as u64);
const _: () = assert!((MAX_PAIR_SUB_BYTES as u64 + 4) * 8 + 64 <= u32::MAX as u64);
// rans_decode.wgsl: a byte offset in comp (< 2^30) plus a sub-stream stays far inside a u32, and
// its table and slot table (1 KiB + 4 KiB) fit the 16 KiB of workgroup memory. A fused job holds
// the rANS table's size in 16 bits (a valid table is at most 2 + 2 * 256 bytes: two-byte varints
// below 4096; fused.rs refuses a longer one).
const _: () = assert!(SRC_MAX + MAX_RANS_SUB_BYTES as u64 + 8 <= u32::MAX as u64);
const _: () = assert!((RANS_TABLE_WORDS + 1) * 4 <= 16384);
const _: () = assert!(FUSED_RANS_K > MAX_PAIR_BITS as u32 && FUSED_RANS_K < 256);
const _: () = assert!(FUSED_NONE_K > MAX_PAIR_BITS as u32 && FUSED_NONE_K != FUSED_RANS_K);
// A Huffman table fits before the second table, and either kind of second table after it.
const _: () = assert!(GPU_TABLE_WORDS as u32 <= FUSED_TABLE1_WORD);
const _: () =
    assert!(FUSED_TABLE1_WORD + max(RANS_TABLE_WORDS, GPU_TABLE_WORDS as u32) <= FUSED_TABLE_WORDS);
const _: () = assert!(PAIR_TABLE_LOG <= PAIR_LEN_SHIFT && PAIR_LEN_SHIFT + 4 <= 16);
const _: () = assert!(TABLE_WORKGROUP_BYTES <= 16384);
// table_build.wgsl: every invocation owns the same number of whole table words, and one
// invocation per length bin exists.
const _: () = assert!(GPU_TABLE_WORDS % GPU_HUFF_WG as usize == 0 && GPU_HUFF_WG >= 16);
// huffman_symbols.wgsl: a Huffman table and its second-symbol table (TABLE_WORDS words each)
// share the table array sized for a pair table.
const _: () = assert!(PAIR_TABLE_WORDS >= 2 * GPU_TABLE_WORDS);
const _: () = assert!(SRC_MAX < BINDING_CAP_BYTES);
const _: () = assert!(CSUM_WG % 8 == 0);
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
            "a sub-stream leaves a whole byte over (rANS: a word over, or a final state other than 2^16)",
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
            "a table entry of length 0 (an incomplete table; rANS: a state below 2^16)",
        ),
        (
            "ERR_CHECKSUM",
            ERR_CHECKSUM,
            "a chunk's xxh3-64 differs from its record",
        ),
        (
            "ERR_TABLE",
            ERR_TABLE,
            "a code-length table outside comp or not a complete code (rANS: not a valid frequency table)",
        ),
        ("NO_BASE", NO_BASE, "chunk descriptor: no delta base"),
        (
            "MAX_SUB_BYTES",
            MAX_SUB_BYTES,
            "longest valid Huffman sub-stream, bytes",
        ),
        (
            "MAX_PAIR_SUB_BYTES",
            MAX_PAIR_SUB_BYTES,
            "longest valid pair sub-stream, bytes",
        ),
        ("PAIR_TABLE_LOG", PAIR_TABLE_LOG, "longest pair code, bits"),
        (
            "MAX_RANS_SUB_BYTES",
            MAX_RANS_SUB_BYTES,
            "longest valid rANS sub-stream, bytes",
        ),
        ("RANS_PROB_BITS", rans::PROB_BITS, "rANS probability bits"),
        ("RANS_SCALE", 1 << rans::PROB_BITS, "rANS frequencies sum"),
        ("RANS_LOW", rans::LOW, "rANS state lower bound"),
        (
            "RANS_MIN_TABLE_BYTES",
            rans::MIN_TABLE_BYTES as u32,
            "shortest rANS table, bytes",
        ),
        (
            "RANS_SLOT_WORDS",
            RANS_SLOT_WORDS,
            "u32 words of the rANS slot table",
        ),
        (
            "RANS_TABLE_WORDS",
            RANS_TABLE_WORDS,
            "u32 words of a rANS decode table: slots, then freq | cum << 16 per symbol",
        ),
        (
            "FUSED_RANS_K",
            FUSED_RANS_K,
            "fused job K of a rANS stream",
        ),
        (
            "FUSED_NONE_K",
            FUSED_NONE_K,
            "fused job K of a second stream that is not decoded",
        ),
        (
            "FUSED_TABLE1_WORD",
            FUSED_TABLE1_WORD,
            "fused kernel: word of a second stream's table",
        ),
        (
            "PAIR_TABLE_WORDS",
            PAIR_TABLE_WORDS as u32,
            "u32 words of one pair decode table",
        ),
        (
            "PAIR_LEN_SHIFT",
            PAIR_LEN_SHIFT,
            "pair entry: code length bit position",
        ),
        (
            "MIN_PAIR_BITS",
            MIN_PAIR_BITS as u32,
            "smallest K of a pair stream",
        ),
        (
            "MAX_PAIR_BITS",
            MAX_PAIR_BITS as u32,
            "largest K of a pair stream",
        ),
        ("CSUM_WG", CSUM_WG, "checksum workgroup size"),
        (
            "CHUNK_WORDS",
            CHUNK_WORDS as u32,
            "u32 words per chunk descriptor",
        ),
        ("SRC_COMP", SRC_COMP, "stream source: byte offset in comp"),
        ("SRC_HUFF", SRC_HUFF, "stream source: byte offset in huff"),
        ("SRC_CONST", SRC_CONST, "stream source: a constant byte"),
        (
            "SRC_FUSED",
            SRC_FUSED,
            "stream source: written by the fused kernel",
        ),
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

/// xxh3's default secret (the xxHash specification's `kSecret`; seed 0 uses it as is). A test
/// checks it against the CPU's xxh3 (`xxh3_64_with_secret` with it equals `xxh3_64`).
pub const XXH3_SECRET: [u8; 192] = [
    0xb8, 0xfe, 0x6c, 0x39, 0x23, 0xa4, 0x4b, 0xbe, 0x7c, 0x01, 0x81, 0x2c, 0xf7, 0x21, 0xad, 0x1c,
    0xde, 0xd4, 0x6d, 0xe9, 0x83, 0x90, 0x97, 0xdb, 0x72, 0x40, 0xa4, 0xa4, 0xb7, 0xb3, 0x67, 0x1f,
    0xcb, 0x79, 0xe6, 0x4e, 0xcc, 0xc0, 0xe5, 0x78, 0x82, 0x5a, 0xd0, 0x7d, 0xcc, 0xff, 0x72, 0x21,
    0xb8, 0x08, 0x46, 0x74, 0xf7, 0x43, 0x24, 0x8e, 0xe0, 0x35, 0x90, 0xe6, 0x81, 0x3a, 0x26, 0x4c,
    0x3c, 0x28, 0x52, 0xbb, 0x91, 0xc3, 0x00, 0xcb, 0x88, 0xd0, 0x65, 0x8b, 0x1b, 0x53, 0x2e, 0xa3,
    0x71, 0x64, 0x48, 0x97, 0xa2, 0x0d, 0xf9, 0x4e, 0x38, 0x19, 0xef, 0x46, 0xa9, 0xde, 0xac, 0xd8,
    0xa8, 0xfa, 0x76, 0x3f, 0xe3, 0x9c, 0x34, 0x3f, 0xf9, 0xdc, 0xbb, 0xc7, 0xc7, 0x0b, 0x4f, 0x1d,
    0x8a, 0x51, 0xe0, 0x4b, 0xcd, 0xb4, 0x59, 0x31, 0xc8, 0x9f, 0x7e, 0xc9, 0xd9, 0x78, 0x73, 0x64,
    0xea, 0xc5, 0xac, 0x83, 0x34, 0xd3, 0xeb, 0xc3, 0xc5, 0x81, 0xa0, 0xff, 0xfa, 0x13, 0x63, 0xeb,
    0x17, 0x0d, 0xdd, 0x51, 0xb7, 0xf0, 0xda, 0x49, 0xd3, 0x16, 0x55, 0x26, 0x29, 0xd4, 0x68, 0x9e,
    0x2b, 0x16, 0xbe, 0x58, 0x7d, 0x47, 0xa1, 0xfc, 0x8f, 0xf8, 0xb8, 0xd1, 0x7a, 0xd0, 0x31, 0xce,
    0x45, 0xcb, 0x3a, 0x8f, 0x95, 0x16, 0x04, 0x28, 0xaf, 0xd7, 0xfb, 0xca, 0xbb, 0x4b, 0x40, 0x7e,
];

/// [`XXH3_SECRET`] as little-endian u32 words plus one zero word, for the
/// checksum kernel (which reads it at unaligned byte offsets).
pub fn xxh3_secret_wgsl() -> String {
    let mut words: Vec<String> = XXH3_SECRET
        .chunks_exact(4)
        .map(|w| format!("0x{:08X}u", u32::from_le_bytes(w.try_into().unwrap())))
        .collect();
    words.push("0u".into());
    format!(
        "var<private> XXH3_SECRET: array<u32, {}> = array<u32, {}>({});\n",
        words.len(),
        words.len(),
        words.join(", ")
    )
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

    #[test]
    fn the_secret_is_xxh3_default() {
        use xxhash_rust::xxh3::{xxh3_64, xxh3_64_with_secret};
        for n in [0usize, 3, 17, 200, 241, 1025, 5000] {
            let v: Vec<u8> = (0..n).map(|i| (i * 7 + 3) as u8).collect();
            assert_eq!(xxh3_64_with_secret(&v, &XXH3_SECRET), xxh3_64(&v), "{n}");
        }
    }
}
