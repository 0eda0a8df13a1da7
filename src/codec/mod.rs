//! Stream codecs: the wire enum, each codec's typed fields in the chunk map, and one module per
//! codec (its fields on the wire, size estimate, encoder, CPU decoder and unit tests).
//!
//! Adding a codec means: a variant of [`Codec`] and of [`Coding`] (and of [`Encoded`]), a module,
//! and a FORMAT.md section. Every `match` on these enums in the crate is exhaustive, so the compiler
//! lists each place that must handle the new codec: the index parser and writer, the chunk
//! decoder, the GPU descriptor builder, `info`'s counters.
//!
//! The pair codecs (4 and 5, format v3) are the exception: their streams keep a Huffman-shaped
//! [`Coding`] (a pair stream has sub-stream lengths like codec 2; its partner has no payload) and
//! carry [`Pairing`] beside it, so every decoder checks [`Pairing`] before matching on [`Coding`]
//! (the chunk decoder, the GPU planner `gpu::plan::build_window`).

#![forbid(unsafe_code)]

pub mod choose;
pub mod constant;
pub mod huffman;
pub mod pair;
pub mod pair_decode;
pub mod rans;
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
    /// This stream and the next coded together (format v3).
    Pair = 4,
    /// Decoded by the previous stream's pair code; no payload (format v3).
    Paired = 5,
    /// Order-0 rANS (format v4).
    Rans = 6,
}

impl Codec {
    pub const ALL: [Codec; 7] = [
        Codec::Raw,
        Codec::Const,
        Codec::Huffman,
        Codec::Zstd,
        Codec::Pair,
        Codec::Paired,
        Codec::Rans,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Codec::Raw => "raw",
            Codec::Const => "const",
            Codec::Huffman => "huffman",
            Codec::Zstd => "zstd",
            Codec::Pair => "pair",
            Codec::Paired => "paired",
            Codec::Rans => "rans",
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

    /// The oldest format version whose files may use this codec.
    pub fn min_version(self) -> u16 {
        match self {
            Codec::Raw | Codec::Const | Codec::Huffman | Codec::Zstd => 1,
            Codec::Pair | Codec::Paired => 3,
            Codec::Rans => 4,
        }
    }
}

/// Which codecs the encoder may choose among (`--codecs`); within the set it picks per stream by
/// measured size, so a wider set never makes a file larger.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum CodecSet {
    /// Codecs 0..=3 only: files stay format v1 (v2 for deltas), readable by older builds, and
    /// every decoder (the GPU kernels included) takes them.
    #[default]
    Fast,
    /// Also pair codes (format v3) with K = 3 where they are smaller.
    Balanced,
    /// Pair codes with the best K of 1..=4 per chunk: a little smaller, slower to compress.
    Small,
    /// As `Small`, and rANS (format v4) wherever it is smaller than Huffman: the smallest files
    /// (a quarter smaller fine-tune deltas), slower to compress and to decode.
    Smallest,
}

impl CodecSet {
    /// The pair widths K the encoder tries.
    pub fn pair_bits(self) -> &'static [u8] {
        match self {
            CodecSet::Fast => &[],
            CodecSet::Balanced => &[3],
            CodecSet::Small | CodecSet::Smallest => &[1, 2, 3, 4],
        }
    }

    /// Whether the encoder may use rANS (codec 6, format v4).
    pub fn rans(self) -> bool {
        self == CodecSet::Smallest
    }

    /// Parses a `--codecs` value.
    pub fn from_name(s: &str) -> Result<CodecSet> {
        match s {
            "fast" => Ok(CodecSet::Fast),
            "balanced" => Ok(CodecSet::Balanced),
            "small" => Ok(CodecSet::Small),
            "smallest" => Ok(CodecSet::Smallest),
            other => Err(Error::invalid(format!(
                "unknown codec set '{other}' (expected fast, balanced, small or smallest)"
            ))),
        }
    }
}

/// Whether a stream is coded jointly with its neighbour (codecs 4 and 5).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Pairing {
    /// Coded on its own, by its [`Coding`].
    #[default]
    Alone,
    /// Codec 4: this stream and the next, the symbol taking the top `bits` bits of the next
    /// stream's byte; the [`Coding`] is `Huffman { sub_start }` for the sub-stream lengths.
    Pair { bits: u8 },
    /// Codec 5: decoded by the previous stream's pair code; the [`Coding`] is `Const { value: 0 }`
    /// and there is no payload.
    Paired,
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
    /// rANS; the sub-stream byte lengths start at `sub_start`, as for Huffman.
    Rans { sub_start: u32 },
}

