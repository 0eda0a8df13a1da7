//! Realistic checkpoint sequences and fine-tune pairs for measuring checkpoint deltas.
//!
//! ```text
//! cargo run --release --example checkpoints -- OUTDIR [--steps N] [--every K] [--dtype bf16|fp32]
//!                                                     [--seed S] [--lr LR] [--finetune]
//! ```
//!
//! Sequence mode (default): trains an MLP classifier (~4.2 M parameters: `embed.weight`
//! 8192x128 looked up for 4 tokens, 3 hidden layers of width 1024 each followed by a layer norm and
//! GELU, `head.weight` 512x1024) with AdamW (beta1 0.9, beta2 0.999, lr 1e-3, weight decay 0.01 on
//! matrices) on mini-batches of 32 samples labelled by a random teacher network, and writes
//! `OUTDIR/ckpt-{step:06}.safetensors` after steps K, 2K, ..., N (defaults: N 100, K 10). Every
//! weight of the dense layers moves each step by about lr (Adam normalises step sizes); embedding
//! rows of rare tokens (Zipf-distributed ids) move for some steps after their token was in a batch
//! (while the Adam moments last) and otherwise only by weight decay, below a BF16 ulp.
//!
//! Fine-tune mode (`--finetune`): a larger model (~11.3 M parameters, 8 hidden layers, 16384-token
//! embedding, 1000 classes) trained for N steps (default 20) is written as `base.safetensors`,
//! then three variants of it:
//! - `ft-lora.safetensors`: `layers.1.weight` and `layers.5.weight` (a quarter of the hidden
//!   matrices) get a merged rank-8 update `B·A` whose element spread is 1% of the matrix's; every
//!   other tensor is bit-identical to the base.
//! - `ft-head.safetensors`: the last hidden layer, its norm and the head are trained with a fresh
//!   AdamW for 30 steps on a new task (another teacher); the rest is bit-identical.
//! - `ft-reordered.safetensors`: the tensors of `ft-lora` with the data in reverse name order,
//!   `layers.3.bias` left out and a new `extra.weight` (256x1024) added, so that a delta must match
//!   tensors by name rather than by position.
//!
//! Weights are kept in f32 (the master copy of mixed-precision training); `--dtype bf16` (default)
//! saves them rounded to nearest even, as `tensor.to(torch.bfloat16)` does. Output is
//! deterministic for a seed, whatever the thread count: parallel work only splits independent
//! outputs. Files follow the safetensors reference: `__metadata__` first, tensors in name order
//! (all have one dtype), header padded with spaces to a multiple of 8 bytes.

use rayon::prelude::*;
use std::io::Write;
use std::ops::RangeInclusive;
use std::path::Path;
use std::time::Instant;

const BATCH: usize = 32;
/// Tokens per sample; their embeddings are concatenated into the first layer's input.
const CTX: usize = 4;
const BETA1: f32 = 0.9;
const BETA2: f32 = 0.999;
const ADAM_EPS: f32 = 1e-8;
const WEIGHT_DECAY: f32 = 0.01;
const LN_EPS: f32 = 1e-5;
/// Elements per parallel task of the optimizer update: hundreds of tasks per matrix to balance
/// threads, each long enough that scheduling costs nothing.
const ADAM_CHUNK: usize = 4096;
/// Output rows per parallel task in the forward product: 16 rows of 1024 f32 (64 KiB) stay in L2
/// while the batch streams past them.
const OUT_BLOCK: usize = 16;
/// Batch rows per task in the input-gradient product: 4 tasks for a batch of 32, so each weight
/// matrix is read 4 times rather than once per row.
const ROW_BLOCK: usize = 8;
/// LoRA rank and merged update size relative to the matrix's own spread: about 1-3 BF16 ulps on
/// typical elements, so most elements change but the change is small.
const LORA_RANK: usize = 8;
const LORA_REL: f32 = 0.01;
const HEAD_STEPS: usize = 30;

#[derive(Clone, Copy)]
struct Config {
    vocab: usize,
    embed: usize,
    hidden: usize,
    layers: usize,
    classes: usize,
}

