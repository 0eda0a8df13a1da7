//! `znn-gpu info`: sizes, ratio, a summary per layout (bytes, ratio, codec mix and the order-0
//! bounds, which decode the file) and, with `--segments` or `--json`, the per-segment, per-stream
//! table from the index; with `--tensors`, the safetensors tensor table, decoding the header's
//! chunks only.

use std::path::Path;
use std::sync::Arc;
use znn_gpu::bound::{segment_bound, Bound};
use znn_gpu::extract::covering_bytes;
use znn_gpu::files::{open_base, open_input};
use znn_gpu::format::Codec;
use znn_gpu::{Error, Layout, Reader, ReaderOptions, Result};

/// Per-stream totals of one segment.
#[derive(Default, Clone)]
struct StreamSum {
    orig: u64,
    comp: u64,
    /// Chunks per codec, in `Codec::ALL` order.
    codecs: [u64; Codec::ALL.len()],
}

pub fn run(
    path: &Path,
    base: Option<&Path>,
    json: bool,
    tensors: bool,
    segments: bool,
) -> Result<()> {
    if path.is_dir() {
        if base.is_some() {
            return Err(Error::invalid(
                "info --base takes one .znn file, not a folder",
            ));
        }
        return super::info_folder::run(path, json);
    }
    // A delta without its base still shows everything but its delta segments' bounds.
    let opts = ReaderOptions {
        base: base.map(open_base).transpose()?.map(Arc::new),
        ..Default::default()
    };
    let r = Reader::new(Arc::new(open_input(path)?.into_source()?), &opts)?;
    let mut o = String::new();
    if tensors {
        tensor_report(path, &r, json, &mut o)?;
    } else {
        report(path, &r, json, segments, &mut o)?;
    }
    super::print_stdout(&o)
}

/// One layout's totals: segments, original and coded bytes, stream codecs, bounds.
struct LayoutSum {
    layout: Layout,
    segments: usize,
    orig: u64,
    comp: u64,
    codecs: [u64; Codec::ALL.len()],
    bound: Bound,
    /// Delta segments left out of `bound` (no base given): the bound is then not shown.
    unbounded: usize,
}

/// Per-layout sums, the bounds from the bytes the coder saw (read in pieces of whole elements):
/// the original bytes of a standalone segment, the XOR with the base of a delta segment (left out
/// when `r` has no base).
fn layout_sums(r: &Reader) -> Result<Vec<LayoutSum>> {
    let idx = &r.archive().index;
    let mut sums: Vec<LayoutSum> = Vec::new();
    for seg in idx.segments() {
        let at = match sums.iter().position(|s| s.layout == seg.layout) {
            Some(i) => i,
            None => {
                sums.push(LayoutSum {
                    layout: seg.layout,
                    segments: 0,
                    orig: 0,
                    comp: 0,
                    codecs: [0; Codec::ALL.len()],
                    bound: Bound::default(),
                    unbounded: 0,
                });
                sums.len() - 1
            }
        };
        let sum = &mut sums[at];
        sum.segments += 1;
        sum.orig += seg.len;
        for c in &idx.chunks()[seg.first_chunk..seg.first_chunk + seg.chunk_count] {
            for s in idx.chunk_streams(c) {
                sum.comp += s.comp_len as u64;
                sum.codecs[s.codec().index()] += 1;
            }
        }
        let base = match (seg.base_offset, r.base()) {
            (Some(_), None) => {
                sum.unbounded += 1;
                continue;
            }
            (Some(at), Some(b)) => Some((at, b)),
            (None, _) => None,
        };
        let piece = 64 << 20;
        let mut off = seg.offset;
        let mut old = Vec::new();
        while off < seg.offset + seg.len {
            let end = (off + piece).min(seg.offset + seg.len);
            let mut bytes = r.read_range(off, end)?;
            if let Some((at, b)) = base {
                old.resize(bytes.len(), 0);
                b.read_at(at + (off - seg.offset), &mut old)?;
                znn_gpu::delta::xor_into(&mut bytes, &old);
            }
            sum.bound += segment_bound(seg.layout, &bytes);
            off = end;
        }
    }
    Ok(sums)
}

