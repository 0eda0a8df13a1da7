//! Codec 6, rans: order-0 rANS over a byte stream in independent sub-streams of `sub_symbols`
//! symbols (FORMAT.md, "rANS streams", format v4). Probabilities of [`PROB_BITS`] bits, a 32-bit
//! state renormalised by 16-bit words: the coded size is within a small fraction of a bit per
//! symbol of the table's entropy, where Huffman pays up to a whole bit on a dominant symbol (the
//! near-zero XOR streams of fine-tune deltas, skewed exponents).
//!
//! The decoder keeps four sub-streams' states in locals and steps them together, so that four
//! independent multiply-add chains hide each other's latency; its renormalisation is branch-free
//! (a clamped load and a select), as a renormalisation branch taken at random would mispredict.

#![forbid(unsafe_code)]

use super::Coding;
use crate::error::{Error, Result};
use crate::format::{put_varint, WireReader};

/// Bits of probability: frequencies sum to `2^PROB_BITS`, and the decode table has as many slots
/// (16 KiB of `u32`, in L1). 12 bits keep the cost of rounding counts to frequencies under 0.1% on
/// 128 Ki-symbol chunks and make every step fit `u32` (FORMAT.md).
pub const PROB_BITS: u32 = 12;
const SCALE: u32 = 1 << PROB_BITS;
/// The state's lower bound; a renormalisation reads or writes one 16-bit word.
pub const LOW: u32 = 1 << 16;
/// `first`, `last` and two one-byte frequencies.
pub const MIN_TABLE_BYTES: u64 = 4;
/// `first`, `last` and 256 frequencies of at most two varint bytes (each < 4096 < 2^14).
const MAX_TABLE_BYTES: u64 = 2 + 2 * 256;
/// Sub-streams decoded together: independent chains that hide each other's latency.
const LANES: usize = 4;
/// A sub-stream: the 4-byte state, then words.
const MIN_SUB_BYTES: u32 = 4;

/// `sub_len:varint` × `ceil(n / sub_symbols)`, appended to `sub_lens`; each must be even and at
/// least 4, and they must leave room for a table in `comp_len`.
pub fn read_fields(
    r: &mut WireReader,
    n: usize,
    sub_symbols: usize,
    comp_len: u32,
    sub_lens: &mut Vec<u32>,
) -> Result<Coding> {
    let table = (MIN_TABLE_BYTES, MAX_TABLE_BYTES);
    let sub_start =
        super::read_sub_lens("rans", r, n, sub_symbols, comp_len, table, sub_lens, |l| {
            if l < MIN_SUB_BYTES || l % 2 != 0 {
                return Err(Error::corrupt(format!(
                    "rans sub-stream of {l} bytes (must be even and at least 4)"
                )));
            }
            Ok(())
        })?;
    Ok(Coding::Rans { sub_start })
}

pub fn write_fields(subs: &[u32], b: &mut Vec<u8>) {
    for &l in subs {
        put_varint(b, l);
    }
}

/// A validated frequency table: `freq` sums to `2^PROB_BITS` with at least two symbols present.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RansTable {
    pub freq: [u16; 256],
}

fn varint_len(v: u32) -> usize {
    (32 - v.leading_zeros()).div_ceil(7).max(1) as usize
}

impl RansTable {
    fn range(freq: &[u16; 256]) -> (usize, usize) {
        let first = freq.iter().position(|&f| f > 0).unwrap_or(0);
        let last = freq.iter().rposition(|&f| f > 0).unwrap_or(0);
        (first, last)
    }

    pub fn serialized_len(freq: &[u16; 256]) -> usize {
        let (first, last) = Self::range(freq);
        2 + freq[first..=last]
            .iter()
            .map(|&f| varint_len(f as u32))
            .sum::<usize>()
    }

    /// Appends `first:u8 last:u8 freq:varint*` to `out`.
    pub fn write(freq: &[u16; 256], out: &mut Vec<u8>) {
        let (first, last) = Self::range(freq);
        out.extend_from_slice(&[first as u8, last as u8]);
        for &f in &freq[first..=last] {
            put_varint(out, f as u32);
        }
    }

