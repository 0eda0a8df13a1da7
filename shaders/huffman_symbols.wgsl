// Huffman symbol decoding shared by huffman_decode.wgsl and fused_decode.wgsl (FORMAT.md "Huffman
// streams"), prepended after table_build.wgsl to the kernels that call `build_second` (their
// `table` holds BUILD_WORDS >= 2 * TABLE_WORDS words: the single-symbol table, then the
// second-symbol table).
//
// Two symbols per lookup: entry i of the second-symbol table holds the code that follows the
// first one in the TABLE_LOG bits at i, and the two codes' total length, where both fit. The two
// reads share one peek and do not depend on each other, so the serial chain is one lookup per two
// symbols. A batch of 4 takes 2-4 lookups and may decode a fifth symbol, carried into the next
// batch; batches take two-symbol lookups only while they cannot decode past the sub-stream's last
// symbol (`pair_batches`), the rest one lookup per symbol, so a sub-stream's bit count is checked
// exactly as with single lookups. `fused::chain_lookups` (src/gpu/fused.rs) replays this schedule.

// Entry `i` of the single-symbol table: length << 8 | symbol (length 0 only in an incomplete
// table, which build_table rejects).
fn sym_entry(i: u32) -> u32 {
    return table_entry(i);
}

// Entry `i` of the second-symbol table: symbol | total length << 8, or 0 where the second code
// does not lie inside the TABLE_LOG bits.
fn second_entry(i: u32) -> u32 {
    return table_entry(2u * TABLE_WORDS + i);
}

// Builds the second-symbol table from the single-symbol one when `huffman` (the table is a
// Huffman table; a pair table fills the same words). Called by every invocation: the barrier is in
// uniform control flow. For index i the first code has length l1, the bits after it are i << l1
// (zero-filled), and their code, of length l2, is whole when l1 + l2 <= TABLE_LOG.
fn build_second(huffman: bool, lid: u32) {
    if (huffman) {
        for (var w = lid; w < TABLE_WORDS; w += HUFF_WG) {
            var v = 0u;
            for (var h = 0u; h < 2u; h++) {
                let i = w * 2u + h;
                let l1 = sym_entry(i) >> 8u;
                let e2 = sym_entry((i << l1) & ((1u << TABLE_LOG) - 1u));
                let lt = l1 + (e2 >> 8u);
                let ok = l1 != 0u && (e2 >> 8u) != 0u && lt <= TABLE_LOG;
                v |= select(0u, (e2 & 0xFFu) | (lt << 8u), ok) << (16u * h);
            }
            table[TABLE_WORDS + w] = v;
        }
    }
    workgroupBarrier();
}

// Decodes one symbol: its entry (length << 8 | symbol); a length-0 entry does not advance, the
// caller checks once per batch.
fn next_sym(st: ptr<function, Bits>, first: u32) -> u32 {
    return next_sym_in(st, first, 0u);
}

// next_sym with the single-symbol table whose entry 0 is entry `te` of `table` (the second table
// of a fused job that decodes two streams).
fn next_sym_in(st: ptr<function, Bits>, first: u32, te: u32) -> u32 {
    let e = table_entry(te + (peek(st) >> (32u - TABLE_LOG)));
    // length <= TABLE_LOG < 32.
    advance(st, first, e >> 8u);
    return e;
}

// Decodes one or two symbols with one peek: s1 | s2 << 8 | count << 16 (count 2 where the
// second-symbol entry has one, else 1; 0 for a length-0 first entry, which consumes nothing).
fn next_two(st: ptr<function, Bits>, first: u32) -> u32 {
    let i = peek(st) >> (32u - TABLE_LOG);
    let e1 = sym_entry(i);
    let e2 = second_entry(i);
    let two = (e2 >> 8u) != 0u;
    advance(st, first, select(e1 >> 8u, e2 >> 8u, two));
    let count = select(select(1u, 2u, two), 0u, (e1 >> 8u) == 0u);
    return (e1 & 0xFFu) | ((e2 & 0xFFu) << 8u) | (count << 16u);
}

// A decoded symbol not yet stored (`n` = 1) between batches.
struct Carry {
    n: u32,
    sym: u32,
}

// Batches of 4 that take two-symbol lookups in a sub-stream of `n` symbols: 4 emitted and at most
// one carried, so batch b decodes no symbol past the last when 4 b + 5 <= n.
fn pair_batches(n: u32) -> u32 {
    return select(0u, (n - 1u) / 4u, n >= 5u);
}

// Appends next_two's `v` to the `*na` < 4 bytes of `*lo`, the byte past the fourth going to `*hi`.
fn append_two(v: u32, lo: ptr<function, u32>, hi: ptr<function, u32>, na: ptr<function, u32>) {
    let count = v >> 16u;
    let syms = v & select(0xFFu, 0xFFFFu, count == 2u);
    *lo |= syms << (*na * 8u);
    if (*na == 3u && count == 2u) {
        *hi = syms >> 8u;
    }
    *na += count;
}

// The next 4 symbols, little-endian, by two-symbol lookups (one of the first `pair_batches`
// batches); `*bad` = 1 on a length-0 entry.
fn four_by_pairs(st: ptr<function, Bits>, first: u32, c: ptr<function, Carry>,
    bad: ptr<function, u32>) -> u32 {
    var lo = select(0u, (*c).sym, (*c).n != 0u);
    var hi = 0u;
    var na = (*c).n;
    let v0 = next_two(st, first);
    append_two(v0, &lo, &hi, &na);
    let v1 = next_two(st, first);
    append_two(v1, &lo, &hi, &na);
    var miss = (v0 >> 16u) == 0u || (v1 >> 16u) == 0u;
    // Straight-line code, no loop: lavapipe counts every loop iteration against its cap.
    if (na < 4u) {
        let v2 = next_two(st, first);
        append_two(v2, &lo, &hi, &na);
        miss = miss || (v2 >> 16u) == 0u;
    }
    if (na < 4u) {
        let v3 = next_two(st, first);
        append_two(v3, &lo, &hi, &na);
        miss = miss || (v3 >> 16u) == 0u;
    }
    // na is 4 or 5 unless a length-0 entry added nothing.
    *bad |= select(0u, 1u, miss || na < 4u);
    (*c).n = select(0u, na - 4u, na >= 4u);
    (*c).sym = hi;
    return lo;
}

// The next symbol's entry: the carried one (as an entry of length 1, which passes the length
// check), else one lookup.
fn next_or_carried(st: ptr<function, Bits>, first: u32, c: ptr<function, Carry>) -> u32 {
    if ((*c).n != 0u) {
        (*c).n = 0u;
        return (*c).sym | (1u << 8u);
    }
    return next_sym(st, first);
}
