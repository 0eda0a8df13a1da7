//! Model folders through the `znn-gpu` command: mirrored, beside and in-place round trips (nested
//! folders, shard index, text files, a `.bin`), Hugging Face cache snapshots updated through their
//! links, `info DIR`, errors, a failure in the middle of a folder, and crash safety of --in-place.

use znn_test_support as common;

use common::*;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

fn run(args: &[&str], env: &[(&str, &str)]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_znn-gpu"))
        .args(args)
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .output()
        .expect("running znn-gpu")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[track_caller]
fn ok(args: &[&str]) -> Output {
    let o = run(args, &[]);
    assert!(
        o.status.success(),
        "{args:?}: exit {:?}, stderr: {}",
        o.status.code(),
        stderr(&o)
    );
    o
}

#[track_caller]
fn fails(args: &[&str]) -> String {
    let o = run(args, &[]);
    assert!(!o.status.success(), "{args:?} should fail");
    stderr(&o)
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn tmp() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("znn-folder-")
        .tempdir()
        .unwrap()
}

/// Every file under `dir` (links followed) by relative path.
fn tree(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut m = BTreeMap::new();
    fn visit(root: &Path, d: &Path, m: &mut BTreeMap<String, Vec<u8>>) {
        for e in std::fs::read_dir(d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                visit(root, &p, m);
            } else {
                let rel = p.strip_prefix(root).unwrap().display().to_string();
                m.insert(rel, std::fs::read(&p).unwrap());
            }
        }
    }
    visit(dir, dir, &mut m);
    m
}

#[track_caller]
fn same_tree(got: &BTreeMap<String, Vec<u8>>, want: &BTreeMap<String, Vec<u8>>) {
    let (g, w): (Vec<_>, Vec<_>) = (got.keys().collect(), want.keys().collect());
    assert_eq!(g, w, "file lists differ");
    for (k, v) in want {
        assert_same(&got[k], v, k);
    }
}

/// A BF16 safetensors file of `n` elements (weight-like values).
fn weights(seed: u64, n: usize) -> Vec<u8> {
    let mut rng = Rng::new(seed);
    let v: Vec<f64> = (0..n).map(|_| rng.normal(0.02)).collect();
    let half = n / 2 * 2;
    safetensors(
        &[
            tensor(
                "a.weight",
                "BF16",
                &[half as u64 / 2],
                encode_floats(Layout::Bf16, &v[..half / 2]),
            ),
            tensor(
                "b.weight",
                "BF16",
                &[half as u64 / 2],
                encode_floats(Layout::Bf16, &v[half / 2..half]),
            ),
        ],
        Some(&[("format", "pt")]),
        true,
    )
}

use znn_gpu::Layout;

fn write(p: &Path, b: &[u8]) {
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, b).unwrap();
}

/// A model folder: two shards and their index, configs, a tokenizer, a README, a `.bin` (pickle
/// magic) and a nested adapter folder.
fn model(dir: &Path) {
    write(
        &dir.join("model-00001-of-00002.safetensors"),
        &weights(1, 40_000),
    );
    write(
        &dir.join("model-00002-of-00002.safetensors"),
        &weights(2, 30_000),
    );
    let index = r#"{"metadata":{"total_size":140000},"weight_map":{"a.weight":"model-00001-of-00002.safetensors","b.weight":"model-00002-of-00002.safetensors"}}"#;
    write(&dir.join("model.safetensors.index.json"), index.as_bytes());
    write(&dir.join("config.json"), b"{\"hidden_size\": 64}\n");
    write(&dir.join("tokenizer.json"), &vec![b'x'; 3000]);
    write(&dir.join("README.md"), b"# a model\n");
    let mut bin = b"\x80\x02".to_vec();
    bin.extend(encode_floats(
        Layout::Bf16,
        &(0..20_000)
            .map(|i| (i as f64).sin() * 0.01)
            .collect::<Vec<_>>(),
    ));
    write(&dir.join("pytorch_model.bin"), &bin);
    write(
        &dir.join("adapters/lora/adapter_model.safetensors"),
        &weights(3, 10_000),
    );
    write(
        &dir.join("adapters/lora/adapter_config.json"),
        b"{\"r\": 8}",
    );
    // Recognised by content (NumPy magic) whatever its name.
    let mut npy = b"\x93NUMPY\x01\x00".to_vec();
    npy.extend(weights(4, 5_000));
    write(&dir.join("embeddings.data"), &npy);
    // Not weights by content or name: left alone, however large.
    write(&dir.join("assets/logo.png"), &Rng::new(9).bytes(1_200_000));
}

