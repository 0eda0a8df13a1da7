// Bindings shared by every kernel (one bind group layout, one bind group per window), and the
// bit reader of the Huffman and pair kernels.
// The host prepends the constants of src/gpu/shader_consts.rs (error flags, descriptor widths,
// source kinds, layout ids, table size, workgroup sizes), so that each has one definition.

struct Params {
    // Huffman: jobs in this window and the x extent of the 2D dispatch (in workgroups).
    job_count: u32,
    job_x: u32,
    // Merge: output words to produce, the x extent of the 2D dispatch (in workgroups), the first
    // word (relative to the `out` binding), and the window's byte range relative to that binding.
    word_count: u32,
    word_x: u32,
    first_word: u32,
    win_start: u32,
    win_end: u32,
    chunk_count: u32,
    // Checksums: where the expected values start in `chunks` (two u32 per chunk, low word first)
    // and the x extent of the checksum dispatch (one workgroup per chunk).
    sum_base: u32,
    sum_x: u32,
    // Pair decode: pair jobs (in `jobs` after the job_count Huffman jobs) and the x extent of
    // their 2D dispatch.
    pair_count: u32,
    pair_x: u32,
    // Fused decode: fused jobs (in `jobs` after the Huffman and pair jobs) and the x extent of
    // their 2D dispatch.
    fused_count: u32,
    fused_x: u32,
    // rANS decode: rANS jobs (in `jobs` after the fused jobs) and the x extent of their 2D
    // dispatch.
    rans_count: u32,
    rans_x: u32,
}

// Error flags (ERR_*, OR-ed into errors[0]); errors[1] is the smallest failing sub-stream (Huffman)
// or u32::MAX; errors[2] the smallest chunk (in the window) whose checksum differs, or u32::MAX.

@group(0) @binding(0) var<uniform> params: Params;
// Compressed window data (then CPU-decoded zstd streams), bytes packed little-endian in u32.
@group(0) @binding(1) var<storage, read> comp: array<u32>;
@group(0) @binding(3) var<storage, read> jobs: array<vec4<u32>>;
// Sub-streams: (start byte in comp, byte length, first output word in huff, symbol count); for
// fused jobs the third word is the first element's index in its chunk instead.
@group(0) @binding(4) var<storage, read> subs: array<vec4<u32>>;
// Decoded Huffman, pair and rANS streams, each starting on a word boundary.
@group(0) @binding(5) var<storage, read_write> huff: array<u32>;
// Chunk descriptors, CHUNK_WORDS u32 each: (first byte, byte length, layout id, base, source of
// streams 0..8). A source is `kind << SRC_SHIFT | value`: SRC_COMP = byte offset in comp,
// SRC_HUFF = byte offset in huff, SRC_CONST = const byte `value`, SRC_FUSED = decoded by the fused
// kernel straight into `out` (no staged stream: the merge leaves the chunk alone). `base` is NO_BASE, or for a delta
// chunk the byte offset in comp of the base bytes its decoded bytes are XORed with.
@group(0) @binding(6) var<storage, read> chunks: array<u32>;
@group(0) @binding(7) var<storage, read_write> out: array<u32>;
@group(0) @binding(8) var<storage, read_write> errors: array<atomic<u32>, 4>;


fn flag(bits: u32, index: u32) {
    atomicOr(&errors[0], bits);
    atomicMin(&errors[1], index);
}

// Word `w` of comp; 0 past its end (bytes past a stream's end are read only to be dropped or
// counted as an overrun).
fn comp_word(w: u32) -> u32 {
    if (w < arrayLength(&comp)) {
        return comp[w];
    }
    return 0u;
}

// Word `w` of comp with its bytes reversed, so that stream bit 0 is the word's bit 31; zero past
// the end of the buffer (never decoded: a code that needs those bits runs past its sub-stream).
fn load_be(w: u32) -> u32 {
    if (w >= arrayLength(&comp)) {
        return 0u;
    }
    let v = comp[w];
    return (v << 24u) | ((v << 8u) & 0x00FF0000u) | ((v >> 8u) & 0x0000FF00u) | (v >> 24u);
}

// The bit reader of one sub-stream: `pos` is the next bit (relative to the stream's first word,
// so that no absolute bit offset of the binding is ever formed), `a`, `b` and `c` the words at `w`,
// `w + 1` and `w + 2`. `c` is the look-ahead: the load issued when the reader crosses a word is
// first needed at the next crossing, 32 bits later, so no global load sits on the per-symbol
// chain (`peek` reads only `a` and `b`).
struct Bits {
    pos: u32,
    w: u32,
    a: u32,
    b: u32,
    c: u32,
}

// The reader at bit `start_bit` (< 32) of the stream whose first word is `first`.
fn bits_open(first: u32, start_bit: u32) -> Bits {
    return Bits(start_bit, 0u, load_be(first), load_be(first + 1u), load_be(first + 2u));
}

// The 32 bits from `pos` on, MSB first.
fn peek(st: ptr<function, Bits>) -> u32 {
    let o = (*st).pos & 31u;
    // (b >> 1) >> (31 - o): a shift by 32 would wrap in WGSL, so split it.
    return ((*st).a << o) | (((*st).b >> 1u) >> (31u - o));
}

// Consumes `take` < 32 bits of the stream whose first word is `first`: the window moves by at most
// one word.
fn advance(st: ptr<function, Bits>, first: u32, take: u32) {
    (*st).pos += take;
    if (((*st).pos >> 5u) != (*st).w) {
        (*st).w++;
        (*st).a = (*st).b;
        (*st).b = (*st).c;
        (*st).c = load_be(first + (*st).w + 2u);
    }
}


// The verdict on sub-stream `si` of `len` bytes from bit `start_bit`, decoded up to bit `pos`: a
// bad code (`bad` != 0), bits past its end, or a length other than exactly `len` bytes (the last
// element's bits end in the last byte) flags it.
fn check_sub_end(si: u32, bad: u32, pos: u32, start_bit: u32, len: u32) {
    if (bad != 0u) {
        flag(ERR_BAD_CODE, si);
    } else if (pos > start_bit + len * 8u) {
        flag(ERR_PAST_END, si);
    } else if ((pos - start_bit + 7u) / 8u != len) {
        flag(ERR_LENGTH, si);
    }
}
