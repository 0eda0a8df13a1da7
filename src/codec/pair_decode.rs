//! CPU decode of pair streams (codec 4, FORMAT.md "Pair streams"): one loop for every output
//! shape. A table lookup gives the element's 16-bit word with its raw bits left zero and the bits
//! to consume; the raw bits are the word's low `8 − K` bits in both [`Word`] forms, so one OR
//! completes the element. BF16 and FP16 chunks decode straight into the output (no stream buffers,
//! no merge pass); FP32 writes the top half of each element; any other pair position decodes
//! `a << 8 | b` words and splits them into the two streams.
//!
//! Sub-streams are independent, so four decode interleaved (four dependency chains overlap their
//! table loads). Bounds are checked per run of steps, not per element: a run is as long as every
//! lane's 8-byte loads stay inside the buffer even if each element took the longest code; a
//! corrupt sub-stream may read into its neighbours' bytes meanwhile, and is caught by the exact
//! length check at its end.

#![forbid(unsafe_code)]

use super::pair::{fill_table, PairTable, PAIR_TABLE_LOG};
use crate::error::{Error, Result};

const TABLE: usize = 1 << PAIR_TABLE_LOG;
/// Elements one step decodes from one 8-byte load: at least 57 bits are valid after the shift by
/// the bit offset, and an element takes at most 12 + 7 = 19 bits.
const STEP: usize = 3;
/// Most bits one step consumes.
const STEP_BITS: usize = STEP * (PAIR_TABLE_LOG as usize + 7);
const _: () = assert!(STEP_BITS <= 57 && STEP_BITS < 256);
/// Sub-streams decoded interleaved.
const LANES: usize = 4;

/// The 16-bit word an element `(a, b)` of a pair stream becomes in the output.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Word {
    /// `a << 8 | b`: an FP16 element (high byte `a`), or two streams' bytes to split.
    Joined,
    /// The top half of a BF16 or FP32 element from the exponent `a` and the sign + top mantissa
    /// byte `b` ([`crate::layout::Layout::merge`]'s formula).
    Float,
}

impl Word {
    #[inline]
    pub fn of(self, a: u8, b: u8) -> u16 {
        match self {
            Word::Joined => (a as u16) << 8 | b as u16,
            Word::Float => crate::layout::float_top(a, b),
        }
    }
}

/// The decode table of one pair code for one [`Word`] form, rebuilt per stream and reused. Entry
/// `w` (a 12-bit window, first code bit most significant) is the word with zero raw bits | the
/// bits to consume (code length + `8 − K`, at most 19) | the word << 8: the low 6 bits are a rotate
/// count as they are, and a step's entries summed keep the step's bit count in their low byte.
pub struct WordTable {
    table: Box<[u32; TABLE]>,
    built_for: Option<(PairTable, Word)>,
}

impl Default for WordTable {
    fn default() -> Self {
        WordTable {
            table: Box::new([0; TABLE]),
            built_for: None,
        }
    }
}

impl WordTable {
    /// Builds the table for the complete code `t` (as [`PairTable::parse`] guarantees), unless
    /// it is the one built last.
    pub fn build(&mut self, t: PairTable, word: Word) {
        if let Some((b, w)) = &self.built_for {
            if *w == word && *b == t {
                return;
            }
        }
        fill_table(&t, &mut self.table, |a, b_hi, take| {
            take | (word.of(a, b_hi) as u32) << 8
        });
        self.built_for = Some((t, word));
    }

    /// The entries of the table built last.
    pub fn entries(&self) -> &[u32; TABLE] {
        &self.table
    }

    fn raw_bits(&self) -> u32 {
        let (t, _) = self
            .built_for
            .as_ref()
            .expect("pair table used before build");
        8 - t.bits as u32
    }
}

/// Decodes `STEP` elements at bit `pos` of `buf` into `o` (`STEP` elements of `ES` bytes, the word
/// at byte `OFF` of each). The caller guarantees `pos / 8 + 8 <= buf.len()`.
#[inline(always)]
fn step<const ES: usize, const OFF: usize>(
    buf: &[u8],
    t: &[u32; TABLE],
    mask: u64,
    pos: &mut usize,
    o: &mut [u8],
) {
    let at = *pos >> 3;
    let mut bits = u64::from_be_bytes(buf[at..at + 8].try_into().unwrap()) << (*pos & 7);
    let mut sum = 0u32;
    for j in 0..STEP {
        let e = t[(bits >> (64 - PAIR_TABLE_LOG)) as usize];
        // Rotating by the entry (its low 6 bits) brings the element's bits to the bottom (its raw
        // bits lowest) and the next element's to the top; the bits wrapped around are never
        // peeked, as a step consumes at most 57 of the 64.
        bits = bits.rotate_left(e);
        let w = (e >> 8) as u16 | (bits & mask) as u16;
        o[j * ES + OFF..j * ES + OFF + 2].copy_from_slice(&w.to_le_bytes());
        sum += e;
    }
    *pos += (sum & 0xFF) as usize;
}

/// One sub-stream: bit position in the buffer, next and end element, and its byte range.
#[derive(Clone, Copy, Default)]
struct Lane {
    pos: usize,
    next: usize,
    end: usize,
    start: usize,
    stop: usize,
}

/// Steps every lane of `lanes` may take now: each has `STEP` elements left per step, and no load
/// leaves `buf` even if every element took the longest code.
fn run_len(lanes: &[Lane], buf_len: usize) -> usize {
    let Some(last_load) = buf_len.checked_sub(8) else {
        return 0;
    };
    let limit = last_load * 8;
    lanes
        .iter()
        .map(|l| {
            let room = if l.pos <= limit {
                (limit - l.pos) / STEP_BITS + 1
            } else {
                0
            };
            room.min((l.end - l.next) / STEP)
        })
        .min()
        .unwrap_or(0)
}