const SEQUENCE: Config = Config {
    vocab: 8192,
    embed: 128,
    hidden: 1024,
    layers: 3,
    classes: 512,
};
const FINETUNE: Config = Config {
    vocab: 16384,
    embed: 128,
    hidden: 1024,
    layers: 8,
    classes: 1000,
};

/// splitmix64: small, seedable, and the same stream on every platform.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in [0, 1).
    fn unit(&mut self) -> f32 {
        (self.next() >> 40) as f32 / (1u64 << 24) as f32
    }
    fn uniform(&mut self, bound: f32) -> f32 {
        (2.0 * self.unit() - 1.0) * bound
    }
    /// Standard normal (Box-Muller).
    fn normal(&mut self) -> f32 {
        let u = 1.0 - self.unit();
        let v = self.unit();
        (-2.0 * u.ln()).sqrt() * (std::f32::consts::TAU * v).cos()
    }
}

#[derive(Clone)]
struct Param {
    name: String,
    shape: Vec<usize>,
    w: Vec<f32>,
    g: Vec<f32>,
    m: Vec<f32>,
    v: Vec<f32>,
    /// AdamW decays matrices only, as the usual parameter groups exclude biases and norms.
    decay: bool,
}

impl Param {
    fn new(name: String, shape: Vec<usize>, w: Vec<f32>, decay: bool) -> Param {
        let n = w.len();
        debug_assert_eq!(n, shape.iter().product::<usize>());
        Param {
            name,
            shape,
            w,
            g: vec![0.0; n],
            m: vec![0.0; n],
            v: vec![0.0; n],
            decay,
        }
    }
    /// `torch.nn.Linear` initialisation: weight and bias uniform in +-1/sqrt(fan_in).
    fn linear(name: &str, out: usize, inp: usize, rng: &mut Rng) -> (Param, Param) {
        let b = 1.0 / (inp as f32).sqrt();
        let w = (0..out * inp).map(|_| rng.uniform(b)).collect();
        let bias = (0..out).map(|_| rng.uniform(b)).collect();
        (
            Param::new(format!("{name}.weight"), vec![out, inp], w, true),
            Param::new(format!("{name}.bias"), vec![out], bias, false),
        )
    }
}

#[derive(Clone)]
struct Hidden {
    w: Param,
    b: Param,
    gain: Param,
    shift: Param,
}

#[derive(Clone)]
struct Model {
    cfg: Config,
    embed: Param,
    layers: Vec<Hidden>,
    head_w: Param,
    head_b: Param,
    /// Adam step count (bias correction).
    t: i32,
}

impl Model {
    fn new(cfg: Config, rng: &mut Rng) -> Model {
        // torch.nn.Embedding: N(0, 1).
        let e = (0..cfg.vocab * cfg.embed).map(|_| rng.normal()).collect();
        let embed = Param::new("embed.weight".into(), vec![cfg.vocab, cfg.embed], e, true);
        let mut inp = CTX * cfg.embed;
        let mut layers = Vec::new();
        for i in 0..cfg.layers {
            let (w, b) = Param::linear(&format!("layers.{i}"), cfg.hidden, inp, rng);
            let h = cfg.hidden;
            layers.push(Hidden {
                w,
                b,
                gain: Param::new(format!("norm.{i}.weight"), vec![h], vec![1.0; h], false),
                shift: Param::new(format!("norm.{i}.bias"), vec![h], vec![0.0; h], false),
            });
            inp = cfg.hidden;
        }
        let (head_w, head_b) = Param::linear("head", cfg.classes, inp, rng);
        Model {
            cfg,
            embed,
            layers,
            head_w,
            head_b,
            t: 0,
        }
    }

    fn params(&self) -> Vec<&Param> {
        let mut v = vec![&self.embed];
        for l in &self.layers {
            v.extend([&l.w, &l.b, &l.gain, &l.shift]);
        }
        v.extend([&self.head_w, &self.head_b]);
        v
    }

