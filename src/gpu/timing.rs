//! Kernel timing for the bench: GPU timestamps around each window's compute pass when the device
//! has `TIMESTAMP_QUERY`, else wall time around submit and wait.

use super::readback::map_read;
use crate::error::Result;
use std::time::Duration;

/// Kernel timing of a run.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct KernelTime {
    pub total: Duration,
    pub timestamps: bool,
}

/// A query set of two timestamps and the buffers to read them.
pub(super) struct Timestamps {
    pub set: wgpu::QuerySet,
    pub resolve: wgpu::Buffer,
    pub read: wgpu::Buffer,
}

impl Timestamps {
    /// `None` when the device was created without `TIMESTAMP_QUERY`.
    pub fn new(device: &wgpu::Device) -> Option<Timestamps> {
        device
            .features()
            .contains(wgpu::Features::TIMESTAMP_QUERY)
            .then(|| Timestamps {
                set: device.create_query_set(&wgpu::QuerySetDescriptor {
                    label: Some("decode time"),
                    ty: wgpu::QueryType::Timestamp,
                    count: 2,
                }),
                resolve: device.create_buffer(&wgpu::BufferDescriptor {
                    label: Some("timestamps"),
                    size: 16,
                    usage: wgpu::BufferUsages::QUERY_RESOLVE | wgpu::BufferUsages::COPY_SRC,
                    mapped_at_creation: false,
                }),
                read: device.create_buffer(&wgpu::BufferDescriptor {
                    label: Some("timestamps read"),
                    size: 16,
                    usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
                    mapped_at_creation: false,
                }),
            })
    }

    /// The pass's time, once submission `s` (which resolved the queries) is done.
    pub fn elapsed(
        &self,
        device: &wgpu::Device,
        queue: &wgpu::Queue,
        s: wgpu::SubmissionIndex,
    ) -> Result<Duration> {
        let b = map_read(device, &self.read, 16, s)?;
        let v: [u64; 2] = [
            u64::from_le_bytes(b[..8].try_into().unwrap()),
            u64::from_le_bytes(b[8..16].try_into().unwrap()),
        ];
        let ns = v[1].saturating_sub(v[0]) as f64 * queue.get_timestamp_period() as f64;
        Ok(Duration::from_nanos(ns as u64))
    }
}

/// Host time of the GPU path, summed over windows since [`super::GpuDecoder::take_host_times`]
/// last reset it. None of it includes waiting for the device.
#[derive(Clone, Copy, Debug, Default)]
pub struct HostTimes {
    /// Reading the payload (and delta bases) into staging memory.
    pub fill: Duration,
    /// Window descriptors from the chunk map: table checks (no expansion), CPU zstd.
    pub build: Duration,
    /// Writing descriptors into the image, unmapping, encoding copies and kernels, submitting
    /// (the legacy path's `write_buffer` copies land here).
    pub submit: Duration,
    /// Waiting for windows to finish (device time as seen by the host, plus map callbacks).
    pub wait: Duration,
    /// Original bytes decoded.
    pub bytes: u64,
}

impl HostTimes {
    /// Host seconds per GB of original bytes, waits excluded.
    pub fn host_s_per_gb(&self) -> f64 {
        let host = (self.fill + self.build + self.submit).as_secs_f64();
        host / (self.bytes.max(1) as f64 / 1e9)
    }
}
