//! One-thread in-memory decode of a .znn file, two ways, best of RUNS each:
//! `cargo run --release --example inmem_decode -- FILE.znn [RUNS]`.
//!
//! - `decompress_bytes`: a fresh output each run, as `znn-gpu bench` times it (and as ZipNN's
//!   in-memory figure does): the kernel zeroes every new page the first time it is written.
//! - `Engine::decode` into one buffer reused across runs: the codec's own speed, no page faults.
//!
//! The gap between the two is what the allocation costs, not the decoder.

use std::time::Instant;
use znn_gpu::engine::Engine;
use znn_gpu::{decompress_bytes, Archive};

fn best(runs: usize, mut f: impl FnMut()) -> f64 {
    (0..runs)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed().as_secs_f64()
        })
        .fold(f64::MAX, f64::min)
}

fn main() {
    let mut args = std::env::args().skip(1);
    let path = args.next().expect("FILE.znn [RUNS]");
    let runs: usize = args.next().map_or(20, |s| s.parse().expect("RUNS"));
    let z = std::fs::read(&path).expect("read");
    let a = Archive::from_bytes(&z).expect("archive");
    let n = a.original_len() as usize;
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .expect("pool");
    let fresh = pool.install(|| {
        best(runs, || {
            std::hint::black_box(decompress_bytes(&z).expect("decode"));
        })
    });
    let engine = Engine::new(&a, &z, None).expect("engine");
    let mut out = vec![0u8; n];
    let reused = pool.install(|| {
        best(runs, || {
            engine
                .decode(0..a.index.chunks().len(), &mut out)
                .expect("decode")
        })
    });
    assert_eq!(out, decompress_bytes(&z).expect("decode"));
    let gbs = |s: f64| n as f64 / s / 1e9;
    println!(
        "{path}: {n} bytes, 1 thread, best of {runs}: fresh output {:.2} GB/s, reused buffer {:.2} GB/s",
        gbs(fresh),
        gbs(reused)
    );
}
