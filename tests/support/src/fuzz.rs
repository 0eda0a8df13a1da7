//! The bodies of the fuzz targets, with no libFuzzer dependency: `fuzz_targets/*.rs` call them on
//! libFuzzer's input, and `tests/fuzz_regressions.rs` (main crate, stable toolchain) replays the
//! seed corpus and every saved crash through exactly the same code.
//!
//! Each function takes arbitrary bytes and panics only when the library breaks a promise: a panic
//! inside the library on hostile input, or an oracle failure (two decoders that disagree, a
//! round trip that changes bytes, a parsed index that does not serialise back to its bytes).
//! Inputs are carved with [`Bytes`], which yields zeros once the input is exhausted, so every input
//! is a valid recipe.
#![allow(dead_code)]

use std::io::Cursor;
use xxhash_rust::xxh3::{xxh3_64, Xxh3};
use znn_gpu::chunk::{decode_chunk, DecodeScratch};
use znn_gpu::codec::huffman::table as huffman_table;
use znn_gpu::codec::CodecSet;
use znn_gpu::constants::MIN_CHUNK_SIZE;
use znn_gpu::engine::Engine;
use znn_gpu::format::{Codec, Coding, Header, Index, HEADER_LEN, TRAILER_LEN};
use znn_gpu::huffman::decode::{decode_substreams, DecodeTables};
use znn_gpu::huffman::encode::encode;
use znn_gpu::huffman::{code_lengths, CodeTable};
use znn_gpu::{compress_bytes, compress_stream, decompress_bytes, decompress_stream};
use znn_gpu::{Archive, CompressOptions, Layout, Reader, ReaderOptions};

/// A target's body: panics only on a broken promise of the library.
pub type Target = fn(&[u8]);

/// The targets, by name: `fuzz/fuzz_targets/<name>.rs` and `fuzz/seeds/<name>/`.
pub const TARGETS: [(&str, Target); 7] = [
    ("archive_parse", archive_parse),
    ("huffman_decode", huffman_decode),
    ("pair_decode", pair_decode),
    ("chunk_decode", chunk_decode),
    ("decompress", decompress),
    ("roundtrip", roundtrip),
    ("no_output_leak", no_output_leak),
];

/// Largest original length a forged file may declare for the whole-file decoders: a few bytes of
/// const-chunk index legitimately describe gigabytes (a valid decompression bomb), whose decoding
/// is slow, not wrong; callers that care check `Trailer::original_len` first.
pub const MAX_DECLARED_OUTPUT: u64 = 8 << 20;

/// Cursor over fuzz input; reads past the end give zeros.
pub struct Bytes<'a> {
    d: &'a [u8],
    pos: usize,
}

impl<'a> Bytes<'a> {
    pub fn new(d: &'a [u8]) -> Self {
        Bytes { d, pos: 0 }
    }
    pub fn u8(&mut self) -> u8 {
        let b = self.d.get(self.pos).copied().unwrap_or(0);
        self.pos += 1;
        b
    }
    pub fn u16(&mut self) -> u16 {
        u16::from_le_bytes([self.u8(), self.u8()])
    }
    pub fn u32(&mut self) -> u32 {
        u32::from_le_bytes([self.u8(), self.u8(), self.u8(), self.u8()])
    }
    pub fn u64(&mut self) -> u64 {
        self.u32() as u64 | (self.u32() as u64) << 32
    }
    /// Up to `n` bytes (fewer at the end of the input).
    pub fn take(&mut self, n: usize) -> &'a [u8] {
        let s = self.pos.min(self.d.len());
        let e = s.saturating_add(n).min(self.d.len());
        self.pos = self.pos.saturating_add(n);
        &self.d[s..e]
    }
    pub fn rest(&mut self) -> &'a [u8] {
        self.take(usize::MAX)
    }
}

/// A valid chunk size from one byte: multiples of 8 from the minimum, plus a few larger ones.
fn chunk_size(b: u8) -> u32 {
    match b % 8 {
        0 => 8192,
        1 => 32768,
        // BF16 chunks of 32 Ki elements: streams long enough for the multi-symbol decode table.
        2 => 65536,
        _ => MIN_CHUNK_SIZE + 8 * (b as u32 / 8),
    }
}

