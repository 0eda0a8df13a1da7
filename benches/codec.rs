//! Criterion benchmarks of each stage and of the whole codec, on the BF16 corpus file when
//! `../shared/corpus` exists, else on synthetic BF16 weights of the same scale.
//! Throughput is in bytes of original data. Run: `cargo bench --bench codec`.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use std::path::Path;
use znn_gpu::codec::pair_decode::{Word, WordTable};
use znn_gpu::codec::{pair, rans};
use znn_gpu::huffman::decode::{decode_substreams, DecodeTables};
use znn_gpu::huffman::{code_lengths, encode::encode, CodeTable};
use znn_gpu::{compress_bytes, decompress_bytes, CompressOptions, Layout};

fn weights() -> (String, Vec<u8>) {
    let p =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus/minilm-l6.bf16.safetensors");
    if let Ok(d) = std::fs::read(&p) {
        return ("minilm-l6.bf16".into(), d);
    }
    eprintln!(
        "{} absent: benchmarking synthetic BF16 weights",
        p.display()
    );
    let mut x = 0x9E3779B97F4A7C15u64;
    let d = (0..16 << 20)
        .flat_map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            // Sum of uniforms ~ Gaussian, std ~0.02.
            let g = ((x & 0xFFFF) as f32 + (x >> 16 & 0xFFFF) as f32 + (x >> 32 & 0xFFFF) as f32)
                / 65536.0
                - 1.5;
            half::bf16::from_f32(g * 0.04).to_le_bytes()
        })
        .collect();
    ("synthetic.bf16".into(), d)
}

fn pool(n: usize) -> rayon::ThreadPool {
    rayon::ThreadPoolBuilder::new()
        .num_threads(n)
        .build()
        .unwrap()
}

fn codec(c: &mut Criterion) {
    let (name, data) = weights();
    let opts = CompressOptions::default();
    let znn = compress_bytes(&data, &opts).unwrap();
    let mut g = c.benchmark_group("codec");
    g.sample_size(10);
    g.throughput(Throughput::Bytes(data.len() as u64));
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    for t in [1, threads] {
        let p = pool(t);
        g.bench_function(BenchmarkId::new(format!("compress/{t}t"), &name), |b| {
            b.iter(|| p.install(|| compress_bytes(&data, &opts).unwrap()))
        });
        g.bench_function(BenchmarkId::new(format!("decompress/{t}t"), &name), |b| {
            b.iter(|| p.install(|| decompress_bytes(&znn).unwrap()))
        });
    }
    g.finish();
}

fn stages(c: &mut Criterion) {
    let (_, data) = weights();
    // One BF16 chunk's worth of the middle of the file.
    let mid = (data.len() / 2) & !1;
    let chunk = &data[mid..mid + 256 * 1024];
    let mut streams = vec![Vec::new(); 2];
    Layout::Bf16.split(chunk, &mut streams);
    let mut g = c.benchmark_group("stages");
    g.throughput(Throughput::Bytes(chunk.len() as u64));
    g.bench_function("split_bf16", |b| {
        b.iter(|| Layout::Bf16.split(chunk, &mut streams))
    });
    let mut out = vec![0u8; chunk.len()];
    g.bench_function("merge_bf16", |b| {
        b.iter(|| Layout::Bf16.merge(&[&streams[0], &streams[1]], &mut out))
    });
    let e = &streams[0];
    let mut h = [0u64; 256];
    for &s in e.iter() {
        h[s as usize] += 1;
    }
    let lens = code_lengths(&h);
    let (mut buf, mut subs) = (Vec::new(), Vec::new());
    g.throughput(Throughput::Bytes(e.len() as u64));
    g.bench_function("huffman_encode_exponents", |b| {
        b.iter(|| {
            buf.clear();
            subs.clear();
            encode(e, &lens, 4096, &mut buf, &mut subs)
        })
    });
    // The decode benches need the encoded stream even when the encode bench is filtered out.
    buf.clear();
    subs.clear();
    encode(e, &lens, 4096, &mut buf, &mut subs);
    let (table, tsize) = CodeTable::parse(&buf).unwrap();
    let mut t = DecodeTables::default();
    buf.extend_from_slice(&[0; 8]);
    let mut dec = vec![0u8; e.len()];
    g.bench_function("huffman_table_build", |b| {
        b.iter(|| {
            t = DecodeTables::default();
            t.build(&table.lens, true)
        })
    });
    t.build(&table.lens, true);
    g.bench_function("huffman_decode_exponents", |b| {
        b.iter(|| decode_substreams(&buf, tsize, &subs, 4096, &t, &mut dec).unwrap())
    });
    // The same exponents rANS coded (codec 6).
    let (_, freq) = rans::estimate(&h, e.len(), 4096);
    let mut rbuf = Vec::new();
    g.bench_function("rans_encode_exponents", |b| {
        b.iter(|| {
            rbuf.clear();
            rans::encode(e, &freq, 4096, &mut rbuf)
        })
    });
    rbuf.clear();
    let rsubs = rans::encode(e, &freq, 4096, &mut rbuf);
    let mut rt = rans::DecodeTable::default();
    let mut rdec = Vec::new();
    g.bench_function("rans_decode_exponents", |b| {
        b.iter(|| {
            rans::decode(e.len(), 4096, &rbuf, rbuf.len(), &rsubs, &mut rt, &mut rdec).unwrap()
        })
    });
    assert_eq!(&rdec, e, "rans decode gives the exponents back");
    g.bench_function("xxh3_chunk", |b| {
        b.iter(|| xxhash_rust::xxh3::xxh3_64(chunk))
    });
    // Pair code K = 3 over both streams (codec 4), decoded straight into BF16 elements.
    let n = streams[0].len();
    g.throughput(Throughput::Bytes(chunk.len() as u64));
    g.bench_function("pair_histogram_plan", |b| {
        b.iter(|| pair::plan(&pair::histogram(&streams[0], &streams[1]), n, 4096, &[3]))
    });
    let plan = pair::plan(&pair::histogram(&streams[0], &streams[1]), n, 4096, &[3]).unwrap();
    let mut coded = Vec::new();
    g.bench_function("pair_encode", |b| {
        b.iter(|| {
            coded.clear();
            pair::encode(&streams[0], &streams[1], &plan, 4096, &mut coded)
        })
    });
    coded.clear();
    let subs = pair::encode(&streams[0], &streams[1], &plan, 4096, &mut coded);
    let len = coded.len();
    coded.extend_from_slice(&[0; 8]);
    let mut wt = WordTable::default();
    g.bench_function("pair_decode_bf16", |b| {
        b.iter(|| {
            pair::decode_into::<2, 0>(
                n,
                4096,
                &coded,
                len,
                3,
                &subs,
                Word::Float,
                &mut wt,
                &mut out,
            )
            .unwrap()
        })
    });
    assert_eq!(out, chunk, "pair decode gives the chunk back");
    g.finish();
}

criterion_group!(benches, stages, codec);
criterion_main!(benches);
