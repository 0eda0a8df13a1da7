//! The reference reader and decoder of the `.znn` format, written from FORMAT.md alone: it shares
//! no code with `src/`, so that the library's output is checked against the specification.

use super::{END_MAGIC, HEADER_LEN, MAGIC, TRAILER_LEN};
use xxhash_rust::xxh3::xxh3_64;

// ---------------------------------------------------------------------------------------------
// Reference reader and decoder, from FORMAT.md only.
// ---------------------------------------------------------------------------------------------

pub struct RefStream {
    pub codec: u8,
    pub comp_len: u32,
    pub value: u8,
    /// Pair streams (codec 4, versions 3 and 4): K, the bits taken from the next stream.
    pub bits: u8,
    pub sub_lens: Vec<u32>,
}

pub struct RefChunk {
    pub checksum: u64,
    /// Delta chunks (version 2): where the base bytes under the chunk start.
    pub base_at: Option<u64>,
    pub layout: u8,
    pub n: usize,
    pub orig_len: usize,
    pub streams: Vec<RefStream>,
}

pub struct RefIndex {
    pub sub_symbols: u32,
    /// Version 2, and version 4 with a non-zero `base_record`: (base_len, base_hash). `None`: the
    /// file has no base (versions 1 and 3, and version 4 with `base_len = 0` and `base_hash = 0`).
    pub base: Option<(u64, u64)>,
    /// (layout id, original length)
    pub segments: Vec<(u8, u64)>,
    pub chunks: Vec<RefChunk>,
}

pub struct RefFile {
    pub chunk_size: u32,
    pub original_len: u64,
    pub index: RefIndex,
    /// Byte range of the index in the file.
    pub index_range: std::ops::Range<usize>,
}

fn elem_size(layout: u8) -> usize {
    [1, 2, 2, 4, 8, 4][layout as usize]
}

struct Rd<'a> {
    b: &'a [u8],
    p: usize,
}

impl Rd<'_> {
    fn take(&mut self, n: usize) -> Result<&[u8], String> {
        if self.b.len() - self.p < n {
            return Err("index ends early".into());
        }
        self.p += n;
        Ok(&self.b[self.p - n..self.p])
    }
    fn u8(&mut self) -> Result<u8, String> {
        Ok(self.take(1)?[0])
    }
    fn u32(&mut self) -> Result<u32, String> {
        Ok(u32::from_le_bytes(self.take(4)?.try_into().unwrap()))
    }
    fn u64(&mut self) -> Result<u64, String> {
        Ok(u64::from_le_bytes(self.take(8)?.try_into().unwrap()))
    }
    fn varint(&mut self) -> Result<u32, String> {
        let mut v = 0u64;
        for i in 0..5 {
            let b = self.u8()?;
            v |= ((b & 0x7F) as u64) << (7 * i);
            if b & 0x80 == 0 {
                if v >= 1 << 32 {
                    return Err("varint overflow".into());
                }
                if i > 0 && b == 0 {
                    return Err("varint not in its shortest form".into());
                }
                return Ok(v as u32);
            }
        }
        Err("varint longer than 5 bytes".into())
    }
}

/// Parses the index bytes (FORMAT.md, "Index"); bounds every count by the bytes left.
pub fn ref_parse_index(b: &[u8], chunk_size: u32) -> Result<RefIndex, String> {
    ref_parse_index_version(b, chunk_size, 1)
}

