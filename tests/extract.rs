//! One tensor or byte range at a time: `extract` (library, CPU and GPU) returns exactly the slice of
//! the full decode while reading and decoding only the chunks that cover it; `extract` and
//! `info --tensors` on the command line.

use znn_test_support as common;

use common::*;
use std::io::Write;
use std::ops::Range;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use znn_gpu::extract::{self, covering_bytes, read_tensor};
use znn_gpu::ErrorKind;
use znn_gpu::{
    compress_bytes, decompress_bytes, Archive, ByteSource, Error, GpuDecoder, Layout, Reader,
};

/// A `.znn` in memory that counts the bytes read from it.
struct Counting {
    inner: Vec<u8>,
    bytes: AtomicU64,
}

impl ByteSource for Counting {
    fn len(&self) -> u64 {
        self.inner.len() as u64
    }
    fn read_exact_at(&self, offset: u64, buf: &mut [u8]) -> znn_gpu::Result<()> {
        self.bytes.fetch_add(buf.len() as u64, Ordering::SeqCst);
        self.inner.read_exact_at(offset, buf)
    }
}

fn reader(z: &[u8]) -> Reader {
    Reader::from_bytes(z.to_vec(), &Default::default()).unwrap()
}

fn weights(rng: &mut Rng, layout: Layout, n: usize, sd: f64) -> Vec<u8> {
    let v: Vec<f64> = (0..n).map(|_| rng.normal(sd)).collect();
    encode_floats(layout, &v)
}

/// A safetensors file of mixed dtypes, unpadded header (so tensors start at odd offsets): a BF16
/// tensor over many 4 KiB chunks, two tiny F32 tensors that share a segment, F16, I64, odd-length
/// U8 tensors, and a 13-byte tensor at the very end.
fn mixed_model() -> Vec<u8> {
    let mut rng = Rng::new(42);
    let counts: Vec<u8> = (0..500u64)
        .flat_map(|i| (i * i % 97).to_le_bytes())
        .collect();
    let ts = vec![
        tensor(
            "embed.weight",
            "BF16",
            &[300, 128],
            weights(&mut rng, Layout::Bf16, 38_400, 0.02),
        ),
        tensor(
            "layer0.bias",
            "F32",
            &[16],
            weights(&mut rng, Layout::Fp32, 16, 0.1),
        ),
        tensor(
            "layer0.norm",
            "F32",
            &[8],
            weights(&mut rng, Layout::Fp32, 8, 1.0),
        ),
        tensor(
            "layer0.weight",
            "F32",
            &[64, 80],
            weights(&mut rng, Layout::Fp32, 5120, 0.05),
        ),
        tensor(
            "layer1.weight",
            "F16",
            &[100, 90],
            weights(&mut rng, Layout::Fp16, 9000, 0.05),
        ),
        tensor("counts", "I64", &[500], counts),
        tensor("mask", "U8", &[77], rng.bytes(77)),
        tensor(
            "layer2.weight",
            "BF16",
            &[50, 64],
            weights(&mut rng, Layout::Bf16, 3200, 0.02),
        ),
        tensor("z.last", "U8", &[13], rng.bytes(13)),
    ];
    safetensors(&ts, Some(&[("format", "pt")]), false)
}

fn small_opts() -> znn_gpu::CompressOptions {
    opts(4096, 256, Layout::Bf16)
}

