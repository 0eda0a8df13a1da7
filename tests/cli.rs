//! The `znn-gpu` command, run as a subprocess on temporary folders: output names, overwriting,
//! errors (message, exit code, no output or temporary file left behind, input untouched), standard
//! input/output, `info`, `bench`.

use znn_test_support as common;

use common::*;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use znn_gpu::{compress_bytes, CompressOptions, Layout};

fn znn_gpu() -> Command {
    Command::new(env!("CARGO_BIN_EXE_znn-gpu"))
}

/// Runs `znn-gpu ARGS` in `dir`.
fn run(dir: &Path, args: &[&str]) -> Output {
    znn_gpu()
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .output()
        .expect("running znn-gpu")
}

/// Runs `znn-gpu ARGS` in `dir` with `input` on standard input.
fn run_stdin(dir: &Path, args: &[&str], input: &[u8]) -> Output {
    let mut child = znn_gpu()
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("running znn-gpu");
    let mut stdin = child.stdin.take().unwrap();
    let input = input.to_vec();
    let writer = std::thread::spawn(move || stdin.write_all(&input));
    let out = child.wait_with_output().unwrap();
    // The command may exit without reading all of its input (an error found early).
    match writer.join().unwrap() {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {}
        r => r.unwrap(),
    }
    out
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[track_caller]
fn ok(o: &Output, what: &str) {
    assert!(
        o.status.success(),
        "{what}: exit {:?}, stderr: {}",
        o.status.code(),
        stderr(o)
    );
}

/// Exit code 1 with an `error: ...` line mentioning `needle`.
#[track_caller]
fn fails_with(o: &Output, needle: &str, what: &str) {
    let e = stderr(o);
    assert_eq!(o.status.code(), Some(1), "{what}: exit code; stderr: {e}");
    assert!(e.starts_with("error: "), "{what}: stderr is {e:?}");
    assert!(
        e.to_lowercase().contains(&needle.to_lowercase()),
        "{what}: stderr {e:?} does not mention {needle:?}"
    );
}

/// Names of the files in `dir`, sorted.
fn listing(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

#[track_caller]
fn no_temp_files(dir: &Path) {
    let l = listing(dir);
    assert!(
        !l.iter()
            .any(|n| n.starts_with(".znn-gpu-") || n.ends_with(".tmp")),
        "temporary file left behind: {l:?}"
    );
}

/// Bytes and modification time of a file, to check that it was not touched.
fn snapshot(p: &Path) -> (Vec<u8>, std::time::SystemTime) {
    (
        std::fs::read(p).unwrap(),
        std::fs::metadata(p).unwrap().modified().unwrap(),
    )
}

fn write(dir: &Path, name: &str, data: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, data).unwrap();
    p
}

fn sample() -> Vec<u8> {
    golden_input()
}

#[test]
fn compress_and_decompress_with_default_names() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let orig = sample();
    let inp = write(d, "model.safetensors", &orig);
    let before = snapshot(&inp);
    ok(&run(d, &["compress", "model.safetensors"]), "compress");
    assert_eq!(snapshot(&inp), before, "compress modified its input");
    let znn = std::fs::read(d.join("model.safetensors.znn")).unwrap();
    // The command writes exactly what the library writes.
    assert_same(
        &znn,
        &compress_bytes(&orig, &CompressOptions::default()).unwrap(),
        "CLI vs compress_bytes",
    );
    std::fs::rename(&inp, d.join("original")).unwrap();
    let zbefore = snapshot(&d.join("model.safetensors.znn"));
    ok(
        &run(d, &["decompress", "model.safetensors.znn"]),
        "decompress",
    );
    assert_eq!(
        snapshot(&d.join("model.safetensors.znn")),
        zbefore,
        "decompress modified its input"
    );
    assert_same(&std::fs::read(&inp).unwrap(), &orig, "decompressed file");
    assert_eq!(
        listing(d),
        ["model.safetensors", "model.safetensors.znn", "original"]
    );

    // Paths in other folders, -o, -q, --threads, -v.
    let sub = d.join("sub");
    std::fs::create_dir(&sub).unwrap();
    let o = run(
        d,
        &[
            "compress",
            "original",
            "-o",
            "sub/x.znn",
            "-q",
            "--threads",
            "1",
            "-v",
        ],
    );
    ok(&o, "compress -o");
    assert!(
        stderr(&o).contains("compressed"),
        "-v reports: {}",
        stderr(&o)
    );
    ok(&run(&sub, &["decompress", "x.znn"]), "decompress in sub");
    assert_same(&std::fs::read(sub.join("x")).unwrap(), &orig, "sub/x");
    ok(
        &run(d, &["decompress", "sub/x.znn", "-o", "y", "--threads", "2"]),
        "decompress -o",
    );
    assert_same(&std::fs::read(d.join("y")).unwrap(), &orig, "y");
    no_temp_files(d);
    no_temp_files(&sub);
}