/// A valid sub-stream size (power of two, 256..=65536) from one byte.
fn sub_symbols(b: u8) -> u32 {
    256 << (b % 9)
}

/// xorshift64: generated data is a function of the input only.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// `n` bytes drawn from `alphabet` with geometric skew (symbol `i` about twice as likely as
/// `i + 1`): streams that Huffman codes well, from a short input.
fn skewed(alphabet: &[u8], n: usize, seed: u64) -> Vec<u8> {
    let alphabet = if alphabet.is_empty() {
        &[0u8, 1][..]
    } else {
        alphabet
    };
    let mut rng = Rng(seed | 1);
    (0..n)
        .map(|_| alphabet[(rng.next().trailing_zeros() as usize) % alphabet.len()])
        .collect()
}

// ---------------------------------------------------------------------------------------------
// archive_parse
// ---------------------------------------------------------------------------------------------

/// Mode byte, then: even mode, a whole `.znn` file for `Archive::from_bytes` and `Archive::read`
/// (which must agree); odd mode, `chunk_size` byte, `original_len` u64, `data_len` u64 and the bytes
/// of an index for `Index::parse`.
pub fn archive_parse(data: &[u8]) {
    let mut r = Bytes::new(data);
    if r.u8() & 1 == 0 {
        let file = r.rest();
        let a = Archive::from_bytes(file);
        let b = Archive::read(&file);
        match (&a, &b) {
            (Ok(a), Ok(b)) => {
                assert_eq!(a.header, b.header);
                assert_eq!(a.trailer, b.trailer);
                assert_eq!(a.index, b.index);
                let end = file.len() - TRAILER_LEN;
                let index = &file[end - a.trailer.index_len as usize..end];
                check_index(&a.index, index, a.data_len());
            }
            (Err(_), Err(_)) => {}
            _ => panic!(
                "from_bytes and read disagree: {:?} vs {:?}",
                a.as_ref().err(),
                b.as_ref().err()
            ),
        }
    } else {
        let cs = chunk_size(r.u8());
        let (original_len, data_len) = (r.u64(), r.u64());
        let index = r.rest();
        if let Ok(idx) = Index::parse(index, cs, original_len, data_len) {
            check_index(&idx, index, data_len);
        }
    }
}

/// Invariants of a parsed index that every decoder relies on.
fn check_index(idx: &Index, bytes: &[u8], data_len: u64) {
    assert_eq!(
        idx.to_bytes(),
        bytes,
        "index does not serialise back to its bytes"
    );
    let (mut orig, mut data) = (0u64, 0u64);
    for (si, seg) in idx.segments().iter().enumerate() {
        assert_eq!(seg.offset, orig);
        let chunks = &idx.chunks()[seg.first_chunk..seg.first_chunk + seg.chunk_count];
        for c in chunks {
            assert_eq!(c.segment as usize, si);
            assert_eq!(c.orig_offset, orig);
            assert_eq!(c.data_offset, data);
            assert!(c.orig_len > 0 && c.orig_len <= idx.chunk_size());
            let n = c.orig_len as usize / seg.layout.elem_size();
            assert_eq!(n * seg.layout.elem_size(), c.orig_len as usize);
            let mut off = c.data_offset;
            for s in idx.chunk_streams(c) {
                assert_eq!(s.data_offset, off);
                off += s.comp_len as u64;
                match s.coding {
                    Coding::Raw => assert_eq!(s.comp_len as usize, n),
                    Coding::Const { .. } => assert_eq!(s.comp_len, 0),
                    Coding::Huffman { .. } | Coding::Rans { .. } => {
                        let subs = idx.stream_sub_lens(s, n);
                        let total: u64 = subs.iter().map(|&l| l as u64).sum();
                        assert!(total < s.comp_len as u64);
                    }
                    Coding::Zstd => {}
                }
            }
            assert_eq!(off, c.data_offset + c.data_len);
            orig += c.orig_len as u64;
            data += c.data_len;
        }
        assert_eq!(orig, seg.offset + seg.len);
    }
    assert_eq!(orig, idx.original_len());
    assert_eq!(data, data_len);
    assert_eq!(idx.data_len(), data_len);
    let wins = idx.windows(1 << 20);
    assert_eq!(
        wins.iter().map(|w| w.len()).sum::<usize>(),
        idx.chunks().len()
    );
    assert_eq!(idx.covering(0, idx.original_len()), 0..idx.chunks().len());
}

