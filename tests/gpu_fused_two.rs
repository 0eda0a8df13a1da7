//! `fused_decode.wgsl` on chunks whose streams 0 and 1 are both entropy coded (`Fuse::Two`):
//! each Huffman or rANS, in all four combinations, on BF16, FP16 and FP32, with chunk tails,
//! several sub-stream sizes and more sub-streams than a workgroup takes. GPU == CPU read back,
//! into a device buffer and with the fused kernel off; `verify` on the GPU passes; a damaged
//! second stream is an error on the host and, with the host's table checks skipped, in the kernel
//! itself, never other bytes; so are forged stream records.

use znn_test_support as common;

#[path = "gpu_common/mod.rs"]
mod gpu_common;

use common::hostile::forge_index;
use common::*;
use znn_gpu::codec::{CodecSet, Coding};
use znn_gpu::format::HEADER_LEN;
use znn_gpu::gpu::fused::{fusable, Fuse};
use znn_gpu::gpu::plan::skip_host_table_checks;
use znn_gpu::{compress_bytes, decompress_bytes, Archive, ErrorKind, Layout};

/// How the bytes of one stream are drawn.
#[derive(Clone, Copy, Debug)]
enum Dist {
    /// One value nine times in ten, else one of 7 others: order-0 entropy ~1.08 bits, where
    /// Huffman spends ~1.3, so `smallest` codes it with rANS and `fast` with Huffman.
    Skewed,
    /// Four values with probabilities 1/2, 1/4, 1/8, 1/8: Huffman is exact (1.75 bits) and its
    /// table smaller than rANS's, so every codec set codes it with Huffman.
    Dyadic,
}

fn draw(rng: &mut Rng, d: Dist, base: u8) -> u8 {
    let step = match d {
        Dist::Skewed if rng.below(10) != 0 => 0,
        Dist::Skewed => 1 + rng.below(7),
        Dist::Dyadic => [0, 0, 0, 0, 1, 1, 2, 3][rng.below(8) as usize],
    };
    base.wrapping_add(step as u8)
}

/// `n` elements of `layout` whose stream 0 (the exponent; FP16: the high byte) and stream 1 (sign
/// and top mantissa bits; FP16: the low byte) are drawn from `d`, independently; FP32's streams 2
/// and 3 uniform (raw).
fn two_streams(layout: Layout, n: usize, d: [Dist; 2], seed: u64) -> Vec<u8> {
    let mut rng = Rng::new(seed);
    let mut s: Vec<Vec<u8>> = vec![Vec::with_capacity(n); layout.stream_count()];
    for _ in 0..n {
        s[0].push(draw(&mut rng, d[0], 120));
        s[1].push(draw(&mut rng, d[1], 0x40));
        for t in s.iter_mut().skip(2) {
            t.push(rng.next_u64() as u8);
        }
    }
    let mut out = vec![0; n * layout.elem_size()];
    let refs: Vec<&[u8]> = s.iter().map(|v| &v[..]).collect();
    layout.merge(&refs, &mut out);
    out
}

/// The codec set, the two distributions and the fused coders (`true`: rANS) they lead to.
const CASES: [(CodecSet, [Dist; 2], [bool; 2]); 4] = [
    (CodecSet::Fast, [Dist::Skewed, Dist::Skewed], [false, false]),
    (
        CodecSet::Smallest,
        [Dist::Skewed, Dist::Skewed],
        [true, true],
    ),
    (
        CodecSet::Smallest,
        [Dist::Skewed, Dist::Dyadic],
        [true, false],
    ),
    (
        CodecSet::Smallest,
        [Dist::Dyadic, Dist::Skewed],
        [false, true],
    ),
];

fn compressed(layout: Layout, n: usize, chunk: u32, sub: u32, case: usize) -> (Vec<u8>, Vec<u8>) {
    let (set, d, _) = CASES[case];
    let data = two_streams(layout, n, d, (n + case) as u64);
    let z = compress_bytes(&data, &with_codecs(&opts(chunk, sub, layout), set)).unwrap();
    (data, z)
}