#[test]
fn refuses_to_overwrite_without_force() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let orig = sample();
    write(d, "m.bin", &orig);
    let existing = write(d, "m.bin.znn", b"precious");
    let before = snapshot(&existing);
    let o = run(d, &["compress", "m.bin"]);
    fails_with(&o, "exists", "compress over an existing file");
    assert_eq!(snapshot(&existing), before, "existing output was modified");
    no_temp_files(d);

    ok(&run(d, &["compress", "m.bin", "-f"]), "compress -f");
    let znn = std::fs::read(&existing).unwrap();
    assert_eq!(znn_gpu::decompress_bytes(&znn).unwrap(), orig);

    // decompress: m.bin exists.
    let before = snapshot(&d.join("m.bin"));
    let o = run(d, &["decompress", "m.bin.znn"]);
    fails_with(&o, "exists", "decompress over an existing file");
    assert_eq!(snapshot(&d.join("m.bin")), before);
    write(d, "m.bin", b"old contents");
    ok(
        &run(d, &["decompress", "--force", "m.bin.znn"]),
        "decompress -f",
    );
    assert_same(
        &std::fs::read(d.join("m.bin")).unwrap(),
        &orig,
        "overwritten output",
    );
    no_temp_files(d);

    // The output may never be the input, even with -f.
    let before = snapshot(&d.join("m.bin"));
    let o = run(d, &["compress", "m.bin", "-o", "m.bin", "-f"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert_eq!(
        snapshot(&d.join("m.bin")),
        before,
        "input overwritten by its own output"
    );
    no_temp_files(d);
}

#[test]
fn decompress_of_a_non_znn_file_fails_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let orig = sample();
    // Named .znn but it is not one.
    let fake = write(
        d,
        "notes.txt.znn",
        b"hello, this is not a compressed file\n",
    );
    let before = snapshot(&fake);
    let o = run(d, &["decompress", "notes.txt.znn"]);
    fails_with(&o, "not a .znn file", "decompress of a text file");
    assert_eq!(snapshot(&fake), before);
    assert!(!d.join("notes.txt").exists(), "output left behind");
    no_temp_files(d);

    // A safetensors file given to decompress with -o.
    write(d, "model.safetensors", &orig);
    let o = run(d, &["decompress", "model.safetensors", "-o", "out"]);
    fails_with(&o, "not a .znn file", "decompress of a safetensors file");
    assert!(!d.join("out").exists());
    // Without -o there is no output name to derive.
    let o = run(d, &["decompress", "model.safetensors"]);
    fails_with(&o, ".znn", "decompress of a name without .znn");
    // Empty file.
    write(d, "empty.znn", b"");
    let o = run(d, &["decompress", "empty.znn"]);
    fails_with(&o, "not a .znn file", "empty file");
    assert!(!d.join("empty").exists());
    // Missing input.
    let o = run(d, &["decompress", "missing.znn"]);
    fails_with(&o, "missing.znn", "missing input");
    assert!(!d.join("missing").exists());
    let o = run(d, &["compress", "missing.bin"]);
    fails_with(&o, "missing.bin", "missing input");
    assert!(!d.join("missing.bin.znn").exists());
    no_temp_files(d);
    assert_eq!(
        listing(d),
        ["empty.znn", "model.safetensors", "notes.txt.znn"]
    );
}

