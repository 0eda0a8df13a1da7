//! Deltas against a base file (format v2): round trips with matched, renamed, reshaped, added,
//! removed and reordered tensors; positional deltas of plain files; wrong, missing and compressed
//! bases; the CLI's `--base`.

use znn_test_support as common;

use common::delta_pair::{bf16_weights, model_pair, step, to_bf16, Pair};
use common::{assert_same, safetensors, tensor, Rng};
use std::io::Cursor;
use std::process::Command;
use std::sync::Arc;
use znn_gpu::{
    compress_bytes, compress_stream, decompress_bytes, Archive, Base, CompressOptions, Error,
    Layout, Reader, ReaderOptions,
};

fn with(opts: &CompressOptions, base: Option<&Base>) -> CompressOptions {
    CompressOptions {
        base: base.map(|b| Arc::new(b.clone())),
        ..opts.clone()
    }
}

fn compress_bytes_with_base(
    src: &[u8],
    base: Option<&Base>,
    opts: &CompressOptions,
) -> znn_gpu::Result<Vec<u8>> {
    compress_bytes(src, &with(opts, base))
}

fn decompress_bytes_with_base(src: &[u8], base: Option<&Base>) -> znn_gpu::Result<Vec<u8>> {
    common::decompress_with_base(src, base)
}

fn reader(znn: &[u8], base: Option<&Base>) -> Reader {
    let opts = ReaderOptions {
        base: base.map(|b| Arc::new(b.clone())),
        ..Default::default()
    };
    Reader::from_bytes(znn.to_vec(), &opts).unwrap()
}

fn opts(chunk_size: u32) -> CompressOptions {
    CompressOptions {
        chunk_size,
        ..CompressOptions::default()
    }
}

/// Names of the tensors whose segments are deltas.
fn delta_tensors(znn: &[u8], new: &[u8]) -> Vec<String> {
    let a = Archive::from_bytes(znn).unwrap();
    let mut names = Vec::new();
    for (name, _, r) in common::read_safetensors(new) {
        let seg = a
            .index
            .segments()
            .iter()
            .find(|s| s.offset <= r.start as u64 && (r.start as u64) < s.offset + s.len);
        if let Some(s) = seg.filter(|s| s.base_offset.is_some()) {
            assert_eq!(
                s.offset, r.start as u64,
                "{name}: a delta segment starts its tensor"
            );
            names.push(name);
        }
    }
    names.sort();
    names
}

#[test]
fn tensors_are_matched_by_name_dtype_and_shape() {
    let p = model_pair(1);
    let base = Base::from_bytes(p.base.clone());
    for cs in [4096, 65536, 262_144] {
        let znn = compress_bytes_with_base(&p.new, Some(&base), &opts(cs)).unwrap();
        assert_eq!(
            u16::from_le_bytes([znn[8], znn[9]]),
            2,
            "a delta is format v2"
        );
        assert_eq!(
            delta_tensors(&znn, &p.new),
            ["a.weight", "b.weight", "c.f32", "tiny"],
            "chunk size {cs}"
        );
        let back = decompress_bytes_with_base(&znn, Some(&base)).unwrap();
        assert_same(&back, &p.new, "delta round trip");
        // The decoder written from FORMAT.md alone agrees, and needs the right base too.
        let reference = common::ref_decode_with_base(&znn, Some(&p.base)).unwrap();
        assert_same(&reference, &p.new, "reference decoder");
        assert!(common::ref_decode(&znn).is_err());
        // The stream path reads the base window by window.
        let mut out = Vec::new();
        let src = znn_gpu::decompress::SeekSource::new(Cursor::new(&znn)).unwrap();
        let o = znn_gpu::DecompressOptions { base: Some(&base) };
        znn_gpu::decompress_to(&src, &mut out, &o, &mut |_| {}).unwrap();
        assert_same(&out, &p.new, "streamed delta round trip");
        let mut streamed = Vec::new();
        compress_stream(
            &mut Cursor::new(&p.new),
            p.new.len() as u64,
            &mut streamed,
            &with(&opts(cs), Some(&base)),
            &mut |_| {},
        )
        .unwrap();
        assert_eq!(streamed, znn, "stream and memory compressors agree");
    }
}

#[test]
fn deltas_are_smaller_than_standalone_for_small_updates() {
    let p = model_pair(2);
    let base = Base::from_bytes(p.base.clone());
    let alone = znn_gpu::compress_bytes(&p.new, &opts(262_144)).unwrap();
    let delta = compress_bytes_with_base(&p.new, Some(&base), &opts(262_144)).unwrap();
    // a.weight moved by 1e-4 of a 0.02 spread and b.weight is unchanged: most of the XOR is zero.
    assert!(
        (delta.len() as f64) < 0.8 * alone.len() as f64,
        "delta {} vs standalone {}",
        delta.len(),
        alone.len()
    );
}

