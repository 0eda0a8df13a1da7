//! `znn-gpu bench FILE --gpu`: the device report. Identity (adapter, backend, driver, software or
//! not), limits, features and memory types; kernel-only GB/s from GPU timestamps (median of
//! `runs` after a warm-up); end to end (a) `.znn` in memory and (b) a `.znn` file in the page
//! cache to a device buffer, with the host/wait breakdown, for the staged upload path and the
//! legacy `write_buffer` path side by side; (c) the same original bytes uploaded uncompressed
//! through the same staged mechanism, and through `write_buffer`; and CPU decode plus upload.
//! Every figure is GB/s of original bytes; the decode is first checked against the CPU's.

use super::decoder::GpuDecoder;
use super::ring::Staging;
use super::upload::{mapped_bytes, FILL_PIECE};
use crate::archive::Archive;
use crate::error::{Error, Result};
use crate::source::FileSource;
use rayon::prelude::*;
use serde_json::{Map, Value};
use std::path::Path;
use std::time::Instant;

/// Median of `f` over `runs` (at least 1) runs after one warm-up run.
fn median(runs: usize, mut f: impl FnMut() -> Result<f64>) -> Result<f64> {
    f()?;
    let mut v = Vec::new();
    for _ in 0..runs.max(1) {
        v.push(f()?);
    }
    v.sort_by(f64::total_cmp);
    Ok(v[v.len() / 2])
}

/// The run with the median host time per GB, the first (warm-up) run left out.
fn median_host(mut v: Vec<super::HostTimes>) -> super::HostTimes {
    if v.len() > 1 {
        v.remove(0);
    }
    v.sort_by(|a, b| a.host_s_per_gb().total_cmp(&b.host_s_per_gb()));
    v.get(v.len() / 2).copied().unwrap_or_default()
}

