//! The weight files of a model folder, as transformers would read them from the original folder,
//! found in its compressed form through the [`FolderView`]: `NAME.znn` stands for `NAME`, and a
//! shard index (`model.safetensors.index.json`, never compressed: it is not a weight file) still
//! names the original shard files. Python's `load_folder` and `from_pretrained` read through it.
//!
//! - A Hugging Face cache repo folder (`models--org--name`, with `refs/` and `snapshots/`) means
//!   the snapshot `refs/main` names (or its only snapshot).
//! - Shards: the index's `weight_map` values, sorted and deduplicated (transformers'
//!   `get_checkpoint_shard_files` order); without an index, `model.safetensors` when present, else
//!   every `*.safetensors` of the folder's top level, by name.
//! - A single file is a model of one shard.

#![forbid(unsafe_code)]

use super::view::{FolderView, NodeKind};
use crate::error::{Error, Result};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

const INDEX_SUFFIX: &str = ".safetensors.index.json";
const SINGLE: &str = "model.safetensors";

/// One weight file of a model.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Shard {
    /// Its original name, relative to the model folder.
    pub name: String,
    /// The file that holds it: `NAME.znn`, or `NAME` when it was left uncompressed.
    pub path: PathBuf,
    pub compressed: bool,
}

/// The weight files of a model folder.
#[derive(Clone, Debug)]
pub struct ModelFiles {
    /// The folder (a cache repo resolved to its snapshot).
    pub root: PathBuf,
    /// In the order transformers reads them.
    pub shards: Vec<Shard>,
    /// The index's tensor -> shard name map, when the folder has an index.
    pub weight_map: Option<BTreeMap<String, String>>,
}