#[test]
fn identical_file_costs_almost_nothing() {
    let p = model_pair(3);
    let base = Base::from_bytes(p.base.clone());
    let znn = compress_bytes_with_base(&p.base, Some(&base), &opts(262_144)).unwrap();
    // Every tensor is an all-zero XOR (const streams); only the header and the map remain.
    assert!(znn.len() < 4096, "{} bytes", znn.len());
    assert_same(
        &decompress_bytes_with_base(&znn, Some(&base)).unwrap(),
        &p.base,
        "self delta",
    );
}

#[test]
fn plain_files_are_xored_by_position() {
    let mut rng = Rng::new(4);
    let base_v = bf16_weights(&mut rng, 200_000, 0.02);
    let base_b = to_bf16(&base_v);
    let base = Base::from_bytes(base_b.clone());
    for new_len in [100_001usize, 200_000, 250_000] {
        let mut v = step(&mut rng, &base_v, 1e-4);
        v.resize(new_len / 2, 0.5);
        let mut new = to_bf16(&v);
        if new_len % 2 == 1 {
            new.push(7);
        }
        for dtype in [Layout::Bf16, Layout::Fp32, Layout::Byte] {
            let o = CompressOptions {
                dtype,
                chunk_size: 16384,
                ..CompressOptions::default()
            };
            let znn = compress_bytes_with_base(&new, Some(&base), &o).unwrap();
            let a = Archive::from_bytes(&znn).unwrap();
            assert_eq!(a.index.segments()[0].base_offset, Some(0));
            let back = decompress_bytes_with_base(&znn, Some(&base)).unwrap();
            assert_same(&back, &new, "positional delta");
        }
    }
}

#[test]
fn nothing_matched_gives_a_standalone_v1_file() {
    let p = model_pair(5);
    let unrelated = safetensors(&[tensor("x", "BF16", &[4], vec![1; 8])], None, true);
    let base = Base::from_bytes(unrelated);
    let znn = compress_bytes_with_base(&p.new, Some(&base), &opts(65536)).unwrap();
    assert_eq!(u16::from_le_bytes([znn[8], znn[9]]), 1);
    assert_eq!(znn, znn_gpu::compress_bytes(&p.new, &opts(65536)).unwrap());
    assert_same(&decompress_bytes(&znn).unwrap(), &p.new, "no base needed");
}

#[test]
fn missing_or_wrong_base_is_a_clear_error() {
    let p = model_pair(6);
    let base = Base::from_bytes(p.base.clone());
    let znn = compress_bytes_with_base(&p.new, Some(&base), &opts(65536)).unwrap();
    let msg = |r: Result<Vec<u8>, Error>| match r {
        Err(e) if e.kind() == znn_gpu::ErrorKind::InvalidArgument => e.to_string(),
        other => panic!("expected a clear error, got {:?}", other.map(|v| v.len())),
    };
    // The library says what is missing; the CLI adds the flag (`missing_base_on_the_cli`).
    assert!(matches!(decompress_bytes(&znn), Err(Error::NeedsBase(_))));
    let m = msg(decompress_bytes(&znn));
    assert!(m.contains("delta") && m.contains("base file"), "{m}");
    // Same length, one byte different: the hash tells.
    let mut other = p.base.clone();
    let last = other.len() - 1;
    other[last] ^= 1;
    let m = msg(decompress_bytes_with_base(
        &znn,
        Some(&Base::from_bytes(other)),
    ));
    assert!(m.contains("wrong base"), "{m}");
    let m = msg(decompress_bytes_with_base(
        &znn,
        Some(&Base::from_bytes(p.base[..p.base.len() - 2].to_vec())),
    ));
    assert!(m.contains("wrong base") && m.contains("bytes"), "{m}");
}

#[test]
fn damaged_deltas_never_decode_to_wrong_bytes() {
    let p = model_pair(7);
    let base = Base::from_bytes(p.base.clone());
    let znn = compress_bytes_with_base(&p.new, Some(&base), &opts(16384)).unwrap();
    let mut checked = 0;
    // Every byte of the index and trailer, and a stride through the data, with two masks.
    let a = Archive::from_bytes(&znn).unwrap();
    let index_start = znn.len() - 40 - a.trailer.index_len as usize;
    let positions = (0..16)
        .chain((16..index_start).step_by(97))
        .chain(index_start..znn.len());
    for pos in positions {
        for mask in [0x01u8, 0x80] {
            let mut bad = znn.clone();
            bad[pos] ^= mask;
            if let Ok(out) = decompress_bytes_with_base(&bad, Some(&base)) {
                assert_same(&out, &p.new, &format!("flip at {pos}"));
            }
            checked += 1;
        }
    }
    assert!(checked > 1000);
}