/// Runs the report on `znn_path` (a `.znn` file) whose original is `original`; returns the text
/// and the same figures as JSON.
pub fn report(
    d: &mut GpuDecoder,
    znn_path: &Path,
    original: &[u8],
    runs: usize,
) -> Result<(String, Value)> {
    let mut o = String::new();
    let mut j = Map::new();
    let line = |o: &mut String, s: String| {
        o.push_str(&s);
        o.push('\n');
    };
    let znn = std::fs::read(znn_path).map_err(|e| Error::io(znn_path.display().to_string(), e))?;
    let a = Archive::from_bytes(&znn)?;
    let data = &znn[Archive::DATA_START as usize..];
    let len = original.len() as f64;
    let gbs = |s: f64| len / s / 1e9;

    line(&mut o, format!("adapter: {}", d.describe()));
    j.insert("adapter".into(), d.describe().into());
    j.insert("software_adapter".into(), d.is_software().into());
    if d.is_software() {
        line(
            &mut o,
            "  software adapter: correctness only, its timings are not a GPU speed".into(),
        );
    }
    let l = d.device().limits();
    let limits = format!(
        "max_buffer_size {} B, max_storage_buffer_binding_size {} B, workgroup storage {} B, \
         {} invocations/workgroup, {} workgroups/dimension",
        l.max_buffer_size,
        l.max_storage_buffer_binding_size,
        l.max_compute_workgroup_storage_size,
        l.max_compute_invocations_per_workgroup,
        l.max_compute_workgroups_per_dimension
    );
    line(&mut o, format!("  limits: {limits}"));
    j.insert("limits".into(), limits.into());
    let f = d.device().features();
    let feats = format!(
        "timestamps {}, subgroups {}, shader-int64 {}, mappable-primary-buffers {}",
        f.contains(wgpu::Features::TIMESTAMP_QUERY),
        d.adapter_features().contains(wgpu::Features::SUBGROUP),
        d.adapter_features().contains(wgpu::Features::SHADER_INT64),
        d.adapter_features()
            .contains(wgpu::Features::MAPPABLE_PRIMARY_BUFFERS),
    );
    line(&mut o, format!("  features: {feats}"));
    j.insert("features".into(), feats.into());
    for m in memory_types(d.device()) {
        line(&mut o, format!("  memory: {m}"));
    }
    j.insert("memory_types".into(), memory_types(d.device()).into());
    let lim = d.window_limits();
    let windows = super::plan::plan_windows(&a.index, &lim)?.len();
    line(
        &mut o,
        format!(
            "input: {} original bytes, {} compressed ({:.2}%), {} chunks, {windows} windows",
            original.len(),
            znn.len(),
            100.0 * znn.len() as f64 / len.max(1.0),
            a.index.chunks().len()
        ),
    );
    j.insert("original_len".into(), original.len().into());
    j.insert("compressed_len".into(), znn.len().into());
    j.insert("windows".into(), windows.into());

    // Correctness first: the read-back decode (host-verified) equals the original, and the
    // device decode verifies every chunk on the device.
    if d.decompress_bytes(&znn)? != original {
        return Err(Error::corrupt("GPU output differs from the original"));
    }
    d.take_path_counts();
    d.decode_to_buffer(&a, data)?;
    let paths = d.take_path_counts();
    line(
        &mut o,
        "check: GPU output == original; every chunk's xxh3 verified on the device".into(),
    );
    line(
        &mut o,
        format!(
            "paths: {} chunks fused (fused_decode.wgsl), {} two-pass (decode + merge)",
            paths.fused, paths.two_pass
        ),
    );
    j.insert("fused_chunks".into(), paths.fused.into());
    j.insert("two_pass_chunks".into(), paths.two_pass.into());
    let (symbols, lookups) = super::fused::chain_lookups(&a.index, data, original)?;
    if symbols > 0 {
        let per4 = 4.0 * lookups as f64 / symbols as f64;
        line(
            &mut o,
            format!(
                "fused Huffman chains: {per4:.2} dependent table lookups per 4 symbols \
                 (two-symbol entries; one lookup per symbol would be 4.00), {symbols} symbols"
            ),
        );
        j.insert("fused_lookups_per_4_symbols".into(), per4.into());
    }

    let mut timer = "wall";
    let kernel = median(runs, || {
        let t = d.kernel_time(&a, data, false)?;
        if t.timestamps {
            timer = "timestamps";
        }
        Ok(t.total.as_secs_f64())
    })?;
    let kernel_sum = median(runs, || {
        Ok(d.kernel_time(&a, data, true)?.total.as_secs_f64())
    })?;
    line(
        &mut o,
        format!(
            "kernel-only ({timer}, median of {runs}): decode {:.2} GB/s, decode + checksums {:.2} GB/s",
            gbs(kernel),
            gbs(kernel_sum)
        ),
    );
    j.insert("kernel_timer".into(), timer.into());
    j.insert("kernel_decode_gbs".into(), gbs(kernel).into());
    j.insert("kernel_decode_checksum_gbs".into(), gbs(kernel_sum).into());
    // The same kernels with every chunk on the two-pass path (before the fused kernel).
    d.set_fused(false);
    let two_pass = median(runs, || {
        Ok(d.kernel_time(&a, data, false)?.total.as_secs_f64())
    });
    d.set_fused(true);
    let two_pass = two_pass?;
    line(
        &mut o,
        format!(
            "kernel-only two-pass (no fused kernel, median of {runs}): decode {:.2} GB/s",
            gbs(two_pass)
        ),
    );
    j.insert("kernel_two_pass_decode_gbs".into(), gbs(two_pass).into());

    for legacy in [false, true] {
        d.set_legacy_upload(legacy);
        let name = if legacy { "legacy" } else { "staged" };
        // Host times: the run with the median host s/GB (warm-up excluded).
        let mut hm = Vec::new();
        let mem = median(runs, || {
            let _ = d.take_host_times();
            let t = Instant::now();
            drop(d.decode_to_buffer(&a, data)?);
            let s = t.elapsed().as_secs_f64();
            hm.push(d.take_host_times());
            Ok(s)
        })?;
        let mut hf = Vec::new();
        let file = median(runs, || {
            let _ = d.take_host_times();
            let t = Instant::now();
            let f = FileSource::open(znn_path)?;
            drop(d.decode_file_to_buffer(&f)?);
            let s = t.elapsed().as_secs_f64();
            hf.push(d.take_host_times());
            Ok(s)
        })?;
        let (h, hf) = (median_host(hm), median_host(hf));
        line(
            &mut o,
            format!(
                "end to end, {name} upload: (a) .znn in memory -> GPU buffer {:.2} GB/s, \
                 (b) .znn file (page cache) -> GPU buffer {:.2} GB/s",
                gbs(mem),
                gbs(file)
            ),
        );
        for (what, h) in [("memory", h), ("file", hf)] {
            line(
                &mut o,
                format!(
                    "  host, {what} (median run): fill {:.1} ms, build {:.1} ms, submit {:.1} ms, \
                     wait {:.1} ms; host time {:.3} s/GB (waits excluded)",
                    h.fill.as_secs_f64() * 1e3,
                    h.build.as_secs_f64() * 1e3,
                    h.submit.as_secs_f64() * 1e3,
                    h.wait.as_secs_f64() * 1e3,
                    h.host_s_per_gb()
                ),
            );
            j.insert(
                format!("{name}_{what}_host_s_per_gb"),
                h.host_s_per_gb().into(),
            );
        }
        j.insert(format!("{name}_e2e_memory_gbs"), gbs(mem).into());
        j.insert(format!("{name}_e2e_file_gbs"), gbs(file).into());
    }
    d.set_legacy_upload(false);

    let mut stages = [
        Staging::new(d.device(), UPLOAD_WINDOW),
        Staging::new(d.device(), UPLOAD_WINDOW),
    ];
    let staged = median(runs, || staged_upload(d, original, &mut stages))?;
    let plain = median(runs, || super::bench::plain_upload(d, original))?;
    let cpu = median(runs, || {
        let t = Instant::now();
        let v = crate::decompress_bytes(&znn)?;
        staged_upload(d, &v, &mut stages)?;
        Ok(t.elapsed().as_secs_f64())
    })?;
    line(
        &mut o,
        format!(
            "(c) uncompressed upload: staged {:.2} GB/s, write_buffer {:.2} GB/s; CPU decode ({} \
             threads) + staged upload {:.2} GB/s",
            gbs(staged),
            gbs(plain),
            rayon::current_num_threads(),
            gbs(cpu)
        ),
    );
    j.insert("uncompressed_staged_upload_gbs".into(), gbs(staged).into());
    j.insert("uncompressed_write_buffer_gbs".into(), gbs(plain).into());
    j.insert("cpu_decode_plus_upload_gbs".into(), gbs(cpu).into());
    Ok((o, Value::Object(j)))
}

