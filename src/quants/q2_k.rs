//! Q2_K: 256 values per super-block, 84 bytes (2.625 bits per value). 16 sub-blocks of 16 values,
//! each with a 4-bit scale code and a 4-bit min code; 2-bit values.
//!
//! ```text
//! bytes 0..16    scales[16]  sub-block s (values 16s..16s+16): scale code sc = scales[s] & 15 in the
//!                            low nibble, min code m = scales[s] >> 4 in the high one
//! bytes 16..80   qs[64]      2-bit values: value p = 128h + 32j + l (h < 2, j < 4, l < 32) is
//!                            bits 2j..2j+2 of qs[32h + l]
//! bytes 80..82   d           f16 scale of the scale codes
//! bytes 82..84   dmin        f16 scale of the min codes
//! value p = (d * sc) * q - (dmin * m), with sc and m those of sub-block p / 16
//! ```
//! Encoding (ours): each sub-block spans [lo, hi], lo = min(0, min x), in 3 steps; d and dmin map
//! the largest scale and min to code 15.

use super::{f16_at, level, scale_min, set_f16, QK_K, Block};

pub const BLOCK_BYTES: usize = QK_K / 16 + QK_K / 4 + 2 + 2;

/// Where value p's two bits are: (byte in qs, shift).
#[inline]
fn at(p: usize) -> (usize, usize) {
    (32 * (p / 128) + p % 32, 2 * ((p % 128) / 32))
}

pub fn dequantize(b: &[u8], y: &mut [f32]) {
    let (d, dmin) = (f16_at(b, 80), f16_at(b, 82));
    let (scales, qs) = (&b[0..16], &b[16..80]);
    for (s, y) in y.chunks_exact_mut(16).enumerate() {
        let dl = d * (scales[s] & 15) as f32;
        let ml = dmin * (scales[s] >> 4) as f32;
        for (i, y) in y.iter_mut().enumerate() {
            let (byte, shift) = at(16 * s + i);
            *y = dl * ((qs[byte] >> shift) & 3) as f32 - ml;
        }
    }
}

/// The super-block for the integer kernels: w = sc_s * q and mn = m_s per sub-block of 16.
pub fn unpack(b: &[u8], u: Block) {
    u.d[..8].fill(f16_at(b, 80));
    u.dmin[..8].fill(f16_at(b, 82));
    let (scales, qs) = (&b[0..16], &b[16..80]);
    for s in 0..16 {
        u.mn[s] = (scales[s] >> 4) as i16;
    }
    // value p = 128h + 32j + l sits in bits 2j of qs[32h + l] (the layout `at` reads)
    for h in 0..2 {
        for j in 0..4 {
            for half in 0..2 {
                let s = 8 * h + 2 * j + half;
                let sc = (scales[s] & 15) as i16;
                for l in 16 * half..16 * half + 16 {
                    u.w[128 * h + 32 * j + l] = sc * ((qs[32 * h + l] >> (2 * j)) & 3) as i16;
                }
            }
        }
    }
}

pub fn quantize(x: &[f32], out: &mut Vec<u8>) {
    let mut b = [0u8; BLOCK_BYTES];
    let sub: Vec<(f32, f32)> = x.chunks_exact(16).map(|s| scale_min(s, 3.0)).collect();
    let d = set_f16(&mut b, 80, sub.iter().fold(0f32, |m, s| m.max(s.0)) / 15.0);
    let dmin = set_f16(&mut b, 82, sub.iter().fold(0f32, |m, s| m.max(s.1)) / 15.0);
    for (s, &(scale, min)) in sub.iter().enumerate() {
        let sc = level(scale, d, 0, 15);
        let m = level(min, dmin, 0, 15);
        b[s] = (sc | (m << 4)) as u8;
        let (dl, ml) = (d * sc as f32, dmin * m as f32);
        for p in 16 * s..16 * (s + 1) {
            let (byte, shift) = at(p);
            b[16 + byte] |= (level(x[p] + ml, dl, 0, 3) as u8) << shift;
        }
    }
    out.extend_from_slice(&b);
}
