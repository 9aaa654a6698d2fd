//! Q4_1: 32 values per block, 20 bytes: Q4_0 with a minimum instead of a fixed offset.
//!
//! ```text
//! bytes 0..2    d       f16 scale
//! bytes 2..4    m       f16 minimum
//! bytes 4..20   qs[16]  value j (j < 16) in the low nibble of qs[j], value j + 16 in its high nibble
//! value = nibble * d + m
//! ```
//! Encoding (`quantize_row_q4_1_ref`): d = (max - min) / 15, m = min, nibble = min(15,
//! trunc((x - min) / d + 0.5)), with the unrounded d and min.

use super::{f16_at, inverse, min_max, push_f16, QK, Block};

pub const BLOCK_BYTES: usize = 2 + 2 + QK / 2;

pub fn dequantize(b: &[u8], out: &mut Vec<f32>) {
    let (d, m) = (f16_at(b, 0), f16_at(b, 2));
    let qs = &b[4..BLOCK_BYTES];
    out.extend(qs.iter().map(|&q| (q & 0x0f) as f32 * d + m));
    out.extend(qs.iter().map(|&q| (q >> 4) as f32 * d + m));
}

/// The block for the integer kernels: w = q, and the minimum m as dmin = -m over mn = 1.
pub fn unpack(b: &[u8], u: Block) {
    (u.d[0], u.dmin[0]) = (f16_at(b, 0), -f16_at(b, 2));
    u.mn[..2].fill(1);
    let qs = &b[4..BLOCK_BYTES];
    for j in 0..QK / 2 {
        u.w[j] = (qs[j] & 0x0f) as i16;
        u.w[j + QK / 2] = (qs[j] >> 4) as i16;
    }
}

pub fn quantize(x: &[f32], out: &mut Vec<u8>) {
    let (min, max) = min_max(x);
    let d = (max - min) / 15.0;
    let id = inverse(d);
    push_f16(out, d);
    push_f16(out, min);
    let q = |v: f32| (((v - min) * id + 0.5) as i32).clamp(0, 15) as u8;
    out.extend((0..QK / 2).map(|j| q(x[j]) | (q(x[j + QK / 2]) << 4)));
}
