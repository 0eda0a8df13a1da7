//! The rANS part of the reference decoder checked against the spec's own encoder (FORMAT.md,
//! "rANS streams", the informative encoder): hand-built streams and whole version 4 files, round
//! trips and each corruption the spec names. Kept apart from `reference.rs`, which only decodes.

use super::reference::*;
use super::{END_MAGIC, MAGIC};
use xxhash_rust::xxh3::xxh3_64;

/// The informative rANS encoder of FORMAT.md ("rANS streams") over one sub-stream: the
/// sub-stream's bytes (`state` then the words).
fn ref_rans_encode_sub(freq: &[u32; 256], symbols: &[u8]) -> Vec<u8> {
    let mut cum = [0u32; 256];
    for s in 1..256 {
        cum[s] = cum[s - 1] + freq[s - 1];
    }
    let mut x = RANS_L;
    let mut emitted = Vec::new();
    for &s in symbols.iter().rev() {
        let (f, c) = (freq[s as usize], cum[s as usize]);
        if x >= f << 20 {
            emitted.push((x % RANS_L) as u16);
            x /= RANS_L;
        }
        x = (x / f) * RANS_M + x % f + c;
    }
    let mut out = x.to_le_bytes().to_vec();
    for w in emitted.iter().rev() {
        out.extend_from_slice(&w.to_le_bytes());
    }
    out
}

/// A rANS payload for `symbols` (the table then the sub-streams of `sub` symbols each) and its
/// `sub_len`s, from the informative encoder. Every symbol must have a non-zero frequency.
fn ref_rans_encode(first: u8, freqs: &[u32], symbols: &[u8], sub: usize) -> (Vec<u8>, Vec<u32>) {
    let mut freq = [0u32; 256];
    freq[first as usize..first as usize + freqs.len()].copy_from_slice(freqs);
    let mut payload = vec![first, first + (freqs.len() - 1) as u8];
    for &f in freqs {
        push_varint(&mut payload, f);
    }
    let mut sub_lens = Vec::new();
    for part in symbols.chunks(sub) {
        let s = ref_rans_encode_sub(&freq, part);
        sub_lens.push(s.len() as u32);
        payload.extend_from_slice(&s);
    }
    (payload, sub_lens)
}