// ---------------------------------------------------------------------------------------------
// huffman_decode
// ---------------------------------------------------------------------------------------------

/// Decodes with a fresh single-symbol table and a fresh multi-symbol one; both must give the same
/// result (the fast loop may read past a sub-stream's end, the exact tail may not, and yet both must
/// reject the same streams).
fn decode_both(
    buf: &[u8],
    tsize: usize,
    lens: &[u8; 256],
    subs: &[u32],
    sub: usize,
    n: usize,
) -> Option<Vec<u8>> {
    let mut results = Vec::new();
    for multi in [false, true] {
        let mut t = DecodeTables::default();
        t.build(lens, multi);
        let mut out = vec![0u8; n];
        let r = decode_substreams(buf, tsize, subs, sub, &t, &mut out);
        results.push(r.ok().map(|_| out));
    }
    assert_eq!(
        results[0], results[1],
        "single- and multi-symbol decoders disagree"
    );
    results.pop().unwrap()
}

/// Mode byte, sub-stream size byte, K byte, element count, then either a forged pair table and
/// payload split evenly into sub-streams (even mode), or two streams made from an alphabet (the
/// second one's bytes from the first's) that are pair coded and then possibly damaged (odd mode).
/// The decoder must give an error or, undamaged, the streams back; never panic.
pub fn pair_decode(data: &[u8]) {
    use znn_gpu::codec::pair;
    use znn_gpu::codec::pair_decode::{Word, WordTable};
    let mut r = Bytes::new(data);
    let mode = r.u8();
    let sub = sub_symbols(r.u8()) as usize;
    let bits = r.u8() % 6;
    let n = (r.u16() as usize % 16384 + 1) * if mode & 2 != 0 { 4 } else { 1 };
    let (mut t, mut a, mut b) = (WordTable::default(), Vec::new(), Vec::new());
    if mode & 1 == 0 {
        let buf = r.rest();
        let Ok((_, tsize)) = pair::PairTable::parse(buf, bits) else {
            return;
        };
        let count = n.div_ceil(sub);
        let body = buf.len() - tsize;
        let mut subs = vec![(body / count) as u32; count];
        subs[count - 1] += (body % count) as u32;
        let _ = pair::decode(n, sub, buf, buf.len(), bits, &subs, &mut t, &mut a, &mut b);
        return;
    }
    if !(pair::MIN_PAIR_BITS..=pair::MAX_PAIR_BITS).contains(&bits) {
        return;
    }
    let (damage, at, seed) = (r.u8(), r.u32(), r.u64());
    let sa = skewed(r.rest(), n, seed);
    let sb: Vec<u8> = sa
        .iter()
        .enumerate()
        .map(|(i, &x)| x.wrapping_mul(37) ^ (i as u8 & 0x0F))
        .collect();
    let h = pair::histogram(&sa, &sb);
    let Some(p) = pair::plan(&h, n, sub, &[bits]) else {
        return;
    };
    let mut buf = Vec::new();
    let mut subs = pair::encode(&sa, &sb, &p, sub, &mut buf);
    assert!(
        buf.len() as u64 <= p.size,
        "pair size estimate is an upper bound"
    );
    let damaged = damage_huffman(damage, at, &mut buf, &mut subs);
    let len = buf.len();
    if mode & 4 != 0 {
        buf.extend_from_slice(&[0; 8]);
    }
    let got = pair::decode(n, sub, &buf, len, bits, &subs, &mut t, &mut a, &mut b);
    if !damaged {
        assert!(got.is_ok(), "pair round trip: {got:?}");
        assert!(a == sa && b == sb, "pair round trip");
    }
    // The FP32 form (the top half of 4-byte elements, other bytes untouched) agrees with the
    // split form, error for error.
    let mut out = vec![0x5A; 4 * n];
    let words = pair::decode_into::<4, 2>(
        n,
        sub,
        &buf,
        len,
        bits,
        &subs,
        Word::Float,
        &mut t,
        &mut out,
    );
    assert_eq!(
        words.is_ok(),
        got.is_ok(),
        "word and split decoders disagree"
    );
    if words.is_ok() {
        for (i, o) in out.chunks_exact(4).enumerate() {
            let top = znn_gpu::layout::float_top(a[i], b[i]).to_le_bytes();
            assert!(
                o[..2] == [0x5A, 0x5A] && o[2..] == top,
                "FP32 pair word {i}"
            );
        }
    }
}