#[test]
fn truncated_or_corrupt_znn_leaves_no_output() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let orig = repo_model()[..600_000].to_vec();
    let znn = compress_bytes(
        &orig,
        &znn_gpu::CompressOptions {
            chunk_size: 65536,
            ..Default::default()
        },
    )
    .unwrap();
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("half", znn[..znn.len() / 2].to_vec()),
        ("no-trailer", znn[..znn.len() - 1].to_vec()),
        ("flipped-data", {
            let mut g = znn.clone();
            g[znn.len() / 3] ^= 0x40;
            g
        }),
        ("flipped-last-chunk", {
            // Damage near the end of the data: earlier windows may already have been written
            // to the temporary file when the error is found.
            let a = znn_gpu::Archive::from_bytes(&znn).unwrap();
            let mut g = znn.clone();
            g[(a.data_len() + HEADER_LEN as u64 - 5) as usize] ^= 0x01;
            g
        }),
    ];
    for (name, bytes) in cases {
        let f = format!("{name}.znn");
        let p = write(d, &f, &bytes);
        let before = snapshot(&p);
        let o = run(d, &["decompress", &f]);
        assert_eq!(o.status.code(), Some(1), "{name}: {}", stderr(&o));
        assert!(stderr(&o).starts_with("error: "), "{name}: {}", stderr(&o));
        assert!(!d.join(name).exists(), "{name}: partial output left behind");
        assert_eq!(snapshot(&p), before, "{name}: input modified");
        // Same to an explicit existing output with -f: the old file stays as it was.
        let keep = write(d, "keep", b"keep me");
        let kb = snapshot(&keep);
        let o = run(d, &["decompress", &f, "-o", "keep", "-f"]);
        assert_eq!(o.status.code(), Some(1), "{name}: {}", stderr(&o));
        assert_eq!(
            snapshot(&keep),
            kb,
            "{name}: -f output replaced by a failed run"
        );
        no_temp_files(d);
    }
}

#[test]
fn stdin_to_stdout_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let orig = sample();
    let o = run_stdin(d, &["compress", "-", "-o", "-"], &orig);
    ok(&o, "compress - -o -");
    let znn = o.stdout;
    assert_same(
        &znn,
        &compress_bytes(&orig, &CompressOptions::default()).unwrap(),
        "stdout vs compress_bytes",
    );
    let o = run_stdin(d, &["decompress", "-", "-o", "-"], &znn);
    ok(&o, "decompress - -o -");
    assert_same(&o.stdout, &orig, "stdin/stdout round trip");
    assert!(listing(d).is_empty(), "files written: {:?}", listing(d));

    // Mixed: file to stdout, stdin to file.
    write(d, "m", &orig);
    let o = run(d, &["compress", "m", "-o", "-"]);
    ok(&o, "compress m -o -");
    assert_same(&o.stdout, &znn, "file to stdout");
    let o = run_stdin(d, &["decompress", "-", "-o", "back"], &znn);
    ok(&o, "decompress - -o back");
    assert_same(
        &std::fs::read(d.join("back")).unwrap(),
        &orig,
        "stdin to file",
    );
    // Raw data with --dtype through stdin.
    let raw = encode_floats(Layout::Fp32, &mixed_floats(&mut Rng::new(1), 5000));
    let o = run_stdin(d, &["compress", "-", "-o", "-", "--dtype", "fp32"], &raw);
    ok(&o, "stdin fp32");
    let a = znn_gpu::Archive::from_bytes(&o.stdout).unwrap();
    assert_eq!(a.index.segments()[0].layout, Layout::Fp32);
    assert_eq!(znn_gpu::decompress_bytes(&o.stdout).unwrap(), raw);
    // Empty standard input.
    let o = run_stdin(d, &["compress", "-", "-o", "-"], b"");
    ok(&o, "empty stdin");
    assert_eq!(znn_gpu::decompress_bytes(&o.stdout).unwrap(), b"");
    // Garbage on stdin for decompress.
    let o = run_stdin(d, &["decompress", "-", "-o", "-"], b"garbage");
    fails_with(&o, "not a .znn file", "garbage on stdin");
    assert!(
        o.stdout.is_empty(),
        "wrote {} bytes of output",
        o.stdout.len()
    );
    // stdin without -o: no output name can be derived.
    let o = run_stdin(d, &["compress", "-"], &orig);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(!d.join("-.znn").exists());
    no_temp_files(d);
}

