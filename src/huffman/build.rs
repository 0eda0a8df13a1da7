//! Code lengths (length-limited to `TABLE_LOG`), canonical codes, the serialised table and the
//! lookup tables shared by the CPU and GPU decoders.

use crate::constants::{TABLE_LOG, TABLE_SIZE};
use crate::error::{Error, Result};

/// Optimal Huffman code lengths for `hist`, limited to `TABLE_LOG` bits, forming a complete code.
/// Needs at least two symbols with a non-zero count; absent symbols get length 0. No allocation:
/// the encoder calls it for every stream it estimates.
pub fn code_lengths(hist: &[u64; 256]) -> [u8; 256] {
    let mut lens = [0u8; 256];
    let mut s = Scratch {
        order: &mut [0; 256],
        weight: &mut [0; 511],
        node: &mut [0; 511],
    };
    lengths_into(hist, TABLE_LOG, &mut s, &mut lens);
    lens
}

/// Optimal Huffman code lengths for `hist` (any alphabet of at most 65536 symbols), limited to
/// `limit` bits, forming a complete code. Needs at least two symbols with a non-zero count and
/// `2^limit` ≥ their number; absent symbols get length 0.
pub fn limited_lengths(hist: &[u64], limit: u32) -> Vec<u8> {
    assert!(hist.len() <= 1 << 16, "alphabet above 16 bits");
    let n = hist.iter().filter(|&&c| c > 0).count().max(1);
    let (mut order, mut weight, mut node) = (vec![0; n], vec![0; 2 * n - 1], vec![0; 2 * n - 1]);
    let mut s = Scratch {
        order: &mut order,
        weight: &mut weight,
        node: &mut node,
    };
    let mut lens = vec![0u8; hist.len()];
    lengths_into(hist, limit, &mut s, &mut lens);
    lens
}

/// Working memory of [`lengths_into`] for `n` present symbols: at least `n` symbols in `order`
/// and `2n − 1` nodes in `weight` and `node`.
struct Scratch<'a> {
    /// The present symbols, ascending by count (ties by symbol).
    order: &'a mut [u16],
    /// Node weights: leaves (in `order`'s order) first, then internal nodes as they are made.
    weight: &'a mut [u64],
    /// Each node's parent while the tree is built, then its depth.
    node: &'a mut [u32],
}

