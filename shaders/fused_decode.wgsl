// Fused decode: Huffman (FORMAT.md "Huffman streams", K = 0) or rANS ("rANS streams", K =
// FUSED_RANS_K) decode of a chunk's stream 0 or 1, or pair (codecs 4 and 5, K = 1..4) decode of
// its streams 0 and 1, merged with the chunk's raw or const streams, XORed with the base of a
// delta chunk (FORMAT.md "Deltas") and written as finished elements straight into `out`: no staged
// stream in `huff`, no merge pass.
//
// One workgroup per fused job: up to HUFF_WG sub-streams of one chunk. The workgroup builds the
// stream's table in workgroup memory (table_build.wgsl; Huffman: TABLE_WORDS words, entry = length
// << 8 | symbol, then the second-symbol table in the next TABLE_WORDS words, huffman_symbols.wgsl;
// pair: PAIR_TABLE_WORDS words, entry = x | length << PAIR_LEN_SHIFT; rANS: RANS_TABLE_WORDS
// words, rans_symbols.wgsl), then each invocation decodes one sub-stream: a contiguous range of
// elements, so its output is a contiguous range of words. Per batch of 4 elements it decodes 4
// bytes of stream 0 (`a4`) and 4 of stream 1 (`b4`: Huffman and rANS: one raw word; pair: decoded
// with stream 0; a Huffman or rANS stream 1 swaps the two roles), loads one word of each further
// raw stream (and of a delta's base), and stores 2 (BF16, FP16) or 4 (FP32) output words.
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

// A fused sub-stream's place and its raw readers (`fused_open`).
struct Fused {
    // 0: a descriptor is bad (flagged).
    ok: u32,
    lay: u32,
    // The first output word, and the first base word (NO_BASE: a standalone chunk).
    ow: u32,
    bw: u32,
    n: u32,
    // K = 0 and rANS: the stream decoded (0 or 1); the other of streams 0 and 1 is `r1`.
    hs: u32,
    // Output words per batch of 4 elements.
    step: u32,
    r1: Raw,
    r2: Raw,
    r3: Raw,
}

// Sub-stream `si` of chunk `c` (window chunk index), K = `k` (0: Huffman; FUSED_RANS_K: rANS),
// checked against every binding; `two`: stream 1 is decoded too (by `fused_coded`), not read raw.
// Flags ERR_DESCRIPTOR and returns `ok` = 0 on any violation.
fn fused_open(si: u32, c: u32, k: u32, two: bool) -> Fused {
    let none = Raw(0u, 0u, 0u, 1u, 0u);
    var f = Fused(0u, 0u, 0u, NO_BASE, 0u, 0u, 0u, none, none, none);
    let s = subs[si];
    let comp_bytes = arrayLength(&comp) * 4u;
    let rans = k == FUSED_RANS_K;
    let max_len = select(select(MAX_SUB_BYTES, MAX_PAIR_SUB_BYTES, k != 0u), MAX_RANS_SUB_BYTES,
        rans);
    let cb = c * CHUNK_WORDS;
    // A rANS sub-stream holds the 4-byte state and whole 16-bit words.
    if (s.x > comp_bytes || s.y > comp_bytes - s.x || s.y > max_len || c >= params.chunk_count
        || cb + CHUNK_WORDS > arrayLength(&chunks) || (rans && (s.y < 4u || (s.y & 1u) != 0u))) {
        flag(ERR_DESCRIPTOR, si);
        return f;
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
        return f;
    }
    // A delta's base bytes: word-aligned in comp (plan.rs), the chunk's length of them.
    let base = chunks[cb + 3u];
    var bw = NO_BASE;
    if (base != NO_BASE) {
        if ((base & 3u) != 0u || base > comp_bytes || len > comp_bytes - base) {
            flag(ERR_DESCRIPTOR, si);
            return f;
        }
        bw = (base >> 2u) + (ow - (start >> 2u));
    }
    // K = 0 and rANS: the stream `hs` decoded (the one marked SRC_FUSED: 0 or 1); the other is
    // read raw, unless `two` (then both are marked).
    let alone = (k == 0u || rans) && !two;
    let hs = select(0u, 1u, (chunks[cb + 4u] >> SRC_SHIFT) != SRC_FUSED);
    if ((alone && (chunks[cb + 4u + hs] >> SRC_SHIFT) != SRC_FUSED)
        || (two && (hs != 0u || (chunks[cb + 5u] >> SRC_SHIFT) != SRC_FUSED))) {
        flag(ERR_DESCRIPTOR, si);
        return f;
    }
    // Streams read raw: 1 - hs (Huffman, rANS), 2 and 3 (FP32). Unused readers are const.
    var ok = 1u;
    if (alone) {
        f.r1 = raw_open(chunks[cb + 5u - hs], i0, n, &ok);
    }
    if (lay == LAYOUT_FP32) {
        f.r2 = raw_open(chunks[cb + 6u], i0, n, &ok);
        f.r3 = raw_open(chunks[cb + 7u], i0, n, &ok);
    }
    if (ok == 0u) {
        flag(ERR_DESCRIPTOR, si);
        return f;
    }
    f.ok = 1u;
    f.lay = lay;
    f.ow = ow;
    f.bw = bw;
    f.n = n;
    f.hs = hs;
    f.step = 1u << lg;
    return f;
}

