//! Which decoder runs a job: the one place that knows that `auto` uses a GPU only when a hardware
//! adapter exists and the job is large enough to gain from it, and how adapters are probed.

#![forbid(unsafe_code)]

use crate::archive::Archive;
use crate::constants::GPU_AUTO_MIN_BYTES;
use crate::decompress::{decompress_archive_to, DecompressOptions};
use crate::delta::Base;
use crate::error::Result;
use crate::reader::{RangeStats, Reader};
use crate::source::ByteSource;
use std::io::Write;
#[cfg(feature = "gpu")]
use std::sync::{Mutex, OnceLock};

/// The device a caller asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Device {
    /// The multithreaded CPU decoder.
    Cpu,
    /// The GPU decoder; an error when no adapter exists (a software adapter such as lavapipe counts).
    Gpu,
    /// The GPU when a hardware adapter exists and the job is large enough, else the CPU.
    Auto,
}

/// Which decoder ran a job (for `-v`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Ran {
    Cpu {
        threads: usize,
    },
    /// The adapter's description.
    Gpu(String),
}

impl std::fmt::Display for Ran {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Ran::Cpu { threads } => write!(f, "cpu ({threads} threads)"),
            Ran::Gpu(d) => write!(f, "gpu: {d}"),
        }
    }
}

impl Ran {
    /// A GPU run's description with the chunks each kernel path decoded.
    #[cfg(feature = "gpu")]
    fn with_paths(self, p: crate::gpu::PathCounts) -> Ran {
        match self {
            Ran::Gpu(d) => Ran::Gpu(format!(
                "{d}; {} chunks fused, {} two-pass",
                p.fused, p.two_pass
            )),
            cpu => cpu,
        }
    }
}

/// A decoder for any number of jobs (files of a folder, ranges): the GPU, when used, is opened
/// once and serves one job at a time.
pub struct Decoder {
    device: Device,
    #[cfg(feature = "gpu")]
    gpu: OnceLock<Option<Mutex<crate::gpu::GpuDecoder>>>,
}

impl Decoder {
    /// A decoder for `device`. `Device::Gpu` opens the GPU now (an error names what is missing);
    /// `Device::Auto` probes only when a job is large enough to use one.
    pub fn new(device: Device) -> Result<Decoder> {
        let d = Decoder {
            device,
            #[cfg(feature = "gpu")]
            gpu: OnceLock::new(),
        };
        if device == Device::Gpu {
            d.open_gpu()?;
        }
        Ok(d)
    }

    /// The CPU decoder.
    pub fn cpu() -> Decoder {
        Decoder {
            device: Device::Cpu,
            #[cfg(feature = "gpu")]
            gpu: OnceLock::new(),
        }
    }

    pub fn device(&self) -> Device {
        self.device
    }

    #[cfg(feature = "gpu")]
    fn open_gpu(&self) -> Result<()> {
        if self.gpu.get().is_none() {
            let g = crate::gpu::GpuDecoder::new()?;
            let _ = self.gpu.set(Some(Mutex::new(g)));
        }
        Ok(())
    }

    #[cfg(not(feature = "gpu"))]
    fn open_gpu(&self) -> Result<()> {
        Err(crate::Error::NoAdapter(
            "(this build of znn-gpu has no GPU support: it was built without the `gpu` feature)"
                .into(),
        ))
    }

    /// True when a job of `original_len` bytes would run on the GPU (deltas included: whole files
    /// and ranges upload the base's covering bytes with the payloads).
    pub fn uses_gpu(&self, original_len: u64) -> bool {
        match self.device {
            Device::Cpu => false,
            Device::Gpu => true,
            Device::Auto => original_len >= GPU_AUTO_MIN_BYTES && self.auto_gpu(),
        }
    }

    /// `auto`'s probe, run once: a hardware adapter, opened.
    #[cfg(feature = "gpu")]
    fn auto_gpu(&self) -> bool {
        self.gpu
            .get_or_init(|| {
                crate::gpu::hardware_adapter()
                    .then(|| crate::gpu::GpuDecoder::new().ok().map(Mutex::new))
                    .flatten()
            })
            .is_some()
    }

    #[cfg(not(feature = "gpu"))]
    fn auto_gpu(&self) -> bool {
        false
    }

    /// What a job of `original_len` bytes would run on.
    pub fn describe(&self, original_len: u64) -> Ran {
        #[cfg(feature = "gpu")]
        if self.uses_gpu(original_len) {
            if let Some(Some(g)) = self.gpu.get() {
                return Ran::Gpu(g.lock().unwrap_or_else(|p| p.into_inner()).describe());
            }
        }
        let _ = original_len;
        Ran::Cpu {
            threads: rayon::current_num_threads(),
        }
    }

    /// Runs `f` on the (opened) GPU decoder; returns its result and the chunks each kernel path
    /// took.
    #[cfg(feature = "gpu")]
    fn counted<T>(
        &self,
        f: impl FnOnce(&mut crate::gpu::GpuDecoder) -> Result<T>,
    ) -> Result<(T, crate::gpu::PathCounts)> {
        let g = self.gpu.get().and_then(Option::as_ref).expect("opened");
        let g = &mut *g.lock().unwrap_or_else(|p| p.into_inner());
        g.take_path_counts();
        let t = f(g)?;
        Ok((t, g.take_path_counts()))
    }

    /// Decompresses the `.znn` in `src` (whose metadata is `a`) to `w`, every chunk verified.
    pub fn decompress<W: Write + Send>(
        &self,
        a: &Archive,
        src: &dyn ByteSource,
        w: W,
        base: Option<&Base>,
        progress: &mut dyn FnMut(u64),
    ) -> Result<Ran> {
        let ran = self.describe(a.original_len());
        #[cfg(feature = "gpu")]
        if let Ran::Gpu(_) = ran {
            let (_, paths) = self.counted(|g| g.decompress_to_writer_with_base(a, src, base, w))?;
            progress(a.original_len());
            return Ok(ran.with_paths(paths));
        }
        decompress_archive_to(a, src, w, &DecompressOptions { base }, progress)?;
        Ok(ran)
    }

    /// Decodes everything and checks every checksum, writing nothing. On the GPU only each
    /// window's verdict is read back; on the CPU the decoded bytes go to a sink.
    pub fn verify(
        &self,
        a: &Archive,
        src: &dyn ByteSource,
        base: Option<&Base>,
        progress: &mut dyn FnMut(u64),
    ) -> Result<Ran> {
        let ran = self.describe(a.original_len());
        #[cfg(feature = "gpu")]
        if let Ran::Gpu(_) = ran {
            let (_, paths) = self.counted(|g| g.verify(a, src, base))?;
            progress(a.original_len());
            return Ok(ran.with_paths(paths));
        }
        decompress_archive_to(
            a,
            src,
            std::io::sink(),
            &DecompressOptions { base },
            progress,
        )?;
        Ok(ran)
    }

    /// Writes bytes `start .. end` of the original to `w`, decoding only the chunks they cover.
    pub fn extract<W: Write>(
        &self,
        r: &Reader,
        start: u64,
        end: u64,
        w: W,
    ) -> Result<(RangeStats, Ran)> {
        let ran = self.describe(end.saturating_sub(start));
        #[cfg(feature = "gpu")]
        if let Ran::Gpu(_) = ran {
            let a = r.archive();
            let (stats, paths) =
                self.counted(|g| g.extract_range_to(&**r.source(), a, start, end, r.base(), w))?;
            return Ok((stats, ran.with_paths(paths)));
        }
        Ok((r.write_range(start, end, w)?, ran))
    }
}
