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
//! Pipeline, one module per stage:
//! - format and chunk map: [`mod@format`] (FORMAT.md), [`archive`];
//! - byte grouping: [`layout`], [`safetensors`] (tensors -> segments);
//! - entropy coders: [`codec`] (one module per stream codec), [`huffman`], [`chunk`];
//! - CPU encode and decode: [`compress`], [`engine`], [`decompress`], [`delta`];
//! - GPU decode: [`gpu`] (WGSL in `shaders/`; feature `gpu`);
//! - random access: [`source`] (where bytes come from), [`reader`] (byte range -> chunks ->
//!   verified bytes, with a cache), [`extract`];
//! - files and folders: [`files`] (atomic output, naming, single-file operations), [`folder`]
//!   (model folders, Hugging Face snapshots, in place, the folder view), [`decoder`] (device
//!   choice);
//! - the mount: [`mount`] (a compressed folder as a read-only filesystem; FUSE with feature
//!   `mount`).

pub mod archive;
pub mod bound;
pub mod buffer;
pub mod chunk;
pub mod codec;
pub mod compress;
pub mod constants;
pub mod decoder;
pub mod decompress;
pub mod delta;
pub mod engine;
pub mod error;
pub mod extract;
pub mod files;
pub mod folder;
pub mod format;
#[cfg(feature = "gpu")]
pub mod gpu;
pub mod huffman;
pub mod layout;
pub mod mount;
mod pipeline;
pub mod reader;
pub mod safetensors;
pub mod source;

pub use archive::Archive;
pub use compress::{
    compress_bytes, compress_parts, compress_stream, CompressOptions, CompressStats,
};
pub use decoder::{Decoder, Device};
pub use decompress::{decompress_bytes, decompress_stream, decompress_to, DecompressOptions};
pub use delta::Base;
pub use error::{Error, ErrorKind, Result};
#[cfg(feature = "gpu")]
pub use gpu::{GpuDecoder, GpuOutput, GpuRange};
pub use layout::Layout;
pub use reader::{Reader, ReaderOptions};
pub use source::{ByteSource, FileSource};
