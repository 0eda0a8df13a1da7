//! `znn-gpu bench FILE`: ratio and throughput of compress and decompress at 1 and N threads, in
//! memory and file to file, with zstd -3 on the same bytes for comparison. Best of `runs`.

use std::io::{BufReader, BufWriter};
use std::path::Path;
use std::time::Instant;
use znn_gpu::{
    compress_bytes, compress_stream, decompress_bytes, decompress_stream, Archive, CompressOptions,
    Error, Result,
};

fn best<T>(runs: usize, mut f: impl FnMut() -> Result<T>) -> Result<(f64, T)> {
    let mut best = f64::INFINITY;
    let mut last = None;
    for _ in 0..runs {
        let t = Instant::now();
        let v = f()?;
        best = best.min(t.elapsed().as_secs_f64());
        last = Some(v);
    }
    Ok((best, last.expect("runs >= 1")))
}

pub fn run(
    path: &Path,
    opts: &CompressOptions,
    runs: usize,
    device: super::DeviceArg,
    json: bool,
) -> Result<()> {
    use std::fmt::Write;
    let mut o = String::new();
    let data =
        std::fs::read(path).map_err(|e| Error::io(format!("reading {}", path.display()), e))?;
    let len = data.len() as f64;
    let gbs = |s: f64| len / s / 1e9;
    let n = rayon::current_num_threads();
    let mut rows: Vec<(String, f64)> = Vec::new();
    let mut comp = Vec::new();
    // One thread, then every thread (once: with `--threads 1` they are the same run).
    let counts: &[usize] = if n > 1 { &[1, n] } else { &[1] };
    for &threads in counts {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .map_err(|e| Error::invalid(format!("thread pool: {e}")))?;
        let (tc, c) = pool.install(|| best(runs, || compress_bytes(&data, opts)))?;
        let (td, d) = pool.install(|| best(runs, || decompress_bytes(&c)))?;
        if d != data {
            return Err(Error::corrupt("round trip differs from the input"));
        }
        rows.push((format!("compress_gbs_{threads}t"), gbs(tc)));
        rows.push((format!("decompress_gbs_{threads}t"), gbs(td)));
        // File to file through the streaming path, in a temporary folder beside the input (same
        // filesystem, as ZipNN's baseline script does), else in the system temp folder.
        let dir = temp_dir_near(path)?;
        let (zp, op) = (dir.path().join("f.znn"), dir.path().join("f.out"));
        let (tfc, _) = pool.install(|| {
            best(runs, || {
                let mut r = BufReader::new(open(path)?);
                let w = BufWriter::new(create(&zp)?);
                compress_stream(&mut r, data.len() as u64, w, opts, &mut |_| {})
            })
        })?;
        let (tfd, _) = pool.install(|| {
            best(runs, || {
                let mut r = open(&zp)?;
                decompress_stream(&mut r, BufWriter::new(create(&op)?), &mut |_| {})
            })
        })?;
        rows.push((format!("file_compress_gbs_{threads}t"), gbs(tfc)));
        rows.push((format!("file_decompress_gbs_{threads}t"), gbs(tfd)));
        comp = c;
    }
    // GPU columns: kernel-only decode, .znn file -> GPU memory end to end, and the original bytes
    // uploaded uncompressed, all in GB/s of original bytes.
    let mut gpu_rows: Vec<(String, f64)> = Vec::new();
    let mut gpu_name = None;
    if let Some(mut g) = gpu_for(device)? {
        let dir = temp_dir_near(path)?;
        let zp = dir.path().join("bench.znn");
        std::fs::write(&zp, &comp).map_err(|e| Error::io("writing temp .znn", e))?;
        let f = znn_gpu::gpu::measure_file(&mut g, &zp, runs)?;
        let soft = if g.is_software() {
            " [software adapter: correctness only, not a GPU speed]"
        } else {
            ""
        };
        gpu_name = Some(format!("{}{soft}", f.adapter));
        gpu_rows.push(("gpu_kernel_decode_gbs".into(), gbs(f.kernel_s)));
        gpu_rows.push(("gpu_file_to_gpu_memory_gbs".into(), gbs(f.end_to_end_s)));
        gpu_rows.push(("gpu_uncompressed_upload_gbs".into(), gbs(f.upload_s)));
    }
    let (tzc, z) = best(runs, || {
        zstd::bulk::compress(&data, 3).map_err(|e| Error::io("zstd", e))
    })?;
    let (tzd, _) = best(runs, || {
        zstd::bulk::decompress(&z, data.len()).map_err(|e| Error::io("zstd", e))
    })?;
    let ratio = 100.0 * comp.len() as f64 / len;
    let zratio = 100.0 * z.len() as f64 / len;
    if json {
        let mut m = serde_json::Map::new();
        m.insert("file".into(), path.display().to_string().into());
        m.insert("original_len".into(), data.len().into());
        m.insert("compressed_len".into(), comp.len().into());
        m.insert("ratio_percent".into(), ratio.into());
        m.insert("threads".into(), n.into());
        m.insert("chunk_size".into(), opts.chunk_size.into());
        m.insert("sub_symbols".into(), opts.sub_symbols.into());
        for (k, v) in &rows {
            m.insert(k.clone(), (*v).into());
        }
        for (k, v) in &gpu_rows {
            m.insert(k.clone(), (*v).into());
        }
        m.insert(
            "gpu_adapter".into(),
            gpu_name.clone().map_or(serde_json::Value::Null, Into::into),
        );
        m.insert("zstd3_ratio_percent".into(), zratio.into());
        m.insert("zstd3_compress_gbs_1t".into(), gbs(tzc).into());
        m.insert("zstd3_decompress_gbs_1t".into(), gbs(tzd).into());
        writeln!(o, "{}", serde_json::Value::Object(m)).unwrap();
        return super::print_stdout(&o);
    }
    writeln!(
        o,
        "{}: {} bytes, best of {runs} runs",
        path.display(),
        data.len()
    )
    .unwrap();
    writeln!(o, "znn-gpu   {ratio:.2}% of original").unwrap();
    for (k, v) in &rows {
        writeln!(o, "  {k:<26} {v:>7.2} GB/s").unwrap();
    }
    match &gpu_name {
        Some(name) => {
            writeln!(o, "gpu: {name}").unwrap();
            for (k, v) in &gpu_rows {
                writeln!(o, "  {k:<26} {v:>7.2} GB/s").unwrap();
            }
        }
        None => writeln!(
            o,
            "gpu: not measured (no hardware adapter; --device gpu forces one)"
        )
        .unwrap(),
    }
    writeln!(o, "zstd -3   {zratio:.2}% of original").unwrap();
    writeln!(o, "  {:<26} {:>7.2} GB/s", "compress_gbs_1t", gbs(tzc)).unwrap();
    writeln!(o, "  {:<26} {:>7.2} GB/s", "decompress_gbs_1t", gbs(tzd)).unwrap();
    super::print_stdout(&o)
}

