//! The files a mount serves: a [`FolderView`] whose files open lazily, one [`Reader`] per `.znn`
//! shared by every handle on it, and one [`ChunkCache`] shared by all readers (one bound on
//! decoded bytes whatever the number of open files). No FUSE here: [`ViewFiles`] is the
//! filesystem's contents as plain calls (open, read, release), usable and testable without a
//! kernel.
//!
//! Invariants:
//! - A file is served only while it is the file that was listed: each file's stamp (size,
//!   modification time, inode, and for a `.znn` a hash of its trailer) is taken when the view is
//!   made and checked on every open against the opened descriptor, and on every read of a plain
//!   file. A file replaced or rewritten under a live mount is an I/O error (logged once), never a
//!   mix of old and new bytes; a handle opened before the replacement keeps reading the file it
//!   opened (its descriptor). Nothing reopens the new file: the kernel caches pages and sizes of
//!   the view, which a remount refreshes.
//! - A chunk that fails its checksum is an error for every read that touches it, logged to stderr
//!   once per file and chunk.

use crate::delta::Base;
use crate::error::{Error, ErrorKind, Result};
use crate::folder::{FolderView, NodeKind};
use crate::format::TRAILER_LEN;
use crate::reader::{ChunkCache, Reader, ReaderOptions};
use crate::source::{ByteSource, FileSource};
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::SystemTime;

/// How the files are read.
#[derive(Clone, Debug, Default)]
pub struct FilesOptions {
    /// The base of deltas: a file when the source is one `.znn`, else a folder holding `REL` (the
    /// view's path) for each delta `REL.znn`.
    pub base: Option<PathBuf>,
    /// Bytes of decoded chunks kept for all open files together.
    pub cache_bytes: u64,
    /// Bytes decoded ahead of a sequential reader (default: the reader's, at most a quarter of
    /// the cache).
    pub readahead_bytes: Option<u64>,
}

/// What identifies the version of a file that was listed.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Stamp {
    size: u64,
    mtime: Option<SystemTime>,
    ino: u64,
    /// xxh3 of a `.znn`'s trailer (which holds the index hash): a rewrite of the same size and
    /// time still differs here.
    trailer: Option<u64>,
}

impl Stamp {
    fn of(meta: &std::fs::Metadata, trailer: Option<u64>) -> Stamp {
        Stamp {
            size: meta.len(),
            mtime: meta.modified().ok(),
            ino: ino(meta),
            trailer,
        }
    }
}

#[cfg(unix)]
fn ino(m: &std::fs::Metadata) -> u64 {
    std::os::unix::fs::MetadataExt::ino(m)
}

#[cfg(not(unix))]
fn ino(_: &std::fs::Metadata) -> u64 {
    0
}

fn trailer_hash(src: &dyn ByteSource) -> Result<u64> {
    let at = src
        .len()
        .checked_sub(TRAILER_LEN as u64)
        .ok_or_else(|| Error::truncated("shorter than a .znn trailer"))?;
    let mut t = [0u8; TRAILER_LEN];
    src.read_exact_at(at, &mut t)?;
    Ok(xxhash_rust::xxh3::xxh3_64(&t))
}

/// The bytes behind one open file of the view.
enum Backing {
    Znn(Reader),
    Plain(FileSource),
}

/// One file of the view, open: shared by every handle on it until the last is released.
struct Open {
    node: usize,
    backing: Backing,
}

/// The view's files, opened on demand. Thread-safe: every method takes `&self`.
pub struct ViewFiles {
    view: FolderView,
    opts: FilesOptions,
    cache: Arc<ChunkCache>,
    /// Stamps of the view's files, by node (`None` for folders).
    stamps: Vec<Option<Stamp>>,
    /// The open file of each node, while any handle holds it.
    open: Mutex<HashMap<usize, Weak<Open>>>,
    handles: Mutex<HashMap<u64, Arc<Open>>>,
    next_handle: AtomicU64,
    /// What was logged already: (node, chunk) for bad chunks, (node, usize::MAX) for a changed
    /// file.
    logged: Mutex<HashSet<(usize, usize)>>,
}

impl ViewFiles {
    /// The files of `src` (see [`FolderView::open`]), each stamped now.
    pub fn open(src: &Path, opts: FilesOptions) -> Result<ViewFiles> {
        let view = FolderView::open(src)?;
        let mut stamps = Vec::with_capacity(view.len());
        for i in 0..view.len() {
            let node = view.node(i).expect("nodes are numbered densely");
            stamps.push(match &node.kind {
                NodeKind::Dir => None,
                NodeKind::File { real, .. } => {
                    std::fs::metadata(real).ok().map(|m| Stamp::of(&m, None))
                }
                NodeKind::Znn { real, .. } => FileSource::open(real).ok().and_then(|f| {
                    let m = f.file().metadata().ok()?;
                    Some(Stamp::of(&m, trailer_hash(&f).ok()))
                }),
            });
        }
        Ok(ViewFiles {
            view,
            cache: ChunkCache::new(opts.cache_bytes.max(1)),
            opts,
            stamps,
            open: Mutex::default(),
            handles: Mutex::default(),
            next_handle: AtomicU64::new(1),
            logged: Mutex::default(),
        })
    }