/// [`ref_parse_index`] of a given format version (1 to 4).
pub fn ref_parse_index_version(
    b: &[u8],
    chunk_size: u32,
    version: u16,
) -> Result<RefIndex, String> {
    let mut r = Rd { b, p: 0 };
    let seg_count = r.u32()? as usize;
    let sub_symbols = r.u32()?;
    if !sub_symbols.is_power_of_two() || !(256..=65536).contains(&sub_symbols) {
        return Err("bad sub_symbols".into());
    }
    if !(1..=4).contains(&version) {
        return Err("version".into());
    }
    // Versions 2 and 4: base_record, then (versions 3 and 4) pair_streams. In version 4 a zero
    // base_record (both fields 0) says the file has no base.
    let base = match version {
        2 => Some((r.u64()?, r.u64()?)),
        4 => Some((r.u64()?, r.u64()?)).filter(|&b| b != (0, 0)),
        _ => None,
    };
    let pair_streams = if version >= 3 { Some(r.u32()?) } else { None };
    if seg_count > b.len() / 12 {
        return Err("segment count too large".into());
    }
    let mut segments = Vec::new();
    let mut seg_base = Vec::new();
    for _ in 0..seg_count {
        let layout = r.u8()?;
        if layout > 5 {
            return Err("bad layout".into());
        }
        let flags = r.u8()?;
        if r.take(2)? != [0, 0] || flags > 1 || (flags == 1 && base.is_none()) {
            return Err("reserved bytes".into());
        }
        let len = r.u64()?;
        if len == 0 || len % elem_size(layout) as u64 != 0 {
            return Err("bad segment length".into());
        }
        segments.push((layout, len));
        seg_base.push(if flags == 1 {
            let off = r.u64()?;
            if off.checked_add(len).is_none_or(|e| e > base.unwrap().0) {
                return Err("delta past the base".into());
            }
            Some(off)
        } else {
            None
        });
    }
    let mut chunks = Vec::new();
    for (si, &(layout, len)) in segments.iter().enumerate() {
        let cs = chunk_size as u64;
        let count = len.div_ceil(cs);
        if count > (b.len() / 10) as u64 {
            return Err("too many chunks for the index".into());
        }
        for k in 0..count {
            let orig_len = (len - k * cs).min(cs) as usize;
            let n = orig_len / elem_size(layout);
            let checksum = r.u64()?;
            let mut streams = Vec::new();
            for j in 0..elem_size(layout) {
                let codec = r.u8()?;
                let comp_len = r.varint()?;
                if matches!(codec, 4 | 5) && version < 3 {
                    return Err("pair codec before version 3".into());
                }
                if codec == 6 && version < 4 {
                    return Err("rans codec before version 4".into());
                }
                let after_pair = streams.last().is_some_and(|p: &RefStream| p.codec == 4);
                if (codec == 5) != after_pair || (codec == 4 && j + 1 == elem_size(layout)) {
                    return Err("pair stream not followed by its paired stream".into());
                }
                let mut s = RefStream {
                    codec,
                    comp_len,
                    value: 0,
                    bits: 0,
                    sub_lens: Vec::new(),
                };
                match codec {
                    0 if comp_len as usize != n => return Err("raw length".into()),
                    0 | 3 => {}
                    1 => {
                        s.value = r.u8()?;
                        if comp_len != 0 {
                            return Err("const with payload".into());
                        }
                    }
                    2 | 4 | 6 => {
                        if codec == 4 {
                            s.bits = r.u8()?;
                            if !(1..=4).contains(&s.bits) {
                                return Err("pair bits".into());
                            }
                        }
                        let subs = n.div_ceil(sub_symbols as usize);
                        if subs > b.len() {
                            return Err("too many sub-streams".into());
                        }
                        for _ in 0..subs {
                            s.sub_lens.push(r.varint()?);
                        }
                    }
                    5 if comp_len != 0 => return Err("paired stream with payload".into()),
                    5 => {}
                    _ => return Err(format!("unknown codec {codec}")),
                }
                streams.push(s);
            }
            chunks.push(RefChunk {
                checksum,
                base_at: seg_base[si].map(|b| b + k * cs),
                layout,
                n,
                orig_len,
                streams,
            });
        }
    }
    if r.p != b.len() {
        return Err("trailing bytes in the index".into());
    }
    let pairs = chunks
        .iter()
        .flat_map(|c| &c.streams)
        .filter(|s| s.codec == 4)
        .count();
    if pair_streams.is_some_and(|p| p as usize != pairs) {
        return Err("pair stream count".into());
    }
    Ok(RefIndex {
        sub_symbols,
        base,
        segments,
        chunks,
    })
}