#[test]
fn info_reports_sizes_and_json() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let orig = sample();
    write(d, "m.safetensors", &orig);
    ok(
        &run(d, &["compress", "m.safetensors", "--chunk-size", "4096"]),
        "compress",
    );
    let znn_len = std::fs::metadata(d.join("m.safetensors.znn"))
        .unwrap()
        .len();
    let a =
        znn_gpu::Archive::from_bytes(&std::fs::read(d.join("m.safetensors.znn")).unwrap()).unwrap();

    let o = run(d, &["info", "m.safetensors.znn"]);
    ok(&o, "info");
    let text = String::from_utf8(o.stdout).unwrap();
    let line = |key: &str| {
        text.lines()
            .find(|l| l.starts_with(key))
            .unwrap_or_else(|| panic!("no {key} line in:\n{text}"))
            .to_string()
    };
    assert!(
        line("original:").contains(&orig.len().to_string()),
        "{text}"
    );
    let c = line("compressed:");
    assert!(
        c.contains(&znn_len.to_string()) && c.contains('%'),
        "{text}"
    );
    let pct = format!("{:.2}%", 100.0 * znn_len as f64 / orig.len() as f64);
    assert!(c.contains(&pct), "ratio {pct} not in {c:?}");
    for l in ["bf16", "fp32", "fp16", "fp64", "group4", "byte"] {
        assert!(text.contains(l), "layout {l} missing:\n{text}");
    }

    let o = run(d, &["info", "m.safetensors.znn", "--json"]);
    ok(&o, "info --json");
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("info --json is JSON");
    assert_eq!(v["original_len"].as_u64(), Some(orig.len() as u64));
    assert_eq!(v["compressed_len"].as_u64(), Some(znn_len));
    assert_eq!(v["chunk_size"].as_u64(), Some(4096));
    assert_eq!(v["chunks"].as_u64(), Some(a.index.chunks().len() as u64));
    let r = v["ratio_percent"].as_f64().unwrap();
    assert!((r - 100.0 * znn_len as f64 / orig.len() as f64).abs() < 1e-6);
    let segs = v["segments"].as_array().unwrap();
    assert_eq!(segs.len(), a.index.segments().len());
    let total: u64 = segs.iter().map(|s| s["len"].as_u64().unwrap()).sum();
    assert_eq!(total, orig.len() as u64);
    let comp: u64 = segs
        .iter()
        .flat_map(|s| s["streams"].as_array().unwrap())
        .map(|s| s["compressed"].as_u64().unwrap())
        .sum();
    assert_eq!(comp, a.data_len());

    // info on something else fails.
    write(d, "bad.znn", b"nope");
    fails_with(
        &run(d, &["info", "bad.znn"]),
        "not a .znn file",
        "info of a non-.znn file",
    );
    fails_with(
        &run(d, &["info", "absent.znn"]),
        "absent.znn",
        "info of a missing file",
    );
}