const WEIGHTS: [&str; 5] = [
    "model-00001-of-00002.safetensors",
    "embeddings.data",
    "model-00002-of-00002.safetensors",
    "pytorch_model.bin",
    "adapters/lora/adapter_model.safetensors",
];

/// No temporary or staging file of the CLI anywhere under `dir`.
#[track_caller]
fn no_leftovers(dir: &Path) {
    for k in tree_names(dir) {
        assert!(!k.contains(".znn-gpu-"), "leftover {k}");
    }
}

/// Every name under `dir`, links not followed.
fn tree_names(dir: &Path) -> Vec<String> {
    let mut v = Vec::new();
    fn visit(root: &Path, d: &Path, v: &mut Vec<String>) {
        for e in std::fs::read_dir(d).unwrap() {
            let p = e.unwrap().path();
            v.push(p.strip_prefix(root).unwrap().display().to_string());
            if std::fs::symlink_metadata(&p).unwrap().is_dir() {
                visit(root, &p, v);
            }
        }
    }
    visit(dir, dir, &mut v);
    v.sort();
    v
}

#[test]
fn mirrored_round_trip() {
    let t = tmp();
    let (m, z, back) = (
        t.path().join("m"),
        t.path().join("z"),
        t.path().join("back"),
    );
    model(&m);
    let orig = tree(&m);
    ok(&["compress", s(&m), "-o", s(&z)]);
    let comp = tree(&z);
    // Weights became NAME.znn; everything else is a copy; the index is untouched.
    for (k, v) in &orig {
        if WEIGHTS.contains(&k.as_str()) {
            assert!(!comp.contains_key(k), "{k} copied");
            let znn = &comp[&format!("{k}.znn")];
            assert_same(&znn_gpu::decompress_bytes(znn).unwrap(), v, k);
            assert!(znn.len() < v.len(), "{k} did not shrink");
        } else {
            assert_same(&comp[k], v, k);
        }
    }
    assert_eq!(comp.len(), orig.len());
    assert_eq!(tree(&m), orig, "input changed");
    ok(&["decompress", s(&z), "-o", s(&back), "--device", "cpu"]);
    same_tree(&tree(&back), &orig);
    no_leftovers(t.path());
}

#[test]
fn beside_and_in_place_round_trips() {
    let t = tmp();
    let m = t.path().join("m");
    model(&m);
    let orig = tree(&m);
    // Beside: NAME.znn next to each weight file, originals kept.
    ok(&["compress", s(&m)]);
    let both = tree(&m);
    assert_eq!(both.len(), orig.len() + WEIGHTS.len());
    for w in WEIGHTS {
        assert_same(
            &znn_gpu::decompress_bytes(&both[&format!("{w}.znn")]).unwrap(),
            &orig[w],
            w,
        );
    }
    // A second run refuses, naming every existing output, before writing anything.
    let e = fails(&["compress", s(&m)]);
    for w in WEIGHTS {
        assert!(e.contains(&format!("{w}.znn")), "{w} not listed: {e}");
    }
    assert!(e.contains("5 output(s) exist"), "{e}");
    // Decompress beside: the originals exist, so -f is needed; the result is byte-identical.
    let e = fails(&["decompress", s(&m), "--device", "cpu"]);
    assert!(e.contains("-f"), "{e}");
    ok(&["decompress", s(&m), "-f", "--device", "cpu"]);
    same_tree(&tree(&m), &both);
    for w in WEIGHTS {
        std::fs::remove_file(m.join(format!("{w}.znn"))).unwrap();
    }

    // In place: the originals are replaced, the other files left alone.
    ok(&["compress", "--in-place", s(&m)]);
    let comp = tree(&m);
    assert_eq!(comp.len(), orig.len());
    for w in WEIGHTS {
        assert!(!comp.contains_key(w));
        assert_same(
            &znn_gpu::decompress_bytes(&comp[&format!("{w}.znn")]).unwrap(),
            &orig[w],
            w,
        );
    }
    // A compress of a folder holding only .znn weights has nothing to do.
    let e = fails(&["compress", s(&m)]);
    assert!(e.contains("no weight files found"), "{e}");
    ok(&["decompress", "--in-place", s(&m), "--device", "cpu"]);
    same_tree(&tree(&m), &orig);

    // A single file in place, both ways.
    let f = m.join("pytorch_model.bin");
    ok(&["compress", "--in-place", s(&f)]);
    assert!(!f.exists() && m.join("pytorch_model.bin.znn").exists());
    ok(&[
        "decompress",
        "--in-place",
        s(&m.join("pytorch_model.bin.znn")),
        "--device",
        "cpu",
    ]);
    same_tree(&tree(&m), &orig);
    no_leftovers(&m);
}

