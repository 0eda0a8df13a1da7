//! GPU decode == CPU decode, byte for byte, on lavapipe or any Vulkan adapter. Tests skip (with a
//! message) only when no adapter exists at all.

use std::io::Write;
use std::path::PathBuf;
use znn_gpu::format::{Codec, Coding, Index, IndexParts, Trailer, HEADER_LEN, TRAILER_LEN};
use znn_gpu::huffman::CodeTable;
use znn_gpu::ErrorKind;
use znn_gpu::{
    compress_bytes, decompress_bytes, Archive, CompressOptions, Error, GpuDecoder, Layout,
};

/// A decoder on the Vulkan backend (unless `WGPU_BACKEND` names another), or `None` with a
/// message when the machine has no adapter.
fn gpu() -> Option<GpuDecoder> {
    match GpuDecoder::new() {
        Ok(d) => {
            if std::env::var_os("WGPU_BACKEND").is_none() {
                let info = d.adapter_info().expect("own device has adapter info");
                assert_eq!(info.backend, wgpu::Backend::Vulkan, "tests run on Vulkan");
            }
            Some(d)
        }
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

/// Compresses `src`, decodes it on the CPU and the GPU, and checks both against `src`.
fn roundtrip(d: &mut GpuDecoder, src: &[u8], o: &CompressOptions) -> Vec<u8> {
    let z = compress_bytes(src, o).unwrap();
    let cpu = decompress_bytes(&z).unwrap();
    assert_eq!(cpu, src, "CPU roundtrip");
    let g = d.decompress_bytes(&z).unwrap();
    assert!(
        g == cpu,
        "GPU output differs from CPU ({} bytes, {o:?})",
        src.len()
    );
    z
}

/// Reads a device buffer back.
fn read_buffer(d: &GpuDecoder, b: &wgpu::Buffer, len: u64) -> Vec<u8> {
    d.read_back(b, len).unwrap()
}

/// decode_to_buffer, read back, compared with `src`; returns the tensor count.
fn check_device_buffer(d: &mut GpuDecoder, z: &[u8], src: &[u8]) -> usize {
    let a = Archive::from_bytes(z).unwrap();
    let out = d
        .decode_to_buffer(&a, &z[Archive::DATA_START as usize..])
        .unwrap();
    assert_eq!(out.len, src.len() as u64);
    assert!(
        read_buffer(d, &out.buffer, out.len) == src,
        "device buffer differs"
    );
    for t in &out.tensors {
        assert!(t.offset + t.len <= out.len, "{t:?}");
    }
    out.tensors.len()
}

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    /// Roughly normal, times `scale`.
    fn normal(&mut self, scale: f64) -> f64 {
        let s: f64 = (0..4)
            .map(|_| (self.next() >> 11) as f64 / (1u64 << 53) as f64)
            .sum();
        (s - 2.0) * scale
    }
}

/// `n` elements of `layout` from several scales, with NaN, ±Inf, zeros and subnormals mixed in.
fn floats(layout: Layout, n: usize, seed: u64) -> Vec<u8> {
    let mut r = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
    let mut out = Vec::with_capacity(n * layout.elem_size());
    for i in 0..n {
        let scale = [1e-3, 0.02, 1.0, 300.0][(i / 997) % 4];
        let mut v = r.normal(scale);
        match r.next() % 97 {
            0 => v = f64::NAN,
            1 => v = f64::INFINITY,
            2 => v = f64::NEG_INFINITY,
            3 => v = 0.0,
            4 => v = 1e-40,
            _ => {}
        }
        match layout {
            Layout::Byte => out.push((v * 10.0) as i8 as u8),
            Layout::Bf16 => out.extend(half::bf16::from_f64(v).to_le_bytes()),
            Layout::Fp16 => out.extend(half::f16::from_f64(v).to_le_bytes()),
            Layout::Fp32 => out.extend((v as f32).to_le_bytes()),
            Layout::Fp64 => out.extend(v.to_le_bytes()),
            Layout::Group4 => out.extend(((v * 1000.0) as i32).to_le_bytes()),
        }
    }
    out
}

fn corpus(name: &str) -> Option<Vec<u8>> {
    let dirs = [
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus"),
        PathBuf::from("/work/shared/corpus"),
    ];
    for d in &dirs {
        if let Ok(b) = std::fs::read(d.join(name)) {
            return Some(b);
        }
    }
    let _ = writeln!(
        std::io::stderr(),
        "SKIPPED: corpus file {} not found",
        dirs[0].join(name).display()
    );
    None
}

#[test]
fn corpus_files_match_cpu() {
    let Some(mut d) = gpu() else { return };
    for name in [
        "minilm-l6.bf16.safetensors",
        "mobilenet-v2.fp32.safetensors",
    ] {
        let Some(src) = corpus(name) else { continue };
        let z = roundtrip(&mut d, &src, &CompressOptions::default());
        let tensors = check_device_buffer(&mut d, &z, &src);
        assert!(tensors > 10, "{name}: {tensors} tensors");
    }
}

#[test]
fn every_layout_random_floats() {
    let Some(mut d) = gpu() else { return };
    for layout in Layout::ALL {
        for (n, chunk, sub) in [(1, 4096, 256), (4099, 4096, 256), (33_333, 8192, 512)] {
            let mut src = floats(layout, n, n as u64 * 31 + layout.id() as u64);
            // An odd tail: the last segment is bytes.
            src.extend_from_slice(&[7, 1, 200][..(n % 3) + 1]);
            roundtrip(&mut d, &src, &opts(layout, chunk, sub));
        }
    }
}

/// Bytes whose streams take every codec: zero (const), random (raw), mostly zero (zstd), skewed
/// (Huffman).
fn mixed_codecs() -> Vec<u8> {
    let mut r = Rng(99);
    let mut src = Vec::new();
    // fp32 elements: exponent skewed (Huffman), sign+mantissa-high zero (const), byte 1 mostly
    // zero (zstd), byte 0 random (raw).
    for i in 0..30_000u32 {
        let exp = 120 + (r.normal(2.0).abs() as u32).min(8);
        let b1 = if i % 50 == 0 {
            r.next() as u32 & 0xFF
        } else {
            0
        };
        let w = exp << 23 | b1 << 8 | (r.next() as u32 & 0xFF);
        src.extend(w.to_le_bytes());
    }
    src
}

#[test]
fn mixed_codecs_match_cpu() {
    let Some(mut d) = gpu() else { return };
    let src = mixed_codecs();
    let z = roundtrip(&mut d, &src, &opts(Layout::Fp32, 16384, 1024));
    let a = Archive::from_bytes(&z).unwrap();
    for c in Codec::ALL.into_iter().filter(|c| c.min_version() == 1) {
        assert!(
            a.index.streams().iter().any(|s| s.codec() == c),
            "no {c:?} stream"
        );
    }
    check_device_buffer(&mut d, &z, &src);
}

#[test]
fn eleven_bit_codes() {
    let Some(mut d) = gpu() else { return };
    // Fibonacci counts over 30 symbols: the optimal code is deeper than 11 bits, so it is limited.
    let mut fib = vec![1u64, 1];
    while fib.len() < 30 {
        fib.push(fib[fib.len() - 1] + fib[fib.len() - 2]);
    }
    let total: u64 = fib.iter().sum();
    let mut src = Vec::new();
    let mut r = Rng(5);
    for _ in 0..200_000 {
        let mut x = r.next() % total;
        let mut s = 0;
        while x >= fib[s] {
            x -= fib[s];
            s += 1;
        }
        src.push(s as u8);
    }
    let z = roundtrip(&mut d, &src, &opts(Layout::Byte, 65536, 256));
    let a = Archive::from_bytes(&z).unwrap();
    let data = &z[Archive::DATA_START as usize..];
    let max = a
        .index
        .streams()
        .iter()
        .filter(|s| s.codec() == Codec::Huffman)
        .map(|s| {
            let t = CodeTable::parse(&data[s.data_offset as usize..]).unwrap().0;
            *t.lens.iter().max().unwrap()
        })
        .max()
        .unwrap();
    assert_eq!(max, 11);
}

type Tensor = (String, &'static str, Vec<u64>, Vec<u8>);

/// A safetensors file: header (JSON of odd length) then the tensors back to back.
fn safetensors(tensors: &[Tensor]) -> Vec<u8> {
    let mut json = String::from("{");
    let mut off = 0;
    for (i, (name, dtype, shape, data)) in tensors.iter().enumerate() {
        if i > 0 {
            json.push(',');
        }
        let shape: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
        json += &format!(
            "\"{name}\":{{\"dtype\":\"{dtype}\",\"shape\":[{}],\"data_offsets\":[{off},{}]}}",
            shape.join(","),
            off + data.len()
        );
        off += data.len();
    }
    json.push('}');
    if json.len() % 2 == 0 {
        json.push(' ');
    }
    let mut out = (json.len() as u64).to_le_bytes().to_vec();
    out.extend(json.as_bytes());
    for t in tensors {
        out.extend(&t.3);
    }
    out
}

fn tiny_tensors(count: usize) -> Vec<u8> {
    let kinds = [
        ("BF16", Layout::Bf16),
        ("F16", Layout::Fp16),
        ("F32", Layout::Fp32),
        ("F64", Layout::Fp64),
        ("I32", Layout::Group4),
        ("U8", Layout::Byte),
        ("BOOL", Layout::Byte),
    ];
    let mut ts = Vec::new();
    for i in 0..count {
        let (dtype, layout) = kinds[i % kinds.len()];
        let n = 1 + (i * 7919) % 300;
        ts.push((
            format!("layer.{i}.w"),
            dtype,
            vec![n as u64],
            floats(layout, n, i as u64 + 1),
        ));
    }
    safetensors(&ts)
}

#[test]
fn many_tiny_tensors() {
    let Some(mut d) = gpu() else { return };
    let src = tiny_tensors(400);
    let z = roundtrip(&mut d, &src, &opts(Layout::Bf16, 4096, 256));
    assert_eq!(check_device_buffer(&mut d, &z, &src), 400);
}

#[test]
fn many_windows() {
    let Some(mut d) = gpu() else { return };
    // Segments at odd offsets, windows of ~10 KB: windows start and end inside u32 words and
    // inside the output binding's offset alignment.
    let kinds = [
        ("BF16", Layout::Bf16),
        ("F32", Layout::Fp32),
        ("U8", Layout::Byte),
        ("F16", Layout::Fp16),
        ("F64", Layout::Fp64),
    ];
    let mut ts = Vec::new();
    for (i, (dtype, layout)) in kinds.into_iter().enumerate() {
        ts.push((
            format!("t{i}"),
            dtype,
            vec![12_345],
            floats(layout, 12_345, i as u64 + 9),
        ));
    }
    let src = safetensors(&ts);
    let z = compress_bytes(&src, &opts(Layout::Bf16, 4096, 256)).unwrap();
    d.set_window_bytes(10_000);
    let lim = d.window_limits();
    let a = Archive::from_bytes(&z).unwrap();
    let windows = znn_gpu::gpu::plan::plan_windows(&a.index, &lim).unwrap();
    assert!(windows.len() > 20, "{} windows", windows.len());
    assert!(d.decompress_bytes(&z).unwrap() == src);
    assert_eq!(check_device_buffer(&mut d, &z, &src), 5);
    let mut out = Vec::new();
    d.decompress_to_writer(&a, &z, &mut out).unwrap();
    assert!(out == src);
}

/// A rebuilt `.znn` with `idx` as its index (hashes recomputed, so the file passes every
/// metadata check).
fn with_index(z: &[u8], idx: &Index) -> Vec<u8> {
    let a = Archive::from_bytes(z).unwrap();
    let data_end = HEADER_LEN + a.data_len() as usize;
    let ib = idx.to_bytes();
    let mut out = z[..data_end].to_vec();
    out.extend(&ib);
    let t = Trailer {
        index_len: ib.len() as u64,
        index_hash: xxhash_rust::xxh3::xxh3_64(&ib),
        ..a.trailer
    };
    out.extend(t.to_bytes());
    assert_eq!(out.len(), data_end + ib.len() + TRAILER_LEN);
    out
}

#[test]
fn corrupt_input_gives_errors() {
    let Some(mut d) = gpu() else { return };
    let src = floats(Layout::Bf16, 40_000, 3);
    let z = compress_bytes(&src, &opts(Layout::Bf16, 16384, 256)).unwrap();
    let a = Archive::from_bytes(&z).unwrap();
    let data = &z[Archive::DATA_START as usize..];
    let huff: Vec<_> = a
        .index
        .streams()
        .iter()
        .filter(|s| s.codec() == Codec::Huffman)
        .copied()
        .collect();
    assert!(!huff.is_empty());

    // Flipped payload bytes inside Huffman sub-streams.
    for (k, s) in huff.iter().enumerate().take(6) {
        let mut bad = z.clone();
        let at = HEADER_LEN + s.data_offset as usize + s.comp_len as usize / 2 + k;
        bad[at] ^= 0x5A;
        bad[at + 1] ^= 0xFF;
        assert!(d.decompress_bytes(&bad).is_err(), "flip in stream {k}");
    }

    // Sub-stream lengths moved between neighbours: sums and hashes still pass, the codes do not.
    let n = (a.index.chunks()[0].orig_len / 2) as usize;
    let s = huff[0];
    assert!(a.index.sub_count(n) >= 3);
    let Coding::Huffman { sub_start } = s.coding else {
        unreachable!("a huffman stream")
    };
    for (dk, sign) in [(0usize, 1i64), (0, -1), (1, 3)] {
        let mut p = a.index.to_parts();
        let i = sub_start as usize + dk;
        p.sub_lens[i] = (p.sub_lens[i] as i64 + sign) as u32;
        p.sub_lens[i + 1] = (p.sub_lens[i + 1] as i64 - sign) as u32;
        // Sums still match: a structurally valid map.
        let idx = Index::from_parts(p).unwrap();
        let forged = with_index(&z, &idx);
        assert!(
            Archive::from_bytes(&forged).is_ok(),
            "forged index passes metadata checks"
        );
        let e = d.decompress_bytes(&forged).unwrap_err();
        assert!(matches!(e.kind(), ErrorKind::Corrupt), "{e}");
        // Without checksums the kernel's own checks must catch it.
        let e = d.decode_index(&idx, data, false).unwrap_err();
        assert!(e.to_string().contains("GPU decode"), "{e}");
    }

    // Hand-made maps: payload past the data, streams past the records, sub-streams past the
    // lengths. An inconsistent map cannot become an `Index` at all (`from_parts` re-derives every
    // field); what is decoded is always a valid map.
    let mut decode_parts = |f: &dyn Fn(&mut IndexParts)| {
        let mut p = a.index.to_parts();
        f(&mut p);
        Index::from_parts(p).and_then(|idx| d.decode_index(&idx, data, true))
    };
    assert!(decode_parts(&|p| p.chunks.last_mut().unwrap().data_len += 100).is_err());
    assert!(decode_parts(&|p| p.chunks[1].stream_start = 1_000_000).is_err());
    let hs = a
        .index
        .streams()
        .iter()
        .position(|s| s.codec() == Codec::Huffman)
        .unwrap();
    assert!(decode_parts(&|p| {
        p.streams[hs].coding = Coding::Huffman {
            sub_start: u32::MAX - 3,
        }
    })
    .is_err());
    assert!(decode_parts(&|p| p.chunks[2].segment = 9).is_err());
    assert!(decode_parts(&|p| p.chunks[2].orig_offset += 1).is_err());
    assert!(decode_parts(&|p| p.chunks.swap(1, 2)).is_err());
    // A truncated data region.
    let short = &data[..a.data_len() as usize - 1];
    assert!(d.decode_index(&a.index, short, true).is_err());

    // The decoder still works after errors.
    assert!(d.decompress_bytes(&z).unwrap() == src);
}

#[test]
fn empty_and_tiny_inputs() {
    let Some(mut d) = gpu() else { return };
    for src in [&[][..], &[1u8][..], &[1, 2, 3][..], &[0; 4096][..]] {
        let z = compress_bytes(src, &opts(Layout::Bf16, 4096, 256)).unwrap();
        assert_eq!(d.decompress_bytes(&z).unwrap(), src);
        check_device_buffer(&mut d, &z, src);
    }
}

#[test]
fn file_to_buffer_and_bench_figures() {
    let Some(mut d) = gpu() else { return };
    let src = tiny_tensors(50);
    let z = compress_bytes(&src, &opts(Layout::Bf16, 4096, 256)).unwrap();
    let (a, out) = d.decode_file_to_buffer(&z).unwrap();
    assert_eq!(a.trailer.original_len, src.len() as u64);
    assert_eq!(out.tensors.len(), 50);
    assert!(read_buffer(&d, &out.buffer, out.len) == src);
    let f = znn_gpu::gpu::measure(&mut d, &z, 1).unwrap();
    assert_eq!(f.original_bytes, src.len() as u64);
    assert!(
        f.kernel_s > 0.0 && f.end_to_end_s > 0.0 && f.upload_s > 0.0,
        "{f:?}"
    );
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.znn");
    std::fs::write(&path, &z).unwrap();
    let f = znn_gpu::gpu::measure_file(&mut d, &path, 1).unwrap();
    assert_eq!(f.compressed_bytes, z.len() as u64);
    assert!(f.end_to_end_s > 0.0);
}

/// Prints the bench figures of the corpus files (lavapipe figures are no speed claim).
/// `cargo test --profile ci --test gpu -- --ignored --nocapture`
#[test]
#[ignore]
fn corpus_bench_figures() {
    let Some(mut d) = gpu() else { return };
    for name in [
        "minilm-l6.bf16.safetensors",
        "mobilenet-v2.fp32.safetensors",
    ] {
        let Some(src) = corpus(name) else { continue };
        let z = compress_bytes(&src, &CompressOptions::default()).unwrap();
        let f = znn_gpu::gpu::measure(&mut d, &z, 3).unwrap();
        let gbs = |s: f64| f.original_bytes as f64 / s / 1e9;
        eprintln!(
            "{name}: {} windows; kernel {:.4} s ({:.2} GB/s, {:?}); end-to-end {:.4} s ({:.2} GB/s); \
             plain upload {:.4} s ({:.2} GB/s); {}",
            f.windows,
            f.kernel_s,
            gbs(f.kernel_s),
            f.kernel_timer,
            f.end_to_end_s,
            gbs(f.end_to_end_s),
            f.upload_s,
            gbs(f.upload_s),
            f.adapter
        );
    }
}

#[test]
fn two_dimensional_dispatch() {
    let Some(mut d) = gpu() else { return };
    // At most 3 workgroups per dimension: windows of 16 KiB need 4-5 merge workgroups (of 1024
    // words) and up to 8 Huffman jobs, so both kernels run on a 2D grid with idle trailing
    // workgroups.
    d.set_dispatch_dim(3);
    d.set_window_bytes(16384);
    let mut src = floats(Layout::Bf16, 20_001, 77);
    src.extend(floats(Layout::Fp32, 3_001, 78));
    let z = compress_bytes(&src, &opts(Layout::Bf16, 4096, 256)).unwrap();
    assert!(d.decompress_bytes(&z).unwrap() == src);
    check_device_buffer(&mut d, &z, &src);
}

/// A file of several default-size windows (slow on lavapipe, so not run by default).
#[test]
#[ignore]
fn several_default_windows() {
    let Some(mut d) = gpu() else { return };
    let mut src = floats(Layout::Bf16, 75 << 20, 123);
    src.extend(floats(Layout::Fp32, 3 << 20, 124));
    let z = compress_bytes(&src, &opts(Layout::Bf16, 256 << 10, 4096)).unwrap();
    let a = Archive::from_bytes(&z).unwrap();
    let windows = znn_gpu::gpu::plan::plan_windows(&a.index, &d.window_limits()).unwrap();
    assert!(windows.len() >= 3, "{} windows", windows.len());
    assert!(d.decompress_bytes(&z).unwrap() == src);
    check_device_buffer(&mut d, &z, &src);
}