    /// Parses and validates the table at the start of `src`; returns it and its size in bytes.
    pub fn parse(src: &[u8]) -> Result<(RansTable, usize)> {
        let mut r = WireReader::new(src);
        let (first, last) = (r.u8()? as usize, r.u8()? as usize);
        if first >= last {
            return Err(Error::corrupt(format!(
                "rans table range {first}..={last} is empty"
            )));
        }
        let mut freq = [0u16; 256];
        let mut sum = 0u32;
        for f in &mut freq[first..=last] {
            let v = r.varint()?;
            if v >= SCALE {
                return Err(Error::corrupt(format!("rans frequency {v} >= {SCALE}")));
            }
            *f = v as u16;
            sum += v;
        }
        if freq[first] == 0 || freq[last] == 0 {
            return Err(Error::corrupt("rans table range ends on an absent symbol"));
        }
        if sum != SCALE {
            return Err(Error::corrupt(format!(
                "rans frequencies sum to {sum}, not {SCALE}"
            )));
        }
        let size = src.len() - r.remaining();
        Ok((RansTable { freq }, size))
    }
}

/// Frequencies summing to `2^PROB_BITS` for the counts `hist` (at least two non-zero), every
/// present symbol at least 1, chosen to keep the coded size small: counts scaled and rounded, then
/// the sum corrected one step at a time where a step costs the fewest bits.
pub fn normalize(hist: &[u64; 256]) -> [u16; 256] {
    let total: u64 = hist.iter().sum();
    let mut freq = [0u16; 256];
    let mut sum = 0i64;
    for (f, &c) in freq.iter_mut().zip(hist) {
        if c > 0 {
            let scaled = ((c as u128 * SCALE as u128 + total as u128 / 2) / total as u128) as u64;
            *f = scaled.clamp(1, SCALE as u64 - 1) as u16;
            sum += *f as i64;
        }
    }
    // Bits added by moving symbol s from frequency f to f + d: c · log2(f / (f + d)).
    let delta = |c: u64, f: u16, d: i32| c as f64 * ((f as f64) / (f as f64 + d as f64)).log2();
    while sum != SCALE as i64 {
        let d = if sum > SCALE as i64 { -1 } else { 1 };
        let best = (0..256)
            .filter(|&s| hist[s] > 0 && (d > 0 || freq[s] > 1))
            .min_by(|&a, &b| {
                let (ca, cb) = (delta(hist[a], freq[a], d), delta(hist[b], freq[b], d));
                ca.total_cmp(&cb)
            })
            .expect("two present symbols can always absorb a step");
        freq[best] = (freq[best] as i32 + d) as u16;
        sum += d as i64;
    }
    freq
}

/// Payload size of rANS coding `n` symbols with counts `hist` (at least two non-zero), and the
/// frequencies it would use: the table, the symbols' cost at those frequencies and, per
/// sub-stream, the 4-byte state and a word of rounding. Within a few bytes of the coded size.
pub fn estimate(hist: &[u64; 256], n: usize, sub_symbols: usize) -> (u64, [u16; 256]) {
    let freq = normalize(hist);
    let bits: f64 = hist
        .iter()
        .zip(&freq)
        .filter(|(&c, _)| c > 0)
        .map(|(&c, &f)| c as f64 * (SCALE as f64 / f as f64).log2())
        .sum();
    let subs = n.div_ceil(sub_symbols) as u64;
    let size = RansTable::serialized_len(&freq) as u64 + (bits / 8.0).ceil() as u64 + 6 * subs;
    (size, freq)
}

/// Appends the table and the sub-streams of `s` coded with `freq`; returns the sub-stream lengths.
pub fn encode(s: &[u8], freq: &[u16; 256], sub_symbols: usize, out: &mut Vec<u8>) -> Vec<u32> {
    RansTable::write(freq, out);
    let mut cum = [0u32; 256];
    let mut acc = 0u32;
    for (c, &f) in cum.iter_mut().zip(freq) {
        *c = acc;
        acc += f as u32;
    }
    let mut subs = Vec::with_capacity(s.len().div_ceil(sub_symbols));
    let mut words: Vec<u16> = Vec::with_capacity(sub_symbols);
    for sub in s.chunks(sub_symbols) {
        words.clear();
        let mut x = LOW;
        for &b in sub.iter().rev() {
            let f = freq[b as usize] as u32;
            debug_assert!(f > 0, "a symbol without frequency");
            if x >= f << (32 - PROB_BITS) {
                words.push(x as u16);
                x >>= 16;
            }
            x = (x / f) * SCALE + x % f + cum[b as usize];
        }
        let start = out.len();
        out.extend_from_slice(&x.to_le_bytes());
        for &w in words.iter().rev() {
            out.extend_from_slice(&w.to_le_bytes());
        }
        subs.push((out.len() - start) as u32);
    }
    subs
}

/// The decode table: slot `x mod 2^PROB_BITS` → `symbol | freq << 8 | (slot − cum) << 20`, so a
/// step is one multiply-add (`slot − cum < freq < 2^12`).
pub struct DecodeTable(Box<[u32; SCALE as usize]>);