#[test]
fn bench_json() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let orig = repo_model()[..300_000].to_vec();
    write(d, "m.bin", &orig);
    let o = run(
        d,
        &["bench", "m.bin", "--runs", "1", "--json", "--dtype", "fp32"],
    );
    ok(&o, "bench");
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("bench --json is JSON");
    let r = v["ratio_percent"].as_f64().expect("ratio_percent");
    let want = 100.0
        * compress_bytes(
            &orig,
            &CompressOptions {
                dtype: Layout::Fp32,
                ..Default::default()
            },
        )
        .unwrap()
        .len() as f64
        / orig.len() as f64;
    assert!((r - want).abs() < 1e-9, "bench ratio {r} vs {want}");
    assert_eq!(v["original_len"].as_u64(), Some(orig.len() as u64));
    assert!(r > 50.0 && r < 100.0, "{r}");
    assert_eq!(listing(d), ["m.bin"], "bench leaves no files");
    let o = run(d, &["bench", "m.bin", "--runs", "1"]);
    ok(&o, "bench text");
    assert!(String::from_utf8_lossy(&o.stdout).contains("% of original"));
    // With one thread the one- and all-thread runs are the same: each row once.
    let o = run(d, &["--threads", "1", "bench", "m.bin", "--runs", "1"]);
    ok(&o, "bench one thread");
    let text = String::from_utf8_lossy(&o.stdout);
    let ours = text.split("zstd -3").next().unwrap();
    for row in [
        "compress_gbs_1t",
        "decompress_gbs_1t",
        "file_decompress_gbs_1t",
    ] {
        assert_eq!(
            ours.matches(&format!(" {row} ")).count(),
            1,
            "{row}: {text}"
        );
    }
}

#[test]
fn bad_arguments() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let orig = sample();
    let inp = write(d, "m", &orig);
    let before = snapshot(&inp);
    let o = run(d, &["compress", "m", "--dtype", "int3"]);
    fails_with(&o, "dtype", "unknown dtype");
    assert!(stderr(&o).contains("int3"), "{}", stderr(&o));
    for cs in ["4095", "100", "0", "99999999"] {
        let o = run(d, &["compress", "m", "--chunk-size", cs]);
        fails_with(&o, "chunk size", &format!("--chunk-size {cs}"));
    }
    let o = run(d, &["compress", "m", "--threads", "0"]);
    fails_with(&o, "threads", "--threads 0");
    assert!(!d.join("m.znn").exists(), "output written by a failed run");
    assert_eq!(snapshot(&inp), before);
    no_temp_files(d);

    // Usage errors are clap's: exit 2.
    for args in [
        &[][..],
        &["compress"],
        &["frobnicate", "m"],
        &["compress", "m", "--no-such-flag"],
        &["compress", "m", "--chunk-size", "abc"],
    ] {
        let o = run(d, args);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", stderr(&o));
    }
    ok(&run(d, &["--help"]), "--help");
    ok(&run(d, &["--version"]), "--version");
    assert_eq!(listing(d), ["m"]);
}

#[test]
fn dev_null_and_dtypes() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let orig = sample();
    write(d, "m", &orig);
    ok(
        &run(d, &["compress", "m", "-o", "/dev/null"]),
        "compress -o /dev/null",
    );
    ok(&run(d, &["compress", "m"]), "compress");
    ok(
        &run(d, &["decompress", "m.znn", "-o", "/dev/null"]),
        "decompress -o /dev/null",
    );
    assert_eq!(listing(d), ["m", "m.znn"]);

    // Each --dtype on a file that is not safetensors picks the layout.
    let raw = encode_floats(Layout::Fp64, &mixed_floats(&mut Rng::new(2), 4001));
    write(d, "raw", &raw);
    for (name, l) in [
        ("bf16", Layout::Bf16),
        ("fp16", Layout::Fp16),
        ("fp32", Layout::Fp32),
        ("fp64", Layout::Fp64),
        ("byte", Layout::Byte),
        ("BF16", Layout::Bf16),
        ("float32", Layout::Fp32),
    ] {
        let out = format!("raw.{name}.znn");
        ok(
            &run(d, &["compress", "raw", "--dtype", name, "-o", &out]),
            name,
        );
        let z = std::fs::read(d.join(&out)).unwrap();
        let a = znn_gpu::Archive::from_bytes(&z).unwrap();
        assert_eq!(a.index.segments()[0].layout, l, "--dtype {name}");
        let back = format!("raw.{name}");
        ok(&run(d, &["decompress", &out]), name);
        assert_same(&std::fs::read(d.join(back)).unwrap(), &raw, name);
    }
    no_temp_files(d);
}

