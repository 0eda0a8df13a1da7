// Byte-group transposition (the inverse of `Layout::split`, same definitions as `Layout::merge`):
// one invocation per output u32 word. Each of the word's four bytes is found by a binary search
// over the window's chunk descriptors (then a step to the next chunk when a word spans chunks or
// segments); bytes outside the window [win_start, win_end) keep the word's current value, so a
// window that starts or ends inside a word leaves its neighbour's bytes alone.

// Byte `i` of stream `k` of chunk `c`.
fn stream_byte(c: u32, k: u32, i: u32) -> u32 {
    let src = chunks[c * CHUNK_WORDS + 4u + k];
    let kind = src >> 30u;
    let v = src & 0x3FFFFFFFu;
    if (kind == 2u) {
        return v & 0xFFu;
    }
    let addr = v + i;
    if (kind == 0u) {
        let w = addr >> 2u;
        if (w >= arrayLength(&comp)) {
            flag(ERR_MERGE, 0xFFFFFFFFu);
            return 0u;
        }
        return (comp[w] >> ((addr & 3u) * 8u)) & 0xFFu;
    }
    let w = addr >> 2u;
    if (kind != 1u || w >= arrayLength(&huff)) {
        flag(ERR_MERGE, 0xFFFFFFFFu);
        return 0u;
    }
    return (huff[w] >> ((addr & 3u) * 8u)) & 0xFFu;
}

// Byte `p` (relative to the out binding) of chunk `c`, which contains it.
fn out_byte(c: u32, p: u32) -> u32 {
    let base = c * CHUNK_WORDS;
    let lay = chunks[base + 2u];
    let rel = p - chunks[base];
    switch lay {
        case 0u: {
            return stream_byte(c, 0u, rel);
        }
        case 1u: {
            // bf16: E = stream 0, M = stream 1; w = (M & 0x80) << 8 | E << 7 | (M & 0x7F).
            let i = rel >> 1u;
            let e = stream_byte(c, 0u, i);
            let m = stream_byte(c, 1u, i);
            if ((rel & 1u) == 0u) {
                return ((e & 1u) << 7u) | (m & 0x7Fu);
            }
            return (m & 0x80u) | (e >> 1u);
        }
        case 2u: {
            // fp16: stream 0 = byte 1, stream 1 = byte 0.
            return stream_byte(c, 1u - (rel & 1u), rel >> 1u);
        }
        case 3u: {
            // fp32: exponent, sign + 7 mantissa bits, byte 1, byte 0.
            let i = rel >> 2u;
            let j = rel & 3u;
            if (j < 2u) {
                return stream_byte(c, 3u - j, i);
            }
            let e = stream_byte(c, 0u, i);
            let sm = stream_byte(c, 1u, i);
            if (j == 2u) {
                return ((e & 1u) << 7u) | (sm & 0x7Fu);
            }
            return (sm & 0x80u) | (e >> 1u);
        }
        case 4u: {
            // fp64: stream j = byte 7 - j.
            return stream_byte(c, 7u - (rel & 7u), rel >> 3u);
        }
        case 5u: {
            // group4: stream j = byte 3 - j.
            return stream_byte(c, 3u - (rel & 3u), rel >> 2u);
        }
        default: {
            flag(ERR_MERGE, 0xFFFFFFFFu);
            return 0u;
        }
    }
}

// The last chunk whose first byte is <= p (chunk descriptors are in byte order).
fn find_chunk(p: u32) -> u32 {
    var lo = 0u;
    var hi = params.chunk_count;
    // Invariant: chunk lo starts at or before p (or lo = 0); chunks >= hi start after p.
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

@compute @workgroup_size(MERGE_WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let gi = (wid.y * params.word_x + wid.x) * MERGE_WG + lid;
    if (gi >= params.word_count) {
        return;
    }
    let word = params.first_word + gi;
    if (word >= arrayLength(&out) || params.chunk_count == 0u
        || params.chunk_count * CHUNK_WORDS > arrayLength(&chunks)) {
        flag(ERR_MERGE, 0xFFFFFFFFu);
        return;
    }
    let p0 = word * 4u;
    var result = 0u;
    if (p0 < params.win_start || p0 + 4u > params.win_end) {
        result = out[word];
    }
    var c = 0xFFFFFFFFu;
    for (var j = 0u; j < 4u; j++) {
        let p = p0 + j;
        if (p < params.win_start || p >= params.win_end) {
            continue;
        }
        if (c == 0xFFFFFFFFu) {
            c = find_chunk(p);
        }
        // A word spans at most four chunks; chunks are back to back, so step forward.
        while (c + 1u < params.chunk_count && p >= chunks[c * CHUNK_WORDS] + chunks[c * CHUNK_WORDS + 1u]) {
            c++;
        }
        let start = chunks[c * CHUNK_WORDS];
        if (p < start || p >= start + chunks[c * CHUNK_WORDS + 1u]) {
            flag(ERR_MERGE, 0xFFFFFFFFu);
            return;
        }
        result = (result & ~(0xFFu << (j * 8u))) | (out_byte(c, p) << (j * 8u));
    }
    out[word] = result;
}