/// Header, trailer and index of a whole file, with every check of FORMAT.md's reading order
/// except the per-chunk ones.
pub fn ref_parse(f: &[u8]) -> Result<RefFile, String> {
    if f.len() < HEADER_LEN + TRAILER_LEN {
        return Err("too short".into());
    }
    if f[..8] != MAGIC {
        return Err("magic".into());
    }
    let version = u16::from_le_bytes([f[8], f[9]]);
    if !(1..=4).contains(&version) {
        return Err("version".into());
    }
    if f[10..12] != [0, 0] {
        return Err("flags".into());
    }
    let chunk_size = u32::from_le_bytes(f[12..16].try_into().unwrap());
    if chunk_size % 8 != 0 || !(4096..=16 << 20).contains(&chunk_size) {
        return Err("chunk size".into());
    }
    let t = &f[f.len() - TRAILER_LEN..];
    let u = |i: usize| u64::from_le_bytes(t[i..i + 8].try_into().unwrap());
    if t[32..] != END_MAGIC {
        return Err("end magic".into());
    }
    let (index_len, original_len, content_hash, index_hash) = (u(0), u(8), u(16), u(24));
    if index_len > (f.len() - HEADER_LEN - TRAILER_LEN) as u64 {
        return Err("index length".into());
    }
    let end = f.len() - TRAILER_LEN;
    let index_range = end - index_len as usize..end;
    if xxh3_64(&f[index_range.clone()]) != index_hash {
        return Err("index hash".into());
    }
    let index = ref_parse_index_version(&f[index_range.clone()], chunk_size, version)?;
    if index.segments.iter().map(|s| s.1).sum::<u64>() != original_len {
        return Err("segments do not add up".into());
    }
    let total: u64 = index
        .chunks
        .iter()
        .flat_map(|c| &c.streams)
        .map(|s| s.comp_len as u64)
        .sum();
    if total != (index_range.start - HEADER_LEN) as u64 {
        return Err("chunk map does not cover the data".into());
    }
    let mut h = xxhash_rust::xxh3::Xxh3::new();
    for c in &index.chunks {
        h.update(&c.checksum.to_le_bytes());
    }
    if h.digest() != content_hash {
        return Err("content hash".into());
    }
    Ok(RefFile {
        chunk_size,
        original_len,
        index,
        index_range,
    })
}

/// Decodes one Huffman stream of `n` symbols (FORMAT.md, "Huffman streams"), bit by bit.
pub fn ref_huffman(
    payload: &[u8],
    sub_lens: &[u32],
    n: usize,
    sub: usize,
) -> Result<Vec<u8>, String> {
    ref_huffman_bits(payload, sub_lens, n, sub).map(|(out, _)| out)
}

/// [`ref_huffman`], also returning the bits each sub-stream's codes take.
pub fn ref_huffman_bits(
    payload: &[u8],
    sub_lens: &[u32],
    n: usize,
    sub: usize,
) -> Result<(Vec<u8>, Vec<usize>), String> {
    let lens = ref_table(payload)?;
    let (first, last) = (payload[0] as usize, payload[1] as usize);
    let tsize = 2 + (last - first + 1).div_ceil(2);
    // Canonical codes: sorted by (length, symbol).
    let mut order: Vec<(u8, usize)> = (0..256)
        .filter(|&s| lens[s] > 0)
        .map(|s| (lens[s], s))
        .collect();
    order.sort();
    let mut codes: Vec<(u32, u8, u8)> = Vec::new(); // (code, len, symbol)
    let (mut code, mut prev_len) = (0u32, 0u8);
    for (i, &(l, s)) in order.iter().enumerate() {
        if i > 0 {
            code = (code + 1) << (l - prev_len);
        }
        prev_len = l;
        codes.push((code, l, s as u8));
    }
    // lookup[len][code] = symbol + 1 (0: no such code).
    let mut lookup = vec![[0u16; 2048]; 12];
    for &(c, l, s) in &codes {
        lookup[l as usize][c as usize] = s as u16 + 1;
    }
    let total: u64 = sub_lens.iter().map(|&l| l as u64).sum();
    if tsize as u64 + total != payload.len() as u64 {
        return Err("huffman sizes".into());
    }
    let mut out = Vec::with_capacity(n);
    let mut used = Vec::with_capacity(sub_lens.len());
    let mut at = tsize;
    for (k, &sl) in sub_lens.iter().enumerate() {
        let bytes = &payload[at..at + sl as usize];
        at += sl as usize;
        let want = sub.min(n - k * sub);
        let mut bit = 0usize;
        for _ in 0..want {
            let (mut c, mut l) = (0u32, 0u8);
            loop {
                if bit >= bytes.len() * 8 {
                    return Err("sub-stream runs past its end".into());
                }
                c = c << 1 | ((bytes[bit / 8] >> (7 - bit % 8)) & 1) as u32;
                l += 1;
                bit += 1;
                if l > 11 {
                    return Err("no code".into());
                }
                let s = lookup[l as usize][c as usize];
                if s > 0 {
                    out.push((s - 1) as u8);
                    break;
                }
            }
        }
        if bit.div_ceil(8) != bytes.len() {
            return Err("sub-stream has bytes left over".into());
        }
        used.push(bit);
    }
    Ok((out, used))
}

