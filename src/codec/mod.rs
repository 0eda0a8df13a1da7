//! Stream codecs: the wire enum, each codec's typed fields in the chunk map, and one module per
//! codec (its fields on the wire, size estimate, encoder, CPU decoder and unit tests).
//!
//! Adding a codec means: a variant of [`Codec`] and of [`Coding`] (and of [`Encoded`]), a module,
//! and a FORMAT.md section. Every `match` on these enums in the crate is exhaustive, so the compiler
//! lists each place that must handle the new codec: the index parser and writer, the chunk
//! decoder, the GPU descriptor builder, `info`'s counters.

#![forbid(unsafe_code)]

pub mod choose;
pub mod constant;
pub mod huffman;
pub mod raw;
pub mod zstd;

use crate::error::{Error, Result};
use crate::format::WireReader;

/// A stream codec; the discriminant is the on-disk id (FORMAT.md, "Chunk record").
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum Codec {
    Raw = 0,
    Const = 1,
    Huffman = 2,
    Zstd = 3,
}

impl Codec {
    pub const ALL: [Codec; 4] = [Codec::Raw, Codec::Const, Codec::Huffman, Codec::Zstd];

    pub fn name(self) -> &'static str {
        match self {
            Codec::Raw => "raw",
            Codec::Const => "const",
            Codec::Huffman => "huffman",
            Codec::Zstd => "zstd",
        }
    }

    /// The codec of an on-disk id; an unknown id is corrupt.
    pub fn from_id(id: u8) -> Result<Codec> {
        Codec::ALL
            .get(id as usize)
            .copied()
            .ok_or_else(|| Error::corrupt(format!("unknown codec id {id}")))
    }

    /// Position in [`Codec::ALL`] (for per-codec counters).
    pub fn index(self) -> usize {
        self as usize
    }
}

/// A coded stream's codec with the fields the chunk map records for it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Coding {
    /// The `n` stream bytes as they are.
    Raw,
    /// `n` copies of `value`; no payload.
    Const { value: u8 },
    /// Canonical Huffman; the sub-stream byte lengths start at `sub_start` in the index's
    /// sub-length array ([`crate::format::Index::sub_lens`]).
    Huffman { sub_start: u32 },
    /// One zstd frame.
    Zstd,
}

impl Coding {
    pub fn codec(&self) -> Codec {
        match self {
            Coding::Raw => Codec::Raw,
            Coding::Const { .. } => Codec::Const,
            Coding::Huffman { .. } => Codec::Huffman,
            Coding::Zstd => Codec::Zstd,
        }
    }
}

/// What the encoder made of one stream, before the chunk map places it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Encoded {
    Raw,
    Const(u8),
    /// The byte length of each sub-stream.
    Huffman(Vec<u32>),
    Zstd,
}

impl Encoded {
    pub fn codec(&self) -> Codec {
        match self {
            Encoded::Raw => Codec::Raw,
            Encoded::Const(_) => Codec::Const,
            Encoded::Huffman(_) => Codec::Huffman,
            Encoded::Zstd => Codec::Zstd,
        }
    }
}

/// One coded stream: its fields and payload length (table included for Huffman).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EncodedStream {
    pub fields: Encoded,
    pub comp_len: u32,
}

/// What decoding one stream of a chunk may look at: the element count, the sub-stream size, and
/// the chunk's streams decoded before this one (in stream order), so that a codec may code a
/// stream conditioned on an earlier one (the mantissa given the exponent, say).
pub struct DecodeCtx<'a> {
    /// Symbols of the stream (the chunk's element count).
    pub n: usize,
    pub sub_symbols: usize,
    /// Streams `0 .. k` of the chunk, each `n` bytes, when stream `k` decodes.
    pub earlier: &'a [&'a [u8]],
}

/// Reads the `codec_fields` of a stream record (FORMAT.md) of `n` symbols and `comp_len` payload
/// bytes; a Huffman stream's sub-stream lengths are appended to `sub_lens`.
pub(crate) fn read_fields(
    codec: Codec,
    r: &mut WireReader,
    n: usize,
    sub_symbols: usize,
    comp_len: u32,
    sub_lens: &mut Vec<u32>,
) -> Result<Coding> {
    match codec {
        Codec::Raw => raw::check_fields(n, comp_len).map(|_| Coding::Raw),
        Codec::Const => constant::read_fields(r, comp_len),
        Codec::Huffman => huffman::read_fields(r, n, sub_symbols, comp_len, sub_lens),
        Codec::Zstd => Ok(Coding::Zstd),
    }
}

/// Appends the `codec_fields` of a stream record; `subs` are the stream's sub-stream lengths.
pub(crate) fn write_fields(coding: &Coding, subs: &[u32], b: &mut Vec<u8>) {
    match coding {
        Coding::Raw | Coding::Zstd => {}
        Coding::Const { value } => b.push(*value),
        Coding::Huffman { .. } => huffman::write_fields(subs, b),
    }
}