/// Checks the reference rANS decoder against the spec's informative encoder: a few hundred
/// symbols under two tables decode back, and a state below `2^16`, a dropped word, an extra word,
/// an odd or short `sub_len` and bad tables are errors. Returns what failed.
pub fn reference_rans_selftest() -> Result<(), String> {
    let sub = 256;
    // A table with an absent symbol inside first..=last (5), a skewed one (0.95 for one byte),
    // and one of a near single symbol (4095 of 4096), whose sub-streams may hold no word at all.
    let tables: [(u8, &[u32]); 3] = [
        (3, &[1000, 2000, 0, 96, 700, 300]),
        (0, &[3900, 195, 1]),
        (254, &[4095, 1]),
    ];
    let mut seed = 0x9E37_79B9_7F4A_7C15u64;
    let mut corrupted = 0;
    for (first, freqs) in tables {
        // Symbols drawn with the table's probabilities (a uniform slot mapped to its symbol).
        let mut symbols = Vec::new();
        for _ in 0..700 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let mut slot = (seed >> 20) as u32 % RANS_M;
            let mut j = 0;
            while slot >= freqs[j] {
                slot -= freqs[j];
                j += 1;
            }
            symbols.push(first + j as u8);
        }
        // Both ends present, so that the streams use the whole table.
        symbols[10] = first;
        symbols[20] = first + (freqs.len() - 1) as u8;
        let n = symbols.len();
        let (payload, sub_lens) = ref_rans_encode(first, freqs, &symbols, sub);
        let got = ref_rans(&payload, &sub_lens, n, sub)?;
        if got != symbols {
            return Err(format!("rans round trip of table at {first} differs"));
        }
        let (_, tsize) = ref_rans_table(&payload)?;
        let s0 = tsize..tsize + sub_lens[0] as usize;
        if sub_lens[0] < 6 {
            // No word to drop.
            continue;
        }
        corrupted += 1;
        let must_fail = |what: &str, p: &[u8], lens: &[u32]| match ref_rans(p, lens, n, sub) {
            Ok(_) => Err(format!("rans self-test: {what} (table at {first}) decodes")),
            Err(_) => Ok(()),
        };
        // The state below 2^16.
        let mut p = payload.clone();
        p[s0.start + 2..s0.start + 4].copy_from_slice(&[0, 0]);
        must_fail("a state below 2^16", &p, &sub_lens)?;
        // The last word of sub-stream 0 dropped, and its first one.
        let mut lens = sub_lens.clone();
        lens[0] -= 2;
        let mut p = payload.clone();
        p.drain(s0.end - 2..s0.end);
        must_fail("a dropped last word", &p, &lens)?;
        let mut p = payload.clone();
        p.drain(s0.start + 4..s0.start + 6);
        must_fail("a dropped first word", &p, &lens)?;
        // An extra word after sub-stream 0, and after the last sub-stream.
        let mut lens = sub_lens.clone();
        lens[0] += 2;
        let mut p = payload.clone();
        p.splice(s0.end..s0.end, [0, 0]);
        must_fail("an extra word", &p, &lens)?;
        let mut lens = sub_lens.clone();
        *lens.last_mut().unwrap() += 2;
        let mut p = payload.clone();
        p.extend_from_slice(&[0x34, 0x12]);
        must_fail("an extra last word", &p, &lens)?;
        // An odd sub_len (one stray byte), and a sub_len below 4.
        let mut lens = sub_lens.clone();
        lens[0] += 1;
        let mut p = payload.clone();
        p.insert(s0.end, 0);
        must_fail("an odd sub_len", &p, &lens)?;
        let mut lens = sub_lens.clone();
        let rest = lens[0] - 2;
        lens[0] = 2;
        lens[1] += rest;
        must_fail("a sub_len of 2", &payload, &lens)?;
        // A payload longer than the table and the sub-streams.
        let mut p = payload.clone();
        p.push(0);
        must_fail("a trailing byte", &p, &sub_lens)?;
    }
    if corrupted < 2 {
        return Err("rans self-test: too few sub-streams with words".into());
    }
    // Bad tables: first = last, first > last, an absent first or last symbol, a frequency of
    // 4096, a sum below 4096, a varint past the payload, a varint of 6 bytes, one of 2^32.
    let bad: [&[u8]; 9] = [
        &[5, 5, 0x80, 0x20],
        &[6, 5, 0x80, 0x10, 0x80, 0x10],
        &[5, 7, 0x00, 0x80, 0x10, 0x80, 0x10],
        &[5, 7, 0x80, 0x10, 0x80, 0x10, 0x00],
        &[5, 6, 0x80, 0x20, 0x00],
        &[5, 6, 0x80, 0x10, 0xFF, 0x0F],
        &[5, 6, 0x80, 0x10, 0x80],
        &[5, 6, 0x80, 0x90, 0x80, 0x80, 0x80, 0x00, 0x80, 0x10],
        &[5, 6, 0x80, 0x80, 0x80, 0x80, 0x10, 0x80, 0x10],
    ];
    for t in bad {
        if ref_rans_table(t).is_ok() {
            return Err(format!("rans self-test: bad table {t:02x?} accepted"));
        }
    }
    // The smallest valid table: two symbols of 2048.
    ref_rans_file_selftest()?;
    let (freq, tsize) = ref_rans_table(&[5, 6, 0x80, 0x10, 0x80, 0x10])?;
    if tsize != 6 || freq[5] != 2048 || freq[6] != 2048 || freq.iter().sum::<u32>() != 4096 {
        return Err("rans self-test: two-symbol table".into());
    }
    Ok(())
}

