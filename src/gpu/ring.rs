//! The reusable device buffers of one window in flight (their uploads: `upload.rs`). A decoder holds two sets, so that the
//! next window is uploaded while the current one decodes; each buffer grows (to a power of two,
//! capped at the binding limit) when a window needs more and is otherwise reused.

use super::plan::Window;
use crate::error::Result;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// A buffer and its size; replaced by a larger one when a window needs more.
pub struct Slot {
    pub buf: wgpu::Buffer,
    usage: wgpu::BufferUsages,
    label: &'static str,
}

impl Slot {
    fn new(device: &wgpu::Device, label: &'static str, usage: wgpu::BufferUsages) -> Slot {
        Slot {
            buf: create(device, label, 256, usage),
            usage,
            label,
        }
    }

    /// Makes the buffer hold at least `need` bytes; `cap` bounds the growth (the binding limit).
    pub fn ensure(&mut self, device: &wgpu::Device, need: u64, cap: u64) {
        if need > self.buf.size() {
            let size = need.next_power_of_two().min(cap).max(need);
            self.buf = create(device, self.label, size, self.usage);
        }
    }
}

fn create(
    device: &wgpu::Device,
    label: &str,
    size: u64,
    usage: wgpu::BufferUsages,
) -> wgpu::Buffer {
    device.create_buffer(&wgpu::BufferDescriptor {
        label: Some(label),
        size: size.max(256).div_ceil(4) * 4,
        usage,
        mapped_at_creation: false,
    })
}

/// A persistent `MAP_WRITE | COPY_SRC` staging buffer: mapped once, filled in place by host
/// threads, unmapped for the copies of one window, and mapped again (asynchronously, right after
/// that window's submit) for the next window on the same set. It is replaced only when a window
/// needs more bytes than it holds.
pub struct Staging {
    pub buf: wgpu::Buffer,
    /// Set by the map callback once the buffer is mapped again.
    ready: Arc<AtomicBool>,
    /// A `map_async` was requested and may not have completed yet.
    pending: bool,
}

impl Staging {
    pub fn new(device: &wgpu::Device, size: u64) -> Staging {
        let buf = device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("staging"),
            size: size.max(256).div_ceil(4) * 4,
            usage: wgpu::BufferUsages::MAP_WRITE | wgpu::BufferUsages::COPY_SRC,
            mapped_at_creation: true,
        });
        Staging {
            buf,
            ready: Arc::new(AtomicBool::new(true)),
            pending: false,
        }
    }

    /// Makes the buffer hold `need` bytes and be mapped: waits for the re-map requested after the
    /// previous window on this set (its submission has finished by then), or replaces the buffer.
    pub fn ready(&mut self, device: &wgpu::Device, need: u64) -> Result<()> {
        if need > self.buf.size() {
            if self.pending {
                super::readback::wait_map(device, &self.ready)?;
            }
            // Whole 16 MiB steps: windows of one file have similar sizes, so it rarely grows
            // twice, and never to twice what a window needs.
            *self = Staging::new(device, need.div_ceil(16 << 20) * (16 << 20));
            return Ok(());
        }
        if self.pending {
            super::readback::wait_map(device, &self.ready)?;
            self.pending = false;
        }
        Ok(())
    }

    /// Unmaps the buffer before the window's copies are submitted.
    pub fn unmap(&mut self) {
        self.buf.unmap();
        self.ready.store(false, Ordering::Release);
    }

    /// Requests the re-map that the next window on this set waits for in [`Staging::ready`].
    pub fn remap(&mut self) {
        let ready = self.ready.clone();
        self.buf
            .slice(..)
            .map_async(wgpu::MapMode::Write, move |r| {
                ready.store(r.is_ok(), Ordering::Release)
            });
        self.pending = true;
    }
}

/// The buffers of one window.
pub struct BufferSet {
    pub stage: Staging,
    pub params: wgpu::Buffer,
    pub comp: Slot,
    pub jobs: Slot,
    pub subs: Slot,
    pub huff: Slot,
    pub chunks: Slot,
    /// Error flags written by the kernels, and their read-back copy.
    pub errors: wgpu::Buffer,
    pub err_read: wgpu::Buffer,
    /// Window output (streaming decode only) and its read-back copy.
    pub out: Slot,
    pub out_read: Slot,
}

impl BufferSet {
    pub fn new(device: &wgpu::Device) -> BufferSet {
        use wgpu::BufferUsages as U;
        let st = U::STORAGE | U::COPY_DST;
        // Kernels read the comp/jobs/subs/chunks buffers only where the window's copies
        // wrote them; `errors` is reset by a copy before each window.
        BufferSet {
            stage: Staging::new(device, 1 << 20),
            params: create(device, "params", 256, U::UNIFORM | U::COPY_DST),
            comp: Slot::new(device, "comp", st),
            jobs: Slot::new(device, "jobs", st),
            subs: Slot::new(device, "subs", st),
            huff: Slot::new(device, "huff", st),
            chunks: Slot::new(device, "chunks", st),
            errors: create(device, "errors", 256, st | U::COPY_SRC),
            err_read: create(device, "errors read", 256, U::MAP_READ | U::COPY_DST),
            out: Slot::new(device, "window out", U::STORAGE | U::COPY_SRC),
            out_read: Slot::new(device, "window out read", U::MAP_READ | U::COPY_DST),
        }
    }

    /// Grows the buffers for `w`; `out_bytes` is the window's output binding when the window
    /// decodes into this set's own output buffer (0 when decoding into a caller's buffer), read
    /// back when `read_back`.
    pub fn ensure(
        &mut self,
        device: &wgpu::Device,
        w: &Window,
        out_bytes: u64,
        read_back: bool,
        cap: u64,
    ) {
        self.comp.ensure(device, w.comp_len() + 8, cap);
        self.jobs.ensure(device, w.jobs.len() as u64 * 16, cap);
        self.subs.ensure(device, w.subs.len() as u64 * 16, cap);
        self.huff.ensure(device, w.huff_words * 4, cap);
        self.chunks
            .ensure(device, w.chunk_words.len() as u64 * 4, cap);
        if out_bytes > 0 {
            self.out.ensure(device, out_bytes, cap);
        }
        if read_back {
            self.out_read.ensure(device, out_bytes, cap);
        }
    }
}