/// Bytes per staging buffer of the uncompressed upload.
const UPLOAD_WINDOW: u64 = 64 << 20;

/// Seconds to upload `bytes` into a new device buffer through two persistent staging buffers
/// filled by several threads (the decoder's mechanism), and wait for it.
fn staged_upload(d: &GpuDecoder, bytes: &[u8], stages: &mut [Staging; 2]) -> Result<f64> {
    let (device, queue) = (d.device(), d.queue());
    let len = bytes.len() as u64;
    let size = len.max(4).div_ceil(4) * 4;
    if size > device.limits().max_buffer_size {
        return Err(Error::Gpu("original larger than max_buffer_size".into()));
    }
    let t = Instant::now();
    // The rounding bytes after the original are zero (the clear before the copies).
    let dst = super::output::create(
        device,
        queue,
        size,
        std::slice::from_ref(&(len..size)),
        false,
    );
    let mut last = None;
    for (i, start) in (0..len).step_by(UPLOAD_WINDOW as usize).enumerate() {
        let st = &mut stages[i % 2];
        st.ready(device, UPLOAD_WINDOW)?;
        let n = (len - start).min(UPLOAD_WINDOW) as usize;
        let n4 = n.div_ceil(4) * 4;
        {
            let mut v = st
                .buf
                .slice(..n4 as u64)
                .get_mapped_range_mut()
                .map_err(|e| Error::Gpu(format!("mapping a staging buffer: {e}")))?;
            let m = mapped_bytes(&mut v);
            let src = &bytes[start as usize..start as usize + n];
            m[..n]
                .par_chunks_mut(FILL_PIECE)
                .zip(src.par_chunks(FILL_PIECE))
                .for_each(|(a, b)| a.copy_from_slice(b));
            m[n..n4].fill(0);
        }
        st.unmap();
        let mut enc = device.create_command_encoder(&wgpu::CommandEncoderDescriptor {
            label: Some("staged upload"),
        });
        enc.copy_buffer_to_buffer(&st.buf, 0, &dst, start, n4 as u64);
        last = Some(queue.submit([enc.finish()]));
        st.remap();
    }
    if let Some(s) = last {
        super::readback::wait(device, s)?;
    }
    let secs = t.elapsed().as_secs_f64();
    for st in stages.iter_mut() {
        st.ready(device, UPLOAD_WINDOW)?;
    }
    Ok(secs)
}

/// The device's Vulkan memory types ("device-local host-visible" is the ReBAR/BAR1 heap that host
/// threads could write straight into); empty on other backends.
fn memory_types(device: &wgpu::Device) -> Vec<String> {
    use wgpu::hal::api::Vulkan;
    // SAFETY: reads the physical device's memory properties through the instance wgpu holds; no
    // object is created or destroyed.
    unsafe {
        let Some(hal) = device.as_hal::<Vulkan>() else {
            return Vec::new();
        };
        let p = hal
            .shared_instance()
            .raw_instance()
            .get_physical_device_memory_properties(hal.raw_physical_device());
        let heaps = &p.memory_heaps[..p.memory_heap_count as usize];
        p.memory_types[..p.memory_type_count as usize]
            .iter()
            .map(|t| {
                let f = t.property_flags.as_raw();
                let names: Vec<&str> = [
                    (1, "device-local"),
                    (2, "host-visible"),
                    (4, "host-coherent"),
                    (8, "host-cached"),
                ]
                .iter()
                .filter(|(b, _)| f & b != 0)
                .map(|(_, n)| *n)
                .collect();
                let heap = heaps.get(t.heap_index as usize).map_or(0, |h| h.size);
                format!(
                    "heap {} ({} MiB): {}",
                    t.heap_index,
                    heap >> 20,
                    if names.is_empty() {
                        "none".to_string()
                    } else {
                        names.join(" ")
                    }
                )
            })
            .collect()
    }
}
