//! Q4_0: 32 values per block, 18 bytes.
//!
//! ```text
//! bytes 0..2    d       f16 scale
//! bytes 2..18   qs[16]  value j (j < 16) in the low nibble of qs[j], value j + 16 in its high nibble
//! value = (nibble - 8) * d
//! ```
//! Encoding (`quantize_row_q4_0_ref`): the value of largest magnitude m maps to -8: d = m / -8,
//! nibble = min(15, trunc(x / d + 8.5)).

use super::{f16_at, inverse, push_f16, signed_absmax, QK, Block};

pub const BLOCK_BYTES: usize = 2 + QK / 2;

pub fn dequantize(b: &[u8], out: &mut Vec<f32>) {
    let d = f16_at(b, 0);
    let qs = &b[2..BLOCK_BYTES];
    out.extend(qs.iter().map(|&q| ((q & 0x0f) as i32 - 8) as f32 * d));
    out.extend(qs.iter().map(|&q| ((q >> 4) as i32 - 8) as f32 * d));
}

/// The block for the integer kernels (`super::Unpacked`): w = q - 8.
pub fn unpack(b: &[u8], u: Block) {
    let (Ok(b), Ok(w)) = (<&[u8; BLOCK_BYTES]>::try_from(b), <&mut [i16; QK]>::try_from(&mut u.w[..QK])) else { return };
    u.d[0] = f16_at(b, 0);
    for j in 0..QK / 2 {
        w[j] = (b[2 + j] & 0x0f) as i16 - 8;
        w[j + QK / 2] = (b[2 + j] >> 4) as i16 - 8;
    }
}

pub fn quantize(x: &[f32], out: &mut Vec<u8>) {
    let d = signed_absmax(x) / -8.0;
    let id = inverse(d);
    push_f16(out, d);
    let q = |v: f32| ((v * id + 8.5) as i32).clamp(0, 15) as u8;
    out.extend((0..QK / 2).map(|j| q(x[j]) | (q(x[j + QK / 2]) << 4)));
}
