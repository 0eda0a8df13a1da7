//! The CLI under signals: an interrupted run leaves no output and no temporary file, and a signal
//! the caller ignores (`nohup`'s SIGHUP) does not stop a run. Linux: the tests watch the child's
//! open files in /proc.
#![cfg(target_os = "linux")]

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use znn_gpu::{compress_bytes, CompressOptions};
use znn_test_support::cli::{fds_into, listing, znn_gpu};
use znn_test_support::golden_input;

fn sample() -> Vec<u8> {
    golden_input()
}

#[test]
fn interrupted_run_leaves_no_temp_file() {
    // Ctrl-C (SIGINT) or SIGTERM while compressing: the run failed, so neither the output nor the
    // temporary file may remain. Standard input is kept open so the run is still in progress when
    // the signal arrives (the unnamed temporary output is open from the start).
    for (sig, cmd) in [
        ("-INT", "compress"),
        ("-TERM", "compress"),
        ("-HUP", "decompress"),
        ("-INT", "decompress"),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let mut c = znn_gpu();
        // The child starts with every signal at its default action, whatever this test process
        // inherited (a background job ignores SIGINT, `nohup` SIGHUP), so that it can be stopped.
        with_signals(&mut c, libc::SIG_DFL);
        let mut child = c
            .args([cmd, "-", "-o", "out"])
            .current_dir(d)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(&sample()).unwrap();
        let t = std::time::Instant::now();
        while !output_open(child.id(), d) && t.elapsed() < std::time::Duration::from_secs(10) {
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
        match Command::new("kill")
            .args([sig, &child.id().to_string()])
            .status()
        {
            Ok(s) if s.success() => {}
            other => {
                let _ = child.kill();
                let _ = child.wait();
                eprintln!(
                    "SKIPPED interrupted_run_leaves_no_temp_file: cannot run kill ({other:?})"
                );
                return;
            }
        }
        let status = child.wait().unwrap();
        drop(stdin);
        assert!(!status.success(), "{sig}: the run was not interrupted");
        assert_eq!(
            listing(d),
            Vec::<String>::new(),
            "{sig}: files left after an interrupted run"
        );
    }
}

/// Sets SIGINT, SIGTERM and SIGHUP to `action` (`SIG_DFL` or `SIG_IGN`) in the child `c` starts.
fn with_signals(c: &mut Command, action: libc::sighandler_t) {
    use std::os::unix::process::CommandExt;
    // SAFETY: between fork and exec the closure only calls signal(2), which is async-signal-safe,
    // and allocates nothing.
    unsafe {
        c.pre_exec(move || {
            for sig in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
                libc::signal(sig, action);
            }
            Ok(())
        });
    }
}

#[test]
fn an_ignored_hangup_stays_ignored() {
    // Under `nohup` (SIGHUP ignored) a hang-up mid-run must not stop the run: it finishes and
    // writes its output once its input ends.
    for cmd in ["compress", "decompress"] {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let input = if cmd == "compress" {
            sample()
        } else {
            compress_bytes(&sample(), &CompressOptions::default()).unwrap()
        };
        let mut c = znn_gpu();
        with_signals(&mut c, libc::SIG_IGN);
        let mut child = c
            .args([cmd, "-", "-o", "out"])
            .current_dir(d)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        let half = input.len() / 2;
        stdin.write_all(&input[..half]).unwrap();
        let t = std::time::Instant::now();
        while !output_open(child.id(), d) && t.elapsed() < std::time::Duration::from_secs(10) {
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
        let sent = Command::new("kill")
            .args(["-HUP", &child.id().to_string()])
            .status();
        if !sent.is_ok_and(|s| s.success()) {
            let _ = child.kill();
            let _ = child.wait();
            eprintln!("SKIPPED an_ignored_hangup_stays_ignored: cannot run kill");
            return;
        }
        stdin.write_all(&input[half..]).unwrap();
        drop(stdin);
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{cmd}: a hang-up stopped the run: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(listing(d), vec!["out".to_string()], "{cmd}");
    }
}

/// True once process `pid` holds a file in `dir` open (its output, named or not) or the folder
/// has an entry.
fn output_open(pid: u32, dir: &Path) -> bool {
    !fds_into(pid, dir).is_empty() || !listing(dir).is_empty()
}
