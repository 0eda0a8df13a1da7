// Fused decode: Huffman (FORMAT.md "Huffman streams", K = 0) decode of a chunk's stream 0 or 1,
// or pair (codecs 4 and 5, K = 1..4) decode of its streams 0 and 1, merged with the chunk's raw or
// const streams, XORed with the base of a delta chunk (FORMAT.md "Deltas") and written as finished
// elements straight into `out`: no staged stream in `huff`, no merge pass.
//
// One workgroup per fused job: up to HUFF_WG sub-streams of one chunk. The workgroup builds the
// stream's table in workgroup memory (table_build.wgsl; Huffman: TABLE_WORDS words, entry = length
// << 8 | symbol, then the second-symbol table in the next TABLE_WORDS words, huffman_symbols.wgsl;
// pair: PAIR_TABLE_WORDS words, entry = x | length << PAIR_LEN_SHIFT), then each invocation
// decodes one sub-stream: a contiguous range of elements, so its output is a contiguous range of
// words. Per batch of 4 elements it decodes 4 bytes of stream 0 (`a4`) and 4 of stream 1 (`b4`:
// Huffman: one raw word; pair: decoded with stream 0; a Huffman stream 1 swaps the two roles),
// loads one word of each further raw stream (and of a delta's base), and stores 2 (BF16, FP16) or
// 4 (FP32) output words.
//
// The host fuses only chunks of layout BF16, FP16 or FP32 whose bytes start and end on a word of
// `out` and whose other streams are raw or const (src/gpu/fused.rs; zstd streams are decoded on
// the host and read raw); the kernel trusts none of it:
// every loop is bounded by the descriptor's element count, every index is checked, violations
// are ERR_DESCRIPTOR.

// A raw or const stream read 4 bytes at a time from byte `w * 4 + sh / 8` of comp: `lo` holds
// word `w`, so each 4 bytes cost one new load. `konst` != 0: a const stream, `value` each time.
struct Raw {
    w: u32,
    sh: u32,
    lo: u32,
    konst: u32,
    value: u32,
}

// The reader of source `src` from element `i0` on, for `n` elements; `ok` = 0 when the source is
// neither raw nor const or its bytes leave comp.
fn raw_open(src: u32, i0: u32, n: u32, ok: ptr<function, u32>) -> Raw {
    let kind = src >> SRC_SHIFT;
    let v = src & SRC_MASK;
    if (kind == SRC_CONST) {
        return Raw(0u, 0u, 0u, 1u, (v & 0xFFu) * 0x01010101u);
    }
    let comp_bytes = arrayLength(&comp) * 4u;
    // v < 2^30 and i0 <= len / 2 < 2^31 (checked by the caller): no sum wraps.
    if (kind != SRC_COMP || v + i0 > comp_bytes || n > comp_bytes - v - i0) {
        *ok = 0u;
        return Raw(0u, 0u, 0u, 1u, 0u);
    }
    let at = v + i0;
    return Raw(at >> 2u, (at & 3u) * 8u, comp_word(at >> 2u), 0u, 0u);
}

// The next 4 stream bytes, little-endian.
fn raw_next(r: ptr<function, Raw>) -> u32 {
    if ((*r).konst != 0u) {
        return (*r).value;
    }
    let hi = comp_word((*r).w + 1u);
    // (hi << 1) << (31 - sh): zero for sh = 0, where a shift by 32 would wrap.
    let v = ((*r).lo >> (*r).sh) | ((hi << 1u) << (31u - (*r).sh));
    (*r).lo = hi;
    (*r).w++;
    return v;
}

// The top 16 bits of an element from its stream bytes s0, s1 (layout::float_top for BF16 and
// FP32: s0 the exponent, s1 sign and mantissa; FP16: the high byte, then the low byte).
fn top16(lay: u32, s0: u32, s1: u32) -> u32 {
    if (lay == LAYOUT_FP16) {
        return (s0 << 8u) | s1;
    }
    return ((s1 & 0x80u) << 8u) | (s0 << 7u) | (s1 & 0x7Fu);
}