/// Mode byte, sub-stream size byte, then either a forged table, element count, sub-stream lengths
/// and payload (even mode), or an alphabet whose skewed stream is encoded and then possibly damaged
/// (odd mode).
pub fn huffman_decode(data: &[u8]) {
    let mut r = Bytes::new(data);
    let mode = r.u8();
    let sub = sub_symbols(r.u8()) as usize;
    if mode & 1 == 0 {
        let n = r.u16() as usize % 16384 + 1;
        let count = n.div_ceil(sub);
        let even = mode & 2 != 0;
        let mut subs: Vec<u32> = (0..if even { 0 } else { count })
            .map(|_| {
                r.u8() as u32
                    | if mode & 4 != 0 {
                        (r.u8() as u32) << 8
                    } else {
                        0
                    }
            })
            .collect();
        let buf = r.rest();
        let Ok((table, tsize)) = CodeTable::parse(buf) else {
            return;
        };
        let body = buf.len() - tsize;
        if even {
            subs = vec![(body / count) as u32; count];
            subs[count - 1] += (body % count) as u32;
        }
        let total: usize = subs.iter().map(|&l| l as usize).sum();
        if total > body {
            return;
        }
        assert!(huffman_table(&buf[..tsize + total], &subs).is_ok());
        decode_both(buf, tsize, &table.lens, &subs, sub, n);
    } else {
        // The fast loop needs four sub-streams of 20+ symbols: a few thousand symbols reach it.
        let n = (r.u16() as usize % 16384 + 1) * if mode & 2 != 0 { 4 } else { 1 };
        let (damage, at, seed) = (r.u8(), r.u32(), r.u64());
        let src = skewed(r.rest(), n, seed);
        let mut hist = [0u64; 256];
        src.iter().for_each(|&b| hist[b as usize] += 1);
        if hist.iter().filter(|&&c| c > 0).count() < 2 {
            return;
        }
        let lens = code_lengths(&hist);
        let (mut buf, mut subs) = (Vec::new(), Vec::new());
        encode(&src, &lens, sub, &mut buf, &mut subs);
        let damaged = damage_huffman(damage, at, &mut buf, &mut subs);
        if mode & 4 != 0 {
            buf.extend_from_slice(&[0; 8]);
        }
        let Ok((table, tsize)) = CodeTable::parse(&buf) else {
            assert!(damaged, "encoder wrote a table its parser rejects");
            return;
        };
        let got = decode_both(&buf, tsize, &table.lens, &subs, sub, n);
        if !damaged {
            assert_eq!(got.as_deref(), Some(&src[..]), "huffman round trip");
        }
    }
}

/// Damages an encoded Huffman stream (`buf`: table and sub-streams) as `kind` says; true when
/// something changed. Sub-stream lengths stay within `buf` so the decoder's caller contract holds.
fn damage_huffman(kind: u8, at: u32, buf: &mut [u8], subs: &mut [u32]) -> bool {
    let bits = buf.len() * 8;
    match kind % 8 {
        0 => buf[at as usize % bits / 8] ^= 1 << (at % 8),
        1 => buf[at as usize % buf.len()] = (at >> 8) as u8,
        2 if subs.len() > 1 => {
            // Moves one byte between two sub-streams: total length unchanged.
            let (i, j) = (at as usize % subs.len(), (at >> 16) as usize % subs.len());
            if i == j || subs[i] == 0 {
                return false;
            }
            subs[i] -= 1;
            subs[j] += 1;
        }
        3 => {
            let i = at as usize % subs.len();
            if subs[i] == 0 {
                return false;
            }
            subs[i] -= 1;
        }
        _ => return false,
    }
    true
}

// ---------------------------------------------------------------------------------------------
// chunk_decode
// ---------------------------------------------------------------------------------------------

/// Writes a canonical varint (FORMAT.md, "Index").
fn put_varint(b: &mut Vec<u8>, mut v: u32) {
    while v >= 0x80 {
        b.push(v as u8 | 0x80);
        v >>= 7;
    }
    b.push(v as u8);
}