    /// Parameters trained when layers before `first` are frozen (the embedding trains only when
    /// nothing is frozen).
    fn trained_mut(&mut self, first: usize) -> Vec<&mut Param> {
        let mut v = Vec::new();
        if first == 0 {
            v.push(&mut self.embed);
        }
        for l in self.layers.iter_mut().skip(first) {
            v.extend([&mut l.w, &mut l.b, &mut l.gain, &mut l.shift]);
        }
        v.extend([&mut self.head_w, &mut self.head_b]);
        v
    }

    fn count(&self) -> usize {
        self.params().iter().map(|p| p.w.len()).sum()
    }

    fn reset_optimizer(&mut self) {
        for p in self.trained_mut(0) {
            p.m.fill(0.0);
            p.v.fill(0.0);
        }
        self.t = 0;
    }

    /// One AdamW step on a batch; layers before `first` (and the embedding, when `first > 0`) are
    /// frozen. Returns the mean cross-entropy.
    fn step(&mut self, tokens: &[u32], labels: &[u32], lr: f32, first: usize) -> f32 {
        let (cfg, rows) = (self.cfg, labels.len());
        let d = cfg.embed;
        let mut a = vec![0.0f32; rows * CTX * d];
        for (dst, &t) in a.chunks_exact_mut(d).zip(tokens) {
            dst.copy_from_slice(&self.embed.w[t as usize * d..][..d]);
        }
        // Per hidden layer: its input, normalised pre-activation, 1/std per row, and GELU input.
        let mut inputs = Vec::new();
        let mut xhats = Vec::new();
        let mut rstds = Vec::new();
        let mut ys = Vec::new();
        for l in &self.layers {
            let z = linear(&a, &l.w.w, &l.b.w, rows);
            let (xhat, rstd) = layer_norm(&z, rows);
            let h = l.b.w.len();
            let y: Vec<f32> = xhat
                .chunks_exact(h)
                .flat_map(|r| r.iter().zip(&l.gain.w).zip(&l.shift.w))
                .map(|((x, g), s)| x * g + s)
                .collect();
            let next = y.iter().map(|&v| gelu(v).0).collect();
            inputs.push(std::mem::replace(&mut a, next));
            xhats.push(xhat);
            rstds.push(rstd);
            ys.push(y);
        }
        let mut dz = linear(&a, &self.head_w.w, &self.head_b.w, rows);
        let mut loss = 0.0;
        for (row, &lab) in dz.chunks_exact_mut(cfg.classes).zip(labels) {
            let max = row.iter().cloned().fold(f32::MIN, f32::max);
            let sum: f32 = row.iter().map(|v| (v - max).exp()).sum();
            loss += sum.ln() + max - row[lab as usize];
            for v in row.iter_mut() {
                *v = (*v - max).exp() / sum / rows as f32;
            }
            row[lab as usize] -= 1.0 / rows as f32;
        }
        grad_weight(&dz, &a, rows, &mut self.head_w.g);
        col_sum(&dz, rows, &mut self.head_b.g);
        let mut da = grad_input(&dz, &self.head_w.w, rows);
        for i in (first..cfg.layers).rev() {
            let l = &mut self.layers[i];
            let h = l.b.w.len();
            let dy: Vec<f32> = da.iter().zip(&ys[i]).map(|(g, &y)| g * gelu(y).1).collect();
            let prod: Vec<f32> = dy.iter().zip(&xhats[i]).map(|(g, x)| g * x).collect();
            col_sum(&prod, rows, &mut l.gain.g);
            col_sum(&dy, rows, &mut l.shift.g);
            dz = vec![0.0; rows * h];
            for r in 0..rows {
                let (g_row, x, out) = (
                    &dy[r * h..][..h],
                    &xhats[i][r * h..][..h],
                    &mut dz[r * h..][..h],
                );
                let dx: Vec<f32> = g_row.iter().zip(&l.gain.w).map(|(g, s)| g * s).collect();
                let mean = dx.iter().sum::<f32>() / h as f32;
                let mean_x = dx.iter().zip(x).map(|(a, b)| a * b).sum::<f32>() / h as f32;
                for ((o, g), x) in out.iter_mut().zip(&dx).zip(x) {
                    *o = rstds[i][r] * (g - mean - x * mean_x);
                }
            }
            grad_weight(&dz, &inputs[i], rows, &mut l.w.g);
            col_sum(&dz, rows, &mut l.b.g);
            if i > 0 || first == 0 {
                da = grad_input(&dz, &l.w.w, rows);
            }
        }
        if first == 0 {
            // Dense gradient with zero rows for unseen tokens, as torch.nn.Embedding(sparse=False).
            self.embed.g.fill(0.0);
            for (src, &t) in da.chunks_exact(d).zip(tokens) {
                axpy(&mut self.embed.g[t as usize * d..][..d], 1.0, src);
            }
        }
        self.t += 1;
        let (c1, c2) = (1.0 - BETA1.powi(self.t), 1.0 - BETA2.powi(self.t));
        for p in self.trained_mut(first) {
            let wd = if p.decay { WEIGHT_DECAY } else { 0.0 };
            p.w.par_chunks_mut(ADAM_CHUNK)
                .zip(p.g.par_chunks(ADAM_CHUNK))
                .zip(p.m.par_chunks_mut(ADAM_CHUNK))
                .zip(p.v.par_chunks_mut(ADAM_CHUNK))
                .for_each(|(((w, g), m), v)| {
                    for (((w, g), m), v) in w.iter_mut().zip(g).zip(m).zip(v) {
                        *m = BETA1 * *m + (1.0 - BETA1) * g;
                        *v = BETA2 * *v + (1.0 - BETA2) * g * g;
                        *w -= lr * (wd * *w + (*m / c1) / ((*v / c2).sqrt() + ADAM_EPS));
                    }
                });
        }
        loss / rows as f32
    }
}

