//! Model pairs for delta tests (tests/delta.rs): a base safetensors file and an updated one with
//! every kind of tensor (mis)match, weights moved as training moves them.

use crate::{safetensors, tensor, Rng, Tensor};

/// `n` weights of standard deviation `sd`.
pub fn bf16_weights(rng: &mut Rng, n: usize, sd: f64) -> Vec<f32> {
    (0..n).map(|_| rng.normal(sd) as f32).collect()
}

/// `v` rounded to BF16 (nearest even), little-endian.
pub fn to_bf16(v: &[f32]) -> Vec<u8> {
    v.iter()
        .flat_map(|&x| half::bf16::from_f32(x).to_le_bytes())
        .collect()
}

/// `v` as little-endian FP32.
pub fn to_f32(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

/// One AdamW-like step: every weight moves by about `lr`.
pub fn step(rng: &mut Rng, v: &[f32], lr: f64) -> Vec<f32> {
    v.iter().map(|&x| x + rng.normal(lr) as f32).collect()
}

/// A base file and a newer one.
pub struct Pair {
    pub base: Vec<u8>,
    pub new: Vec<u8>,
}

/// A base model and an updated one with every kind of (mis)match.
pub fn model_pair(seed: u64) -> Pair {
    let mut rng = Rng::new(seed);
    let w0 = bf16_weights(&mut rng, 300_000, 0.02);
    let w1 = bf16_weights(&mut rng, 50_000, 0.02);
    let f0 = bf16_weights(&mut rng, 40_000, 1.0);
    let tiny = bf16_weights(&mut rng, 100, 1.0);
    let renamed = bf16_weights(&mut rng, 20_000, 0.02);
    let reshaped = bf16_weights(&mut rng, 20_000, 0.02);
    let retyped = bf16_weights(&mut rng, 10_000, 0.02);
    let base = vec![
        tensor("a.weight", "BF16", &[600, 500], to_bf16(&w0)),
        tensor("b.weight", "BF16", &[50_000], to_bf16(&w1)),
        tensor("c.f32", "F32", &[200, 200], to_f32(&f0)),
        tensor("tiny", "BF16", &[100], to_bf16(&tiny)),
        tensor("old.name", "BF16", &[20_000], to_bf16(&renamed)),
        tensor("reshaped", "BF16", &[100, 200], to_bf16(&reshaped)),
        tensor("retyped", "BF16", &[10_000], to_bf16(&retyped)),
        tensor(
            "removed",
            "BF16",
            &[5000],
            to_bf16(&bf16_weights(&mut rng, 5000, 0.1)),
        ),
    ];
    // Reordered, one tensor unchanged, one added, one removed, one renamed, one reshaped, one
    // with another dtype.
    let new: Vec<Tensor> = vec![
        tensor(
            "added",
            "BF16",
            &[7000],
            to_bf16(&bf16_weights(&mut rng, 7000, 0.1)),
        ),
        tensor(
            "c.f32",
            "F32",
            &[200, 200],
            to_f32(&step(&mut rng, &f0, 1e-3)),
        ),
        tensor("b.weight", "BF16", &[50_000], to_bf16(&w1)),
        tensor(
            "a.weight",
            "BF16",
            &[600, 500],
            to_bf16(&step(&mut rng, &w0, 1e-4)),
        ),
        tensor(
            "tiny",
            "BF16",
            &[100],
            to_bf16(&step(&mut rng, &tiny, 1e-3)),
        ),
        tensor("new.name", "BF16", &[20_000], to_bf16(&renamed)),
        tensor("reshaped", "BF16", &[200, 100], to_bf16(&reshaped)),
        tensor("retyped", "F16", &[10_000], to_bf16(&retyped)),
    ];
    Pair {
        base: safetensors(&base, Some(&[("format", "pt")]), true),
        new: safetensors(&new, None, true),
    }
}