    pub fn view(&self) -> &FolderView {
        &self.view
    }

    /// The cache all open `.znn` files share.
    pub fn cache(&self) -> &Arc<ChunkCache> {
        &self.cache
    }

    /// Opens file `node`; returns a handle for [`ViewFiles::read`] (release it with
    /// [`ViewFiles::release`]). Handles on one file share its reader.
    pub fn open_node(&self, node: usize) -> Result<u64> {
        let open = {
            let mut map = lock(&self.open);
            match map.get(&node).and_then(Weak::upgrade) {
                Some(o) => o,
                None => {
                    let o = Arc::new(
                        self.open_new(node)
                            .inspect_err(|e| self.log_open(node, e))?,
                    );
                    map.insert(node, Arc::downgrade(&o));
                    o
                }
            }
        };
        let h = self.next_handle.fetch_add(1, Ordering::Relaxed);
        lock(&self.handles).insert(h, open);
        Ok(h)
    }

    /// Ends handle `h`; the file closes (and its cached chunks go) with its last handle.
    pub fn release(&self, h: u64) {
        let gone = lock(&self.handles).remove(&h);
        if let Some(o) = gone {
            let node = o.node;
            drop(o);
            let mut map = lock(&self.open);
            if map.get(&node).is_some_and(|w| w.strong_count() == 0) {
                map.remove(&node);
            }
        }
    }

    /// Handles open now.
    pub fn handles(&self) -> usize {
        lock(&self.handles).len()
    }

    fn open_new(&self, node: usize) -> Result<Open> {
        let n = self
            .view
            .node(node)
            .ok_or_else(|| Error::invalid(format!("no file {node} in the view")))?;
        let stamp = self.stamps[node].as_ref();
        let changed = |real: &Path| {
            Error::invalid(format!(
                "{} changed since it was mounted (size, time or trailer differ): remount to see \
                 the new file",
                real.display()
            ))
        };
        let backing = match &n.kind {
            NodeKind::Dir => return Err(Error::invalid("a folder is not a file")),
            NodeKind::File { real, .. } => {
                let f = FileSource::open(real)?;
                let m = f.file().metadata().map_err(|e| Error::io("stat", e))?;
                if stamp != Some(&Stamp::of(&m, None)) {
                    return Err(changed(real));
                }
                Backing::Plain(f)
            }
            NodeKind::Znn { real, len } => {
                let f = FileSource::open(real)?;
                let m = f.file().metadata().map_err(|e| Error::io("stat", e))?;
                if stamp != Some(&Stamp::of(&m, Some(trailer_hash(&f)?))) {
                    return Err(changed(real));
                }
                let ro = ReaderOptions {
                    base: self.base_for(node, real)?,
                    cache: Some(self.cache.clone()),
                    cache_bytes: None,
                    readahead_bytes: self.opts.readahead_bytes,
                };
                let r = Reader::new(Arc::new(f), &ro)?;
                if r.len() != *len {
                    return Err(changed(real));
                }
                Backing::Znn(r)
            }
        };
        Ok(Open { node, backing })
    }

    /// The base a delta `.znn` needs, opened (and hashed) now; `None` when it is no delta.
    fn base_for(&self, node: usize, real: &Path) -> Result<Option<Arc<Base>>> {
        let Some(b) = &self.opts.base else {
            return Ok(None);
        };
        let probe = crate::archive::Archive::read(&FileSource::open(real)?)?;
        if probe.index.base().is_none() {
            return Ok(None);
        }
        let path = if b.is_dir() {
            b.join(self.rel(node))
        } else {
            b.clone()
        };
        Ok(Some(Arc::new(Base::open(&path)?)))
    }

    /// The path of `node` in the view, from its root.
    fn rel(&self, node: usize) -> PathBuf {
        let mut parts = Vec::new();
        let mut at = node;
        while at != self.view.root() {
            let n = self.view.node(at).expect("a parent exists");
            parts.push(n.name.clone());
            at = n.parent;
        }
        parts.iter().rev().collect()
    }

    /// Reads up to `buf.len()` bytes at `offset` of the file behind handle `h` (fewer only at its
    /// end).
    pub fn read(&self, h: u64, offset: u64, buf: &mut [u8]) -> Result<usize> {
        let o = lock(&self.handles)
            .get(&h)
            .cloned()
            .ok_or_else(|| Error::invalid(format!("no open handle {h}")))?;
        match &o.backing {
            Backing::Znn(r) => r.read_at(offset, buf).inspect_err(|e| {
                self.log_chunks(o.node, r, offset, buf.len(), e);
            }),
            Backing::Plain(f) => self.read_plain(o.node, f, offset, buf),
        }
    }