#[test]
fn gpu_decoder_restores_deltas() {
    let p = model_pair(8);
    let base = Base::from_bytes(p.base.clone());
    let znn = compress_bytes_with_base(&p.new, Some(&base), &opts(65536)).unwrap();
    let mut g = match znn_gpu::GpuDecoder::new() {
        Ok(g) => g,
        Err(e) => {
            common::say_skipped(&format!("SKIPPED: no GPU adapter ({e}) [delta gpu]"));
            return;
        }
    };
    // Without its base the GPU decoder says what is missing.
    let e = g.decompress_bytes(&znn).unwrap_err();
    assert!(matches!(e, Error::NeedsBase(_)), "{e}");
    assert!(e.to_string().contains("delta"), "{e}");
    let a = Archive::from_bytes(&znn).unwrap();
    assert!(matches!(
        g.verify(&a, &znn, None).unwrap_err(),
        Error::NeedsBase(_)
    ));
    // With it, the XOR runs in the fused kernel (the merge for chunks it does not take): read
    // back, on the device, and verified there.
    g.set_window_bytes(200_000);
    let mut out = Vec::new();
    g.decompress_to_writer_with_base(&a, &znn, Some(&base), &mut out)
        .unwrap();
    assert_same(&out, &p.new, "gpu delta");
    g.verify(&a, &znn, Some(&base)).unwrap();
    let dev = g.decode_delta_to_buffer(&a, &znn, Some(&base)).unwrap();
    assert_eq!(dev.len, p.new.len() as u64);
    // A wrong base byte fails the chunk checksums on the device.
    let mut other = p.base.clone();
    let mid = other.len() / 2;
    other[mid] ^= 1;
    let wrong = Base::from_bytes(other);
    assert!(g.verify(&a, &znn, Some(&wrong)).is_err());
    // One tensor at a time, its covering chunks only, the base's bytes under them uploaded.
    for (name, _, r) in common::read_safetensors(&p.new) {
        let (s, e) = (r.start as u64, r.end as u64);
        let got = g.read_range(&znn, &a, s, e, Some(&base)).unwrap();
        assert_same(&got, &p.new[r.clone()], &format!("gpu range {name}"));
        let dev = g
            .decode_range_to_buffer(&znn, &a, s, e, Some(&base))
            .unwrap();
        let back = g.read_back(&dev.buffer, dev.offset + dev.len).unwrap();
        assert_same(
            &back[dev.offset as usize..],
            &p.new[r],
            &format!("gpu buffer {name}"),
        );
    }
    let e = g.read_range(&znn, &a, 0, p.new.len() as u64, None);
    assert!(matches!(e.unwrap_err(), Error::NeedsBase(_)));
}

#[test]
fn cli_gpu_runs_deltas() {
    if znn_gpu::GpuDecoder::new().is_err() {
        common::say_skipped("SKIPPED: no GPU adapter [delta gpu cli]");
        return;
    }
    let p = model_pair(10);
    let dir = delta_dir(&p);
    let d = dir.path();
    for cmd in [
        &[
            "decompress",
            "new.safetensors.znn",
            "-o",
            "out",
            "--base",
            "base.safetensors",
        ][..],
        &[
            "verify",
            "new.safetensors.znn",
            "--base",
            "base.safetensors",
        ][..],
        &[
            "extract",
            "new.safetensors.znn",
            "--range",
            "1000..900000",
            "-o",
            "part",
            "--base",
            "base.safetensors",
        ][..],
    ] {
        let mut args = cmd.to_vec();
        args.extend(["--device", "gpu", "-v"]);
        let o = znn_gpu_cli().current_dir(d).args(&args).output().unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(o.status.success(), "{args:?}: {err}");
        assert!(err.contains("device: gpu"), "{args:?}: {err}");
        // The delta chunks decode in the fused kernel, base XOR included.
        let (head, _) = err
            .split_once(" chunks fused")
            .unwrap_or_else(|| panic!("{args:?}: no fused count in {err}"));
        let fused: usize = head.rsplit(' ').next().unwrap().parse().unwrap();
        assert!(fused > 0, "{args:?}: {err}");
    }
    assert_same(
        &std::fs::read(d.join("out")).unwrap(),
        &p.new,
        "cli gpu delta",
    );
    assert_same(
        &std::fs::read(d.join("part")).unwrap(),
        &p.new[1000..900_000],
        "cli gpu delta range",
    );
}

