//! The folder view: a compressed tree seen as its original. Every `NAME.znn` appears as `NAME`
//! with its original length; every other file and folder is passed through; a `NAME` beside its
//! `NAME.znn` (originals kept by `compress DIR`) shows once, as the plain file; symbolic links are
//! followed (a Hugging Face snapshot's `NAME.znn -> ../../blobs/B.znn` shows as a regular `NAME`).
//! The mount and Python's folder loading both read through it.
//!
//! The view is listed once, when it is made: it is a snapshot of the tree, which its users treat as
//! unchanging (a mount serves it with long cache timeouts).

use crate::error::{Error, Result};
use crate::files::{is_znn_name, strip_znn, OWN_PREFIX};
use crate::format::{Trailer, TRAILER_LEN};
use std::collections::{BTreeMap, HashSet};
use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};

/// What a node of the view is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NodeKind {
    Dir,
    /// A file passed through: `real` holds the bytes.
    File {
        real: PathBuf,
        len: u64,
    },
    /// A `.znn` shown decoded: `real` is the `.znn`, `len` its original length.
    Znn {
        real: PathBuf,
        len: u64,
    },
}

/// One file or folder of the view.
#[derive(Clone, Debug)]
pub struct Node {
    /// Name in the view (the root's is empty).
    pub name: OsString,
    pub kind: NodeKind,
    /// The folder holding it (the root is its own parent).
    pub parent: usize,
    /// Children by name (folders only).
    pub children: BTreeMap<OsString, usize>,
    /// Modification time of the real file or folder.
    pub mtime: std::time::SystemTime,
}

