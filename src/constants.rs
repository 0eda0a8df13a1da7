//! Every tuning constant of the codec, with the reason for its value.

/// Original bytes per chunk. 256 KiB is ZipNN's choice and the paper's: large enough that a
/// per-chunk Huffman table (≈ 22 bytes) and chunk record (≈ 80 bytes) cost < 0.04% of the chunk,
/// small enough that a 2-core machine has hundreds of independent tasks in a 100 MB model and that a
/// decoder's scratch (one stream of 128 Ki symbols) stays in L2.
pub const DEFAULT_CHUNK_SIZE: u32 = 256 * 1024;
/// Bounds for the header's chunk size: a multiple of 8 so that every element size divides it; the
/// upper bound keeps a hostile file from making a decoder allocate more than 16 MiB per chunk.
pub const MIN_CHUNK_SIZE: u32 = 4096;
pub const MAX_CHUNK_SIZE: u32 = 16 * 1024 * 1024;

/// safetensors tensors shorter than this are merged with a same-layout neighbour into one segment
/// (see `safetensors::segments`), so that biases and norms of a few hundred bytes do not each cost a
/// chunk record and a table. Measured with `znn-gpu compress` + `info` on the corpus: 1 KiB is
/// size-neutral (minilm 66.49% vs 66.48%, mobilenet 83.05% vs 83.06%) and cuts mobilenet from 314
/// to 184 chunks; 4-64 KiB merge tensors of different statistics and cost up to 0.13 points.
pub const MIN_SEGMENT: u64 = 1024;

/// Longest Huffman code, in bits. 11 bits make one 2048-entry table lookup decode any symbol, and let
/// the CPU decoder take 5 lookups from one 64-bit refill (5 × 11 = 55 ≤ 57 usable bits). An exponent
/// alphabet has ~40 symbols, so the limit costs nothing measurable in size.
pub const TABLE_LOG: u32 = 11;
pub const TABLE_SIZE: usize = 1 << TABLE_LOG;

/// Symbols per Huffman sub-stream. Each sub-stream decodes on its own (one GPU invocation each);
/// its length costs ~2 bytes in the chunk record. Measured on minilm-l6 BF16 (`znn-gpu bench
/// --sub-symbols N`, one thread): 1024 → 66.58%, 2.47 GB/s decompress; 4096 → 66.50%, 2.51 GB/s;
/// 16384 → 66.47%, 2.68 GB/s. 4096 keeps ~130 k invocations per GB of BF16 for a GPU, where 16384
/// would leave a 45 MB model ~1.4 k sub-streams, too few to fill one, for 0.03 points of size.
pub const DEFAULT_SUB_SYMBOLS: u32 = 4096;
pub const MIN_SUB_SYMBOLS: u32 = 256;
pub const MAX_SUB_SYMBOLS: u32 = 65536;

/// Huffman is kept only when it shrinks a stream below this fraction of raw (ZipNN's rule): a raw
/// stream decodes at memcpy speed, so a gain under 5% is not worth the decode time.
pub const HUFFMAN_MAX_RATIO: f64 = 0.95;

/// Before a full histogram, a stream is sampled 1 byte in `SAMPLE_STRIDE`; when the sample's
/// Huffman estimate exceeds `SAMPLE_RAW_RATIO` of raw (well above the 0.95 cut, so that sampling
/// noise of ~0.5% on 8 Ki samples cannot flip a decision that matters), the stream is stored raw
/// without the full pass. Sign/mantissa streams of real weights sit at 0.99-1.0.
pub const SAMPLE_STRIDE: usize = 16;
pub const SAMPLE_RAW_RATIO: f64 = 0.985;

/// zstd is tried (and kept when smaller than Huffman) when zeros dominate, the ZipNN paper's rule
/// for checkpoint deltas: more than 70% of the stream's bytes are zero, or one zero run is longer
/// than 3% of the stream. The paper uses 90%; on the XOR of consecutive AdamW checkpoints
/// (`scripts/delta-figures.sh`) the exponent stream sits at 88-93% zeros, and 70% makes the chained
/// BF16 sequence's nine deltas 0.3% smaller (29.91 vs 30.00 MB: the script's chained total minus
/// its first, standalone checkpoint, with this constant at 0.70 and at 0.90); 50% and 30% gave the
/// same sizes as 70%.
/// Standalone weights rarely have such streams, so compression speed there is unchanged.
pub const ZSTD_ZERO_FRACTION: f64 = 0.70;
pub const ZSTD_ZERO_RUN_FRACTION: f64 = 0.03;
/// zstd level for such streams: level 3 is zstd's default speed/ratio point; zero-heavy data gains
/// almost nothing from higher levels.
pub const ZSTD_LEVEL: i32 = 3;

/// Original bytes per window when streaming file to file (at least one chunk). 4 MiB = 16 default
/// chunks: enough tasks for 2-16 threads, small enough that reading, coding and writing overlap
/// even on a 14 MB model (a 16 MiB window left such a file in one serial step, 0.60 GB/s file to
/// file vs 0.77 for ZipNN), and a peak memory of a few windows whatever the file size.
pub const WINDOW_BYTES: u64 = 4 * 1024 * 1024;