/// A Hugging Face cache repo: blobs, two revisions sharing the model blob and the config, a nested
/// file, relative links. Returns (repo, original content by revision-relative path).
fn hf_cache(root: &Path) -> (PathBuf, BTreeMap<String, Vec<u8>>) {
    let repo = root.join("models--org--name");
    let blobs = repo.join("blobs");
    // Same content, same blob: the revisions share the config's and the model's.
    let files: [(&str, &str, Vec<u8>); 6] = [
        ("rev1", "config.json", b"{\"a\": 1}".to_vec()),
        ("rev1", "model.safetensors", weights(10, 30_000)),
        ("rev1", "sub/extra.safetensors", weights(11, 8_000)),
        ("rev2", "config.json", b"{\"a\": 1}".to_vec()),
        ("rev2", "model.safetensors", weights(10, 30_000)),
        ("rev2", "model2.safetensors", weights(12, 9_000)),
    ];
    let mut want = BTreeMap::new();
    for (rev, name, data) in files {
        let sha = format!("{:016x}", xxhash_rust::xxh3::xxh3_64(&data));
        write(&blobs.join(&sha), &data);
        let link = repo.join("snapshots").join(rev).join(name);
        std::fs::create_dir_all(link.parent().unwrap()).unwrap();
        let up = "../".repeat(name.matches('/').count() + 2);
        std::os::unix::fs::symlink(format!("{up}blobs/{sha}"), &link).unwrap();
        want.insert(format!("{rev}/{name}"), data);
    }
    write(&repo.join("refs/main"), b"rev2");
    (repo, want)
}

