//! Codec 4, pair (and its partner codec 5, paired): stream *k* and stream *k + 1* of a chunk coded
//! together (FORMAT.md, "Pair streams"). Element *i*'s symbol is `a << K | b >> (8 − K)` (the byte
//! `a` of stream *k* widened with the top `K` bits of the byte `b` of stream *k + 1*), coded with a
//! canonical Huffman code of at most [`PAIR_TABLE_LOG`] bits, followed in the bit stream by the
//! other `8 − K` bits of `b` as they are. For BF16 and FP32 that is the exponent with the sign and
//! the top mantissa bits, so the skew of the mantissa given the exponent is coded where it sits;
//! for FP16 the high byte with the top bits of the low byte.
//!
//! Sub-streams of `sub_symbols` elements are independent, as for codec 2, so that a GPU decodes
//! thousands at once. The CPU decoder keeps its state in locals and decodes four sub-streams
//! interleaved; one table lookup yields both output bytes.

#![forbid(unsafe_code)]

use super::pair_decode::{decode_words, Word, WordTable};
use super::Coding;
use crate::error::{Error, Result};
use crate::format::{put_varint, WireReader};
use crate::huffman::build::{canonical_codes_of, first_codes, limited_lengths};
use crate::layout::Layout;

/// Longest pair code, in bits; the decode table has `2^PAIR_TABLE_LOG` entries.
pub const PAIR_TABLE_LOG: u32 = 12;
const TABLE: usize = 1 << PAIR_TABLE_LOG;
/// Bits of stream *k + 1* a pair symbol may take (`K`); the alphabet is `2^(8 + K)` symbols.
pub const MIN_PAIR_BITS: u8 = 1;
pub const MAX_PAIR_BITS: u8 = 4;
/// Smallest table: `first`, `last` (u16 each) and one byte of nibbles.
const MIN_TABLE_BYTES: u64 = 5;

/// Largest table for `K` bits: `first`, `last` and a nibble per symbol of the alphabet.
fn max_table_bytes(bits: u8) -> u64 {
    4 + (1u64 << (8 + bits)) / 2
}

/// `bits:u8` then `sub_len:varint` × `ceil(n / sub_symbols)`, appended to `sub_lens`; the
/// lengths must leave room for a table in `comp_len`. Returns the Huffman-shaped coding (its
/// sub-stream lengths) and `K`.
pub fn read_fields(
    r: &mut WireReader,
    n: usize,
    sub_symbols: usize,
    comp_len: u32,
    sub_lens: &mut Vec<u32>,
) -> Result<(Coding, u8)> {
    let bits = r.u8()?;
    if !(MIN_PAIR_BITS..=MAX_PAIR_BITS).contains(&bits) {
        return Err(Error::corrupt(format!(
            "pair stream takes {bits} bits of the next stream (must be {MIN_PAIR_BITS}..={MAX_PAIR_BITS})"
        )));
    }
    let table = (MIN_TABLE_BYTES, max_table_bytes(bits));
    let sub_start =
        super::read_sub_lens("pair", r, n, sub_symbols, comp_len, table, sub_lens, |_| {
            Ok(())
        })?;
    Ok((Coding::Huffman { sub_start }, bits))
}

pub fn write_fields(bits: u8, subs: &[u32], b: &mut Vec<u8>) {
    b.push(bits);
    for &l in subs {
        put_varint(b, l);
    }
}

/// The symbol of one element.
#[inline(always)]
fn symbol(a: u8, b: u8, bits: u8) -> usize {
    ((a as usize) << bits) | (b as usize >> (8 - bits))
}

/// A validated pair code: `K` and the code length of every symbol of the `2^(8 + K)` alphabet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PairTable {
    pub bits: u8,
    pub lens: Vec<u8>,
}

impl PairTable {
    fn range(lens: &[u8]) -> (usize, usize) {
        let first = lens.iter().position(|&l| l > 0).unwrap_or(0);
        let last = lens.iter().rposition(|&l| l > 0).unwrap_or(0);
        (first, last)
    }

    pub fn serialized_len(lens: &[u8]) -> usize {
        let (first, last) = Self::range(lens);
        4 + (last - first + 1).div_ceil(2)
    }

