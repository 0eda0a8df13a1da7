// rANS decode (FORMAT.md, "rANS streams": codec 6, format v4).
//
// One workgroup per rANS job: up to HUFF_WG sub-streams of one stream (job: the table's byte
// offset in comp, the first sub-stream, their count, the table's size). The workgroup builds the
// stream's decode table in `table` (rans_symbols.wgsl: parsed with every check of the CPU
// decoder's parser, then a 4096-slot symbol table). Then each invocation decodes one sub-stream
// into `huff`, four symbols (one output word) per iteration: the loop count stays at n / 4
// (lavapipe stops an invocation after 65,535 loop iterations in all, and a sub-stream holds up to
// 65,536 symbols). Every loop is bounded by the descriptor's symbol count, every index is checked.

var<workgroup> table: array<u32, RANS_TABLE_WORDS>;
const BUILD_WORDS: u32 = RANS_TABLE_WORDS;

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
    var ok = 1u;
    var r = rans_open(s.x, s.y, 0u, &ok);
    if (ok == 0u) {
        flag(ERR_BAD_CODE, si);
        return;
    }
    var ow = s.z;
    let whole = n / 4u;
    for (var k = 0u; k < whole; k++) {
        huff[ow] = rans_four(&r);
        ow++;
        if (rans_overrun(&r)) {
            break;
        }
    }
    if (!rans_overrun(&r) && (n & 3u) != 0u) {
        var acc = 0u;
        for (var i = 0u; i < (n & 3u); i++) {
            acc |= rans_step(&r) << (i * 8u);
        }
        huff[ow] = acc;
    }
    rans_check_end(si, &r);
}

@compute @workgroup_size(HUFF_WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let rj = wid.y * params.rans_x + wid.x;
    // rANS jobs follow the Huffman, pair and fused jobs (two entries each).
    let before = params.job_count + params.pair_count + 2u * params.fused_count;
    let ji = before + rj;
    let live = rj < params.rans_count && params.fused_count < 0x40000000u && ji >= rj
        && before >= params.job_count
        && ji < arrayLength(&jobs);
    var job = vec4<u32>(0u, 0u, 0u, 0u);
    if (live) {
        job = jobs[ji];
    }
    // job.x: the table's byte offset in comp, job.w its size.
    let valid = rans_build(live, job.x, job.w, lid, 0u);
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
