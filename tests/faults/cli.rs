//! CLI faults: a full disk, a killed process, an input that shrinks while it is read, and inputs
//! that are not regular files. Each runs the built binary on a temporary folder.

use super::counted;
use crate::cli_util::*;
use crate::common::{golden_input, repo_model};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// `znn-gpu ARGS` in `dir` with every file it writes limited to `max` bytes (`RLIMIT_FSIZE`), as
/// on a full disk: SIGXFSZ is ignored, so a write past the limit fails with EFBIG.
#[cfg(target_os = "linux")]
fn run_with_fsize(dir: &Path, args: &[&str], max: u64) -> std::process::Output {
    use std::os::unix::process::CommandExt;
    let mut c = znn_gpu();
    c.args(args).current_dir(dir);
    // SAFETY: setrlimit and signal are async-signal-safe; nothing else runs in the child.
    unsafe {
        c.pre_exec(move || {
            let lim = libc::rlimit {
                rlim_cur: max,
                rlim_max: max,
            };
            if libc::setrlimit(libc::RLIMIT_FSIZE, &lim) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
            Ok(())
        });
    }
    c.output().expect("running znn-gpu")
}

#[cfg(target_os = "linux")]
#[test]
fn full_disk_fails_cleanly_and_keeps_old_output() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let orig = repo_model()[..3 << 19].to_vec();
    write(d, "m", &orig);
    let z = znn_gpu::compress_bytes(&orig, &Default::default()).unwrap();
    write(d, "m.znn", &z);
    let (mut injected, mut lost) = (0, 0);
    let mut check = |args: &[&str], out: &str, max: u64, keep: Option<&[u8]>| {
        let o = run_with_fsize(d, args, max);
        injected += 1;
        let what = format!("{} with files limited to {max} bytes", args.join(" "));
        if o.status.success() {
            lost += 1;
            eprintln!("{what}: succeeded");
            return;
        }
        // The message names the file being written (so the user knows which disk is full).
        let says = format!("error: writing output: {out}: File too large");
        fails_with(&o, &[&says], &what);
        let mut want = vec!["m".to_string(), "m.znn".to_string()];
        match keep {
            Some(k) => {
                want.push(out.to_string());
                if std::fs::read(d.join(out)).unwrap() != k {
                    lost += 1;
                    eprintln!("{what}: the existing {out} was changed");
                }
            }
            None => {
                if d.join(out).exists() {
                    lost += 1;
                    eprintln!("{what}: partial {out} left behind");
                }
            }
        }
        want.sort();
        assert_eq!(listing(d), want, "{what}: files left in the folder");
    };
    for max in [0, 1, 16, 4096, 1 << 16, 1 << 20, z.len() as u64 - 1] {
        check(&["compress", "m", "-o", "c.znn"], "c.znn", max, None);
    }
    for max in [0, 4096, 1 << 20, orig.len() as u64 - 1] {
        check(&["decompress", "m.znn", "-o", "d"], "d", max, None);
    }
    // With -f over an existing output: the old file is kept whole.
    std::fs::write(d.join("old"), b"previous contents").unwrap();
    for max in [100, 1 << 19] {
        check(
            &["compress", "m", "-o", "old", "-f"],
            "old",
            max,
            Some(b"previous contents"),
        );
        check(
            &["decompress", "m.znn", "-o", "old", "-f"],
            "old",
            max,
            Some(b"previous contents"),
        );
    }
    // Control: a limit the output fits in exactly is no fault.
    let o = run_with_fsize(d, &["compress", "m", "-o", "c.znn"], z.len() as u64);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(std::fs::read(d.join("c.znn")).unwrap(), z);
    counted("CLI full disk", injected, lost);
}