impl ModelFiles {
    /// The weight files of the model at `path` (a folder, a cache repo folder, or one file).
    pub fn open(path: &Path) -> Result<ModelFiles> {
        let root = snapshot(path)?;
        let view = FolderView::open(&root)?;
        if root.is_file() {
            // The view of one file is a root holding it under its original name.
            let root_node = view.node(view.root());
            let only = root_node.and_then(|n| n.children.iter().next());
            let Some((name, node)) = only.and_then(|(n, &i)| Some((n, view.node(i)?))) else {
                return Err(Error::invalid(format!(
                    "{} holds no weights",
                    root.display()
                )));
            };
            let (path, compressed) = match &node.kind {
                NodeKind::Znn { real, .. } => (real.clone(), true),
                _ => (root.clone(), false),
            };
            let name = name.to_string_lossy().into_owned();
            return Ok(ModelFiles {
                shards: vec![Shard {
                    name,
                    path,
                    compressed,
                }],
                root,
                weight_map: None,
            });
        }
        let top: Vec<String> = view
            .node(view.root())
            .map(|n| {
                n.children
                    .iter()
                    .filter(|(_, &i)| view.node(i).is_some_and(|c| c.kind != NodeKind::Dir))
                    .map(|(name, _)| name.to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        let indexes: Vec<&String> = top.iter().filter(|n| n.ends_with(INDEX_SUFFIX)).collect();
        let index = match indexes.as_slice() {
            [] => None,
            [one] => Some(one.as_str()),
            _ if top.iter().any(|n| n == "model.safetensors.index.json") => {
                Some("model.safetensors.index.json")
            }
            many => {
                let names: Vec<&str> = many.iter().map(|s| s.as_str()).collect();
                return Err(Error::invalid(format!(
                    "{} has several shard indexes ({}): open one shard at a time",
                    root.display(),
                    names.join(", ")
                )));
            }
        };
        let (names, weight_map) = match index {
            Some(ix) => {
                let wm = read_weight_map(&view, &root, ix)?;
                let mut names: Vec<String> = wm.values().cloned().collect();
                names.sort();
                names.dedup();
                (names, Some(wm))
            }
            None if top.iter().any(|n| n == SINGLE) => (vec![SINGLE.to_string()], None),
            None => (
                top.iter()
                    .filter(|n| n.ends_with(".safetensors"))
                    .cloned()
                    .collect(),
                None,
            ),
        };
        if names.is_empty() {
            return Err(Error::invalid(format!(
                "no safetensors weights (NAME.safetensors or NAME.safetensors.znn) in {}",
                root.display()
            )));
        }
        let shards = names
            .into_iter()
            .map(|name| {
                let node = view.find(Path::new(&name)).and_then(|i| view.node(i));
                match node.map(|n| &n.kind) {
                    Some(NodeKind::Znn { real, .. }) => Ok(Shard {
                        path: real.clone(),
                        compressed: true,
                        name,
                    }),
                    Some(NodeKind::File { real, .. }) => Ok(Shard {
                        path: real.clone(),
                        compressed: false,
                        name,
                    }),
                    _ => Err(Error::invalid(format!(
                        "shard {name} is missing from {} (neither {name}.znn nor {name})",
                        root.display()
                    ))),
                }
            })
            .collect::<Result<_>>()?;
        Ok(ModelFiles {
            root,
            shards,
            weight_map,
        })
    }

    /// Checks the tensors found in each shard (`found[i]` for `shards[i]`) against each other and
    /// against the index: no tensor in two shards, and, with an index, each tensor where the
    /// index puts it and every indexed tensor present.
    pub fn check(&self, found: &[Vec<String>]) -> Result<()> {
        let mut at: HashMap<&str, &str> = HashMap::new();
        for (shard, names) in self.shards.iter().zip(found) {
            for n in names {
                if let Some(other) = at.insert(n.as_str(), shard.name.as_str()) {
                    return Err(Error::corrupt(format!(
                        "tensor {n} is in two shards ({other} and {})",
                        shard.name
                    )));
                }
            }
        }
        let Some(wm) = &self.weight_map else {
            return Ok(());
        };
        if let Some((t, s)) = wm.iter().find(|(t, _)| !at.contains_key(t.as_str())) {
            return Err(Error::corrupt(format!(
                "the shard index puts tensor {t} in {s}, which does not hold it"
            )));
        }
        if let Some((t, s)) = at
            .iter()
            .find(|(t, s)| wm.get(**t).map(String::as_str) != Some(**s))
        {
            return Err(Error::corrupt(match wm.get(*t) {
                Some(w) => format!("tensor {t} is in {s}, the shard index says {w}"),
                None => format!("tensor {t} of {s} is not in the shard index"),
            }));
        }
        Ok(())
    }
}

/// A Hugging Face cache repo folder (`refs/` and `snapshots/` side by side) resolved to the
/// snapshot that `refs/main` names, or to its only snapshot; any other path as it is.
pub fn snapshot(path: &Path) -> Result<PathBuf> {
    let snaps = path.join("snapshots");
    if !snaps.is_dir() {
        if !path.exists() {
            return Err(Error::io(
                format!("reading {}", path.display()),
                std::io::Error::from(std::io::ErrorKind::NotFound),
            ));
        }
        return Ok(path.to_path_buf());
    }
    if let Ok(rev) = std::fs::read_to_string(path.join("refs").join("main")) {
        let d = snaps.join(rev.trim());
        if !rev.trim().is_empty() && d.is_dir() {
            return Ok(d);
        }
    }
    let read = |e| Error::io(format!("reading {}", snaps.display()), e);
    let mut revs: Vec<PathBuf> = std::fs::read_dir(&snaps)
        .map_err(read)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_dir())
        .collect();
    match revs.len() {
        1 => Ok(revs.remove(0)),
        n => Err(Error::invalid(format!(
            "{} has {n} snapshots and no usable refs/main: open one of its snapshots/REV",
            path.display()
        ))),
    }
}

/// The `weight_map` of the index file `name` at the top of `view`.
fn read_weight_map(view: &FolderView, root: &Path, name: &str) -> Result<BTreeMap<String, String>> {
    let node = view.find(Path::new(name)).and_then(|i| view.node(i));
    let shown = root.join(name);
    let bytes = match node.map(|n| &n.kind) {
        Some(NodeKind::File { real, .. }) => {
            std::fs::read(real).map_err(|e| Error::io(format!("reading {}", shown.display()), e))?
        }
        Some(NodeKind::Znn { real, .. }) => {
            let r = crate::reader::Reader::open(real, &Default::default())?;
            r.read_range(0, r.len())?
        }
        _ => return Err(Error::invalid(format!("{} is missing", shown.display()))),
    };
    let bad = |why: &str| Error::corrupt(format!("{}: {why}", shown.display()));
    let v: serde_json::Value =
        serde_json::from_slice(&bytes).map_err(|e| bad(&format!("not JSON ({e})")))?;
    let wm = v
        .get("weight_map")
        .and_then(|m| m.as_object())
        .ok_or_else(|| bad("no weight_map object"))?;
    wm.iter()
        .map(|(t, s)| match s.as_str() {
            Some(s) => Ok((t.clone(), s.to_string())),
            None => Err(bad(&format!("weight_map entry {t} is not a file name"))),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("znn-model-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    fn znn() -> Vec<u8> {
        let w: Vec<u8> = (0..5_000u32)
            .flat_map(|i| (i as f32).to_le_bytes())
            .collect();
        crate::compress_bytes(&w, &Default::default()).unwrap()
    }

    #[test]
    fn sharded_folder_through_its_index() {
        let d = dir("sharded");
        let index = r#"{"metadata":{},"weight_map":{"a":"m-2.safetensors","b":"m-1.safetensors","c":"m-2.safetensors"}}"#;
        std::fs::write(d.join("model.safetensors.index.json"), index).unwrap();
        std::fs::write(d.join("m-1.safetensors.znn"), znn()).unwrap();
        std::fs::write(d.join("m-2.safetensors"), b"plain").unwrap();
        std::fs::write(d.join("other.safetensors.znn"), znn()).unwrap();
        let m = ModelFiles::open(&d).unwrap();
        let got: Vec<(&str, bool)> = m
            .shards
            .iter()
            .map(|s| (s.name.as_str(), s.compressed))
            .collect();
        assert_eq!(got, [("m-1.safetensors", true), ("m-2.safetensors", false)]);
        assert!(m.shards[0].path.ends_with("m-1.safetensors.znn"));
        let v = |s: &[&str]| s.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        m.check(&[v(&["b"]), v(&["a", "c"])]).unwrap();
        for bad in [
            [v(&["b"]), v(&["a"])],           // c missing
            [v(&["b", "a"]), v(&["c"])],      // a in the wrong shard
            [v(&["b"]), v(&["a", "c", "d"])], // d not indexed
            [v(&["b", "a"]), v(&["a", "c"])], // a twice
        ] {
            assert_eq!(m.check(&bad).unwrap_err().kind(), crate::ErrorKind::Corrupt);
        }
        std::fs::remove_file(d.join("m-2.safetensors")).unwrap();
        let e = ModelFiles::open(&d).unwrap_err();
        assert!(e.to_string().contains("m-2.safetensors is missing"), "{e}");
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn unsharded_cache_repo_and_single_file() {
        let d = dir("repo");
        let rev = "0123abcd";
        let snap = d.join("snapshots").join(rev);
        std::fs::create_dir_all(&snap).unwrap();
        std::fs::create_dir_all(d.join("refs")).unwrap();
        std::fs::create_dir_all(d.join("blobs")).unwrap();
        std::fs::write(d.join("refs/main"), rev).unwrap();
        std::fs::write(d.join("blobs/b1"), znn()).unwrap();
        #[cfg(unix)]
        std::os::unix::fs::symlink("../../blobs/b1", snap.join("model.safetensors.znn")).unwrap();
        #[cfg(not(unix))]
        std::fs::write(snap.join("model.safetensors.znn"), znn()).unwrap();
        std::fs::write(snap.join("adapter.safetensors"), b"x").unwrap();
        let m = ModelFiles::open(&d).unwrap();
        assert_eq!(m.root, snap);
        assert_eq!(m.shards.len(), 1);
        assert_eq!(m.shards[0].name, "model.safetensors");
        assert!(m.shards[0].compressed);
        let one = ModelFiles::open(&snap.join("model.safetensors.znn")).unwrap();
        assert_eq!(one.shards[0].name, "model.safetensors");
        assert!(one.shards[0].compressed);
        std::fs::remove_dir_all(&d).unwrap();
        assert_eq!(
            ModelFiles::open(&d).unwrap_err().kind(),
            crate::ErrorKind::Io
        );
    }
}