fn report(path: &Path, r: &Reader, json: bool, segments: bool, o: &mut String) -> Result<()> {
    use std::fmt::Write;
    let a = r.archive();
    let idx = &a.index;
    let sums = layout_sums(r)?;
    let orig = a.original_len();
    let mut rows = Vec::new();
    for seg in idx.segments() {
        let mut sums = vec![StreamSum::default(); seg.layout.stream_count()];
        for c in &idx.chunks()[seg.first_chunk..seg.first_chunk + seg.chunk_count] {
            let n = c.orig_len as u64 / seg.layout.elem_size() as u64;
            for (s, sum) in idx.chunk_streams(c).iter().zip(sums.iter_mut()) {
                sum.orig += n;
                sum.comp += s.comp_len as u64;
                sum.codecs[s.codec().index()] += 1;
            }
        }
        rows.push((seg, sums));
    }
    let pct = |c: u64, o: u64| 100.0 * c as f64 / o.max(1) as f64;
    let mix = |codecs: &[u64]| -> String {
        let total: u64 = codecs.iter().sum();
        let parts: Vec<String> = Codec::ALL
            .iter()
            .filter(|c| codecs[c.index()] > 0)
            .map(|c| format!("{} {:.0}%", c.name(), pct(codecs[c.index()], total)))
            .collect();
        parts.join(", ")
    };
    if json {
        let segs: Vec<serde_json::Value> = rows
            .iter()
            .map(|(seg, sums)| {
                serde_json::json!({
                    "layout": seg.layout.name(), "offset": seg.offset, "len": seg.len,
                    "chunks": seg.chunk_count,
                    "streams": sums.iter().map(|s| {
                        let mut m = serde_json::json!({"original": s.orig, "compressed": s.comp});
                        for c in Codec::ALL {
                            m[c.name()] = s.codecs[c.index()].into();
                        }
                        m
                    }).collect::<Vec<_>>(),
                })
            })
            .collect();
        let v = serde_json::json!({
            "original_len": orig, "compressed_len": a.file_len,
            "ratio_percent": pct(a.file_len, orig), "chunk_size": idx.chunk_size(),
            "chunks": idx.chunks().len(), "segments": segs, "version": a.header.version,
            "summary": sums.iter().map(|s| {
                let mut codecs = serde_json::json!({});
                for c in Codec::ALL {
                    codecs[c.name()] = s.codecs[c.index()].into();
                }
                serde_json::json!({
                    "layout": s.layout.name(), "segments": s.segments, "original": s.orig,
                    "compressed": s.comp, "ratio_percent": pct(s.comp, s.orig),
                    "streams": codecs,
                    "bound_separate_percent": (s.unbounded == 0)
                        .then(|| 100.0 * s.bound.separate / s.orig.max(1) as f64),
                    "bound_joint_percent": (s.unbounded == 0)
                        .then(|| 100.0 * s.bound.joint / s.orig.max(1) as f64),
                })
            }).collect::<Vec<_>>(),
            "base": idx.base().map(|b| serde_json::json!({
                "len": b.len, "xxh3": format!("{:016x}", b.hash),
                "delta_segments": idx.segments().iter().filter(|s| s.base_offset.is_some()).count(),
            })),
        });
        writeln!(o, "{}", serde_json::to_string_pretty(&v).expect("json")).unwrap();
        return Ok(());
    }
    writeln!(o, "file:        {}", path.display()).unwrap();
    writeln!(o, "original:    {orig} bytes").unwrap();
    writeln!(
        o,
        "compressed:  {} bytes ({:.2}% of original)",
        a.file_len,
        pct(a.file_len, orig)
    )
    .unwrap();
    writeln!(
        o,
        "chunks:      {} of {} bytes, {} segments, index {} bytes",
        idx.chunks().len(),
        idx.chunk_size(),
        idx.segments().len(),
        a.trailer.index_len
    )
    .unwrap();
    if let Some(b) = idx.base() {
        let n = idx
            .segments()
            .iter()
            .filter(|s| s.base_offset.is_some())
            .count();
        writeln!(
            o,
            "delta:       {n} segments (layouts marked ^) against a base of {} bytes (xxh3 {:016x}); decompress with --base",
            b.len, b.hash
        )
        .unwrap();
    }
    writeln!(o).unwrap();
    writeln!(
        o,
        "{:<7} {:>5} {:>14} {:>7} {:>8} {:>8}  streams by codec",
        "layout", "segs", "bytes", "ratio%", "bound%", "H(E,M)%"
    )
    .unwrap();
    for s in &sums {
        let b = |x: f64| match s.unbounded {
            0 => format!("{:.2}", 100.0 * x / s.orig.max(1) as f64),
            _ => "-".to_string(),
        };
        writeln!(
            o,
            "{:<7} {:>5} {:>14} {:>7.2} {:>8} {:>8}  {}",
            s.layout.name(),
            s.segments,
            s.orig,
            pct(s.comp, s.orig),
            b(s.bound.separate),
            b(s.bound.joint),
            mix(&s.codecs)
        )
        .unwrap();
    }
    writeln!(
        o,
        "bound%: order-0 entropy per segment, each stream alone; H(E,M)%: the first two streams \
         jointly (exponent with sign and mantissa), payload only; of delta segments, of the XOR \
         with the base"
    )
    .unwrap();
    if sums.iter().any(|s| s.unbounded > 0) {
        writeln!(
            o,
            "(bounds of delta segments, shown as -: info --base BASE)"
        )
        .unwrap();
    }
    if !segments {
        writeln!(o, "(per-segment table: --segments)").unwrap();
        return Ok(());
    }
    writeln!(o).unwrap();
    let names: Vec<&str> = Codec::ALL.iter().map(|c| c.name()).collect();
    writeln!(
        o,
        "{:>4} {:<7} {:>12} {:>7} {:>6}  streams: ratio% [{} chunks]",
        "seg",
        "layout",
        "bytes",
        "chunks",
        "ratio%",
        names.join("/")
    )
    .unwrap();
    for (i, (seg, sums)) in rows.iter().enumerate() {
        let comp: u64 = sums.iter().map(|s| s.comp).sum();
        let streams: Vec<String> = sums
            .iter()
            .map(|s| {
                let counts: Vec<String> = s.codecs.iter().map(u64::to_string).collect();
                format!("{:.1} [{}]", pct(s.comp, s.orig), counts.join("/"))
            })
            .collect();
        writeln!(
            o,
            "{:>4} {:<7} {:>12} {:>7} {:>6.2}  {}",
            i,
            if seg.base_offset.is_some() {
                format!("{}^", seg.layout.name())
            } else {
                seg.layout.name().to_string()
            },
            seg.len,
            seg.chunk_count,
            pct(comp, seg.len),
            streams.join("  ")
        )
        .unwrap();
    }
    Ok(())
}

