//! Q5_0: 32 values per block, 22 bytes: Q4_0 with a fifth bit per value.
//!
//! ```text
//! bytes 0..2    d       f16 scale
//! bytes 2..6    qh      u32 (little-endian): bit j is the fifth (high) bit of value j
//! bytes 6..22   qs[16]  low four bits: value j (j < 16) in the low nibble of qs[j], value j + 16 in its high nibble
//! value = ((low | high << 4) - 16) * d
//! ```
//! Encoding (`quantize_row_q5_0_ref`): the value of largest magnitude m maps to -16: d = m / -16,
//! q = min(31, trunc(x / d + 16.5)).

use super::{f16_at, five_bits, inverse, push_f16, push_five_bits, signed_absmax, QK, Block};

pub const BLOCK_BYTES: usize = 2 + 4 + QK / 2;

pub fn dequantize(b: &[u8], out: &mut Vec<f32>) {
    let d = f16_at(b, 0);
    let qh = u32::from_le_bytes([b[2], b[3], b[4], b[5]]);
    let qs = &b[6..BLOCK_BYTES];
    out.extend((0..QK).map(|j| (five_bits(qh, qs, j) as i32 - 16) as f32 * d));
}

/// The block for the integer kernels: w = q - 16.
pub fn unpack(b: &[u8], u: Block) {
    u.d[0] = f16_at(b, 0);
    let qh = u32::from_le_bytes([b[2], b[3], b[4], b[5]]);
    let qs = &b[6..BLOCK_BYTES];
    for (j, w) in u.w[..QK].iter_mut().enumerate() {
        *w = five_bits(qh, qs, j) as i16 - 16;
    }
}

pub fn quantize(x: &[f32], out: &mut Vec<u8>) {
    let d = signed_absmax(x) / -16.0;
    let id = inverse(d);
    push_f16(out, d);
    let mut q = [0u8; QK];
    for (q, &v) in q.iter_mut().zip(x) {
        *q = ((v * id + 16.5) as i32).clamp(0, 31) as u8;
    }
    push_five_bits(out, &q);
}