impl Default for DecodeTable {
    fn default() -> Self {
        DecodeTable(Box::new([0; SCALE as usize]))
    }
}

impl DecodeTable {
    fn build(&mut self, t: &RansTable) {
        let mut cum = 0usize;
        for (s, &f) in t.freq.iter().enumerate() {
            let e = s as u32 | (f as u32) << 8;
            for (bias, slot) in self.0[cum..cum + f as usize].iter_mut().enumerate() {
                *slot = e | (bias as u32) << 20;
            }
            cum += f as usize;
        }
    }
}

/// One sub-stream's decoder state: `x`, the next word's offset and the sub-stream's end.
#[derive(Clone, Copy)]
struct Lane {
    x: u32,
    pos: usize,
    end: usize,
}

impl Lane {
    fn start(body: &[u8], at: usize, len: usize) -> Result<Lane> {
        let x = u32::from_le_bytes(body[at..at + 4].try_into().unwrap());
        if x < LOW {
            return Err(Error::corrupt("rans state below 2^16"));
        }
        Ok(Lane {
            x,
            pos: at + 4,
            end: at + len,
        })
    }

    fn finish(&self) -> Result<()> {
        if self.x != LOW || self.pos != self.end {
            return Err(Error::corrupt(
                "rans sub-stream does not end where its length says",
            ));
        }
        Ok(())
    }
}

/// Decodes one symbol of the sub-stream whose state is `x` and whose next word is at byte `*pos`
/// of `body` (`end` its end). A word past the end is read from inside the sub-stream instead (its state is there, so `end − 2`
/// is always in it) and counted, so that [`Lane::finish`] sees the overrun: no branch on the data.
#[inline(always)]
fn step(x: &mut u32, pos: &mut usize, end: usize, body: &[u8], t: &[u32; SCALE as usize]) -> u8 {
    let e = t[(*x & (SCALE - 1)) as usize];
    let y = ((e >> 8) & 0xFFF) * (*x >> PROB_BITS) + (e >> 20);
    let need = y < LOW;
    let at = (*pos).min(end - 2);
    let w = match body.get(at..at + 2) {
        Some(b) => u16::from_le_bytes([b[0], b[1]]) as u32,
        None => 0,
    };
    *x = if need { y << 16 | w } else { y };
    *pos += 2 * need as usize;
    e as u8
}