/// Every tensor read alone equals its slice of the original (and of the full decode).
#[test]
fn every_tensor_equals_its_slice() {
    let orig = mixed_model();
    let z = compress_bytes(&orig, &small_opts()).unwrap();
    let full = decompress_bytes(&z).unwrap();
    assert_same(&full, &orig, "full decode");
    let a = Archive::from_bytes(&z).unwrap();
    let r = reader(&z);
    let h = r.tensors().unwrap().expect("safetensors").clone();
    let want = read_safetensors(&orig);
    assert_eq!(h.tensors.len(), want.len());
    let mut spans_many = false;
    for (name, dtype, range) in &want {
        let (t, bytes) = read_tensor(&r, name).unwrap();
        assert_eq!((&t.name, &t.dtype), (name, dtype));
        assert_eq!(
            t.start..t.end,
            range.start as u64..range.end as u64,
            "{name}"
        );
        assert_same(&bytes, &full[range.clone()], name);
        spans_many |= covering_bytes(&a.index, t.start, t.end).0.len() > 3;
        let (t2, b2) = extract::read_tensor_bytes(&z, name).unwrap();
        assert_eq!((t2, b2), (t, bytes), "{name} from bytes in memory");
    }
    assert!(spans_many, "a tensor spans several chunks");
    // The two tiny F32 tensors were merged into one segment and share a chunk.
    let chunks = |n: &str| {
        let t = h.tensors.iter().find(|t| t.name == n).unwrap();
        covering_bytes(&a.index, t.start, t.end).0
    };
    let (bias, norm) = (chunks("layer0.bias"), chunks("layer0.norm"));
    assert!(
        bias.end > norm.start && norm.end > bias.start,
        "{bias:?} {norm:?}"
    );
    // The last tensor ends the file.
    assert_eq!(h.tensors.last().unwrap().end, orig.len() as u64);
}

/// Ranges around every chunk boundary, empty ranges, the whole file.
#[test]
fn byte_ranges_at_chunk_boundaries() {
    let orig = mixed_model();
    let z = compress_bytes(&orig, &small_opts()).unwrap();
    let a = Archive::from_bytes(&z).unwrap();
    let len = orig.len() as u64;
    let r = reader(&z);
    let mut ranges = vec![(0, len), (0, 0), (len, len), (0, 1), (len - 1, len), (7, 9)];
    for c in a.index.chunks() {
        let b = c.orig_offset;
        ranges.extend([
            (b, b),
            (b.saturating_sub(1), b + 1),
            (b, b + 1),
            (b.saturating_sub(3), b),
        ]);
        ranges.push((b, (b + c.orig_len as u64).min(len)));
    }
    for (s, e) in ranges {
        let got = r.read_range(s, e).unwrap();
        assert_same(&got, &orig[s as usize..e as usize], &format!("{s}..{e}"));
        let mut w = Vec::new();
        let st = r.write_range(s, e, &mut w).unwrap();
        assert_eq!(w, got);
        let (chunks, bytes) = covering_bytes(&a.index, s, e);
        assert_eq!(st.chunks, chunks, "{s}..{e}");
        assert_eq!(st.payload_bytes, bytes, "{s}..{e}");
        if s == e {
            assert_eq!(st.chunks.len(), 0, "an empty range decodes nothing");
        }
    }
}

#[test]
fn bad_ranges_and_names_are_errors() {
    let orig = mixed_model();
    let z = compress_bytes(&orig, &small_opts()).unwrap();
    let len = orig.len() as u64;
    let r = reader(&z);
    for (s, e) in [
        (5, 4),
        (0, len + 1),
        (len + 1, len + 1),
        (u64::MAX, u64::MAX),
    ] {
        let err = r.read_range(s, e).unwrap_err();
        assert!(
            matches!(err.kind(), ErrorKind::InvalidArgument),
            "{s}..{e}: {err}"
        );
    }
    let err = read_tensor(&r, "layer0.weigth").unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err.kind(), ErrorKind::InvalidArgument), "{msg}");
    // The CLI adds "`znn-gpu info --tensors` lists them all" (checked in the CLI test below).
    assert!(msg.contains("layer0.weigth"), "{msg}");
    assert!(
        msg.contains("layer0.weight"),
        "close names listed first: {msg}"
    );
    assert!(msg.contains("9 tensors") && msg.contains("more"), "{msg}");

    // A file that is not safetensors has no tensor table, and says so.
    let plain = weights(&mut Rng::new(1), Layout::Bf16, 20_000, 0.02);
    let zp = compress_bytes(&plain, &small_opts()).unwrap();
    let rp = reader(&zp);
    assert_eq!(rp.tensors().unwrap(), None);
    let err = read_tensor(&rp, "x").unwrap_err();
    assert!(err.to_string().contains("not a safetensors"), "{err}");
    assert_same(
        &rp.read_range(100, 9000).unwrap(),
        &plain[100..9000],
        "plain range",
    );
}