    fn read_plain(
        &self,
        node: usize,
        f: &FileSource,
        offset: u64,
        buf: &mut [u8],
    ) -> Result<usize> {
        // A plain file has no checksums: a rewrite in place is caught by its stamp, checked on
        // the descriptor before and after the bytes are read.
        let check = || -> Result<()> {
            let m = f.file().metadata().map_err(|e| Error::io("stat", e))?;
            if self.stamps[node].as_ref() != Some(&Stamp::of(&m, None)) {
                let e = Error::invalid(format!("{} changed since it was mounted", f.name()));
                self.log_open(node, &e);
                return Err(e);
            }
            Ok(())
        };
        check()?;
        let len = f.len();
        if offset >= len {
            return Ok(0);
        }
        let n = buf.len().min((len - offset) as usize);
        f.read_exact_at(offset, &mut buf[..n])?;
        check()?;
        Ok(n)
    }

    /// `REL` of the view, and the real file behind it when that is a `.znn`.
    fn shown(&self, node: usize) -> String {
        let rel = self.rel(node);
        match self.view.node(node).map(|n| &n.kind) {
            Some(NodeKind::Znn { real, .. }) => format!("{} ({})", rel.display(), real.display()),
            _ => rel.display().to_string(),
        }
    }

    fn log_open(&self, node: usize, e: &Error) {
        if lock(&self.logged).insert((node, usize::MAX)) {
            eprintln!("znn-gpu mount: {}: {e}", self.shown(node));
        }
    }

    /// Logs each chunk of the failed range that fails on its own, once per chunk.
    fn log_chunks(&self, node: usize, r: &Reader, offset: u64, len: usize, e: &Error) {
        if e.kind() != ErrorKind::Corrupt && e.kind() != ErrorKind::Truncated {
            self.log_open(node, e);
            return;
        }
        let idx = &r.archive().index;
        let end = r.len().min(offset.saturating_add(len as u64));
        for ci in idx.covering(offset, end) {
            let c = &idx.chunks()[ci];
            let mut one = vec![0u8; c.orig_len as usize];
            if let Err(e) = r.read_at(c.orig_offset, &mut one) {
                if lock(&self.logged).insert((node, ci)) {
                    eprintln!(
                        "znn-gpu mount: {}: chunk {ci} (original bytes {}..{}): {e}",
                        self.shown(node),
                        c.orig_offset,
                        c.orig_offset + c.orig_len as u64
                    );
                }
            }
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts() -> FilesOptions {
        FilesOptions {
            base: None,
            cache_bytes: 1 << 20,
            readahead_bytes: Some(0),
        }
    }

    #[test]
    fn handles_share_one_reader_and_a_replaced_znn_is_refused() {
        let d = std::env::temp_dir().join(format!("znn-viewfiles-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        let w: Vec<u8> = (0..200_000u32)
            .flat_map(|i| ((i as f32) * 0.001).sin().to_le_bytes())
            .collect();
        let o = crate::CompressOptions {
            chunk_size: 65536,
            ..Default::default()
        };
        std::fs::write(d.join("w.bin.znn"), crate::compress_bytes(&w, &o).unwrap()).unwrap();
        std::fs::write(d.join("notes.txt"), b"hello").unwrap();
        let v = ViewFiles::open(&d, opts()).unwrap();
        let node = v.view().find(Path::new("w.bin")).unwrap();
        let (h1, h2) = (v.open_node(node).unwrap(), v.open_node(node).unwrap());
        assert_eq!(lock(&v.open).len(), 1, "one reader for both handles");
        let mut b = vec![0u8; 300_000];
        assert_eq!(v.read(h1, 100_000, &mut b).unwrap(), 300_000);
        assert!(b == w[100_000..400_000]);
        assert!(v.cache().bytes() > 0 && v.cache().bytes() <= 1 << 20);
        assert_eq!(v.read(h2, w.len() as u64 - 10, &mut b).unwrap(), 10);
        let t = v.find_plain("notes.txt");
        assert_eq!(v.read(t, 1, &mut b[..10]).unwrap(), 4);
        assert_eq!(&b[..4], b"ello");
        v.release(h1);
        v.release(h2);
        v.release(t);
        assert_eq!(
            (v.handles(), lock(&v.open).len(), v.cache().bytes()),
            (0, 0, 0)
        );
        // Replaced by another .znn: refused on open, never served.
        let other: Vec<u8> = w.iter().map(|x| x ^ 1).collect();
        let tmp = d.join("w.tmp");
        std::fs::write(&tmp, crate::compress_bytes(&other, &o).unwrap()).unwrap();
        std::fs::rename(&tmp, d.join("w.bin.znn")).unwrap();
        let e = v.open_node(node).expect_err("a replaced file was opened");
        assert!(
            e.to_string().contains("changed since it was mounted"),
            "{e}"
        );
        std::fs::remove_dir_all(&d).unwrap();
    }

    impl ViewFiles {
        fn find_plain(&self, rel: &str) -> u64 {
            self.open_node(self.view.find(Path::new(rel)).unwrap())
                .unwrap()
        }
    }
}
