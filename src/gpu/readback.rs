//! Waiting for the device and reading buffers back.

use crate::error::{Error, Result};
use std::sync::mpsc;

/// Blocks until submission `s` is done.
pub fn wait(device: &wgpu::Device, s: wgpu::SubmissionIndex) -> Result<()> {
    device
        .poll(wgpu::PollType::Wait {
            submission_index: Some(s),
            timeout: None,
        })
        .map(|_| ())
        .map_err(|e| Error::Gpu(format!("waiting for the device: {e}")))
}

/// Maps `slice` for reading once submission `s` is done.
pub fn map_view(
    device: &wgpu::Device,
    slice: &wgpu::BufferSlice<'_>,
    s: wgpu::SubmissionIndex,
) -> Result<wgpu::BufferView> {
    let (tx, rx) = mpsc::channel();
    slice.map_async(wgpu::MapMode::Read, move |r| {
        let _ = tx.send(r);
    });
    wait(device, s)?;
    let r = match rx.try_recv() {
        Ok(r) => r,
        Err(_) => {
            device
                .poll(wgpu::PollType::wait_indefinitely())
                .map_err(|e| Error::Gpu(format!("waiting for the device: {e}")))?;
            rx.try_recv()
                .map_err(|_| Error::Gpu("buffer map never completed".into()))?
        }
    };
    r.map_err(|e| Error::Gpu(format!("mapping a buffer: {e}")))?;
    slice
        .get_mapped_range()
        .map_err(|e| Error::Gpu(format!("mapping a buffer: {e}")))
}

/// The first `len` bytes of `buf`, copied out once submission `s` is done.
pub fn map_read(
    device: &wgpu::Device,
    buf: &wgpu::Buffer,
    len: u64,
    s: wgpu::SubmissionIndex,
) -> Result<Vec<u8>> {
    let slice = buf.slice(..len);
    let v = map_view(device, &slice, s).map(|view| view.to_vec());
    buf.unmap();
    v
}

/// Waits until the map callback behind `ready` has run (all submitted work done, callbacks
/// fired) and says whether the map succeeded.
pub fn wait_map(device: &wgpu::Device, ready: &std::sync::atomic::AtomicBool) -> Result<()> {
    use std::sync::atomic::Ordering;
    if !ready.load(Ordering::Acquire) {
        device
            .poll(wgpu::PollType::wait_indefinitely())
            .map_err(|e| Error::Gpu(format!("waiting for the device: {e}")))?;
    }
    if ready.load(Ordering::Acquire) {
        Ok(())
    } else {
        Err(Error::Gpu("mapping a staging buffer failed".into()))
    }
}

impl super::GpuDecoder {
    /// Copies the first `len` bytes of a device buffer (at least `len` rounded up to a word, as
    /// buffer copies need) back to the host and waits for them: for checking a result, never on the
    /// decode path.
    pub fn read_back(&self, buf: &wgpu::Buffer, len: u64) -> Result<Vec<u8>> {
        let size = len.max(4).div_ceil(4) * 4;
        let dev = self.device();
        let read = dev.create_buffer(&wgpu::BufferDescriptor {
            label: Some("read back"),
            size,
            usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        let mut enc = dev.create_command_encoder(&Default::default());
        enc.copy_buffer_to_buffer(buf, 0, &read, 0, size);
        let s = self.queue().submit([enc.finish()]);
        let mut v = map_read(dev, &read, size, s)?;
        v.truncate(len as usize);
        Ok(v)
    }
}