impl Coding {
    pub fn codec(&self) -> Codec {
        match self {
            Coding::Raw => Codec::Raw,
            Coding::Const { .. } => Codec::Const,
            Coding::Huffman { .. } => Codec::Huffman,
            Coding::Zstd => Codec::Zstd,
            Coding::Rans { .. } => Codec::Rans,
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
    /// K and the byte length of each sub-stream.
    Pair {
        bits: u8,
        subs: Vec<u32>,
    },
    Paired,
    /// The byte length of each sub-stream.
    Rans(Vec<u32>),
}

impl Encoded {
    pub fn codec(&self) -> Codec {
        match self {
            Encoded::Raw => Codec::Raw,
            Encoded::Const(_) => Codec::Const,
            Encoded::Huffman(_) => Codec::Huffman,
            Encoded::Zstd => Codec::Zstd,
            Encoded::Pair { .. } => Codec::Pair,
            Encoded::Paired => Codec::Paired,
            Encoded::Rans(_) => Codec::Rans,
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

/// Reads the `sub_len:varint` × `ceil(n / sub_symbols)` fields of a sub-stream codec (`codec`:
/// huffman, pair, rans) into `sub_lens`, each vetted by `check`, and checks that they leave
/// between `table.0` and `table.1` bytes of `comp_len` for the codec's table. Returns where the
/// lengths start in `sub_lens`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn read_sub_lens(
    codec: &str,
    r: &mut WireReader,
    n: usize,
    sub_symbols: usize,
    comp_len: u32,
    table: (u64, u64),
    sub_lens: &mut Vec<u32>,
    check: impl Fn(u32) -> Result<()>,
) -> Result<u32> {
    let count = n.div_ceil(sub_symbols);
    // Each length takes at least one byte: reject impossible counts before allocating.
    if count > r.remaining() {
        return Err(Error::truncated(format!("{codec} sub-stream lengths")));
    }
    let sub_start = sub_lens.len() as u32;
    let mut total = 0u64;
    for _ in 0..count {
        let l = r.varint()?;
        check(l)?;
        total += l as u64;
        sub_lens.push(l);
    }
    let comp = comp_len as u64;
    if total + table.0 > comp || comp - total > table.1 {
        return Err(Error::corrupt(format!(
            "{codec} sub-stream lengths do not match the stream"
        )));
    }
    Ok(sub_start)
}

/// Reads the `codec_fields` of a stream record (FORMAT.md) of `n` symbols and `comp_len` payload
/// bytes; a Huffman or pair stream's sub-stream lengths are appended to `sub_lens`.
pub(crate) fn read_fields(
    codec: Codec,
    r: &mut WireReader,
    n: usize,
    sub_symbols: usize,
    comp_len: u32,
    sub_lens: &mut Vec<u32>,
) -> Result<(Coding, Pairing)> {
    let alone = |c: Result<Coding>| c.map(|c| (c, Pairing::Alone));
    match codec {
        Codec::Raw => alone(raw::check_fields(n, comp_len).map(|_| Coding::Raw)),
        Codec::Const => alone(constant::read_fields(r, comp_len)),
        Codec::Huffman => alone(huffman::read_fields(r, n, sub_symbols, comp_len, sub_lens)),
        Codec::Zstd => alone(Ok(Coding::Zstd)),
        Codec::Pair => pair::read_fields(r, n, sub_symbols, comp_len, sub_lens)
            .map(|(c, bits)| (c, Pairing::Pair { bits })),
        Codec::Paired if comp_len != 0 => Err(Error::corrupt("a paired stream has a payload")),
        Codec::Paired => Ok((Coding::Const { value: 0 }, Pairing::Paired)),
        Codec::Rans => alone(rans::read_fields(r, n, sub_symbols, comp_len, sub_lens)),
    }
}

/// Appends the `codec_fields` of a stream record; `subs` are the stream's sub-stream lengths.
pub(crate) fn write_fields(coding: &Coding, pairing: Pairing, subs: &[u32], b: &mut Vec<u8>) {
    match (pairing, coding) {
        (Pairing::Pair { bits }, _) => pair::write_fields(bits, subs, b),
        (Pairing::Paired, _) => {}
        (Pairing::Alone, Coding::Raw | Coding::Zstd) => {}
        (Pairing::Alone, Coding::Const { value }) => b.push(*value),
        (Pairing::Alone, Coding::Huffman { .. }) => huffman::write_fields(subs, b),
        (Pairing::Alone, Coding::Rans { .. }) => rans::write_fields(subs, b),
    }
}