// Word `j` of the base bytes from comp word `bw` on (NO_BASE: a standalone chunk, 0).
fn base_word(bw: u32, j: u32) -> u32 {
    if (bw == NO_BASE) {
        return 0u;
    }
    return comp_word(bw + j);
}

// Stores elements 0 .. cnt (cnt in 1..=4, whole words: cnt is even for 2-byte layouts) of a batch
// whose stream bytes are a4, b4 (streams 0, 1) and c4, d4 (FP32: streams 2, 3), from word `ow` on,
// each word XORed with base word `bw` on (NO_BASE: none).
// Straight-line code: lavapipe counts every loop iteration against its per-invocation cap.
fn store(lay: u32, ow: u32, bw: u32, cnt: u32, a4: u32, b4: u32, c4: u32, d4: u32) {
    let t0 = top16(lay, a4 & 0xFFu, b4 & 0xFFu);
    let t1 = top16(lay, (a4 >> 8u) & 0xFFu, (b4 >> 8u) & 0xFFu);
    let t2 = top16(lay, (a4 >> 16u) & 0xFFu, (b4 >> 16u) & 0xFFu);
    let t3 = top16(lay, a4 >> 24u, b4 >> 24u);
    if (lay != LAYOUT_FP32) {
        out[ow] = (t0 | (t1 << 16u)) ^ base_word(bw, 0u);
        if (cnt == 4u) {
            out[ow + 1u] = (t2 | (t3 << 16u)) ^ base_word(bw, 1u);
        }
        return;
    }
    // FP32 byte 1 is stream 2, byte 0 stream 3.
    let l4 = (d4 & 0x00FF00FFu) | ((c4 & 0x00FF00FFu) << 8u);
    let h4 = ((d4 >> 8u) & 0x00FF00FFu) | (c4 & 0xFF00FF00u);
    // l4: elements 0 and 2's low halves; h4: elements 1 and 3's.
    out[ow] = ((t0 << 16u) | (l4 & 0xFFFFu)) ^ base_word(bw, 0u);
    if (cnt >= 2u) {
        out[ow + 1u] = ((t1 << 16u) | (h4 & 0xFFFFu)) ^ base_word(bw, 1u);
    }
    if (cnt >= 3u) {
        out[ow + 2u] = ((t2 << 16u) | (l4 >> 16u)) ^ base_word(bw, 2u);
    }
    if (cnt == 4u) {
        out[ow + 3u] = ((t3 << 16u) | (h4 >> 16u)) ^ base_word(bw, 3u);
    }
}