/// `info --tensors`: the safetensors tensor table, from the header's chunks only. Per tensor, the
/// chunks covering it and their payload bytes: what `extract --tensor` reads (tiny tensors merged
/// into one segment share chunks, so these do not add up to the file).
fn tensor_report(path: &Path, r: &Reader, json: bool, o: &mut String) -> Result<()> {
    use std::fmt::Write;
    let shown = path.display();
    let a = r.archive();
    let h = r
        .tensors()?
        .ok_or_else(|| Error::invalid(super::extract::not_safetensors(&shown.to_string())))?;
    let rows: Vec<_> = h
        .tensors
        .iter()
        .map(|t| (t, covering_bytes(&a.index, t.start, t.end)))
        .collect();
    if json {
        let ts: Vec<serde_json::Value> = rows
            .iter()
            .map(|(t, (chunks, comp))| {
                serde_json::json!({
                    "name": t.name, "dtype": t.dtype, "shape": t.shape,
                    "offset": t.start, "len": t.end - t.start,
                    "chunks": [chunks.start, chunks.end], "chunk_bytes": comp,
                })
            })
            .collect();
        let v = serde_json::json!({
            "original_len": a.original_len(), "compressed_len": a.file_len,
            "header_len": h.data_start, "tensors": ts,
        });
        writeln!(o, "{}", serde_json::to_string_pretty(&v).expect("json")).unwrap();
        return Ok(());
    }
    writeln!(
        o,
        "{}: {} tensors, header {} bytes, original {} bytes",
        shown,
        h.tensors.len(),
        h.data_start,
        a.original_len()
    )
    .unwrap();
    writeln!(
        o,
        "{:<40} {:<5} {:<20} {:>12} {:>12} {:>7} {:>12}",
        "name", "dtype", "shape", "offset", "bytes", "chunks", "chunk bytes"
    )
    .unwrap();
    for (t, (chunks, comp)) in rows {
        let shape: Vec<String> = t.shape.iter().map(|d| d.to_string()).collect();
        writeln!(
            o,
            "{:<40} {:<5} {:<20} {:>12} {:>12} {:>7} {:>12}",
            t.name,
            t.dtype,
            format!("[{}]", shape.join(", ")),
            t.start,
            t.end - t.start,
            chunks.len(),
            comp
        )
        .unwrap();
    }
    Ok(())
}
