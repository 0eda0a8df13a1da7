// rANS decode (FORMAT.md, "rANS streams": codec 6, format v4).
//
// One workgroup per rANS job: up to HUFF_WG sub-streams of one stream (job: the table's byte
// offset in comp, the first sub-stream, their count, the table's size). Invocation 0 parses the
// stream's table (`first:u8 last:u8 freq:varint*` at the payload's start) into `rfc` (per symbol
// `freq | cum << 16`) with every check of the CPU decoder's parser; then the workgroup fills the
// slot table `rslot` (the symbol of each of the RANS_SCALE slots, four per u32: 4 KiB), each
// invocation whole words by binary search over the cumulative frequencies, so no two invocations
// write one word. Then each invocation decodes one sub-stream into `huff`, four symbols (one
// output word) per iteration: the loop count stays at n / 4 (lavapipe stops an invocation after
// 65,535 loop iterations in all, and a sub-stream holds up to 65,536 symbols). Every loop is
// bounded by the descriptor's symbol count, every index is checked.

var<workgroup> rfc: array<u32, 256>;
var<workgroup> rslot: array<u32, RANS_SLOT_WORDS>;
var<workgroup> rvalid: u32;

// The 32 bits from byte `b` of comp on, little-endian (zero bytes past its end).
fn rans_u32_at(b: u32) -> u32 {
    let w = b >> 2u;
    let sh = (b & 3u) * 8u;
    // (hi << 1) << (31 - sh): zero for sh = 0, where a shift by 32 would wrap.
    return (comp_word(w) >> sh) | ((comp_word(w + 1u) << 1u) << (31u - sh));
}

// The table at byte `at` of comp into `rfc`; false unless it is valid: `first < last`, each
// frequency a shortest-form varint < RANS_SCALE, `freq[first]` and `freq[last]` > 0, the sum
// RANS_SCALE, and exactly `size` bytes (where the index puts the first sub-stream) inside comp.
fn rans_parse_table(at: u32, size: u32) -> bool {
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
        rfc[s] = min(f, 0xFFFFu) | (min(cum, 0xFFFFu) << 16u);
        cum += f;
    }
    return ok && cum == RANS_SCALE && p - at == size && p <= comp_bytes;
}

// The symbol of slot `slot`: the largest s with cum[s] <= slot (then slot < cum[s] + freq[s],
// as cum[s + 1] = cum[s] + freq[s] > slot), by binary search; cum[0] = 0.
fn rans_symbol_of(slot: u32) -> u32 {
    var s = 0u;
    for (var b = 128u; b > 0u; b >>= 1u) {
        if ((rfc[s + b] >> 16u) <= slot) {
            s += b;
        }
    }
    return s;
}

// One decode step (FORMAT.md "rANS streams", steps 1-3) of the sub-stream whose state is `x` and
// whose next word is at byte `pos` of comp; returns the symbol. A word past the sub-stream's end
// (`end`) is read from inside it instead and counted, so that the final check sees the overrun.
fn rans_step(x: ptr<function, u32>, pos: ptr<function, u32>, end: u32) -> u32 {
    let slot = *x & (RANS_SCALE - 1u);
    let sym = (rslot[slot >> 2u] >> ((slot & 3u) * 8u)) & 0xFFu;
    let e = rfc[sym];
    let y = (e & 0xFFFFu) * (*x >> RANS_PROB_BITS) + slot - (e >> 16u);
    if (y < RANS_LOW) {
        *x = (y << 16u) | (rans_u32_at(min(*pos, end - 2u)) & 0xFFFFu);
        *pos += 2u;
    } else {
        *x = y;
    }
    return sym;
}

fn rans_sub(si: u32) {
    let s = subs[si];
    let comp_bytes = arrayLength(&comp) * 4u;
    if (s.x > comp_bytes || s.y > comp_bytes - s.x || s.y > MAX_RANS_SUB_BYTES || s.y < 4u
        || (s.y & 1u) != 0u) {
        flag(ERR_DESCRIPTOR, si);
        return;
    }
    let n = s.w;
    let huff_words = arrayLength(&huff);
    if (s.z > huff_words || (n + 3u) / 4u > huff_words - s.z) {
        flag(ERR_DESCRIPTOR, si);
        return;
    }
    var x = rans_u32_at(s.x);
    if (x < RANS_LOW) {
        flag(ERR_BAD_CODE, si);
        return;
    }
    var pos = s.x + 4u;
    let end = s.x + s.y;
    var ow = s.z;
    let whole = n / 4u;
    for (var k = 0u; k < whole; k++) {
        let e0 = rans_step(&x, &pos, end);
        let e1 = rans_step(&x, &pos, end);
        let e2 = rans_step(&x, &pos, end);
        let e3 = rans_step(&x, &pos, end);
        huff[ow] = e0 | (e1 << 8u) | (e2 << 16u) | (e3 << 24u);
        ow++;
        if (pos > end) {
            break;
        }
    }
    if (pos <= end && (n & 3u) != 0u) {
        var acc = 0u;
        for (var i = 0u; i < (n & 3u); i++) {
            acc |= rans_step(&x, &pos, end) << (i * 8u);
        }
        huff[ow] = acc;
    }
    if (pos > end) {
        flag(ERR_PAST_END, si);
    } else if (pos != end || x != RANS_LOW) {
        flag(ERR_LENGTH, si);
    }
}

@compute @workgroup_size(HUFF_WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let rj = wid.y * params.rans_x + wid.x;
    // rANS jobs follow the Huffman, pair and fused jobs.
    let before = params.job_count + params.pair_count + params.fused_count;
    let ji = before + rj;
    let live = rj < params.rans_count && ji >= rj && before >= params.job_count
        && ji < arrayLength(&jobs);
    var job = vec4<u32>(0u, 0u, 0u, 0u);
    if (live) {
        job = jobs[ji];
    }
    if (lid == 0u) {
        // job.x: the table's byte offset in comp, job.w its size.
        rvalid = select(0u, 1u, live && rans_parse_table(job.x, job.w));
    }
    let valid = workgroupUniformLoad(&rvalid) != 0u;
    if (valid) {
        for (var w = lid; w < RANS_SLOT_WORDS; w += HUFF_WG) {
            let s0 = rans_symbol_of(w * 4u);
            let s1 = rans_symbol_of(w * 4u + 1u);
            let s2 = rans_symbol_of(w * 4u + 2u);
            let s3 = rans_symbol_of(w * 4u + 3u);
            rslot[w] = s0 | (s1 << 8u) | (s2 << 16u) | (s3 << 24u);
        }
    }
    workgroupBarrier();
    let count = job.z & 0xFFu;
    if (!live || lid >= min(count, HUFF_WG)) {
        return;
    }
    let si = job.y + lid;
    if (si >= arrayLength(&subs)) {
        flag(ERR_DESCRIPTOR, si);
        return;
    }
    if (!valid) {
        flag(ERR_TABLE, si);
        return;
    }
    rans_sub(si);
}
