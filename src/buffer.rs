//! Large output buffers. On Linux a fresh buffer is backed by transparent huge pages where the
//! kernel allows it (`madvise` mode): first-touch faults on 4 KiB pages cost ~20 ms per 45 MB on
//! the 2-core VMs measured here (slower than decoding), ~3 ms with 2 MiB pages.

use crate::error::{Error, Result};

/// A zeroed `Vec<u8>` of `len` bytes, or an error (never an abort) when memory is short.
pub fn zeroed(len: usize) -> Result<Vec<u8>> {
    let mut v = Vec::new();
    v.try_reserve_exact(len)
        .map_err(|_| Error::invalid(format!("cannot allocate {len} bytes for the output")))?;
    advise_huge(&v);
    v.resize(len, 0);
    Ok(v)
}

/// An empty `Vec<u8>` with room for `cap` bytes, backed by huge pages where the kernel allows.
pub fn with_capacity(cap: usize) -> Vec<u8> {
    let v = Vec::with_capacity(cap);
    advise_huge(&v);
    v
}

#[cfg(target_os = "linux")]
fn advise_huge(v: &Vec<u8>) {
    const HUGE: usize = 2 << 20;
    let start = v.as_ptr() as usize;
    let (lo, hi) = (
        start.next_multiple_of(HUGE),
        (start + v.capacity()) & !(HUGE - 1),
    );
    if hi > lo {
        // SAFETY: [lo, hi) lies inside the allocation owned by `v`; MADV_HUGEPAGE only changes how
        // the kernel backs those pages, never their contents or validity. A failure is harmless.
        unsafe {
            libc::madvise(lo as *mut libc::c_void, hi - lo, libc::MADV_HUGEPAGE);
        }
    }
}

#[cfg(not(target_os = "linux"))]
fn advise_huge(_: &Vec<u8>) {}
