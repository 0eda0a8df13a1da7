//! znn-gpu: lossless compression of neural-network weights, decompressed by a multithreaded CPU
//! path or on the GPU (wgpu), with byte-identical output.
//!
//! ```
//! let weights: Vec<u8> = (0..100_000u32).flat_map(|i| half::bf16::from_f32((i as f32).sin() * 0.02).to_le_bytes()).collect();
//! let znn = znn_gpu::compress_bytes(&weights, &znn_gpu::CompressOptions::default()).unwrap();
//! assert!(znn.len() < weights.len());
//! assert_eq!(znn_gpu::decompress_bytes(&znn).unwrap(), weights);
//! ```
//!
//! Pipeline: bytes -> segments ([`safetensors`], [`layout::Layout`]) -> chunks -> streams
//! ([`layout`]) -> coded streams ([`codec`], [`huffman`]) -> `.znn` ([`format`], FORMAT.md), and back
//! ([`decompress`] on the CPU). The chunk map ([`format::Index`]) is the one structure every decoder reads;
//! [`extract`] uses it to read one tensor or byte range without decoding the rest.

pub mod archive;
mod buffer;
pub mod cli;
pub mod codec;
pub mod compress;
pub mod constants;
pub mod decompress;
pub mod delta;
pub mod error;
pub mod extract;
pub mod format;
pub mod gpu;
pub mod huffman;
pub mod layout;
mod pipeline;
pub mod safetensors;

pub use archive::Archive;
pub use compress::{
    compress_bytes, compress_bytes_with_base, compress_stream, compress_stream_with_base,
    CompressOptions, CompressStats,
};
pub use decompress::{
    decompress_bytes, decompress_bytes_with_base, decompress_stream, decompress_stream_with_base,
};
pub use delta::Base;
pub use error::{Error, Result};
pub use extract::{read_range, read_tensor, tensor_table};
pub use gpu::{GpuDecoder, GpuOutput, GpuRange};
pub use layout::Layout;
