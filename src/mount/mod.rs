//! A compressed model readable where it lies: a read-only filesystem (FUSE) showing a
//! [`FolderView`](crate::folder::FolderView) — every `NAME.znn` as `NAME` with its original bytes,
//! every other file passed through — so that any loader (transformers, safetensors' mmap, vLLM,
//! llama.cpp, `cp`) reads it without a decompressed copy on disk.
//!
//! - [`ViewFiles`]: the contents, without FUSE: lazily opened readers sharing one cache, stamps
//!   that catch a file replaced under the mount, corrupt chunks logged once.
//! - [`mount`] (feature `mount`, Linux): the FUSE session over it; [`Mounted::run`] serves until
//!   the filesystem is unmounted (`fusermount3 -u`, `umount`, or an [`Unmounter`]).

mod files;
#[cfg(all(feature = "mount", target_os = "linux"))]
mod fuse;

pub use files::{FilesOptions, ViewFiles};

use crate::error::{Error, Result};
use std::path::PathBuf;

/// Default bytes of decoded chunks a mount keeps (all open files together).
pub const DEFAULT_CACHE_BYTES: u64 = 256 << 20;

/// Default bytes decoded ahead of a sequential reader of a mounted file.
pub const DEFAULT_READAHEAD_BYTES: u64 = 16 << 20;

/// Environment variable naming the FUSE device to check instead of `/dev/fuse` (tests use it to
/// see the message for a missing device).
pub const FUSE_DEVICE_ENV: &str = "ZNN_GPU_FUSE_DEVICE";

/// How to mount.
#[derive(Clone, Debug)]
pub struct MountOptions {
    pub files: FilesOptions,
    /// Request loops serving the kernel at once (at least 1).
    pub threads: usize,
}

impl Default for MountOptions {
    fn default() -> Self {
        MountOptions {
            files: FilesOptions {
                base: None,
                cache_bytes: DEFAULT_CACHE_BYTES,
                readahead_bytes: Some(DEFAULT_READAHEAD_BYTES),
            },
            threads: 8,
        }
    }
}

/// What a missing FUSE needs, in one line (the device, the helper, Docker's flags).
const FUSE_NEEDS: &str = "FUSE is unavailable: mounting needs the device /dev/fuse (`modprobe \
     fuse`), fusermount3 (package fuse3) unless run as root, and in Docker `--device /dev/fuse \
     --cap-add SYS_ADMIN`";

/// The FUSE device this process would use.
pub fn fuse_device() -> PathBuf {
    std::env::var_os(FUSE_DEVICE_ENV)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/dev/fuse"))
}

/// `Ok` when a FUSE mount can be attempted: the device opens, and `fusermount3` exists for a
/// user other than root. Otherwise an I/O error whose one-line message says what is missing.
pub fn check_fuse() -> Result<()> {
    let dev = fuse_device();
    let io = |e: std::io::Error| Error::io(FUSE_NEEDS, e);
    if let Err(e) = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&dev)
    {
        return Err(io(std::io::Error::new(
            e.kind(),
            format!("{}: {e}", dev.display()),
        )));
    }
    if !is_root() && find_in_path("fusermount3").is_none() && find_in_path("fusermount").is_none() {
        return Err(io(std::io::Error::new(
            std::io::ErrorKind::NotFound,
            "fusermount3 is not installed",
        )));
    }
    Ok(())
}

#[cfg(unix)]
fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

#[cfg(not(unix))]
fn is_root() -> bool {
    false
}

fn find_in_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

#[cfg(all(feature = "mount", target_os = "linux"))]
pub use live::*;

#[cfg(all(feature = "mount", target_os = "linux"))]
mod live {
    use super::fuse::{Fs, MAX_READ};
    use super::*;
    use std::path::Path;
    use std::sync::Arc;

    /// A live mount: the kernel serves it once this exists; [`Mounted::run`] answers its
    /// requests.
    pub struct Mounted {
        session: fuser::Session<Fs>,
        files: Arc<ViewFiles>,
    }

    /// Ends a mount from another thread (a signal watcher, say).
    pub struct Unmounter(fuser::SessionUnmounter);

    impl Unmounter {
        /// Unmounts; the request loops of [`Mounted::run`] then end and it returns. With files
        /// still open on it the mount detaches now and goes when they close.
        pub fn unmount(&mut self) -> Result<()> {
            self.0.unmount().map_err(|e| Error::io("unmounting", e))
        }
    }

    /// Mounts the view of `src` (a `.znn`, a compressed folder or Hugging Face snapshot) on the
    /// folder `mountpoint`, read-only. Returns once the mount is live.
    pub fn mount(src: &Path, mountpoint: &Path, o: &MountOptions) -> Result<Mounted> {
        let files = Arc::new(ViewFiles::open(src, o.files.clone())?);
        let meta = std::fs::metadata(mountpoint)
            .map_err(|e| Error::io(format!("mount point {}", mountpoint.display()), e))?;
        if !meta.is_dir() {
            return Err(Error::invalid(format!(
                "mount point {} is not a folder",
                mountpoint.display()
            )));
        }
        check_fuse()?;
        let mut cfg = fuser::Config::default();
        cfg.mount_options = vec![
            fuser::MountOption::RO,
            fuser::MountOption::NoAtime,
            fuser::MountOption::DefaultPermissions,
            fuser::MountOption::FSName(src.display().to_string().replace(',', "_")),
            fuser::MountOption::Subtype("znn-gpu".into()),
            fuser::MountOption::CUSTOM(format!("max_read={MAX_READ}")),
        ];
        cfg.n_threads = Some(o.threads.max(1));
        let fs = Fs {
            files: files.clone(),
            uid: uid(),
            gid: gid(),
        };
        let session = fuser::Session::new(fs, mountpoint, &cfg).map_err(|e| {
            let hint = matches!(
                e.kind(),
                std::io::ErrorKind::NotFound | std::io::ErrorKind::PermissionDenied
            );
            if hint {
                Error::io(FUSE_NEEDS, e)
            } else {
                Error::io(format!("mounting on {}", mountpoint.display()), e)
            }
        })?;
        Ok(Mounted { session, files })
    }

    impl Mounted {
        /// A handle that unmounts this mount from any thread.
        pub fn unmounter(&mut self) -> Unmounter {
            Unmounter(self.session.unmount_callable())
        }

        /// The files served.
        pub fn files(&self) -> &Arc<ViewFiles> {
            &self.files
        }

        /// Serves requests until the filesystem is unmounted.
        pub fn run(self) -> Result<()> {
            self.session
                .run()
                .map_err(|e| Error::io("serving the mount", e))
        }
    }

    fn uid() -> u32 {
        // SAFETY: getuid has no preconditions and cannot fail.
        unsafe { libc::getuid() }
    }

    fn gid() -> u32 {
        // SAFETY: getgid has no preconditions and cannot fail.
        unsafe { libc::getgid() }
    }
}