/// The task: labels are the argmax of a fixed random network (embedding 16 wide, tanh hidden layer
/// of 128) over the same tokens, so the student keeps improving for many steps.
struct Teacher {
    embed: Vec<f32>,
    w1: Vec<f32>,
    w2: Vec<f32>,
    /// Cumulative Zipf(1) probabilities of token ids: a few frequent tokens, a long rare tail.
    cdf: Vec<f64>,
}

const T_EMBED: usize = 16;
const T_HIDDEN: usize = 128;

impl Teacher {
    fn new(cfg: Config, rng: &mut Rng) -> Teacher {
        let inp = CTX * T_EMBED;
        let mut cdf = Vec::with_capacity(cfg.vocab);
        let mut acc = 0.0;
        for r in 0..cfg.vocab {
            acc += 1.0 / (r + 1) as f64;
            cdf.push(acc);
        }
        cdf.iter_mut().for_each(|c| *c /= acc);
        let scaled = |n: usize, s: f32, rng: &mut Rng| (0..n).map(|_| rng.normal() * s).collect();
        Teacher {
            embed: scaled(cfg.vocab * T_EMBED, 1.0, rng),
            w1: scaled(T_HIDDEN * inp, 1.0 / (inp as f32).sqrt(), rng),
            w2: scaled(cfg.classes * T_HIDDEN, 1.0 / (T_HIDDEN as f32).sqrt(), rng),
            cdf,
        }
    }

    fn batch(&self, rng: &mut Rng) -> (Vec<u32>, Vec<u32>) {
        let tokens: Vec<u32> = (0..BATCH * CTX)
            .map(|_| {
                let u = rng.unit() as f64;
                self.cdf.partition_point(|&c| c < u).min(self.cdf.len() - 1) as u32
            })
            .collect();
        let labels = tokens
            .chunks_exact(CTX)
            .map(|s| {
                let x: Vec<f32> = s
                    .iter()
                    .flat_map(|&t| &self.embed[t as usize * T_EMBED..][..T_EMBED])
                    .copied()
                    .collect();
                let h: Vec<f32> = self
                    .w1
                    .chunks_exact(x.len())
                    .map(|w| dot(w, &x).tanh())
                    .collect();
                let logits = self.w2.chunks_exact(T_HIDDEN).map(|w| dot(w, &h));
                let best = logits
                    .enumerate()
                    .fold((0, f32::MIN), |b, (i, v)| if v > b.1 { (i, v) } else { b });
                best.0 as u32
            })
            .collect();
        (tokens, labels)
    }
}