/// The lengths of [`limited_lengths`] written to `lens` (one per symbol of `hist`).
fn lengths_into(hist: &[u64], limit: u32, s: &mut Scratch, lens: &mut [u8]) {
    let mut n = 0;
    for (sym, &c) in hist.iter().enumerate() {
        if c > 0 {
            s.order[n] = sym as u16;
            s.weight[n] = c;
            n += 1;
        }
    }
    assert!(n >= 2, "huffman needs two symbols");
    assert!(n <= 1 << limit, "more symbols than codes of the limit");
    // Ascending by count; ties by symbol so the result is deterministic. Counts below 2^48 (every
    // chunk's) sort as one u64 key `count << 16 | symbol`, the same order as the pairs: sorting the
    // pairs was ~6% of a one-thread FP32 compress. The keys borrow the weights' slots.
    let (order, weight) = (&mut s.order[..n], &mut s.weight[..2 * n - 1]);
    if weight[..n].iter().all(|&c| c < 1 << 48) {
        for (w, &sym) in weight.iter_mut().zip(order.iter()) {
            *w = *w << 16 | sym as u64;
        }
        weight[..n].sort_unstable();
        for (w, o) in weight.iter_mut().zip(order.iter_mut()) {
            *o = *w as u16;
            *w >>= 16;
        }
    } else {
        let mut pairs: Vec<(u64, u16)> =
            weight.iter().copied().zip(order.iter().copied()).collect();
        pairs.sort_unstable();
        for ((w, o), (c, sym)) in weight.iter_mut().zip(order.iter_mut()).zip(pairs) {
            (*w, *o) = (c, sym);
        }
    }
    // Two-queue Huffman over sorted leaves: node i < n is a leaf, i >= n internal.
    let node = &mut s.node[..2 * n - 1];
    let (mut leaf, mut inner) = (0usize, n);
    for next in n..2 * n - 1 {
        let mut pick = || {
            if leaf < n && (inner >= next || weight[leaf] <= weight[inner]) {
                leaf += 1;
                leaf - 1
            } else {
                inner += 1;
                inner - 1
            }
        };
        let (a, b) = (pick(), pick());
        weight[next] = weight[a] + weight[b];
        node[a] = next as u32;
        node[b] = next as u32;
    }
    // Depths from the root (node 2n-2) down, in place: a parent's index is above its child's, so
    // it holds its depth already when the child is reached.
    node[2 * n - 2] = 0;
    for i in (0..2 * n - 2).rev() {
        node[i] = node[node[i] as usize] + 1;
    }
    let len = &mut node[..n];
    for l in len.iter_mut() {
        *l = (*l).min(limit);
    }
    // Clamping may overfill the code space: lengthen the rarest codes still below the limit.
    let unit = |l: u32| 1u64 << (limit - l);
    let target = 1u64 << limit;
    let mut kraft: u64 = len.iter().map(|&l| unit(l)).sum();
    // Leaves are ascending by count: the first entry below the limit is the cheapest to lengthen.
    // Lengths only grow here, so that entry's index never decreases.
    let mut first_short = 0;
    while kraft > target {
        while *len.get(first_short).expect("a code below the limit") >= limit {
            first_short += 1;
        }
        len[first_short] += 1;
        kraft -= unit(len[first_short]);
    }
    // Then use any slack on the most frequent symbols. The gap is a multiple of the smallest unit in
    // use, so this always ends with a complete code.
    while kraft < target {
        let gap = target - kraft;
        let i = (0..n)
            .rev()
            .find(|&i| len[i] > 1 && unit(len[i]) <= gap)
            .expect("slack is always usable");
        kraft += unit(len[i]);
        len[i] -= 1;
    }
    lens.fill(0);
    for (&l, &sym) in len.iter().zip(order.iter()) {
        lens[sym as usize] = l as u8;
    }
}

/// The first canonical code of each length 1 ..= `limit` (index = length) for lengths `lens`
/// (FORMAT.md, "Huffman streams": by length, then symbol value): symbols of length `l` take
/// `first[l]`, `first[l] + 1`, … in symbol order. No allocation: table builders call it per chunk.
pub fn first_codes(lens: &[u8], limit: u32) -> [u32; 16] {
    assert!(limit < 16, "code lengths above 15 bits");
    let mut count = [0u32; 16];
    for &l in lens {
        count[l as usize] += 1;
    }
    count[0] = 0;
    let mut next = [0u32; 16];
    let mut code = 0u32;
    for l in 1..=limit as usize {
        code = (code + count[l - 1]) << 1;
        next[l] = code;
    }
    next
}

/// Canonical codes for lengths `lens` of at most `limit` bits: `code[s]` holds the code of `s` in
/// its low `lens[s]` bits.
pub fn canonical_codes_of(lens: &[u8], limit: u32) -> Vec<u16> {
    let mut next = first_codes(lens, limit);
    let mut codes = vec![0u16; lens.len()];
    for (s, &l) in lens.iter().enumerate() {
        if l > 0 {
            codes[s] = next[l as usize] as u16;
            next[l as usize] += 1;
        }
    }
    codes
}

/// Bits the stream would take with `lens` (payload only).
pub fn encoded_bits(hist: &[u64; 256], lens: &[u8; 256]) -> u64 {
    hist.iter().zip(lens).map(|(&c, &l)| c * l as u64).sum()
}

/// A validated canonical code: the code length of every symbol.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CodeTable {
    pub lens: [u8; 256],
}

