//! What the Python package builds on: a safetensors file written from its parts (header and each
//! tensor's memory) and compressed without joining them; the strict table a loader reads tensors
//! by; the weight files of a compressed model folder.

use znn_test_support as common;

use common::*;
use znn_gpu::files::{self, FileOptions};
use znn_gpu::folder::ModelFiles;
use znn_gpu::safetensors::{read_table, Serialized, TensorData};
use znn_gpu::{compress_bytes, compress_parts, decompress_bytes, ErrorKind, Reader};

fn tensors(rng: &mut Rng) -> Vec<(String, String, Vec<u64>, Vec<u8>)> {
    let bf16 = f32_to_bf16(&encode_floats(
        znn_gpu::Layout::Fp32,
        &mixed_floats(rng, 300_000),
    ));
    vec![
        ("w.bf16".into(), "BF16".into(), vec![600, 500], bf16),
        ("b".into(), "F32".into(), vec![3], rng.bytes(12)),
        ("e".into(), "I64".into(), vec![0], vec![]),
        ("s".into(), "U8".into(), vec![], vec![9]),
    ]
}

fn serialized<'a>(
    t: &'a [(String, String, Vec<u64>, Vec<u8>)],
    meta: Option<&[(String, String)]>,
) -> Serialized<'a> {
    let v = t
        .iter()
        .map(|(n, d, s, b)| TensorData {
            name: n.clone(),
            dtype: d.clone(),
            shape: s.clone(),
            data: b,
        })
        .collect();
    Serialized::new(v, meta).unwrap()
}

#[test]
fn parts_compress_like_the_joined_file() {
    let t = tensors(&mut Rng::new(11));
    let meta = [("format".to_string(), "pt".to_string())];
    let s = serialized(&t, Some(&meta));
    let whole = s.to_vec();
    assert_eq!(s.len(), whole.len() as u64);
    let mut out = Vec::new();
    let stats = compress_parts(&s.parts(), &mut out, &Default::default(), &mut |_| {}).unwrap();
    assert_eq!(stats.original_len, whole.len() as u64);
    // The same plan and the same chunks as compressing the joined bytes.
    assert_eq!(out, compress_bytes(&whole, &Default::default()).unwrap());
    assert_same(&decompress_bytes(&out).unwrap(), &whole, "parts");
    // Empty and one-byte parts anywhere.
    let pieces: Vec<&[u8]> = whole.chunks(100_003).collect();
    let mut odd: Vec<&[u8]> = vec![&[]];
    for p in &pieces {
        odd.push(&p[..1]);
        odd.push(&[]);
        odd.push(&p[1..]);
    }
    let mut out2 = Vec::new();
    compress_parts(&odd, &mut out2, &Default::default(), &mut |_| {}).unwrap();
    assert_eq!(out2, out);
}

