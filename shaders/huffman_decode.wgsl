// Table-driven Huffman decode (FORMAT.md, "Huffman streams").
//
// One workgroup per job: a job is up to HUFF_WG sub-streams of one stream. The workgroup builds the
// stream's 2^TABLE_LOG-entry table (table_build.wgsl, from the code lengths at the payload's start;
// two entries per u32: 4 KiB) and its second-symbol table (huffman_symbols.wgsl, 4 KiB) in
// workgroup memory, then each invocation decodes one sub-stream, two symbols per lookup where
// both codes fit. Bits are read MSB first through the `Bits` window of common.wgsl; every loop is
// bounded by the descriptor's symbol count, every index is checked.

fn decode_sub(si: u32) {
    let s = subs[si];
    let comp_bytes = arrayLength(&comp) * 4u;
    if (s.x > comp_bytes || s.y > comp_bytes - s.x || s.y > MAX_SUB_BYTES) {
        flag(ERR_DESCRIPTOR, si);
        return;
    }
    let n = s.w;
    let huff_words = arrayLength(&huff);
    if (s.z > huff_words || (n + 3u) / 4u > huff_words - s.z) {
        flag(ERR_DESCRIPTOR, si);
        return;
    }
    // Bit positions count from bit 0 of the word holding the first byte; the sub-stream's bytes
    // are at most MAX_SUB_BYTES, so they fit in a u32 whatever the binding's size.
    let first = s.x >> 2u;
    let start_bit = (s.x & 3u) * 8u;
    let end_bit = start_bit + s.y * 8u;
    var st = bits_open(first, start_bit);
    var ow = s.z;
    // Four symbols per iteration (one output word), checks once per word: the loop count stays
    // at n / 4 (lavapipe stops a shader invocation after 65,535 loop iterations in all, and a
    // sub-stream holds up to 65,536 symbols).
    var bad = 0u;
    let whole = n / 4u;
    var k = 0u;
    var carry = Carry(0u, 0u);
    for (; k < pair_batches(n); k++) {
        huff[ow] = four_by_pairs(&st, first, &carry, &bad);
        ow++;
        if (bad != 0u || st.pos > end_bit) {
            k = whole + 1u;
            break;
        }
    }
    for (; k < whole; k++) {
        let e0 = next_or_carried(&st, first, &carry);
        let e1 = next_sym(&st, first);
        let e2 = next_sym(&st, first);
        let e3 = next_sym(&st, first);
        huff[ow] = (e0 & 0xFFu) | ((e1 & 0xFFu) << 8u) | ((e2 & 0xFFu) << 16u) | ((e3 & 0xFFu) << 24u);
        ow++;
        bad |= select(0u, 1u, (e0 >> 8u) == 0u || (e1 >> 8u) == 0u || (e2 >> 8u) == 0u || (e3 >> 8u) == 0u);
        if (bad != 0u || st.pos > end_bit) {
            break;
        }
    }
    var acc = 0u;
    if (k <= whole && bad == 0u && st.pos <= end_bit) {
        for (var i = 0u; i < (n & 3u); i++) {
            let e = next_or_carried(&st, first, &carry);
            acc |= (e & 0xFFu) << (i * 8u);
            bad |= select(0u, 1u, (e >> 8u) == 0u);
        }
        if ((n & 3u) != 0u) {
            huff[ow] = acc;
        }
    }
    check_sub_end(si, bad, st.pos, start_bit, s.y);
}

@compute @workgroup_size(HUFF_WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let ji = wid.y * params.job_x + wid.x;
    let live = ji < params.job_count && ji < arrayLength(&jobs);
    var job = vec4<u32>(0u, 0u, 0u, 0u);
    if (live) {
        job = jobs[ji];
    }
    // job.x: the table's byte offset in comp.
    let tvalid = build_table(live, job.x, 0u, lid, 0u);
    build_second(live && tvalid, lid);
    if (!live || lid >= min(job.z, HUFF_WG)) {
        return;
    }
    let si = job.y + lid;
    if (si >= arrayLength(&subs)) {
        flag(ERR_DESCRIPTOR, si);
        return;
    }
    if (!tvalid) {
        flag(ERR_TABLE, si);
        return;
    }
    decode_sub(si);
}
