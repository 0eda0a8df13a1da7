//! Staged bytes per GPU window of a .znn file (planner accounting, no adapter):
//! `cargo run --release --example stage_bytes -- FILE.znn`. `tables before` is what the host
//! uploaded when it expanded the tables itself (4 KiB per Huffman stream, 8 KiB per pair stream);
//! now the kernels build them from the payload and nothing is uploaded for them.

use znn_gpu::gpu::plan::{build_window, plan_windows, WindowLimits};
use znn_gpu::Archive;

fn main() {
    let path = std::env::args().nth(1).expect("FILE.znn");
    let z = std::fs::read(&path).expect("read");
    let a = Archive::from_bytes(&z).expect("archive");
    let data = &z[Archive::DATA_START as usize..];
    let lim = WindowLimits {
        max_binding: (1 << 30) - 4,
        offset_align: 256,
        window_bytes: 256 << 20,
    };
    let ws = plan_windows(&a.index, &lim).expect("plan");
    for r in ws {
        let first = a.index.chunks()[r.start].data_offset as usize;
        let w = build_window(
            &a.index,
            r.clone(),
            &data[first..],
            0,
            &mut Default::default(),
            true,
        )
        .unwrap();
        // One table per stream: the jobs of a stream share its table offset.
        let mut seen = std::collections::BTreeMap::new();
        let pair_from = w.jobs.len() - w.pair_jobs - w.fused_jobs;
        for (i, j) in w.jobs.iter().enumerate() {
            let pair = if i < pair_from {
                false
            } else if i < w.jobs.len() - w.fused_jobs {
                true
            } else {
                (j[2] >> 8) & 0xFF != 0
            };
            seen.insert(j[0], if pair { 8192 } else { 4096 });
        }
        let tables: usize = seen.values().sum();
        let desc = w.jobs.len() * 16 + w.subs.len() * 16 + w.chunk_words.len() * 4 + 16 + 64;
        let comp = w.comp_len().div_ceil(4) * 4;
        let now = comp as usize + desc;
        println!(
            "chunks {r:?}: comp {comp} descriptors {desc} total {now}; tables before {tables}, \
             total before {}",
            now + tables
        );
    }
}
