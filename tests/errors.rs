//! The mistakes a newcomer makes, and the message each one gets: exit code 1, one `error:` line on
//! stderr that says what is wrong and what to do, no output file left, the input untouched.
//! `tests/cli.rs` checks that these runs fail; here the words of each message are the property,
//! since a message that names the wrong cause (or none) sends the user the wrong way.

use znn_test_support as common;
use znn_test_support::cli as cli_util;

use cli_util::*;
use common::golden_input;
use std::path::Path;

/// A folder with `m.safetensors` (a valid safetensors file), `m.safetensors.znn` (its archive) and
/// `notes.txt`.
fn setup() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let orig = golden_input();
    write(d, "m.safetensors", &orig);
    let z = znn_gpu::compress_bytes(&orig, &Default::default()).unwrap();
    write(d, "m.safetensors.znn", &z);
    write(d, "notes.txt", b"remember to compress the model\n");
    dir
}

/// Runs a failing command and checks the message, that the folder's files are as before (no
/// output, no temporary file, inputs unchanged), and returns the message.
#[track_caller]
fn refused(d: &Path, args: &[&str], needles: &[&str]) -> String {
    let before: Vec<(String, Vec<u8>)> = listing(d)
        .into_iter()
        .filter(|n| d.join(n).is_file())
        .map(|n| {
            let b = std::fs::read(d.join(&n)).unwrap();
            (n, b)
        })
        .collect();
    let o = run(d, args);
    let what = args.join(" ");
    let e = fails_with(&o, needles, &what);
    let after: Vec<(String, Vec<u8>)> = listing(d)
        .into_iter()
        .filter(|n| d.join(n).is_file())
        .map(|n| {
            let b = std::fs::read(d.join(&n)).unwrap();
            (n, b)
        })
        .collect();
    assert!(before == after, "{what}: the folder's files changed");
    e
}

#[test]
fn wrong_kind_of_file_given_to_decompress() {
    let dir = setup();
    let d = dir.path();
    // The model itself (not its archive), with an output name: it is not a .znn file.
    refused(
        d,
        &["decompress", "m.safetensors", "-o", "out"],
        &[
            "not a .znn file",
            "safetensors",
            "znn-gpu compress m.safetensors",
        ],
    );
    // ... and without one: no output name can be made, and the message says why and what to do.
    refused(
        d,
        &["decompress", "m.safetensors"],
        &["m.safetensors", "does not end in .znn", "use -o"],
    );
    // A text file, even one named like an archive.
    write(d, "notes.znn", b"remember to compress the model\n");
    refused(d, &["decompress", "notes.znn"], &["not a .znn file"]);
    refused(d, &["info", "notes.txt"], &["not a .znn file"]);
    // An empty file, and one shorter than the magic number.
    write(d, "empty.znn", b"");
    refused(d, &["decompress", "empty.znn"], &["not a .znn file"]);
    refused(d, &["info", "empty.znn"], &["not a .znn file"]);
}

#[test]
fn half_downloaded_archive_says_truncated() {
    let dir = setup();
    let d = dir.path();
    let z = std::fs::read(d.join("m.safetensors.znn")).unwrap();
    for (name, cut) in [("half", z.len() / 2), ("nearly", z.len() - 1), ("head", 12)] {
        let f = format!("{name}.znn");
        write(d, &f, &z[..cut]);
        refused(d, &["decompress", &f], &["truncated"]);
    }
}

#[test]
fn newer_format_version_says_upgrade() {
    let dir = setup();
    let d = dir.path();
    let z = std::fs::read(d.join("m.safetensors.znn")).unwrap();
    for v in [5u16, 255, 256, 0x1234, u16::MAX] {
        let mut g = z.clone();
        g[8..10].copy_from_slice(&v.to_le_bytes());
        let f = format!("v{v}.znn");
        write(d, &f, &g);
        let want = format!(
            "error: unsupported format version {v} (this build reads version 4); upgrade znn-gpu\n"
        );
        for args in [vec!["decompress", &f[..]], vec!["info", &f[..]]] {
            let e = refused(d, &args, &[]);
            assert_eq!(e, want, "{args:?}");
        }
    }
}