    /// Appends `first:u16 last:u16 nibbles` to `out`.
    pub fn write(lens: &[u8], out: &mut Vec<u8>) {
        let (first, last) = Self::range(lens);
        out.extend_from_slice(&(first as u16).to_le_bytes());
        out.extend_from_slice(&(last as u16).to_le_bytes());
        for pair in lens[first..=last].chunks(2) {
            out.push(pair[0] | pair.get(1).map_or(0, |&h| h << 4));
        }
    }

    /// Parses and validates the table of a pair stream taking `bits` bits at the start of `src`;
    /// returns it and its size in bytes.
    pub fn parse(src: &[u8], bits: u8) -> Result<(PairTable, usize)> {
        if src.len() < 4 {
            return Err(Error::truncated("pair table header"));
        }
        let first = u16::from_le_bytes([src[0], src[1]]) as usize;
        let last = u16::from_le_bytes([src[2], src[3]]) as usize;
        let alphabet = 1usize << (8 + bits);
        if first >= last || last >= alphabet {
            return Err(Error::corrupt(format!(
                "pair table range {first}..={last} is empty or outside the {alphabet} symbols"
            )));
        }
        let size = 4 + (last - first + 1).div_ceil(2);
        if src.len() < size {
            return Err(Error::truncated("pair table lengths"));
        }
        let mut lens = vec![0u8; alphabet];
        for k in 0..=(last - first) {
            let b = src[4 + k / 2];
            lens[first + k] = if k % 2 == 0 { b & 0xF } else { b >> 4 };
        }
        if (last - first + 1) % 2 == 1 && src[size - 1] >> 4 != 0 {
            return Err(Error::corrupt("pair table: non-zero padding nibble"));
        }
        let mut kraft = 0u64;
        let mut present = 0;
        // Symbols outside first..=last have length 0 by construction.
        for &l in &lens[first..=last] {
            if l as u32 > PAIR_TABLE_LOG {
                return Err(Error::corrupt(format!(
                    "pair code length {l} > {PAIR_TABLE_LOG}"
                )));
            }
            if l > 0 {
                kraft += 1 << (PAIR_TABLE_LOG - l as u32);
                present += 1;
            }
        }
        if lens[first] == 0 || lens[last] == 0 {
            return Err(Error::corrupt("pair table range ends on an absent symbol"));
        }
        if present < 2 || kraft != 1 << PAIR_TABLE_LOG {
            return Err(Error::corrupt("pair table is not a complete prefix code"));
        }
        Ok((PairTable { bits, lens }, size))
    }
}

/// Symbol counts of the widest alphabet, `a << 4 | b >> 4`: narrower ones are sums of it.
pub fn histogram(a: &[u8], b: &[u8]) -> Vec<u32> {
    // Two tables, so that runs of one symbol do not serialise on one counter (two 16 KiB tables
    // stay in L1 where four would not).
    let mut h = vec![0u32; 2 << 12];
    let (t0, t1) = h.split_at_mut(1 << 12);
    let (t0, t1): (&mut [u32; 1 << 12], &mut [u32; 1 << 12]) =
        (t0.try_into().unwrap(), t1.try_into().unwrap());
    let (pa, pb) = (a.chunks_exact(2), b.chunks_exact(2));
    let (ra, rb) = (pa.remainder(), pb.remainder());
    for (x, y) in pa.zip(pb) {
        t0[symbol(x[0], y[0], 4)] += 1;
        t1[symbol(x[1], y[1], 4)] += 1;
    }
    for (&x, &y) in ra.iter().zip(rb) {
        t0[symbol(x, y, 4)] += 1;
    }
    for (c0, c1) in t0.iter_mut().zip(t1.iter()) {
        *c0 += c1;
    }
    h.truncate(1 << 12);
    h
}

/// The histogram of stream *k* alone (the byte `a`) from a [`histogram`].
pub fn first_byte_histogram(h: &[u32]) -> [u64; 256] {
    let mut out = [0u64; 256];
    for (o, c) in out.iter_mut().zip(h.chunks_exact(16)) {
        *o = c.iter().map(|&c| c as u64).sum();
    }
    out
}

