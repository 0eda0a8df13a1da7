//! `--device cpu|gpu|auto`: which decoder runs.

use crate::error::Result;
use crate::gpu::GpuDecoder;

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum DeviceArg {
    /// The multithreaded CPU decoder.
    Cpu,
    /// The GPU decoder; an error when no adapter exists (a software adapter such as lavapipe counts).
    Gpu,
    /// The GPU when a real (hardware) adapter exists, else the CPU.
    Auto,
}

/// True when the backends `GpuDecoder::new` uses offer an adapter that is not a CPU (software)
/// device. Only asks for the adapter: no device, no pipelines.
fn hardware_adapter() -> bool {
    let mut desc = wgpu::InstanceDescriptor::new_without_display_handle();
    desc.backends = crate::gpu::backends();
    let instance = wgpu::Instance::new(desc);
    pollster::block_on(instance.request_adapter(&wgpu::RequestAdapterOptions {
        power_preference: wgpu::PowerPreference::HighPerformance,
        ..Default::default()
    }))
    .map(|a| a.get_info().device_type != wgpu::DeviceType::Cpu)
    .unwrap_or(false)
}

/// The GPU decoder to use, or `None` for the CPU.
pub fn choose(d: DeviceArg) -> Result<Option<GpuDecoder>> {
    match d {
        DeviceArg::Cpu => Ok(None),
        DeviceArg::Gpu => GpuDecoder::new().map(Some),
        DeviceArg::Auto if hardware_adapter() => GpuDecoder::new().map(Some),
        DeviceArg::Auto => Ok(None),
    }
}

/// True when the decoder runs on a software (CPU) adapter: its speed is not a GPU figure.
pub fn is_software(g: &GpuDecoder) -> bool {
    g.adapter_info()
        .is_some_and(|i| i.device_type == wgpu::DeviceType::Cpu)
}
