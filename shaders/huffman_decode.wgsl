// Table-driven Huffman decode (FORMAT.md, "Huffman streams").
//
// One workgroup per job: a job is up to HUFF_WG sub-streams of one stream. The workgroup copies the
// stream's 2^TABLE_LOG-entry table (built on the host by `huffman::build::single_table`, packed two
// entries per u32: 4 KiB) into workgroup memory, then each invocation decodes one sub-stream.
// Bits are read MSB first from a 64-bit window held in two byte-swapped u32 words (`a`, `b`);
// every loop is bounded by the descriptor's symbol count and byte length, every index is checked.

var<workgroup> table: array<u32, TABLE_WORDS>;

// Word `w` of comp with its bytes reversed, so that stream bit 0 is the word's bit 31; zero past
// the end of the buffer (never decoded: a code that needs those bits runs past its sub-stream).
fn load_be(w: u32) -> u32 {
    if (w >= arrayLength(&comp)) {
        return 0u;
    }
    let v = comp[w];
    return (v << 24u) | ((v << 8u) & 0x00FF0000u) | ((v >> 8u) & 0x0000FF00u) | (v >> 24u);
}

fn entry(i: u32) -> u32 {
    let t = table[i >> 1u];
    return select(t & 0xFFFFu, t >> 16u, (i & 1u) == 1u);
}

fn decode_sub(si: u32) {
    let s = subs[si];
    let comp_bytes = arrayLength(&comp) * 4u;
    // start + len <= comp bytes <= BINDING_CAP (2^28), so bit positions fit in u32 with room to
    // spare.
    if (s.x > comp_bytes || s.y > comp_bytes - s.x || comp_bytes > BINDING_CAP) {
        flag(ERR_DESCRIPTOR, si);
        return;
    }
    let n = s.w;
    let huff_words = arrayLength(&huff);
    if (s.z > huff_words || (n + 3u) / 4u > huff_words - s.z) {
        flag(ERR_DESCRIPTOR, si);
        return;
    }
    let start_bit = s.x * 8u;
    let end_bit = start_bit + s.y * 8u;
    var pos = start_bit;
    var w = pos >> 5u;
    var a = load_be(w);
    var b = load_be(w + 1u);
    var acc = 0u;
    var ow = s.z;
    for (var k = 0u; k < n; k++) {
        let o = pos & 31u;
        // (b >> 1) >> (31 - o): a shift by 32 would wrap in WGSL, so split it.
        let bits = (a << o) | ((b >> 1u) >> (31u - o));
        let e = entry(bits >> (32u - TABLE_LOG));
        let len = e >> 8u;
        acc |= (e & 0xFFu) << ((k & 3u) * 8u);
        if ((k & 3u) == 3u) {
            huff[ow] = acc;
            ow++;
            acc = 0u;
        }
        pos += len;
        if (len == 0u) {
            flag(ERR_BAD_CODE, si);
            return;
        }
        if (pos > end_bit) {
            flag(ERR_PAST_END, si);
            return;
        }
        // len <= TABLE_LOG < 32: the window advances by at most one word per symbol.
        if ((pos >> 5u) != w) {
            w++;
            a = b;
            b = load_be(w + 1u);
        }
    }
    if ((n & 3u) != 0u) {
        huff[ow] = acc;
    }
    // Exactly `len` bytes: the last code ends in the last byte.
    if ((pos - start_bit + 7u) / 8u != s.y) {
        flag(ERR_LENGTH, si);
    }
}

@compute @workgroup_size(HUFF_WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let ji = wid.y * params.job_x + wid.x;
    let live = ji < params.job_count && ji < arrayLength(&jobs);
    var job = vec4<u32>(0u, 0u, 0u, 0u);
    if (live) {
        job = jobs[ji];
    }
    let tlen = arrayLength(&tables);
    let tbase = job.x * TABLE_WORDS;
    let tvalid = live && job.x < tlen / TABLE_WORDS;
    for (var i = lid; i < TABLE_WORDS; i += HUFF_WG) {
        table[i] = select(0u, tables[min(tbase + i, tlen - 1u)], tvalid);
    }
    // Every invocation reaches this barrier: nothing above returns.
    workgroupBarrier();
    if (!live || lid >= min(job.z, HUFF_WG)) {
        return;
    }
    let si = job.y + lid;
    if (!tvalid || si >= arrayLength(&subs)) {
        flag(ERR_DESCRIPTOR, si);
        return;
    }
    decode_sub(si);
}
