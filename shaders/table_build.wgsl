// Decode tables built in workgroup memory from the code lengths in the payload (FORMAT.md
// "Huffman streams": `first:u8 last:u8 nibbles`, K = 0; "Pair streams": `first:u16 last:u16
// nibbles`, K = 1..4). Prepended to the kernels that decode with a table; the host defines
// BUILD_WORDS (the words of `table`: PAIR_TABLE_WORDS, or FUSED_TABLE_WORDS for the fused kernel,
// which may hold two tables). A table is built at word `tw` of `table`.
//
// The result is exactly the host's former expansion (`huffman::build::single_table`;
// `codec::pair::fill_table` with src/gpu/pair.rs's entry): 2^log u16 entries, two per u32 (entry
// 2i in the low half of word i), entry = symbol | length << shift (shift 8 for Huffman,
// PAIR_LEN_SHIFT for pair: the pair entry's x = a << K | b_hi >> (8 - K) is the symbol itself).
//
// Canonical codes (by length, then symbol) tile the table in order of length for a complete code:
// each symbol's entries are one run starting at its code << (log - length). So the build marks the
// first word of every run with its entry and fills the words between marks forward:
//   1. each invocation counts the lengths of its block of symbols (blocks are contiguous, in
//      symbol order) and zeroes its share of the table;
//   2. one invocation per length turns the block counts into exclusive prefixes;
//   3. invocation 0 derives the first code per length (huffman::build::first_codes) and checks
//      that the code is complete (Kraft sum exactly 2^log, no length above log);
//   4. each invocation walks its block again, numbering its symbols of each length from the
//      prefix, and writes the first word of each run (a length-`log` code owns half a word: the
//      even one is written here, the odd one ORed in after a barrier, so no word has two writers
//      at once);
//   5. each invocation owns `words / HUFF_WG` consecutive words: it finds its last mark, then fills
//      its zero words from the mark before them (the previous invocations' last mark for its
//      first words). Entries are never 0 (length >= 1), so 0 means "no mark".
// Every loop is bounded by constants (at most 2^12 symbols, HUFF_WG invocations, BUILD_WORDS
// words); barriers are in uniform control flow (the function is called by every invocation). A
// table that is not built (`live` false, or a bad header) costs only the barriers: no word of
// `table` is touched.

// The table being decoded with.
var<workgroup> table: array<u32, BUILD_WORDS>;
// Per invocation, per length (16 bins: nibbles), the count, then the exclusive prefix.
var<workgroup> tb_blk: array<u32, HUFF_WG * 16u>;
var<workgroup> tb_next: array<u32, 16>;
var<workgroup> tb_last: array<u32, HUFF_WG>;
var<workgroup> tb_ok: u32;

// Entry `i` of the table being decoded with (two 16-bit entries per word, entry 2i in the low
// half of word i; a table built at word `tw` starts at entry 2 tw).
fn table_entry(i: u32) -> u32 {
    let t = table[i >> 1u];
    return select(t & 0xFFFFu, t >> 16u, (i & 1u) == 1u);
}

// Byte `b` of comp; the caller has checked that it lies inside.
fn tb_byte(b: u32) -> u32 {
    return (comp[b >> 2u] >> ((b & 3u) * 8u)) & 0xFFu;
}

// Code length of symbol `first + i`: nibble i from byte `nib` on.
fn tb_len(nib: u32, i: u32) -> u32 {
    return (tb_byte(nib + (i >> 1u)) >> ((i & 1u) * 4u)) & 0xFu;
}

