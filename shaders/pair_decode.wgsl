// Table-driven pair decode (FORMAT.md, "Pair streams": codecs 4 and 5).
//
// One workgroup per pair job: up to HUFF_WG sub-streams of one pair stream. The workgroup builds
// the stream's 2^PAIR_TABLE_LOG-entry table (table_build.wgsl: entry = x | code length <<
// PAIR_LEN_SHIFT, two u16 entries per u32: 8 KiB) in workgroup memory, then each invocation
// decodes one sub-stream. An element is a code for x = a << K | b >> (8 - K) and then the 8 - K
// raw low bits of b; `a` goes to stream k's region of `huff` (the sub-stream's output word on),
// `b` to stream k + 1's, `stride` words further. Bits are read MSB first through the `Bits`
// window of common.wgsl; every loop is bounded by the descriptor's element count, every index is
// checked.

// Bytes 0 and 1 of four decoded elements as one word of stream k and one of stream k + 1.
fn lo_bytes(e0: u32, e1: u32, e2: u32, e3: u32) -> u32 {
    return (e0 & 0xFFu) | ((e1 & 0xFFu) << 8u) | ((e2 & 0xFFu) << 16u) | ((e3 & 0xFFu) << 24u);
}

fn decode_pair_sub(si: u32, k: u32, stride: u32) {
    let s = subs[si];
    let comp_bytes = arrayLength(&comp) * 4u;
    if (s.x > comp_bytes || s.y > comp_bytes - s.x || s.y > MAX_PAIR_SUB_BYTES) {
        flag(ERR_DESCRIPTOR, si);
        return;
    }
    let n = s.w;
    let nw = (n + 3u) / 4u;
    let huff_words = arrayLength(&huff);
    // Both regions inside `huff`, each comparison free of overflow.
    if (s.z > huff_words || nw > huff_words - s.z || stride > huff_words - s.z
        || nw > huff_words - s.z - stride) {
        flag(ERR_DESCRIPTOR, si);
        return;
    }
    let raw = 8u - k;
    let first = s.x >> 2u;
    let start_bit = (s.x & 3u) * 8u;
    let end_bit = start_bit + s.y * 8u;
    var st = bits_open(first, start_bit);
    var oa = s.z;
    let ob = s.z + stride;
    // Four elements per iteration (one output word of each stream), checks once per word: the loop
    // count stays at n / 4 (lavapipe stops an invocation after 65,535 loop iterations in all, and
    // a sub-stream holds up to 65,536 elements).
    var bad = 0u;
    let whole = n / 4u;
    for (var i = 0u; i < whole; i++) {
        let e0 = next_pair(&st, first, k);
        let e1 = next_pair(&st, first, k);
        let e2 = next_pair(&st, first, k);
        let e3 = next_pair(&st, first, k);
        huff[oa] = lo_bytes(e0, e1, e2, e3);
        huff[oa + stride] = lo_bytes(e0 >> 8u, e1 >> 8u, e2 >> 8u, e3 >> 8u);
        oa++;
        bad |= select(0u, 1u, (e0 >> 16u) == 0u || (e1 >> 16u) == 0u || (e2 >> 16u) == 0u
            || (e3 >> 16u) == 0u);
        if (bad != 0u || st.pos > end_bit) {
            break;
        }
    }
    var acc_a = 0u;
    var acc_b = 0u;
    if (bad == 0u && st.pos <= end_bit) {
        for (var i = 0u; i < (n & 3u); i++) {
            let e = next_pair(&st, first, k);
            acc_a |= (e & 0xFFu) << (i * 8u);
            acc_b |= ((e >> 8u) & 0xFFu) << (i * 8u);
            bad |= select(0u, 1u, (e >> 16u) == 0u);
        }
        if ((n & 3u) != 0u) {
            huff[oa] = acc_a;
            huff[oa + stride] = acc_b;
        }
    }
    check_sub_end(si, bad, st.pos, start_bit, s.y);
}

@compute @workgroup_size(HUFF_WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let pj = wid.y * params.pair_x + wid.x;
    // Pair jobs follow the Huffman jobs.
    let ji = params.job_count + pj;
    let live = pj < params.pair_count && ji >= pj && ji < arrayLength(&jobs);
    var job = vec4<u32>(0u, 0u, 0u, 0u);
    if (live) {
        job = jobs[ji];
    }
    let k = (job.z >> 8u) & 0xFFu;
    // job.x: the table's byte offset in comp.
    let tvalid = build_table(live, job.x, max(k, 1u), lid, 0u);
    let count = job.z & 0xFFu;
    if (!live || lid >= min(count, HUFF_WG)) {
        return;
    }
    let si = job.y + lid;
    if (k < MIN_PAIR_BITS || k > MAX_PAIR_BITS || si >= arrayLength(&subs)) {
        flag(ERR_DESCRIPTOR, si);
        return;
    }
    if (!tvalid) {
        flag(ERR_TABLE, si);
        return;
    }
    decode_pair_sub(si, k, job.w);
}