/// Huffman streams shorter than this decode with the single-symbol table only: the multi-symbol
/// table costs as much to build as decoding ~20 k symbols, which a short stream never repays.
pub const MULTI_TABLE_MIN_SYMBOLS: usize = 16 * 1024;

/// Bytes read past the end of a Huffman payload by the fast decode loop (one unaligned u64 load).
/// Payload buffers handed to the decoder keep this much readable slack after them.
pub const DECODE_PADDING: usize = 8;

/// GPU Huffman workgroup size: sub-streams decoded by one workgroup, which shares one 4 KiB table.
/// A 256 KiB BF16 chunk has 32 exponent sub-streams and an FP32 chunk 16 per stream, so 64 keeps
/// most of a stream in one workgroup (one table fill) while staying a multiple of every common
/// SIMD width (8 on lavapipe, 32 on NVIDIA, 64 on AMD).
pub const GPU_HUFF_WG: u32 = 64;
/// GPU merge workgroup size (one invocation per output u32 word): 256 is the WebGPU default
/// `max_compute_invocations_per_workgroup` floor, so it is valid on every adapter.
pub const GPU_MERGE_WG: u32 = 256;
/// Original bytes per GPU window (at least one chunk), before the adapter's limits cut it further
/// (lavapipe's and many GPUs' 128 MiB storage-binding limit keep windows near 64-128 MiB there).
/// 256 MiB gives a 132-SM GPU ~30 k Huffman sub-streams per window (BF16, 4096 symbols each), and
/// makes each staging fill, copy and dispatch long enough that per-window costs vanish; two windows
/// in flight (staging, comp, huff and output buffers) stay near 1.5 GiB of memory.
pub const GPU_WINDOW_BYTES: u64 = 256 * 1024 * 1024;
/// u32 words of one GPU decode table: 2048 entries of 16 bits packed two per word (4 KiB), the
/// size of the workgroup array in `shaders/huffman_decode.wgsl`.
pub const GPU_TABLE_WORDS: usize = TABLE_SIZE / 2;
/// Output words per GPU merge invocation. lavapipe spends tens of ns per invocation whatever it
/// does (a merge writing one constant per word took ~0.3 s for 11 M words), so several words per
/// invocation amortise that (4 cut the corpus decode from ~1.0 to ~0.7 s there; 16 was slower,
/// on a loaded machine); a 64 MiB window is still 16 K workgroups of 256, ample for a large GPU.
/// The words are strided by the workgroup size, so accesses stay coalesced.
pub const GPU_MERGE_WPI: u32 = 4;

/// Decoded-chunk cache of a [`crate::Reader`] that has none shared with it: 64 MiB = 256 default
/// chunks, several times the read-ahead distance, so that chunks decoded ahead of a sequential
/// reader are still there when it gets to them, and small beside any model it is used for.
pub const READER_CACHE_BYTES: u64 = 64 * 1024 * 1024;
/// Original bytes decoded ahead of a sequential reader (at most a quarter of the cache): 8 MiB =
/// 32 default chunks, enough to keep 16 threads decoding while the reader consumes 1 MiB requests
/// (the largest a FUSE kernel sends).
pub const READAHEAD_BYTES: u64 = 8 * 1024 * 1024;

/// Under `--device auto`, jobs smaller than this decode on the CPU without probing for a GPU:
/// creating a Vulkan instance and device costs ~40 ms and ~68 MB of memory (measured for a 3 KB
/// file, issue 12), while 2 to 16 cores decode 256 MiB in roughly 10 to 100 ms, so a GPU's fixed
/// start-up can only pay for itself beyond this size.
pub const GPU_AUTO_MIN_BYTES: u64 = 256 * 1024 * 1024;

// Invariants the decoders rely on; a change that breaks one fails the build.
// The CPU Huffman loop takes 5 lookups from one 64-bit refill after a shift of up to 7 bits.
const _: () = assert!(5 * TABLE_LOG <= 57);
// Sub-stream sizes are powers of two that the GPU's 4-symbols-per-word output keeps word-aligned.
const _: () = assert!(MIN_SUB_SYMBOLS.is_power_of_two() && MIN_SUB_SYMBOLS % 4 == 0);
const _: () = assert!(MAX_SUB_SYMBOLS.is_power_of_two() && DEFAULT_SUB_SYMBOLS >= MIN_SUB_SYMBOLS);
// Chunk sizes are multiples of every element size (8 bytes at most).
const _: () = assert!(MIN_CHUNK_SIZE % 8 == 0 && MAX_CHUNK_SIZE % 8 == 0);
const _: () = assert!(DEFAULT_CHUNK_SIZE % 8 == 0 && DEFAULT_CHUNK_SIZE >= MIN_CHUNK_SIZE);
// One GPU table (two 16-bit entries per word) is the 2^TABLE_LOG entries of the CPU's.
const _: () = assert!(GPU_TABLE_WORDS * 2 == TABLE_SIZE);
// Read-ahead stays well inside the default cache, so decoded-ahead chunks survive until read.
const _: () = assert!(READAHEAD_BYTES * 4 <= READER_CACHE_BYTES);
