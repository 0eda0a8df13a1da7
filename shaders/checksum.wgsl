// Chunk checksums on the device: xxh3-64 with seed 0 (FORMAT.md, "chunk_record": the checksum is
// xxh3-64 of the chunk's original bytes), computed from the decoded bytes in `out` and compared
// with the expected value, so that nothing but the verdict goes back to the host.
//
// WGSL has no 64-bit integers without an optional feature, so a u64 is a vec2<u32> (x = low word,
// y = high word) and every 64-bit operation is built from u32 pairs below.
//
// One workgroup per chunk. Inputs up to 240 bytes are hashed by invocation 0. Longer inputs take
// xxh3's long path: 8 accumulator lanes, 16 stripes of 64 bytes per 1 KiB block, a scramble after
// each full block. A block's stripe sums do not depend on the accumulators, so CSUM_WG invocations
// compute CSUM_SLOTS blocks x 8 lanes of sums at once (workgroup memory), then invocations 0..8
// (one per lane; lanes never mix until the final merge) add them and scramble in block order. The
// serial part is one add and one scramble per block and lane, which keeps every invocation's loop
// count (lavapipe caps it at 65,535) near 25 k even for a 16 MiB chunk.

const P32_1: u32 = 0x9E3779B1u;
const P32_2: u32 = 0x85EBCA77u;
const P32_3: u32 = 0xC2B2AE3Du;
const P64_1: vec2<u32> = vec2<u32>(0x85EBCA87u, 0x9E3779B1u);
const P64_2: vec2<u32> = vec2<u32>(0x27D4EB4Fu, 0xC2B2AE3Du);
const P64_3: vec2<u32> = vec2<u32>(0x9E3779F9u, 0x165667B1u);
const P64_4: vec2<u32> = vec2<u32>(0xC2B2AE63u, 0x85EBCA77u);
const P64_5: vec2<u32> = vec2<u32>(0x165667C5u, 0x27D4EB2Fu);
const CSUM_SLOTS: u32 = CSUM_WG / 8u;

// ---- 64-bit arithmetic from u32 pairs ----

fn add64(a: vec2<u32>, b: vec2<u32>) -> vec2<u32> {
    let lo = a.x + b.x;
    return vec2<u32>(lo, a.y + b.y + select(0u, 1u, lo < a.x));
}

// Shifts by a constant in 1..63 (a WGSL shift by 32 or more wraps, so both halves are explicit).
fn shr64(a: vec2<u32>, s: u32) -> vec2<u32> {
    if (s >= 32u) {
        return vec2<u32>(a.y >> (s - 32u), 0u);
    }
    return vec2<u32>((a.x >> s) | (a.y << (32u - s)), a.y >> s);
}

fn shl64(a: vec2<u32>, s: u32) -> vec2<u32> {
    if (s >= 32u) {
        return vec2<u32>(0u, a.x << (s - 32u));
    }
    return vec2<u32>(a.x << s, (a.y << s) | (a.x >> (32u - s)));
}

fn rotl64(a: vec2<u32>, s: u32) -> vec2<u32> {
    return shl64(a, s) | shr64(a, 64u - s);
}

// The full 64-bit product of two u32, from 16-bit halves (no partial sum overflows).
fn mul32(a: u32, b: u32) -> vec2<u32> {
    let a0 = a & 0xFFFFu;
    let a1 = a >> 16u;
    let b0 = b & 0xFFFFu;
    let b1 = b >> 16u;
    let p00 = a0 * b0;
    let t = a1 * b0 + (p00 >> 16u);
    let w1 = (t & 0xFFFFu) + a0 * b1;
    return vec2<u32>((w1 << 16u) | (p00 & 0xFFFFu), a1 * b1 + (t >> 16u) + (w1 >> 16u));
}

// The low 64 bits of a 64 x 64 product.
fn mul64(a: vec2<u32>, b: vec2<u32>) -> vec2<u32> {
    let p = mul32(a.x, b.x);
    return vec2<u32>(p.x, p.y + a.x * b.y + a.y * b.x);
}

// Low and high halves of the 128-bit product, XORed (xxh3's mul128_fold64).
fn mul128_fold(a: vec2<u32>, b: vec2<u32>) -> vec2<u32> {
    let ll = mul32(a.x, b.x);
    let lh = mul32(a.x, b.y);
    let hl = mul32(a.y, b.x);
    let hh = mul32(a.y, b.y);
    // Word 1 = ll.y + lh.x + hl.x, carrying into word 2; word 2 = lh.y + hl.y + hh.x + carries.
    let s1 = ll.y + lh.x;
    var c = select(0u, 1u, s1 < ll.y);
    let w1 = s1 + hl.x;
    c += select(0u, 1u, w1 < s1);
    let s2 = lh.y + hl.y;
    var c2 = select(0u, 1u, s2 < lh.y);
    let s3 = s2 + hh.x;
    c2 += select(0u, 1u, s3 < s2);
    let w2 = s3 + c;
    c2 += select(0u, 1u, w2 < s3);
    let w3 = hh.y + c2;
    return vec2<u32>(ll.x ^ w2, w1 ^ w3);
}