fn blob_names(repo: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(repo.join("blobs"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

/// The file `rel` of the snapshots, through its link, decoded when it is a `.znn`.
fn content(repo: &Path, rel: &str) -> Vec<u8> {
    let p = repo.join("snapshots").join(rel);
    let z = repo.join("snapshots").join(format!("{rel}.znn"));
    if std::fs::symlink_metadata(&p).is_ok() {
        assert!(std::fs::symlink_metadata(&p)
            .unwrap()
            .file_type()
            .is_symlink());
        std::fs::read(&p).unwrap()
    } else {
        assert!(
            std::fs::symlink_metadata(&z)
                .unwrap()
                .file_type()
                .is_symlink(),
            "{rel}.znn"
        );
        znn_gpu::decompress_bytes(&std::fs::read(&z).unwrap()).unwrap()
    }
}

#[test]
fn hf_snapshot_in_place() {
    let t = tmp();
    let (repo, want) = hf_cache(t.path());
    let blobs0 = blob_names(&repo);
    let snaps = repo.join("snapshots");

    // Not in place: links are followed, regular files written.
    let out = t.path().join("out");
    ok(&["compress", s(&snaps.join("rev1")), "-o", s(&out)]);
    let o = tree(&out);
    assert_eq!(
        o.keys().collect::<Vec<_>>(),
        [
            "config.json",
            "model.safetensors.znn",
            "sub/extra.safetensors.znn"
        ]
    );
    assert!(
        !std::fs::symlink_metadata(out.join("model.safetensors.znn"))
            .unwrap()
            .file_type()
            .is_symlink()
    );

    ok(&["compress", "--in-place", s(&snaps.join("rev1"))]);
    let l = std::fs::read_link(snaps.join("rev1/model.safetensors.znn")).unwrap();
    assert!(
        l.to_str().unwrap().starts_with("../../blobs/") && l.to_str().unwrap().ends_with(".znn"),
        "{l:?}"
    );
    let l = std::fs::read_link(snaps.join("rev1/sub/extra.safetensors.znn")).unwrap();
    assert!(l.to_str().unwrap().starts_with("../../../blobs/"), "{l:?}");
    assert!(std::fs::symlink_metadata(snaps.join("rev1/model.safetensors")).is_err());
    for (k, v) in &want {
        assert_same(&content(&repo, k), v, k);
    }
    // The model blob is still referenced by rev2: kept. The extra blob is not: gone.
    let b = blob_names(&repo);
    assert_eq!(b.len(), blobs0.len() + 1, "{b:?}");
    assert!(b.iter().filter(|n| n.ends_with(".znn")).count() == 2);

    // rev2 reuses the model's .znn blob; then the original model blob has no link left.
    ok(&["compress", "--in-place", s(&snaps.join("rev2"))]);
    let b = blob_names(&repo);
    assert_eq!(b.iter().filter(|n| n.ends_with(".znn")).count(), 3, "{b:?}");
    assert_eq!(b.len(), 4, "{b:?}");
    for (k, v) in &want {
        assert_same(&content(&repo, k), v, k);
    }

    // A single link in place.
    let one = snaps.join("rev2/model2.safetensors.znn");
    ok(&["decompress", "--in-place", s(&one), "--device", "cpu"]);
    assert!(std::fs::symlink_metadata(&one).is_err());
    assert_same(
        &std::fs::read(snaps.join("rev2/model2.safetensors")).unwrap(),
        &want["rev2/model2.safetensors"],
        "model2",
    );

    // Decompress the whole repo in place: blobs/ is reached through the snapshots only.
    ok(&["decompress", "--in-place", s(&repo), "--device", "cpu"]);
    assert_eq!(blob_names(&repo), blobs0);
    for (k, v) in &want {
        assert!(
            std::fs::symlink_metadata(snaps.join(k))
                .unwrap()
                .file_type()
                .is_symlink(),
            "{k}"
        );
        assert_same(&std::fs::read(snaps.join(k)).unwrap(), v, k);
    }
    no_leftovers(&repo);
}

#[test]
fn info_folder() {
    let t = tmp();
    let (m, z) = (t.path().join("m"), t.path().join("z"));
    model(&m);
    let orig = tree(&m);
    ok(&["compress", s(&m), "-o", s(&z)]);
    let comp = tree(&z);
    let o = ok(&["info", s(&z), "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let total: usize = orig.values().map(Vec::len).sum();
    let disk: usize = comp.values().map(Vec::len).sum();
    assert_eq!(v["original_len"], total as u64);
    assert_eq!(v["disk_len"], disk as u64);
    assert_eq!(v["files"]["compressed"], WEIGHTS.len());
    assert_eq!(v["files"]["other"], orig.len() - WEIGHTS.len());
    assert_eq!(v["files"]["weights_not_compressed"], 0);
    let w: usize = WEIGHTS.iter().map(|w| orig[*w].len()).sum();
    assert_eq!(v["compressed_weights"]["original"], w as u64);
    let dt = v["dtypes"].as_array().unwrap();
    assert!(dt.iter().any(|d| d["dtype"] == "bf16"), "{dt:?}");
    let dsum: u64 = dt.iter().map(|d| d["original"].as_u64().unwrap()).sum();
    assert_eq!(dsum, w as u64);
    assert_eq!(v["entries"].as_array().unwrap().len(), comp.len());
    let o = ok(&["info", s(&z)]);
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(
        text.contains(&format!("original:    {total} bytes")),
        "{text}"
    );
    assert!(
        text.contains("5 compressed (.znn), 0 weights not compressed"),
        "{text}"
    );
    assert!(text.contains("pytorch_model.bin.znn"), "{text}");
}

#[test]
fn errors() {
    let t = tmp();
    let empty = t.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    assert!(fails(&["compress", s(&empty)]).contains("no weight files found in"));
    assert!(fails(&["decompress", s(&empty)]).contains("no .znn files found in"));
    write(&empty.join("config.json"), b"{}");
    assert!(fails(&["compress", s(&empty)]).contains("no weight files found in"));
    write(&empty.join("w.bin"), &weights(6, 1000));
    let e = fails(&["compress", s(&empty), "--base", s(&empty.join("w.bin"))]);
    assert!(e.contains("must be a folder"), "{e}");

    let m = t.path().join("m");
    model(&m);
    let orig = tree(&m);
    let e = fails(&["compress", s(&m), "-o", s(&m.join("out"))]);
    assert!(e.contains("nested"), "{e}");
    let e = fails(&["compress", s(&m.join("adapters")), "-o", s(&m)]);
    assert!(e.contains("nested"), "{e}");
    let e = fails(&["compress", s(&m), "-o", s(&m.join("config.json"))]);
    assert!(e.contains("not a folder"), "{e}");
    assert!(fails(&["compress", s(&m), "-o", "-"]).contains("standard output"));
    // Existing outputs in -o: all listed, nothing written.
    let z = t.path().join("z");
    write(&z.join("config.json"), b"old");
    write(&z.join("pytorch_model.bin.znn"), b"old");
    let e = fails(&["compress", s(&m), "-o", s(&z)]);
    assert!(
        e.contains("config.json") && e.contains("pytorch_model.bin.znn"),
        "{e}"
    );
    assert_eq!(tree(&z).len(), 2);
    ok(&["compress", s(&m), "-o", s(&z), "-f"]);
    assert_eq!(tree(&z)["config.json"], orig["config.json"]);
    // A dangling link: refused before any work, named.
    std::os::unix::fs::symlink("nowhere.safetensors", m.join("gone.safetensors")).unwrap();
    let names = tree_names(&m);
    let e = fails(&["compress", s(&m)]);
    assert!(
        e.contains("gone.safetensors") && e.contains("dangling"),
        "{e}"
    );
    assert_eq!(tree_names(&m), names);
    // --in-place on a link that is not a Hugging Face cache link.
    std::fs::remove_file(m.join("gone.safetensors")).unwrap();
    std::os::unix::fs::symlink("pytorch_model.bin", m.join("alias.bin")).unwrap();
    let e = fails(&["compress", "--in-place", s(&m)]);
    assert!(e.contains("alias.bin") && e.contains("Hugging Face"), "{e}");
    std::fs::remove_file(m.join("alias.bin")).unwrap();
    assert_eq!(tree(&m), orig);
    no_leftovers(t.path());
}

#[test]
fn failure_mid_folder() {
    let t = tmp();
    let (m, z, back) = (
        t.path().join("m"),
        t.path().join("z"),
        t.path().join("back"),
    );
    model(&m);
    let orig = tree(&m);
    ok(&["compress", s(&m), "-o", s(&z)]);
    // Damage one .znn's data (its index still reads): decoding finds the bad chunk mid-file.
    let bad = z.join("model-00002-of-00002.safetensors.znn");
    let mut b = std::fs::read(&bad).unwrap();
    b[HEADER_LEN + 100] ^= 0x55;
    std::fs::write(&bad, &b).unwrap();
    let e = fails(&["decompress", s(&z), "-o", s(&back), "--device", "cpu"]);
    assert!(
        e.contains("1 of") && e.contains("model-00002-of-00002.safetensors.znn"),
        "{e}"
    );
    let got = tree(&back);
    assert!(!got.contains_key("model-00002-of-00002.safetensors"));
    for (k, v) in &orig {
        if k != "model-00002-of-00002.safetensors" {
            assert_same(&got[k], v, k);
        }
    }
    // In place: the damaged file stays as it was, the others are replaced.
    let e = fails(&["decompress", "--in-place", s(&z), "--device", "cpu"]);
    assert!(e.contains("model-00002-of-00002.safetensors.znn"), "{e}");
    let got = tree(&z);
    assert_eq!(got["model-00002-of-00002.safetensors.znn"], b);
    assert!(!got.contains_key("model-00002-of-00002.safetensors"));
    assert_same(&got["pytorch_model.bin"], &orig["pytorch_model.bin"], "bin");
    no_leftovers(t.path());
}

/// At every step of --in-place, a crash leaves each file either as it was or replaced by a
/// verified `.znn` (checked here by decoding it).
#[test]
fn in_place_crash_safety() {
    for step in ["staged", "verified", "renamed", "linked", "unlinked"] {
        let t = tmp();
        let m = t.path().join("m");
        write(&m.join("w.safetensors"), &weights(5, 20_000));
        let (repo, want) = hf_cache(t.path());
        for dir in [m.clone(), repo.join("snapshots/rev1")] {
            let o = run(
                // One file at a time: the crash hits at a known point of one file, with no other
                // file's temporary output half written.
                &["--threads", "1", "compress", "--in-place", s(&dir)],
                &[("ZNN_GPU_TEST_CRASH_AT", step)],
            );
            let hit = step != "linked" || dir != m;
            assert_eq!(
                o.status.success(),
                !hit,
                "{step} {}: {}",
                dir.display(),
                stderr(&o)
            );
        }
        let w = weights(5, 20_000);
        assert_same(&content_of(&m, "w.safetensors"), &w, step);
        for (k, v) in &want {
            assert_same(&content(&repo, k), v, &format!("{step}: {k}"));
            // A visible replacement is always a verified one.
            let z = repo.join("snapshots").join(format!("{k}.znn"));
            if let Ok(b) = std::fs::read(&z) {
                assert_same(&znn_gpu::decompress_bytes(&b).unwrap(), v, k);
            }
        }
        if step == "staged" || step == "verified" {
            assert!(!m.join("w.safetensors.znn").exists(), "{step}");
            let b = blob_names(&repo);
            let visible = b.iter().filter(|n| !n.starts_with('.'));
            assert!(
                !visible.clone().any(|n| n.ends_with(".znn")),
                "{step}: {b:?}"
            );
        }
        // A rerun (with -f: a crash after the rename leaves both names) completes the job.
        for dir in [m.clone(), repo.join("snapshots/rev1")] {
            let o = run(&["compress", "--in-place", "-f", s(&dir)], &[]);
            let e = stderr(&o);
            assert!(
                o.status.success() || e.contains("compressed already"),
                "{e}"
            );
        }
        assert_eq!(tree_names(&m), ["w.safetensors.znn"], "{step}");
        assert_same(&content_of(&m, "w.safetensors"), &w, step);
        for (k, v) in &want {
            assert_same(&content(&repo, k), v, &format!("{step}: {k}"));
            let compressed = k.starts_with("rev1/") && k.ends_with(".safetensors");
            let z = repo.join("snapshots").join(format!("{k}.znn"));
            assert_eq!(
                std::fs::symlink_metadata(z).is_ok(),
                compressed,
                "{step}: {k}"
            );
        }
        no_leftovers(t.path());
    }
}

/// A regular file of `dir`, or its `.znn` decoded.
fn content_of(dir: &Path, name: &str) -> Vec<u8> {
    match std::fs::read(dir.join(name)) {
        Ok(b) => b,
        Err(_) => {
            znn_gpu::decompress_bytes(&std::fs::read(dir.join(format!("{name}.znn"))).unwrap())
                .unwrap()
        }
    }
}

#[test]
fn compressed_files_are_not_compressed_again() {
    let t = tmp();
    let (m, z) = (t.path().join("m"), t.path().join("z"));
    let (a, b) = (weights(7, 6_000), weights(8, 6_000));
    write(&m.join("a.safetensors"), &a);
    let bz = znn_gpu::compress_bytes(&b, &Default::default()).unwrap();
    write(&m.join("b.safetensors.znn"), &bz);
    let o = ok(&["-v", "compress", s(&m), "-o", s(&z)]);
    assert!(stderr(&o).contains("skipping") && stderr(&o).contains("b.safetensors.znn"));
    let got = tree(&z);
    assert_eq!(
        got.keys().collect::<Vec<_>>(),
        ["a.safetensors.znn", "b.safetensors.znn"]
    );
    assert_eq!(got["b.safetensors.znn"], bz);
    assert_same(
        &znn_gpu::decompress_bytes(&got["a.safetensors.znn"]).unwrap(),
        &a,
        "a",
    );
}

/// A folder decoded by one GPU decoder shared by its files (lavapipe counts), to a mirrored tree
/// and in place.
#[test]
fn gpu_folder_decompress() {
    let t = tmp();
    let (m, z, back) = (
        t.path().join("m"),
        t.path().join("z"),
        t.path().join("back"),
    );
    model(&m);
    let orig = tree(&m);
    ok(&["compress", s(&m), "-o", s(&z)]);
    let o = run(
        &["decompress", s(&z), "-o", s(&back), "--device", "gpu"],
        &[],
    );
    if !o.status.success() && stderr(&o).contains("no GPU adapter") {
        say_skipped(&format!("SKIPPED: no GPU adapter ({})", stderr(&o).trim()));
        return;
    }
    assert!(o.status.success(), "{}", stderr(&o));
    same_tree(&tree(&back), &orig);
    ok(&["decompress", "--in-place", s(&z), "--device", "gpu"]);
    same_tree(&tree(&z), &orig);
    no_leftovers(t.path());
}
