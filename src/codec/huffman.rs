//! Codec 2, huffman: canonical, length-limited Huffman codes in independent sub-streams of
//! `sub_symbols` symbols (FORMAT.md, "Huffman streams"). The coding itself is in
//! [`crate::huffman`]; this module is its place in the chunk map and the chunk decoder.

#![forbid(unsafe_code)]

use super::{Coding, DecodeCtx};
use crate::constants::{DECODE_PADDING, MULTI_TABLE_MIN_SYMBOLS};
use crate::error::{Error, Result};
use crate::format::{put_varint, WireReader};
use crate::huffman::decode::{decode_substreams, DecodeTables};
use crate::huffman::{code_lengths, encoded_bits, CodeTable};

/// Largest table: `first`, `last` and 128 bytes of nibbles for 256 symbols.
const MAX_TABLE_BYTES: u64 = 2 + 128;
/// Smallest table: `first`, `last` and one byte of nibbles.
const MIN_TABLE_BYTES: u64 = 3;

/// `sub_len:varint` × `ceil(n / sub_symbols)`, appended to `sub_lens`; the lengths must leave room
/// for a table (3 ..= 130 bytes) in `comp_len`.
pub fn read_fields(
    r: &mut WireReader,
    n: usize,
    sub_symbols: usize,
    comp_len: u32,
    sub_lens: &mut Vec<u32>,
) -> Result<Coding> {
    let table = (MIN_TABLE_BYTES, MAX_TABLE_BYTES);
    let sub_start = super::read_sub_lens(
        "huffman",
        r,
        n,
        sub_symbols,
        comp_len,
        table,
        sub_lens,
        |_| Ok(()),
    )?;
    Ok(Coding::Huffman { sub_start })
}

pub fn write_fields(subs: &[u32], b: &mut Vec<u8>) {
    for &l in subs {
        put_varint(b, l);
    }
}

/// Payload size of Huffman coding a stream of `n` symbols with histogram `hist` (an upper bound:
/// each sub-stream pads at most one byte), and the code lengths it would use.
pub fn estimate(hist: &[u64; 256], n: usize, sub_symbols: usize) -> (u64, [u8; 256]) {
    let lens = code_lengths(hist);
    let len = CodeTable::serialized_len(&lens) as u64
        + encoded_bits(hist, &lens).div_ceil(8)
        + n.div_ceil(sub_symbols) as u64;
    (len, lens)
}

/// Appends the table and sub-streams of `s` coded with `lens`; returns the sub-stream lengths.
pub fn encode(s: &[u8], lens: &[u8; 256], sub_symbols: usize, out: &mut Vec<u8>) -> Vec<u32> {
    let mut subs = Vec::with_capacity(s.len().div_ceil(sub_symbols));
    crate::huffman::encode::encode(s, lens, sub_symbols, out, &mut subs);
    subs
}

/// Parses the table at the start of `body` (a stream's payload) and checks that its size plus the
/// sub-stream lengths is the payload length. Returns the code and the table size.
pub fn table(body: &[u8], subs: &[u32]) -> Result<(CodeTable, usize)> {
    let (t, size) = CodeTable::parse(body)?;
    let total: u64 = subs.iter().map(|&l| l as u64).sum();
    if size as u64 + total != body.len() as u64 {
        return Err(Error::corrupt(
            "huffman table size does not match the stream",
        ));
    }
    Ok((t, size))
}

/// Decodes a stream whose payload is `payload[..comp_len]` into `buf` (`ctx.n` symbols). Bytes of
/// `payload` after the stream (up to [`DECODE_PADDING`]) let the fast loop use whole-word loads;
/// they are read, never decoded.
pub fn decode(
    ctx: &DecodeCtx,
    payload: &[u8],
    comp_len: usize,
    subs: &[u32],
    tables: &mut DecodeTables,
    buf: &mut Vec<u8>,
) -> Result<()> {
    let (code, tsize) = table(&payload[..comp_len], subs)?;
    tables.build(&code.lens, ctx.n >= MULTI_TABLE_MIN_SYMBOLS);
    buf.resize(ctx.n, 0);
    let end = (comp_len + DECODE_PADDING).min(payload.len());
    decode_substreams(&payload[..end], tsize, subs, ctx.sub_symbols, tables, buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx(n: usize) -> DecodeCtx<'static> {
        DecodeCtx {
            n,
            sub_symbols: 256,
            earlier: &[],
        }
    }

    #[test]
    fn encode_decode_and_field_checks() {
        let s: Vec<u8> = (0..3000u32).map(|i| (120 + (i * i) % 7) as u8).collect();
        let mut hist = [0u64; 256];
        s.iter().for_each(|&b| hist[b as usize] += 1);
        let (est, lens) = estimate(&hist, s.len(), 256);
        let mut payload = Vec::new();
        let subs = encode(&s, &lens, 256, &mut payload);
        assert_eq!(subs.len(), 12);
        assert!(payload.len() as u64 <= est);
        let mut f = Vec::new();
        write_fields(&subs, &mut f);
        let mut got = Vec::new();
        let c = read_fields(
            &mut WireReader::new(&f),
            s.len(),
            256,
            payload.len() as u32,
            &mut got,
        )
        .unwrap();
        assert_eq!((c, &got), (Coding::Huffman { sub_start: 0 }, &subs));
        // A payload length that leaves no room for a table, or too much.
        let total: usize = subs.iter().map(|&l| l as usize).sum();
        for bad in [total + 2, total + 131] {
            let r = read_fields(&mut WireReader::new(&f), s.len(), 256, bad as u32, &mut got);
            assert!(r.is_err(), "{bad}");
        }
        let (mut tables, mut buf) = (DecodeTables::default(), Vec::new());
        payload.extend_from_slice(&[0; DECODE_PADDING]);
        let len = payload.len() - DECODE_PADDING;
        decode(&ctx(s.len()), &payload, len, &subs, &mut tables, &mut buf).unwrap();
        assert_eq!(buf, s);
    }
}