fn bswap32(v: u32) -> u32 {
    return (v << 24u) | ((v << 8u) & 0x00FF0000u) | ((v >> 8u) & 0x0000FF00u) | (v >> 24u);
}

fn avalanche3(h0: vec2<u32>) -> vec2<u32> {
    var h = h0 ^ shr64(h0, 37u);
    h = mul64(h, vec2<u32>(0x9E3779F9u, 0x16566791u));
    return h ^ shr64(h, 32u);
}

fn avalanche64(h0: vec2<u32>) -> vec2<u32> {
    var h = h0 ^ shr64(h0, 33u);
    h = mul64(h, P64_2);
    h ^= shr64(h, 29u);
    h = mul64(h, P64_3);
    return h ^ shr64(h, 32u);
}

fn strong_avalanche(h0: vec2<u32>, len: u32) -> vec2<u32> {
    let m = vec2<u32>(0x1E98DF25u, 0x9FB21C65u);
    var h = h0 ^ rotl64(h0, 49u) ^ rotl64(h0, 24u);
    h = mul64(h, m);
    h ^= add64(shr64(h, 35u), vec2<u32>(len, 0u));
    h = mul64(h, m);
    return h ^ shr64(h, 28u);
}

// ---- reads ----

// Little-endian u32 at byte `p` of `out` (any alignment).
fn rd32(p: u32) -> u32 {
    let n = arrayLength(&out);
    let w = p >> 2u;
    let sh = (p & 3u) * 8u;
    let lo = out[min(w, n - 1u)];
    if (sh == 0u) {
        return lo;
    }
    return (lo >> sh) | (out[min(w + 1u, n - 1u)] << (32u - sh));
}

fn rd64(p: u32) -> vec2<u32> {
    return vec2<u32>(rd32(p), rd32(p + 4u));
}

fn rd8(p: u32) -> u32 {
    return (out[min(p >> 2u, arrayLength(&out) - 1u)] >> ((p & 3u) * 8u)) & 0xFFu;
}

fn sec32(q: u32) -> u32 {
    let w = q >> 2u;
    let sh = (q & 3u) * 8u;
    if (sh == 0u) {
        return XXH3_SECRET[w];
    }
    return (XXH3_SECRET[w] >> sh) | (XXH3_SECRET[w + 1u] << (32u - sh));
}

fn sec64(q: u32) -> vec2<u32> {
    return vec2<u32>(sec32(q), sec32(q + 4u));
}

fn mix16(p: u32, q: u32) -> vec2<u32> {
    return mul128_fold(rd64(p) ^ sec64(q), rd64(p + 8u) ^ sec64(q + 8u));
}

// ---- xxh3-64, inputs of at most 240 bytes at byte p ----

fn hash_short(p: u32, len: u32) -> vec2<u32> {
    if (len == 0u) {
        return avalanche64(sec64(56u) ^ sec64(64u));
    }
    if (len <= 3u) {
        let combo = (rd8(p) << 16u) | (rd8(p + (len >> 1u)) << 24u) | rd8(p + len - 1u) | (len << 8u);
        return avalanche64(vec2<u32>(combo ^ sec32(0u) ^ sec32(4u), 0u));
    }
    if (len <= 8u) {
        let keyed = vec2<u32>(rd32(p + len - 4u), rd32(p)) ^ sec64(8u) ^ sec64(16u);
        return strong_avalanche(keyed, len);
    }
    if (len <= 16u) {
        let lo = rd64(p) ^ sec64(24u) ^ sec64(32u);
        let hi = rd64(p + len - 8u) ^ sec64(40u) ^ sec64(48u);
        var acc = add64(vec2<u32>(len, 0u), vec2<u32>(bswap32(lo.y), bswap32(lo.x)));
        acc = add64(add64(acc, hi), mul128_fold(lo, hi));
        return avalanche3(acc);
    }
    var acc = mul64(vec2<u32>(len, 0u), P64_1);
    if (len <= 128u) {
        if (len > 32u) {
            if (len > 64u) {
                if (len > 96u) {
                    acc = add64(acc, mix16(p + 48u, 96u));
                    acc = add64(acc, mix16(p + len - 64u, 112u));
                }
                acc = add64(acc, mix16(p + 32u, 64u));
                acc = add64(acc, mix16(p + len - 48u, 80u));
            }
            acc = add64(acc, mix16(p + 16u, 32u));
            acc = add64(acc, mix16(p + len - 32u, 48u));
        }
        acc = add64(acc, mix16(p, 0u));
        acc = add64(acc, mix16(p + len - 16u, 16u));
        return avalanche3(acc);
    }
    for (var i = 0u; i < 8u; i++) {
        acc = add64(acc, mix16(p + 16u * i, 16u * i));
    }
    acc = avalanche3(acc);
    let rounds = len / 16u;
    for (var i = 8u; i < rounds; i++) {
        acc = add64(acc, mix16(p + 16u * i, 16u * (i - 8u) + 3u));
    }
    acc = add64(acc, mix16(p + len - 16u, 119u));
    return avalanche3(acc);
}

