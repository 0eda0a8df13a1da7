//! Checksums on the GPU (xxh3-64 in WGSL from u32 pairs) against the CPU's, `verify` on the
//! device, the upload paths against each other, and sub-streams of 65,536 symbols (lavapipe caps
//! an invocation's loop iterations at 65,535). Tests skip (with a message) only when no adapter
//! exists at all.

use std::io::Write;
use znn_gpu::format::{Codec, HEADER_LEN};
use znn_gpu::{compress_bytes, Archive, CompressOptions, Error, ErrorKind, GpuDecoder, Layout};

fn gpu() -> Option<GpuDecoder> {
    match GpuDecoder::new() {
        Ok(d) => Some(d),
        Err(Error::NoAdapter(m)) => {
            let _ = writeln!(std::io::stderr(), "SKIPPED: no GPU adapter ({m})");
            None
        }
        Err(e) => panic!("GPU decoder: {e}"),
    }
}

fn opts(dtype: Layout, chunk_size: u32, sub_symbols: u32) -> CompressOptions {
    CompressOptions {
        chunk_size,
        sub_symbols,
        dtype,
        base: None,
        codecs: Default::default(),
    }
}

fn noise(n: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

fn bf16(n: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..n)
        .flat_map(|_| {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let u = ((x >> 11) as f64 / (1u64 << 53) as f64) * 2.0 - 1.0;
            half::bf16::from_f32((u * u * u * 0.05) as f32).to_le_bytes()
        })
        .collect()
}

/// Reads a device buffer back with its padding to a whole word.
fn read_buffer(d: &GpuDecoder, b: &wgpu::Buffer, len: u64) -> Vec<u8> {
    d.read_back(b, len.max(4).div_ceil(4) * 4).unwrap()
}

/// decode_to_buffer (checksums verified on the device) and verify; the buffer equals `src` and
/// its rounding bytes are zero.
fn device_decode(d: &mut GpuDecoder, z: &[u8], src: &[u8]) {
    let a = Archive::from_bytes(z).unwrap();
    let out = d
        .decode_to_buffer(&a, &z[Archive::DATA_START as usize..])
        .unwrap_or_else(|e| panic!("{} bytes: {e}", src.len()));
    let got = read_buffer(d, &out.buffer, out.len);
    assert!(&got[..src.len()] == src, "{} bytes differ", src.len());
    assert!(got[src.len()..].iter().all(|&b| b == 0), "padding");
    d.verify(&a, &z, None).unwrap();
}

#[test]
fn gpu_xxh3_equals_cpu_on_many_lengths() {
    let Some(mut d) = gpu() else { return };
    // Every xxh3 length class and its edges: 0, 1-3, 4-8, 9-16, 17-128, 129-240, the long path
    // with and without full blocks (1 KiB), partial stripes and several rounds of the kernel's
    // blocks per round; a single chunk holds the whole input below 4096 bytes.
    let mut lens: Vec<usize> = (0..=20).collect();
    lens.extend([
        31, 32, 33, 63, 64, 65, 96, 97, 127, 128, 129, 160, 239, 240, 241, 255, 256, 1000, 1023,
        1024, 1025, 1088, 2047, 2049, 3000, 4095, 4096, 4097, 12_305, 70_001,
    ]);
    for (k, &n) in lens.iter().enumerate() {
        let src = noise(n, k as u64 + 1);
        let z = compress_bytes(&src, &opts(Layout::Byte, 4096, 256)).unwrap();
        device_decode(&mut d, &z, &src);
    }
    // Large chunks: 1 MiB (1,024 blocks, many rounds) and an odd tail, Huffman-coded BF16.
    let src = bf16(1_300_000, 7);
    let z = compress_bytes(&src, &opts(Layout::Bf16, 1 << 20, 4096)).unwrap();
    device_decode(&mut d, &z, &src);
}

