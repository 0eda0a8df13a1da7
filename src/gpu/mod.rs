//! GPU decompression with wgpu compute shaders (WGSL), byte-identical to the CPU path.
//!
//! # Use
//!
//! ```no_run
//! # fn main() -> znn_gpu::Result<()> {
//! let znn = std::fs::read("model.znn").unwrap();
//! let mut gpu = znn_gpu::gpu::GpuDecoder::new()?; // Vulkan unless WGPU_BACKEND says otherwise
//! eprintln!("device: {}", gpu.describe());
//! let bytes = gpu.decompress_bytes(&znn)?; // read back, every chunk's xxh3 verified
//! let a = znn_gpu::Archive::from_bytes(&znn)?;
//! let out = gpu.decode_to_buffer(&a, &znn[znn_gpu::Archive::DATA_START as usize..])?;
//! // out.buffer holds the original bytes on the device; out.tensors says where each tensor lies.
//! # Ok(()) }
//! ```
//!
//! - [`GpuDecoder::new`] opens its own device (`Backends::VULKAN` by default, `WGPU_BACKEND`
//!   overrides; `Error::Gpu` when there is no adapter); [`GpuDecoder::from_device`] uses a caller's.
//!   Pipelines, the bind group layout and two sets of window buffers are created once per decoder.
//! - [`GpuDecoder::decode_to_buffer`] (data region in memory) and
//!   [`GpuDecoder::decode_file_to_buffer`] (a seekable file, read window by window): archive → one
//!   device buffer (`STORAGE | COPY_SRC | COPY_DST`, size rounded up to 4, padding zero) plus the
//!   safetensors tensor table (parsed from the header, which is decoded on the CPU). Kernel error
//!   flags and every chunk's xxh3-64 are checked on the device (`shaders/checksum.wgsl`); only the
//!   verdict is read back. An output larger than the adapter's `max_buffer_size` is an
//!   `Error::Gpu` (no multi-buffer output): use the streaming call for such files.
//! - [`GpuDecoder::verify`]: every chunk decoded and checked on the device, nothing written and
//!   nothing but each window's verdict read back (`znn-gpu verify --device gpu`).
//! - Deltas: [`GpuDecoder::decompress_to_writer_with_base`], [`GpuDecoder::decode_delta_to_buffer`],
//!   [`GpuDecoder::verify`] and the range calls below take the base; each window uploads the base
//!   bytes its delta chunks cover, and the fused kernel (the merge, for chunks it does not take)
//!   XORs them in.
//! - [`GpuDecoder::decode_range_to_buffer`]: one byte range of the original (a tensor, say) into a
//!   device buffer, reading and decoding only the chunks that cover it, in the windows a full
//!   decode would use; [`GpuRange`] says where the range lies in the buffer (no tight copy: ranges
//!   need not be 4-byte aligned). [`GpuDecoder::read_range`] and [`GpuDecoder::extract_range_to`]
//!   read it back with every covering chunk's xxh3 verified (the CLI's `extract --device gpu`).
//! - [`GpuDecoder::decompress_bytes`] and [`GpuDecoder::decompress_to_writer`]: windows are read
//!   back and every chunk's xxh3 is verified on the host, exactly as the CPU path does, before any
//!   byte is returned or written.
//! - [`GpuDecoder::decode_index`]: the lower-level call on an [`crate::format::Index`] and a data
//!   region (tests use it with hand-made maps).
//! - Errors: `Error::Gpu` for device problems (no adapter, validation, limits too small for one
//!   chunk); `Error::Corrupt`/`Truncated` for bad input, whether found on the host (map, tables,
//!   zstd) or by the kernels (error flags) or by the checksums.
//! - Knobs: [`GpuDecoder::set_window_bytes`] caps a window's original bytes (tests force many
//!   windows); `set_dispatch_dim` (hidden) caps workgroups per dimension so that tests reach the 2D
//!   dispatch path.
//! - [`bench::measure`] (bytes in memory) and [`bench::measure_file`] (a path; end-to-end from the
//!   file): kernel time, end-to-end time and plain upload time for the `bench` command.
//!
//! # How a window decodes
//!
//! Chunks are grouped into windows ([`plan::plan_windows`]) so that every buffer of a window fits
//! the adapter's real `max_storage_buffer_binding_size` and `max_buffer_size` (lavapipe: 128 MiB),
//! capped by [`crate::constants::GPU_WINDOW_BYTES`] of original bytes or by
//! [`GpuDecoder::set_window_bytes`]. For each window the host builds descriptors from the chunk map
//! ([`plan::build_window`]):
//!
//! - Huffman streams: the table is parsed and validated on the host with the CPU's own parser
//!   (ranges, lengths, a complete code), not expanded: each job names the table's byte offset in
//!   comp, and the kernel builds its 2048 16-bit entries in workgroup memory from the code lengths
//!   there (`shaders/table_build.wgsl`, the entries of [`crate::huffman::build::single_table`]);
//!   one descriptor per sub-stream (start byte, byte length, output word, symbol count) and one job
//!   per group of up to [`crate::constants::GPU_HUFF_WG`] sub-streams of a stream.
//! - Pair streams (codecs 4 and 5, format v3): the table is parsed and validated by the CPU
//!   decoder's own code (`codec::pair`); the kernel builds its 4096 16-bit entries the same way; the
//!   sub-streams get descriptors as for Huffman streams, their jobs go to
//!   `shaders/pair_decode.wgsl`, which writes the two streams into two word-aligned regions that
//!   the two streams' chunk descriptors point at (`pair.rs`).
//! - Fused chunks ([`fused::fusable`]: BF16, FP16 or FP32, word-aligned, standalone or a delta,
//!   stream 0 or 1 or both Huffman or rANS coded, or a pair code at 0 + 1, the others raw, const
//!   or zstd): the same tables, sub-stream descriptors that name the first element, and fused
//!   jobs for `shaders/fused_decode.wgsl`, which writes the chunk's finished elements (XORed with
//!   the base for a delta) into the output itself: no staged stream, no merge
//!   ([`GpuDecoder::take_path_counts`] counts them).
//! - zstd streams are decoded on the CPU (the `zstd` crate, as the CPU path) and uploaded as raw
//!   bytes after the window's payload: zstd is chosen only for zero-dominated streams, which are
//!   rare in weights, and a GPU zstd decoder is out of scope.
//! - rANS streams (codec 6, format v4): the table is parsed and validated by the CPU decoder's own
//!   code (`codec::rans`), and must end where the index says the sub-streams start; the
//!   sub-streams get descriptors as for Huffman streams, their jobs go to
//!   `shaders/rans_decode.wgsl`, which parses the table again (same checks), builds a 4096-slot
//!   symbol table in workgroup memory and decodes one sub-stream per invocation into `huff`
//!   (`rans.rs`), unless the chunk is fused: then `fused_decode.wgsl` builds the same table
//!   (`shaders/rans_symbols.wgsl`, shared by both kernels) and decodes the stream itself.
//! - Raw streams are read straight from the uploaded payload; const streams are a value in the
//!   chunk descriptor.
//!
//! `shaders/huffman_decode.wgsl` runs one workgroup per job: the table is copied into workgroup
//! memory, then each invocation decodes one sub-stream (start at any byte; a 64-bit bit window in two
//! u32) into word-aligned output. `shaders/merge.wgsl` runs one invocation per output u32 word: it
//! finds the chunk of each byte by binary search, rebuilds the byte from the chunk's streams with
//! the layout's merge rule, and leaves bytes outside the window and of fused chunks untouched, so
//! windows and segments may start at any byte. Both dispatches are 2D when they exceed 65,535 workgroups per dimension.
//! Every descriptor index is checked in the shaders; a violation (a sub-stream running past its end
//! or leaving a byte over, a descriptor out of bounds) sets a flag in an error buffer that the host
//! reads after each window and turns into `Error::Corrupt`.
//!
//! # Upload
//!
//! Each of the two buffer sets owns a persistent `MAP_WRITE | COPY_SRC` staging buffer
//! (`ring.rs`), mapped once and re-mapped asynchronously right after its window is submitted. A
//! window's payload is read straight into the mapped memory by several threads
//! ([`crate::engine::Engine::read_payload_into`], pieces of 8 MiB, positioned reads of the
//! [`crate::source::ByteSource`] or memcpy from memory); descriptors, zstd streams, delta bases,
//! the error reset and the kernel parameters follow in the same image (`upload.rs`), which one
//! `copy_buffer_to_buffer` per region moves to the device. Output buffers are made through the
//! Vulkan backend so that wgpu does not zero-fill what the kernels overwrite (`output.rs`).
//! Window *i + 1* is filled, built and submitted before window *i* is waited for, so host work
//! overlaps device work; transfers and kernels share one queue (wgpu 30 has no second one).
//! `set_legacy_upload` (hidden) restores the `write_buffer` path for side-by-side figures
//! (`znn-gpu bench FILE --gpu`, [`report`]).
//!
//! # What the host checks, so that the kernels may trust it
//!
//! The [`crate::format::Index`] is valid by construction; the host additionally checks that each
//! window's payload is present, that each Huffman table parses, and that every offset fits the
//! descriptor widths (30-bit sources). The kernels still bound every loop by the descriptor's
//! symbol count and check every index (a hostile map yields an error flag, never a hang or an
//! out-of-bounds access); bit positions are relative to each sub-stream's first word, so window
//! size is not limited by u32 bit offsets.

pub mod bench;
mod decoder;
mod device;
mod dispatch;
pub mod fused;
mod output;
mod pair;
mod pipelines;
pub mod plan;
mod range;
mod rans;
mod readback;
pub mod report;
mod ring;
pub mod shader_consts;
mod timing;
mod upload;
mod verify;

pub use bench::{measure, measure_file, GpuBenchFigures, KernelTimer};
pub use decoder::{GpuDecoder, GpuOutput, TensorEntry};
pub use device::{backends, hardware_adapter};
pub use fused::PathCounts;
pub use range::GpuRange;
pub use timing::HostTimes;
