//! `--device cpu|gpu|auto`: which decoder runs.

use crate::error::{Error, Result};
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
        DeviceArg::Gpu => quiet_wsi(GpuDecoder::new).map(Some).map_err(|e| match e {
            Error::Gpu(m) if m.starts_with("no GPU adapter") => {
                Error::Gpu(format!("{m}; or decode on the CPU with --device cpu"))
            }
            e => e,
        }),
        DeviceArg::Auto if quiet_wsi(hardware_adapter) => quiet_wsi(GpuDecoder::new).map(Some),
        DeviceArg::Auto => Ok(None),
    }
}

/// Runs `f` (Vulkan instance and device creation) with stderr sent to /dev/null when
/// `XDG_RUNTIME_DIR` is unset: Mesa's window-system layer then prints "error: XDG_RUNTIME_DIR is
/// invalid or not set" at instance creation although no window is ever used, which reads like a
/// failure of a run that succeeded. wgpu reports real failures as `Result`s, which are kept.
/// Called before any other thread of the CLI writes to stderr.
fn quiet_wsi<T>(f: impl FnOnce() -> T) -> T {
    #[cfg(unix)]
    if std::env::var_os("XDG_RUNTIME_DIR").is_none() {
        // SAFETY: plain fd juggling on fd 2 and two fds owned here; every fd opened is closed.
        unsafe {
            let saved = libc::dup(2);
            let null = libc::open(c"/dev/null".as_ptr(), libc::O_WRONLY);
            if saved >= 0 && null >= 0 {
                libc::dup2(null, 2);
                libc::close(null);
                let r = f();
                libc::dup2(saved, 2);
                libc::close(saved);
                return r;
            }
            for fd in [saved, null] {
                if fd >= 0 {
                    libc::close(fd);
                }
            }
        }
    }
    f()
}

/// True when the decoder runs on a software (CPU) adapter: its speed is not a GPU figure.
pub fn is_software(g: &GpuDecoder) -> bool {
    g.adapter_info()
        .is_some_and(|i| i.device_type == wgpu::DeviceType::Cpu)
}
