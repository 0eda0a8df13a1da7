//! Order-0 entropy bounds of a segment's bytes, the yardstick `info` and `scripts/entropy.py`
//! print beside the coded size: what any coder with one set of statistics per segment (per
//! tensor) could reach without modelling neighbours.

#![forbid(unsafe_code)]

use crate::layout::{Layout, MAX_STREAMS};

/// Bounds of one segment, in bytes.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Bound {
    /// Σ over streams of H(stream): each stream coded alone.
    pub separate: f64,
    /// H(stream 0, stream 1) + Σ H(other streams) for float layouts (the exponent with the sign
    /// and mantissa bits in one symbol: H(E) + H(M | E)); as `separate` for the others.
    pub joint: f64,
}

impl std::ops::AddAssign for Bound {
    fn add_assign(&mut self, o: Bound) {
        self.separate += o.separate;
        self.joint += o.joint;
    }
}

/// Entropy in bytes of a distribution with counts `h`.
fn entropy_bytes(h: &[u64]) -> f64 {
    let n: u64 = h.iter().sum();
    if n == 0 {
        return 0.0;
    }
    let nf = n as f64;
    let bits: f64 = h
        .iter()
        .filter(|&&c| c > 0)
        .map(|&c| c as f64 * (nf / c as f64).log2())
        .sum();
    bits / 8.0
}

/// The bounds of `data` (whole elements of `layout`).
pub fn segment_bound(layout: Layout, data: &[u8]) -> Bound {
    let mut streams = vec![Vec::new(); MAX_STREAMS];
    let count = layout.stream_count();
    let mut hists = vec![vec![0u64; 256]; count];
    let joint_streams = matches!(layout, Layout::Bf16 | Layout::Fp16 | Layout::Fp32);
    let mut joint = vec![0u64; if joint_streams { 1 << 16 } else { 0 }];
    // Split in slices of whole elements, so that memory stays small for big segments.
    let step = 1 << 20;
    for piece in data.chunks(step - step % layout.elem_size()) {
        layout.split(piece, &mut streams);
        for (h, s) in hists.iter_mut().zip(&streams) {
            s.iter().for_each(|&b| h[b as usize] += 1);
        }
        if joint_streams {
            for (&a, &b) in streams[0].iter().zip(&streams[1]) {
                joint[(a as usize) << 8 | b as usize] += 1;
            }
        }
    }
    let each: Vec<f64> = hists.iter().map(|h| entropy_bytes(h)).collect();
    let separate = each.iter().sum();
    let joint = if joint_streams {
        entropy_bytes(&joint) + each[2..].iter().sum::<f64>()
    } else {
        separate
    };
    Bound { separate, joint }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn joint_bound_sees_what_the_separate_one_misses() {
        // The mantissa byte is a function of the exponent: the joint bound is H(E) alone.
        let data: Vec<u8> = (0..8192u32)
            .flat_map(|i| {
                let e = (i.wrapping_mul(2654435761) >> 28) as u16;
                ((e + 100) << 7 | e).to_le_bytes()
            })
            .collect();
        let b = segment_bound(Layout::Bf16, &data);
        let h_e = b.joint;
        assert!((b.separate - 2.0 * h_e).abs() < 1.0, "{b:?}");
        assert!(h_e <= 8192.0 * 4.0 / 8.0 + 1.0);
        let raw = segment_bound(Layout::Byte, &data);
        assert_eq!(raw.joint, raw.separate);
    }
}
