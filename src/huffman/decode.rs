//! CPU Huffman decoder.
//!
//! Design (after zstd's HUF X2 loop and pcodec's decode loops): a multi-symbol table gives, for each
//! 11-bit window, up to 4 whole symbols that fit in it; exponent codes average ~2.6 bits, so one
//! lookup yields ~3 symbols. Four sub-streams are decoded interleaved so that their dependent table
//! loads overlap. One unaligned big-endian u64 load per stream per batch of 5 lookups (5 × 11 = 55
//! ≤ 57 bits usable after a shift of up to 7). The fast loop runs while every stream has ≥ 20 symbols
//! left to write (5 lookups × 4 symbols) and 8 readable bytes; an exact single-symbol tail finishes
//! each sub-stream, and every sub-stream must end exactly at its declared byte length.

use super::build::single_table;
use crate::constants::{TABLE_LOG, TABLE_SIZE};
use crate::error::{Error, Result};

/// Symbols one batch of the fast loop can write: 5 lookups of up to 4 symbols.
const BATCH_SYMBOLS: usize = 20;
/// Output bytes a batch borrows: each store lands at an offset masked to 0..=31 (the real offset is
/// at most 16) and is 4 bytes long, so a fixed 36-byte window needs no per-store bounds check.
const BATCH_WINDOW: usize = 36;
/// Shift that leaves the top `TABLE_LOG` bits of a u64.
const PEEK_SHIFT: u32 = 64 - TABLE_LOG;

/// Lookup tables for one code, rebuilt per stream and reused (no allocation per chunk).
pub struct DecodeTables {
    single: Box<[u16; TABLE_SIZE]>,
    /// `bits | count << 8 | first_len << 16 | syms << 32`: the bit count in the low byte feeds the
    /// shift directly.
    multi: Box<[u64; TABLE_SIZE]>,
    /// The lengths the tables were last built for: consecutive chunks of one tensor often share
    /// their code, and a rebuild costs as much as decoding ~20 k symbols.
    built_for: Option<Box<[u8; 256]>>,
    /// Whether `multi` holds the table for `built_for`.
    has_multi: bool,
}

impl Default for DecodeTables {
    fn default() -> Self {
        DecodeTables {
            single: Box::new([0; TABLE_SIZE]),
            multi: Box::new([0; TABLE_SIZE]),
            built_for: None,
            has_multi: false,
        }
    }
}

impl DecodeTables {
    /// Builds the tables for a complete code with lengths `lens`: the single-symbol table, and the
    /// multi-symbol one too when `multi` (worth it for long streams only).
    pub fn build(&mut self, lens: &[u8; 256], multi: bool) {
        if self.built_for.as_deref() == Some(lens) && (self.has_multi || !multi) {
            return;
        }
        self.built_for = Some(Box::new(*lens));
        self.has_multi = multi;
        single_table(lens, &mut self.single);
        if !multi {
            return;
        }
        let single = &*self.single;
        for (idx, m) in self.multi.iter_mut().enumerate() {
            let e0 = single[idx];
            let first_len = (e0 >> 8) as u32;
            let (mut syms, mut used, mut n) = ((e0 & 0xFF) as u64, first_len, 1u64);
            while n < 4 {
                // The window after `used` bits; its low `used` bits are unknown (zero here), so the
                // next code counts only if it ends within the known bits.
                let e = single[(idx << used) & (TABLE_SIZE - 1)];
                let l = (e >> 8) as u32;
                if used + l > TABLE_LOG {
                    break;
                }
                syms |= ((e & 0xFF) as u64) << (8 * n);
                used += l;
                n += 1;
            }
            *m = used as u64 | n << 8 | (first_len as u64) << 16 | syms << 32;
        }
    }
}

/// State of one sub-stream: bit position in `buf`, next output index, output end, sub-stream
/// start and end in bytes.
#[derive(Clone, Copy)]
struct Sub {
    pos: usize,
    out: usize,
    end: usize,
    start: usize,
    stop: usize,
}

#[inline(always)]
fn load_be(buf: &[u8], byte: usize) -> u64 {
    u64::from_be_bytes(buf[byte..byte + 8].try_into().unwrap())
}

/// True when `s` can run a whole fast batch: symbols left, a whole output window inside `out_len`,
/// and 8 readable bytes.
#[inline(always)]
fn can_batch(s: &Sub, buf_len: usize, out_len: usize) -> bool {
    s.end - s.out >= BATCH_SYMBOLS && s.out + BATCH_WINDOW <= out_len && (s.pos >> 3) + 8 <= buf_len
}

/// Five multi-symbol lookups from one refill.
#[inline(always)]
fn batch(buf: &[u8], multi: &[u64; TABLE_SIZE], s: &mut Sub, out: &mut [u8]) {
    // Sentinel: the loaded word's lowest bit (never decoded: at most 55 bits are consumed) is
    // forced to 1, so after the shifts its trailing zeros count = skip + bits consumed.
    let skip = (s.pos & 7) as u32;
    let mut bits = (load_be(buf, s.pos >> 3) | 1) << skip;
    let dst: &mut [u8; BATCH_WINDOW] = (&mut out[s.out..s.out + BATCH_WINDOW]).try_into().unwrap();
    let mut o = 0usize;
    for _ in 0..5 {
        let e = multi[(bits >> PEEK_SHIFT) as usize];
        let at = o & 31;
        dst[at..at + 4].copy_from_slice(&((e >> 32) as u32).to_le_bytes());
        bits <<= e as u8 as u32;
        o += (e >> 8) as u8 as usize;
    }
    s.pos += (bits.trailing_zeros() - skip) as usize;
    s.out += o;
}

