//! Adapter and device: backend choice, the adapter's real limits, and the limits a window derives
//! from them.

use super::plan::WindowLimits;
use crate::constants::GPU_WINDOW_BYTES;
use crate::error::{Error, Result};

use super::shader_consts::BINDING_CAP_BYTES as SHADER_BINDING_CAP;

/// The backends to try: `WGPU_BACKEND` when set (e.g. `vulkan`, `metal`, `dx12`, `gl`), else Vulkan
/// only, because wgpu's silent fallback to GL (llvmpipe through EGL) is slower and lacks features.
pub fn backends() -> wgpu::Backends {
    wgpu::Backends::from_env().unwrap_or(wgpu::Backends::VULKAN)
}

/// Opens the highest-performance adapter of [`backends`] and a device with the adapter's own
/// limits (not wgpu's conservative defaults) and, when offered, `TIMESTAMP_QUERY`.
pub fn open() -> Result<(wgpu::Device, wgpu::Queue, wgpu::AdapterInfo, wgpu::Features)> {
    let backends = backends();
    let mut desc = wgpu::InstanceDescriptor::new_without_display_handle();
    desc.backends = backends;
    let instance = wgpu::Instance::new(desc);
    let adapter = pollster::block_on(instance.request_adapter(&wgpu::RequestAdapterOptions {
        power_preference: wgpu::PowerPreference::HighPerformance,
        ..Default::default()
    }))
    .map_err(|e| {
        Error::NoAdapter(format!(
            "{backends:?} ({e}); on Linux without a GPU install mesa-vulkan-drivers (lavapipe), \
             or choose another backend with WGPU_BACKEND"
        ))
    })?;
    let features = adapter.features() & wgpu::Features::TIMESTAMP_QUERY;
    let (device, queue) = pollster::block_on(adapter.request_device(&wgpu::DeviceDescriptor {
        label: Some("znn-gpu"),
        required_features: features,
        required_limits: adapter.limits(),
        ..Default::default()
    }))
    .map_err(|e| Error::Gpu(format!("requesting a device: {e}")))?;
    Ok((device, queue, adapter.get_info(), adapter.features()))
}

/// Window limits for `device` and a wanted window size.
pub fn window_limits(device: &wgpu::Device, window_bytes: u64) -> WindowLimits {
    let l = device.limits();
    WindowLimits {
        max_binding: l
            .max_storage_buffer_binding_size
            .min(l.max_buffer_size)
            .min(SHADER_BINDING_CAP)
            & !3,
        offset_align: l.min_storage_buffer_offset_alignment.max(4) as u64,
        window_bytes: window_bytes.max(1),
    }
}

/// The default window size.
pub fn default_window_bytes() -> u64 {
    GPU_WINDOW_BYTES
}

/// True when the backends `open` uses offer an adapter that is not a CPU (software) device.
/// Only asks for the adapter: no device, no pipelines.
pub fn hardware_adapter() -> bool {
    let mut desc = wgpu::InstanceDescriptor::new_without_display_handle();
    desc.backends = backends();
    let instance = wgpu::Instance::new(desc);
    pollster::block_on(instance.request_adapter(&wgpu::RequestAdapterOptions {
        power_preference: wgpu::PowerPreference::HighPerformance,
        ..Default::default()
    }))
    .map(|a| a.get_info().device_type != wgpu::DeviceType::Cpu)
    .unwrap_or(false)
}
