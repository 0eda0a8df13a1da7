// rANS symbol decoding shared by rans_decode.wgsl and fused_decode.wgsl (FORMAT.md "rANS streams":
// codec 6, format v4), prepended to the kernels that call `rans_build`. Their workgroup array
// `table` holds at least RANS_TABLE_WORDS words (rans_decode.wgsl declares exactly that many;
// fused_decode.wgsl shares the array table_build.wgsl declares, FUSED_TABLE_WORDS, room for two
// tables, checked in shader_consts.rs): a table built at word `tw` holds the slot table
// in words tw .. tw + RANS_SLOT_WORDS (the symbol of each of the RANS_SCALE slots, four per word:
// 4 KiB), then one word per symbol, `freq | cum << 16`.
//
// `rans_build`: invocation 0 parses the stream's table (`first:u8 last:u8 freq:varint*` at the
// payload's start) with every check of the CPU decoder's parser; then each invocation fills whole
// slot words by binary search over the cumulative frequencies, so that no two invocations write
// one word and no atomics are needed.

var<workgroup> rvalid: u32;

// Entry of symbol `s` of the table at word `tw`: freq | cum << 16.
fn rans_fc(tw: u32, s: u32) -> u32 {
    return table[tw + RANS_SLOT_WORDS + s];
}

// The 32 bits from byte `b` of comp on, little-endian (zero bytes past its end).
fn rans_u32_at(b: u32) -> u32 {
    let w = b >> 2u;
    let sh = (b & 3u) * 8u;
    // (hi << 1) << (31 - sh): zero for sh = 0, where a shift by 32 would wrap.
    return (comp_word(w) >> sh) | ((comp_word(w + 1u) << 1u) << (31u - sh));
}

// The table at byte `at` of comp into the symbol entries; false unless it is valid: `first <
// last`, each frequency a shortest-form varint < RANS_SCALE, `freq[first]` and `freq[last]` > 0,
// the sum RANS_SCALE, and exactly `size` bytes (where the index puts the first sub-stream) inside
// comp. Built at word `tw`.
fn rans_parse_table(at: u32, size: u32, tw: u32) -> bool {
    let comp_bytes = arrayLength(&comp) * 4u;
    if (at > comp_bytes || comp_bytes - at < RANS_MIN_TABLE_BYTES) {
        return false;
    }
    let head = rans_u32_at(at);
    let first = head & 0xFFu;
    let last = (head >> 8u) & 0xFFu;
    var ok = first < last;
    var p = at + 2u;
    var cum = 0u;
    for (var s = 0u; s < 256u; s++) {
        var f = 0u;
        if (s >= first && s <= last) {
            // Two bytes at most: a third would make the value >= 2^14 > RANS_SCALE or the form
            // longer than the shortest.
            let v = rans_u32_at(p);
            f = v & 0x7Fu;
            p += 1u;
            if ((v & 0x80u) != 0u) {
                let b1 = (v >> 8u) & 0xFFu;
                ok = ok && b1 != 0u && b1 < 0x80u;
                f |= (b1 & 0x7Fu) << 7u;
                p += 1u;
            }
            ok = ok && f < RANS_SCALE && !((s == first || s == last) && f == 0u);
        }
        table[tw + RANS_SLOT_WORDS + s] = min(f, 0xFFFFu) | (min(cum, 0xFFFFu) << 16u);
        cum += f;
    }
    return ok && cum == RANS_SCALE && p - at == size && p <= comp_bytes;
}

// The symbol of slot `slot`: the largest s with cum[s] <= slot (then slot < cum[s] + freq[s],
// as cum[s + 1] = cum[s] + freq[s] > slot), by binary search; cum[0] = 0.
fn rans_symbol_of(tw: u32, slot: u32) -> u32 {
    var s = 0u;
    for (var b = 128u; b > 0u; b >>= 1u) {
        if ((rans_fc(tw, s + b) >> 16u) <= slot) {
            s += b;
        }
    }
    return s;
}