/// Waits until the child has a file open in `dir` whose size is at least `min` bytes (its output
/// being written), or has exited. Returns that file's `/proc` path, `None` if the child exited.
#[cfg(target_os = "linux")]
fn wait_for_output(
    child: &mut Child,
    dir: &Path,
    min: u64,
    skip: &Path,
) -> Option<std::path::PathBuf> {
    let skip = skip.canonicalize().ok();
    let start = Instant::now();
    loop {
        if child.try_wait().unwrap().is_some() {
            return None;
        }
        for fd in fds_into(child.id(), dir) {
            let target = std::fs::read_link(&fd).ok();
            if target.is_some() && target == skip {
                continue;
            }
            if std::fs::metadata(&fd)
                .map(|m| m.len() >= min)
                .unwrap_or(false)
            {
                return Some(fd);
            }
        }
        // A stuck child is a failure of its own (no hang of the test suite).
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "child made no progress"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// The input of the kill and shrink tests: `mib` MiB of synthetic BF16 weights.
fn big_input(d: &Path, mib: usize) -> Vec<u8> {
    let data = synthetic_bf16(mib << 20, 7);
    write(d, "in", &data);
    data
}

#[cfg(target_os = "linux")]
#[test]
fn killed_run_leaves_no_file_at_all() {
    let (mut injected, mut lost) = (0, 0);
    // Deterministic: killed while reading standard input, when only the (unnamed) temporary
    // output exists; nothing is written yet, so nothing may remain.
    for cmd in ["compress", "decompress"] {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let mut child = znn_gpu()
            .args([cmd, "-", "-o", "out"])
            .current_dir(d)
            .stdin(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdin = child.stdin.take().unwrap();
        let fd = wait_for_output(&mut child, d, 0, Path::new("/nonexistent"));
        assert!(fd.is_some(), "{cmd}: exited while its input was still open");
        child.kill().unwrap();
        child.wait().unwrap();
        drop(stdin);
        injected += 1;
        if !listing(d).is_empty() {
            lost += 1;
            eprintln!("{cmd} killed while reading stdin left {:?}", listing(d));
        }
    }
    // Killed while writing: the output has bytes in it. A larger input each time the run finished
    // before it could be caught part-way (not expected: it is written over seconds).
    for cmd in ["compress", "decompress"] {
        let mut caught = false;
        for mib in [96, 256, 512] {
            let dir = tempfile::tempdir().unwrap();
            let d = dir.path();
            let data = big_input(d, mib);
            let args: Vec<&str> = if cmd == "compress" {
                vec!["--threads", "1", "compress", "in", "-o", "out"]
            } else {
                let z = znn_gpu::compress_bytes(&data, &Default::default()).unwrap();
                write(d, "in.znn", &z);
                std::fs::remove_file(d.join("in")).unwrap();
                vec!["--threads", "1", "decompress", "in.znn", "-o", "out"]
            };
            let input = if cmd == "compress" { "in" } else { "in.znn" };
            let before = std::fs::read(d.join(input)).unwrap();
            let mut child = znn_gpu().args(&args).current_dir(d).spawn().unwrap();
            let fd = wait_for_output(&mut child, d, 1 << 20, &d.join(input));
            if fd.is_none() {
                eprintln!("{cmd} of {mib} MiB finished before it could be killed; larger");
                continue;
            }
            child.kill().unwrap();
            let status = child.wait().unwrap();
            assert!(!status.success());
            caught = true;
            injected += 1;
            if listing(d) != [input] {
                lost += 1;
                eprintln!("{cmd} killed mid-write left {:?}", listing(d));
            }
            if std::fs::read(d.join(input)).unwrap() != before {
                lost += 1;
                eprintln!("{cmd} killed mid-write changed its input");
            }
            break;
        }
        assert!(caught, "{cmd}: never caught part-way");
    }
    counted("CLI SIGKILL", injected, lost);
}

#[cfg(target_os = "linux")]
#[test]
fn input_shrinking_during_compress_is_an_error() {
    let (mut injected, mut lost) = (0, 0);
    let mut caught = false;
    for mib in [96, 256] {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let len = big_input(d, mib).len() as u64;
        let mut child = znn_gpu()
            .args(["--threads", "1", "compress", "in", "-o", "out"])
            .current_dir(d)
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        if wait_for_output(&mut child, d, 1, &d.join("in")).is_none() {
            continue;
        }
        // Freeze the child (SIGSTOP: its file offset cannot move), see where its reader is, cut
        // the input to nothing, let it go on. If it had not read everything, its next read meets
        // the end of the file early, and that must be an error.
        let pid = child.id() as i32;
        // SAFETY: signalling our own child.
        unsafe { libc::kill(pid, libc::SIGSTOP) };
        while !stopped(pid) {
            std::thread::sleep(Duration::from_millis(1));
        }
        let input = d.join("in").canonicalize().unwrap();
        let pos = fds_into(child.id(), d)
            .into_iter()
            .find(|fd| std::fs::read_link(fd).ok().as_ref() == Some(&input))
            .as_deref()
            .and_then(fd_pos);
        std::fs::OpenOptions::new()
            .write(true)
            .open(&input)
            .unwrap()
            .set_len(0)
            .unwrap();
        // SAFETY: as above.
        unsafe { libc::kill(pid, libc::SIGCONT) };
        let o = child.wait_with_output().unwrap();
        let Some(pos) = pos.filter(|&p| p < len) else {
            eprintln!("compress of {mib} MiB read everything before the cut; larger");
            continue;
        };
        caught = true;
        injected += 1;
        eprintln!("input cut to 0 bytes with the reader at {pos} of {len}");
        if o.status.success() {
            lost += 1;
            eprintln!("compress of a shrinking input succeeded");
        } else {
            fails_with(
                &o,
                &["input ended early", "did it change while being read?"],
                "shrinking input",
            );
        }
        if listing(d) != ["in"] {
            lost += 1;
            eprintln!("shrinking input left {:?}", listing(d));
        }
        break;
    }
    assert!(caught, "never caught the reader part-way");
    counted("CLI shrinking input", injected, lost);
}

/// True when process `pid` is stopped (state `T` in `/proc/PID/stat`) or gone.
#[cfg(target_os = "linux")]
fn stopped(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state follows the command name, which is in parentheses.
        Ok(s) => s
            .rsplit(')')
            .next()
            .is_some_and(|r| r.trim_start().starts_with(['T', 't', 'Z'])),
        Err(_) => true,
    }
}

/// A FIFO (`mkfifo`, or bash's `<(cmd)`) reports length 0 and cannot seek: it is read to its end
/// like standard input, never taken for an empty file (which compressed to an empty archive and
/// reported success: all the data lost). The FIFO delivers exactly what its writer wrote.
#[cfg(target_os = "linux")]
#[test]
fn fifo_and_procfs_inputs_are_read_whole() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let orig = golden_input();
    let fifo = |name: &str, data: Vec<u8>| {
        let p = d.join(name);
        let st = Command::new("mkfifo").arg(&p).status().unwrap();
        assert!(st.success());
        std::thread::spawn(move || std::fs::write(p, data).unwrap())
    };
    let t = fifo("pipe", orig.clone());
    let o = run(d, &["compress", "pipe", "-o", "p.znn"]);
    assert!(o.status.success(), "compress of a FIFO: {}", stderr(&o));
    t.join().unwrap();
    let z = std::fs::read(d.join("p.znn")).unwrap();
    assert!(
        znn_gpu::decompress_bytes(&z).unwrap() == orig,
        "FIFO round trip"
    );
    // A FIFO given to decompress: spooled, so that it can be seeked.
    std::fs::remove_file(d.join("pipe")).unwrap();
    let t = fifo("pipe", z);
    let o = run(d, &["decompress", "pipe", "-o", "back", "--device", "cpu"]);
    assert!(o.status.success(), "decompress of a FIFO: {}", stderr(&o));
    t.join().unwrap();
    assert!(std::fs::read(d.join("back")).unwrap() == orig);
    // procfs files report size 0 but have contents.
    let o = run(
        d,
        &[
            "compress",
            "/proc/version",
            "-o",
            "v.znn",
            "--dtype",
            "byte",
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let z = std::fs::read(d.join("v.znn")).unwrap();
    let want = std::fs::read("/proc/version").unwrap();
    assert!(!want.is_empty());
    assert_eq!(
        znn_gpu::decompress_bytes(&z).unwrap(),
        want,
        "/proc/version"
    );
    // A character device (endless, like /dev/zero) is refused, not read until the disk is full.
    let o = run(d, &["compress", "/dev/zero", "-o", "z.znn"]);
    fails_with(
        &o,
        &["/dev/zero is a character device"],
        "compress /dev/zero",
    );
    assert!(!d.join("z.znn").exists());
    assert_eq!(listing(d), ["back", "p.znn", "pipe", "v.znn"]);
}
