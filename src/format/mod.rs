//! The `.znn` container (normative description: FORMAT.md): header, trailer and the index, which
//! holds the segment table and the chunk metadata map that both decoders (CPU and GPU) read.

#![forbid(unsafe_code)]

mod header;
mod index;
mod parse;
mod wire;

pub use header::{check_chunk_size, Header, Trailer, HEADER_LEN, MAGIC, TRAILER_LEN, VERSION};
pub use index::{
    BaseRef, ChunkRec, Index, IndexBuilder, IndexParts, Planned, Segment, Skeleton, Span, StreamRec,
};
pub use wire::{put_varint, WireReader};
// The codec ids are part of the chunk map.
pub use crate::codec::{Codec, Coding, Pairing};