/// `case`'s BF16 file of `n` elements in `chunk`-byte chunks (256-symbol sub-streams), and its
/// archive, whose chunk 0 fuses with the case's two coders.
fn two_stream_file(case: usize, n: usize, chunk: u32) -> (Vec<u8>, Vec<u8>, Archive) {
    let (data, z) = compressed(Layout::Bf16, n, chunk, 256, case);
    let a = Archive::from_bytes(&z).unwrap();
    assert_eq!(
        fusable(&a.index, 0, 0),
        Some(Fuse::Two(CASES[case].2)),
        "case {case}"
    );
    (data, z, a)
}

/// Every chunk of every case fuses as the case says and decodes on the GPU as on the CPU.
#[test]
fn two_coded_streams_decode_in_the_fused_kernel_as_on_the_cpu() {
    let Some(mut g) = gpu_common::gpu() else {
        return;
    };
    for layout in [Layout::Bf16, Layout::Fp16, Layout::Fp32] {
        for (n, chunk, sub) in [
            (20_003, 16384, 256),
            (300_001, 1 << 20, 256),
            (70_001, 1 << 20, 65_536),
        ] {
            // 2-byte elements: an even count, so the last chunk ends on a word and fuses.
            let n = if layout == Layout::Fp32 { n } else { n & !1 };
            for (case, &(set, d, coders)) in CASES.iter().enumerate() {
                let (data, z) = compressed(layout, n, chunk, sub, case);
                let what = format!("{layout:?} n {n} sub {sub} {set:?} {d:?}");
                let a = Archive::from_bytes(&z).unwrap();
                let chunks = a.index.chunks().len();
                for ci in 0..chunks {
                    assert_eq!(
                        fusable(&a.index, ci, 0),
                        Some(Fuse::Two(coders)),
                        "{what}: chunk {ci}"
                    );
                }
                gpu_common::fused_and_two_pass_match_the_cpu(&mut g, &z, &data, &what);
            }
        }
    }
}

/// File bytes of stream `k` of chunk 0, and its coder's table size (Huffman: `first`, `last` and
/// the code-length nibbles; rANS: as `RansTable::parse` reads it).
fn stream_bytes(z: &[u8], a: &Archive, k: usize) -> (std::ops::Range<usize>, usize) {
    let s = &a.index.chunk_streams(&a.index.chunks()[0])[k];
    let start = HEADER_LEN + s.data_offset as usize;
    let body = start..start + s.comp_len as usize;
    let tsize = match s.coding {
        Coding::Rans { .. } => {
            znn_gpu::codec::rans::RansTable::parse(&z[body.clone()])
                .unwrap()
                .1
        }
        Coding::Huffman { .. } => {
            let n = a.index.elements(&a.index.chunks()[0]);
            znn_gpu::codec::huffman::table(&z[body.clone()], a.index.stream_sub_lens(s, n))
                .unwrap()
                .1
        }
        other => panic!("stream {k}: {other:?}"),
    };
    (body, tsize)
}