/// Decodes one pair stream of `n` elements taking `k` bits (FORMAT.md, "Pair streams"), bit by
/// bit: the bytes of this stream and of the next one.
pub fn ref_pair(
    payload: &[u8],
    k: u8,
    sub_lens: &[u32],
    n: usize,
    sub: usize,
) -> Result<(Vec<u8>, Vec<u8>), String> {
    ref_pair_bits(payload, k, sub_lens, n, sub).map(|(a, b, _, _)| (a, b))
}

/// A decoded pair stream: its two streams, the table size and the bits each sub-stream takes.
pub type RefPair = (Vec<u8>, Vec<u8>, usize, Vec<usize>);

/// [`ref_pair`], also returning the table size and the bits each sub-stream takes.
pub fn ref_pair_bits(
    payload: &[u8],
    k: u8,
    sub_lens: &[u32],
    n: usize,
    sub: usize,
) -> Result<RefPair, String> {
    let alphabet = 1usize << (8 + k);
    if payload.len() < 4 {
        return Err("pair table header".into());
    }
    let first = u16::from_le_bytes([payload[0], payload[1]]) as usize;
    let last = u16::from_le_bytes([payload[2], payload[3]]) as usize;
    if first >= last || last >= alphabet {
        return Err("pair table range".into());
    }
    let tsize = 4 + (last - first + 1).div_ceil(2);
    if payload.len() < tsize {
        return Err("pair table".into());
    }
    let mut lens = vec![0u8; alphabet];
    for j in 0..=last - first {
        let b = payload[4 + j / 2];
        lens[first + j] = if j % 2 == 0 { b & 15 } else { b >> 4 };
    }
    if (last - first + 1) % 2 == 1 && payload[tsize - 1] >> 4 != 0 {
        return Err("pair table padding".into());
    }
    if lens[first] == 0 || lens[last] == 0 || lens.iter().any(|&l| l > 12) {
        return Err("pair table lengths".into());
    }
    let kraft: u64 = lens
        .iter()
        .filter(|&&l| l > 0)
        .map(|&l| 1u64 << (12 - l))
        .sum();
    if kraft != 4096 || lens.iter().filter(|&&l| l > 0).count() < 2 {
        return Err("incomplete pair code".into());
    }
    let mut order: Vec<(u8, usize)> = (0..alphabet)
        .filter(|&s| lens[s] > 0)
        .map(|s| (lens[s], s))
        .collect();
    order.sort();
    // (length, code) -> symbol
    let mut lookup = std::collections::HashMap::new();
    let (mut code, mut prev_len) = (0u32, 0u8);
    for (i, &(l, s)) in order.iter().enumerate() {
        if i > 0 {
            code = (code + 1) << (l - prev_len);
        }
        prev_len = l;
        lookup.insert((l, code), s);
    }
    let total: u64 = sub_lens.iter().map(|&l| l as u64).sum();
    if tsize as u64 + total != payload.len() as u64 {
        return Err("pair sizes".into());
    }
    let (mut a, mut b) = (Vec::with_capacity(n), Vec::with_capacity(n));
    let mut used = Vec::with_capacity(sub_lens.len());
    let mut at = tsize;
    let raw = 8 - k as u32;
    for (j, &sl) in sub_lens.iter().enumerate() {
        let bytes = &payload[at..at + sl as usize];
        at += sl as usize;
        let mut bit = 0usize;
        let next = |bit: &mut usize| -> Result<u32, String> {
            if *bit >= bytes.len() * 8 {
                return Err("pair sub-stream runs past its end".into());
            }
            let v = (bytes[*bit / 8] >> (7 - *bit % 8)) & 1;
            *bit += 1;
            Ok(v as u32)
        };
        for _ in 0..sub.min(n - j * sub) {
            let (mut c, mut l) = (0u32, 0u8);
            let x = loop {
                c = c << 1 | next(&mut bit)?;
                l += 1;
                if l > 12 {
                    return Err("no pair code".into());
                }
                if let Some(&x) = lookup.get(&(l, c)) {
                    break x;
                }
            };
            let mut r = 0u32;
            for _ in 0..raw {
                r = r << 1 | next(&mut bit)?;
            }
            a.push((x >> k) as u8);
            b.push((((x as u32) & ((1 << k) - 1)) << raw | r) as u8);
        }
        if bit.div_ceil(8) != bytes.len() {
            return Err("pair sub-stream has bytes left over".into());
        }
        used.push(bit);
    }
    Ok((a, b, tsize, used))
}

