//! Removes the CLI's temporary output file when the process is interrupted (SIGINT, SIGTERM,
//! SIGHUP): the default action of those signals ends the process without running destructors, which
//! would leave a hidden `.znn-gpu-*.tmp` as large as the output written so far. The library tells
//! this front end which file that is through its temp hook; the library itself installs no handler.

/// Subscribes to the library's named temporary files.
pub fn install() {
    znn_gpu::files::set_temp_hook(|p| match p {
        Some(p) => register(p),
        None => clear(),
    });
}

#[cfg(unix)]
mod imp {
    use std::ffi::CString;
    use std::path::Path;
    use std::sync::atomic::{AtomicPtr, Ordering};
    use std::sync::Once;

    /// The temporary file to unlink on a signal, or null. Owned by `register`/`clear`.
    static TEMP: AtomicPtr<libc::c_char> = AtomicPtr::new(std::ptr::null_mut());
    static INSTALL: Once = Once::new();

    extern "C" fn on_signal(sig: libc::c_int) {
        let p = TEMP.swap(std::ptr::null_mut(), Ordering::SeqCst);
        // SAFETY: unlink, signal and raise are async-signal-safe; `p` is a valid C string leaked by
        // `register` (never freed while it can be observed here).
        unsafe {
            if !p.is_null() {
                libc::unlink(p);
            }
            libc::signal(sig, libc::SIG_DFL);
            libc::raise(sig);
        }
    }

    /// Makes `path` the file to remove if the process is interrupted.
    pub fn register(path: &Path) {
        INSTALL.call_once(|| {
            for sig in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
                // A signal the caller ignores stays ignored (`nohup` ignores SIGHUP, a shell's
                // background job SIGINT): the run must go on, not stop at the first hang-up.
                // SAFETY: sigaction with a null new action only reads the current one into `old`;
                // the handler installed otherwise only calls async-signal-safe functions.
                unsafe {
                    let mut old: libc::sigaction = std::mem::zeroed();
                    if libc::sigaction(sig, std::ptr::null(), &mut old) == 0
                        && old.sa_sigaction == libc::SIG_IGN
                    {
                        continue;
                    }
                    libc::signal(sig, on_signal as *const () as libc::sighandler_t);
                }
            }
        });
        use std::os::unix::ffi::OsStrExt;
        if let Ok(c) = CString::new(path.as_os_str().as_bytes()) {
            // Leaked on purpose: the handler may read it at any time; one small string per run.
            let old = TEMP.swap(c.into_raw(), Ordering::SeqCst);
            drop_old(old);
        }
    }

    /// The temporary file is gone (renamed or deleted): nothing to remove any more.
    pub fn clear() {
        drop_old(TEMP.swap(std::ptr::null_mut(), Ordering::SeqCst));
    }

    fn drop_old(p: *mut libc::c_char) {
        if !p.is_null() {
            // SAFETY: `p` came from CString::into_raw in `register` and was swapped out, so no
            // handler can see it any more.
            drop(unsafe { CString::from_raw(p) });
        }
    }
}

#[cfg(not(unix))]
mod imp {
    pub fn register(_: &std::path::Path) {}
    pub fn clear() {}
}

pub use imp::*;
