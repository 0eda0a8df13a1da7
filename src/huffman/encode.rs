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

/// MSB-first bit writer. Four codes (≤ 44 bits; two codes ≤ 22 bits fit a u32) are added to `acc`,
/// which then holds ≤ 51 valid bits in its low end; one unconditional 8-byte store writes them
/// top-aligned and the whole bytes among them are kept (after that ≤ 7 bits stay pending), so there
/// is no branch per symbol.
fn encode_sub(src: &[u8], enc: &[u32; 256], out: &mut Vec<u8>) {
    let start = out.len();
    // Worst case: every symbol 11 bits, plus one spare 8-byte store.
    out.resize(start + (src.len() * 11).div_ceil(8) + 8, 0);
    let buf = &mut out[start..];
    let (mut acc, mut nbits, mut pos) = (0u64, 0u32, 0usize);
    let mut quads = src.chunks_exact(4);
    for q in &mut quads {
        // Pairs are joined first, so the chain through `acc` is one shift and one or per four
        // symbols instead of per symbol.
        let (a, b, c, d) = (
            enc[q[0] as usize],
            enc[q[1] as usize],
            enc[q[2] as usize],
            enc[q[3] as usize],
        );
        let (la, lb, lc, ld) = (a >> 16, b >> 16, c >> 16, d >> 16);
        let ab = ((a & 0xFFFF) << lb | (b & 0xFFFF)) as u64;
        let cd = ((c & 0xFFFF) << ld | (d & 0xFFFF)) as u64;
        let abcd = ab << (lc + ld) | cd;
        let n = la + lb + lc + ld;
        acc = (acc << n) | abcd;
        nbits += n;
        // nbits >= 4 here (every code has at least one bit), so the shift is < 64.
        buf[pos..pos + 8].copy_from_slice(&(acc << (64 - nbits)).to_be_bytes());
        pos += (nbits / 8) as usize;
        nbits %= 8;
    }
    for &s in quads.remainder() {
        let e = enc[s as usize];
        acc = (acc << (e >> 16)) | (e & 0xFFFF) as u64;
        nbits += e >> 16;
    }
    // The rest (< 40 bits), then the last partial byte padded with zero bits.
    if nbits > 0 {
        buf[pos..pos + 8].copy_from_slice(&(acc << (64 - nbits)).to_be_bytes());
        pos += nbits.div_ceil(8) as usize;
    }
    out.truncate(start + pos);
}
