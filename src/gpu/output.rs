//! Output buffers without wgpu's zero fill, and the tensor table of a decoded output.
//!
//! wgpu zero-initialises every buffer it creates, lazily, before the first use that could read
//! it: for an output that the kernels overwrite, that is a second full write of the output (a
//! `vkCmdFillBuffer` on a GPU, a memset on lavapipe). A buffer made through the backend (Vulkan)
//! and wrapped with `create_buffer_from_hal` counts as initialised, so the fill is skipped. The
//! bytes that no kernel writes (before the first decoded byte of a range buffer, and the rounding
//! up to a whole word) are cleared explicitly, so the buffer's documented contents hold either way.

use super::decoder::TensorEntry;
use crate::engine::Engine;
use crate::error::Result;
use std::ops::Range;

const USAGE: wgpu::BufferUsages = wgpu::BufferUsages::STORAGE
    .union(wgpu::BufferUsages::COPY_SRC)
    .union(wgpu::BufferUsages::COPY_DST);

/// A `STORAGE | COPY_SRC | COPY_DST` buffer of `size` bytes (a multiple of 4) whose bytes in
/// `zero` (each range rounded out to whole words) are zero; its other bytes are unspecified until
/// the kernels write them. `zeroed` asks for wgpu's own zero fill instead (the legacy path).
pub fn create(
    device: &wgpu::Device,
    queue: &wgpu::Queue,
    size: u64,
    zero: &[Range<u64>],
    zeroed: bool,
) -> wgpu::Buffer {
    let desc = wgpu::BufferDescriptor {
        label: Some("znn output"),
        size,
        usage: USAGE,
        mapped_at_creation: false,
    };
    let raw = if zeroed {
        None
    } else {
        vulkan_uninit(device, &desc)
    };
    let Some(buf) = raw else {
        return device.create_buffer(&desc);
    };
    let mut enc = device.create_command_encoder(&wgpu::CommandEncoderDescriptor {
        label: Some("znn output clear"),
    });
    for r in zero {
        let (a, b) = (r.start / 4 * 4, (r.end.div_ceil(4) * 4).min(size));
        if a < b {
            enc.clear_buffer(&buf, a, Some(b - a));
        }
    }
    // Queue order puts the clears before any window's copies and kernels.
    queue.submit([enc.finish()]);
    buf
}

/// The buffer made by the Vulkan backend and wrapped, so that wgpu treats it as initialised;
/// `None` on other backends or when the backend refuses (the caller then takes wgpu's path).
fn vulkan_uninit(device: &wgpu::Device, desc: &wgpu::BufferDescriptor) -> Option<wgpu::Buffer> {
    use wgpu::hal::api::Vulkan;
    use wgpu::hal::Device as _;
    let hal_desc = wgpu::hal::BufferDescriptor {
        label: desc.label,
        size: desc.size,
        usage: wgpu::BufferUses::STORAGE_READ_ONLY
            | wgpu::BufferUses::STORAGE_READ_WRITE
            | wgpu::BufferUses::COPY_SRC
            | wgpu::BufferUses::COPY_DST,
        memory_flags: wgpu::hal::MemoryFlags::empty(),
    };
    // SAFETY: the hal device is used only to create one buffer with the usages the wgpu buffer
    // declares (wgpu-core adds COPY_DST to every buffer for its own clears; we declare it too).
    // `create_buffer_from_hal` requires an initialised buffer: every byte the decoder's callers
    // may read is written by the kernels or cleared in `create` before anything reads it, and
    // reading any other byte reads unspecified but initialised device memory, not undefined
    // behaviour on the host.
    unsafe {
        let hal = device.as_hal::<Vulkan>()?;
        let raw = hal.create_buffer(&hal_desc).ok()?;
        drop(hal);
        Some(device.create_buffer_from_hal::<Vulkan>(raw, desc))
    }
}

/// The safetensors tensor table of the output, from its header, decoded on the CPU (the header is
/// small and needed on the host anyway). Empty when the original is not a safetensors file.
pub(super) fn tensor_table(engine: &Engine) -> Result<Vec<TensorEntry>> {
    let idx = engine.index();
    let Some(h) = crate::reader::header_via(idx, &mut |s, e| engine.read_range(s, e))? else {
        return Ok(Vec::new());
    };
    Ok(h.tensors
        .into_iter()
        .map(|t| TensorEntry {
            name: t.name,
            dtype: t.dtype,
            shape: t.shape,
            offset: t.start,
            len: t.end - t.start,
        })
        .collect())
}