// Sub-stream `si` of chunk `c` (window chunk index), K = `k` (0: Huffman).
fn fused_sub(si: u32, c: u32, k: u32) {
    let s = subs[si];
    let comp_bytes = arrayLength(&comp) * 4u;
    let max_len = select(MAX_SUB_BYTES, MAX_PAIR_SUB_BYTES, k != 0u);
    let cb = c * CHUNK_WORDS;
    if (s.x > comp_bytes || s.y > comp_bytes - s.x || s.y > max_len || c >= params.chunk_count
        || cb + CHUNK_WORDS > arrayLength(&chunks)) {
        flag(ERR_DESCRIPTOR, si);
        return;
    }
    let lay = chunks[cb + 2u];
    let start = chunks[cb];
    let len = chunks[cb + 1u];
    let lg = select(1u, 2u, lay == LAYOUT_FP32);
    let i0 = s.z;
    let n = s.w;
    // Whole words: the chunk starts and ends on one, the sub-stream starts on a batch and, for
    // 2-byte elements, holds an even count; its elements lie inside the chunk and its words
    // inside `out`.
    let out_words = arrayLength(&out);
    let chunk_n = len >> lg;
    let ow = (start >> 2u) + ((i0 << lg) >> 2u);
    let words = (n << lg) >> 2u;
    if ((lay != LAYOUT_BF16 && lay != LAYOUT_FP16 && lay != LAYOUT_FP32) || (start & 3u) != 0u
        || (len & 3u) != 0u || (i0 & 3u) != 0u || ((n << lg) & 3u) != 0u || i0 > chunk_n
        || n > chunk_n - i0 || (start >> 2u) > out_words || ow > out_words
        || words > out_words - ow) {
        flag(ERR_DESCRIPTOR, si);
        return;
    }
    // A delta's base bytes: word-aligned in comp (plan.rs), the chunk's length of them.
    let base = chunks[cb + 3u];
    var bw = NO_BASE;
    if (base != NO_BASE) {
        if ((base & 3u) != 0u || base > comp_bytes || len > comp_bytes - base) {
            flag(ERR_DESCRIPTOR, si);
            return;
        }
        bw = (base >> 2u) + (ow - (start >> 2u));
    }
    // K = 0: the Huffman stream `hs` (the one marked SRC_FUSED: 0 or 1); the other is read raw.
    let hs = select(0u, 1u, (chunks[cb + 4u] >> SRC_SHIFT) != SRC_FUSED);
    if (k == 0u && (chunks[cb + 4u + hs] >> SRC_SHIFT) != SRC_FUSED) {
        flag(ERR_DESCRIPTOR, si);
        return;
    }
    // Streams read raw: 1 - hs (Huffman), 2 and 3 (FP32). Unused readers are const.
    var ok = 1u;
    var r1 = Raw(0u, 0u, 0u, 1u, 0u);
    var r2 = Raw(0u, 0u, 0u, 1u, 0u);
    var r3 = Raw(0u, 0u, 0u, 1u, 0u);
    if (k == 0u) {
        r1 = raw_open(chunks[cb + 5u - hs], i0, n, &ok);
    }
    if (lay == LAYOUT_FP32) {
        r2 = raw_open(chunks[cb + 6u], i0, n, &ok);
        r3 = raw_open(chunks[cb + 7u], i0, n, &ok);
    }
    if (ok == 0u) {
        flag(ERR_DESCRIPTOR, si);
        return;
    }
    let first = s.x >> 2u;
    let start_bit = (s.x & 3u) * 8u;
    let end_bit = start_bit + s.y * 8u;
    var st = bits_open(first, start_bit);
    var o = ow;
    let step = 1u << lg;
    // Four elements per iteration, checks once per batch: the loop count stays at n / 4
    // (lavapipe stops an invocation after 65,535 loop iterations in all, and a sub-stream holds
    // up to 65,536 elements).
    var bad = 0u;
    let whole = n / 4u;
    var b = 0u;
    // K = 0: the first pair_batches(n) batches by two-symbol lookups (huffman_symbols.wgsl),
    // then single lookups, the symbol a batch carried first.
    var carry = Carry(0u, 0u);
    let fast = select(0u, pair_batches(n), k == 0u);
    for (; b < fast; b++) {
        let lo = four_by_pairs(&st, first, &carry, &bad);
        let r4 = raw_next(&r1);
        store(lay, o, bw, 4u, select(lo, r4, hs == 1u), select(r4, lo, hs == 1u), raw_next(&r2),
            raw_next(&r3));
        o += step;
        bw = select(bw + step, NO_BASE, bw == NO_BASE);
        if (bad != 0u || st.pos > end_bit) {
            b = whole + 1u;
            break;
        }
    }
    for (; b < whole; b++) {
        var a4 = 0u;
        var b4 = 0u;
        if (k == 0u) {
            let e0 = next_or_carried(&st, first, &carry);
            let e1 = next_sym(&st, first);
            let e2 = next_sym(&st, first);
            let e3 = next_sym(&st, first);
            let h4 = (e0 & 0xFFu) | ((e1 & 0xFFu) << 8u) | ((e2 & 0xFFu) << 16u) | ((e3 & 0xFFu) << 24u);
            let r4 = raw_next(&r1);
            a4 = select(h4, r4, hs == 1u);
            b4 = select(r4, h4, hs == 1u);
            bad |= select(0u, 1u, (e0 >> 8u) == 0u || (e1 >> 8u) == 0u || (e2 >> 8u) == 0u
                || (e3 >> 8u) == 0u);
        } else {
            let e0 = next_pair(&st, first, k);
            let e1 = next_pair(&st, first, k);
            let e2 = next_pair(&st, first, k);
            let e3 = next_pair(&st, first, k);
            a4 = (e0 & 0xFFu) | ((e1 & 0xFFu) << 8u) | ((e2 & 0xFFu) << 16u) | ((e3 & 0xFFu) << 24u);
            b4 = ((e0 >> 8u) & 0xFFu) | (e1 & 0xFF00u) | ((e2 & 0xFF00u) << 8u)
                | ((e3 & 0xFF00u) << 16u);
            bad |= select(0u, 1u, (e0 >> 16u) == 0u || (e1 >> 16u) == 0u || (e2 >> 16u) == 0u
                || (e3 >> 16u) == 0u);
        }
        store(lay, o, bw, 4u, a4, b4, raw_next(&r2), raw_next(&r3));
        o += step;
        bw = select(bw + step, NO_BASE, bw == NO_BASE);
        if (bad != 0u || st.pos > end_bit) {
            break;
        }
    }
    let tail = n & 3u;
    if (b <= whole && bad == 0u && st.pos <= end_bit && tail != 0u) {
        var a4 = 0u;
        var b4 = 0u;
        for (var i = 0u; i < tail; i++) {
            if (k == 0u) {
                let e = next_or_carried(&st, first, &carry);
                a4 |= (e & 0xFFu) << (i * 8u);
                bad |= select(0u, 1u, (e >> 8u) == 0u);
            } else {
                let e = next_pair(&st, first, k);
                a4 |= (e & 0xFFu) << (i * 8u);
                b4 |= ((e >> 8u) & 0xFFu) << (i * 8u);
                bad |= select(0u, 1u, (e >> 16u) == 0u);
            }
        }
        if (k == 0u) {
            let r4 = raw_next(&r1);
            b4 = select(r4, a4, hs == 1u);
            a4 = select(a4, r4, hs == 1u);
        }
        store(lay, o, bw, tail, a4, b4, raw_next(&r2), raw_next(&r3));
    }
    check_sub_end(si, bad, st.pos, start_bit, s.y);
}

@compute @workgroup_size(HUFF_WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let fj = wid.y * params.fused_x + wid.x;
    // Fused jobs follow the Huffman and pair jobs.
    let before = params.job_count + params.pair_count;
    let ji = before + fj;
    let live = fj < params.fused_count && before >= params.job_count && ji >= fj
        && ji < arrayLength(&jobs);
    var job = vec4<u32>(0u, 0u, 0u, 0u);
    if (live) {
        job = jobs[ji];
    }
    let k = (job.z >> 8u) & 0xFFu;
    // job.x: the table's byte offset in comp (K = 0: Huffman).
    let tvalid = build_table(live, job.x, k, lid);
    build_second(live && tvalid && k == 0u, lid);
    let count = job.z & 0xFFu;
    if (!live || lid >= min(count, HUFF_WG)) {
        return;
    }
    let si = job.y + lid;
    if ((k != 0u && (k < MIN_PAIR_BITS || k > MAX_PAIR_BITS)) || si >= arrayLength(&subs)) {
        flag(ERR_DESCRIPTOR, si);
        return;
    }
    if (!tvalid) {
        flag(ERR_TABLE, si);
        return;
    }
    fused_sub(si, job.w, k);
}
