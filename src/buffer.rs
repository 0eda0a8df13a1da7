//! Large output buffers, and advice for large buffers others allocate. On Linux a fresh buffer is
//! backed by transparent huge pages where the kernel allows it (`madvise` mode): first-touch faults on 4 KiB pages cost ~20 ms per 45 MB on
//! the 2-core VMs measured here (slower than decoding), ~3 ms with 2 MiB pages.

use crate::error::{Error, Result};

/// A zeroed `Vec<u8>` of `len` bytes, or an error (never an abort) when memory is short. Large
/// sizes come from `calloc`'s fresh mappings, which the kernel zeroes on first touch: the pages are
/// touched by whoever writes them first (the parallel decoders), not by a serial memset here.
pub fn zeroed(len: usize) -> Result<Vec<u8>> {
    if len == 0 {
        return Ok(Vec::new());
    }
    let too_big = || Error::invalid(format!("cannot allocate {len} bytes for the output"));
    let layout = std::alloc::Layout::array::<u8>(len).map_err(|_| too_big())?;
    // SAFETY: `layout` has a non-zero size. A non-null result is `len` zeroed bytes allocated by the
    // global allocator with align 1, which is exactly what `Vec<u8>` with capacity `len` owns.
    let v = unsafe {
        let p = std::alloc::alloc_zeroed(layout);
        if p.is_null() {
            return Err(too_big());
        }
        Vec::from_raw_parts(p, len, len)
    };
    advise_huge(&v);
    Ok(v)
}

/// An empty `Vec<u8>` with room for `cap` bytes, backed by huge pages where the kernel allows.
pub fn with_capacity(cap: usize) -> Vec<u8> {
    let v = Vec::with_capacity(cap);
    advise_huge(&v);
    v
}

/// Asks the kernel to back the whole 2 MiB pages inside `buf` with huge pages where it allows:
/// for a large buffer that is about to be written for the first time by a decode (a Python
/// tensor's memory, say), the first-touch faults then cost one per 2 MiB instead of one per 4 KiB.
/// Contents are unchanged; a refusal is harmless. A no-op off Linux.
pub fn advise_huge_pages(buf: &mut [u8]) {
    advise_range(buf.as_ptr() as usize, buf.len());
}

fn advise_huge(v: &Vec<u8>) {
    advise_range(v.as_ptr() as usize, v.capacity());
}

#[cfg(target_os = "linux")]
fn advise_range(start: usize, len: usize) {
    const HUGE: usize = 2 << 20;
    let (lo, hi) = (start.next_multiple_of(HUGE), (start + len) & !(HUGE - 1));
    if hi > lo {
        // SAFETY: [lo, hi) lies inside the allocation the caller owns (a Vec's capacity, or a
        // `&mut [u8]`); MADV_HUGEPAGE only changes how the kernel backs those pages, never their
        // contents or validity. A failure is harmless.
        unsafe {
            libc::madvise(lo as *mut libc::c_void, hi - lo, libc::MADV_HUGEPAGE);
        }
    }
}

#[cfg(not(target_os = "linux"))]
fn advise_range(_: usize, _: usize) {}
