//! Decode tables built on the GPU (`shaders/table_build.wgsl`) from the code lengths in the
//! payload. The host's CPU parser is the first line of defence: a table whose nibbles are
//! corrupted is refused before any kernel runs. With the host's checks skipped
//! (`plan::skip_host_table_checks`), each kernel that builds a table (Huffman, pair, fused) refuses
//! the same tables itself, as an error and never an out-of-bounds read or a hang. GPU == CPU on
//! valid tables is what every other GPU test checks.

use znn_test_support as common;

use common::*;
mod gpu_common;
use gpu_common::gpu;
use znn_gpu::codec::{CodecSet, Coding, Pairing};
use znn_gpu::format::HEADER_LEN;
use znn_gpu::gpu::plan::skip_host_table_checks;
use znn_gpu::{compress_bytes, decompress_bytes, Archive, ErrorKind, Layout};

/// File byte of the first code-length byte (after `first` and `last`) of the first coded stream
/// of `z`.
fn first_nibbles(a: &Archive) -> usize {
    for c in a.index.chunks() {
        for s in a.index.chunk_streams(c) {
            match (s.pairing, s.coding) {
                (Pairing::Pair { .. }, _) => return HEADER_LEN + s.data_offset as usize + 4,
                (Pairing::Alone, Coding::Huffman { .. }) => {
                    return HEADER_LEN + s.data_offset as usize + 2
                }
                _ => {}
            }
        }
    }
    panic!("no coded stream")
}

#[test]
fn corrupted_code_lengths_are_refused_on_the_host_and_by_every_kernel() {
    let Some(mut d) = gpu() else { return };
    for (layout, set) in [
        (Layout::Bf16, CodecSet::Fast),
        (Layout::Fp32, CodecSet::Balanced),
        (Layout::Fp16, CodecSet::Small),
    ] {
        let src = if set == CodecSet::Fast {
            let mut g = Rng::new(3);
            let w: Vec<f64> = (0..40_000).map(|_| g.normal(0.02)).collect();
            encode_floats(layout, &w)
        } else {
            pair_skewed(layout, 40_000, 3)
        };
        let z = compress_bytes(&src, &with_codecs(&opts(16384, 256, layout), set)).unwrap();
        let a = Archive::from_bytes(&z).unwrap();
        let at = first_nibbles(&a);
        // 0x00: the first symbol absent (an incomplete code); 0x11: two 1-bit codes besides the
        // rest (an overfull code); 0xFF: lengths past the limit. The table's size is unchanged, so
        // the sub-streams stay where they were.
        for byte in [0x00u8, 0x11, 0xFF] {
            let mut bad = z.clone();
            bad[at] = byte;
            for fuse in [true, false] {
                d.set_fused(fuse);
                let what = format!("{layout:?} {set:?} byte {byte:#x} fused {fuse}");
                let e = d.decompress_bytes(&bad).unwrap_err();
                assert_eq!(e.kind(), ErrorKind::Corrupt, "{what}: {e}");
                let m = e.to_string();
                assert!(
                    m.contains("huffman") || m.contains("pair"),
                    "{what}: host: {m}"
                );
                assert!(!e.to_string().contains("GPU decode"), "{what}: host: {e}");
                skip_host_table_checks(true);
                let e = d.decompress_bytes(&bad);
                skip_host_table_checks(false);
                let e = e.unwrap_err();
                assert_eq!(e.kind(), ErrorKind::Corrupt, "{what}: {e}");
                assert!(
                    e.to_string().contains("not a complete code"),
                    "{what}: kernel: {e}"
                );
            }
        }
        // The decoder is still sound afterwards, on both paths.
        for fuse in [true, false] {
            d.set_fused(fuse);
            assert_eq!(d.decompress_bytes(&z).unwrap(), src, "{layout:?} {set:?}");
        }
        assert_eq!(decompress_bytes(&z).unwrap(), src);
    }
}
