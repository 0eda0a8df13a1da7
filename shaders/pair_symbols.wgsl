// Pair element decoding shared by pair_decode.wgsl and fused_decode.wgsl (FORMAT.md "Pair
// streams", codecs 4 and 5), prepended after table_build.wgsl to the kernels that call
// `next_pair`. Table entry = x | code length << PAIR_LEN_SHIFT, x = a << K | b_hi >> (8 - K).

// Decodes one element of a K = `k` pair stream: returns a | b << 8 | code length << 16, and
// advances. A length-0 entry (an incomplete table, which build_table rejects) takes only the raw
// bits; the caller checks once per batch.
fn next_pair(st: ptr<function, Bits>, first: u32, k: u32) -> u32 {
    let raw = 8u - k;
    let bits = peek(st);
    let e = table_entry(bits >> (32u - PAIR_TABLE_LOG));
    let len = e >> PAIR_LEN_SHIFT;
    let x = e & ((1u << PAIR_LEN_SHIFT) - 1u);
    // 4 <= raw <= take <= 12 + 7 = 19 < 32: the raw bits are inside `bits`, and the window
    // advances by at most one word per element.
    let take = len + raw;
    let r = (bits >> (32u - take)) & ((1u << raw) - 1u);
    let av = x >> k;
    let bv = ((x & ((1u << k) - 1u)) << raw) | r;
    advance(st, first, take);
    return av | (bv << 8u) | (len << 16u);
}