/// One stream of a forged chunk: its index record and payload, and whether it decodes to `plain`.
fn forge_stream(
    r: &mut Bytes,
    plain: &[u8],
    sub: usize,
    rec: &mut Vec<u8>,
    payload: &mut Vec<u8>,
) -> bool {
    let n = plain.len();
    let kind = r.u8();
    let start = payload.len();
    let (codec, mut valid, mut sub_lens) = match kind % 4 {
        0 => {
            payload.extend_from_slice(plain);
            (Codec::Raw, true, Vec::new())
        }
        1 => {
            let v = plain[0];
            rec.push(Codec::Const as u8);
            put_varint(rec, if kind & 0x80 != 0 { r.u8() as u32 } else { 0 });
            rec.push(v);
            return kind & 0x80 == 0 && plain.iter().all(|&b| b == v);
        }
        2 => {
            let mut hist = [0u64; 256];
            plain.iter().for_each(|&b| hist[b as usize] += 1);
            let mut subs = Vec::new();
            let valid = if kind & 0x40 == 0 && hist.iter().filter(|&&c| c > 0).count() >= 2 {
                encode(plain, &code_lengths(&hist), sub, payload, &mut subs);
                let (damage, at) = (r.u8(), r.u32());
                !damage_huffman(damage, at, &mut payload[start..], &mut subs)
            } else {
                // A forged table and sub-streams: lengths are input bytes, bodies input bytes.
                let tlen = 2 + r.u8() as usize % 130;
                let t = r.take(tlen);
                payload.extend_from_slice(t);
                for _ in 0..n.div_ceil(sub) {
                    let l = r.u8() as usize;
                    subs.push(l as u32);
                    let body = r.take(l);
                    payload.extend_from_slice(body);
                    payload.resize(payload.len() + l - body.len(), 0);
                }
                false
            };
            (Codec::Huffman, valid, subs)
        }
        _ => {
            if kind & 0x40 == 0 {
                let z = zstd::bulk::compress(plain, (kind >> 2 & 7) as i32).expect("zstd");
                payload.extend_from_slice(&z);
                let (damage, at) = (r.u8(), r.u32());
                let valid = damage % 8 >= 2;
                if !valid {
                    let i = start + at as usize % z.len();
                    payload[i] ^= (at >> 8) as u8 | 1;
                }
                (Codec::Zstd, valid, Vec::new())
            } else {
                let l = r.u8() as usize;
                payload.extend_from_slice(r.take(l));
                (Codec::Zstd, false, Vec::new())
            }
        }
    };
    let mut comp_len = (payload.len() - start) as u32;
    if kind & 0x20 != 0 {
        // A forged length: the parser or the decoder must notice.
        comp_len = comp_len.wrapping_add(r.u8() as u32).wrapping_sub(128);
        valid = false;
    }
    if kind & 0x10 != 0 && !sub_lens.is_empty() {
        let i = r.u8() as usize % sub_lens.len();
        sub_lens[i] = sub_lens[i].wrapping_add(r.u8() as u32);
        valid = false;
    }
    rec.push(codec as u8);
    put_varint(rec, comp_len);
    for &l in &sub_lens {
        put_varint(rec, l);
    }
    valid
}