/// `run` steps of four lanes at once, their state in locals.
fn run4<const ES: usize, const OFF: usize>(
    buf: &[u8],
    t: &[u32; TABLE],
    mask: u64,
    lanes: &mut [Lane; LANES],
    run: usize,
    out: &mut [u8],
) {
    let bytes = run * STEP * ES;
    let span = |l: &Lane| l.next * ES..l.next * ES + bytes;
    let [l0, l1, l2, l3] = lanes;
    // Lanes write disjoint element ranges in increasing order (sub-stream j holds elements from
    // j · sub_symbols), so the output splits into four disjoint slices.
    let (s0, s1, s2, s3) = (span(l0), span(l1), span(l2), span(l3));
    let (head, rest) = out.split_at_mut(s1.start);
    let (o1, rest) = rest.split_at_mut(s2.start - s1.start);
    let (o2, o3) = rest.split_at_mut(s3.start - s2.start);
    let (o0, o1, o2, o3) = (
        &mut head[s0],
        &mut o1[..bytes],
        &mut o2[..bytes],
        &mut o3[..bytes],
    );
    let (mut p0, mut p1, mut p2, mut p3) = (l0.pos, l1.pos, l2.pos, l3.pos);
    let c = STEP * ES;
    let quads = o0
        .chunks_exact_mut(c)
        .zip(o1.chunks_exact_mut(c))
        .zip(o2.chunks_exact_mut(c).zip(o3.chunks_exact_mut(c)));
    for ((c0, c1), (c2, c3)) in quads {
        step::<ES, OFF>(buf, t, mask, &mut p0, c0);
        step::<ES, OFF>(buf, t, mask, &mut p1, c1);
        step::<ES, OFF>(buf, t, mask, &mut p2, c2);
        step::<ES, OFF>(buf, t, mask, &mut p3, c3);
    }
    for (l, p) in lanes.iter_mut().zip([p0, p1, p2, p3]) {
        l.pos = p;
        l.next += run * STEP;
    }
}

/// Ends lane `l`: the fast steps it can still take alone, an exact decode of the rest (reading
/// zero bits past the sub-stream's last byte), then the length check: the last element's bits end
/// in the sub-stream's last byte.
fn finish<const ES: usize, const OFF: usize>(
    buf: &[u8],
    t: &[u32; TABLE],
    mask: u64,
    l: &mut Lane,
    out: &mut [u8],
) -> Result<()> {
    let run = run_len(std::slice::from_ref(l), buf.len());
    let o = &mut out[l.next * ES..(l.next + run * STEP) * ES];
    for c in o.chunks_exact_mut(STEP * ES) {
        step::<ES, OFF>(buf, t, mask, &mut l.pos, c);
    }
    l.next += run * STEP;
    let sub = &buf[l.start..l.stop];
    let mut pos = l.pos - l.start * 8;
    for i in l.next..l.end {
        let byte = pos >> 3;
        let g = |j: usize| sub.get(byte + j).copied().unwrap_or(0) as u32;
        // 25 valid bits after the shift; an element takes at most 19.
        let w = (g(0) << 24 | g(1) << 16 | g(2) << 8 | g(3)) << (pos & 7);
        let e = t[(w >> (32 - PAIR_TABLE_LOG)) as usize];
        let take = e & 0xFF;
        let v = (e >> 8) as u16 | ((w >> (32 - take)) as u64 & mask) as u16;
        out[i * ES + OFF..i * ES + OFF + 2].copy_from_slice(&v.to_le_bytes());
        pos += take as usize;
    }
    let used = pos.div_ceil(8);
    if pos > sub.len() * 8 || used != sub.len() {
        return Err(Error::corrupt(
            "pair sub-stream length does not match its codes",
        ));
    }
    Ok(())
}

/// Decodes the pair sub-streams laid out back to back in `buf` from byte `start` (after the
/// table), with byte lengths `sub_lens`, into `out`: `out.len() / ES` elements of `ES` bytes, the
/// element's word at byte `OFF` (little-endian); other bytes of `out` are left as they are. Bytes
/// of `buf` after the sub-streams are read but never decoded. The caller has checked that
/// `sub_lens` has the right count and that the sub-streams lie inside `buf`.
pub fn decode_words<const ES: usize, const OFF: usize>(
    buf: &[u8],
    start: usize,
    sub_lens: &[u32],
    sub_symbols: usize,
    table: &WordTable,
    out: &mut [u8],
) -> Result<()> {
    const { assert!(OFF + 2 <= ES) };
    let mask = (1u64 << table.raw_bits()) - 1;
    let t = &*table.table;
    let n = out.len() / ES;
    let mut byte = start;
    for (g, lens) in sub_lens.chunks(LANES).enumerate() {
        let mut lanes = [Lane::default(); LANES];
        for (j, (l, &len)) in lanes.iter_mut().zip(lens).enumerate() {
            let first = (g * LANES + j) * sub_symbols;
            *l = Lane {
                pos: byte * 8,
                next: first,
                end: (first + sub_symbols).min(n),
                start: byte,
                stop: byte + len as usize,
            };
            byte += len as usize;
        }
        let lanes = &mut lanes[..lens.len()];
        if let Ok(four) = <&mut [Lane; LANES]>::try_from(&mut *lanes) {
            loop {
                let run = run_len(four, buf.len());
                if run == 0 {
                    break;
                }
                run4::<ES, OFF>(buf, t, mask, four, run, out);
            }
        }
        for l in lanes {
            finish::<ES, OFF>(buf, t, mask, l, out)?;
        }
    }
    Ok(())
}