/// Each byte of either coded stream of a two-stream chunk damaged (three bits in turn): an error
/// on the CPU and a corrupt-data error on the GPU, never other bytes. A damaged table of the
/// second stream is refused by the kernel itself when the host's checks are skipped.
#[test]
fn damaged_streams_of_a_two_stream_chunk_are_errors_never_other_bytes() {
    let Some(mut g) = gpu_common::gpu() else {
        return;
    };
    for case in 0..CASES.len() {
        let (data, z, a) = two_stream_file(case, 2048, 4096);
        let (mut kernel_refusals, mut unread) = (0, 0);
        for k in [0, 1] {
            let (body, tsize) = stream_bytes(&z, &a, k);
            for i in body.clone() {
                for bit in [0, 4, 7] {
                    let mut bad = z.clone();
                    bad[i] ^= 1 << bit;
                    let what = format!("case {case} stream {k} byte {} bit {bit}", i - body.start);
                    // A Huffman sub-stream's padding bits after its last code are never read:
                    // flipped, the same bytes come out, on both paths.
                    let cpu = decompress_bytes(&bad);
                    match (&cpu, g.decompress_bytes(&bad)) {
                        (Err(_), Err(e)) => assert_eq!(e.kind(), ErrorKind::Corrupt, "{what}: {e}"),
                        (Ok(c), Ok(out)) if *c == data && out == data => unread += 1,
                        (c, gpu) => panic!(
                            "{what}: cpu {:?}, gpu {:?}",
                            c.as_ref().map(|o| o == &data),
                            gpu.map(|o| o == data)
                        ),
                    }
                    // Only the second stream's table, the one new to the fused kernel: the first
                    // stream's is what the single-stream tests damage.
                    if k == 1 && i - body.start < tsize && cpu.is_err() {
                        skip_host_table_checks(true);
                        let e = g.decompress_bytes(&bad);
                        skip_host_table_checks(false);
                        let e = e.expect_err(&what);
                        assert_eq!(e.kind(), ErrorKind::Corrupt, "kernel {what}: {e}");
                        kernel_refusals += e.to_string().contains("table") as usize;
                    }
                }
            }
        }
        let flips: usize = [0, 1]
            .iter()
            .map(|&k| 3 * stream_bytes(&z, &a, k).0.len())
            .sum();
        assert!(
            unread * 20 < flips,
            "case {case}: {unread} of {flips} flips unread"
        );
        assert!(
            kernel_refusals >= 3,
            "case {case}: the kernel refused {kernel_refusals} damaged tables"
        );
        assert_same(&g.decompress_bytes(&z).unwrap(), &data, "after the damage");
    }
}

/// Index records of a two-stream chunk forged (hashes resealed, so only the decoders' own checks
/// stand): either stream's codec swapped between Huffman and rANS, a word moved between its first
/// two sub-streams, its first sub-stream a word shorter (so its table seems longer). Each is an
/// error on the CPU, on the GPU, and on the GPU with the host's table checks skipped; never other
/// bytes, never a panic.
#[test]
fn forged_two_stream_records_are_errors_never_other_bytes() {
    let Some(mut g) = gpu_common::gpu() else {
        return;
    };
    for (case, &(_, _, coders)) in CASES.iter().enumerate() {
        let (data, z, a) = two_stream_file(case, 8192, 16384);
        let mut refused = 0;
        for k in [0, 1] {
            let sub_start = match a.index.chunk_streams(&a.index.chunks()[0])[k].coding {
                Coding::Huffman { sub_start } | Coding::Rans { sub_start } => sub_start,
                other => panic!("case {case} stream {k}: {other:?}"),
            };
            let i = a.index.chunks()[0].stream_start as usize + k;
            let j = sub_start as usize;
            let swapped = if coders[k] {
                Coding::Huffman { sub_start }
            } else {
                Coding::Rans { sub_start }
            };
            let forgeries = [
                (
                    "codec swapped",
                    forge_index(&z, |p| p.streams[i].coding = swapped),
                ),
                (
                    "word moved",
                    forge_index(&z, |p| {
                        p.sub_lens[j] += 2;
                        p.sub_lens[j + 1] -= 2;
                    }),
                ),
                (
                    "first sub-stream shorter",
                    forge_index(&z, |p| p.sub_lens[j] -= 2),
                ),
            ];
            for (what, bad) in forgeries {
                let what = format!("case {case} stream {k} {what}");
                let verdict = |r: znn_gpu::Result<Vec<u8>>, path: &str| match r {
                    Err(_) => 1,
                    Ok(out) => {
                        assert!(out == data, "{what}, {path}: decoded other bytes");
                        0
                    }
                };
                refused += verdict(decompress_bytes(&bad), "cpu");
                refused += verdict(g.decompress_bytes(&bad), "gpu");
                skip_host_table_checks(true);
                let kernel = g.decompress_bytes(&bad);
                skip_host_table_checks(false);
                refused += verdict(kernel, "gpu, kernel checks only");
            }
        }
        // Every forgery changes what decodes, so every path refuses it (none decodes the right
        // bytes by chance).
        assert_eq!(refused, 2 * 3 * 3, "case {case}: refusals");
        assert_same(
            &g.decompress_bytes(&z).unwrap(),
            &data,
            "after the forgeries",
        );
    }
}