#[cfg(unix)]
#[test]
fn output_files_get_normal_permissions() {
    use std::os::unix::fs::PermissionsExt;
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // Made with File::create: mode 0666 & !umask, the mode every ordinary output file gets.
    let inp = write(d, "m", &sample());
    let want = mode(&inp);
    ok(&run(d, &["compress", "m"]), "compress");
    assert_eq!(
        mode(&d.join("m.znn")),
        want,
        "compressed file mode {:o}",
        mode(&d.join("m.znn"))
    );
    ok(
        &run(d, &["decompress", "m.znn", "-o", "back"]),
        "decompress",
    );
    assert_eq!(
        mode(&d.join("back")),
        want,
        "decompressed file mode {:o}",
        mode(&d.join("back"))
    );
    ok(&run(d, &["compress", "m", "-f"]), "compress -f");
    assert_eq!(mode(&d.join("m.znn")), want, "overwritten file mode");
}

#[test]
fn a_directory_is_not_a_single_file_output() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::create_dir(d.join("sub")).unwrap();
    write(d, "m", &sample());
    for force in [false, true] {
        let mut args = vec!["compress", "m", "-o", "sub"];
        if force {
            args.push("-f");
        }
        let o = run(d, &args);
        assert_eq!(o.status.code(), Some(1), "{args:?}: {}", stderr(&o));
        assert!(std::fs::read_dir(d.join("sub")).unwrap().next().is_none());
    }
    no_temp_files(d);
    assert_eq!(listing(d), ["m", "sub"]);
}

#[cfg(target_os = "linux")]
#[test]
fn forged_index_len_fails_cleanly_under_a_memory_limit() {
    // A 1 GiB sparse file (no disk space used) with a valid header and a trailer claiming a
    // 700 MiB index: `info` and `decompress` must say "error: ..." (exit 1) within a 400 MB
    // address-space limit instead of allocating the claimed index (abort, exit 134).
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let len = 1u64 << 30;
    let f = std::fs::File::create(d.join("big.znn")).unwrap();
    f.set_len(len).unwrap();
    use std::os::unix::fs::FileExt;
    f.write_all_at(&golden_header(), 0).unwrap();
    let mut t = (700u64 << 20).to_le_bytes().to_vec();
    t.extend_from_slice(&12345u64.to_le_bytes());
    t.extend_from_slice(&[0; 16]);
    t.extend_from_slice(&END_MAGIC);
    f.write_all_at(&t, len - 40).unwrap();
    drop(f);
    let bin = env!("CARGO_BIN_EXE_znn-gpu");
    for args in ["info big.znn", "decompress big.znn -o /dev/null"] {
        let o = Command::new("bash")
            .arg("-c")
            .arg(format!("ulimit -v 400000 && exec '{bin}' {args}"))
            .current_dir(d)
            .output();
        let Ok(o) = o else {
            eprintln!("SKIPPED forged_index_len_fails_cleanly_under_a_memory_limit: no bash");
            return;
        };
        fails_with(&o, "corrupt", args);
    }
}

/// The 16-byte header of a valid version-1 file with 4 KiB chunks.
fn golden_header() -> Vec<u8> {
    let mut h = MAGIC.to_vec();
    h.extend_from_slice(&[1, 0, 0, 0, 0x00, 0x10, 0, 0]);
    h
}

#[test]
fn successful_runs_print_nothing_on_stderr() {
    // A run that succeeds prints no "error:" line (scripts and users read stderr for errors).
    // XDG_RUNTIME_DIR is unset, as in containers, CI and cron.
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(d, "m", &sample());
    let quiet = |args: &[&str]| {
        let o = znn_gpu()
            .args(args)
            .current_dir(d)
            .env_remove("XDG_RUNTIME_DIR")
            .stdin(Stdio::null())
            .output()
            .unwrap();
        ok(&o, &args.join(" "));
        assert_eq!(stderr(&o), "", "{args:?} succeeded but printed on stderr");
    };
    quiet(&["compress", "m"]);
    quiet(&["decompress", "m.znn", "-o", "a", "--device", "cpu"]);
    quiet(&["decompress", "m.znn", "-o", "b"]);
    quiet(&["info", "m.znn"]);
}
