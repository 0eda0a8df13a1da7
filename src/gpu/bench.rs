//! Timing hooks for the CLI's `bench` command: GPU decode figures of one `.znn` file.

use super::decoder::GpuDecoder;
use crate::archive::Archive;
use crate::error::{Error, Result};
use std::path::Path;
use std::time::Instant;

/// How the kernel time was measured.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KernelTimer {
    /// GPU timestamp queries around each window's compute pass (`TIMESTAMP_QUERY`).
    Timestamps,
    /// Wall time around submit and wait of each window's kernels, uploads already done.
    Wall,
}

/// GPU decode figures of one file. Times are seconds; speeds are the caller's to derive (original
/// bytes / time).
#[derive(Clone, Debug)]
pub struct GpuBenchFigures {
    /// [`GpuDecoder::describe`] of the device.
    pub adapter: String,
    pub original_bytes: u64,
    pub compressed_bytes: u64,
    /// Windows the file was decoded in.
    pub windows: usize,
    /// Decode kernels only (Huffman + merge), data already in device memory, summed over windows.
    pub kernel_s: f64,
    pub kernel_timer: KernelTimer,
    /// `.znn` bytes in host memory to original bytes in device memory: index parse, CPU zstd,
    /// descriptors, upload, kernels, error checks (no checksum verification: the bytes stay on the
    /// device).
    pub end_to_end_s: f64,
    /// Plain upload of the original (uncompressed) bytes into a device buffer, for comparison.
    pub upload_s: f64,
}

/// Measures the `.znn` file at `path`: as [`measure`], except that the end-to-end figure starts
/// from the file on disk (open, read window by window through
/// [`GpuDecoder::decode_file_to_buffer`]; the page cache is warm after the first run).
pub fn measure_file(decoder: &mut GpuDecoder, path: &Path, runs: usize) -> Result<GpuBenchFigures> {
    let io = |e| Error::io(path.display().to_string(), e);
    let znn = std::fs::read(path).map_err(io)?;
    let mut f = measure(decoder, &znn, runs)?;
    let mut e2e = f64::MAX;
    for _ in 0..runs.max(1) {
        let t = Instant::now();
        let file = crate::source::FileSource::open(path)?;
        let out = decoder.decode_file_to_buffer(&file)?;
        e2e = e2e.min(t.elapsed().as_secs_f64());
        drop(out);
    }
    f.end_to_end_s = e2e;
    Ok(f)
}

/// Measures `znn` (a whole `.znn` file in memory) on `decoder`. Each figure is the best of `runs`
/// (at least 1) repetitions. The file is first decoded once on the GPU with checksums verified, so
/// the figures are never of a wrong decode.
pub fn measure(decoder: &mut GpuDecoder, znn: &[u8], runs: usize) -> Result<GpuBenchFigures> {
    let runs = runs.max(1);
    let original = decoder.decompress_bytes(znn)?;
    let a = Archive::from_bytes(znn)?;
    let data = &znn[Archive::DATA_START as usize..];
    let windows = super::plan::plan_windows(&a.index, &decoder.window_limits())?.len();
    let (mut kernel, mut e2e, mut upload) = (f64::MAX, f64::MAX, f64::MAX);
    let mut timer = KernelTimer::Wall;
    for _ in 0..runs {
        let k = decoder.kernel_time(&a, data, false)?;
        kernel = kernel.min(k.total.as_secs_f64());
        if k.timestamps {
            timer = KernelTimer::Timestamps;
        }
        let t = Instant::now();
        let a2 = Archive::from_bytes(znn)?;
        let out = decoder.decode_to_buffer(&a2, data)?;
        e2e = e2e.min(t.elapsed().as_secs_f64());
        drop(out);
        upload = upload.min(plain_upload(decoder, &original)?);
    }
    Ok(GpuBenchFigures {
        adapter: decoder.describe(),
        original_bytes: original.len() as u64,
        compressed_bytes: znn.len() as u64,
        windows,
        kernel_s: kernel,
        kernel_timer: timer,
        end_to_end_s: e2e,
        upload_s: upload,
    })
}

/// Seconds to copy `bytes` from host memory into a new device buffer and wait for it.
pub(super) fn plain_upload(decoder: &GpuDecoder, bytes: &[u8]) -> Result<f64> {
    let (device, queue) = (decoder.device(), decoder.queue());
    let size = (bytes.len() as u64).max(4).div_ceil(4) * 4;
    if size > device.limits().max_buffer_size {
        return Err(Error::Gpu("original larger than max_buffer_size".into()));
    }
    let t = Instant::now();
    let buf = device.create_buffer(&wgpu::BufferDescriptor {
        label: Some("plain upload"),
        size,
        usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_DST,
        mapped_at_creation: false,
    });
    let whole = bytes.len() & !3;
    // Pieces of 64 MiB bound the staging memory wgpu allocates per write.
    for start in (0..whole).step_by(64 << 20) {
        let end = (start + (64 << 20)).min(whole);
        queue.write_buffer(&buf, start as u64, &bytes[start..end]);
    }
    if whole < bytes.len() {
        let mut tail = [0u8; 4];
        tail[..bytes.len() - whole].copy_from_slice(&bytes[whole..]);
        queue.write_buffer(&buf, whole as u64, &tail);
    }
    let s = queue.submit(std::iter::empty());
    device
        .poll(wgpu::PollType::Wait {
            submission_index: Some(s),
            timeout: None,
        })
        .map_err(|e| Error::Gpu(format!("waiting for the device: {e}")))?;
    Ok(t.elapsed().as_secs_f64())
}