// ---- the long path ----

// What stripe q (secret offset s) adds to accumulator lane i.
fn stripe_lane(q: u32, s: u32, i: u32) -> vec2<u32> {
    let dk = rd64(q + 8u * i) ^ sec64(s + 8u * i);
    return add64(rd64(q + 8u * (i ^ 1u)), mul32(dk.x, dk.y));
}

fn scramble_lane(acc: vec2<u32>, i: u32) -> vec2<u32> {
    let a = acc ^ shr64(acc, 47u) ^ sec64(128u + 8u * i);
    return mul64(a, vec2<u32>(P32_1, 0u));
}

fn initial_acc(i: u32) -> vec2<u32> {
    switch i {
        case 0u: { return vec2<u32>(P32_3, 0u); }
        case 1u: { return P64_1; }
        case 2u: { return P64_2; }
        case 3u: { return P64_3; }
        case 4u: { return P64_4; }
        case 5u: { return vec2<u32>(P32_2, 0u); }
        case 6u: { return P64_5; }
        default: { return vec2<u32>(P32_1, 0u); }
    }
}

var<workgroup> sums: array<vec2<u32>, CSUM_WG>;
var<workgroup> blocks_shared: u32;

@compute @workgroup_size(CSUM_WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let c = wid.y * params.sum_x + wid.x;
    let n = params.chunk_count;
    let live = c < n && params.sum_base + 2u * n <= arrayLength(&chunks)
        && c * CHUNK_WORDS + 2u <= arrayLength(&chunks);
    var p = 0u;
    var len = 0u;
    if (live) {
        p = chunks[c * CHUNK_WORDS];
        len = chunks[c * CHUNK_WORDS + 1u];
    }
    let in_bounds = live && p <= arrayLength(&out) * 4u && len <= arrayLength(&out) * 4u - p;
    if (lid == 0u) {
        blocks_shared = select(0u, (len - 1u) / 1024u, in_bounds && len > 240u);
    }
    // The block count, uniform for the barriers below.
    let nb = workgroupUniformLoad(&blocks_shared);
    let lane = lid & 7u;
    let slot = lid >> 3u;
    var acc = initial_acc(lane);
    let rounds = (nb + CSUM_SLOTS - 1u) / CSUM_SLOTS;
    for (var r = 0u; r < rounds; r++) {
        let b = r * CSUM_SLOTS + slot;
        var s = vec2<u32>(0u, 0u);
        if (b < nb) {
            let q = p + b * 1024u;
            for (var k = 0u; k < 16u; k++) {
                s = add64(s, stripe_lane(q + 64u * k, 8u * k, lane));
            }
        }
        sums[lid] = s;
        workgroupBarrier();
        if (lid < 8u) {
            let last = min(CSUM_SLOTS, nb - r * CSUM_SLOTS);
            for (var k = 0u; k < last; k++) {
                acc = scramble_lane(add64(acc, sums[k * 8u + lane]), lane);
            }
        }
        workgroupBarrier();
    }
    var h = vec2<u32>(0u, 0u);
    if (nb > 0u || (in_bounds && len > 240u)) {
        if (lid < 8u) {
            // The last partial block, then the last stripe; no scramble after them.
            let q = p + nb * 1024u;
            let stripes = ((len - 1u) - nb * 1024u) / 64u;
            for (var k = 0u; k < stripes; k++) {
                acc = add64(acc, stripe_lane(q + 64u * k, 8u * k, lane));
            }
            acc = add64(acc, stripe_lane(p + len - 64u, 121u, lane));
            sums[lid] = acc;
        }
    }
    workgroupBarrier();
    if (lid != 0u || !live) {
        return;
    }
    if (!in_bounds) {
        flag(ERR_MERGE, 0xFFFFFFFFu);
        return;
    }
    if (len > 240u) {
        h = mul64(vec2<u32>(len, 0u), P64_1);
        for (var k = 0u; k < 4u; k++) {
            let m = mul128_fold(sums[2u * k] ^ sec64(11u + 16u * k), sums[2u * k + 1u] ^ sec64(19u + 16u * k));
            h = add64(h, m);
        }
        h = avalanche3(h);
    } else {
        h = hash_short(p, len);
    }
    let want = vec2<u32>(chunks[params.sum_base + 2u * c], chunks[params.sum_base + 2u * c + 1u]);
    if (any(h != want)) {
        atomicOr(&errors[0], ERR_CHECKSUM);
        atomicMin(&errors[2], c);
    }
}