/// Layout, chunk and sub-stream sizes, element count and a data alphabet, then per stream a codec
/// recipe: a one-segment index and payload are forged around streams that are valid, damaged or
/// invented, parsed with `Index::parse`, and decoded by the engine (padded payload, parallel)
/// and `decode_chunk` (exact payload, one scratch). Both must agree; all-valid chunks must decode
/// to the data they were made from.
pub fn chunk_decode(data: &[u8]) {
    let mut r = Bytes::new(data);
    let layout = Layout::ALL[r.u8() as usize % Layout::ALL.len()];
    let cs = chunk_size(r.u8());
    let sub = sub_symbols(r.u8()) as usize;
    let es = layout.elem_size();
    let elems = 1 + (r.u32() as u64 % (2 * cs as u64 / es as u64));
    let seg_len = elems * es as u64;
    let seed = r.u64();
    let alen = 1 + r.u8() as usize % 16;
    let mut alphabet = r.take(alen).to_vec();
    if alphabet.is_empty() {
        alphabet.push(0);
    }
    let mut index = Vec::new();
    index.extend_from_slice(&1u32.to_le_bytes());
    index.extend_from_slice(&(sub as u32).to_le_bytes());
    index.extend_from_slice(&[layout.id(), 0, 0, 0]);
    index.extend_from_slice(&seg_len.to_le_bytes());
    let (mut payload, mut expected, mut all_valid) = (Vec::new(), Vec::new(), Vec::new());
    let mut streams = vec![Vec::new(); es];
    for k in 0..seg_len.div_ceil(cs as u64) {
        let len = (seg_len - k * cs as u64).min(cs as u64) as usize;
        let n = len / es;
        let mut plain = Vec::new();
        for (j, s) in streams.iter_mut().enumerate() {
            *s = if r.u8() & 1 == 0 {
                vec![alphabet[j % alphabet.len()]; n]
            } else {
                skewed(&alphabet, n, seed ^ (k << 8 | j as u64))
            };
        }
        let refs: Vec<&[u8]> = streams.iter().map(|s| s.as_slice()).collect();
        plain.resize(len, 0);
        layout.merge(&refs, &mut plain);
        index.extend_from_slice(&xxh3_64(&plain).to_le_bytes());
        let mut valid = true;
        for s in &streams {
            valid &= forge_stream(&mut r, s, sub, &mut index, &mut payload);
        }
        expected.extend_from_slice(&plain);
        all_valid.push(valid);
    }
    let Ok(idx) = Index::parse(&index, cs, seg_len, payload.len() as u64) else {
        return;
    };
    let mut padded = payload.clone();
    padded.extend_from_slice(&[0; 8]);
    let mut out = vec![0u8; seg_len as usize];
    let all = 0..idx.chunks().len();
    let par = Engine::over_data(&idx, &padded).and_then(|e| e.decode(all, &mut out));
    let mut scratch = DecodeScratch::default();
    let mut one = vec![0u8; seg_len as usize];
    for (ci, c) in idx.chunks().iter().enumerate() {
        let (o, d) = (c.orig_offset as usize, c.data_offset as usize);
        let exact = &payload[d..d + c.data_len as usize];
        let dst = &mut one[o..o + c.orig_len as usize];
        let res = decode_chunk(&idx, ci, exact, &mut scratch, None, dst);
        if all_valid[ci] {
            assert!(res.is_ok(), "valid chunk {ci} rejected: {:?}", res.err());
        }
        if res.is_ok() {
            assert_eq!(dst, &expected[o..o + c.orig_len as usize]);
        }
    }
    match par {
        Ok(()) => assert_eq!(out, expected),
        Err(_) => assert!(
            all_valid.iter().any(|v| !v),
            "valid chunks rejected by the engine"
        ),
    }
}

// ---------------------------------------------------------------------------------------------
// decompress
// ---------------------------------------------------------------------------------------------

/// Recomputes the index hash and, when the index parses, the content hash of a `.znn` file in
/// place, so that damage behind the hashes reaches the decoders. Returns the declared original
/// length when the header and trailer are plausible.
pub fn fix_hashes(f: &mut [u8]) -> Option<u64> {
    if f.len() < HEADER_LEN + TRAILER_LEN {
        return None;
    }
    let header = Header::parse(f).ok()?;
    let tl = f.len() - TRAILER_LEN;
    let u = |f: &[u8], i: usize| u64::from_le_bytes(f[i..i + 8].try_into().unwrap());
    let (index_len, original_len) = (u(f, tl), u(f, tl + 8));
    if index_len > (tl - HEADER_LEN) as u64 {
        return Some(original_len);
    }
    let is = tl - index_len as usize;
    let ih = xxh3_64(&f[is..tl]);
    f[tl + 24..tl + 32].copy_from_slice(&ih.to_le_bytes());
    let data_len = (is - HEADER_LEN) as u64;
    if let Ok(idx) = Index::parse(&f[is..tl], header.chunk_size, original_len, data_len) {
        let mut h = Xxh3::new();
        idx.chunks()
            .iter()
            .for_each(|c| h.update(&c.checksum.to_le_bytes()));
        f[tl + 16..tl + 24].copy_from_slice(&h.digest().to_le_bytes());
    }
    Some(original_len)
}

