// Byte-group transposition (the inverse of `Layout::split`, same definitions as `Layout::merge`):
// MERGE_WPI output u32 words per invocation, one workgroup per block of MERGE_BLOCK words.
//
// The chunk of a word is found by a binary search narrowed by the block table (after the chunk
// descriptors: for each block, the chunk holding its first byte in the window), usually one step.
// A word inside one chunk (the common case) loads, per stream it needs, the 4 stream bytes from its
// first element on (two u32 loads, funnel-shifted) and builds its bytes from registers. A word
// that spans chunks, segments or the window's edge takes the per-byte path; bytes outside the
// window [win_start, win_end) keep the word's current value, so windows and segments may start at
// any byte. Chunks written by the fused kernel are skipped (the host fuses only chunks that start
// and end on a word, so no word is shared with a merged chunk).

// Word `w` of stream buffer `kind` (SRC_COMP or SRC_HUFF); 0 past its end.
fn buf_word(kind: u32, w: u32) -> u32 {
    if (kind == SRC_COMP) {
        if (w < arrayLength(&comp)) {
            return comp[w];
        }
        return 0u;
    }
    if (w < arrayLength(&huff)) {
        return huff[w];
    }
    return 0u;
}

// Stream bytes i .. i + 4 of source `src` (a chunk descriptor's stream source), little-endian.
fn load4(src: u32, i: u32) -> u32 {
    let kind = src >> SRC_SHIFT;
    let v = src & SRC_MASK;
    if (kind == SRC_CONST) {
        return (v & 0xFFu) * 0x01010101u;
    }
    let addr = v + i;
    let w = addr >> 2u;
    let len = select(arrayLength(&huff), arrayLength(&comp), kind == SRC_COMP);
    if (kind > SRC_HUFF || w >= len) {
        flag(ERR_MERGE, 0xFFFFFFFFu);
        return 0u;
    }
    let sh = (addr & 3u) * 8u;
    let lo = buf_word(kind, w);
    if (sh == 0u) {
        return lo;
    }
    return (lo >> sh) | (buf_word(kind, w + 1u) << (32u - sh));
}

fn stream_byte(c: u32, k: u32, i: u32) -> u32 {
    return load4(chunks[c * CHUNK_WORDS + 4u + k], i) & 0xFFu;
}

// log2 of the element size of a layout id (byte, bf16, fp16, fp32, fp64, group4).
fn elem_log(lay: u32) -> u32 {
    switch lay {
        case LAYOUT_BYTE: { return 0u; }
        case LAYOUT_BF16, LAYOUT_FP16: { return 1u; }
        case LAYOUT_FP32, LAYOUT_GROUP4: { return 2u; }
        default: { return 3u; }
    }
}

// Byte `j` of an element whose byte-group streams 0..3 hold bytes s0..s3 (bf16 uses s0, s1; fp32
// all four), for the layouts whose bytes mix two streams.
fn mixed_byte(lay: u32, j: u32, s0: u32, s1: u32, s2: u32, s3: u32) -> u32 {
    // bf16 bytes 0, 1 and fp32 bytes 2, 3: ((E & 1) << 7 | SM & 0x7F), (SM & 0x80 | E >> 1).
    var jj = j;
    if (lay == LAYOUT_FP32) {
        if (j == 0u) {
            return s3;
        }
        if (j == 1u) {
            return s2;
        }
        jj = j - 2u;
    }
    if (jj == 0u) {
        return ((s0 & 1u) << 7u) | (s1 & 0x7Fu);
    }
    return (s1 & 0x80u) | (s0 >> 1u);
}

// Byte `p` (relative to the out binding) of chunk `c`, which contains it (the per-byte path).
fn out_byte(c: u32, p: u32) -> u32 {
    let base = c * CHUNK_WORDS;
    let lay = chunks[base + 2u];
    let lg = elem_log(lay);
    let rel = p - chunks[base];
    let i = rel >> lg;
    let j = rel & ((1u << lg) - 1u);
    if (lay == LAYOUT_BF16 || lay == LAYOUT_FP32) {
        let s0 = stream_byte(c, 0u, i);
        let s1 = stream_byte(c, 1u, i);
        var s2 = 0u;
        var s3 = 0u;
        if (lay == LAYOUT_FP32 && j < 2u) {
            s2 = stream_byte(c, 2u, i);
            s3 = stream_byte(c, 3u, i);
        }
        return mixed_byte(lay, j, s0, s1, s2, s3);
    }
    if (lay >= LAYOUT_COUNT) {
        flag(ERR_MERGE, 0xFFFFFFFFu);
        return 0u;
    }
    // byte, fp16, fp64, group4: stream es - 1 - j holds byte j.
    return stream_byte(c, (1u << lg) - 1u - j, i);
}

