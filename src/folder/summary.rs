//! A folder's files, sizes and ratios, per dtype and per file, from the `.znn` indexes alone
//! (nothing is decoded): what `info DIR` shows.

use super::walk::{self, Kind};
use crate::archive::Archive;
use crate::error::{Error, Result};
use std::collections::BTreeMap;
use std::path::Path;

/// One file of the folder.
#[derive(Clone, Debug)]
pub struct FileRow {
    /// Path relative to the folder.
    pub rel: String,
    pub kind: Kind,
    /// Original bytes (decoded length for a `.znn`).
    pub original: u64,
    /// Bytes on disk.
    pub size: u64,
}

/// Original and compressed bytes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Sum {
    pub original: u64,
    pub compressed: u64,
}

/// The whole folder.
#[derive(Clone, Debug, Default)]
pub struct Summary {
    pub rows: Vec<FileRow>,
    /// Per layout: original bytes of its segments vs their coded chunk bytes (the per-file header,
    /// index and trailer are not attributed to any dtype).
    pub dtypes: BTreeMap<&'static str, Sum>,
}

impl Summary {
    /// Files of `kind`.
    pub fn count(&self, kind: Kind) -> usize {
        self.rows.iter().filter(|r| r.kind == kind).count()
    }

    /// Original and on-disk bytes of the files of `kind` (all files for `None`).
    pub fn sum(&self, kind: Option<Kind>) -> Sum {
        self.rows
            .iter()
            .filter(|r| kind.is_none_or(|k| r.kind == k))
            .fold(Sum::default(), |s, r| Sum {
                original: s.original + r.original,
                compressed: s.compressed + r.size,
            })
    }
}

/// Lists `dir` (see [`walk::walk`]) and reads every `.znn`'s index.
pub fn summarize(dir: &Path) -> Result<Summary> {
    let mut s = Summary::default();
    for e in walk::walk(dir)? {
        let mut row = FileRow {
            rel: e.rel.display().to_string(),
            kind: e.kind,
            original: e.len,
            size: e.len,
        };
        if e.kind == Kind::Znn {
            let src = crate::source::FileSource::open(&e.path)?;
            let a = Archive::read(&src)
                .map_err(|err| Error::invalid(format!("{}: {err}", e.path.display())))?;
            row.original = a.original_len();
            let idx = &a.index;
            for seg in idx.segments() {
                let chunks = &idx.chunks()[seg.first_chunk..seg.first_chunk + seg.chunk_count];
                let d = s.dtypes.entry(seg.layout.name()).or_default();
                d.original += seg.len;
                d.compressed += chunks.iter().map(|c| c.data_len).sum::<u64>();
            }
        }
        s.rows.push(row);
    }
    Ok(s)
}