fn dot(a: &[f32], b: &[f32]) -> f32 {
    // Sixteen independent sums so that the loop vectorises (f32 addition is not reassociated).
    let mut acc = [0.0f32; 16];
    let (ca, cb) = (a.chunks_exact(16), b.chunks_exact(16));
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for ((s, x), y) in acc.iter_mut().zip(x).zip(y) {
            *s += x * y;
        }
    }
    acc.iter().sum::<f32>() + ra.iter().zip(rb).map(|(x, y)| x * y).sum::<f32>()
}

fn axpy(dst: &mut [f32], alpha: f32, src: &[f32]) {
    for (d, s) in dst.iter_mut().zip(src) {
        *d += alpha * s;
    }
}

/// `a [rows, k] · w[n, k]^T + bias` as `[rows, n]`.
fn linear(a: &[f32], w: &[f32], bias: &[f32], rows: usize) -> Vec<f32> {
    let (n, k) = (bias.len(), a.len() / rows);
    let mut out_t = vec![0.0f32; n * rows];
    out_t
        .par_chunks_mut(rows * OUT_BLOCK)
        .enumerate()
        .for_each(|(blk, t)| {
            for (j, col) in t.chunks_exact_mut(rows).enumerate() {
                let o = blk * OUT_BLOCK + j;
                let wr = &w[o * k..][..k];
                for (r, c) in col.iter_mut().enumerate() {
                    *c = dot(&a[r * k..][..k], wr) + bias[o];
                }
            }
        });
    let mut out = vec![0.0f32; rows * n];
    for (o, col) in out_t.chunks_exact(rows).enumerate() {
        for (r, v) in col.iter().enumerate() {
            out[r * n + o] = *v;
        }
    }
    out
}

/// `dw = dz^T · a`: `dz [rows, n]`, `a [rows, k]`, `dw [n, k]` overwritten.
fn grad_weight(dz: &[f32], a: &[f32], rows: usize, dw: &mut [f32]) {
    let (n, k) = (dz.len() / rows, a.len() / rows);
    dw.par_chunks_mut(k).enumerate().for_each(|(o, row)| {
        row.fill(0.0);
        for r in 0..rows {
            axpy(row, dz[r * n + o], &a[r * k..][..k]);
        }
    });
}

/// `da = dz · w`: `dz [rows, n]`, `w [n, k]`, result `[rows, k]`.
fn grad_input(dz: &[f32], w: &[f32], rows: usize) -> Vec<f32> {
    let (n, k) = (dz.len() / rows, w.len() / (dz.len() / rows));
    let mut da = vec![0.0f32; rows * k];
    da.par_chunks_mut(k * ROW_BLOCK)
        .enumerate()
        .for_each(|(blk, out)| {
            for o in 0..n {
                let wr = &w[o * k..][..k];
                for (j, dst) in out.chunks_exact_mut(k).enumerate() {
                    axpy(dst, dz[(blk * ROW_BLOCK + j) * n + o], wr);
                }
            }
        });
    da
}

fn col_sum(x: &[f32], rows: usize, out: &mut [f32]) {
    out.fill(0.0);
    for r in x.chunks_exact(x.len() / rows) {
        axpy(out, 1.0, r);
    }
}

/// Row-wise normalisation to zero mean, unit variance: `(xhat, 1/std per row)`.
fn layer_norm(z: &[f32], rows: usize) -> (Vec<f32>, Vec<f32>) {
    let h = z.len() / rows;
    let mut xhat = vec![0.0f32; z.len()];
    let mut rstd = vec![0.0f32; rows];
    for ((src, dst), rs) in z
        .chunks_exact(h)
        .zip(xhat.chunks_exact_mut(h))
        .zip(&mut rstd)
    {
        let mean = src.iter().sum::<f32>() / h as f32;
        let var = src.iter().map(|v| (v - mean) * (v - mean)).sum::<f32>() / h as f32;
        *rs = 1.0 / (var + LN_EPS).sqrt();
        for (d, s) in dst.iter_mut().zip(src) {
            *d = (s - mean) * *rs;
        }
    }
    (xhat, rstd)
}

