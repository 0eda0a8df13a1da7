//! The reusable device buffers of one window in flight (their uploads: `upload.rs`). A decoder holds two sets, so that the
//! next window is uploaded while the current one decodes; each buffer grows (to a power of two,
//! capped at the binding limit) when a window needs more and is otherwise reused.

use super::plan::Window;

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

/// The buffers of one window.
pub struct BufferSet {
    pub params: wgpu::Buffer,
    pub comp: Slot,
    pub tables: Slot,
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
        BufferSet {
            params: create(device, "params", 256, U::UNIFORM | U::COPY_DST),
            comp: Slot::new(device, "comp", st),
            tables: Slot::new(device, "tables", st),
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

    /// Grows the buffers for `w`; `out_bytes` is the window's output binding when it is read back
    /// (0 when decoding into a caller's buffer).
    pub fn ensure(&mut self, device: &wgpu::Device, w: &Window, out_bytes: u64, cap: u64) {
        self.comp.ensure(device, w.comp_len() + 8, cap);
        self.tables.ensure(device, w.tables.len() as u64 * 4, cap);
        self.jobs.ensure(device, w.jobs.len() as u64 * 16, cap);
        self.subs.ensure(device, w.subs.len() as u64 * 16, cap);
        self.huff.ensure(device, w.huff_words * 4, cap);
        self.chunks
            .ensure(device, w.chunk_words.len() as u64 * 4, cap);
        if out_bytes > 0 {
            self.out.ensure(device, out_bytes, cap);
            self.out_read.ensure(device, out_bytes, cap);
        }
    }
}
