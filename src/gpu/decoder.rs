//! The public GPU decoder: windows of chunks are uploaded, Huffman- and pair-decoded and merged
//! on the device, two windows in flight; see the module docs of [`crate::gpu`].

use super::device::{default_window_bytes, open, window_limits};
use super::dispatch::{gpu_checksum_error, kernel_error, params};
use super::fused::PathCounts;
use super::output::tensor_table;
use super::pipelines::Pipelines;
use super::plan::{build_window, plan_windows, WindowLimits};
use super::readback::{map_read, map_view, wait};
use super::ring::BufferSet;
use super::shader_consts::ERR_CHECKSUM;
use super::timing::{HostTimes, KernelTime, Timestamps};
use super::upload::{mapped_bytes, stage_bound, write_image, StageLayout, FILL_PIECE};
use crate::archive::Archive;
use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::format::Index;
use crate::source::ByteSource;
use rayon::prelude::*;
use std::io::Write;
use std::ops::Range;
use std::time::Instant;
use xxhash_rust::xxh3::xxh3_64;

/// One tensor of a decoded safetensors file: where its bytes lie in [`GpuOutput::buffer`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TensorEntry {
    pub name: String,
    /// The safetensors dtype name (`BF16`, `F32`, ...).
    pub dtype: String,
    pub shape: Vec<u64>,
    /// Byte offset in the decoded output (safetensors header included).
    pub offset: u64,
    pub len: u64,
}

/// A file decoded into device memory.
#[derive(Debug)]
pub struct GpuOutput {
    /// The original bytes at offset 0, `STORAGE | COPY_SRC | COPY_DST`; its size is `len` rounded up
    /// to a multiple of 4 (at least 4), the padding bytes being zero.
    pub buffer: wgpu::Buffer,
    /// Original length in bytes.
    pub len: u64,
    /// The tensors when the original is a safetensors file, else empty.
    pub tensors: Vec<TensorEntry>,
}