#[test]
fn compress_parts_to_a_file_and_read_the_table_back() {
    let t = tensors(&mut Rng::new(12));
    let s = serialized(&t, None);
    let d = test_tmp("parts-file");
    let p = d.join("m.safetensors.znn");
    let f = FileOptions {
        hash: true,
        ..Default::default()
    };
    let done = files::compress_parts(&s.parts(), &p, &Default::default(), &f).unwrap();
    assert_eq!(done.original, s.len());
    let (len, hash) = files::decoded_hash(&p, None).unwrap();
    assert_eq!((len, hash), (s.len(), done.hash));
    // An existing output is refused unless forced, and left as it was.
    let e = files::compress_parts(&s.parts(), &p, &Default::default(), &Default::default())
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidArgument);
    let r = Reader::open(&p, &Default::default()).unwrap();
    let table = r.table().unwrap();
    let names: Vec<&str> = table.tensors.iter().map(|t| t.name.as_str()).collect();
    // Data order: descending dtype rank (I64 > F32 > BF16 > U8), then name.
    assert_eq!(names, ["e", "b", "w.bf16", "s"]);
    assert_eq!(table, &read_table(&s.to_vec()[..]).unwrap());
    let w = &table.tensors[2];
    assert_eq!(r.read_range(w.start, w.end).unwrap(), t[0].3);
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn table_refuses_what_safetensors_refuses() {
    // Not safetensors at all.
    let raw = compress_bytes(&Rng::new(1).bytes(50_000), &Default::default()).unwrap();
    let r = Reader::from_bytes(raw, &Default::default()).unwrap();
    assert_eq!(r.table().unwrap_err().kind(), ErrorKind::InvalidArgument);
    // A table with a gap between tensors: planned (and compressed) fine, refused as a table.
    let gap = safetensors(
        &[
            tensor("a", "F32", &[2], vec![1; 8]),
            tensor("pad", "U8", &[4], vec![0; 4]),
            tensor("b", "F32", &[1], vec![2; 4]),
        ],
        None,
        true,
    );
    let mut v: serde_json::Value = {
        let n = u64::from_le_bytes(gap[..8].try_into().unwrap()) as usize;
        serde_json::from_slice(&gap[8..8 + n]).unwrap()
    };
    v.as_object_mut().unwrap().remove("pad");
    let mut json = serde_json::to_vec(&v).unwrap();
    let n0 = u64::from_le_bytes(gap[..8].try_into().unwrap()) as usize;
    json.resize(n0, b' ');
    let mut forged = gap.clone();
    forged[8..8 + n0].copy_from_slice(&json);
    let z = compress_bytes(&forged, &Default::default()).unwrap();
    let r = Reader::from_bytes(z, &Default::default()).unwrap();
    assert!(r.tensors().unwrap().is_some());
    assert_eq!(r.table().unwrap_err().kind(), ErrorKind::Corrupt);
    assert_eq!(
        read_table(&forged[..]).unwrap_err().kind(),
        ErrorKind::Corrupt
    );
}

#[test]
fn shipped_model_table_matches_the_plain_file() {
    let m = repo_model();
    let z = compress_bytes(&m, &Default::default()).unwrap();
    let r = Reader::from_bytes(z, &Default::default()).unwrap();
    assert_eq!(r.table().unwrap(), &read_table(&m[..]).unwrap());
}

#[test]
fn model_folder_after_compress_dir() {
    let d = test_tmp("parts-folder");
    let src = d.join("src");
    std::fs::create_dir_all(&src).unwrap();
    let t = tensors(&mut Rng::new(13));
    let one = serialized(&t[..2], None).to_vec();
    let two = serialized(&t[2..], None).to_vec();
    std::fs::write(src.join("model-1.safetensors"), &one).unwrap();
    std::fs::write(src.join("model-2.safetensors"), &two).unwrap();
    let index = r#"{"weight_map":{"w.bf16":"model-1.safetensors","b":"model-1.safetensors","e":"model-2.safetensors","s":"model-2.safetensors"}}"#;
    std::fs::write(src.join("model.safetensors.index.json"), index).unwrap();
    let out = d.join("out");
    let decoder = znn_gpu::Decoder::cpu();
    let o = znn_gpu::folder::FolderOptions {
        output: Some(&out),
        force: false,
        in_place: false,
        base: None,
        codec: Default::default(),
        decoder: &decoder,
        events: &znn_gpu::folder::Quiet,
    };
    znn_gpu::folder::run(znn_gpu::folder::Direction::Compress, &src, &o).unwrap();
    let m = ModelFiles::open(&out).unwrap();
    let names: Vec<&str> = m.shards.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["model-1.safetensors", "model-2.safetensors"]);
    let mut found = Vec::new();
    for (s, want) in m.shards.iter().zip([&one, &two]) {
        assert!(s.compressed && s.path.to_string_lossy().ends_with(".znn"));
        let r = Reader::open(&s.path, &Default::default()).unwrap();
        assert_eq!(&r.read_range(0, r.len()).unwrap(), want);
        found.push(
            r.table()
                .unwrap()
                .tensors
                .iter()
                .map(|t| t.name.clone())
                .collect(),
        );
    }
    m.check(&found).unwrap();
    std::fs::remove_dir_all(&d).unwrap();
}

/// A fresh folder for one test.
fn test_tmp(tag: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("znn-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}