// The whole word at p (relative to the out binding) when all four bytes lie in chunk c.
fn word_in_chunk(c: u32, p: u32) -> u32 {
    let base = c * CHUNK_WORDS;
    let lay = chunks[base + 2u];
    let lg = elem_log(lay);
    let rel = p - chunks[base];
    let i0 = rel >> lg;
    let mask = (1u << lg) - 1u;
    if (lay == LAYOUT_BYTE) {
        return load4(chunks[base + 4u], rel);
    }
    if (lay >= LAYOUT_COUNT) {
        flag(ERR_MERGE, 0xFFFFFFFFu);
        return 0u;
    }
    var s0 = 0u;
    var s1 = 0u;
    var s2 = 0u;
    var s3 = 0u;
    let mixed = lay == LAYOUT_BF16 || lay == LAYOUT_FP32;
    if (mixed) {
        s0 = load4(chunks[base + 4u], i0);
        s1 = load4(chunks[base + 5u], i0);
        if (lay == LAYOUT_FP32) {
            s2 = load4(chunks[base + 6u], i0);
            s3 = load4(chunks[base + 7u], i0);
        }
    }
    var result = 0u;
    for (var b = 0u; b < 4u; b++) {
        let r = rel + b;
        let e = (r >> lg) - i0;
        let j = r & mask;
        var v = 0u;
        if (mixed) {
            let sh = e * 8u;
            v = mixed_byte(lay, j, (s0 >> sh) & 0xFFu, (s1 >> sh) & 0xFFu, (s2 >> sh) & 0xFFu, (s3 >> sh) & 0xFFu);
        } else {
            v = load4(chunks[base + 4u + mask - j], i0 + e) & 0xFFu;
        }
        result |= v << (b * 8u);
    }
    return result;
}

// Bytes rel .. rel + 4 of the base that delta chunk `c` is XORed with (FORMAT.md, "Deltas"); 0 for
// a standalone chunk.
fn base_bytes(c: u32, rel: u32) -> u32 {
    let b = chunks[c * CHUNK_WORDS + 3u];
    if (b == NO_BASE) {
        return 0u;
    }
    return load4(b, rel);
}

// Chunk `c` is written by fused_decode.wgsl (its stream 0 or 1 is SRC_FUSED): the merge keeps its
// bytes.
fn fused(c: u32) -> bool {
    return (chunks[c * CHUNK_WORDS + 4u] >> SRC_SHIFT) == SRC_FUSED
        || (chunks[c * CHUNK_WORDS + 5u] >> SRC_SHIFT) == SRC_FUSED;
}

// The last chunk in [lo, hi) whose first byte is <= p (chunk descriptors are in byte order).
fn find_chunk(p: u32, lo_in: u32, hi_in: u32) -> u32 {
    var lo = lo_in;
    var hi = hi_in;
    while (hi - lo > 1u) {
        let mid = (lo + hi) / 2u;
        if (chunks[mid * CHUNK_WORDS] <= p) {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    return lo;
}

// Output word `gi` (relative to the window's first word) of block `block`.
fn merge_word(block: u32, gi: u32) {
    let word = params.first_word + gi;
    let n = params.chunk_count;
    let blocks = (params.word_count + MERGE_BLOCK - 1u) / MERGE_BLOCK;
    let table = n * CHUNK_WORDS;
    if (word >= arrayLength(&out) || n == 0u || table + blocks > arrayLength(&chunks)) {
        flag(ERR_MERGE, 0xFFFFFFFFu);
        return;
    }
    let lo = min(chunks[table + block], n - 1u);
    var hi = n;
    if (block + 1u < blocks) {
        hi = min(chunks[table + block + 1u] + 1u, n);
    }
    let p0 = word * 4u;
    let first = max(p0, params.win_start);
    var c = find_chunk(first, lo, max(hi, lo + 1u));
    let start = chunks[c * CHUNK_WORDS];
    let end = start + chunks[c * CHUNK_WORDS + 1u];
    if (p0 >= start && p0 + 4u <= end && p0 >= params.win_start && p0 + 4u <= params.win_end) {
        if (fused(c)) {
            return;
        }
        out[word] = word_in_chunk(c, p0) ^ base_bytes(c, p0 - start);
        return;
    }
    var result = out[word];
    for (var j = 0u; j < 4u; j++) {
        let p = p0 + j;
        if (p < params.win_start || p >= params.win_end) {
            continue;
        }
        // A word spans at most four chunks; chunks are back to back, so step forward.
        while (c + 1u < n && p >= chunks[c * CHUNK_WORDS] + chunks[c * CHUNK_WORDS + 1u]) {
            c++;
        }
        let s = chunks[c * CHUNK_WORDS];
        if (p < s || p >= s + chunks[c * CHUNK_WORDS + 1u]) {
            flag(ERR_MERGE, 0xFFFFFFFFu);
            return;
        }
        if (fused(c)) {
            continue;
        }
        let v = out_byte(c, p) ^ (base_bytes(c, p - s) & 0xFFu);
        result = (result & ~(0xFFu << (j * 8u))) | (v << (j * 8u));
    }
    out[word] = result;
}

// Words per workgroup: MERGE_WPI per invocation, strided by MERGE_WG so that neighbouring
// invocations touch neighbouring words (coalesced on GPUs); several words per invocation amortise
// the per-invocation cost (large on CPU drivers such as lavapipe).
const MERGE_BLOCK: u32 = MERGE_WG * MERGE_WPI;

@compute @workgroup_size(MERGE_WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let block = wid.y * params.word_x + wid.x;
    for (var k = 0u; k < MERGE_WPI; k++) {
        let gi = block * MERGE_BLOCK + k * MERGE_WG + lid;
        if (gi < params.word_count) {
            merge_word(block, gi);
        }
    }
}