impl CodeTable {
    /// Size of the serialised table for these lengths.
    pub fn serialized_len(lens: &[u8; 256]) -> usize {
        let (first, last) = range(lens);
        2 + (last - first + 1).div_ceil(2)
    }

    /// Appends the table (`first last nibbles`) to `out`.
    pub fn write(lens: &[u8; 256], out: &mut Vec<u8>) {
        let (first, last) = range(lens);
        out.push(first as u8);
        out.push(last as u8);
        for pair in lens[first..=last].chunks(2) {
            out.push(pair[0] | pair.get(1).map_or(0, |&h| h << 4));
        }
    }

    /// Parses and validates a table at the start of `src`; returns it and its size in bytes.
    pub fn parse(src: &[u8]) -> Result<(CodeTable, usize)> {
        if src.len() < 2 {
            return Err(Error::truncated("huffman table header"));
        }
        let (first, last) = (src[0] as usize, src[1] as usize);
        if first > last {
            return Err(Error::corrupt("huffman table: first symbol after last"));
        }
        let size = 2 + (last - first + 1).div_ceil(2);
        if src.len() < size {
            return Err(Error::truncated("huffman table lengths"));
        }
        let mut lens = [0u8; 256];
        for k in 0..=(last - first) {
            let b = src[2 + k / 2];
            lens[first + k] = if k % 2 == 0 { b & 0xF } else { b >> 4 };
        }
        if (last - first + 1) % 2 == 1 && src[size - 1] >> 4 != 0 {
            return Err(Error::corrupt("huffman table: non-zero padding nibble"));
        }
        let mut kraft = 0u64;
        let mut present = 0;
        for &l in &lens {
            if l as u32 > TABLE_LOG {
                return Err(Error::corrupt(format!(
                    "huffman code length {l} > {TABLE_LOG}"
                )));
            }
            if l > 0 {
                kraft += 1 << (TABLE_LOG - l as u32);
                present += 1;
            }
        }
        // `first` and `last` must be present symbols, so that a table has one encoding.
        if lens[first] == 0 || lens[last] == 0 {
            return Err(Error::corrupt(
                "huffman table range ends on an absent symbol",
            ));
        }
        if present < 2 || kraft != 1 << TABLE_LOG {
            return Err(Error::corrupt(
                "huffman table is not a complete prefix code",
            ));
        }
        Ok((CodeTable { lens }, size))
    }
}

fn range(lens: &[u8; 256]) -> (usize, usize) {
    let first = lens.iter().position(|&l| l > 0).unwrap_or(0);
    let last = lens.iter().rposition(|&l| l > 0).unwrap_or(0);
    (first, last)
}

/// Canonical codes for `lens`: `code[s]` holds the code of `s` in its low `lens[s]` bits.
pub fn canonical_codes(lens: &[u8; 256]) -> [u16; 256] {
    let mut count = [0u32; TABLE_LOG as usize + 1];
    for &l in lens {
        count[l as usize] += 1;
    }
    count[0] = 0;
    let mut next = [0u32; TABLE_LOG as usize + 2];
    let mut code = 0u32;
    for l in 1..=TABLE_LOG as usize {
        code = (code + count[l - 1]) << 1;
        next[l] = code;
    }
    let mut codes = [0u16; 256];
    for s in 0..256 {
        let l = lens[s] as usize;
        if l > 0 {
            codes[s] = next[l] as u16;
            next[l] += 1;
        }
    }
    codes
}