/// A planned pair coding: `K`, the code lengths and the payload size it will have at most.
pub struct Plan {
    pub bits: u8,
    pub lens: Vec<u8>,
    pub size: u64,
}

/// The best pair coding of `n` elements with histogram `h` ([`histogram`]) over `K` in `bits`, by
/// payload size (table and one byte of padding per sub-stream counted); `None` when no alphabet
/// has two symbols.
pub fn plan(h: &[u32], n: usize, sub_symbols: usize, bits: &[u8]) -> Option<Plan> {
    let mut best: Option<Plan> = None;
    for &k in bits {
        let shift = 4 - k as usize;
        let mut hk = vec![0u64; 1 << (8 + k)];
        for (s, &c) in h.iter().enumerate() {
            hk[s >> shift] += c as u64;
        }
        if hk.iter().filter(|&&c| c > 0).count() < 2 {
            continue;
        }
        let lens = limited_lengths(&hk, PAIR_TABLE_LOG);
        let raw = 8 - k as u64;
        let payload_bits: u64 = hk
            .iter()
            .zip(&lens)
            .map(|(&c, &l)| c * (l as u64 + raw))
            .sum();
        let size = PairTable::serialized_len(&lens) as u64
            + payload_bits.div_ceil(8)
            + n.div_ceil(sub_symbols) as u64;
        if best.as_ref().is_none_or(|b| size < b.size) {
            best = Some(Plan {
                bits: k,
                lens,
                size,
            });
        }
    }
    best
}

/// Appends the table and the sub-streams of the pairs `(a[i], b[i])` coded with `p` to `out`;
/// returns the sub-stream byte lengths.
pub fn encode(a: &[u8], b: &[u8], p: &Plan, sub_symbols: usize, out: &mut Vec<u8>) -> Vec<u32> {
    PairTable::write(&p.lens, out);
    let codes = canonical_codes_of(&p.lens, PAIR_TABLE_LOG);
    let (k, raw) = (p.bits, 8 - p.bits as u32);
    // Indexed by the widest symbol `a << 4 | b >> 4` (so the index needs no bounds check): the
    // symbol's code shifted over its raw bits | (code length + raw bits) << 24.
    let mut enc = Box::new([0u32; 1 << 12]);
    for (w, e) in enc.iter_mut().enumerate() {
        let s = w >> (4 - k);
        if p.lens[s] > 0 {
            *e = (codes[s] as u32) << raw | (p.lens[s] as u32 + raw) << 24;
        }
    }
    let mask = (1u64 << raw) - 1;
    // An element's bits and bit count.
    let code = |x: u8, y: u8| {
        let e = enc[(x as usize) << 4 | (y >> 4) as usize];
        ((e & 0xFF_FFFF) as u64 | (y as u64 & mask), e >> 24)
    };
    let put = |acc: &mut u64, nbits: &mut u32, (v, len): (u64, u32)| {
        *acc = *acc << len | v;
        *nbits += len;
    };
    let mut subs = Vec::with_capacity(a.len().div_ceil(sub_symbols));
    for (sa, sb) in a.chunks(sub_symbols).zip(b.chunks(sub_symbols)) {
        let start = out.len();
        // Worst case: every element a 12-bit code and 7 raw bits, plus a spare 8-byte store.
        out.resize(start + (sa.len() * 19).div_ceil(8) + 8, 0);
        let buf = &mut out[start..];
        // `acc`'s low `nbits` bits are pending (fewer than 8 between flushes); a flush stores them
        // left-aligned as 8 bytes and moves on by their whole bytes, so the partial byte is
        // stored again, with more bits, by the next flush.
        let (mut acc, mut nbits, mut pos) = (0u64, 0u32, 0usize);
        // Called after at least one element (5 bits or more): `nbits` is in 5..=45.
        let mut flush = |acc: u64, nbits: &mut u32, pos: &mut usize| {
            buf[*pos..*pos + 8].copy_from_slice(&(acc << (64 - *nbits)).to_be_bytes());
            *pos += (*nbits >> 3) as usize;
            *nbits &= 7;
        };
        let (pa, pb) = (sa.chunks_exact(2), sb.chunks_exact(2));
        let (ra, rb) = (pa.remainder(), pb.remainder());
        // Two elements (at most 38 bits) on top of < 8 pending bits fit the 64-bit accumulator.
        for (x, y) in pa.zip(pb) {
            // The two elements joined first, so that the accumulator's dependency chain takes one
            // shift per two elements.
            let ((v0, l0), (v1, l1)) = (code(x[0], y[0]), code(x[1], y[1]));
            put(&mut acc, &mut nbits, (v0 << l1 | v1, l0 + l1));
            flush(acc, &mut nbits, &mut pos);
        }
        for (&x, &y) in ra.iter().zip(rb) {
            put(&mut acc, &mut nbits, code(x, y));
            flush(acc, &mut nbits, &mut pos);
        }
        // The last partial byte, padded with zero bits, was stored by the last flush.
        pos += (nbits > 0) as usize;
        out.truncate(start + pos);
        subs.push(pos as u32);
    }
    subs
}