/// `bench FILE --gpu`: [`znn_gpu::gpu::report::report`] on FILE (a `.znn`, or an original that is
/// compressed first with the codec options into a temporary file beside it).
pub fn run_gpu(path: &Path, opts: &CompressOptions, runs: usize, json: bool) -> Result<()> {
    let data =
        std::fs::read(path).map_err(|e| Error::io(format!("reading {}", path.display()), e))?;
    let dir = temp_dir_near(path)?;
    let (znn_path, original) = if Archive::from_bytes(&data).is_ok() {
        let original = decompress_bytes(&data)?;
        (path.to_path_buf(), original)
    } else {
        let zp = dir.path().join("bench.znn");
        let z = compress_bytes(&data, opts)?;
        std::fs::write(&zp, &z).map_err(|e| Error::io("writing temp .znn", e))?;
        (zp, data)
    };
    let mut g = znn_gpu::GpuDecoder::new()?;
    let (text, j) = znn_gpu::gpu::report::report(&mut g, &znn_path, &original, runs)?;
    if json {
        return super::print_stdout(&format!("{j}\n"));
    }
    super::print_stdout(&text)
}

/// The GPU to measure: `gpu` any adapter (software ones too), `auto` a hardware one, `cpu` none.
fn gpu_for(device: super::DeviceArg) -> Result<Option<znn_gpu::GpuDecoder>> {
    use super::DeviceArg;
    match device {
        DeviceArg::Cpu => Ok(None),
        DeviceArg::Gpu => znn_gpu::GpuDecoder::new().map(Some),
        DeviceArg::Auto if znn_gpu::gpu::hardware_adapter() => znn_gpu::GpuDecoder::new().map(Some),
        DeviceArg::Auto => Ok(None),
    }
}

fn temp_dir_near(p: &Path) -> Result<tempfile::TempDir> {
    let parent = p.parent().filter(|d| !d.as_os_str().is_empty());
    parent
        .and_then(|d| {
            tempfile::Builder::new()
                .prefix(".znn-bench-")
                .tempdir_in(d)
                .ok()
        })
        .map_or_else(
            || tempfile::tempdir().map_err(|e| Error::io("temp dir", e)),
            Ok,
        )
}

fn open(p: &Path) -> Result<std::fs::File> {
    std::fs::File::open(p).map_err(|e| Error::io(format!("opening {}", p.display()), e))
}

fn create(p: &Path) -> Result<std::fs::File> {
    std::fs::File::create(p).map_err(|e| Error::io(format!("creating {}", p.display()), e))
}