/// rANS probabilities: `PROB_BITS = 12`, `M = 4096` (FORMAT.md, "rANS streams").
pub(crate) const RANS_M: u32 = 4096;
/// The low end of the rANS state's range, `2^16`; words are 16 bits.
pub(crate) const RANS_L: u32 = 1 << 16;

/// A rANS table (FORMAT.md, "rANS streams"): the frequency of every byte, and the table's size.
/// Checks `first < last`, every `freq < 4096`, `freq[first] > 0`, `freq[last] > 0` and
/// `Σ freq = 4096`.
pub fn ref_rans_table(payload: &[u8]) -> Result<([u32; 256], usize), String> {
    if payload.len() < 2 || payload[0] >= payload[1] {
        return Err("rans table header".into());
    }
    let (first, last) = (payload[0] as usize, payload[1] as usize);
    let mut r = Rd { b: payload, p: 2 };
    let mut freq = [0u32; 256];
    for f in &mut freq[first..=last] {
        *f = r.varint().map_err(|e| format!("rans table: {e}"))?;
        if *f >= RANS_M {
            return Err("rans frequency too large".into());
        }
    }
    if freq[first] == 0 || freq[last] == 0 {
        return Err("rans table ends absent".into());
    }
    if freq.iter().map(|&f| f as u64).sum::<u64>() != RANS_M as u64 {
        return Err("rans frequencies do not sum to 4096".into());
    }
    Ok((freq, r.p))
}

/// Decodes one rANS stream of `n` symbols (FORMAT.md, "rANS streams"), following the spec's
/// steps one symbol at a time.
pub fn ref_rans(payload: &[u8], sub_lens: &[u32], n: usize, sub: usize) -> Result<Vec<u8>, String> {
    let (freq, tsize) = ref_rans_table(payload)?;
    // cum[s] = Σ_{t<s} freq[t]; sym[slot] = the s with cum[s] ≤ slot < cum[s] + freq[s].
    let mut cum = [0u32; 256];
    let mut sym = vec![0u8; RANS_M as usize];
    let mut c = 0u32;
    for s in 0..256 {
        cum[s] = c;
        for slot in c..c + freq[s] {
            sym[slot as usize] = s as u8;
        }
        c += freq[s];
    }
    if sub_lens.len() != n.div_ceil(sub) {
        return Err("rans sub-stream count".into());
    }
    let total: u64 = sub_lens.iter().map(|&l| l as u64).sum();
    if tsize as u64 + total != payload.len() as u64 {
        return Err("rans sizes".into());
    }
    let mut out = Vec::with_capacity(n);
    let mut at = tsize;
    for (k, &sl) in sub_lens.iter().enumerate() {
        let bytes = &payload[at..at + sl as usize];
        at += sl as usize;
        if sl % 2 != 0 || sl < 4 {
            return Err("rans sub-stream length".into());
        }
        let mut x = u32::from_le_bytes(bytes[..4].try_into().unwrap());
        if x < RANS_L {
            return Err("rans state out of range".into());
        }
        let words: Vec<u16> = bytes[4..]
            .chunks_exact(2)
            .map(|w| u16::from_le_bytes([w[0], w[1]]))
            .collect();
        let mut next = 0usize;
        for _ in 0..sub.min(n - k * sub) {
            // 1. The slot and its symbol.
            let slot = x % RANS_M;
            let s = sym[slot as usize] as usize;
            out.push(s as u8);
            // 2. The state before the symbol was coded.
            x = freq[s] * (x / RANS_M) + slot - cum[s];
            // 3. Renormalise with the next word.
            if x < RANS_L {
                let w = *words.get(next).ok_or("rans sub-stream runs past its end")?;
                next += 1;
                x = x * RANS_L + w as u32;
            }
        }
        if x != RANS_L {
            return Err("rans final state".into());
        }
        if next != words.len() {
            return Err("rans sub-stream has words left over".into());
        }
    }
    Ok(out)
}