/// On a 12 MB model, one small tensor reads the header's chunk and its own, a tiny part of the file;
/// the table alone reads exactly the header's chunks.
#[test]
fn a_small_tensor_reads_few_bytes() {
    let mut rng = Rng::new(7);
    let orig = safetensors(
        &[
            tensor(
                "big.a",
                "BF16",
                &[2048, 2048],
                weights(&mut rng, Layout::Bf16, 1 << 22, 0.02),
            ),
            tensor(
                "small",
                "F32",
                &[300],
                weights(&mut rng, Layout::Fp32, 300, 0.1),
            ),
            tensor(
                "big.b",
                "BF16",
                &[1024, 2048],
                weights(&mut rng, Layout::Bf16, 1 << 21, 0.02),
            ),
        ],
        None,
        true,
    );
    let z = compress_bytes(&orig, &Default::default()).unwrap();
    let a = Archive::from_bytes(&z).unwrap();
    let src = Arc::new(Counting {
        inner: z.clone(),
        bytes: AtomicU64::new(0),
    });
    let r = Reader::new(src.clone(), &Default::default()).unwrap();
    let read = || src.bytes.swap(0, Ordering::SeqCst);
    read(); // the metadata the reader opened with
    let h = r.tensors().unwrap().unwrap();
    let (hc, hb) = covering_bytes(&a.index, 0, h.data_start);
    assert_eq!(read(), hb, "the table reads the header's chunks, once each");
    assert_eq!(hc.len(), 1);
    let (t, bytes) = read_tensor(&r, "small").unwrap();
    assert_same(&bytes, &orig[t.start as usize..t.end as usize], "small");
    let (tc, tb) = covering_bytes(&a.index, t.start, t.end);
    // The reader keeps the table: reading the tensor reads its own chunks only.
    let small_read = read();
    assert_eq!(small_read, tb);
    assert!(
        tc.len() <= 2 && (hb + small_read) * 100 < z.len() as u64,
        "read {} of {}",
        hb + small_read,
        z.len()
    );
    // A range over several windows streams window by window and still equals the original.
    let (t2, bytes) = read_tensor(&r, "big.a").unwrap();
    assert_same(&bytes, &orig[t2.start as usize..t2.end as usize], "big.a");
    let st = r.write_range(t2.start, t2.end, std::io::sink()).unwrap();
    let n = t2.end - t2.start;
    assert!(
        st.decoded_bytes >= n && st.decoded_bytes < n + (1 << 19),
        "{st:?}"
    );
    let _ = writeln!(
        std::io::stderr(),
        "figure: tensor 'small' ({} bytes) read {} of {} .znn bytes ({} + {} chunks of {})",
        t.end - t.start,
        small_read,
        z.len(),
        hc.len(),
        tc.len(),
        a.index.chunks().len()
    );
}

/// Flips a byte in the middle of chunk `ci`'s payload.
fn corrupt_chunk(z: &mut [u8], a: &Archive, ci: usize) {
    let c = &a.index.chunks()[ci];
    z[(Archive::DATA_START + c.data_offset + c.data_len / 2) as usize] ^= 0xFF;
}

