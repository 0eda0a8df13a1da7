//! Writes synthetic weights for size and memory tests that the corpus cannot cover (many-GiB files):
//! `cargo run --release --example synth -- OUT SIZE_MIB [bf16|fp32] [moved]`. Values are
//! Gaussian-like (sum of three uniforms) with a per-"tensor" scale, streamed in 1 MiB blocks
//! (constant memory). `moved`: the same weights, each moved by a relative step of about 0.2%
//! (a fine-tuned copy, for checkpoint deltas against the file written without it).

use std::io::Write;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 3 {
        eprintln!("usage: synth OUT SIZE_MIB [bf16|fp32] [moved]");
        std::process::exit(2);
    }
    let mib: u64 = args[2].parse().expect("SIZE_MIB");
    let fp32 = args.get(3).map(|s| s == "fp32").unwrap_or(false);
    let moved = args.get(4).map(|s| s == "moved").unwrap_or(false);
    let mut f = std::io::BufWriter::new(std::fs::File::create(&args[1]).expect("create OUT"));
    let mut x = 0x9E3779B97F4A7C15u64;
    // The moves' own generator: the weights' sequence is the same with or without `moved`.
    let mut y = 0x2545F4914F6CDD1Du64;
    let mut block = Vec::with_capacity(1 << 20);
    for b in 0..mib {
        // A new scale every 64 MiB, like consecutive tensors of different widths.
        let scale = 0.01 + 0.05 * ((b / 64) % 7) as f32 / 7.0;
        block.clear();
        while block.len() < 1 << 20 {
            let mut v = gauss(&mut x) * 2.0 * scale;
            if moved {
                v *= 1.0 + gauss(&mut y) * 4e-3;
            }
            if fp32 {
                block.extend_from_slice(&v.to_le_bytes());
            } else {
                block.extend_from_slice(&half::bf16::from_f32(v).to_le_bytes());
            }
        }
        f.write_all(&block).expect("write");
    }
    f.flush().expect("flush");
}

/// The next xorshift64 state of `x`, as a sum of three uniforms centred on 0 (in -1.5..1.5).
fn gauss(x: &mut u64) -> f32 {
    *x ^= *x << 13;
    *x ^= *x >> 7;
    *x ^= *x << 17;
    ((*x & 0xFFFF) + (*x >> 16 & 0xFFFF) + (*x >> 32 & 0xFFFF)) as f32 / 65536.0 - 1.5
}