// Builds the decode table of the rANS table at byte `at` of comp, `size` bytes, from word `tw` of
// `table` on, when `live`; returns whether it is valid (the same value in every invocation).
// Called by every invocation of the workgroup: its barriers are in uniform control flow.
fn rans_build(live: bool, at: u32, size: u32, lid: u32, tw: u32) -> bool {
    if (lid == 0u) {
        let fits = tw <= BUILD_WORDS && RANS_TABLE_WORDS <= BUILD_WORDS - tw;
        rvalid = select(0u, 1u, live && fits && rans_parse_table(at, size, tw));
    }
    let valid = workgroupUniformLoad(&rvalid) != 0u;
    if (valid) {
        for (var w = lid; w < RANS_SLOT_WORDS; w += HUFF_WG) {
            let s0 = rans_symbol_of(tw, w * 4u);
            let s1 = rans_symbol_of(tw, w * 4u + 1u);
            let s2 = rans_symbol_of(tw, w * 4u + 2u);
            let s3 = rans_symbol_of(tw, w * 4u + 3u);
            table[tw + w] = s0 | (s1 << 8u) | (s2 << 16u) | (s3 << 24u);
        }
    }
    workgroupBarrier();
    return valid;
}

// The decoder of one sub-stream: state `x`, the byte of its next word in comp, the byte after its
// last, and the word of `table` its decode table starts at.
struct Rans {
    x: u32,
    pos: u32,
    end: u32,
    tw: u32,
}

// The decoder of the sub-stream of `len` bytes at byte `start` of comp (the caller has checked
// that it lies inside comp, is at least 4 bytes and even) with the table at word `tw`; `ok` = 0
// when the initial state is below RANS_LOW.
fn rans_open(start: u32, len: u32, tw: u32, ok: ptr<function, u32>) -> Rans {
    let x = rans_u32_at(start);
    if (x < RANS_LOW) {
        *ok = 0u;
    }
    return Rans(x, start + 4u, start + len, tw);
}

// One decode step (FORMAT.md "rANS streams", steps 1-3); returns the symbol. A word past the
// sub-stream's end is read from inside it instead and counted, so that the final check sees the
// overrun.
fn rans_step(r: ptr<function, Rans>) -> u32 {
    let x = (*r).x;
    let slot = x & (RANS_SCALE - 1u);
    let sym = (table[(*r).tw + (slot >> 2u)] >> ((slot & 3u) * 8u)) & 0xFFu;
    let e = rans_fc((*r).tw, sym);
    let y = (e & 0xFFFFu) * (x >> RANS_PROB_BITS) + slot - (e >> 16u);
    if (y < RANS_LOW) {
        (*r).x = (y << 16u) | (rans_u32_at(min((*r).pos, (*r).end - 2u)) & 0xFFFFu);
        (*r).pos += 2u;
    } else {
        (*r).x = y;
    }
    return sym;
}

// Four steps: the symbols as the bytes of one word, first lowest.
fn rans_four(r: ptr<function, Rans>) -> u32 {
    let e0 = rans_step(r);
    let e1 = rans_step(r);
    let e2 = rans_step(r);
    let e3 = rans_step(r);
    return e0 | (e1 << 8u) | (e2 << 16u) | (e3 << 24u);
}

// True once the decoder has read past its sub-stream (its loop stops there).
fn rans_overrun(r: ptr<function, Rans>) -> bool {
    return (*r).pos > (*r).end;
}

// The verdict on sub-stream `si` when its decoder stopped: words read past its end, or words left
// over or a final state other than RANS_LOW (the encoder's initial state) flags it.
fn rans_check_end(si: u32, r: ptr<function, Rans>) {
    if ((*r).pos > (*r).end) {
        flag(ERR_PAST_END, si);
    } else if ((*r).pos != (*r).end || (*r).x != RANS_LOW) {
        flag(ERR_LENGTH, si);
    }
}