#[test]
fn a_corrupted_raw_byte_is_caught_on_the_device() {
    let Some(mut d) = gpu() else { return };
    // Random bytes stay raw: flipping one changes the content, never the structure.
    let src = noise(50_000, 3);
    let z = compress_bytes(&src, &opts(Layout::Byte, 4096, 256)).unwrap();
    let a = Archive::from_bytes(&z).unwrap();
    let raw = a
        .index
        .streams()
        .iter()
        .find(|s| s.codec() == Codec::Raw)
        .copied()
        .expect("a raw stream");
    let mut bad = z.clone();
    bad[HEADER_LEN + raw.data_offset as usize + 17] ^= 0x20;
    let data = &bad[Archive::DATA_START as usize..];
    let e = d.decode_to_buffer(&a, data).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Corrupt, "{e}");
    assert!(e.to_string().contains("checksum"), "{e}");
    let e = d.verify(&a, &bad, None).unwrap_err();
    assert!(e.to_string().contains("checksum"), "{e}");
    let e = d
        .decode_range_to_buffer(&bad, &a, 0, 50_000, None)
        .unwrap_err();
    assert!(e.to_string().contains("checksum"), "{e}");
    // A flip inside a Huffman stream of BF16 weights: caught by the kernels or the checksums.
    let src = bf16(60_000, 5);
    let z = compress_bytes(&src, &opts(Layout::Bf16, 16384, 256)).unwrap();
    let a = Archive::from_bytes(&z).unwrap();
    for s in a
        .index
        .streams()
        .iter()
        .filter(|s| s.codec() == Codec::Huffman)
        .take(4)
    {
        let mut bad = z.clone();
        bad[HEADER_LEN + s.data_offset as usize + s.comp_len as usize - 2] ^= 0x11;
        assert!(d.verify(&a, &bad, None).is_err());
    }
    // The decoder still works after errors.
    device_decode(&mut d, &z, &src);
}

#[test]
fn staged_and_legacy_uploads_agree() {
    let Some(mut d) = gpu() else { return };
    let src = bf16(400_000, 11);
    let z = compress_bytes(&src, &opts(Layout::Bf16, 65536, 1024)).unwrap();
    let a = Archive::from_bytes(&z).unwrap();
    for legacy in [false, true, false] {
        d.set_legacy_upload(legacy);
        for window in [u64::MAX, 100_000, 300_000] {
            d.set_window_bytes(window);
            device_decode(&mut d, &z, &src);
            assert!(d.decompress_bytes(&z).unwrap() == src);
            // A file source: the staging buffer is filled by positioned reads.
            let dir = tempfile::tempdir().unwrap();
            let p = dir.path().join("f.znn");
            std::fs::write(&p, &z).unwrap();
            let f = znn_gpu::source::FileSource::open(&p).unwrap();
            let (_, out) = d.decode_file_to_buffer(&f).unwrap();
            assert!(read_buffer(&d, &out.buffer, out.len)[..src.len()] == src[..]);
            let r = d
                .decode_range_to_buffer(&f, &a, 123_457, 654_321, None)
                .unwrap();
            let got = read_buffer(&d, &r.buffer, r.offset + r.len);
            assert!(got[r.offset as usize..(r.offset + r.len) as usize] == src[123_457..654_321]);
            assert!(
                got[..(a.index.chunks()[r.chunks.start].orig_offset - r.base) as usize]
                    .iter()
                    .all(|&b| b == 0)
            );
        }
    }
    let h = d.take_host_times();
    assert!(h.bytes > 0);
}

#[test]
fn sub_streams_of_65536_symbols() {
    let Some(mut d) = gpu() else { return };
    // 256 KiB BF16 chunks: 131,072 exponents, two sub-streams of 65,536 symbols each.
    let src = bf16(400_000, 13);
    let z = compress_bytes(&src, &opts(Layout::Bf16, 262_144, 65536)).unwrap();
    assert!(d.decompress_bytes(&z).unwrap() == src);
    device_decode(&mut d, &z, &src);
}