/// The single-symbol decode table: entry `i` (an 11-bit window, first code bit most significant)
/// is `symbol | length << 8`. The WGSL decoder uses exactly this table (packed two per u32).
/// Needs a complete code (as [`CodeTable::parse`] guarantees), so every entry is filled.
pub fn single_table(lens: &[u8; 256], out: &mut [u16; TABLE_SIZE]) {
    let codes = canonical_codes(lens);
    for s in 0..256 {
        let l = lens[s] as u32;
        if l == 0 {
            continue;
        }
        let start = (codes[s] as usize) << (TABLE_LOG - l);
        let end = start + (1 << (TABLE_LOG - l));
        out[start..end].fill(s as u16 | (l as u16) << 8);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(hist: &[u64; 256]) -> [u8; 256] {
        let lens = code_lengths(hist);
        let kraft: u64 = lens
            .iter()
            .filter(|&&l| l > 0)
            .map(|&l| 1u64 << (TABLE_LOG - l as u32))
            .sum();
        assert_eq!(kraft, 1 << TABLE_LOG);
        for s in 0..256 {
            assert_eq!(hist[s] > 0, lens[s] > 0);
        }
        let mut v = Vec::new();
        CodeTable::write(&lens, &mut v);
        assert_eq!(v.len(), CodeTable::serialized_len(&lens));
        let (t, n) = CodeTable::parse(&v).unwrap();
        assert_eq!((t.lens, n), (lens, v.len()));
        lens
    }

    #[test]
    fn fibonacci_counts_hit_the_length_limit() {
        let mut h = [0u64; 256];
        let (mut a, mut b) = (1u64, 1u64);
        for c in h.iter_mut().take(40) {
            *c = a;
            (a, b) = (b, a + b);
        }
        let lens = check(&h);
        assert_eq!(*lens.iter().max().unwrap() as u32, TABLE_LOG);
    }

    #[test]
    fn two_symbols_and_uniform() {
        let mut h = [0u64; 256];
        h[3] = 10;
        h[200] = 1;
        assert_eq!(check(&h)[3], 1);
        assert_eq!(check(&[7u64; 256])[0], 8);
    }

    /// The cost in bits of an unlimited Huffman code for `hist`, from a binary heap: the sum of
    /// every merged weight.
    fn heap_huffman_bits(hist: &[u64]) -> u128 {
        use std::cmp::Reverse;
        let mut heap: std::collections::BinaryHeap<_> = hist
            .iter()
            .filter(|&&c| c > 0)
            .map(|&c| Reverse(c as u128))
            .collect();
        let mut bits = 0;
        while heap.len() > 1 {
            let (Reverse(a), Reverse(b)) = (heap.pop().unwrap(), heap.pop().unwrap());
            bits += a + b;
            heap.push(Reverse(a + b));
        }
        bits
    }

    #[test]
    fn lengths_are_optimal_where_the_limit_does_not_bind_and_both_entries_agree() {
        let mut x = 0x2545F4914F6CDD1Du64;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for case in 0..400 {
            let present = 2 + (next() % 255) as usize;
            let mut h = [0u64; 256];
            for c in h.iter_mut().take(present) {
                // Skews from flat to geometric-like, and some huge counts (the pair-sort path).
                *c = match case % 4 {
                    0 => 1 + next() % 8,
                    1 => 1 + (next() % 1000) * (next() % 1000),
                    2 => 1 << (next() % 20),
                    _ => (1 << 50) + next() % (1 << 40),
                };
            }
            let lens = check(&h);
            assert_eq!(limited_lengths(&h, TABLE_LOG), lens.to_vec(), "case {case}");
            if lens.iter().all(|&l| (l as u32) < TABLE_LOG) {
                let bits: u128 = h
                    .iter()
                    .zip(&lens)
                    .map(|(&c, &l)| c as u128 * l as u128)
                    .sum();
                assert_eq!(bits, heap_huffman_bits(&h), "case {case}: not optimal");
            }
        }
    }

    #[test]
    fn incomplete_table_rejected() {
        // Two symbols of length 2: Kraft sum 1/2.
        assert!(CodeTable::parse(&[0, 1, 0x22]).is_err());
        assert!(CodeTable::parse(&[5, 4]).is_err());
        assert!(CodeTable::parse(&[0, 2, 0x11]).is_err());
    }
}