/// Code lengths of a Huffman table; checks it is complete with ≥ 2 symbols.
pub fn ref_table(payload: &[u8]) -> Result<[u8; 256], String> {
    if payload.len() < 2 || payload[0] > payload[1] {
        return Err("table header".into());
    }
    let (first, last) = (payload[0] as usize, payload[1] as usize);
    let tsize = 2 + (last - first + 1).div_ceil(2);
    if payload.len() < tsize {
        return Err("table".into());
    }
    let mut lens = [0u8; 256];
    for k in 0..=last - first {
        let b = payload[2 + k / 2];
        lens[first + k] = if k % 2 == 0 { b & 15 } else { b >> 4 };
    }
    let kraft: u64 = lens
        .iter()
        .filter(|&&l| l > 0)
        .map(|&l| {
            if l > 11 {
                u64::MAX / 512
            } else {
                1u64 << (11 - l)
            }
        })
        .sum();
    if kraft != 2048 || lens.iter().filter(|&&l| l > 0).count() < 2 {
        return Err("incomplete or invalid code".into());
    }
    Ok(lens)
}

/// Merges streams into elements per FORMAT.md's layout table.
#[allow(clippy::needless_range_loop)]
pub fn ref_merge(layout: u8, streams: &[Vec<u8>], n: usize) -> Vec<u8> {
    let es = elem_size(layout);
    let mut out = Vec::with_capacity(n * es);
    for i in 0..n {
        let w: u64 = match layout {
            0 => streams[0][i] as u64,
            1 => {
                let (e, m) = (streams[0][i] as u64, streams[1][i] as u64);
                (m >> 7) << 15 | e << 7 | (m & 0x7F)
            }
            2 => (streams[0][i] as u64) << 8 | streams[1][i] as u64,
            3 => {
                let (e, sm) = (streams[0][i] as u64, streams[1][i] as u64);
                (sm >> 7) << 31
                    | e << 23
                    | (sm & 0x7F) << 16
                    | (streams[2][i] as u64) << 8
                    | streams[3][i] as u64
            }
            _ => (0..es).fold(0u64, |w, j| {
                w | (streams[j][i] as u64) << (8 * (es - 1 - j))
            }),
        };
        out.extend_from_slice(&w.to_le_bytes()[..es]);
    }
    out
}

/// Splits elements into streams per FORMAT.md's layout table.
pub fn ref_split(layout: u8, src: &[u8]) -> Vec<Vec<u8>> {
    let es = elem_size(layout);
    let mut s = vec![Vec::with_capacity(src.len() / es); es];
    for c in src.chunks_exact(es) {
        let mut wb = [0u8; 8];
        wb[..es].copy_from_slice(c);
        let w = u64::from_le_bytes(wb);
        match layout {
            1 => {
                s[0].push((w >> 7) as u8);
                s[1].push(((w >> 15) << 7 | (w & 0x7F)) as u8);
            }
            3 => {
                s[0].push((w >> 23) as u8);
                s[1].push(((w >> 31) << 7 | (w >> 16) & 0x7F) as u8);
                s[2].push((w >> 8) as u8);
                s[3].push(w as u8);
            }
            _ => {
                for (j, sj) in s.iter_mut().enumerate() {
                    sj.push((w >> (8 * (es - 1 - j))) as u8);
                }
            }
        }
    }
    s
}

/// A whole independent decoder: parse, decode every stream, merge, verify checksums.
pub fn ref_decode(f: &[u8]) -> Result<Vec<u8>, String> {
    ref_decode_with_base(f, None)
}