/// Exact single-symbol decode of the rest of `s`, reading zero bits past its last byte.
fn tail(buf: &[u8], single: &[u16; TABLE_SIZE], s: &mut Sub, out: &mut [u8]) -> Result<()> {
    let sub = &buf[s.start..s.stop];
    let mut pos = s.pos - s.start * 8;
    for o in &mut out[s.out..s.end] {
        let byte = pos >> 3;
        let b = |i: usize| sub.get(byte + i).copied().unwrap_or(0) as u32;
        let window = ((b(0) << 16 | b(1) << 8 | b(2)) << (pos & 7)) >> (24 - TABLE_LOG);
        let e = single[(window as usize) & (TABLE_SIZE - 1)];
        *o = e as u8;
        pos += (e >> 8) as usize;
        if pos > sub.len() * 8 {
            return Err(Error::corrupt("huffman sub-stream runs past its end"));
        }
    }
    s.out = s.end;
    s.pos = s.start * 8 + pos;
    Ok(())
}

fn finish(buf: &[u8], t: &DecodeTables, s: &mut Sub, out: &mut [u8]) -> Result<()> {
    while t.has_multi && can_batch(s, buf.len(), out.len()) && s.pos <= s.stop * 8 {
        batch(buf, &t.multi, s, out);
    }
    if s.pos > s.stop * 8 {
        return Err(Error::corrupt("huffman sub-stream runs past its end"));
    }
    tail(buf, &t.single, s, out)?;
    // Exactly `sub_len` bytes: the last code ends in the last byte.
    let used = s.pos - s.start * 8;
    if used.div_ceil(8) != s.stop - s.start {
        return Err(Error::corrupt(
            "huffman sub-stream length does not match its codes",
        ));
    }
    Ok(())
}

/// Decodes `out.len()` symbols from sub-streams laid out back to back in `buf` from byte `start`
/// (after the table), with byte lengths `sub_lens`, `sub_symbols` symbols each (the last the rest).
/// Bytes of `buf` after the sub-streams are read but never decoded. The caller has checked that
/// `sub_lens` has the right count and that the sub-streams lie inside `buf`.
pub fn decode_substreams(
    buf: &[u8],
    start: usize,
    sub_lens: &[u32],
    sub_symbols: usize,
    t: &DecodeTables,
    out: &mut [u8],
) -> Result<()> {
    let n = out.len();
    // An unbuilt table has zero-length entries, on which the fast loop would not advance.
    assert!(t.built_for.is_some(), "decode tables used before build");
    let mut byte = start;
    let mut group = [Sub {
        pos: 0,
        out: 0,
        end: 0,
        start: 0,
        stop: 0,
    }; 4];
    let mut k = 0;
    while k < sub_lens.len() {
        let g = (sub_lens.len() - k).min(4);
        for (j, s) in group.iter_mut().enumerate().take(g) {
            let len = sub_lens[k + j] as usize;
            let o = (k + j) * sub_symbols;
            *s = Sub {
                pos: byte * 8,
                out: o,
                end: (o + sub_symbols).min(n),
                start: byte,
                stop: byte + len,
            };
            byte += len;
        }
        if g == 4 && t.has_multi {
            // The four sub-streams advance together while all can run a batch. Each stays within
            // its own output range because a batch needs ≥ 20 symbols of room.
            let (bl, ol) = (buf.len(), out.len());
            let [a, b, c, d] = &mut group;
            while can_batch(a, bl, ol)
                && can_batch(b, bl, ol)
                && can_batch(c, bl, ol)
                && can_batch(d, bl, ol)
                && a.pos <= a.stop * 8
                && b.pos <= b.stop * 8
                && c.pos <= c.stop * 8
                && d.pos <= d.stop * 8
            {
                batch(buf, &t.multi, a, out);
                batch(buf, &t.multi, b, out);
                batch(buf, &t.multi, c, out);
                batch(buf, &t.multi, d, out);
            }
        }
        for s in group.iter_mut().take(g) {
            finish(buf, t, s, out)?;
        }
        k += g;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::huffman::{build::code_lengths, encode::encode, CodeTable};

    fn roundtrip(src: &[u8], sub: usize) {
        let mut h = [0u64; 256];
        for &b in src {
            h[b as usize] += 1;
        }
        let lens = code_lengths(&h);
        let (mut buf, mut subs) = (Vec::new(), Vec::new());
        encode(src, &lens, sub, &mut buf, &mut subs);
        let (table, tsize) = CodeTable::parse(&buf).unwrap();
        buf.extend_from_slice(&[0; 8]);
        // Both decode paths: multi-symbol fast loops, and single-symbol only.
        for multi in [true, false] {
            let mut t = DecodeTables::default();
            t.build(&table.lens, multi);
            let mut out = vec![0u8; src.len()];
            decode_substreams(&buf, tsize, &subs, sub, &t, &mut out).unwrap();
            assert_eq!(out, src, "multi = {multi}");
        }
    }

    #[test]
    fn roundtrips() {
        let mut x = 12345u64;
        let skewed: Vec<u8> = (0..100_003)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (x.trailing_zeros() as u8).wrapping_add(120)
            })
            .collect();
        for sub in [256, 4096, 100_003] {
            roundtrip(&skewed, sub);
        }
        roundtrip(&[1, 2], 256);
        let uniform: Vec<u8> = (0..70_000u32).map(|i| (i * 7919 % 256) as u8).collect();
        roundtrip(&uniform, 4096);
    }
}