// Sub-stream `si` of chunk `c`, K = `k` (0: Huffman, with two-symbol lookups; else a pair code's
// K).
fn fused_sub(si: u32, c: u32, k: u32) {
    let f = fused_open(si, c, k, false);
    if (f.ok == 0u) {
        return;
    }
    let s = subs[si];
    let lay = f.lay;
    let hs = f.hs;
    let n = f.n;
    let step = f.step;
    var bw = f.bw;
    var r1 = f.r1;
    var r2 = f.r2;
    var r3 = f.r3;
    let first = s.x >> 2u;
    let start_bit = (s.x & 3u) * 8u;
    let end_bit = start_bit + s.y * 8u;
    var st = bits_open(first, start_bit);
    var o = f.ow;
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

// One stream of a `fused_coded` sub-stream: Huffman by single lookups in the table from entry
// `te` on, rANS (rans_symbols.wgsl), or read raw (FUSED_NONE_K: the other stream of a chunk with
// one decoded stream). Its state is in the caller's locals (a Bits, a Rans, a Raw and a bad-code
// flag), passed by pointer: naga's SPIR-V writer takes pointers to whole variables only.
struct Dec {
    kind: u32,
    te: u32,
    // Huffman: the sub-stream's first word in comp, its first bit in that word and its bytes.
    first: u32,
    start_bit: u32,
    len: u32,
}

// The decoder of sub-stream `si`, of kind `kind`, table at word `tw`, which must hold elements
// `i0 .. i0 + n` of its chunk; opens `st` (Huffman) or `r` (rANS). `ok` = 0 (and ERR_DESCRIPTOR
// or ERR_BAD_CODE flagged) if it is bad. A raw `kind` needs no sub-stream.
fn dec_open(si: u32, kind: u32, tw: u32, i0: u32, n: u32, st: ptr<function, Bits>,
    r: ptr<function, Rans>, ok: ptr<function, u32>) -> Dec {
    var d = Dec(kind, 2u * tw, 0u, 0u, 0u);
    if (kind == FUSED_NONE_K) {
        return d;
    }
    let rans = kind == FUSED_RANS_K;
    let comp_bytes = arrayLength(&comp) * 4u;
    if (si >= arrayLength(&subs)) {
        flag(ERR_DESCRIPTOR, si);
        *ok = 0u;
        return d;
    }
    let s = subs[si];
    let max_len = select(MAX_SUB_BYTES, MAX_RANS_SUB_BYTES, rans);
    if (s.x > comp_bytes || s.y > comp_bytes - s.x || s.y > max_len || s.z != i0 || s.w != n
        || (rans && (s.y < 4u || (s.y & 1u) != 0u))) {
        flag(ERR_DESCRIPTOR, si);
        *ok = 0u;
        return d;
    }
    if (rans) {
        var good = 1u;
        *r = rans_open(s.x, s.y, tw, &good);
        if (good == 0u) {
            flag(ERR_BAD_CODE, si);
            *ok = 0u;
        }
        return d;
    }
    d.first = s.x >> 2u;
    d.start_bit = (s.x & 3u) * 8u;
    d.len = s.y;
    *st = bits_open(d.first, d.start_bit);
    return d;
}

// The next 4 bytes of the stream, first lowest.
fn dec_four(d: Dec, st: ptr<function, Bits>, r: ptr<function, Rans>, raw: ptr<function, Raw>,
    bad: ptr<function, u32>) -> u32 {
    if (d.kind == FUSED_NONE_K) {
        return raw_next(raw);
    }
    if (d.kind == FUSED_RANS_K) {
        return rans_four(r);
    }
    let e0 = next_sym_in(st, d.first, d.te);
    let e1 = next_sym_in(st, d.first, d.te);
    let e2 = next_sym_in(st, d.first, d.te);
    let e3 = next_sym_in(st, d.first, d.te);
    *bad |= select(0u, 1u, (e0 >> 8u) == 0u || (e1 >> 8u) == 0u || (e2 >> 8u) == 0u
        || (e3 >> 8u) == 0u);
    return (e0 & 0xFFu) | ((e1 & 0xFFu) << 8u) | ((e2 & 0xFFu) << 16u) | ((e3 & 0xFFu) << 24u);
}

// The next `cnt` < 4 bytes of the stream, first lowest.
fn dec_tail(d: Dec, st: ptr<function, Bits>, r: ptr<function, Rans>, raw: ptr<function, Raw>,
    bad: ptr<function, u32>, cnt: u32) -> u32 {
    if (d.kind == FUSED_NONE_K) {
        return raw_next(raw);
    }
    var v = 0u;
    for (var i = 0u; i < cnt; i++) {
        if (d.kind == FUSED_RANS_K) {
            v |= rans_step(r) << (i * 8u);
        } else {
            let e = next_sym_in(st, d.first, d.te);
            *bad |= select(0u, 1u, (e >> 8u) == 0u);
            v |= (e & 0xFFu) << (i * 8u);
        }
    }
    return v;
}

// True once the decoder has found a bad code or read past its sub-stream (the loop stops there).
fn dec_stopped(d: Dec, pos: u32, r: Rans, bad: u32) -> bool {
    if (d.kind == FUSED_RANS_K) {
        return r.pos > r.end;
    }
    return d.kind != FUSED_NONE_K && (bad != 0u || pos > d.start_bit + d.len * 8u);
}

// The verdict on the decoder of sub-stream `si` when it stopped.
fn dec_check(si: u32, d: Dec, pos: u32, r: Rans, bad: u32) {
    if (d.kind == FUSED_RANS_K) {
        var rr = r;
        rans_check_end(si, &rr);
    } else if (d.kind != FUSED_NONE_K) {
        check_sub_end(si, bad, pos, d.start_bit, d.len);
    }
}

// Sub-stream `si` of chunk `c`, stream `hs` of kind `k` (0: Huffman, FUSED_RANS_K: rANS); and,
// unless `k1` is FUSED_NONE_K, sub-stream `sj`, stream 1, of kind `k1`, the same elements (`hs` is
// 0 then); else the other of streams 0 and 1 read raw. Batches of 4 elements as in `fused_sub`,
// single lookups: the two tables leave no room for a second-symbol table.
fn fused_coded(si: u32, sj: u32, c: u32, k: u32, k1: u32) {
    let two = k1 != FUSED_NONE_K;
    let f = fused_open(si, c, k, two);
    if (f.ok == 0u) {
        return;
    }
    let i0 = subs[si].z;
    var ok = 1u;
    var st0 = Bits(0u, 0u, 0u, 0u, 0u);
    var st1 = st0;
    var rs0 = Rans(RANS_LOW, 0u, 0u, 0u);
    var rs1 = rs0;
    var raw0 = f.r1;
    var raw1 = f.r1;
    var bad0 = 0u;
    var bad1 = 0u;
    let d0 = dec_open(si, k, 0u, i0, f.n, &st0, &rs0, &ok);
    let d1 = dec_open(sj, k1, FUSED_TABLE1_WORD, i0, f.n, &st1, &rs1, &ok);
    if (ok == 0u) {
        return;
    }
    // d0 holds stream hs: with hs = 1 (one decoded stream, stream 1) the roles swap.
    let swap = f.hs == 1u;
    var o = f.ow;
    var bw = f.bw;
    var r2 = f.r2;
    var r3 = f.r3;
    let whole = f.n / 4u;
    var b = 0u;
    for (; b < whole; b++) {
        let x = dec_four(d0, &st0, &rs0, &raw0, &bad0);
        let y = dec_four(d1, &st1, &rs1, &raw1, &bad1);
        store(f.lay, o, bw, 4u, select(x, y, swap), select(y, x, swap), raw_next(&r2),
            raw_next(&r3));
        o += f.step;
        bw = select(bw + f.step, NO_BASE, bw == NO_BASE);
        if (dec_stopped(d0, st0.pos, rs0, bad0) || dec_stopped(d1, st1.pos, rs1, bad1)) {
            break;
        }
    }
    let tail = f.n & 3u;
    let going = !dec_stopped(d0, st0.pos, rs0, bad0) && !dec_stopped(d1, st1.pos, rs1, bad1);
    if (b >= whole && going && tail != 0u) {
        let x = dec_tail(d0, &st0, &rs0, &raw0, &bad0, tail);
        let y = dec_tail(d1, &st1, &rs1, &raw1, &bad1, tail);
        store(f.lay, o, bw, tail, select(x, y, swap), select(y, x, swap), raw_next(&r2),
            raw_next(&r3));
    }
    dec_check(si, d0, st0.pos, rs0, bad0);
    dec_check(sj, d1, st1.pos, rs1, bad1);
}

@compute @workgroup_size(HUFF_WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let fj = wid.y * params.fused_x + wid.x;
    // Fused jobs follow the Huffman and pair jobs, two vec4 each: (table offset in comp, first
    // sub-stream, count | K << 8 | rANS table size << 16, chunk) of the stream decoded first,
    // then (table offset, first sub-stream, K << 8 | rANS table size << 16, 0) of stream 1 when
    // the job decodes two streams, K = FUSED_NONE_K when it does not.
    let before = params.job_count + params.pair_count;
    let ji = before + 2u * fj;
    // fj < 2^30 and before < 2^31: ji + 1 does not wrap.
    let live = fj < params.fused_count && fj < 0x40000000u && before >= params.job_count
        && before < 0x80000000u && ji + 1u < arrayLength(&jobs);
    var job = vec4<u32>(0u, 0u, 0u, 0u);
    var job1 = vec4<u32>(0u, 0u, FUSED_NONE_K << 8u, 0u);
    if (live) {
        job = jobs[ji];
        job1 = jobs[ji + 1u];
    }
    let k = (job.z >> 8u) & 0xFFu;
    let k1 = (job1.z >> 8u) & 0xFFu;
    let rans = k == FUSED_RANS_K;
    let two = k1 != FUSED_NONE_K;
    // Every invocation takes part in every build (the barriers are in uniform control flow); a
    // build that is not live touches no word of `table`. The first table at word 0 (Huffman: then
    // its second-symbol table, unless a second stream's table follows at FUSED_TABLE1_WORD).
    let t0 = build_table(live && !rans, job.x, k, lid, 0u);
    build_second(live && t0 && k == 0u && !two, lid);
    let r0 = rans_build(live && rans, job.x, job.z >> 16u, lid, 0u);
    let t1 = build_table(live && two && k1 == 0u, job1.x, 0u, lid, FUSED_TABLE1_WORD);
    let r1 = rans_build(live && k1 == FUSED_RANS_K, job1.x, job1.z >> 16u, lid, FUSED_TABLE1_WORD);
    let count = job.z & 0xFFu;
    if (!live || lid >= min(count, HUFF_WG)) {
        return;
    }
    let si = job.y + lid;
    let sj = job1.y + lid;
    let pair = k >= MIN_PAIR_BITS && k <= MAX_PAIR_BITS;
    if ((k != 0u && !rans && !pair) || (two && (pair || (k1 != 0u && k1 != FUSED_RANS_K)))
        || si >= arrayLength(&subs)) {
        flag(ERR_DESCRIPTOR, si);
        return;
    }
    if (!select(t0, r0, rans) || (two && !select(t1, r1, k1 == FUSED_RANS_K))) {
        flag(ERR_TABLE, si);
        return;
    }
    if (rans || two) {
        fused_coded(si, sj, job.w, k, k1);
    } else {
        fused_sub(si, job.w, k);
    }
}