impl Node {
    /// Bytes the node shows (0 for a folder).
    pub fn len(&self) -> u64 {
        match &self.kind {
            NodeKind::Dir => 0,
            NodeKind::File { len, .. } | NodeKind::Znn { len, .. } => *len,
        }
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A compressed file or tree seen as its original. Nodes are numbered from 0 (the root).
#[derive(Clone, Debug)]
pub struct FolderView {
    nodes: Vec<Node>,
}

impl FolderView {
    /// The view of `src`: a folder (made by `compress DIR`, `compress DIR -o OUT`, a Hugging Face
    /// snapshot or cache compressed in place), or one `.znn` file (a root folder holding it as
    /// `NAME`).
    pub fn open(src: &Path) -> Result<FolderView> {
        let meta = std::fs::metadata(src)
            .map_err(|e| Error::io(format!("reading {}", src.display()), e))?;
        let mut v = FolderView {
            nodes: vec![Node {
                name: OsString::new(),
                kind: NodeKind::Dir,
                parent: 0,
                children: BTreeMap::new(),
                mtime: meta.modified().unwrap_or(std::time::UNIX_EPOCH),
            }],
        };
        if meta.is_dir() {
            let mut seen = HashSet::new();
            v.fill(0, src, &mut seen)?;
        } else if meta.is_file() {
            let name = src.file_name().unwrap_or(src.as_os_str());
            v.add_file(0, name, src, &meta)?;
        } else {
            return Err(Error::invalid(format!(
                "{} is neither a file nor a folder",
                src.display()
            )));
        }
        Ok(v)
    }

    pub fn root(&self) -> usize {
        0
    }

    pub fn node(&self, i: usize) -> Option<&Node> {
        self.nodes.get(i)
    }

    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.nodes.len() <= 1
    }

    /// The child `name` of folder `dir`.
    pub fn lookup(&self, dir: usize, name: &OsStr) -> Option<usize> {
        self.nodes.get(dir)?.children.get(name).copied()
    }

    /// The node at `rel` (a path in the view, relative to its root).
    pub fn find(&self, rel: &Path) -> Option<usize> {
        rel.components().try_fold(0, |at, c| match c {
            std::path::Component::Normal(n) => self.lookup(at, n),
            std::path::Component::CurDir => Some(at),
            _ => None,
        })
    }

    /// Every file of the view with its path relative to the root, in name order.
    pub fn files(&self) -> Vec<(PathBuf, usize)> {
        let mut out = Vec::new();
        let mut stack = vec![(PathBuf::new(), 0usize)];
        while let Some((p, i)) = stack.pop() {
            for (name, &c) in self.nodes[i].children.iter().rev() {
                let q = p.join(name);
                match self.nodes[c].kind {
                    NodeKind::Dir => stack.push((q, c)),
                    _ => out.push((q, c)),
                }
            }
        }
        out.sort();
        out
    }

    fn push(
        &mut self,
        parent: usize,
        name: &OsStr,
        kind: NodeKind,
        meta: &std::fs::Metadata,
    ) -> usize {
        let i = self.nodes.len();
        self.nodes.push(Node {
            name: name.to_os_string(),
            kind,
            parent,
            children: BTreeMap::new(),
            mtime: meta.modified().unwrap_or(std::time::UNIX_EPOCH),
        });
        self.nodes[parent].children.insert(name.to_os_string(), i);
        i
    }

    /// Adds the file `real` to folder `dir` under the view's name for `name`.
    fn add_file(
        &mut self,
        dir: usize,
        name: &OsStr,
        real: &Path,
        meta: &std::fs::Metadata,
    ) -> Result<()> {
        let znn = is_znn_name(Path::new(name))
            .then(|| original_len(real))
            .flatten();
        match znn {
            Some(len) => {
                let shown = strip_znn(Path::new(name)).expect("a .znn name");
                let shown = shown.as_os_str();
                // A plain NAME beside NAME.znn shows once: as the plain file.
                if self.lookup(dir, shown).is_none() {
                    let kind = NodeKind::Znn {
                        real: real.to_path_buf(),
                        len,
                    };
                    self.push(dir, shown, kind, meta);
                }
            }
            None => {
                let kind = NodeKind::File {
                    real: real.to_path_buf(),
                    len: meta.len(),
                };
                // Replaces a NAME.znn's view of the same name.
                if let Some(old) = self.lookup(dir, name) {
                    self.nodes[old].kind = kind;
                } else {
                    self.push(dir, name, kind, meta);
                }
            }
        }
        Ok(())
    }

    fn fill(&mut self, dir: usize, path: &Path, seen: &mut HashSet<PathBuf>) -> Result<()> {
        // A symlinked folder that leads back up the tree would loop forever.
        let canon = path
            .canonicalize()
            .map_err(|e| Error::io(format!("reading {}", path.display()), e))?;
        if !seen.insert(canon) {
            return Ok(());
        }
        let rd = std::fs::read_dir(path)
            .map_err(|e| Error::io(format!("reading {}", path.display()), e))?;
        let mut names: Vec<OsString> = rd.filter_map(|e| e.ok().map(|e| e.file_name())).collect();
        names.sort();
        for name in names {
            if name.to_string_lossy().starts_with(OWN_PREFIX) {
                continue;
            }
            let p = path.join(&name);
            // Links are followed; a dangling one is left out (it has no bytes to show).
            let Ok(meta) = std::fs::metadata(&p) else {
                continue;
            };
            if meta.is_dir() {
                let d = self.push(dir, &name, NodeKind::Dir, &meta);
                self.fill(d, &p, seen)?;
            } else if meta.is_file() {
                self.add_file(dir, &name, &p, &meta)?;
            }
        }
        Ok(())
    }
}

/// The original length a `.znn`'s trailer records, or `None` when it has no valid trailer (such a
/// file is passed through as it is).
fn original_len(p: &Path) -> Option<u64> {
    use crate::source::ByteSource;
    let f = crate::source::FileSource::open(p).ok()?;
    let mut t = [0u8; TRAILER_LEN];
    f.read_exact_at(f.len().checked_sub(TRAILER_LEN as u64)?, &mut t)
        .ok()?;
    Trailer::parse(&t, f.len()).ok().map(|t| t.original_len)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn znn_shows_as_its_original_and_duplicates_once() {
        let d = std::env::temp_dir().join(format!("znn-view-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(d.join("sub")).unwrap();
        let w: Vec<u8> = (0..10_000u32)
            .flat_map(|i| (i as f32).to_le_bytes())
            .collect();
        let z = crate::compress_bytes(&w, &Default::default()).unwrap();
        std::fs::write(d.join("a.bin.znn"), &z).unwrap();
        std::fs::write(d.join("sub/b.bin.znn"), &z).unwrap();
        std::fs::write(d.join("sub/b.bin"), &w).unwrap();
        std::fs::write(d.join("config.json"), b"{}").unwrap();
        std::fs::write(d.join("fake.znn"), b"not a znn").unwrap();
        std::fs::write(d.join(".znn-gpu-x.tmp"), b"").unwrap();
        let v = FolderView::open(&d).unwrap();
        let names: Vec<String> = v
            .files()
            .iter()
            .map(|(p, _)| p.display().to_string())
            .collect();
        assert_eq!(names, ["a.bin", "config.json", "fake.znn", "sub/b.bin"]);
        let a = v.node(v.find(Path::new("a.bin")).unwrap()).unwrap();
        assert!(matches!(a.kind, NodeKind::Znn { len: 40_000, .. }));
        let b = v.node(v.find(Path::new("sub/b.bin")).unwrap()).unwrap();
        assert!(matches!(b.kind, NodeKind::File { len: 40_000, .. }));
        std::fs::remove_dir_all(&d).unwrap();
    }
}
