//! Q8_0: 32 values per block, 34 bytes.
//!
//! ```text
//! bytes 0..2    d       f16 scale
//! bytes 2..34   qs[32]  i8 values
//! value j = qs[j] * d
//! ```
//! Encoding (ggml's `quantize_row_q8_0_ref`): d = max|x| / 127, q = round(x / d) with halves away
//! from zero, computed with the unrounded d; d is then stored as f16.

use super::{f16_at, inverse, Block, QK};
use half::f16;

pub const BLOCK_BYTES: usize = 2 + QK;

pub fn dequantize(b: &[u8], out: &mut Vec<f32>) {
    let d = f16_at(b, 0);
    out.extend(b[2..BLOCK_BYTES].iter().map(|&q| q as i8 as f32 * d));
}

/// The block for the integer kernels: w = q.
pub fn unpack(b: &[u8], u: Block) {
    u.d[0] = f16_at(b, 0);
    for (w, &q) in u.w[..QK].iter_mut().zip(&b[2..BLOCK_BYTES]) {
        *w = q as i8 as i16;
    }
}

/// One block's scale (as stored) and values: the encoder of the file format, and of the kernels'
/// re-encoding of other formats (`QMatrix::new`).
pub(crate) fn block(x: &[f32]) -> (f16, [i8; QK]) {
    let amax = x.iter().fold(0f32, |m, v| m.max(v.abs()));
    let d = amax / 127.0;
    let id = inverse(d);
    let mut q = [0i8; QK];
    for (q, v) in q.iter_mut().zip(x) {
        // f32::round's result (|v * id| <= 127.5), without its libm call in wasm
        *q = crate::kernels::round_half_away(v * id) as i8;
    }
    (f16::from_f32(d), q)
}

pub fn quantize(x: &[f32], out: &mut Vec<u8>) {
    let (d, q) = block(x);
    out.extend_from_slice(&d.to_le_bytes());
    out.extend(q.iter().map(|&q| q as u8));
}