/// A damaged chunk fails the reads that need it and no other: only needed chunks are decoded.
#[test]
fn corrupt_chunk_only_fails_ranges_that_cover_it() {
    let orig = mixed_model();
    let mut z = compress_bytes(&orig, &small_opts()).unwrap();
    let a = Archive::from_bytes(&z).unwrap();
    let t = read_safetensors(&orig)
        .into_iter()
        .find(|t| t.0 == "layer0.weight")
        .unwrap();
    let cs = covering_bytes(&a.index, t.2.start as u64, t.2.end as u64).0;
    let bad = cs.start + cs.len() / 2;
    corrupt_chunk(&mut z, &a, bad);
    let bc = &a.index.chunks()[bad];
    let (bs, be) = (bc.orig_offset, bc.orig_offset + bc.orig_len as u64);
    let r = reader(&z);
    let err = read_tensor(&r, "layer0.weight").unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::Corrupt), "{err}");
    assert!(r.read_range(be - 1, be).is_err());
    for (name, _, range) in read_safetensors(&orig) {
        if name != "layer0.weight" {
            let (_, b) = read_tensor(&r, &name).unwrap();
            assert_same(&b, &orig[range], &name);
        }
    }
    let got = r.read_range(0, bs).unwrap();
    assert_same(
        &got,
        &orig[..bs as usize],
        "everything before the damaged chunk",
    );
    assert!(decompress_bytes(&z).is_err(), "a full decode does fail");
}

// ---------------------------------------------------------------------------------------------
// GPU
// ---------------------------------------------------------------------------------------------

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
            say_skipped(&format!("SKIPPED: no GPU adapter ({m})"));
            None
        }
        Err(e) => panic!("GPU decoder: {e}"),
    }
}

/// Reads a whole device buffer back.
fn read_buffer(d: &GpuDecoder, b: &wgpu::Buffer) -> Vec<u8> {
    let (dev, q) = (d.device(), d.queue());
    let read = dev.create_buffer(&wgpu::BufferDescriptor {
        label: None,
        size: b.size(),
        usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
        mapped_at_creation: false,
    });
    let mut enc = dev.create_command_encoder(&Default::default());
    enc.copy_buffer_to_buffer(b, 0, &read, 0, b.size());
    q.submit([enc.finish()]);
    read.slice(..)
        .map_async(wgpu::MapMode::Read, |r| r.unwrap());
    dev.poll(wgpu::PollType::wait_indefinitely()).unwrap();
    let v = read.slice(..).get_mapped_range().unwrap().to_vec();
    read.unmap();
    v
}

/// The GPU range decode, in a device buffer and read back, equals the CPU's bytes, for every
/// tensor and for ranges at chunk boundaries, with windows smaller than a range.
#[test]
fn gpu_ranges_equal_cpu() {
    let Some(mut d) = gpu() else { return };
    let orig = mixed_model();
    let mut z = compress_bytes(&orig, &small_opts()).unwrap();
    let a = Archive::from_bytes(&z).unwrap();
    let len = orig.len() as u64;
    let align = d.window_limits().offset_align;
    let mut ranges: Vec<Range<u64>> = read_safetensors(&orig)
        .into_iter()
        .map(|t| t.2.start as u64..t.2.end as u64)
        .collect();
    let b = a.index.chunks()[3].orig_offset;
    ranges.extend([
        0..len,
        0..0,
        len..len,
        b - 1..b + 1,
        b..b + 4096,
        1..len - 1,
    ]);
    for window in [1 << 20, 8192] {
        d.set_window_bytes(window);
        for rg in &ranges {
            let what = format!("{rg:?}, windows of {window}");
            let want = &orig[rg.start as usize..rg.end as usize];
            let got = d.read_range(&z, &a, rg.start, rg.end, None).unwrap();
            assert_same(&got, want, &what);
            let g = d
                .decode_range_to_buffer(&z, &a, rg.start, rg.end, None)
                .unwrap();
            assert_eq!(
                (g.len, g.offset),
                (rg.end - rg.start, rg.start - g.base),
                "{what}"
            );
            assert_eq!(g.base % align, 0);
            assert_eq!(g.chunks, covering_bytes(&a.index, rg.start, rg.end).0);
            let dev = read_buffer(&d, &g.buffer);
            assert_same(
                &dev[g.offset as usize..(g.offset + g.len) as usize],
                want,
                &what,
            );
            // The covering chunks are whole in the buffer.
            if let (Some(f), Some(l)) = (g.chunks.clone().next(), g.chunks.clone().last()) {
                let (s, e) = (
                    a.index.chunks()[f].orig_offset,
                    a.index.chunks()[l].orig_offset,
                );
                let e = e + a.index.chunks()[l].orig_len as u64;
                let at = (s - g.base) as usize;
                assert_same(
                    &dev[at..at + (e - s) as usize],
                    &orig[s as usize..e as usize],
                    &what,
                );
            }
        }
    }
    for rg in [0..1u64, 5..len] {
        assert!(matches!(
            d.read_range(&z, &a, rg.end, rg.start, None),
            Err(Error::InvalidArgument(_))
        ));
    }
    // The tensor table a whole-file device decode reports is the library's.
    let (_, out) = d.decode_file_to_buffer(&z).unwrap();
    let h = reader(&z).tensors().unwrap().unwrap().clone();
    let names: Vec<_> = out
        .tensors
        .iter()
        .map(|t| (&t.name, t.offset, t.len))
        .collect();
    let want: Vec<_> = h
        .tensors
        .iter()
        .map(|t| (&t.name, t.start, t.end - t.start))
        .collect();
    assert_eq!(names, want);
    // A damaged chunk fails the GPU reads that need it, and only those.
    let t = &h.tensors.iter().find(|t| t.name == "embed.weight").unwrap();
    let cs = covering_bytes(&a.index, t.start, t.end).0;
    corrupt_chunk(&mut z, &a, cs.start + 2);
    let err = d.read_range(&z, &a, t.start, t.end, None).unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::Corrupt), "{err}");
    for t in h.tensors.iter().filter(|t| t.name != "embed.weight") {
        let got = d.read_range(&z, &a, t.start, t.end, None).unwrap();
        assert_same(&got, &orig[t.start as usize..t.end as usize], &t.name);
    }
}

