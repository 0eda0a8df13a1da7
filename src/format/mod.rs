//! The `.znn` container (normative description: FORMAT.md): header, trailer and the index, which
//! holds the segment table and the chunk metadata map that both decoders (CPU and GPU) read.

mod header;
mod index;

pub use header::{check_chunk_size, Header, Trailer, HEADER_LEN, MAGIC, TRAILER_LEN, VERSION};
pub use index::{huffman_table, BaseRef, ChunkRec, Codec, Index, Segment, StreamRec};
