//! `znn-gpu info DIR`: a folder's files, sizes and ratios, per dtype and per file, from the `.znn`
//! indexes alone (nothing is decoded).

use super::walk::{self, Kind};
use crate::archive::Archive;
use crate::error::{Error, Result};
use std::collections::BTreeMap;
use std::fmt::Write;
use std::path::Path;

/// One file of the folder.
struct Row {
    rel: String,
    kind: Kind,
    /// Original bytes (decoded length for a `.znn`).
    original: u64,
    /// Bytes on disk.
    size: u64,
}

#[derive(Default, Clone, Copy)]
struct Sum {
    original: u64,
    compressed: u64,
}

fn pct(c: u64, o: u64) -> f64 {
    100.0 * c as f64 / o.max(1) as f64
}

pub fn info(dir: &Path, json: bool) -> Result<()> {
    let entries = walk::walk(dir)?;
    let mut rows = Vec::new();
    // Per layout: original bytes of its segments vs their coded chunk bytes (the per-file header,
    // index and trailer are not attributed to any dtype).
    let mut dtypes: BTreeMap<&'static str, Sum> = BTreeMap::new();
    for e in &entries {
        let mut row = Row {
            rel: e.rel.display().to_string(),
            kind: e.kind,
            original: e.len,
            size: e.len,
        };
        if e.kind == Kind::Znn {
            let f = std::fs::File::open(&e.path)
                .map_err(|err| Error::io(format!("opening {}", e.path.display()), err))?;
            let a = Archive::read(&mut std::io::BufReader::new(f))
                .map_err(|err| Error::invalid(format!("{}: {err}", e.path.display())))?;
            row.original = a.trailer.original_len;
            let idx = &a.index;
            for seg in &idx.segments {
                let chunks = &idx.chunks[seg.first_chunk..seg.first_chunk + seg.chunk_count];
                let s = dtypes.entry(seg.layout.name()).or_default();
                s.original += seg.len;
                s.compressed += chunks.iter().map(|c| c.data_len).sum::<u64>();
            }
        }
        rows.push(row);
    }
    let count = |k: Kind| rows.iter().filter(|r| r.kind == k).count();
    let sum = |k: Option<Kind>| {
        rows.iter()
            .filter(|r| k.map_or(true, |k| r.kind == k))
            .fold(Sum::default(), |s, r| Sum {
                original: s.original + r.original,
                compressed: s.compressed + r.size,
            })
    };
    let (all, znn) = (sum(None), sum(Some(Kind::Znn)));
    let mut o = String::new();
    if json {
        let ratio = |s: &Sum| {
            serde_json::json!({
                "original": s.original, "compressed": s.compressed,
                "ratio_percent": pct(s.compressed, s.original),
            })
        };
        let v = serde_json::json!({
            "folder": dir.display().to_string(),
            "files": {
                "compressed": count(Kind::Znn),
                "weights_not_compressed": count(Kind::Weight),
                "other": count(Kind::Other),
            },
            "original_len": all.original,
            "disk_len": all.compressed,
            "ratio_percent": pct(all.compressed, all.original),
            "compressed_weights": ratio(&znn),
            "dtypes": dtypes.iter().map(|(d, s)| {
                let mut r = ratio(s);
                r["dtype"] = (*d).into();
                r
            }).collect::<Vec<_>>(),
            "entries": rows.iter().map(|r| serde_json::json!({
                "path": r.rel, "kind": r.kind.name(), "original": r.original, "size": r.size,
                "ratio_percent": pct(r.size, r.original),
            })).collect::<Vec<_>>(),
        });
        writeln!(o, "{}", serde_json::to_string_pretty(&v).expect("json")).unwrap();
        return super::super::print_stdout(&o);
    }
    let w = |o: &mut String, s: String| writeln!(o, "{s}").unwrap();
    w(&mut o, format!("folder:      {}", dir.display()));
    w(
        &mut o,
        format!(
            "files:       {} compressed (.znn), {} weights not compressed, {} other",
            count(Kind::Znn),
            count(Kind::Weight),
            count(Kind::Other)
        ),
    );
    w(&mut o, format!("original:    {} bytes", all.original));
    w(
        &mut o,
        format!(
            "on disk:     {} bytes ({:.2}% of original)",
            all.compressed,
            pct(all.compressed, all.original)
        ),
    );
    w(
        &mut o,
        format!(
            "compressed:  {} -> {} bytes ({:.2}%) in .znn files",
            znn.original,
            znn.compressed,
            pct(znn.compressed, znn.original)
        ),
    );
    w(&mut o, String::new());
    w(
        &mut o,
        format!(
            "{:<8} {:>14} {:>14} {:>7}",
            "dtype", "original", "compressed", "ratio%"
        ),
    );
    for (d, s) in &dtypes {
        w(
            &mut o,
            format!(
                "{:<8} {:>14} {:>14} {:>7.2}",
                d,
                s.original,
                s.compressed,
                pct(s.compressed, s.original)
            ),
        );
    }
    w(&mut o, String::new());
    w(
        &mut o,
        format!(
            "{:<8} {:>14} {:>14} {:>7}  file",
            "kind", "original", "on disk", "ratio%"
        ),
    );
    for r in &rows {
        w(
            &mut o,
            format!(
                "{:<8} {:>14} {:>14} {:>7.2}  {}",
                r.kind.name(),
                r.original,
                r.size,
                pct(r.size, r.original),
                r.rel
            ),
        );
    }
    super::super::print_stdout(&o)
}
