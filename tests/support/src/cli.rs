//! Running the built `znn-gpu` binary in a folder and inspecting what it left there (the CLI
//! tests, fault and error tests).

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// The `znn-gpu` binary cargo built beside the running test binary (`target/PROFILE/deps/TEST` ->
/// `target/PROFILE/znn-gpu`).
pub fn bin() -> PathBuf {
    let exe = std::env::current_exe().expect("the test binary's path");
    let dir = exe.parent().and_then(Path::parent).expect("target/PROFILE");
    dir.join(format!("znn-gpu{}", std::env::consts::EXE_SUFFIX))
}

pub fn znn_gpu() -> Command {
    let mut c = Command::new(bin());
    // No terminal, no progress bar; the Vulkan loader's window-system warnings stay quiet.
    c.stdin(Stdio::null()).env_remove("XDG_RUNTIME_DIR");
    c
}

/// Runs `znn-gpu ARGS` in `dir`.
pub fn run(dir: &Path, args: &[&str]) -> Output {
    znn_gpu()
        .args(args)
        .current_dir(dir)
        .output()
        .expect("running znn-gpu")
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Names in `dir`, sorted.
pub fn listing(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

pub fn write(dir: &Path, name: &str, data: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, data).unwrap();
    p
}

/// A failed run: exit code 1 and exactly one `error: ...` line on stderr that contains every one of
/// `needles` (case-sensitive: these are the words a user reads).
#[track_caller]
pub fn fails_with(o: &Output, needles: &[&str], what: &str) -> String {
    let e = stderr(o);
    assert_eq!(o.status.code(), Some(1), "{what}: exit code; stderr: {e}");
    assert!(
        e.starts_with("error: ") && e.ends_with('\n') && e.lines().count() == 1,
        "{what}: stderr is not one error line: {e:?}"
    );
    for n in needles {
        assert!(e.contains(n), "{what}: stderr {e:?} does not say {n:?}");
    }
    e
}

/// The file descriptors of process `pid` that point into `dir` (as `/proc/PID/fd/N` paths, which
/// can be `stat`ed even when the file has no name, like an `O_TMPFILE`).
#[cfg(target_os = "linux")]
pub fn fds_into(pid: u32, dir: &Path) -> Vec<PathBuf> {
    let Ok(rd) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
        return Vec::new();
    };
    let dir = dir.canonicalize().unwrap();
    rd.filter_map(|e| e.ok())
        .filter(|e| {
            std::fs::read_link(e.path())
                .map(|t| t.starts_with(&dir))
                .unwrap_or(false)
        })
        .map(|e| e.path())
        .collect()
}

/// The file offset of descriptor `fd` (a `/proc/PID/fd/N` path) from `/proc/PID/fdinfo/N`.
#[cfg(target_os = "linux")]
pub fn fd_pos(fd: &Path) -> Option<u64> {
    let s = fd.to_str()?.replace("/fd/", "/fdinfo/");
    let info = std::fs::read_to_string(s).ok()?;
    info.lines()
        .find_map(|l| l.strip_prefix("pos:"))
        .and_then(|v| v.trim().parse().ok())
}

/// Synthetic BF16 weights (Gaussian-like, several scales): `n` bytes, fast to make.
pub fn synthetic_bf16(n: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    let mut out = Vec::with_capacity(n);
    while out.len() < n {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let g = ((x & 0xFFFF) + (x >> 16 & 0xFFFF) + (x >> 32 & 0xFFFF)) as f32 / 65536.0 - 1.5;
        let scale = 0.01 + 0.01 * ((out.len() >> 22) % 5) as f32;
        out.extend_from_slice(&half::bf16::from_f32(g * scale).to_le_bytes());
    }
    out.truncate(n);
    out
}
