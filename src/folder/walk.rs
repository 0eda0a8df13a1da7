//! Listing a model folder: which files are weights, which are `.znn`, which are left alone.

use crate::error::{Error, Result};
use std::collections::HashSet;
use std::io::Read;
use std::path::{Path, PathBuf};

/// Extensions of weight files (recognised without looking at the content).
const WEIGHT_EXT: &[&str] = &[
    "safetensors",
    "bin",
    "pt",
    "pth",
    "ckpt",
    "gguf",
    "ggml",
    "npy",
    "npz",
    "h5",
    "hdf5",
    "onnx",
    "msgpack",
    "tflite",
    "pb",
    "ot",
    "pdparams",
    "mlx",
];

pub use crate::files::OWN_PREFIX;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Weights to compress.
    Weight,
    /// Already compressed.
    Znn,
    /// Left alone (copied into a mirrored output tree).
    Other,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Weight => "weights",
            Kind::Znn => "znn",
            Kind::Other => "other",
        }
    }
}

/// One file of a folder.
#[derive(Clone, Debug)]
pub struct Entry {
    /// Path relative to the folder walked.
    pub rel: PathBuf,
    /// The path as found (through the folder: may be a symlink).
    pub path: PathBuf,
    pub kind: Kind,
    /// Length of the file (of the link's target for a symlink).
    pub len: u64,
    /// The path is a symlink (to a regular file).
    pub link: bool,
}

/// Lists `root` recursively (sorted, symlinks followed). A Hugging Face repo folder (`blobs/` and
/// `snapshots/` side by side) is listed through `snapshots/` only: its blobs are the snapshots'
/// link targets, not files of their own. `.git` folders are skipped. Unusable entries (dangling
/// links, FIFOs, sockets, devices, unreadable folders) are collected in the error, all of them.
pub fn walk(root: &Path) -> Result<Vec<Entry>> {
    let mut out = Vec::new();
    let mut problems = Vec::new();
    let mut seen = HashSet::new();
    visit(root, Path::new(""), &mut seen, &mut out, &mut problems);
    if !problems.is_empty() {
        return Err(Error::invalid(format!(
            "cannot process {}:\n  {}",
            root.display(),
            problems.join("\n  ")
        )));
    }
    Ok(out)
}

/// The single file `path` as an entry (named on the command line: a weight whatever its content,
/// unless it is a `.znn`).
pub fn single(path: &Path) -> Result<Entry> {
    let lm = std::fs::symlink_metadata(path)
        .map_err(|e| Error::io(format!("reading {}", path.display()), e))?;
    let m =
        std::fs::metadata(path).map_err(|e| Error::io(format!("reading {}", path.display()), e))?;
    if !m.is_file() {
        return Err(Error::invalid(format!(
            "{} is not a regular file",
            path.display()
        )));
    }
    let znn = crate::files::is_znn_name(path);
    Ok(Entry {
        rel: PathBuf::from(path.file_name().unwrap_or(path.as_os_str())),
        path: path.to_path_buf(),
        kind: if znn { Kind::Znn } else { Kind::Weight },
        len: m.len(),
        link: lm.file_type().is_symlink(),
    })
}

fn visit(
    dir: &Path,
    rel: &Path,
    seen: &mut HashSet<PathBuf>,
    out: &mut Vec<Entry>,
    problems: &mut Vec<String>,
) {
    // A symlinked folder that leads back up the tree would loop forever.
    match dir.canonicalize() {
        Ok(c) if !seen.insert(c.clone()) => return,
        Ok(_) => {}
        Err(e) => return problems.push(format!("{}: {e}", dir.display())),
    }
    let mut names: Vec<_> = match std::fs::read_dir(dir) {
        Ok(rd) => rd.filter_map(|e| e.ok().map(|e| e.file_name())).collect(),
        Err(e) => return problems.push(format!("{}: {e}", dir.display())),
    };
    names.sort();
    if names.iter().any(|n| n == "blobs") && names.iter().any(|n| n == "snapshots") {
        names.retain(|n| n == "snapshots");
    }
    for name in names {
        let s = name.to_string_lossy();
        if s.starts_with(OWN_PREFIX) || s == ".git" {
            continue;
        }
        let path = dir.join(&name);
        let r = rel.join(&name);
        let link = std::fs::symlink_metadata(&path).is_ok_and(|m| m.file_type().is_symlink());
        let m = match std::fs::metadata(&path) {
            Ok(m) => m,
            Err(e) if link => {
                problems.push(format!("{}: dangling symlink ({e})", path.display()));
                continue;
            }
            Err(e) => {
                problems.push(format!("{}: {e}", path.display()));
                continue;
            }
        };
        if m.is_dir() {
            visit(&path, &r, seen, out, problems);
        } else if !m.is_file() {
            problems.push(format!("{}: not a regular file", path.display()));
        } else {
            match classify(&path, m.len()) {
                Ok(kind) => out.push(Entry {
                    rel: r,
                    path,
                    kind,
                    len: m.len(),
                    link,
                }),
                Err(e) => problems.push(e.to_string()),
            }
        }
    }
}

/// Weights are recognised by content (safetensors header, GGUF, PyTorch zip, pickle, NumPy, HDF5
/// magic) or by extension. Anything else (configs, tokenizers, READMEs, images) is left alone
/// whatever its size: compressing bytes that are not numbers gains nothing, and a file left alone
/// is restored exactly by definition.
pub fn classify(path: &Path, len: u64) -> Result<Kind> {
    let name = path.file_name().map(|n| n.to_string_lossy().to_lowercase());
    let name = name.as_deref().unwrap_or("");
    let ext = name.rsplit_once('.').map(|(_, e)| e).unwrap_or("");
    if ext == "znn" {
        return Ok(Kind::Znn);
    }
    let mut head = [0u8; 16];
    let n = {
        let mut f = std::fs::File::open(path)
            .map_err(|e| Error::io(format!("opening {}", path.display()), e))?;
        let mut n = 0;
        while n < head.len() {
            match f.read(&mut head[n..]) {
                Ok(0) => break,
                Ok(k) => n += k,
                Err(e) => return Err(Error::io(format!("reading {}", path.display()), e)),
            }
        }
        n
    };
    if is_weight_magic(&head[..n], len) || WEIGHT_EXT.contains(&ext) {
        Ok(Kind::Weight)
    } else {
        Ok(Kind::Other)
    }
}

fn is_weight_magic(h: &[u8], len: u64) -> bool {
    let safetensors = crate::safetensors::header_len(h, len).is_some() && h.get(8) == Some(&b'{');
    safetensors
        || h.starts_with(b"GGUF")
        || h.starts_with(b"PK\x03\x04")
        || (h.len() >= 2 && h[0] == 0x80 && (2..=5).contains(&h[1]))
        || h.starts_with(b"\x93NUMPY")
        || h.starts_with(b"\x89HDF\r\n\x1a\n")
}