#[test]
fn output_exists_names_force() {
    let dir = setup();
    let d = dir.path();
    // compress m.safetensors -> m.safetensors.znn, which exists.
    let e = refused(d, &["compress", "m.safetensors"], &[]);
    assert_eq!(
        e,
        "error: invalid argument: m.safetensors.znn already exists (use -f to overwrite)\n"
    );
    // decompress m.safetensors.znn -> m.safetensors, which exists.
    let e = refused(d, &["decompress", "m.safetensors.znn"], &[]);
    assert_eq!(
        e,
        "error: invalid argument: m.safetensors already exists (use -f to overwrite)\n"
    );
    // An explicit -o naming an existing file.
    refused(
        d,
        &["compress", "m.safetensors", "-o", "notes.txt"],
        &["notes.txt already exists", "-f"],
    );
    // The output may not be the input, even with -f: -f would not help, so it is not suggested.
    let e = refused(d, &["compress", "notes.txt", "-o", "notes.txt", "-f"], &[]);
    assert_eq!(
        e,
        "error: invalid argument: output notes.txt is the input file\n"
    );
}

#[test]
fn missing_input_and_missing_output_folder() {
    let dir = setup();
    let d = dir.path();
    for cmd in ["compress", "decompress", "info"] {
        refused(
            d,
            &[cmd, "missing.znn"],
            &["missing.znn", "No such file or directory"],
        );
    }
    // Typo in the output folder: said as such, not as a failed temporary file.
    let e = refused(d, &["compress", "m.safetensors", "-o", "nodir/m.znn"], &[]);
    assert_eq!(
        e,
        "error: invalid argument: cannot create nodir/m.znn: folder nodir does not exist\n"
    );
    let e = refused(
        d,
        &["decompress", "m.safetensors.znn", "-o", "notes.txt/m"],
        &[],
    );
    assert_eq!(
        e,
        "error: invalid argument: cannot create notes.txt/m: notes.txt is not a folder\n"
    );
}

#[test]
fn bad_options_say_what_is_allowed() {
    let dir = setup();
    let d = dir.path();
    let cases: [(&[&str], &str); 5] = [
        (
            &["compress", "notes.txt", "--dtype", "bf8", "-o", "a.znn"],
            "error: invalid argument: unknown dtype 'bf8' (expected bf16, fp16, fp32, fp64 or byte)\n",
        ),
        (
            &["compress", "notes.txt", "--chunk-size", "5", "-o", "a.znn"],
            "error: invalid argument: chunk size 5 must be a multiple of 8 in 4096..=16777216\n",
        ),
        (
            &["compress", "notes.txt", "--sub-symbols", "300", "-o", "a.znn"],
            "error: invalid argument: sub-stream size 300 must be a power of two in 256..=65536\n",
        ),
        (
            &["--threads", "0", "info", "m.safetensors.znn"],
            "error: invalid argument: --threads must be at least 1\n",
        ),
        (
            &["compress", "-"],
            "error: invalid argument: reading stdin needs -o (a file, or - for stdout)\n",
        ),
    ];
    for (args, want) in cases {
        assert_eq!(refused(d, args, &[]), want, "{args:?}");
    }
    // An unknown --device is clap's usage error (exit 2), listing the values.
    let o = run(d, &["decompress", "m.safetensors.znn", "--device", "cuda"]);
    assert_eq!(o.status.code(), Some(2));
    let e = stderr(&o);
    for v in ["cuda", "cpu", "gpu", "auto"] {
        assert!(e.contains(v), "{e}");
    }
}

/// `--device gpu` on a machine with no GPU adapter at all (made so by pointing the Vulkan loader at
/// no driver): the message says there is none and what to install. `--device auto` then decodes on
/// the CPU without a word.
#[test]
fn device_gpu_without_an_adapter() {
    let dir = setup();
    let d = dir.path();
    let no_gpu = |args: &[&str]| {
        znn_gpu()
            .args(args)
            .current_dir(d)
            .env("VK_ICD_FILENAMES", "/nonexistent")
            .env("VK_DRIVER_FILES", "/nonexistent")
            .env("WGPU_BACKEND", "vulkan")
            .output()
            .unwrap()
    };
    let o = no_gpu(&[
        "decompress",
        "m.safetensors.znn",
        "-o",
        "out",
        "--device",
        "gpu",
    ]);
    fails_with(
        &o,
        &[
            "error: gpu: no GPU adapter",
            "mesa-vulkan-drivers",
            "--device cpu",
        ],
        "--device gpu",
    );
    assert!(!d.join("out").exists(), "output left behind");
    assert_eq!(
        listing(d),
        ["m.safetensors", "m.safetensors.znn", "notes.txt"]
    );
    let o = no_gpu(&["decompress", "m.safetensors.znn", "-o", "out"]);
    assert!(o.status.success(), "--device auto: {}", stderr(&o));
    assert_eq!(stderr(&o), "");
    assert!(std::fs::read(d.join("out")).unwrap() == golden_input());
}