fn znn_gpu_cli() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_znn-gpu"));
    c.env_remove("XDG_RUNTIME_DIR");
    c
}

fn run_ok(dir: &std::path::Path, args: &[&str]) {
    let o = znn_gpu_cli().current_dir(dir).args(args).output().unwrap();
    assert!(
        o.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

/// A folder holding `p` as base.safetensors and new.safetensors, and new.safetensors.znn made by
/// the CLI against the base.
fn delta_dir(p: &Pair) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("base.safetensors"), &p.base).unwrap();
    std::fs::write(d.join("new.safetensors"), &p.new).unwrap();
    run_ok(
        d,
        &["compress", "new.safetensors", "--base", "base.safetensors"],
    );
    dir
}

fn run_err(dir: &std::path::Path, args: &[&str]) -> String {
    let o = znn_gpu_cli().current_dir(dir).args(args).output().unwrap();
    assert_eq!(o.status.code(), Some(1), "{args:?} must fail");
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn cli_base_round_trip_and_errors() {
    let p = model_pair(9);
    let dir = delta_dir(&p);
    let d = dir.path();
    run_ok(d, &["compress", "base.safetensors"]);
    let e = run_err(d, &["decompress", "new.safetensors.znn", "-o", "x"]);
    assert!(e.contains("delta") && e.contains("--base"), "{e}");
    let e = run_err(
        d,
        &[
            "decompress",
            "new.safetensors.znn",
            "-o",
            "x",
            "--base",
            "new.safetensors",
        ],
    );
    assert!(e.contains("wrong base"), "{e}");
    let e = run_err(
        d,
        &[
            "decompress",
            "new.safetensors.znn",
            "-o",
            "x",
            "--base",
            "base.safetensors.znn",
        ],
    );
    assert!(e.contains(".znn") && e.contains("original"), "{e}");
    let e = run_err(
        d,
        &[
            "compress",
            "new.safetensors",
            "-o",
            "y.znn",
            "--base",
            "nonexistent",
        ],
    );
    assert!(e.contains("nonexistent"), "{e}");
    assert!(!d.join("x").exists() && !d.join("y.znn").exists());
    run_ok(
        d,
        &[
            "decompress",
            "new.safetensors.znn",
            "-o",
            "back",
            "--base",
            "base.safetensors",
        ],
    );
    assert_same(&std::fs::read(d.join("back")).unwrap(), &p.new, "CLI delta");
    // A standalone file ignores a base.
    run_ok(
        d,
        &[
            "decompress",
            "base.safetensors.znn",
            "-o",
            "b2",
            "--base",
            "new.safetensors",
        ],
    );
    assert_same(
        &std::fs::read(d.join("b2")).unwrap(),
        &p.base,
        "standalone with --base",
    );
}

/// `info` on a delta: sizes and codec mix without the base (the delta segments' bounds shown as
/// `-`, `null` in JSON); with it, the bounds of the XOR bytes; a wrong base is refused.
#[test]
fn cli_info_of_a_delta() {
    let p = model_pair(11);
    let dir = delta_dir(&p);
    let d = dir.path();
    let info = |args: &[&str]| {
        let o = znn_gpu_cli().current_dir(d).args(args).output().unwrap();
        assert!(
            o.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8(o.stdout).unwrap()
    };
    let bf16_row = |out: &str| -> Vec<String> {
        let row = out
            .lines()
            .find(|l| l.starts_with("bf16 "))
            .expect("a bf16 row");
        row.split_whitespace().map(str::to_string).collect()
    };
    let without = info(&["info", "new.safetensors.znn"]);
    assert!(
        without.contains("delta:") && without.contains("info --base"),
        "{without}"
    );
    assert_eq!(bf16_row(&without)[4..6], ["-", "-"], "{without}");
    let with = info(&["info", "new.safetensors.znn", "--base", "base.safetensors"]);
    let row = bf16_row(&with);
    let (ratio, bound): (f64, f64) = (row[3].parse().unwrap(), row[4].parse().unwrap());
    assert!(bound > 0.0 && bound <= ratio, "{with}");
    let j = info(&["info", "new.safetensors.znn", "--json"]);
    let v: serde_json::Value = serde_json::from_str(&j).unwrap();
    let bf16 = v["summary"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["layout"] == "bf16")
        .unwrap();
    assert!(bf16["bound_joint_percent"].is_null(), "{j}");
    let e = run_err(
        d,
        &["info", "new.safetensors.znn", "--base", "new.safetensors"],
    );
    assert!(e.contains("wrong base"), "{e}");
}

#[test]
fn delta_across_several_windows() {
    // Larger than the 4 MiB coding window, so base bytes are read window by window.
    let mut rng = Rng::new(10);
    let w = bf16_weights(&mut rng, 3_000_000, 0.02);
    let base = safetensors(
        &[tensor("w", "BF16", &[3_000_000], to_bf16(&w))],
        None,
        true,
    );
    let new = safetensors(
        &[tensor(
            "w",
            "BF16",
            &[3_000_000],
            to_bf16(&step(&mut rng, &w, 1e-4)),
        )],
        None,
        true,
    );
    let b = Base::from_bytes(base);
    let znn = compress_bytes_with_base(&new, Some(&b), &opts(262_144)).unwrap();
    let mut out = Vec::new();
    let o = znn_gpu::DecompressOptions { base: Some(&b) };
    znn_gpu::decompress_to(&znn, &mut out, &o, &mut |_| {}).unwrap();
    assert_same(&out, &new, "multi-window delta");
}

#[test]
fn one_tensor_of_a_delta() {
    let p = model_pair(11);
    let base = Base::from_bytes(p.base.clone());
    let znn = compress_bytes_with_base(&p.new, Some(&base), &opts(16384)).unwrap();
    let with_base = reader(&znn, Some(&base));
    for (name, _, r) in common::read_safetensors(&p.new) {
        let mut out = Vec::new();
        with_base
            .write_range(r.start as u64, r.end as u64, &mut out)
            .unwrap();
        assert_same(&out, &p.new[r.clone()], &name);
    }
    // The tensor table needs no base (the header is never a delta); the data does.
    let (info, _) = common::read_safetensors(&p.new)
        .into_iter()
        .find(|t| t.0 == "a.weight")
        .map(|t| (t.2.clone(), ()))
        .unwrap();
    let without = reader(&znn, None);
    let e = without
        .read_range(info.start as u64, info.end as u64)
        .unwrap_err();
    // The library names the need (a front end adds its flag: the CLI test below checks --base).
    assert!(matches!(e, Error::NeedsBase(_)), "{e}");
    assert!(e.to_string().contains("delta"), "{e}");
    assert!(without.tensors().unwrap().is_some());
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("base.safetensors"), &p.base).unwrap();
    std::fs::write(d.join("new.znn"), &znn).unwrap();
    run_ok(
        d,
        &[
            "extract",
            "new.znn",
            "--tensor",
            "a.weight",
            "-o",
            "t",
            "--base",
            "base.safetensors",
        ],
    );
    assert_same(
        &std::fs::read(d.join("t")).unwrap(),
        &p.new[info.clone()],
        "CLI extract",
    );
    let e = run_err(
        d,
        &["extract", "new.znn", "--tensor", "a.weight", "-o", "t2"],
    );
    assert!(e.contains("--base"), "{e}");
}

#[test]
fn folder_against_a_base_folder() {
    // Each file REL of the folder is a delta against BASE/REL when that exists, else standalone.
    let p = model_pair(12);
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    for sub in ["base", "new", "new/sub"] {
        std::fs::create_dir_all(d.join(sub)).unwrap();
    }
    std::fs::write(d.join("base/model.safetensors"), &p.base).unwrap();
    std::fs::write(d.join("new/model.safetensors"), &p.new).unwrap();
    std::fs::write(d.join("new/sub/extra.safetensors"), &p.base).unwrap();
    std::fs::write(d.join("new/config.json"), b"{\"a\": 1}").unwrap();
    run_ok(d, &["compress", "new", "--base", "base", "-o", "packed"]);
    let z = std::fs::read(d.join("packed/model.safetensors.znn")).unwrap();
    assert_eq!(
        u16::from_le_bytes([z[8], z[9]]),
        2,
        "matched file is a delta"
    );
    let z = std::fs::read(d.join("packed/sub/extra.safetensors.znn")).unwrap();
    assert_eq!(
        u16::from_le_bytes([z[8], z[9]]),
        1,
        "unmatched file is standalone"
    );
    let e = run_err(d, &["decompress", "packed", "-o", "fail"]);
    assert!(e.contains("--base"), "{e}");
    run_ok(d, &["decompress", "packed", "--base", "base", "-o", "back"]);
    for f in ["model.safetensors", "sub/extra.safetensors", "config.json"] {
        assert_same(
            &std::fs::read(d.join("back").join(f)).unwrap(),
            &std::fs::read(d.join("new").join(f)).unwrap(),
            f,
        );
    }
}