fn push_varint(out: &mut Vec<u8>, mut v: u32) {
    while v >= 0x80 {
        out.push(v as u8 | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// A whole file of `version` from FORMAT.md: one byte-layout segment of one chunk whose one
/// stream is the rANS `payload`; `base_record` (versions 2 and 4) and, for a delta,
/// `base_offset`.
fn ref_rans_file(
    version: u16,
    original: &[u8],
    payload: &[u8],
    sub_lens: &[u32],
    base_record: (u64, u64),
    base_offset: Option<u64>,
) -> Vec<u8> {
    let mut f = MAGIC.to_vec();
    f.extend_from_slice(&version.to_le_bytes());
    f.extend_from_slice(&[0, 0]);
    f.extend_from_slice(&4096u32.to_le_bytes());
    f.extend_from_slice(payload);
    let mut ix = Vec::new();
    ix.extend_from_slice(&1u32.to_le_bytes());
    ix.extend_from_slice(&256u32.to_le_bytes());
    if version == 2 || version == 4 {
        ix.extend_from_slice(&base_record.0.to_le_bytes());
        ix.extend_from_slice(&base_record.1.to_le_bytes());
    }
    if version >= 3 {
        ix.extend_from_slice(&0u32.to_le_bytes());
    }
    ix.extend_from_slice(&[0, base_offset.is_some() as u8, 0, 0]);
    ix.extend_from_slice(&(original.len() as u64).to_le_bytes());
    if let Some(off) = base_offset {
        ix.extend_from_slice(&off.to_le_bytes());
    }
    let checksum = xxh3_64(original);
    ix.extend_from_slice(&checksum.to_le_bytes());
    ix.push(6);
    push_varint(&mut ix, payload.len() as u32);
    for &l in sub_lens {
        push_varint(&mut ix, l);
    }
    f.extend_from_slice(&ix);
    f.extend_from_slice(&(ix.len() as u64).to_le_bytes());
    f.extend_from_slice(&(original.len() as u64).to_le_bytes());
    f.extend_from_slice(&xxh3_64(&checksum.to_le_bytes()).to_le_bytes());
    f.extend_from_slice(&xxh3_64(&ix).to_le_bytes());
    f.extend_from_slice(&END_MAGIC);
    f
}

/// Version 4 files around a rANS stream: a standalone one (zero `base_record`) decodes without a
/// base and fails as version 3; one naming a base needs it; a delta needs a non-zero
/// `base_record`.
fn ref_rans_file_selftest() -> Result<(), String> {
    let stream: Vec<u8> = (0..700u32).map(|i| b'b' + (i * i % 7 % 3) as u8).collect();
    let (payload, sub_lens) = ref_rans_encode(b'b', &[1000, 2000, 1096], &stream, 256);
    let fail = |what: &str, r: Result<Vec<u8>, String>| match r {
        Ok(_) => Err(format!("rans file self-test: {what} decodes")),
        Err(_) => Ok(()),
    };
    // Standalone, version 4 with a zero base_record.
    let f = ref_rans_file(4, &stream, &payload, &sub_lens, (0, 0), None);
    if ref_decode(&f)? != stream {
        return Err("rans file self-test: standalone file differs".into());
    }
    // The same bytes read as versions 1, 3 (no base_record) and 5.
    for v in [1, 3, 5] {
        let mut g = f.clone();
        g[8..10].copy_from_slice(&u16::to_le_bytes(v));
        fail(&format!("version {v}"), ref_decode(&g))?;
    }
    // Well-formed files of versions 1 to 3 with codec 6.
    for v in 1..=3 {
        let g = ref_rans_file(v, &stream, &payload, &sub_lens, (0, 0), None);
        fail(&format!("codec 6 in version {v}"), ref_decode(&g))?;
    }
    // A non-zero base_record names a base, which the reader must be given.
    let base: Vec<u8> = (0..1000u32).map(|i| (i * 37) as u8).collect();
    let rec = (base.len() as u64, xxh3_64(&base));
    let f = ref_rans_file(4, &stream, &payload, &sub_lens, rec, None);
    fail("a named base not given", ref_decode(&f))?;
    fail("a wrong base", ref_decode_with_base(&f, Some(&base[1..])))?;
    if ref_decode_with_base(&f, Some(&base))? != stream {
        return Err("rans file self-test: file with a base differs".into());
    }
    // A delta: the stream is the XOR of the original with the base from offset 300.
    let original: Vec<u8> = stream
        .iter()
        .zip(&base[300..])
        .map(|(s, b)| s ^ b)
        .collect();
    let f = ref_rans_file(4, &original, &payload, &sub_lens, rec, Some(300));
    if ref_decode_with_base(&f, Some(&base))? != original {
        return Err("rans file self-test: delta differs".into());
    }
    let f = ref_rans_file(4, &original, &payload, &sub_lens, rec, Some(301));
    fail(
        "a delta past the base",
        ref_decode_with_base(&f, Some(&base)),
    )?;
    let f = ref_rans_file(4, &original, &payload, &sub_lens, (0, 0), Some(300));
    fail("a delta without a base_record", ref_decode(&f))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn rans_selftest() {
        super::reference_rans_selftest().unwrap();
    }
}