/// GELU (tanh approximation) and its derivative.
fn gelu(y: f32) -> (f32, f32) {
    const C: f32 = 0.797_884_6; // sqrt(2/pi)
    let u = C * (y + 0.044715 * y * y * y);
    let t = u.tanh();
    let du = C * (1.0 + 3.0 * 0.044715 * y * y);
    (
        0.5 * y * (1.0 + t),
        0.5 * (1.0 + t) + 0.5 * y * (1.0 - t * t) * du,
    )
}

#[derive(Clone, Copy, PartialEq)]
enum Dtype {
    Bf16,
    Fp32,
}

/// Writes tensors in the given order, the header listing them in that same order.
fn write_safetensors(path: &Path, tensors: &[(&str, &[usize], &[f32])], dtype: Dtype) {
    let (name, size) = match dtype {
        Dtype::Bf16 => ("BF16", 2),
        Dtype::Fp32 => ("F32", 4),
    };
    let mut json = String::from(r#"{"__metadata__":{"format":"pt"}"#);
    let mut off = 0usize;
    for (n, shape, w) in tensors {
        let info = serde_json::json!({
            "dtype": name,
            "shape": shape,
            "data_offsets": [off, off + w.len() * size],
        });
        json += &format!(",{}:{}", serde_json::to_string(n).expect("name"), info);
        off += w.len() * size;
    }
    json.push('}');
    while json.len() % 8 != 0 {
        json.push(' ');
    }
    let mut buf = Vec::with_capacity(8 + json.len() + off);
    buf.extend_from_slice(&(json.len() as u64).to_le_bytes());
    buf.extend_from_slice(json.as_bytes());
    for (_, _, w) in tensors {
        match dtype {
            Dtype::Bf16 => w
                .iter()
                .for_each(|v| buf.extend_from_slice(&half::bf16::from_f32(*v).to_le_bytes())),
            Dtype::Fp32 => w
                .iter()
                .for_each(|v| buf.extend_from_slice(&v.to_le_bytes())),
        }
    }
    let mut f = std::fs::File::create(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    f.write_all(&buf).expect("write");
}

/// Writes a model with its tensors in name order (the reference's order for a single dtype).
fn save(model: &Model, path: &Path, dtype: Dtype) {
    let mut ps = model.params();
    ps.sort_by(|a, b| a.name.cmp(&b.name));
    let t: Vec<(&str, &[usize], &[f32])> = ps
        .iter()
        .map(|p| (p.name.as_str(), &p.shape[..], &p.w[..]))
        .collect();
    write_safetensors(path, &t, dtype);
    eprintln!("wrote {}", path.display());
}

/// Runs steps `steps` (numbers for the log only) of AdamW with layers before `first` frozen.
fn train(
    model: &mut Model,
    task: &Teacher,
    rng: &mut Rng,
    steps: RangeInclusive<usize>,
    lr: f32,
    first: usize,
) {
    for s in steps {
        let (tokens, labels) = task.batch(rng);
        let loss = model.step(&tokens, &labels, lr, first);
        if s % 10 == 0 {
            eprintln!("step {s:5}  loss {loss:.4}");
        }
    }
}

/// Merges a rank-`LORA_RANK` update into `p`, scaled to `LORA_REL` of the matrix's spread.
fn merge_lora(p: &mut Param, rng: &mut Rng) {
    let (out, inp) = (p.shape[0], p.shape[1]);
    // LoRA's initialisation of A (Kaiming uniform); B is learned from zero, here Gaussian.
    let bound = 1.0 / (inp as f32).sqrt();
    let a: Vec<f32> = (0..LORA_RANK * inp).map(|_| rng.uniform(bound)).collect();
    let b: Vec<f32> = (0..out * LORA_RANK).map(|_| rng.normal()).collect();
    let mut delta = vec![0.0f32; out * inp];
    for (o, row) in delta.chunks_exact_mut(inp).enumerate() {
        for r in 0..LORA_RANK {
            axpy(row, b[o * LORA_RANK + r], &a[r * inp..][..inp]);
        }
    }
    let spread =
        |v: &[f32]| (v.iter().map(|x| (x * x) as f64).sum::<f64>() / v.len() as f64).sqrt();
    let scale = (LORA_REL as f64 * spread(&p.w) / spread(&delta)) as f32;
    axpy(&mut p.w, scale, &delta);
}

fn finetune(dir: &Path, steps: usize, lr: f32, dtype: Dtype, rng: &mut Rng) {
    let mut base = Model::new(FINETUNE, rng);
    eprintln!("fine-tune base: {} parameters", base.count());
    let teacher = Teacher::new(FINETUNE, rng);
    train(&mut base, &teacher, rng, 1..=steps, lr, 0);
    save(&base, &dir.join("base.safetensors"), dtype);

    let mut lora = base.clone();
    for i in [1, 5] {
        merge_lora(&mut lora.layers[i].w, rng);
    }
    save(&lora, &dir.join("ft-lora.safetensors"), dtype);

    let extra: Vec<f32> = Param::linear("extra", 256, FINETUNE.hidden, rng).0.w;
    let mut ps: Vec<(&str, &[usize], &[f32])> = lora
        .params()
        .into_iter()
        .filter(|p| p.name != "layers.3.bias")
        .map(|p| (p.name.as_str(), &p.shape[..], &p.w[..]))
        .collect();
    ps.push(("extra.weight", &[256, FINETUNE.hidden], &extra));
    ps.sort_by(|a, b| b.0.cmp(a.0));
    let path = dir.join("ft-reordered.safetensors");
    write_safetensors(&path, &ps, dtype);
    eprintln!("wrote {}", path.display());

    let mut head = base;
    head.reset_optimizer();
    let task = Teacher::new(FINETUNE, rng);
    train(
        &mut head,
        &task,
        rng,
        1..=HEAD_STEPS,
        lr,
        FINETUNE.layers - 1,
    );
    save(&head, &dir.join("ft-head.safetensors"), dtype);
}

fn main() {
    let mut args = std::env::args().skip(1);
    let (mut dir, mut steps, mut every, mut dtype, mut seed, mut lr, mut ft) =
        (None, None, 10, Dtype::Bf16, 1u64, 1e-3f32, false);
    let usage = "usage: checkpoints OUTDIR [--steps N] [--every K] [--dtype bf16|fp32] [--seed S] [--lr LR] [--finetune]";
    while let Some(a) = args.next() {
        let mut val = |what: &str| args.next().unwrap_or_else(|| panic!("{a} needs {what}"));
        match a.as_str() {
            "--steps" => steps = Some(val("N").parse().expect("--steps N")),
            "--every" => every = val("K").parse().expect("--every K"),
            "--seed" => seed = val("S").parse().expect("--seed S"),
            "--lr" => lr = val("LR").parse().expect("--lr LR"),
            "--dtype" => {
                dtype = match val("bf16|fp32").as_str() {
                    "bf16" => Dtype::Bf16,
                    "fp32" => Dtype::Fp32,
                    d => panic!("unknown dtype {d}: bf16 or fp32"),
                }
            }
            "--finetune" => ft = true,
            "-h" | "--help" => {
                println!("{usage}");
                return;
            }
            _ if dir.is_none() && !a.starts_with('-') => dir = Some(a),
            _ => {
                eprintln!("{usage}");
                std::process::exit(2);
            }
        }
    }
    let Some(dir) = dir else {
        eprintln!("{usage}");
        std::process::exit(2);
    };
    let dir = Path::new(&dir);
    std::fs::create_dir_all(dir).expect("create OUTDIR");
    let mut rng = Rng(seed);
    let start = Instant::now();
    if ft {
        finetune(dir, steps.unwrap_or(20), lr, dtype, &mut rng);
    } else {
        assert!(every > 0, "--every must be positive");
        let mut model = Model::new(SEQUENCE, &mut rng);
        eprintln!("model: {} parameters", model.count());
        let teacher = Teacher::new(SEQUENCE, &mut rng);
        for s in (every..=steps.unwrap_or(100)).step_by(every) {
            train(&mut model, &teacher, &mut rng, s + 1 - every..=s, lr, 0);
            save(&model, &dir.join(format!("ckpt-{s:06}.safetensors")), dtype);
        }
    }
    eprintln!("done in {:.1} s", start.elapsed().as_secs_f32());
}
