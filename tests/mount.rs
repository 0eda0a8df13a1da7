//! `znn-gpu mount` through a real FUSE mount: folders made from the shipped model (its fp32
//! original, a BF16 copy, a sharded folder with an index, a Hugging Face snapshot compressed in
//! place) read whole and by random ranges equal to their originals; mmap from 8 threads; a real
//! Python reader (safetensors, torch); a corrupt chunk is EIO and logged once; a replaced `.znn`
//! is never mixed; SIGTERM unmounts; the background mode returns once live; a missing FUSE device
//! gives one clear line.
//!
//! Every mount is ended by its guard's Drop (also when a test fails), and every read that could
//! block on the mount runs under a timeout. The tests skip, saying so, when /dev/fuse does not
//! exist.

#![cfg(all(target_os = "linux", feature = "mount"))]

use znn_test_support as common;

use common::cli::{bin, znn_gpu};
use std::collections::BTreeMap;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const MODEL: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/data/mobilenet-v2.fp32.safetensors"
);
/// Small chunks: many chunk boundaries inside each request.
const CHUNK: &str = "65536";

fn have_fuse() -> bool {
    if Path::new("/dev/fuse").exists() {
        return true;
    }
    println!("SKIPPED: /dev/fuse does not exist (FUSE mounts cannot be tested here)");
    false
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn tmp() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("znn-mount-")
        .tempdir()
        .unwrap()
}