/// [`ref_decode`] of a file that may be a delta against `base` (FORMAT.md, "Deltas").
pub fn ref_decode_with_base(f: &[u8], base: Option<&[u8]>) -> Result<Vec<u8>, String> {
    let r = ref_parse(f)?;
    if let Some((len, hash)) = r.index.base {
        let b = base.ok_or("delta without a base")?;
        if b.len() as u64 != len || xxh3_64(b) != hash {
            return Err("wrong base".into());
        }
    }
    let mut out = Vec::new();
    let mut at = HEADER_LEN;
    for c in &r.index.chunks {
        let mut streams = Vec::new();
        // The second stream of the last pair stream decoded, for the paired stream after it.
        let mut paired = Vec::new();
        for s in &c.streams {
            let p = &f[at..at + s.comp_len as usize];
            at += s.comp_len as usize;
            streams.push(match s.codec {
                0 => p.to_vec(),
                1 => vec![s.value; c.n],
                2 => ref_huffman(p, &s.sub_lens, c.n, r.index.sub_symbols as usize)?,
                3 => {
                    let d = zstd::stream::decode_all(p).map_err(|e| e.to_string())?;
                    if d.len() != c.n {
                        return Err("zstd length".into());
                    }
                    d
                }
                4 => {
                    let sub = r.index.sub_symbols as usize;
                    let (a, b) = ref_pair(p, s.bits, &s.sub_lens, c.n, sub)?;
                    paired = b;
                    a
                }
                5 => std::mem::take(&mut paired),
                6 => ref_rans(p, &s.sub_lens, c.n, r.index.sub_symbols as usize)?,
                _ => unreachable!(),
            });
        }
        let mut merged = ref_merge(c.layout, &streams, c.n);
        if let Some(at) = c.base_at {
            let b = &base.unwrap()[at as usize..at as usize + c.orig_len];
            merged.iter_mut().zip(b).for_each(|(m, x)| *m ^= x);
        }
        if xxh3_64(&merged) != c.checksum {
            return Err("chunk checksum".into());
        }
        out.extend_from_slice(&merged);
    }
    Ok(out)
}

/// The padding bits of every Huffman and pair sub-stream of a valid file: (file offset of the
/// sub-stream's last byte, mask of its padding bits). FORMAT.md says they are zero, but nothing (no
/// checksum) covers them: flipping them leaves the decoded output unchanged.
pub fn huffman_padding(f: &[u8]) -> std::collections::HashMap<usize, u8> {
    let r = ref_parse(f).unwrap();
    let mut pad = std::collections::HashMap::new();
    let mut at = HEADER_LEN;
    for c in &r.index.chunks {
        for s in &c.streams {
            if s.codec == 2 || s.codec == 4 {
                let p = &f[at..at + s.comp_len as usize];
                let sub = r.index.sub_symbols as usize;
                let (tsize, used) = if s.codec == 2 {
                    let (_, used) = ref_huffman_bits(p, &s.sub_lens, c.n, sub).unwrap();
                    let (first, last) = (p[0] as usize, p[1] as usize);
                    (2 + (last - first + 1).div_ceil(2), used)
                } else {
                    let (_, _, t, used) = ref_pair_bits(p, s.bits, &s.sub_lens, c.n, sub).unwrap();
                    (t, used)
                };
                let mut sub_at = at + tsize;
                for (&len, &bits) in s.sub_lens.iter().zip(&used) {
                    sub_at += len as usize;
                    if bits % 8 != 0 {
                        pad.insert(sub_at - 1, (1u8 << (8 - bits % 8)) - 1);
                    }
                }
            }
            at += s.comp_len as usize;
        }
    }
    pad
}

/// Rebuilds a file around `index` (index hash and content hash recomputed from it): for forging
/// files whose hashes are right but whose contents lie.
pub fn reseal(
    f: &[u8],
    index_range: std::ops::Range<usize>,
    index: &[u8],
    original_len: u64,
) -> Vec<u8> {
    let mut out = f[..index_range.start].to_vec();
    out.extend_from_slice(index);
    let mut h = xxhash_rust::xxh3::Xxh3::new();
    // Checksums: reparse what we can; when the forged index does not parse, keep the old content
    // hash (the index is then invalid anyway).
    let (cs, version) = (
        u32::from_le_bytes(f[12..16].try_into().unwrap()),
        u16::from_le_bytes([f[8], f[9]]),
    );
    let content = match ref_parse_index_version(index, cs, version) {
        Ok(ix) => {
            for c in &ix.chunks {
                h.update(&c.checksum.to_le_bytes());
            }
            h.digest()
        }
        Err(_) => u64::from_le_bytes(f[f.len() - 24..f.len() - 16].try_into().unwrap()),
    };
    out.extend_from_slice(&(index.len() as u64).to_le_bytes());
    out.extend_from_slice(&original_len.to_le_bytes());
    out.extend_from_slice(&content.to_le_bytes());
    out.extend_from_slice(&xxh3_64(index).to_le_bytes());
    out.extend_from_slice(&END_MAGIC);
    out
}
