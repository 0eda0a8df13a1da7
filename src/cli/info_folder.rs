//! `znn-gpu info DIR`: a folder's files, sizes and ratios, per dtype and per file (the library's
//! [`znn_gpu::folder::summarize`], formatted).

use std::fmt::Write;
use std::path::Path;
use znn_gpu::folder::{summarize, Kind, Sum};
use znn_gpu::Result;

fn pct(c: u64, o: u64) -> f64 {
    100.0 * c as f64 / o.max(1) as f64
}

pub fn run(dir: &Path, json: bool) -> Result<()> {
    let s = summarize(dir)?;
    let (rows, dtypes) = (&s.rows, &s.dtypes);
    let count = |k: Kind| s.count(k);
    let (all, znn) = (s.sum(None), s.sum(Some(Kind::Znn)));
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
        return super::print_stdout(&o);
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
    for (d, s) in dtypes {
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
    for r in rows {
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
    super::print_stdout(&o)
}