#[track_caller]
fn ok(args: &[&str]) {
    let o = znn_gpu().args(args).output().unwrap();
    assert!(
        o.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

/// Runs `f` on a thread of its own; a test fails instead of hanging when a mount stops answering.
#[track_caller]
fn within<T: Send + 'static>(secs: u64, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(Duration::from_secs(secs))
        .unwrap_or_else(|_| panic!("no answer within {secs} s (a hung mount?)"))
}

fn mounted(mp: &Path) -> bool {
    let mp = mp.canonicalize().unwrap_or(mp.to_path_buf());
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap_or_default()
        .lines()
        .any(|l| l.split(' ').nth(4) == Some(s(&mp)))
}

/// A foreground `znn-gpu mount SRC MP -f`, live once `start` returns; unmounted and reaped on drop.
struct Mount {
    mp: PathBuf,
    log: PathBuf,
    child: Child,
}

impl Mount {
    fn start(src: &Path, mp: &Path, extra: &[&str]) -> Mount {
        std::fs::create_dir_all(mp).unwrap();
        let log = mp.with_extension("log");
        let child = znn_gpu()
            .args(["mount", s(src), s(mp), "-f"])
            .args(extra)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        let mut m = Mount {
            mp: mp.to_path_buf(),
            log,
            child,
        };
        let t = Instant::now();
        while !mounted(mp) {
            if let Some(st) = m.child.try_wait().unwrap() {
                panic!("mount exited ({st}): {}", m.log());
            }
            assert!(
                t.elapsed() < Duration::from_secs(30),
                "not mounted after 30 s"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        m
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.mp.join(rel)
    }

    /// Waits up to `secs` for the server to exit.
    fn wait_exit(&mut self, secs: u64) -> Option<std::process::ExitStatus> {
        let t = Instant::now();
        loop {
            if let Some(st) = self.child.try_wait().unwrap() {
                return Some(st);
            }
            if t.elapsed() > Duration::from_secs(secs) {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        if mounted(&self.mp) {
            let _ = Command::new("fusermount3")
                .args(["-u", "-z", s(&self.mp)])
                .stderr(Stdio::null())
                .status();
        }
        if self.wait_exit(10).is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        if mounted(&self.mp) {
            let _ = Command::new("umount").args(["-l", s(&self.mp)]).status();
        }
    }
}

/// Every file under `dir` (links followed) by relative path.
fn tree(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    fn visit(root: &Path, d: &Path, m: &mut BTreeMap<String, Vec<u8>>) {
        for e in std::fs::read_dir(d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                visit(root, &p, m);
            } else {
                let rel = p.strip_prefix(root).unwrap().to_string_lossy().into_owned();
                m.insert(rel, std::fs::read(&p).unwrap());
            }
        }
    }
    let mut m = BTreeMap::new();
    visit(dir, dir, &mut m);
    m
}

/// The shipped fp32 model with every F32 tensor rounded to BF16 (a BF16 model of the same shape).
fn bf16_copy(fp32: &[u8]) -> Vec<u8> {
    let n = u64::from_le_bytes(fp32[..8].try_into().unwrap()) as usize;
    let head: serde_json::Map<String, serde_json::Value> =
        serde_json::from_slice(&fp32[8..8 + n]).unwrap();
    let data = &fp32[8 + n..];
    let mut names: Vec<(&String, &serde_json::Value)> =
        head.iter().filter(|(k, _)| *k != "__metadata__").collect();
    names.sort_by_key(|(_, v)| v["data_offsets"][0].as_u64().unwrap());
    let (mut out_head, mut out) = (serde_json::Map::new(), Vec::new());
    for (k, v) in names {
        let (a, b) = (
            v["data_offsets"][0].as_u64().unwrap() as usize,
            v["data_offsets"][1].as_u64().unwrap() as usize,
        );
        let mut t = v.clone();
        let start = out.len();
        if v["dtype"] == "F32" {
            for f in data[a..b].chunks_exact(4) {
                let x = f32::from_le_bytes(f.try_into().unwrap());
                out.extend_from_slice(&half::bf16::from_f32(x).to_le_bytes());
            }
            t["dtype"] = "BF16".into();
        } else {
            out.extend_from_slice(&data[a..b]);
        }
        t["data_offsets"] = serde_json::json!([start, out.len()]);
        out_head.insert(k.clone(), t);
    }
    safetensors_file(out_head, &out)
}

fn safetensors_file(head: serde_json::Map<String, serde_json::Value>, data: &[u8]) -> Vec<u8> {
    let mut h = serde_json::to_vec(&head).unwrap();
    while h.len() % 8 != 0 {
        h.push(b' ');
    }
    let mut f = (h.len() as u64).to_le_bytes().to_vec();
    f.extend_from_slice(&h);
    f.extend_from_slice(data);
    f
}

/// Splits a safetensors file into two shards and their `model.safetensors.index.json`.
fn shards(file: &[u8]) -> Vec<(String, Vec<u8>)> {
    let n = u64::from_le_bytes(file[..8].try_into().unwrap()) as usize;
    let head: serde_json::Map<String, serde_json::Value> =
        serde_json::from_slice(&file[8..8 + n]).unwrap();
    let data = &file[8 + n..];
    let names: Vec<&String> = head.keys().filter(|k| *k != "__metadata__").collect();
    let half_at = names.len() / 2;
    let mut out = Vec::new();
    let mut map = serde_json::Map::new();
    for (si, part) in [&names[..half_at], &names[half_at..]].iter().enumerate() {
        let shard = format!("model-{:05}-of-00002.safetensors", si + 1);
        let (mut h, mut d) = (serde_json::Map::new(), Vec::new());
        for k in part.iter() {
            let v = &head[*k];
            let (a, b) = (
                v["data_offsets"][0].as_u64().unwrap() as usize,
                v["data_offsets"][1].as_u64().unwrap() as usize,
            );
            let mut t = v.clone();
            t["data_offsets"] = serde_json::json!([d.len(), d.len() + b - a]);
            d.extend_from_slice(&data[a..b]);
            h.insert((*k).clone(), t);
            map.insert((*k).clone(), shard.clone().into());
        }
        out.push((shard, safetensors_file(h, &d)));
    }
    let index = serde_json::json!({"metadata": {"total_size": data.len()}, "weight_map": map});
    out.push((
        "model.safetensors.index.json".into(),
        serde_json::to_vec_pretty(&index).unwrap(),
    ));
    out
}

/// An original model folder: the fp32 model, its BF16 copy, a sharded BF16 folder with an index,
/// configs.
fn model_folder(dir: &Path) -> Vec<u8> {
    let fp32 = std::fs::read(MODEL).unwrap();
    let bf16 = bf16_copy(&fp32);
    std::fs::create_dir_all(dir.join("sharded")).unwrap();
    std::fs::write(dir.join("model.safetensors"), &fp32).unwrap();
    std::fs::write(dir.join("model.bf16.safetensors"), &bf16).unwrap();
    std::fs::write(dir.join("config.json"), br#"{"model_type": "test"}"#).unwrap();
    for (name, bytes) in shards(&bf16) {
        std::fs::write(dir.join("sharded").join(name), bytes).unwrap();
    }
    std::fs::write(dir.join("sharded/config.json"), b"{}").unwrap();
    bf16
}

/// Random ranges (any length up to 1.5 MiB, chunk-boundary straddles) of `path` equal `orig`.
fn check_ranges(path: &Path, orig: &[u8], seed: u64) {
    let f = std::fs::File::open(path).unwrap();
    let mut rng = common::Rng::new(seed);
    let len = orig.len() as u64;
    let mut cases: Vec<(u64, usize)> = (0..150)
        .map(|_| {
            let off = rng.below(len);
            let n = match rng.below(3) {
                0 => 1 + rng.below(4096) as usize,
                1 => 1 + rng.below(1 << 20) as usize,
                _ => 1 + rng.below(3 << 19) as usize,
            };
            (off, n)
        })
        .collect();
    let c = 65536u64;
    cases.extend((1..len / c).step_by(7).map(|k| (k * c - 5, 11)));
    cases.push((len - 3, 100)); // past the end: short
    for (off, n) in cases {
        let mut buf = vec![0u8; n];
        let mut got = 0;
        while got < n {
            let r = f.read_at(&mut buf[got..], off + got as u64).unwrap();
            if r == 0 {
                break;
            }
            got += r;
        }
        let want = &orig[off as usize..(off as usize + n).min(orig.len())];
        assert_eq!(got, want.len(), "length at {off}+{n}");
        assert!(buf[..got] == *want, "bytes at {off}+{n}");
    }
}

#[test]
fn missing_fuse_device_is_one_clear_line() {
    let d = tmp();
    let z = d.path().join("m.znn");
    ok(&["compress", MODEL, "-o", s(&z), "-q"]);
    let mp = d.path().join("mp");
    std::fs::create_dir(&mp).unwrap();
    for fg in [true, false] {
        let mut c = znn_gpu();
        c.args(["mount", s(&z), s(&mp)])
            .env("ZNN_GPU_FUSE_DEVICE", d.path().join("no-such-fuse"));
        if fg {
            c.arg("-f");
        }
        let o = c.output().unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(!o.status.success(), "mount without FUSE succeeded");
        assert_eq!(err.trim_end().lines().count(), 1, "one line: {err}");
        for want in [
            "/dev/fuse",
            "fusermount3",
            "fuse3",
            "--device /dev/fuse --cap-add SYS_ADMIN",
            "no-such-fuse",
        ] {
            assert!(err.contains(want), "{want:?} missing from: {err}");
        }
        assert!(!mounted(&mp));
    }
}

#[test]
fn folder_reads_whole_and_by_ranges_equal_the_originals() {
    if !have_fuse() {
        return;
    }
    let d = tmp();
    let orig = d.path().join("orig");
    let bf16 = model_folder(&orig);
    let out = d.path().join("out");
    ok(&[
        "compress",
        s(&orig),
        "-o",
        s(&out),
        "--chunk-size",
        CHUNK,
        "-q",
    ]);
    assert!(out.join("model.bf16.safetensors.znn").exists());
    let m = Mount::start(&out, &d.path().join("mp"), &["--cache-mib", "8"]);
    let want = tree(&orig);
    let mp = m.mp.clone();
    let got = within(120, move || tree(&mp));
    assert_eq!(
        got.keys().collect::<Vec<_>>(),
        want.keys().collect::<Vec<_>>()
    );
    for (k, v) in &want {
        assert!(got[k] == *v, "{k} differs through the mount");
    }
    let meta = std::fs::metadata(m.path("model.bf16.safetensors")).unwrap();
    assert_eq!(meta.len(), bf16.len() as u64);
    let (p, b) = (m.path("model.bf16.safetensors"), bf16.clone());
    within(120, move || check_ranges(&p, &b, 1));
    let fp32 = std::fs::read(MODEL).unwrap();
    let p = m.path("model.safetensors");
    within(120, move || check_ranges(&p, &fp32, 2));
    // Read-only: writes and new files are refused.
    let e = std::fs::OpenOptions::new()
        .write(true)
        .open(m.path("config.json"))
        .unwrap_err();
    assert_eq!(e.raw_os_error(), Some(libc::EROFS), "{e}");
    assert!(std::fs::write(m.path("new.txt"), b"x").is_err());
    assert!(m.log().is_empty(), "log: {}", m.log());
}

#[test]
fn hf_snapshot_compressed_in_place_mounts_as_its_original() {
    if !have_fuse() {
        return;
    }
    let d = tmp();
    let repo = d.path().join("models--org--m");
    let snap = repo.join("snapshots/0123abcd");
    std::fs::create_dir_all(&snap).unwrap();
    std::fs::create_dir_all(repo.join("blobs")).unwrap();
    let fp32 = std::fs::read(MODEL).unwrap();
    let bf16 = bf16_copy(&fp32);
    let files: [(&str, &[u8]); 2] = [
        ("model.safetensors", &bf16),
        ("config.json", br#"{"model_type": "test"}"#),
    ];
    for (i, (name, bytes)) in files.iter().enumerate() {
        let blob = repo.join(format!("blobs/{i:040}"));
        std::fs::write(&blob, bytes).unwrap();
        std::os::unix::fs::symlink(format!("../../blobs/{i:040}"), snap.join(name)).unwrap();
    }
    ok(&[
        "compress",
        s(&snap),
        "--in-place",
        "--chunk-size",
        CHUNK,
        "-q",
    ]);
    assert!(snap.join("model.safetensors.znn").exists());
    let m = Mount::start(&snap, &d.path().join("mp"), &[]);
    let mp = m.mp.clone();
    let got = within(120, move || tree(&mp));
    assert_eq!(got.len(), 2, "{:?}", got.keys().collect::<Vec<_>>());
    assert!(got["model.safetensors"] == bf16);
    assert_eq!(got["config.json"], files[1].1);
}

#[test]
fn mmap_from_eight_threads_equals_the_original() {
    if !have_fuse() {
        return;
    }
    let d = tmp();
    let fp32 = std::fs::read(MODEL).unwrap();
    let bf16 = bf16_copy(&fp32);
    let orig = d.path().join("model.safetensors");
    std::fs::write(&orig, &bf16).unwrap();
    let z = d.path().join("model.safetensors.znn");
    ok(&[
        "compress",
        s(&orig),
        "-o",
        s(&z),
        "--chunk-size",
        CHUNK,
        "-q",
    ]);
    // A single .znn as SRC: a root holding it as its original name.
    let m = Mount::start(&z, &d.path().join("mp"), &["--cache-mib", "4"]);
    let p = m.path("model.safetensors");
    let bad = within(120, move || {
        let f = std::fs::File::open(&p).unwrap();
        let len = bf16.len();
        let map = Mapping::new(&f, len);
        let page = 4096;
        let pages = len.div_ceil(page);
        std::thread::scope(|sc| {
            let hs: Vec<_> = (0..8)
                .map(|t| {
                    let (map, bf16) = (&map, &bf16);
                    sc.spawn(move || {
                        // Each thread walks its own pages, from the far end, so that the threads
                        // fault neighbouring pages of one file at the same time.
                        let mut bad = 0usize;
                        for pg in (t..pages).step_by(8).rev() {
                            let (a, b) = (pg * page, ((pg + 1) * page).min(len));
                            bad += (map.bytes()[a..b] != bf16[a..b]) as usize;
                        }
                        bad
                    })
                })
                .collect();
            hs.into_iter().map(|h| h.join().unwrap()).sum::<usize>()
        })
    });
    assert_eq!(bad, 0, "pages differ through mmap");
}

/// A read-only shared mapping of a whole file.
struct Mapping {
    ptr: *mut libc::c_void,
    len: usize,
}

// SAFETY: the mapping is read-only and lives until drop; sharing it across threads is reading
// memory.
unsafe impl Sync for Mapping {}

impl Mapping {
    fn new(f: &std::fs::File, len: usize) -> Mapping {
        use std::os::fd::AsRawFd;
        // SAFETY: a fresh read-only mapping of an open file; checked for failure below.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ,
                libc::MAP_SHARED,
                f.as_raw_fd(),
                0,
            )
        };
        assert_ne!(ptr, libc::MAP_FAILED, "mmap failed");
        Mapping { ptr, len }
    }

    fn bytes(&self) -> &[u8] {
        // SAFETY: `ptr` maps `len` readable bytes until drop.
        unsafe { std::slice::from_raw_parts(self.ptr as *const u8, self.len) }
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: unmapping the mapping made in `new`, once.
        unsafe {
            libc::munmap(self.ptr, self.len);
        }
    }
}

/// The test venv that `.ci/python-venv` builds (numpy, safetensors, torch), if it is there.
fn venv_python() -> Option<PathBuf> {
    let venv = std::env::var_os("ZNN_PY_VENV")
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/znn-gpu/py311-venv"))
        })?;
    let py = venv.join("bin/python");
    py.exists().then_some(py)
}

#[test]
fn python_safetensors_reads_the_same_tensors_through_the_mount() {
    if !have_fuse() {
        return;
    }
    let Some(py) = venv_python() else {
        println!("SKIPPED: no Python venv (run .ci/python-venv, or set ZNN_PY_VENV)");
        return;
    };
    let d = tmp();
    let orig = d.path().join("orig");
    model_folder(&orig);
    let out = d.path().join("out");
    ok(&["compress", s(&orig), "-o", s(&out), "-q"]);
    let m = Mount::start(&out, &d.path().join("mp"), &[]);
    // safe_open (mmap) with numpy on the fp32 file, torch on the BF16 file and on the shards
    // (found through the index), each against the uncompressed original.
    let script = r#"
import json, os, sys
import numpy as np, torch
from safetensors import safe_open
from safetensors.torch import load_file
orig, mnt = sys.argv[1], sys.argv[2]
n = 0
with safe_open(os.path.join(orig, "model.safetensors"), "np") as a, \
     safe_open(os.path.join(mnt, "model.safetensors"), "np") as b:
    assert sorted(a.keys()) == sorted(b.keys())
    for k in a.keys():
        assert np.array_equal(a.get_tensor(k), b.get_tensor(k)), k
        n += 1
def same(x, y):
    assert x.keys() == y.keys()
    for k in x:
        assert x[k].dtype == y[k].dtype and torch.equal(x[k], y[k]), k
    return len(x)
n += same(load_file(os.path.join(orig, "model.bf16.safetensors")),
          load_file(os.path.join(mnt, "model.bf16.safetensors")))
idx = json.load(open(os.path.join(mnt, "sharded", "model.safetensors.index.json")))
for shard in sorted(set(idx["weight_map"].values())):
    n += same(load_file(os.path.join(orig, "sharded", shard)),
              load_file(os.path.join(mnt, "sharded", shard)))
print("tensors", n)
"#;
    let (py2, o2, mp) = (py.clone(), orig.clone(), m.mp.clone());
    let o = within(300, move || {
        Command::new(py2)
            .args(["-c", script, s(&o2), s(&mp)])
            .output()
            .unwrap()
    });
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success() && text.contains("tensors "),
        "python: {text}\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let n: usize = text.trim().rsplit(' ').next().unwrap().parse().unwrap();
    assert!(n > 300, "only {n} tensors compared");
}

#[test]
fn corrupt_chunk_is_eio_for_every_read_and_logged_once() {
    if !have_fuse() {
        return;
    }
    let d = tmp();
    let src = d.path().join("src");
    std::fs::create_dir(&src).unwrap();
    let fp32 = std::fs::read(MODEL).unwrap();
    let z = src.join("model.safetensors.znn");
    ok(&["compress", MODEL, "-o", s(&z), "--chunk-size", CHUNK, "-q"]);
    let mut bytes = std::fs::read(&z).unwrap();
    let a = znn_gpu::Archive::from_bytes(&bytes).unwrap();
    let (ci, c) = a
        .index
        .chunks()
        .iter()
        .enumerate()
        .skip(10)
        .find(|(_, c)| c.data_len > 1000)
        .map(|(i, c)| (i, *c))
        .unwrap();
    let at = znn_gpu::Archive::DATA_START + c.data_offset + c.data_len / 2;
    bytes[at as usize] ^= 0x40;
    std::fs::write(&z, &bytes).unwrap();
    let m = Mount::start(&src, &d.path().join("mp"), &[]);
    let p = m.path("model.safetensors");
    let (bad_lo, bad_hi) = (c.orig_offset, c.orig_offset + c.orig_len as u64);
    let errs = within(120, move || {
        let f = std::fs::File::open(&p).unwrap();
        let mut errs = Vec::new();
        for _ in 0..2 {
            errs.push(std::fs::read(&p).unwrap_err().raw_os_error());
            let mut b = vec![0u8; 100];
            errs.push(f.read_at(&mut b, bad_lo + 10).unwrap_err().raw_os_error());
            errs.push(f.read_at(&mut b, bad_hi - 50).unwrap_err().raw_os_error());
        }
        // Bytes away from the bad chunk still read, and are right.
        let mut b = vec![0u8; 1000];
        f.read_exact_at(&mut b, 0).unwrap();
        assert!(b == fp32[..1000]);
        let end = fp32.len() as u64 - 1000;
        f.read_exact_at(&mut b, end).unwrap();
        assert!(b == fp32[end as usize..]);
        errs
    });
    assert!(errs.iter().all(|e| *e == Some(libc::EIO)), "{errs:?}");
    let log = m.log();
    let want = format!("chunk {ci} ");
    assert_eq!(
        log.lines().filter(|l| l.contains(&want)).count(),
        1,
        "logged once: {log}"
    );
    assert!(log.contains("model.safetensors"), "{log}");
}

#[test]
fn a_znn_replaced_under_the_mount_is_never_mixed() {
    if !have_fuse() {
        return;
    }
    let d = tmp();
    let src = d.path().join("src");
    std::fs::create_dir(&src).unwrap();
    let fp32 = std::fs::read(MODEL).unwrap();
    let z = src.join("model.safetensors.znn");
    ok(&["compress", MODEL, "-o", s(&z), "--chunk-size", CHUNK, "-q"]);
    let m = Mount::start(&src, &d.path().join("mp"), &[]);
    let p = m.path("model.safetensors");
    let f = std::fs::File::open(&p).unwrap();
    let mut head = vec![0u8; 4096];
    f.read_exact_at(&mut head, 0).unwrap();
    // Another model of the same name replaces the .znn (renamed over it, as tools do).
    let other = d.path().join("other.bin");
    std::fs::write(&other, common::cli::synthetic_bf16(3_000_000, 7)).unwrap();
    let z2 = d.path().join("other.znn");
    ok(&["compress", s(&other), "-o", s(&z2), "-q"]);
    std::fs::rename(&z2, &z).unwrap();
    let r = within(60, move || {
        // The open handle reads the file it opened, whole.
        let mut all = vec![0u8; fp32.len()];
        f.read_exact_at(&mut all, 0).unwrap();
        assert!(all == fp32, "an open handle changed files");
        drop(f);
        // A new open is refused: the kernel's sizes and pages are the old file's.
        std::fs::read(&p).map(|b| b.len())
    });
    let e = r.expect_err("a replaced .znn was served");
    assert_eq!(e.raw_os_error(), Some(libc::EIO), "{e}");
    assert!(
        m.log().contains("changed since it was mounted"),
        "{}",
        m.log()
    );
}

#[test]
fn sigterm_unmounts_a_foreground_mount() {
    if !have_fuse() {
        return;
    }
    let d = tmp();
    let z = d.path().join("m.safetensors.znn");
    ok(&["compress", MODEL, "-o", s(&z), "-q"]);
    let mut m = Mount::start(&z, &d.path().join("mp"), &[]);
    let p = m.path("m.safetensors");
    let n = within(60, move || std::fs::read(p).unwrap().len());
    assert_eq!(n as u64, std::fs::metadata(MODEL).unwrap().len());
    // SAFETY: signalling the server this test started.
    unsafe {
        libc::kill(m.child.id() as i32, libc::SIGTERM);
    }
    let st = m.wait_exit(30).expect("the server exits after SIGTERM");
    assert!(st.success(), "exit {st}: {}", m.log());
    assert!(!mounted(&m.mp), "still mounted after SIGTERM");
}

#[test]
fn background_mount_returns_once_live_and_ends_with_fusermount() {
    if !have_fuse() {
        return;
    }
    let d = tmp();
    let z = d.path().join("m.safetensors.znn");
    ok(&["compress", MODEL, "-o", s(&z), "-q"]);
    let mp = d.path().join("mp");
    std::fs::create_dir(&mp).unwrap();
    let o = within(60, {
        let (z, mp) = (z.clone(), mp.clone());
        move || {
            Command::new(bin())
                .args(["mount", s(&z), s(&mp)])
                .stdin(Stdio::null())
                .output()
                .unwrap()
        }
    });
    // Unmounts even if an assertion below fails.
    struct Unmount(PathBuf);
    impl Drop for Unmount {
        fn drop(&mut self) {
            if mounted(&self.0) {
                let _ = Command::new("umount").args(["-l", s(&self.0)]).status();
            }
        }
    }
    let _guard = Unmount(mp.clone());
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(mounted(&mp), "not live when mount returned");
    let p = mp.join("m.safetensors");
    let got = within(60, move || std::fs::read(p).unwrap());
    assert!(got == std::fs::read(MODEL).unwrap());
    let st = Command::new("fusermount3")
        .args(["-u", s(&mp)])
        .status()
        .unwrap();
    assert!(st.success());
    assert!(!mounted(&mp));
    // An error in the background mode is reported by the caller: a mount point that is a file.
    let o = Command::new(bin())
        .args(["mount", s(&z), s(&z)])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success() && err.contains("not a folder"), "{err}");
}
