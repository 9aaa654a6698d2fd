//! Q5_1: 32 values per block, 24 bytes: Q4_1 with a fifth bit per value.
//!
//! ```text
//! bytes 0..2    d       f16 scale
//! bytes 2..4    m       f16 minimum
//! bytes 4..8    qh      u32 (little-endian): bit j is the fifth (high) bit of value j
//! bytes 8..24   qs[16]  low four bits: value j (j < 16) in the low nibble of qs[j], value j + 16 in its high nibble
//! value = (low | high << 4) * d + m
//! ```
//! Encoding (`quantize_row_q5_1_ref`): d = (max - min) / 31, m = min, q = trunc((x - min) / d + 0.5)
//! (at most 31).

use super::{f16_at, five_bits, inverse, min_max, push_f16, push_five_bits, QK, Block};

pub const BLOCK_BYTES: usize = 2 + 2 + 4 + QK / 2;

pub fn dequantize(b: &[u8], out: &mut Vec<f32>) {
    let (d, m) = (f16_at(b, 0), f16_at(b, 2));
    let qh = u32::from_le_bytes([b[4], b[5], b[6], b[7]]);
    let qs = &b[8..BLOCK_BYTES];
    out.extend((0..QK).map(|j| five_bits(qh, qs, j) as f32 * d + m));
}

/// The block for the integer kernels: w = q, and the minimum m as dmin = -m over mn = 1.
pub fn unpack(b: &[u8], u: Block) {
    (u.d[0], u.dmin[0]) = (f16_at(b, 0), -f16_at(b, 2));
    u.mn[..2].fill(1);
    let qh = u32::from_le_bytes([b[4], b[5], b[6], b[7]]);
    let qs = &b[8..BLOCK_BYTES];
    for (j, w) in u.w[..QK].iter_mut().enumerate() {
        *w = five_bits(qh, qs, j) as i16;
    }
}

pub fn quantize(x: &[f32], out: &mut Vec<u8>) {
    let (min, max) = min_max(x);
    let d = (max - min) / 31.0;
    let id = inverse(d);
    push_f16(out, d);
    push_f16(out, min);
    let mut q = [0u8; QK];
    for (q, &v) in q.iter_mut().zip(x) {
        *q = (((v - min) * id + 0.5) as i32).clamp(0, 31) as u8;
    }
    push_five_bits(out, &q);
}