/// A `.znn` file, hashes fixed up: `decompress_bytes` and `decompress_stream` must agree.
pub fn decompress(data: &[u8]) {
    let mut f = data.to_vec();
    if fix_hashes(&mut f).is_some_and(|l| l > MAX_DECLARED_OUTPUT) {
        return;
    }
    let whole = decompress_bytes(&f);
    let mut out = Vec::new();
    let streamed = decompress_stream(&mut Cursor::new(&f), &mut out, &mut |_| {});
    match (whole, streamed) {
        (Ok(w), Ok(_)) => assert!(w == out, "decompress_bytes and decompress_stream differ"),
        (Err(_), Err(_)) => {}
        (w, s) => panic!("decoders disagree: {:?} vs {:?}", w.err(), s.err()),
    }
}

// ---------------------------------------------------------------------------------------------
// roundtrip
// ---------------------------------------------------------------------------------------------

const DTYPES: [&str; 12] = [
    "BF16", "F16", "F32", "F64", "I32", "U32", "I64", "U8", "BOOL", "F8_E4M3", "I16", "X",
];

/// A safetensors file around `body`: tensors carved from recipe bytes, with gaps, overlaps, odd
/// lengths, out-of-range offsets and metadata as the recipe says.
fn safetensors_around(r: &mut Bytes, body: &[u8]) -> Vec<u8> {
    let count = r.u8() % 6;
    let mut json = String::from("{");
    if count & 1 != 0 {
        json.push_str(r#""__metadata__":{"format":"pt"},"#);
    }
    let mut pos = 0u64;
    let blen = body.len() as u64;
    for t in 0..count {
        let dtype = DTYPES[r.u8() as usize % DTYPES.len()];
        let shape = r.u16() as u64 % (blen + 1);
        let (s, e) = match r.u8() % 4 {
            // Back to back, then a gap, then arbitrary (overlapping or out of range) offsets.
            0 | 1 => (pos, (pos + shape).min(blen)),
            2 => (pos + r.u8() as u64, pos + r.u8() as u64 + shape),
            _ => (r.u16() as u64, r.u16() as u64),
        };
        pos = e.max(pos);
        json.push_str(&format!(
            r#""t{t}":{{"dtype":"{dtype}","shape":[{shape}],"data_offsets":[{s},{e}]}},"#
        ));
    }
    if json.ends_with(',') {
        json.pop();
    }
    json.push('}');
    let pad = r.u8() % 8;
    json.push_str(&" ".repeat(pad as usize));
    let mut f = (json.len() as u64).to_le_bytes().to_vec();
    f.extend_from_slice(json.as_bytes());
    f.extend_from_slice(body);
    f
}

/// Layout and codec set, chunk size and sub-stream size from three recipe bytes.
fn recipe_opts(r: &mut Bytes) -> CompressOptions {
    let l = r.u8() as usize;
    CompressOptions {
        dtype: Layout::ALL[l % Layout::ALL.len()],
        chunk_size: chunk_size(r.u8()),
        sub_symbols: sub_symbols(r.u8()),
        base: None,
        codecs: [
            CodecSet::Fast,
            CodecSet::Balanced,
            CodecSet::Small,
            CodecSet::Smallest,
        ][l / 8 % 4],
    }
}

/// Flags, layout, chunk size, sub-stream size, then the data: used as is, grown into a long skewed
/// stream from its bytes, or wrapped in a safetensors header. `compress_bytes` then
/// `decompress_bytes` must give the data back, and `compress_stream` the same file.
pub fn roundtrip(data: &[u8]) {
    let mut r = Bytes::new(data);
    let flags = r.u8();
    let opts = recipe_opts(&mut r);
    let input = match flags % 4 {
        1 => {
            let (len, seed) = (r.u16() as usize * 4, r.u64());
            skewed(r.rest(), len, seed)
        }
        2 => {
            let mut recipe = Bytes::new(r.take(32));
            safetensors_around(&mut recipe, r.rest())
        }
        _ => r.rest().to_vec(),
    };
    let z = compress_bytes(&input, &opts).expect("compress_bytes");
    let back = decompress_bytes(&z).expect("decompress_bytes of a fresh file");
    assert!(back == input, "round trip changed the bytes");
    if flags & 4 != 0 {
        let mut streamed = Vec::new();
        let len = input.len() as u64;
        compress_stream(
            &mut Cursor::new(&input),
            len,
            &mut streamed,
            &opts,
            &mut |_| {},
        )
        .expect("compress_stream");
        assert!(streamed == z, "compress_stream and compress_bytes differ");
    }
}

// ---------------------------------------------------------------------------------------------
// no_output_leak
// ---------------------------------------------------------------------------------------------

/// Decodes `f` (whole) with the engine into `out` pre-filled with `fill`.
fn engine_into(a: &Archive, f: &[u8], fill: u8) -> znn_gpu::Result<Vec<u8>> {
    let mut out = vec![fill; a.original_len() as usize];
    let all = 0..a.index.chunks().len();
    Engine::new(a, &f, None)?.decode(all, &mut out)?;
    Ok(out)
}

/// Reads `[s, e)` with a reader's `decode_into` into a buffer pre-filled with `fill`, and with
/// `read_at` (through its cache).
fn reader_into(r: &Reader, s: u64, e: u64, fill: u8) -> znn_gpu::Result<(Vec<u8>, Vec<u8>)> {
    let mut out = vec![fill; (e - s) as usize];
    r.decode_into(s, &mut out)?;
    let mut via_cache = vec![fill; (e - s) as usize];
    let n = r.read_at(s, &mut via_cache)?;
    assert_eq!(
        n as u64,
        e - s,
        "read_at returns the whole in-range request"
    );
    Ok((out, via_cache))
}

/// lz4_flex's no-output-leak check: output must not depend on what the buffer held before. A
/// recipe byte picks the input: a fresh `.znn` of the data (as in `roundtrip`), or the data itself
/// as a `.znn` with its hashes fixed (hostile). The CPU engine and the reader decode into buffers
/// pre-filled with 0xFF and with 0x00 (whole file and a sub-range): both must fail, or both give the
/// same bytes (for a fresh file, the original).
pub fn no_output_leak(data: &[u8]) {
    let mut r = Bytes::new(data);
    let flags = r.u8();
    let (cut_a, cut_b) = (r.u16() as u64, r.u16() as u64);
    let (f, orig) = if flags & 1 == 0 {
        let opts = recipe_opts(&mut r);
        let input = match flags % 4 {
            2 => {
                let (len, seed) = (r.u16() as usize * 4, r.u64());
                skewed(r.rest(), len, seed)
            }
            _ => r.rest().to_vec(),
        };
        (
            compress_bytes(&input, &opts).expect("compress_bytes"),
            Some(input),
        )
    } else {
        let mut f = r.rest().to_vec();
        if fix_hashes(&mut f).is_none_or(|l| l > MAX_DECLARED_OUTPUT) {
            return;
        }
        (f, None)
    };
    let Ok(a) = Archive::from_bytes(&f) else {
        assert!(orig.is_none(), "a fresh file must parse");
        return;
    };
    match (engine_into(&a, &f, 0xFF), engine_into(&a, &f, 0x00)) {
        (Ok(x), Ok(y)) => {
            assert!(x == y, "engine output depends on the buffer's old contents");
            if let Some(o) = &orig {
                assert!(x == *o, "engine output differs from the original");
            }
        }
        (Err(_), Err(_)) => assert!(orig.is_none(), "a fresh file must decode"),
        (x, y) => panic!("fills disagree: {:?} vs {:?}", x.err(), y.err()),
    }
    let len = a.original_len();
    let opts = ReaderOptions {
        // Smaller than one chunk: every read goes through eviction.
        cache_bytes: Some(4096),
        ..Default::default()
    };
    let rd = Reader::from_bytes(f.clone(), &opts).expect("the archive parsed above");
    let (s, e) = {
        let (x, y) = (cut_a % (len + 1), cut_b % (len + 1));
        (x.min(y), x.max(y))
    };
    for (s, e) in [(0, len), (s, e)] {
        match (reader_into(&rd, s, e, 0xFF), reader_into(&rd, s, e, 0x00)) {
            (Ok(x), Ok(y)) => {
                assert!(x == y, "reader output depends on the buffer's old contents");
                assert!(x.0 == x.1, "decode_into and read_at differ");
                if let Some(o) = &orig {
                    assert!(
                        x.0 == o[s as usize..e as usize],
                        "reader differs from the original"
                    );
                }
            }
            (Err(_), Err(_)) => assert!(orig.is_none(), "a fresh file must read"),
            (x, y) => panic!("fills disagree: {:?} vs {:?}", x.err(), y.err()),
        }
    }
}
