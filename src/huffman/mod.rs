//! Canonical, length-limited Huffman coding of byte streams (FORMAT.md, "Huffman streams").
//!
//! `build` makes code lengths and the on-disk table; `encode` writes sub-streams; `decode` is the
//! CPU decoder. The single-symbol lookup table made by [`build::single_table`] is also what the
//! WGSL decoder reads, so both decoders derive codes from one place.

#![forbid(unsafe_code)]

pub mod build;
pub mod decode;
pub mod encode;

pub use build::{code_lengths, encoded_bits, CodeTable};
