//! Round trips, continued: compression options, Huffman edge cases, API robustness (threads, I/O
//! errors, inputs larger than one streaming window).

use znn_test_support as common;

use common::*;
use znn_gpu::format::Codec;
use znn_gpu::ErrorKind;
use znn_gpu::{compress_bytes, decompress_bytes, Archive, CompressOptions, Error, Layout};

const CODEC_NAMES: [&str; 7] = ["raw", "const", "huffman", "zstd", "pair", "paired", "rans"];

fn ratio(znn: &[u8], orig: &[u8]) -> f64 {
    100.0 * znn.len() as f64 / orig.len() as f64
}

// ------------------------------------------------------------------------------------------
// Options
// ------------------------------------------------------------------------------------------

#[test]
fn chunk_and_substream_sizes() {
    let mut rng = Rng::new(8);
    let data: Vec<u8> = (0..400_000)
        .flat_map(|_| half::bf16::from_f64(rng.normal(0.05)).to_le_bytes())
        .collect();
    let mut sizes = Vec::new();
    for cs in [4096u32, 4104, 65536 + 8, 256 * 1024, 1 << 20] {
        for sub in [256u32, 1024, 4096, 65536] {
            let znn = roundtrip(
                &data,
                &opts(cs, sub, Layout::Bf16),
                &format!("bf16 {cs}/{sub}"),
            );
            let a = Archive::from_bytes(&znn).unwrap();
            assert_eq!(a.index.chunks().len(), data.len().div_ceil(cs as usize));
            // Huffman streams carry ceil(n / sub) sub-streams.
            for c in a.index.chunks() {
                let n = c.orig_len as usize / 2;
                for s in a.index.chunk_streams(c) {
                    if s.codec() == Codec::Huffman {
                        assert_eq!(
                            a.index.stream_sub_lens(s, n).len(),
                            n.div_ceil(sub as usize)
                        );
                    }
                }
            }
            sizes.push(znn.len());
        }
    }
    // Smaller sub-streams and chunks cost a little, never a lot.
    let (min, max) = (sizes.iter().min().unwrap(), sizes.iter().max().unwrap());
    assert!((*max as f64) < *min as f64 * 1.05, "sizes {sizes:?}");
}

#[test]
fn invalid_options_are_rejected() {
    let data = vec![1u8; 10_000];
    for (cs, sub) in [
        (4095, 4096),
        (4100, 4096),
        (0, 4096),
        (4088, 4096),
        ((16 << 20) + 8, 4096),
        (u32::MAX, 4096),
        (4096, 0),
        (4096, 128),
        (4096, 300),
        (4096, 131_072),
        (4096, 4095),
    ] {
        let o = opts(cs, sub, Layout::Bf16);
        let e = compress_bytes(&data, &o).expect_err("bad options accepted");
        assert!(
            matches!(e.kind(), ErrorKind::InvalidArgument),
            "{cs}/{sub}: {e:?}"
        );
        let e = znn_gpu::compress_stream(
            &mut std::io::Cursor::new(&data),
            data.len() as u64,
            std::io::sink(),
            &o,
            &mut |_| {},
        )
        .expect_err("bad options accepted");
        assert!(
            matches!(e.kind(), ErrorKind::InvalidArgument),
            "{cs}/{sub}: {e:?}"
        );
    }
    // The bounds themselves are valid.
    for (cs, sub) in [(4096, 256), (16 << 20, 65536)] {
        roundtrip(&data, &opts(cs, sub, Layout::Bf16), "bounds");
    }
}

#[test]
fn stream_input_shorter_than_declared_is_an_error() {
    let data = vec![7u8; 50_000];
    let e = znn_gpu::compress_stream(
        &mut std::io::Cursor::new(&data),
        60_000,
        std::io::sink(),
        &CompressOptions::default(),
        &mut |_| {},
    )
    .expect_err("short input accepted");
    assert!(matches!(e, Error::Truncated(_) | Error::Io { .. }), "{e:?}");
}

#[test]
fn codec_names_cover_the_format() {
    // The on-disk ids of FORMAT.md's codec table.
    for (i, c) in Codec::ALL.iter().enumerate() {
        assert_eq!(*c as usize, i);
        assert_eq!(c.name(), CODEC_NAMES[i]);
    }
    for (i, l) in Layout::ALL.iter().enumerate() {
        assert_eq!(l.id() as usize, i);
    }
}

// ------------------------------------------------------------------------------------------
// Huffman edge cases and API robustness
// ------------------------------------------------------------------------------------------

