//! The random-access `Reader`: any range from any number of threads equals the full decode, across
//! chunk and window boundaries, with and without a base, with a cache smaller than a window (and
//! than a chunk); damaged chunks fail every read that touches them and no other.

use znn_test_support as common;

use common::*;
use std::sync::Arc;
use znn_gpu::{
    compress_bytes, decompress_bytes, Archive, Base, CompressOptions, Error, Reader, ReaderOptions,
};

/// A ~6 MB safetensors model: BF16 and FP32 tensors of several sizes, one odd-length U8 tensor.
fn model(seed: u64) -> Vec<u8> {
    let mut rng = Rng::new(seed);
    let bf16 = |rng: &mut Rng, n: usize| -> Vec<u8> {
        (0..n)
            .flat_map(|_| half::bf16::from_f64(rng.normal(0.02)).to_le_bytes())
            .collect()
    };
    let f32s = |rng: &mut Rng, n: usize| -> Vec<u8> {
        (0..n)
            .flat_map(|_| (rng.normal(0.1) as f32).to_le_bytes())
            .collect()
    };
    safetensors(
        &[
            tensor("embed", "BF16", &[1024, 1024], bf16(&mut rng, 1 << 20)),
            tensor("proj", "F32", &[300, 1000], f32s(&mut rng, 300_000)),
            tensor("mask", "U8", &[777], rng.bytes(777)),
            tensor("head", "BF16", &[512, 1000], bf16(&mut rng, 512_000)),
            tensor("bias", "F32", &[64], f32s(&mut rng, 64)),
        ],
        Some(&[("format", "pt"), ("note", "reader test")]),
        true,
    )
}

fn small_chunks() -> CompressOptions {
    CompressOptions {
        chunk_size: 65536,
        ..Default::default()
    }
}

/// Ranges at and around every chunk and window boundary, plus random ones of every size.
fn ranges(a: &Archive, rng: &mut Rng, random: usize) -> Vec<(u64, u64)> {
    let len = a.original_len();
    let mut v = vec![(0, len), (0, 0), (len, len), (len - 1, len), (0, 1)];
    for c in a.index.chunks() {
        let b = c.orig_offset;
        v.extend([
            (b.saturating_sub(1), (b + 1).min(len)),
            (b, (b + 4096).min(len)),
        ]);
    }
    for w in a.index.windows(znn_gpu::constants::WINDOW_BYTES) {
        let b = a.index.span(w).orig.start;
        v.push((b.saturating_sub(70_000), (b + 70_000).min(len)));
    }
    for _ in 0..random {
        let s = rng.below(len);
        let n = match rng.below(4) {
            0 => rng.below(16),
            1 => rng.below(70_000),
            2 => rng.below(1 << 20),
            _ => rng.below(4 << 20),
        };
        v.push((s, (s + n).min(len)));
    }
    v
}

/// 8 threads, each reading its share of `ranges` with `read_at` and `decode_into`.
fn check_from_threads(r: &Reader, full: &[u8], ranges: &[(u64, u64)]) {
    std::thread::scope(|s| {
        for t in 0..8 {
            s.spawn(move || {
                for (i, &(a, b)) in ranges.iter().enumerate().filter(|(i, _)| i % 8 == t) {
                    let want = &full[a as usize..b as usize];
                    let mut got = vec![0xA5u8; want.len()];
                    let n = r.read_at(a, &mut got).unwrap();
                    assert_eq!(n, want.len(), "read_at {a}..{b}");
                    assert_same(&got, want, &format!("thread {t} read_at #{i} {a}..{b}"));
                    let mut got = vec![0x5Au8; want.len()];
                    r.decode_into(a, &mut got).unwrap();
                    assert_same(&got, want, &format!("thread {t} decode_into #{i} {a}..{b}"));
                }
            });
        }
    });
}

#[test]
fn random_ranges_from_eight_threads_equal_the_full_decode() {
    let orig = model(1);
    let z = compress_bytes(&orig, &small_chunks()).unwrap();
    let full = decompress_bytes(&z).unwrap();
    assert_same(&full, &orig, "full decode");
    let a = Archive::from_bytes(&z).unwrap();
    assert!(a.index.windows(znn_gpu::constants::WINDOW_BYTES).len() >= 2);
    let rs = ranges(&a, &mut Rng::new(2), 300);
    // Caches larger than the file, smaller than one window, smaller than one chunk.
    for cache in [64 << 20, 1 << 20, 10_000] {
        let opts = ReaderOptions {
            cache_bytes: Some(cache),
            ..Default::default()
        };
        let r = Reader::from_bytes(z.clone(), &opts).unwrap();
        check_from_threads(&r, &full, &rs);
        // Sequential 1 MiB reads (read-ahead runs) and reads past the end.
        let mut at = 0;
        let mut buf = vec![0u8; 1 << 20];
        while at < full.len() as u64 {
            let n = r.read_at(at, &mut buf).unwrap();
            assert_same(&buf[..n], &full[at as usize..at as usize + n], "sequential");
            at += n as u64;
        }
        assert_eq!(r.read_at(at, &mut buf).unwrap(), 0);
        assert_eq!(r.read_at(u64::MAX, &mut buf).unwrap(), 0);
    }
}