// ---------------------------------------------------------------------------------------------
// Command line
// ---------------------------------------------------------------------------------------------

fn run(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_znn-gpu"))
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .output()
        .expect("running znn-gpu")
}

#[track_caller]
fn ok(o: &Output, what: &str) {
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        o.status.success(),
        "{what}: exit {:?}: {err}",
        o.status.code()
    );
}

#[track_caller]
fn fails(o: &Output, what: &str, needle: &str) -> String {
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert_eq!(o.status.code(), Some(1), "{what}: {err}");
    assert!(err.contains(needle), "{what}: {err:?} lacks {needle:?}");
    err
}

#[test]
fn cli_extract_and_info_tensors_on_the_shipped_model() {
    let orig = repo_model();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("m.safetensors"), &orig).unwrap();
    ok(
        &run(d, &["compress", "m.safetensors", "-o", "m.znn"]),
        "compress",
    );
    let want = read_safetensors(&orig);

    let o = run(d, &["info", "--tensors", "m.znn"]);
    ok(&o, "info --tensors");
    let text = String::from_utf8(o.stdout).unwrap();
    assert_eq!(text.lines().count(), want.len() + 2, "{text}");
    assert!(text.contains(&format!("{} tensors", want.len())), "{text}");
    for (name, dtype, r) in &want {
        let line = text
            .lines()
            .find(|l| l.starts_with(&format!("{name} ")))
            .unwrap();
        let cols: Vec<&str> = line.split_whitespace().collect();
        assert!(cols.contains(&dtype.as_str()) && cols.contains(&r.start.to_string().as_str()));
    }
    let o = run(d, &["info", "--tensors", "--json", "m.znn"]);
    ok(&o, "info --tensors --json");
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let ts = v["tensors"].as_array().unwrap();
    assert_eq!(ts.len(), want.len());
    for (t, (name, dtype, r)) in ts.iter().zip(&want) {
        assert_eq!(
            (t["name"].as_str().unwrap(), t["dtype"].as_str().unwrap()),
            (&**name, &**dtype)
        );
        assert_eq!(t["offset"].as_u64().unwrap(), r.start as u64);
        assert_eq!(t["len"].as_u64().unwrap(), r.len() as u64);
        // Chunk bytes may be 0: a constant tensor (zero biases) is all const streams.
        let c = &t["chunks"];
        assert!(c[1].as_u64().unwrap() > c[0].as_u64().unwrap() || r.is_empty());
        assert!(t["chunk_bytes"].is_u64());
    }
    assert_eq!(v["original_len"].as_u64().unwrap(), orig.len() as u64);

    // The first, the largest and the last tensors, and a range.
    let largest = want.iter().max_by_key(|t| t.2.len()).unwrap();
    for (i, (name, _, r)) in [&want[0], largest, want.last().unwrap()]
        .into_iter()
        .enumerate()
    {
        let out = format!("t{i}.bin");
        ok(
            &run(
                d,
                &[
                    "extract", "m.znn", "--tensor", name, "-o", &out, "--device", "cpu",
                ],
            ),
            name,
        );
        assert_same(
            &std::fs::read(d.join(&out)).unwrap(),
            &orig[r.clone()],
            name,
        );
    }
    let o = run(
        d,
        &[
            "extract",
            "m.znn",
            "--range",
            "1000..300000",
            "-o",
            "-",
            "--device",
            "cpu",
        ],
    );
    ok(&o, "range to stdout");
    assert_same(&o.stdout, &orig[1000..300000], "range to stdout");
    let o = run(
        d,
        &[
            "extract", "m.znn", "--range", "..77", "-o", "-", "--device", "cpu",
        ],
    );
    assert_same(&o.stdout, &orig[..77], "..77");
    let name = &want[1].0;
    let o = run(
        d,
        &[
            "-v", "extract", "m.znn", "--tensor", name, "-o", "-", "--device", "cpu",
        ],
    );
    ok(&o, "-v");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains(&want[1].1) && err.contains("chunks") && err.contains(name),
        "{err}"
    );

    // Errors: existing output, unknown name, bad ranges, not safetensors.
    let e = [
        "extract", "m.znn", "--tensor", &want[0].0, "-o", "t0.bin", "--device", "cpu",
    ];
    fails(&run(d, &e), "existing output", "already exists");
    ok(&run(d, &[&e[..], &["-f"][..]].concat()), "-f");
    let err = fails(
        &run(d, &["extract", "m.znn", "--tensor", "nope", "-o", "x"]),
        "name",
        "nope",
    );
    assert!(err.contains("info --tensors"), "{err}");
    let bad = ["extract", "m.znn", "--range", "5..1", "-o", "x"];
    fails(&run(d, &bad), "reversed range", "not within");
    let big = format!("0..{}", orig.len() + 1);
    fails(
        &run(d, &["extract", "m.znn", "--range", &big, "-o", "x"]),
        "past end",
        "not within",
    );
    fails(
        &run(d, &["extract", "m.znn", "--range", "1-5", "-o", "x"]),
        "syntax",
        "START..END",
    );
    assert!(!d.join("x").exists());
    let mut rng = Rng::new(3);
    let plain =
        compress_bytes(&weights(&mut rng, Layout::Bf16, 5000, 0.02), &small_opts()).unwrap();
    std::fs::write(d.join("p.znn"), plain).unwrap();
    fails(
        &run(d, &["info", "--tensors", "p.znn"]),
        "plain info",
        "not a safetensors",
    );
    fails(
        &run(d, &["extract", "p.znn", "--tensor", "a", "-o", "x"]),
        "plain",
        "not a safetensors",
    );

    // The GPU path writes the same bytes (any adapter, lavapipe included).
    let (name, _, r) = largest;
    let o = run(
        d,
        &[
            "extract", "m.znn", "--tensor", name, "-o", "g.bin", "--device", "gpu",
        ],
    );
    if String::from_utf8_lossy(&o.stderr).contains("no GPU adapter") {
        say_skipped("SKIPPED: no GPU adapter [cli extract --device gpu]");
    } else {
        ok(&o, "--device gpu");
        assert_same(
            &std::fs::read(d.join("g.bin")).unwrap(),
            &orig[r.clone()],
            "gpu",
        );
    }
}