/// Bytes from a skewed (geometric-like) distribution over `k` symbols.
fn skewed(rng: &mut Rng, n: usize, k: u32) -> Vec<u8> {
    (0..n)
        .map(|_| {
            let z = (rng.next_u64() | 1 << 63).trailing_zeros().min(k - 1);
            (z as u8).wrapping_mul(37).wrapping_add(3)
        })
        .collect()
}

#[test]
fn huffman_substream_boundaries_and_short_codes() {
    let mut rng = Rng::new(21);
    for sub in [256usize, 1024] {
        // Element counts around multiples of the sub-stream size (1..=9 sub-streams, so the
        // decoder's groups of four end at every possible place), in one chunk.
        let counts: Vec<usize> = [1, 2, 3, 4, 5, 8, 9]
            .iter()
            .flat_map(|&k| {
                [
                    k * sub - 1,
                    k * sub,
                    k * sub + 1,
                    k * sub + 19,
                    k * sub + 21,
                ]
            })
            .collect();
        for n in counts {
            for (kind, data) in [
                ("skewed", skewed(&mut rng, n, 12)),
                // Two symbols: 1-bit codes, four symbols per table lookup.
                ("coin", (0..n).map(|_| rng.below(2) as u8 * 0x41).collect()),
                // Three symbols: 1- and 2-bit codes.
                (
                    "three",
                    (0..n)
                        .map(|_| [7u8, 7, 9, 200][rng.below(4) as usize])
                        .collect(),
                ),
            ] {
                let o = opts(65536, sub as u32, Layout::Byte);
                let znn = roundtrip(&data, &o, &format!("{kind} n={n} sub={sub}"));
                let a = Archive::from_bytes(&znn).unwrap();
                if n >= 64 {
                    assert_eq!(a.index.streams()[0].codec(), Codec::Huffman, "{kind} n={n}");
                }
            }
        }
    }
}

#[test]
fn concurrent_calls_from_many_threads() {
    let inputs: Vec<Vec<u8>> = (0..8u64)
        .map(|i| {
            let mut rng = Rng::new(i);
            encode_floats(Layout::ALL[i as usize % 6], &mixed_floats(&mut rng, 50_000))
        })
        .collect();
    std::thread::scope(|s| {
        for (i, data) in inputs.iter().enumerate() {
            s.spawn(move || {
                let o = opts(4096, 256, Layout::ALL[i % 6]);
                for _ in 0..3 {
                    let z = compress_bytes(data, &o).unwrap();
                    assert_same(&decompress_bytes(&z).unwrap(), data, "concurrent");
                }
            });
        }
    });
}