/// Fills `table` (a 12-bit window, first code bit most significant) for the complete code `t` (as
/// [`PairTable::parse`] guarantees): every window starting with symbol `s`'s code gets
/// `entry(a, b_hi, take)`, with `a` and `b_hi` (`b` with its raw bits zero) the symbol's bytes and
/// `take` its code length + `8 − K` raw bits. The CPU ([`super::pair_decode`]) and GPU
/// (`gpu::pair`) tables differ only in `entry`.
pub fn fill_table(t: &PairTable, table: &mut [u32; TABLE], entry: impl Fn(u8, u8, u32) -> u32) {
    // Canonical codes (FORMAT.md: by length, then symbol value) assigned on the fly, over the
    // table's range only: this runs once per chunk, so no allocation and no pass over the whole
    // alphabet.
    let (first, last) = PairTable::range(&t.lens);
    let lens = &t.lens[first..=last];
    let mut next = first_codes(lens, PAIR_TABLE_LOG);
    let (k, raw) = (t.bits as u32, 8 - t.bits as u32);
    for (i, &l) in lens.iter().enumerate() {
        if l == 0 {
            continue;
        }
        let s = first + i;
        let c = next[l as usize];
        next[l as usize] += 1;
        let a = (s >> k) as u8;
        let b_hi = (((s as u32) & ((1 << k) - 1)) << raw) as u8;
        let start = (c as usize) << (PAIR_TABLE_LOG - l as u32);
        table[start..start + (1 << (PAIR_TABLE_LOG - l as u32))].fill(entry(
            a,
            b_hi,
            l as u32 + raw,
        ));
    }
}

/// Parses the table at the start of `body` (the pair stream's payload) for `bits` and checks that
/// its size plus the sub-stream lengths is the payload length. Returns the code and table size.
pub fn table(body: &[u8], bits: u8, subs: &[u32]) -> Result<(PairTable, usize)> {
    let (t, size) = PairTable::parse(body, bits)?;
    let total: u64 = subs.iter().map(|&l| l as u64).sum();
    if size as u64 + total != body.len() as u64 {
        return Err(Error::corrupt("pair table size does not match the stream"));
    }
    Ok((t, size))
}

/// Decodes a pair stream whose payload is `payload[..comp_len]` into the two streams `a` and `b`
/// (`n` elements each), for a pair at a position [`super::pair_decode`] does not write straight
/// into the output. Bytes after the stream (up to `DECODE_PADDING`) let the fast loop use
/// whole-word loads.
#[allow(clippy::too_many_arguments)]
pub fn decode(
    n: usize,
    sub_symbols: usize,
    payload: &[u8],
    comp_len: usize,
    bits: u8,
    subs: &[u32],
    tables: &mut WordTable,
    a: &mut Vec<u8>,
    b: &mut Vec<u8>,
) -> Result<()> {
    // The `a << 8 | b` words are decoded into `a` (2n bytes, little-endian: b then a) and split
    // in place: element i's bytes sit at 2i and 2i + 1, never before i, so a forward pass reads
    // each before it is overwritten.
    a.resize(2 * n, 0);
    let d = (n, sub_symbols, payload, comp_len, bits, subs);
    decode_into::<2, 0>(d.0, d.1, d.2, d.3, d.4, d.5, Word::Joined, tables, a)?;
    b.clear();
    b.extend(a.iter().step_by(2));
    for i in 0..n {
        a[i] = a[2 * i + 1];
    }
    a.truncate(n);
    Ok(())
}