#[test]
fn a_file_on_disk_reads_the_same_and_keeps_its_metadata() {
    let orig = model(3);
    let z = compress_bytes(&orig, &small_chunks()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("m.safetensors.znn");
    std::fs::write(&p, &z).unwrap();
    let r = Reader::open(&p, &Default::default()).unwrap();
    assert_eq!(r.len(), orig.len() as u64);
    let a = Archive::from_bytes(&z).unwrap();
    check_from_threads(&r, &orig, &ranges(&a, &mut Rng::new(4), 60));
    let h = r.tensors().unwrap().expect("safetensors");
    let names: Vec<&str> = h.tensors.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["embed", "proj", "mask", "head", "bias"]);
    let meta = h.metadata.as_ref().expect("__metadata__ kept");
    assert_eq!(meta.get("note").map(String::as_str), Some("reader test"));
}

#[test]
fn deltas_read_with_their_base_and_fail_clearly_without() {
    let base = model(5);
    let mut new = base.clone();
    // Change every 97th byte of the first tensor's data, and all of the last tensor's.
    let h = znn_gpu::safetensors::parse(&new, new.len() as u64).unwrap();
    let (e, b) = (&h.tensors[0], &h.tensors[4]);
    for i in (e.start..e.end).step_by(97) {
        new[i as usize] ^= 1;
    }
    for i in b.start..b.end {
        new[i as usize] = new[i as usize].wrapping_add(3);
    }
    let based = Arc::new(Base::from_bytes(base.clone()));
    let opts = CompressOptions {
        base: Some(based.clone()),
        ..small_chunks()
    };
    let z = compress_bytes(&new, &opts).unwrap();
    let a = Archive::from_bytes(&z).unwrap();
    assert!(a.index.base().is_some(), "a delta");
    let with = ReaderOptions {
        base: Some(based),
        cache_bytes: Some(300_000),
        ..Default::default()
    };
    let r = Reader::from_bytes(z.clone(), &with).unwrap();
    check_from_threads(&r, &new, &ranges(&a, &mut Rng::new(6), 200));
    // Without the base: the header and other standalone chunks read, delta chunks say why not.
    let r = Reader::from_bytes(z.clone(), &Default::default()).unwrap();
    assert!(r.tensors().unwrap().is_some());
    let err = r.read_range(e.start, e.end).unwrap_err();
    assert!(matches!(err, Error::NeedsBase(_)), "{err}");
    // The wrong base is refused when the reader opens.
    let wrong = ReaderOptions {
        base: Some(Arc::new(Base::from_bytes(new.clone()))),
        ..Default::default()
    };
    let err = Reader::from_bytes(z, &wrong)
        .err()
        .expect("wrong base refused");
    assert!(err.to_string().contains("wrong base"), "{err}");
}

#[test]
fn a_damaged_chunk_fails_every_read_that_touches_it_and_no_other() {
    let orig = model(7);
    let mut z = compress_bytes(&orig, &small_chunks()).unwrap();
    let a = Archive::from_bytes(&z).unwrap();
    let bad = a.index.chunks().len() / 2;
    let c = a.index.chunks()[bad];
    z[(Archive::DATA_START + c.data_offset + c.data_len / 2) as usize] ^= 0x41;
    let (bs, be) = (c.orig_offset, c.orig_offset + c.orig_len as u64);
    let r = Reader::from_bytes(z, &Default::default()).unwrap();
    std::thread::scope(|s| {
        for t in 0..8u64 {
            let r = &r;
            let orig = &orig;
            s.spawn(move || {
                for k in 0..20u64 {
                    // Touching: any byte of the chunk, from any side.
                    let at = bs + (t * 977 + k * 131) % (be - bs);
                    let mut buf = [0u8; 300];
                    let e = r.read_at(at.saturating_sub(150), &mut buf).unwrap_err();
                    assert_eq!(e.kind(), znn_gpu::ErrorKind::Corrupt, "{e}");
                    // Not touching: the chunks before and after.
                    let mut ok = vec![0u8; 1000];
                    r.read_at(bs - 1000 - k, &mut ok).unwrap();
                    let o = (bs - 1000 - k) as usize;
                    assert_same(&ok, &orig[o..o + 1000], "before the damaged chunk");
                    r.read_at(be + k, &mut ok).unwrap();
                    assert_same(&ok, &orig[(be + k) as usize..][..1000], "after it");
                }
            });
        }
    });
}