#[test]
fn io_errors_are_reported_not_panicked() {
    struct FailingReader(usize);
    impl std::io::Read for FailingReader {
        fn read(&mut self, b: &mut [u8]) -> std::io::Result<usize> {
            if self.0 == 0 {
                return Err(std::io::Error::other("device went away"));
            }
            let n = b.len().min(self.0).min(1000);
            b[..n].fill(0x3F);
            self.0 -= n;
            Ok(n)
        }
    }
    let e = znn_gpu::compress_stream(
        &mut FailingReader(100_000),
        1 << 20,
        std::io::sink(),
        &CompressOptions::default(),
        &mut |_| {},
    )
    .expect_err("failing reader");
    assert!(matches!(e, Error::Io { .. }), "{e:?}");

    struct FailingWriter;
    impl std::io::Write for FailingWriter {
        fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
            Err(std::io::Error::other("disk full"))
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let data = vec![5u8; 100_000];
    let e = znn_gpu::compress_stream(
        &mut std::io::Cursor::new(&data),
        data.len() as u64,
        FailingWriter,
        &CompressOptions::default(),
        &mut |_| {},
    )
    .expect_err("failing writer");
    assert!(matches!(e, Error::Io { .. }), "{e:?}");
    let z = compress_bytes(&data, &CompressOptions::default()).unwrap();
    let e = znn_gpu::decompress_stream(&mut std::io::Cursor::new(&z), FailingWriter, &mut |_| {})
        .expect_err("failing writer");
    assert!(matches!(e, Error::Io { .. }), "{e:?}");
}

#[test]
fn inputs_larger_than_one_streaming_window() {
    // The streaming functions work in windows of 16 MiB: inputs that span several, with chunk
    // sizes that do and do not divide the window, and a chunk as large as a window.
    let mut rng = Rng::new(31);
    let data: Vec<u8> = (0..(37 << 20) / 2)
        .flat_map(|i| {
            let x = if i % 5000 < 40 { 0.0 } else { rng.normal(0.03) };
            half::bf16::from_f64(x).to_le_bytes()
        })
        .collect();
    for cs in [256 * 1024, (3 << 20) + 8, 16 << 20] {
        roundtrip(
            &data,
            &opts(cs, 4096, Layout::Bf16),
            &format!("37 MiB, chunk {cs}"),
        );
    }
}

#[test]
fn safetensors_header_larger_than_one_streaming_window() {
    // A 17 MB `__metadata__` value: the header alone spans two streaming windows.
    let mut rng = Rng::new(32);
    let blob = "w".repeat(17 << 20);
    let ts = vec![
        tensor(
            "a",
            "F32",
            &[10_000],
            encode_floats(Layout::Fp32, &mixed_floats(&mut rng, 10_000)),
        ),
        tensor(
            "b",
            "BF16",
            &[999],
            encode_floats(Layout::Bf16, &mixed_floats(&mut rng, 999)),
        ),
    ];
    let file = safetensors(&ts, Some(&[("blob", blob.as_str())]), true);
    let znn = roundtrip(&file, &CompressOptions::default(), "17 MB header");
    let a = Archive::from_bytes(&znn).unwrap();
    check_safetensors_segments(&file, &a);
    assert!(
        ratio(&znn, &file) < 2.0,
        "a repeated byte header compresses to almost nothing"
    );
}

#[test]
fn many_symbol_distributions() {
    // Code-length construction under every kind of histogram: 2..=256 symbols, uniform, geometric
    // of several ratios, Zipf, one dominant symbol with singletons, (almost) all 256 once.
    let mut rng = Rng::new(41);
    let mut cases: Vec<(String, Vec<u8>)> = Vec::new();
    for k in [2u32, 3, 5, 17, 40, 100, 255, 256] {
        let uniform: Vec<u8> = (0..8000).map(|_| rng.below(k as u64) as u8).collect();
        cases.push((format!("uniform {k}"), uniform));
        for r in [0.3, 0.5, 0.618, 0.8, 0.95] {
            let g: Vec<u8> = (0..8000)
                .map(|_| {
                    let mut s = 0;
                    while s + 1 < k && rng.unit() > r {
                        s += 1;
                    }
                    s as u8
                })
                .collect();
            cases.push((format!("geometric {r} over {k}"), g));
        }
        let zipf: Vec<u8> = (0..8000)
            .map(|_| ((k as f64).powf(rng.unit()) as u32).min(k - 1) as u8)
            .collect();
        cases.push((format!("zipf {k}"), zipf));
        let mut dom = vec![9u8; 8000];
        for (i, s) in (0..k).enumerate() {
            dom[i * 13] = s as u8;
        }
        cases.push((format!("dominant + {k} singletons"), dom));
    }
    let mut all: Vec<u8> = (0..=255u8).collect();
    all.extend(std::iter::repeat_n(0u8, 4000));
    cases.push(("every byte once, one frequent".into(), all));
    for (name, data) in cases {
        for sub in [256, 4096] {
            roundtrip(&data, &opts(4096, sub, Layout::Byte), &name);
        }
    }
}

#[test]
fn mutated_safetensors_headers_still_roundtrip() {
    // Whatever the header says (broken JSON, odd offsets, huge numbers, a wrong length prefix),
    // compression never fails and the round trip is exact.
    let mut rng = Rng::new(43);
    let ts = vec![
        tensor(
            "a",
            "F32",
            &[300],
            encode_floats(Layout::Fp32, &mixed_floats(&mut rng, 300)),
        ),
        tensor(
            "b",
            "BF16",
            &[301],
            encode_floats(Layout::Bf16, &mixed_floats(&mut rng, 301)),
        ),
        tensor("c", "I64", &[20], rng.bytes(160)),
        tensor("d", "U8", &[33], rng.bytes(33)),
    ];
    let file = safetensors(&ts, Some(&[("k", "v")]), false);
    let hl = u64::from_le_bytes(file[..8].try_into().unwrap()) as usize;
    let o = opts(4096, 256, Layout::Fp16);
    let replacements: [&[u8]; 10] = [
        b"0",
        b"9",
        b"-",
        b"\"",
        b"{",
        b"]",
        b"18446744073709551615",
        b"1e3",
        b" ",
        b"null",
    ];
    for i in 0..1500 {
        let mut g = file.clone();
        match i % 3 {
            0 => {
                let p = 8 + rng.below(hl as u64) as usize;
                g[p] = rng.next_u64() as u8;
            }
            1 => {
                // Replace a digit run (an offset or a shape) with something else.
                let p = 8 + rng.below(hl as u64) as usize;
                let r = replacements[rng.below(replacements.len() as u64) as usize];
                g.splice(p..p + 1, r.iter().copied());
                let new_len = (hl + r.len() - 1) as u64;
                g[..8].copy_from_slice(&new_len.to_le_bytes());
            }
            _ => {
                let n = match rng.below(5) {
                    0 => g.len() as u64 - 8,
                    1 => g.len() as u64 - 7,
                    2 => rng.below(g.len() as u64),
                    3 => 1,
                    _ => u64::MAX - rng.below(100),
                };
                g[..8].copy_from_slice(&n.to_le_bytes());
            }
        }
        let z = compress_bytes(&g, &o).unwrap_or_else(|e| panic!("mutation {i}: {e}"));
        assert_same(&decompress_bytes(&z).unwrap(), &g, &format!("mutation {i}"));
        if i % 50 == 0 {
            roundtrip(&g, &o, &format!("mutation {i}"));
        }
    }
}

#[test]
fn largest_chunks_with_extreme_substream_sizes() {
    // 16 MiB byte chunks: 256 sub-streams of 65536 symbols, or 65536 sub-streams of 256.
    let mut rng = Rng::new(51);
    let data = skewed(&mut rng, (16 << 20) + 1000, 20);
    for sub in [65536, 256] {
        let znn = roundtrip(
            &data,
            &opts(16 << 20, sub, Layout::Byte),
            &format!("16 MiB chunk, sub {sub}"),
        );
        let a = Archive::from_bytes(&znn).unwrap();
        assert_eq!(a.index.chunks().len(), 2);
        let s = &a.index.streams()[0];
        assert_eq!(s.codec(), Codec::Huffman);
        assert_eq!(
            a.index.stream_sub_lens(s, 16 << 20).len(),
            (16 << 20) / sub as usize
        );
    }
}

#[test]
fn output_does_not_depend_on_the_thread_count() {
    let data = repo_model()[..4 << 20].to_vec();
    let o = opts(65536, 1024, Layout::Bf16);
    let with = |n: usize| {
        rayon::ThreadPoolBuilder::new()
            .num_threads(n)
            .build()
            .unwrap()
            .install(|| compress_bytes(&data, &o).unwrap())
    };
    let one = with(1);
    for n in [2, 3, 7] {
        assert_same(&with(n), &one, &format!("{n} threads vs 1"));
    }
    let back = rayon::ThreadPoolBuilder::new()
        .num_threads(5)
        .build()
        .unwrap()
        .install(|| decompress_bytes(&one).unwrap());
    assert_same(&back, &data, "decompressed on 5 threads");
}

/// A writer that accepts `0` more bytes, then fails with "disk full (test)".
struct FullDisk(usize);

impl std::io::Write for FullDisk {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        if self.0 == 0 {
            return Err(std::io::Error::other("disk full (test)"));
        }
        let n = b.len().min(self.0);
        self.0 -= n;
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn the_writers_own_error_reaches_the_caller() {
    // Several streaming windows (16 MiB each) of output: the write error happens while later
    // windows are still being coded. The error must say what the writer said, whichever window
    // it happens in.
    let data = vec![0u8; 50 << 20];
    let z = compress_bytes(&data, &CompressOptions::default()).unwrap();
    for limit in [0usize, 1000, 20 << 20] {
        let e =
            znn_gpu::decompress_stream(&mut std::io::Cursor::new(&z), FullDisk(limit), &mut |_| {})
                .expect_err("failing writer");
        assert!(matches!(e, Error::Io { .. }), "{e:?}");
        assert!(
            e.to_string().contains("disk full (test)"),
            "decompress_stream, writer fails after {limit} bytes: {e}"
        );
    }
    let mut rng = Rng::new(61);
    let big = rng.bytes(40 << 20);
    for limit in [0usize, 1000, 20 << 20] {
        let e = znn_gpu::compress_stream(
            &mut std::io::Cursor::new(&big),
            big.len() as u64,
            FullDisk(limit),
            &CompressOptions::default(),
            &mut |_| {},
        )
        .expect_err("failing writer");
        assert!(matches!(e, Error::Io { .. }), "{e:?}");
        assert!(
            e.to_string().contains("disk full (test)"),
            "compress_stream, writer fails after {limit} bytes: {e}"
        );
    }
}
