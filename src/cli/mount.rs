//! `znn-gpu mount SRC MOUNTPOINT`: parse, mount through the library, report.
//!
//! Without `-f` it behaves like `sshfs`: it returns once the mount is live, leaving a server
//! process behind. The server is this program run again in the foreground (a multi-threaded
//! process is never forked): it says `ready` (or the error) on a pipe, its standard output, which
//! the caller waits for. SIGINT and SIGTERM to a foreground mount unmount it; the process exits
//! when the request loops end.

use std::path::{Path, PathBuf};
use znn_gpu::mount::{MountOptions, DEFAULT_CACHE_BYTES};
use znn_gpu::{Error, Result};

/// Set in the server process that a background `mount` starts.
const SERVER_ENV: &str = "ZNN_GPU_MOUNT_SERVER";

/// What `mount` was asked.
pub struct Request<'a> {
    pub src: &'a Path,
    pub mountpoint: &'a Path,
    pub base: Option<&'a Path>,
    pub cache_mib: Option<u64>,
    pub foreground: bool,
    pub threads: Option<usize>,
}

pub fn run(r: &Request) -> Result<()> {
    let server = std::env::var_os(SERVER_ENV).is_some();
    if !r.foreground && !server {
        return start_server();
    }
    let served = serve(r, server);
    if server {
        if let Err(e) = &served {
            // The caller waits on the pipe: it prints the error and exits non-zero.
            say(&format!("error: {}", super::hints::explain(e)));
            std::process::exit(1);
        }
    }
    served
}

fn options(r: &Request) -> Result<MountOptions> {
    let mut o = MountOptions::default();
    if let Some(m) = r.cache_mib {
        if m == 0 {
            return Err(Error::invalid("--cache-mib must be at least 1"));
        }
        o.files.cache_bytes = m.saturating_mul(1 << 20);
    } else {
        o.files.cache_bytes = DEFAULT_CACHE_BYTES;
    }
    o.files.base = r.base.map(PathBuf::from);
    // Request loops mostly wait on decodes: more of them than cores keep every core busy.
    o.threads = r.threads.unwrap_or_else(rayon::current_num_threads).max(8);
    Ok(o)
}

#[cfg(all(feature = "mount", target_os = "linux"))]
fn serve(r: &Request, server: bool) -> Result<()> {
    let mut m = znn_gpu::mount::mount(r.src, r.mountpoint, &options(r)?)?;
    stop_on_signals(m.unmounter(), !server)?;
    if server {
        say("ready");
        detach_stdout();
    }
    m.run()
}

#[cfg(not(all(feature = "mount", target_os = "linux")))]
fn serve(r: &Request, _server: bool) -> Result<()> {
    options(r)?;
    Err(Error::invalid(
        "this znn-gpu was built without mount support (feature `mount`, Linux only)",
    ))
}

/// One line to the waiting caller (the server's standard output is its pipe).
fn say(line: &str) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}").and_then(|_| out.flush());
}

/// Points standard output at /dev/null: the caller has gone, a write must not raise SIGPIPE.
#[cfg(unix)]
fn detach_stdout() {
    use std::os::fd::AsRawFd;
    if let Ok(null) = std::fs::OpenOptions::new().write(true).open("/dev/null") {
        // SAFETY: dup2 onto fd 1 of a valid descriptor; `null` stays open until after the call.
        unsafe {
            libc::dup2(null.as_raw_fd(), 1);
        }
    }
}

#[cfg(not(unix))]
fn detach_stdout() {}

/// Starts this program again as the foreground server and waits until it says the mount is live.
fn start_server() -> Result<()> {
    use std::io::BufRead;
    use std::process::{Command, Stdio};
    let exe = std::env::current_exe().map_err(|e| Error::io("finding this program", e))?;
    let mut cmd = Command::new(exe);
    cmd.args(std::env::args_os().skip(1))
        .env(SERVER_ENV, "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(server_stderr());
    #[cfg(unix)]
    {
        // Its own process group: the terminal's ^C is for the caller, not the server.
        use std::os::unix::process::CommandExt;
        cmd.process_group(0);
    }
    let mut child = cmd
        .spawn()
        .map_err(|e| Error::io("starting the mount server", e))?;
    let out = child.stdout.take().expect("piped");
    let mut line = String::new();
    let _ = std::io::BufReader::new(out).read_line(&mut line);
    match line.trim_end() {
        "ready" => Ok(()),
        l if l.starts_with("error: ") => {
            let _ = child.wait();
            eprintln!("{l}");
            std::process::exit(1);
        }
        _ => {
            let status = child
                .wait()
                .map_err(|e| Error::io("waiting for the mount server", e))?;
            Err(Error::io(
                "the mount server",
                std::io::Error::other(format!("exited before the mount was live ({status})")),
            ))
        }
    }
}

/// Where the server logs (bad chunks, changed files): the caller's standard error when it is a
/// terminal or a file; never a pipe, whose reader would wait for the server to exit.
fn server_stderr() -> std::process::Stdio {
    use std::io::IsTerminal;
    let keep = std::io::stderr().is_terminal()
        || std::fs::metadata("/proc/self/fd/2").is_ok_and(|m| m.is_file());
    if keep {
        std::process::Stdio::inherit()
    } else {
        std::process::Stdio::null()
    }
}

/// SIGINT and SIGTERM (and SIGHUP in the foreground) unmount: a handler writes the signal to a
/// pipe, a thread reads it and unmounts.
#[cfg(all(feature = "mount", target_os = "linux"))]
fn stop_on_signals(mut u: znn_gpu::mount::Unmounter, hangup: bool) -> Result<()> {
    use std::io::Read;
    use std::os::fd::FromRawFd;
    use std::sync::atomic::{AtomicI32, Ordering};
    static WRITE_FD: AtomicI32 = AtomicI32::new(-1);
    extern "C" fn on_signal(sig: libc::c_int) {
        let fd = WRITE_FD.load(Ordering::SeqCst);
        let b = sig as u8;
        // SAFETY: write is async-signal-safe; the buffer is a local byte.
        unsafe {
            libc::write(fd, &b as *const u8 as *const libc::c_void, 1);
        }
    }
    let mut fds = [0 as libc::c_int; 2];
    // SAFETY: pipe2 fills the two descriptors of a valid array.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(Error::io("signal pipe", std::io::Error::last_os_error()));
    }
    WRITE_FD.store(fds[1], Ordering::SeqCst);
    // SAFETY: fds[0] is a fresh descriptor that only this File owns.
    let mut rd = unsafe { std::fs::File::from_raw_fd(fds[0]) };
    let mut sigs = vec![libc::SIGINT, libc::SIGTERM];
    if hangup {
        sigs.push(libc::SIGHUP);
    } else {
        // SAFETY: ignoring a signal has no preconditions.
        unsafe {
            libc::signal(libc::SIGHUP, libc::SIG_IGN);
        }
    }
    for s in sigs {
        // SAFETY: the handler only calls write, which is async-signal-safe.
        unsafe {
            libc::signal(s, on_signal as *const () as libc::sighandler_t);
        }
    }
    std::thread::Builder::new()
        .name("znn-mount-signals".into())
        .spawn(move || {
            let mut b = [0u8; 1];
            if rd.read_exact(&mut b).is_ok() {
                if let Err(e) = u.unmount() {
                    eprintln!("znn-gpu mount: {e}");
                }
            }
        })
        .map_err(|e| Error::io("starting the signal thread", e))?;
    Ok(())
}