// Builds the table at byte `at` of comp (K = `k`, 0: Huffman) into `table` from word `tw` on;
// returns whether it is a valid complete code (the same value in every invocation). `live` false:
// no table (the invocation still takes part in the barriers).
fn build_table(live: bool, at: u32, k: u32, lid: u32, tw: u32) -> bool {
    let pair = k != 0u;
    let hdr = select(2u, 4u, pair);
    let log = select(TABLE_LOG, PAIR_TABLE_LOG, pair);
    let shift = select(8u, PAIR_LEN_SHIFT, pair);
    let full = 1u << (log - 1u);
    let comp_bytes = arrayLength(&comp) * 4u;
    var ok = live && tw <= BUILD_WORDS && full <= BUILD_WORDS - tw
        && (!pair || (k >= MIN_PAIR_BITS && k <= MAX_PAIR_BITS)) && at <= comp_bytes
        && hdr <= comp_bytes - at;
    // The table's words (none unless built from here on).
    let words = select(0u, full, ok);
    var first = 0u;
    var last = 0u;
    if (ok) {
        if (pair) {
            first = tb_byte(at) | (tb_byte(at + 1u) << 8u);
            last = tb_byte(at + 2u) | (tb_byte(at + 3u) << 8u);
        } else {
            first = tb_byte(at);
            last = tb_byte(at + 1u);
        }
        let alphabet = select(256u, 1u << (8u + k), pair);
        // The nibbles lie inside comp: ceil((last - first + 1) / 2) bytes after the header.
        ok = first < last && last < alphabet && (last - first + 2u) / 2u <= comp_bytes - at - hdr;
    }
    let nsym = select(0u, last - first + 1u, ok);
    let nib = at + hdr;
    // nsym <= 2^12: at most 2^12 / HUFF_WG symbols per block.
    let per = (nsym + HUFF_WG - 1u) / HUFF_WG;
    let lo = min(lid * per, nsym);
    let hi = min(lo + per, nsym);

    // 1. Block histograms; zeroed table.
    var cnt: array<u32, 16>;
    for (var i = lo; i < hi; i++) {
        cnt[tb_len(nib, i)] += 1u;
    }
    for (var l = 0u; l < 16u; l++) {
        tb_blk[lid * 16u + l] = cnt[l];
    }
    for (var i = lid; i < words; i += HUFF_WG) {
        table[tw + i] = 0u;
    }
    workgroupBarrier();
    // 2. Exclusive prefixes over the blocks; totals in tb_next for now.
    if (lid < 16u) {
        var sum = 0u;
        for (var j = 0u; j < HUFF_WG; j++) {
            let c = tb_blk[j * 16u + lid];
            tb_blk[j * 16u + lid] = sum;
            sum += c;
        }
        tb_next[lid] = sum;
    }
    workgroupBarrier();
    // 3. First code per length and completeness.
    if (lid == 0u) {
        var good = ok;
        var code = 0u;
        var prev = 0u;
        var kraft = 0u;
        for (var l = 1u; l < 16u; l++) {
            let c = tb_next[l];
            if (l > log) {
                good = good && c == 0u;
                tb_next[l] = 0u;
            } else {
                code = (code + prev) << 1u;
                tb_next[l] = code;
                // c <= 2^12 and log <= 12: no overflow.
                kraft += c << (log - l);
            }
            prev = c;
        }
        tb_ok = select(0u, 1u, good && kraft == (1u << log));
    }
    workgroupBarrier();
    let valid = tb_ok != 0u;
    // 4. The first word of each run; the odd halves of length-`log` codes after the barrier.
    for (var ph = 0u; ph < 2u; ph++) {
        var rank: array<u32, 16>;
        for (var l = 0u; l < 16u; l++) {
            rank[l] = tb_blk[lid * 16u + l];
        }
        for (var i = lo; i < hi && valid; i++) {
            let l = tb_len(nib, i);
            if (l == 0u || l > log) {
                continue;
            }
            let e = (tb_next[l] + rank[l]) << (log - l);
            rank[l] += 1u;
            let v = (first + i) | (l << shift);
            let w = e >> 1u;
            if (w >= words) {
                continue;
            }
            if (l < log) {
                if (ph == 0u) {
                    table[tw + w] = v | (v << 16u);
                }
            } else if ((e & 1u) == ph) {
                table[tw + w] |= v << (16u * ph);
            }
        }
        workgroupBarrier();
    }
    // 5. Fill forward.
    let wper = words / HUFF_WG;
    let w0 = tw + lid * wper;
    var mark = 0u;
    for (var i = 0u; i < wper; i++) {
        let t = table[w0 + i];
        mark = select(mark, t, t != 0u);
    }
    tb_last[lid] = mark;
    workgroupBarrier();
    var carry = 0u;
    for (var j = lid; j > 0u; j--) {
        if (tb_last[j - 1u] != 0u) {
            carry = tb_last[j - 1u];
            break;
        }
    }
    for (var i = 0u; i < wper && valid; i++) {
        let t = table[w0 + i];
        if (t == 0u) {
            table[w0 + i] = carry;
        } else {
            carry = t;
        }
    }
    workgroupBarrier();
    return valid;
}
