//! Huffman encoder: one stream into `ceil(n / sub_symbols)` independent sub-streams.

use super::build::{canonical_codes, CodeTable};

/// Appends the table and the sub-streams of `src` coded with `lens` to `out`; pushes each
/// sub-stream's byte length to `sub_lens`.
pub fn encode(
    src: &[u8],
    lens: &[u8; 256],
    sub_symbols: usize,
    out: &mut Vec<u8>,
    sub_lens: &mut Vec<u32>,
) {
    CodeTable::write(lens, out);
    let codes = canonical_codes(lens);
    // code in the low 16 bits, length above: one load per symbol.
    let mut enc = [0u32; 256];
    for s in 0..256 {
        enc[s] = codes[s] as u32 | (lens[s] as u32) << 16;
    }
    for sub in src.chunks(sub_symbols) {
        let start = out.len();
        encode_sub(sub, &enc, out);
        sub_lens.push((out.len() - start) as u32);
    }
}

/// MSB-first bit writer. `acc` holds `nbits` < 32 pending bits in its low end; two codes (≤ 22 bits)
/// are added before each flush check, so `acc` never exceeds 53 bits.
fn encode_sub(src: &[u8], enc: &[u32; 256], out: &mut Vec<u8>) {
    out.reserve(src.len() * 11 / 8 + 8);
    let mut acc: u64 = 0;
    let mut nbits: u32 = 0;
    let mut pairs = src.chunks_exact(2);
    for p in &mut pairs {
        let (a, b) = (enc[p[0] as usize], enc[p[1] as usize]);
        acc = (acc << (a >> 16)) | (a & 0xFFFF) as u64;
        acc = (acc << (b >> 16)) | (b & 0xFFFF) as u64;
        nbits += (a >> 16) + (b >> 16);
        if nbits >= 32 {
            nbits -= 32;
            out.extend_from_slice(&((acc >> nbits) as u32).to_be_bytes());
        }
    }
    for &s in pairs.remainder() {
        let a = enc[s as usize];
        acc = (acc << (a >> 16)) | (a & 0xFFFF) as u64;
        nbits += a >> 16;
    }
    // Flush whole bytes, then the last partial byte padded with zero bits.
    while nbits >= 8 {
        nbits -= 8;
        out.push((acc >> nbits) as u8);
    }
    if nbits > 0 {
        out.push((acc << (8 - nbits)) as u8);
    }
}