/// Where decoded windows go.
pub(crate) enum Sink<'a> {
    /// Into a device buffer whose byte 0 is original byte `.1` (a multiple of the adapter's
    /// `min_storage_buffer_offset_alignment`, so that every window's binding offset is aligned).
    Device(&'a wgpu::Buffer, u64),
    /// Read back and handed over in order.
    Host(&'a mut dyn FnMut(&[u8]) -> Result<()>),
    /// Decoded into the window's own buffer and dropped there (verification: only the verdict
    /// comes back).
    Discard,
}

/// A submitted window, finished (waited on, checked, read back) later.
pub(super) struct Pending {
    set: usize,
    submission: wgpu::SubmissionIndex,
    pub chunks: Range<usize>,
    pub sub_chunk: Vec<u32>,
    /// Window bytes in the read-back copy, when read back.
    readback: Option<Range<usize>>,
    /// Bytes to map of the read-back copy.
    read_len: u64,
}

/// Decodes `.znn` files on a GPU. Device, pipelines, bind group layout and two sets of window
/// buffers are created once and reused by every call.
pub struct GpuDecoder {
    device: wgpu::Device,
    queue: wgpu::Queue,
    info: Option<wgpu::AdapterInfo>,
    pipes: Pipelines,
    sets: [BufferSet; 2],
    window_bytes: u64,
    /// Workgroups per dispatch dimension: the device's limit, or less for tests.
    max_dim: u32,
    codecs: super::plan::HostCodecs,
    timestamps: Option<Timestamps>,
    /// The legacy upload path's staging image (see `upload.rs`).
    payload: Vec<u8>,
    /// Upload through `queue.write_buffer` and zero-filled outputs, as before the persistent
    /// staging buffers (for side-by-side figures).
    legacy_upload: bool,
    host: HostTimes,
    /// Chunks that may take the fused kernel (`fused.rs`); off: every chunk takes decode + merge.
    fuse: bool,
    paths: PathCounts,
    /// What the adapter offers (the device's own features when it came from a caller).
    adapter_features: wgpu::Features,
}

impl GpuDecoder {
    /// Opens its own device: Vulkan unless `WGPU_BACKEND` says otherwise; `Error::Gpu` naming the
    /// backends when no adapter exists.
    pub fn new() -> Result<GpuDecoder> {
        let (device, queue, info, features) = open()?;
        let mut d = Self::from_device(device, queue)?;
        d.info = Some(info);
        d.adapter_features = features;
        Ok(d)
    }

    /// Uses a caller's device. Its limits are the device's own (`device.limits()`); timestamps are
    /// used when the device was created with `TIMESTAMP_QUERY`.
    pub fn from_device(device: wgpu::Device, queue: wgpu::Queue) -> Result<GpuDecoder> {
        let pipes = Pipelines::new(&device)?;
        let sets = [BufferSet::new(&device), BufferSet::new(&device)];
        let timestamps = Timestamps::new(&device);
        let max_dim = device.limits().max_compute_workgroups_per_dimension;
        let device_features = device.features();
        Ok(GpuDecoder {
            device,
            queue,
            info: None,
            pipes,
            sets,
            window_bytes: default_window_bytes(),
            max_dim,
            codecs: Default::default(),
            timestamps,
            payload: Vec::new(),
            legacy_upload: false,
            host: HostTimes::default(),
            fuse: true,
            paths: PathCounts::default(),
            adapter_features: device_features,
        })
    }

    /// The adapter, when this decoder opened it ([`GpuDecoder::new`]).
    pub fn adapter_info(&self) -> Option<&wgpu::AdapterInfo> {
        self.info.as_ref()
    }

    /// The adapter's features (the device's, for a caller's device).
    pub fn adapter_features(&self) -> wgpu::Features {
        self.adapter_features
    }

    /// One line for `-v`: adapter name, backend and type.
    pub fn describe(&self) -> String {
        match &self.info {
            Some(i) => format!(
                "{} ({:?}, {:?}, driver {} {})",
                i.name, i.backend, i.device_type, i.driver, i.driver_info
            ),
            None => "caller-provided wgpu device".to_string(),
        }
    }

    /// True when the adapter is a software (CPU) device, such as lavapipe: its speed is not a GPU
    /// figure.
    pub fn is_software(&self) -> bool {
        self.info
            .as_ref()
            .is_some_and(|i| i.device_type == wgpu::DeviceType::Cpu)
    }

    pub fn device(&self) -> &wgpu::Device {
        &self.device
    }

    pub fn queue(&self) -> &wgpu::Queue {
        &self.queue
    }

    /// Caps the original bytes per window (at least one chunk is always taken); the adapter's
    /// binding limits cut windows further. Tests use a small value to exercise many windows.
    pub fn set_window_bytes(&mut self, bytes: u64) {
        self.window_bytes = bytes.max(1);
    }

    /// Caps the workgroups per dispatch dimension below the device's limit (at least 1), so that
    /// tests reach the 2D dispatch path that large windows take on real devices.
    #[doc(hidden)]
    pub fn set_dispatch_dim(&mut self, n: u32) {
        self.max_dim = n.clamp(1, self.device.limits().max_compute_workgroups_per_dimension);
    }

    /// Uploads through `queue.write_buffer` with wgpu-zeroed outputs (the path before persistent
    /// staging buffers), so that `bench` can set both side by side in one run.
    #[doc(hidden)]
    pub fn set_legacy_upload(&mut self, on: bool) {
        self.legacy_upload = on;
    }

    /// Lets chunks take the fused decode kernel (the default) or sends every chunk through the
    /// decode and merge passes, so that tests and `bench` can compare the two.
    #[doc(hidden)]
    pub fn set_fused(&mut self, on: bool) {
        self.fuse = on;
    }

    /// How many chunks took each path since the last call (or since the decoder was made), and a
    /// reset.
    pub fn take_path_counts(&mut self) -> PathCounts {
        std::mem::take(&mut self.paths)
    }

    /// The host time spent since the last call (or since the decoder was made), and a reset.
    pub fn take_host_times(&mut self) -> HostTimes {
        std::mem::take(&mut self.host)
    }

    /// The limits windows are planned with.
    pub fn window_limits(&self) -> WindowLimits {
        window_limits(&self.device, self.window_bytes)
    }

    /// Decodes a whole archive into a new device buffer. `data` is the data region (the file's
    /// bytes from [`Archive::DATA_START`], at least `archive.data_len()` long). Every chunk's
    /// xxh3-64 is verified on the device (`shaders/checksum.wgsl`) before this returns, and
    /// structural errors found by the kernels (a sub-stream running past its end, a wrong length)
    /// are reported; only the verdict is read back. An output larger than the adapter's
    /// `max_buffer_size` is an `Error::Gpu` (stream it instead).
    pub fn decode_to_buffer(&mut self, archive: &Archive, data: &[u8]) -> Result<GpuOutput> {
        self.decode_new_buffer(Engine::over_data(&archive.index, &data)?)
    }

    /// [`GpuDecoder::decode_to_buffer`] from a whole `.znn` in `src` (a file, say): reads the
    /// metadata, then each window's payload (memory on the host: one window's payload).
    pub fn decode_file_to_buffer(&mut self, src: &dyn ByteSource) -> Result<(Archive, GpuOutput)> {
        let a = Archive::read(src)?;
        let out =
            self.decode_new_buffer(Engine::over_data_at(&a.index, src, Archive::DATA_START)?)?;
        Ok((a, out))
    }

    pub(super) fn decode_engine_to_buffer(&mut self, data: Engine) -> Result<GpuOutput> {
        self.decode_new_buffer(data)
    }

    fn decode_new_buffer(&mut self, data: Engine) -> Result<GpuOutput> {
        let idx = data.index();
        let tensors = tensor_table(&data)?;
        let buffer = self.output_buffer(idx.original_len())?;
        self.run(idx, data, Sink::Device(&buffer, 0), true, None)?;
        Ok(GpuOutput {
            buffer,
            len: idx.original_len(),
            tensors,
        })
    }

    /// A device buffer for `len` original bytes (rounded up to 4). The kernels overwrite every
    /// byte they decode, so the buffer is made without wgpu's zero fill where the backend allows
    /// it (`output.rs`); the bytes no kernel writes (before the first window, the rounding) are
    /// cleared by the caller.
    pub(super) fn output_buffer(&self, len: u64) -> Result<wgpu::Buffer> {
        self.output_buffer_from(len, 0)
    }

    /// [`GpuDecoder::output_buffer`] whose first decoded byte is at `first` (bytes before it are
    /// zero).
    pub(super) fn output_buffer_from(&self, len: u64, first: u64) -> Result<wgpu::Buffer> {
        let size = len.max(4).div_ceil(4) * 4;
        let max = self.device.limits().max_buffer_size;
        if size > max {
            return Err(Error::Gpu(format!(
                "decoded output of {len} bytes exceeds the adapter's max_buffer_size of {max} \
                 bytes; decode it in windows with decompress_to_writer"
            )));
        }
        Ok(super::output::create(
            &self.device,
            &self.queue,
            size,
            &[0..first, len..size],
            self.legacy_upload,
        ))
    }

    /// Decompresses a whole `.znn` held in memory; every chunk's xxh3 is verified on the host.
    pub fn decompress_bytes(&mut self, src: &[u8]) -> Result<Vec<u8>> {
        let a = Archive::from_bytes(src)?;
        self.decode_index(&a.index, &src[Archive::DATA_START as usize..], true)
    }

    /// Decodes the chunks of `idx` from `data` (the data region) and reads the output back.
    /// `verify` checks every chunk's xxh3 on the host. This is the lower-level entry point: `idx`
    /// may be hand-made; a map that does not match the data gives an error, never a hang or panic.
    pub fn decode_index(&mut self, idx: &Index, data: &[u8], verify: bool) -> Result<Vec<u8>> {
        let mut out = Vec::new();
        out.try_reserve_exact(idx.original_len() as usize)
            .map_err(|_| Error::invalid("output too large for memory"))?;
        let mut push = |b: &[u8]| {
            out.extend_from_slice(b);
            Ok(())
        };
        self.run(
            idx,
            Engine::over_data(idx, &data)?,
            Sink::Host(&mut push),
            verify,
            None,
        )?;
        if out.len() as u64 != idx.original_len() {
            return Err(Error::corrupt("chunks do not cover the original length"));
        }
        Ok(out)
    }

    /// Decompresses the `.znn` in `src` (its metadata `a`) to `w` window by window (memory: two
    /// windows of buffers on each side), verifying every chunk's xxh3 on the host before its
    /// bytes are written.
    pub fn decompress_to_writer<W: Write>(
        &mut self,
        a: &Archive,
        src: &dyn ByteSource,
        mut w: W,
    ) -> Result<()> {
        let mut write = |b: &[u8]| w.write_all(b).map_err(|e| Error::io("writing output", e));
        self.run(
            &a.index,
            Engine::over_data_at(&a.index, src, Archive::DATA_START)?,
            Sink::Host(&mut write),
            true,
            None,
        )?;
        w.flush().map_err(|e| Error::io("writing output", e))
    }

    /// Decodes into a device buffer with each window's upload finished before its kernels start,
    /// and returns the kernels' time (GPU timestamps when available, else wall time around
    /// submit and wait).
    /// `verify` adds the checksum kernel.
    pub(crate) fn kernel_time(
        &mut self,
        archive: &Archive,
        data: &[u8],
        verify: bool,
    ) -> Result<KernelTime> {
        let buffer = self.output_buffer(archive.index.original_len())?;
        let mut t = KernelTime {
            timestamps: self.timestamps.is_some(),
            ..Default::default()
        };
        self.run(
            &archive.index,
            Engine::over_data(&archive.index, &data)?,
            Sink::Device(&buffer, 0),
            verify,
            Some(&mut t),
        )?;
        Ok(t)
    }

    fn run(
        &mut self,
        idx: &Index,
        data: Engine,
        sink: Sink,
        verify: bool,
        timing: Option<&mut KernelTime>,
    ) -> Result<()> {
        self.run_chunks(idx, 0..idx.chunks().len(), data, sink, verify, timing)
    }

    /// Decodes chunks `chunks` only, in the windows a full decode would use, cut to the range.
    pub(crate) fn run_chunks(
        &mut self,
        idx: &Index,
        chunks: Range<usize>,
        data: Engine,
        mut sink: Sink,
        verify: bool,
        mut timing: Option<&mut KernelTime>,
    ) -> Result<()> {
        if chunks.is_empty() {
            return Ok(());
        }
        let lim = self.window_limits();
        let windows: Vec<Range<usize>> = plan_windows(idx, &lim)?
            .into_iter()
            .map(|w| w.start.max(chunks.start)..w.end.min(chunks.end))
            .filter(|w| !w.is_empty())
            .collect();
        // Bytes that stay on the device are verified there; read-back bytes on the host.
        let gpu_verify = verify && !matches!(sink, Sink::Host(_));
        let mut pending: [Option<Pending>; 2] = [None, None];
        for (i, range) in windows.iter().enumerate() {
            let s = i % 2;
            if let Some(p) = pending[s].take() {
                self.finish(p, idx, &mut sink, verify)?;
            }
            let p = self.submit(
                idx,
                range.clone(),
                data,
                &sink,
                &lim,
                s,
                timing.as_deref_mut(),
                gpu_verify,
            )?;
            pending[s] = Some(p);
        }
        // The older window first.
        let n = windows.len();
        for s in [n % 2, (n + 1) % 2] {
            if let Some(p) = pending[s].take() {
                self.finish(p, idx, &mut sink, verify)?;
            }
        }
        Ok(())
    }

    /// Builds, uploads and submits one window on buffer set `s`.
    #[allow(clippy::too_many_arguments)]
    fn submit(
        &mut self,
        idx: &Index,
        range: Range<usize>,
        src: Engine,
        sink: &Sink,
        lim: &WindowLimits,
        s: usize,
        timing: Option<&mut KernelTime>,
        gpu_verify: bool,
    ) -> Result<Pending> {
        let mut image = std::mem::take(&mut self.payload);
        let r = self.submit_with(
            idx, range, src, &mut image, sink, lim, s, timing, gpu_verify,
        );
        self.payload = image;
        r
    }

    #[allow(clippy::too_many_arguments)]
    fn submit_with(
        &mut self,
        idx: &Index,
        range: Range<usize>,
        src: Engine,
        image: &mut Vec<u8>,
        sink: &Sink,
        lim: &WindowLimits,
        s: usize,
        timing: Option<&mut KernelTime>,
        gpu_verify: bool,
    ) -> Result<Pending> {
        let t0 = Instant::now();
        let span = idx.span(range.clone());
        let data_len = span.data_len();
        let bound = stage_bound(idx, range.clone());
        let out_base = match sink {
            Sink::Device(..) => span.orig.start / lim.offset_align * lim.offset_align,
            Sink::Host(_) | Sink::Discard => span.orig.start / 4 * 4,
        };
        let legacy = self.legacy_upload;
        let set = &mut self.sets[s];
        let mut view = None;
        // The payload: in place in the mapped staging buffer, several threads at once; or, on the
        // legacy path, borrowed from memory or read into `image` on this thread.
        let mut legacy_payload = Vec::new();
        let payload = if legacy {
            Some(src.payload(range.clone(), &mut legacy_payload)?)
        } else {
            None
        };
        let (img, origin): (&mut [u8], u64) = if let Some(payload) = payload {
            let origin = (data_len & !3) as u64;
            image.clear();
            image.resize((bound - origin) as usize, 0);
            image[..data_len - origin as usize]
                .copy_from_slice(&payload[origin as usize..data_len]);
            (&mut image[..], origin)
        } else {
            set.stage.ready(&self.device, bound)?;
            let v = view.insert(
                set.stage
                    .buf
                    .slice(..bound)
                    .get_mapped_range_mut()
                    .map_err(|e| Error::Gpu(format!("mapping a staging buffer: {e}")))?,
            );
            let img = mapped_bytes(v);
            src.read_payload_into(range.clone(), &mut img[..data_len], FILL_PIECE)?;
            (img, 0)
        };
        let t1 = Instant::now();
        let data = match payload {
            Some(p) => p,
            None => &img[..data_len],
        };
        let w = build_window(
            idx,
            range.clone(),
            data,
            out_base,
            &mut self.codecs,
            self.fuse,
        )?;
        self.paths.fused += w.fused_chunks;
        self.paths.two_pass += w.chunks.len() - w.fused_chunks;
        let t2 = Instant::now();
        let lay = StageLayout::of(&w);
        let out_bytes = (w.orig_end - out_base).div_ceil(4) * 4;
        let read_out = matches!(sink, Sink::Host(_));
        let params = params(&w, self.max_dim)?;
        write_image(img, origin, &w, &lay, &src, &params.words)?;
        let own_out = !matches!(sink, Sink::Device(..));
        set.ensure(
            &self.device,
            &w,
            if own_out { out_bytes } else { 0 },
            read_out,
            lim.max_binding,
        );
        let mut copies = self
            .device
            .create_command_encoder(&wgpu::CommandEncoderDescriptor {
                label: Some("znn window upload"),
            });
        if let Some(payload) = payload {
            set.write_regions(&self.queue, payload, img, origin, &lay);
        } else {
            drop(view);
            set.stage.unmap();
            set.encode_copies(&mut copies, &lay);
        }
        let scope = self.device.push_error_scope(wgpu::ErrorFilter::Validation);
        let (out_buf, out_off) = match sink {
            Sink::Device(b, base) => (*b, out_base - base),
            Sink::Host(_) | Sink::Discard => (&set.out.buf, 0),
        };
        let bg = self.device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some("znn window"),
            layout: &self.pipes.layout,
            entries: &[
                entry(0, bind(&set.params)),
                entry(1, bind(&set.comp.buf)),
                entry(3, bind(&set.jobs.buf)),
                entry(4, bind(&set.subs.buf)),
                entry(5, bind(&set.huff.buf)),
                entry(6, bind(&set.chunks.buf)),
                entry(
                    7,
                    wgpu::BindingResource::Buffer(wgpu::BufferBinding {
                        buffer: out_buf,
                        offset: out_off,
                        size: wgpu::BufferSize::new(out_bytes),
                    }),
                ),
                entry(8, bind(&set.errors)),
            ],
        });
        if timing.is_some() {
            // Kernel timing: the upload completes before the kernels are submitted.
            let upload = self.queue.submit([std::mem::replace(
                &mut copies,
                self.device
                    .create_command_encoder(&wgpu::CommandEncoderDescriptor { label: None }),
            )
            .finish()]);
            wait(&self.device, upload)?;
        }
        let mut enc = self
            .device
            .create_command_encoder(&wgpu::CommandEncoderDescriptor {
                label: Some("znn window"),
            });
        {
            let ts = match (&timing, &self.timestamps) {
                (Some(_), Some(t)) => Some(wgpu::ComputePassTimestampWrites {
                    query_set: &t.set,
                    beginning_of_pass_write_index: Some(0),
                    end_of_pass_write_index: Some(1),
                }),
                _ => None,
            };
            let mut pass = enc.begin_compute_pass(&wgpu::ComputePassDescriptor {
                label: Some("znn decode"),
                timestamp_writes: ts,
            });
            pass.set_bind_group(0, &bg, &[]);
            if params.huff_groups.0 > 0 {
                pass.set_pipeline(&self.pipes.huffman);
                pass.dispatch_workgroups(params.huff_groups.0, params.huff_groups.1, 1);
            }
            if params.pair_groups.0 > 0 {
                pass.set_pipeline(&self.pipes.pair);
                pass.dispatch_workgroups(params.pair_groups.0, params.pair_groups.1, 1);
            }
            if params.fused_groups.0 > 0 {
                pass.set_pipeline(&self.pipes.fused);
                pass.dispatch_workgroups(params.fused_groups.0, params.fused_groups.1, 1);
            }
            if params.rans_groups.0 > 0 {
                pass.set_pipeline(&self.pipes.rans);
                pass.dispatch_workgroups(params.rans_groups.0, params.rans_groups.1, 1);
            }
            // WebGPU orders dispatches of one pass, writes before reads: the merge sees the
            // decoded streams, the checksums the merged and the fused bytes. A window of fused
            // chunks only needs no merge.
            if w.fused_chunks < w.chunks.len() {
                pass.set_pipeline(&self.pipes.merge);
                pass.dispatch_workgroups(params.merge_groups.0, params.merge_groups.1, 1);
            }
            if gpu_verify {
                pass.set_pipeline(&self.pipes.checksum);
                pass.dispatch_workgroups(params.sum_groups.0, params.sum_groups.1, 1);
            }
        }
        enc.copy_buffer_to_buffer(&set.errors, 0, &set.err_read, 0, 16);
        if read_out {
            enc.copy_buffer_to_buffer(&set.out.buf, 0, &set.out_read.buf, 0, out_bytes);
        }
        if let (Some(_), Some(t)) = (&timing, &self.timestamps) {
            enc.resolve_query_set(&t.set, 0..2, &t.resolve, 0);
            enc.copy_buffer_to_buffer(&t.resolve, 0, &t.read, 0, 16);
        }
        let start = Instant::now();
        let submission = self.queue.submit([copies.finish(), enc.finish()]);
        if !legacy {
            set.stage.remap();
        }
        if let Some(e) = pollster::block_on(scope.pop()) {
            return Err(Error::Gpu(format!("submitting a window: {e}")));
        }
        let t4 = Instant::now();
        self.host.fill += t1 - t0;
        self.host.build += t2 - t1;
        self.host.submit += t4 - t2;
        self.host.bytes += span.orig_len() as u64;
        if let Some(t) = timing {
            wait(&self.device, submission.clone())?;
            let wall = start.elapsed();
            t.total += match &self.timestamps {
                Some(ts) => ts.elapsed(&self.device, &self.queue, submission.clone())?,
                None => wall,
            };
        }
        let win = (w.orig_start - out_base) as usize..(w.orig_end - out_base) as usize;
        Ok(Pending {
            set: s,
            submission,
            chunks: range,
            sub_chunk: w.sub_chunk,
            readback: read_out.then_some(win),
            read_len: out_bytes,
        })
    }

    /// Waits for a window, checks its error flags (and so, when the kernels verified them, its
    /// checksums), and hands its bytes to the sink (host sinks, verified on the host when
    /// `verify`).
    fn finish(&mut self, p: Pending, idx: &Index, sink: &mut Sink, verify: bool) -> Result<()> {
        let t = Instant::now();
        let set = &self.sets[p.set];
        let errs = map_read(&self.device, &set.err_read, 16, p.submission.clone())?;
        self.host.wait += t.elapsed();
        let word = |i: usize| u32::from_le_bytes(errs[4 * i..4 * i + 4].try_into().unwrap());
        let (flags, at, bad_chunk) = (word(0), word(1), word(2));
        if flags & !ERR_CHECKSUM != 0 {
            return Err(kernel_error(flags, at, &p));
        }
        if flags != 0 {
            let ci = p.chunks.start + bad_chunk as usize;
            return Err(gpu_checksum_error(idx, ci.min(p.chunks.end - 1)));
        }
        let (Some(win), Sink::Host(f)) = (p.readback, sink) else {
            return Ok(());
        };
        let slice = set.out_read.buf.slice(..p.read_len);
        let view = map_view(&self.device, &slice, p.submission)?;
        let bytes = &view[win];
        let base = idx.chunks()[p.chunks.start].orig_offset;
        let r = if verify {
            p.chunks.clone().into_par_iter().try_for_each(|ci| {
                let c = &idx.chunks()[ci];
                let o = (c.orig_offset - base) as usize;
                if xxh3_64(&bytes[o..o + c.orig_len as usize]) != c.checksum {
                    return Err(gpu_checksum_error(idx, ci));
                }
                Ok(())
            })
        } else {
            Ok(())
        };
        let r = r.and_then(|_| f(bytes));
        drop(view);
        set.out_read.buf.unmap();
        r
    }
}

fn bind(b: &wgpu::Buffer) -> wgpu::BindingResource<'_> {
    b.as_entire_binding()
}

fn entry(binding: u32, resource: wgpu::BindingResource<'_>) -> wgpu::BindGroupEntry<'_> {
    wgpu::BindGroupEntry { binding, resource }
}
