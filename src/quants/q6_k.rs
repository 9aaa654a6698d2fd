//! Q6_K: 256 values per super-block, 210 bytes (6.5625 bits per value). 16 sub-blocks of 16
//! values, each with a signed 8-bit scale; 6-bit values in -32..=31, split into four low bits and
//! two high bits.
//!
//! ```text
//! bytes 0..128     ql[128]     low 4 bits: value p = 128h + 32k + l (h < 2, k < 4, l < 32) in
//!                              nibble k / 2 (0 low, 1 high) of ql[64h + 32(k % 2) + l]
//! bytes 128..192   qh[64]      high 2 bits: bits 2k..2k+2 of qh[32h + l]
//! bytes 192..208   scales[16]  i8 scale of sub-block s (values 16s..16s+16)
//! bytes 208..210   d           f16 super-block scale
//! value p = (d * scales[p / 16]) * ((low | high << 4) - 32)
//! ```
//! Encoding (ours): each sub-block's value of largest magnitude maps to -32; d maps the sub-block
//! scale of largest magnitude to -128.

use super::{f16_at, level, set_f16, signed_absmax, QK_K, Block};

pub const BLOCK_BYTES: usize = QK_K / 2 + QK_K / 4 + QK_K / 16 + 2;

/// Value p's low bits (byte in ql, shift) and high bits (byte in qh, shift).
#[inline]
fn at(p: usize) -> (usize, usize, usize, usize) {
    let (h, k, l) = (p / 128, (p % 128) / 32, p % 32);
    (64 * h + 32 * (k % 2) + l, 4 * (k / 2), 32 * h + l, 2 * k)
}

pub fn dequantize(b: &[u8], y: &mut [f32]) {
    let (ql, qh, scales) = (&b[0..128], &b[128..192], &b[192..208]);
    let d = f16_at(b, 208);
    for (s, y) in y.chunks_exact_mut(16).enumerate() {
        let dl = d * scales[s] as i8 as f32;
        for (i, y) in y.iter_mut().enumerate() {
            let (lb, ls, hb, hs) = at(16 * s + i);
            let q = ((ql[lb] >> ls) & 15) | (((qh[hb] >> hs) & 3) << 4);
            *y = dl * (q as i32 - 32) as f32;
        }
    }
}

/// The super-block for the integer kernels: w = sc_s * (q - 32).
pub fn unpack(b: &[u8], u: Block) {
    let (ql, qh, scales) = (&b[0..128], &b[128..192], &b[192..208]);
    u.d[..8].fill(f16_at(b, 208));
    // value p = 128h + 32k + l: low nibble 4(k / 2) of ql[64h + 32(k % 2) + l], high bits 2k of qh[32h + l]
    for h in 0..2 {
        for k in 0..4 {
            for half in 0..2 {
                let s = 8 * h + 2 * k + half;
                let sc = scales[s] as i8 as i16;
                for l in 16 * half..16 * half + 16 {
                    let q = ((ql[64 * h + 32 * (k % 2) + l] >> (4 * (k / 2))) & 15) | (((qh[32 * h + l] >> (2 * k)) & 3) << 4);
                    u.w[128 * h + 32 * k + l] = sc * (q as i16 - 32);
                }
            }
        }
    }
}

pub fn quantize(x: &[f32], out: &mut Vec<u8>) {
    let mut b = [0u8; BLOCK_BYTES];
    let scales: Vec<f32> = x.chunks_exact(16).map(|s| signed_absmax(s) / -32.0).collect();
    let d = set_f16(&mut b, 208, signed_absmax(&scales) / -128.0);
    for (s, &scale) in scales.iter().enumerate() {
        let c = level(scale, d, -128, 127);
        b[192 + s] = c as i8 as u8;
        let dl = d * c as f32;
        for p in 16 * s..16 * (s + 1) {
            let q = (level(x[p], dl, -32, 31) + 32) as u8;
            let (lb, ls, hb, hs) = at(p);
            b[lb] |= (q & 15) << ls;
            b[128 + hb] |= (q >> 4) << hs;
        }
    }
    out.extend_from_slice(&b);
}