/// Decodes the pair stream over the first two streams of a `layout` chunk: BF16 and FP16 straight
/// into their elements `out` (`2n` bytes), FP32 into its elements' top halves, 2-byte words back
/// to back in `out` (`2n` bytes: [`crate::layout::merge_fp32`] adds the low bytes in a streaming
/// pass, much faster than storing halves at a stride of 4 and merging in place). `false` for a
/// layout it does not apply to (nothing decoded).
#[allow(clippy::too_many_arguments)]
pub fn decode_elements(
    layout: Layout,
    n: usize,
    sub_symbols: usize,
    payload: &[u8],
    comp_len: usize,
    bits: u8,
    subs: &[u32],
    tables: &mut WordTable,
    out: &mut [u8],
) -> Result<bool> {
    let d = (n, sub_symbols, payload, comp_len, bits, subs);
    match layout {
        Layout::Fp16 => {
            decode_into::<2, 0>(d.0, d.1, d.2, d.3, d.4, d.5, Word::Joined, tables, out)?
        }
        Layout::Bf16 | Layout::Fp32 => {
            decode_into::<2, 0>(d.0, d.1, d.2, d.3, d.4, d.5, Word::Float, tables, out)?
        }
        _ => return Ok(false),
    }
    Ok(true)
}

/// Decodes a pair stream whose payload is `payload[..comp_len]` into `out` (`n` elements of `ES`
/// bytes, each element's [`Word`] at byte `OFF`; the other bytes are left as they are).
#[allow(clippy::too_many_arguments)]
pub fn decode_into<const ES: usize, const OFF: usize>(
    n: usize,
    sub_symbols: usize,
    payload: &[u8],
    comp_len: usize,
    bits: u8,
    subs: &[u32],
    word: Word,
    tables: &mut WordTable,
    out: &mut [u8],
) -> Result<()> {
    debug_assert_eq!(out.len(), n * ES);
    let (code, tsize) = table(&payload[..comp_len], bits, subs)?;
    tables.build(code, word);
    let end = (comp_len + crate::constants::DECODE_PADDING).min(payload.len());
    decode_words::<ES, OFF>(&payload[..end], tsize, subs, sub_symbols, tables, out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roundtrip(a: &[u8], b: &[u8], sub: usize, bits: u8) -> usize {
        let h = histogram(a, b);
        let p = plan(&h, a.len(), sub, &[bits]).unwrap();
        let mut payload = Vec::new();
        let subs = encode(a, b, &p, sub, &mut payload);
        assert!(payload.len() as u64 <= p.size, "estimate is an upper bound");
        let len = payload.len();
        payload.extend_from_slice(&[0xA5; 8]);
        let (mut t, mut da, mut db) = (WordTable::default(), Vec::new(), Vec::new());
        decode(
            a.len(),
            sub,
            &payload,
            len,
            bits,
            &subs,
            &mut t,
            &mut da,
            &mut db,
        )
        .unwrap();
        assert_eq!((&da[..], &db[..]), (a, b), "K = {bits}, sub = {sub}");
        // Without readable bytes after the stream the exact tail decodes it all.
        payload.truncate(len);
        decode(
            a.len(),
            sub,
            &payload,
            len,
            bits,
            &subs,
            &mut t,
            &mut da,
            &mut db,
        )
        .unwrap();
        assert_eq!((&da[..], &db[..]), (a, b));
        len
    }

    fn weights(n: usize) -> (Vec<u8>, Vec<u8>) {
        let mut x = 987654321u64;
        (0..n)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                let e = 120 - (x.trailing_zeros() as u8).min(20);
                // Mantissa skewed toward small values, as within a binade of a bell curve.
                let m = ((x >> 40) as u8 & 0x7F) >> ((x >> 60) as u8 & 1);
                (e, m | ((x >> 33) as u8 & 0x80))
            })
            .unzip()
    }

    #[test]
    fn roundtrips_every_width_and_sub_size() {
        let (a, b) = weights(50_003);
        for bits in MIN_PAIR_BITS..=MAX_PAIR_BITS {
            for sub in [256, 4096, 65536] {
                roundtrip(&a, &b, sub, bits);
            }
        }
        // One exponent; one symbol of `a` with a single `b` value but raw bits; two elements.
        roundtrip(&[7; 3000], &b[..3000], 256, 3);
        let one_b: Vec<u8> = (0..3000).map(|i| (i % 2) as u8 * 0x80).collect();
        roundtrip(&[7; 3000], &one_b, 256, 1);
        roundtrip(&[1, 2], &[0, 255], 256, 4);
    }

    #[test]
    fn joint_code_beats_separate_bytes_on_skewed_mantissas() {
        let (a, b) = weights(65536);
        let len = roundtrip(&a, &b, 4096, 3);
        let mut h = [0u64; 256];
        a.iter().for_each(|&e| h[e as usize] += 1);
        let lens = crate::huffman::code_lengths(&h);
        let separate = crate::huffman::encoded_bits(&h, &lens) / 8 + b.len() as u64;
        assert!((len as u64) < separate, "{len} vs {separate}");
    }

    #[test]
    fn elements_past_the_last_bit_are_an_error() {
        // Eight equally frequent symbols: 3-bit codes + 5 raw bits, one byte per element, so 16
        // elements end exactly on the sub-stream's last byte. Claiming a 17th, which has no bits
        // left, must be an error, not an element left unwritten.
        let a: Vec<u8> = (0..16).map(|i| i % 8).collect();
        let b = vec![0u8; 16];
        let p = plan(&histogram(&a, &b), 16, 256, &[3]).unwrap();
        assert!(p.lens.iter().all(|&l| l == 0 || l == 3));
        let mut payload = Vec::new();
        let subs = encode(&a, &b, &p, 256, &mut payload);
        assert_eq!(subs, [16]);
        let len = payload.len();
        let (mut t, mut da, mut db) = (WordTable::default(), Vec::new(), Vec::new());
        let ok = decode(16, 256, &payload, len, 3, &subs, &mut t, &mut da, &mut db);
        assert!(ok.is_ok() && da == a && db == b);
        let past = decode(17, 256, &payload, len, 3, &subs, &mut t, &mut da, &mut db);
        assert!(past.is_err());
    }

    #[test]
    fn hostile_tables_and_lengths_are_errors() {
        // Range reversed, outside the alphabet, incomplete, over-long, bad padding.
        for t in [
            &[2, 0, 1, 0, 0x11][..],
            &[0, 0, 0, 1, 0x11],
            &[0, 0, 1, 0, 0x22],
            &[0, 0, 1, 0, 0xD1],
            &[0, 0, 2, 0, 0x11, 0x10],
            &[0, 0, 1],
        ] {
            assert!(PairTable::parse(t, 1).is_err(), "{t:?}");
        }
        assert!(PairTable::parse(&[0, 0, 1, 0, 0x11], 1).is_ok());
        let (a, b) = weights(5000);
        let p = plan(&histogram(&a, &b), a.len(), 256, &[3]).unwrap();
        let mut payload = Vec::new();
        let mut subs = encode(&a, &b, &p, 256, &mut payload);
        let len = payload.len();
        let (mut t, mut da, mut db) = (WordTable::default(), Vec::new(), Vec::new());
        // Sub-stream lengths shifted by a byte: each decodes past or short of its end.
        subs[0] += 1;
        subs[1] -= 1;
        let r = decode(
            a.len(),
            256,
            &payload,
            len,
            3,
            &subs,
            &mut t,
            &mut da,
            &mut db,
        );
        assert!(r.is_err());
        let mut f = Vec::new();
        write_fields(9, &subs, &mut f);
        let r = read_fields(
            &mut WireReader::new(&f),
            a.len(),
            256,
            len as u32,
            &mut Vec::new(),
        );
        assert!(r.is_err());
    }
}