/// Decodes a stream whose payload is `payload[..comp_len]` into `buf` (`n` symbols).
pub fn decode(
    n: usize,
    sub_symbols: usize,
    payload: &[u8],
    comp_len: usize,
    subs: &[u32],
    table: &mut DecodeTable,
    buf: &mut Vec<u8>,
) -> Result<()> {
    let body = &payload[..comp_len];
    let (t, tsize) = RansTable::parse(body)?;
    let total: u64 = subs.iter().map(|&l| l as u64).sum();
    if tsize as u64 + total != body.len() as u64 {
        return Err(Error::corrupt("rans table size does not match the stream"));
    }
    table.build(&t);
    let tab = &*table.0;
    buf.resize(n, 0);
    // Each sub-stream's first byte, advanced as sub-streams are decoded (no per-stream table).
    let mut at = tsize;
    // Groups of LANES full sub-streams, stepped together; the rest one at a time.
    let full = n / sub_symbols;
    let mut k = 0;
    while k + LANES <= full {
        let mut lanes = [Lane {
            x: 0,
            pos: 0,
            end: 0,
        }; LANES];
        for (j, l) in lanes.iter_mut().enumerate() {
            *l = Lane::start(body, at, subs[k + j] as usize)?;
            at += subs[k + j] as usize;
        }
        let out = &mut buf[k * sub_symbols..(k + LANES) * sub_symbols];
        // The states in locals, not in `lanes`: stores to the output would otherwise make the
        // compiler reload them.
        let mut xs = lanes.map(|l| l.x);
        let mut ps = lanes.map(|l| l.pos);
        let ends = lanes.map(|l| l.end);
        for i in 0..sub_symbols {
            for j in 0..LANES {
                out[j * sub_symbols + i] = step(&mut xs[j], &mut ps[j], ends[j], body, tab);
            }
        }
        for (j, l) in lanes.iter_mut().enumerate() {
            (l.x, l.pos) = (xs[j], ps[j]);
            l.finish()?;
        }
        k += LANES;
    }
    for (j, o) in buf.chunks_mut(sub_symbols).enumerate().skip(k) {
        let mut l = Lane::start(body, at, subs[j] as usize)?;
        at += subs[j] as usize;
        for v in o.iter_mut() {
            *v = step(&mut l.x, &mut l.pos, l.end, body, tab);
        }
        l.finish()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hist(s: &[u8]) -> [u64; 256] {
        let mut h = [0u64; 256];
        s.iter().for_each(|&b| h[b as usize] += 1);
        h
    }

    fn roundtrip(s: &[u8], sub: usize) -> usize {
        let (est, freq) = estimate(&hist(s), s.len(), sub);
        let mut payload = Vec::new();
        let subs = encode(s, &freq, sub, &mut payload);
        assert!(
            payload.len() as u64 <= est,
            "{} > estimate {est}",
            payload.len()
        );
        let (mut t, mut buf) = (DecodeTable::default(), Vec::new());
        let len = payload.len();
        decode(s.len(), sub, &payload, len, &subs, &mut t, &mut buf).unwrap();
        assert_eq!(buf, s, "sub {sub}");
        len
    }

    fn skewed(n: usize) -> Vec<u8> {
        let mut x = 88172645463325252u64;
        (0..n)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                // P(0) = 3/4, then geometric: a near-zero XOR stream.
                if x % 4 != 0 {
                    0
                } else {
                    1 + ((x >> 8).trailing_zeros() as u8).min(30)
                }
            })
            .collect()
    }

    #[test]
    fn roundtrips_and_beats_huffman_on_a_dominant_symbol() {
        let s = skewed(70_001);
        for sub in [256, 4096, 65536] {
            roundtrip(&s, sub);
        }
        let len = roundtrip(&s, 4096);
        let h = hist(&s);
        let (huff, _) = super::super::huffman::estimate(&h, s.len(), 4096);
        assert!((len as u64) * 10 < huff * 9, "rans {len} vs huffman {huff}");
        // Two symbols; every symbol of the alphabet; one rare symbol at frequency 1.
        roundtrip(&[3, 200], 256);
        let all: Vec<u8> = (0..5000u32).map(|i| (i * 7 % 256) as u8).collect();
        roundtrip(&all, 1024);
        let mut rare = vec![9u8; 100_000];
        rare[777] = 10;
        roundtrip(&rare, 4096);
    }

    #[test]
    fn normalized_frequencies_sum_to_the_scale() {
        for s in [skewed(1000), vec![1, 2], (0..=255).collect::<Vec<u8>>()] {
            let f = normalize(&hist(&s));
            assert_eq!(f.iter().map(|&f| f as u32).sum::<u32>(), SCALE);
            assert!(hist(&s).iter().zip(&f).all(|(&c, &f)| (c > 0) == (f > 0)));
        }
    }

    #[test]
    fn hostile_tables_states_and_lengths_are_errors() {
        // Empty range, absent end, wrong sum, a frequency of 4096.
        for t in [
            &[5, 5, 0x80, 0x20][..],
            &[0, 1, 0, 0x80, 0x20],
            &[0, 1, 1, 1],
            &[0, 1, 0x80, 0x20, 0],
            &[0, 1],
        ] {
            assert!(RansTable::parse(t).is_err(), "{t:?}");
        }
        let s = skewed(3000);
        let (_, freq) = estimate(&hist(&s), s.len(), 1024);
        let mut payload = Vec::new();
        let subs = encode(&s, &freq, 1024, &mut payload);
        let len = payload.len();
        let tsize = RansTable::serialized_len(&freq);
        let (mut t, mut buf) = (DecodeTable::default(), Vec::new());
        let dec = |p: &[u8], subs: &[u32], n: usize, t: &mut DecodeTable, buf: &mut Vec<u8>| {
            decode(n, 1024, p, p.len(), subs, t, buf)
        };
        assert!(dec(&payload, &subs, s.len(), &mut t, &mut buf).is_ok());
        // A state below 2^16.
        let mut p = payload.clone();
        p[tsize + 2..tsize + 4].fill(0);
        assert!(dec(&p, &subs, s.len(), &mut t, &mut buf).is_err());
        // A word moved from one sub-stream to the next: both end in the wrong place.
        let moved = [subs[0] - 2, subs[1] + 2, subs[2]];
        assert!(dec(&payload, &moved, s.len(), &mut t, &mut buf).is_err());
        // One symbol more or fewer than coded.
        assert!(dec(&payload, &subs, s.len() + 1, &mut t, &mut buf).is_err());
        assert!(dec(&payload, &subs, s.len() - 1, &mut t, &mut buf).is_err());
        // Odd and too-short sub-stream lengths are refused in the fields.
        for bad in [[5u32], [2]] {
            let mut f = Vec::new();
            write_fields(&bad, &mut f);
            let r = read_fields(
                &mut WireReader::new(&f),
                100,
                256,
                len as u32,
                &mut Vec::new(),
            );
            assert!(r.is_err(), "{bad:?}");
        }
    }
}
