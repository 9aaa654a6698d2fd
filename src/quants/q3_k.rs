//! Q3_K: 256 values per super-block, 110 bytes (3.4375 bits per value). 16 sub-blocks of 16
//! values, each with a signed 6-bit scale code; 3-bit values in -4..=3, split into two low bits
//! and a high bit.
//!
//! ```text
//! bytes 0..32     hmask[32]   high bits: value p = 128h + 32j + l (h < 2, j < 4, l < 32) has its
//!                             high bit at bit 4h + j of hmask[l]
//! bytes 32..96    qs[64]      low bits: bits 2j..2j+2 of qs[32h + l]
//! bytes 96..108   scales[12]  16 six-bit codes c_s (sub-block s = values 16s..16s+16): the low 4
//!                             bits in nibble s / 8 of scales[s % 8], the high 2 bits at bits
//!                             2(s / 4)..2(s / 4)+2 of scales[8 + s % 4]
//! bytes 108..110  d           f16 super-block scale
//! value p = (d * (c_s - 32)) * (low - (high ? 0 : 4)), s = p / 16
//! ```
//! Encoding (ours): each sub-block's value of largest magnitude maps to -4 (as Q4_0 maps to -8);
//! d maps the sub-block scale of largest magnitude to code -32.

use super::{f16_at, level, set_f16, signed_absmax, QK_K, Block};

pub const BLOCK_BYTES: usize = QK_K / 8 + QK_K / 4 + 12 + 2;

/// Value p's low bits (byte in qs, shift) and high bit (byte in hmask, bit).
#[inline]
fn at(p: usize) -> (usize, usize, usize, usize) {
    let (h, j, l) = (p / 128, (p % 128) / 32, p % 32);
    (32 * h + l, 2 * j, l, 4 * h + j)
}

/// Sub-block s's scale code, 0..64 (the signed scale plus 32).
#[inline]
pub(super) fn code(scales: &[u8], s: usize) -> u8 {
    ((scales[s % 8] >> (4 * (s / 8))) & 15) | (((scales[8 + s % 4] >> (2 * (s / 4))) & 3) << 4)
}

pub fn dequantize(b: &[u8], y: &mut [f32]) {
    let (hmask, qs, scales) = (&b[0..32], &b[32..96], &b[96..108]);
    let d = f16_at(b, 108);
    for (s, y) in y.chunks_exact_mut(16).enumerate() {
        let dl = d * (code(scales, s) as i32 - 32) as f32;
        for (i, y) in y.iter_mut().enumerate() {
            let (byte, shift, hbyte, hbit) = at(16 * s + i);
            let low = ((qs[byte] >> shift) & 3) as i32;
            let high = (hmask[hbyte] >> hbit) & 1;
            *y = dl * (low - if high == 1 { 0 } else { 4 }) as f32;
        }
    }
}

/// The super-block for the integer kernels: w = (code_s - 32) * (low - 4 unless the high bit is set).
pub fn unpack(b: &[u8], u: Block) {
    let (hmask, qs, scales) = (&b[0..32], &b[32..96], &b[96..108]);
    u.d[..8].fill(f16_at(b, 108));
    // value p = 128h + 32j + l: low bits 2j of qs[32h + l], high bit 4h + j of hmask[l]
    for h in 0..2 {
        for j in 0..4 {
            for half in 0..2 {
                let s = 8 * h + 2 * j + half;
                let sc = code(scales, s) as i16 - 32;
                for l in 16 * half..16 * half + 16 {
                    let low = ((qs[32 * h + l] >> (2 * j)) & 3) as i16;
                    let high = ((hmask[l] >> (4 * h + j)) & 1) as i16;
                    u.w[128 * h + 32 * j + l] = sc * (low - 4 + 4 * high);
                }
            }
        }
    }
}

pub fn quantize(x: &[f32], out: &mut Vec<u8>) {
    let mut b = [0u8; BLOCK_BYTES];
    let scales: Vec<f32> = x.chunks_exact(16).map(|s| signed_absmax(s) / -4.0).collect();
    let d = set_f16(&mut b, 108, signed_absmax(&scales) / -32.0);
    for (s, &scale) in scales.iter().enumerate() {
        let c = level(scale, d, -32, 31);
        let code = (c + 32) as u8;
        b[96 + s % 8] |= (code & 15) << (4 * (s / 8));
        b[96 + 8 + s % 4] |= (code >> 4) << (2 * (s / 4));
        let dl = d * c as f32;
        for p in 16 * s..16 * (s + 1) {
            let q = (level(x[p], dl, -4, 3) + 4) as u8; // 0..8: the high bit says "no -4"
            let (byte, shift, hbyte, hbit) = at(p);
            b[32 + byte] |= (q & 3) << shift;
            b[hbyte] |= (q >> 2) << hbit;
        }
    }
    out.extend_from_slice(&b);
}
