//! Q4_K: 256 values per super-block, 144 bytes (4.5 bits per value). 8 sub-blocks of 32 values,
//! each with a 6-bit scale code and a 6-bit min code; 4-bit values.
//!
//! ```text
//! bytes 0..2      d           f16 scale of the scale codes
//! bytes 2..4      dmin        f16 scale of the min codes
//! bytes 4..16     scales[12]  8 scale codes sc_s and 8 min codes m_s (sub-block s = values 32s..32s+32):
//!                             s < 4:  sc_s = scales[s] & 63,  m_s = scales[s + 4] & 63
//!                             s >= 4: sc_s = (scales[s + 4] & 15) | (scales[s - 4] >> 6) << 4
//!                                     m_s  = (scales[s + 4] >> 4) | (scales[s] >> 6) << 4
//! bytes 16..144   qs[128]     4-bit values: value p = 64c + 32n + l (c < 4, n < 2, l < 32) in
//!                             nibble n (0 low, 1 high) of qs[32c + l]
//! value p = (d * sc_s) * q - (dmin * m_s), s = p / 32
//! ```
//! The 12-byte packing of the codes is Q5_K's too (`scale_min`, `pack_scales`, `encode` here).
//! Encoding (ours): each sub-block spans [lo, hi], lo = min(0, min x), in 15 steps; d and dmin
//! map the largest scale and min to code 63.

use super::{f16_at, level, set_f16, QK_K, Block};

pub const BLOCK_BYTES: usize = 2 + 2 + 12 + QK_K / 2;

/// Sub-block s's (scale code, min code) from the 12 packed bytes.
#[inline]
pub(super) fn scale_min(scales: &[u8], s: usize) -> (u8, u8) {
    if s < 4 {
        (scales[s] & 63, scales[s + 4] & 63)
    } else {
        ((scales[s + 4] & 15) | ((scales[s - 4] >> 6) << 4), (scales[s + 4] >> 4) | ((scales[s] >> 6) << 4))
    }
}

/// The 12 packed bytes of 8 scale codes and 8 min codes (each < 64).
pub(super) fn pack_scales(sc: &[u8; 8], m: &[u8; 8]) -> [u8; 12] {
    let mut b = [0u8; 12];
    for s in 0..4 {
        b[s] = sc[s] | ((sc[s + 4] >> 4) << 6);
        b[s + 4] = m[s] | ((m[s + 4] >> 4) << 6);
        b[s + 8] = (sc[s + 4] & 15) | ((m[s + 4] & 15) << 4);
    }
    b
}

/// Sub-block s's decoded (scale, min): what the decoder multiplies and subtracts.
#[inline]
pub(super) fn sub_block(b: &[u8], s: usize) -> (f32, f32) {
    let (sc, m) = scale_min(&b[4..16], s);
    (f16_at(b, 0) * sc as f32, f16_at(b, 2) * m as f32)
}

/// The shared Q4_K/Q5_K encoder: fills bytes 0..16 of `b` (d, dmin, the packed codes) and returns
/// each value's level in 0..=levels.
pub(super) fn encode(x: &[f32], levels: i32, b: &mut [u8]) -> [u8; QK_K] {
    let sub: Vec<(f32, f32)> = x.chunks_exact(32).map(|s| super::scale_min(s, levels as f32)).collect();
    let d = set_f16(b, 0, sub.iter().fold(0f32, |m, s| m.max(s.0)) / 63.0);
    let dmin = set_f16(b, 2, sub.iter().fold(0f32, |m, s| m.max(s.1)) / 63.0);
    let (mut sc, mut m) = ([0u8; 8], [0u8; 8]);
    for (s, &(scale, min)) in sub.iter().enumerate() {
        sc[s] = level(scale, d, 0, 63) as u8;
        m[s] = level(min, dmin, 0, 63) as u8;
    }
    b[4..16].copy_from_slice(&pack_scales(&sc, &m));
    let mut q = [0u8; QK_K];
    for (p, q) in q.iter_mut().enumerate() {
        let (dl, ml) = sub_block(b, p / 32);
        *q = level(x[p] + ml, dl, 0, levels) as u8;
    }
    q
}

pub fn dequantize(b: &[u8], y: &mut [f32]) {
    let qs = &b[16..BLOCK_BYTES];
    for (s, y) in y.chunks_exact_mut(32).enumerate() {
        let (dl, ml) = sub_block(b, s);
        let (c, n) = (s / 2, s % 2);
        for (l, y) in y.iter_mut().enumerate() {
            *y = dl * ((qs[32 * c + l] >> (4 * n)) & 15) as f32 - ml;
        }
    }
}

/// The super-block for the integer kernels: w = sc_s * q, mn = m_s (both halves of sub-block s).
pub fn unpack(b: &[u8], u: Block) {
    let (Ok(b), Ok(w)) = (<&[u8; BLOCK_BYTES]>::try_from(b), <&mut [i16; QK_K]>::try_from(&mut u.w[..QK_K])) else { return };
    u.d[..8].fill(f16_at(b, 0));
    u.dmin[..8].fill(f16_at(b, 2));
    let mut sc = [0i16; 8];
    for s in 0..8 {
        let (c, m) = scale_min(&b[4..16], s);
        sc[s] = c as i16;
        u.mn[2 * s..2 * s + 2].fill(m as i16);
    }
    // qs[32c + l] holds value 64c + l in its low nibble and value 64c + 32 + l in its high one
    for c in 0..4 {
        let (lo, hi) = (sc[2 * c], sc[2 * c + 1]);
        let q: &[u8; 32] = b[16 + 32 * c..48 + 32 * c].try_into().unwrap_or(&[0; 32]);
        let (wl, wh) = w[64 * c..64 * c + 64].split_at_mut(32);
        for l in 0..32 {
            wl[l] = lo * (q[l] & 15) as i16;
            wh[l] = hi * (q[l] >> 4) as i16;
        }
    }
}

pub fn quantize(x: &[f32], out: &mut Vec<u8>) {
    let mut b = [0u8; BLOCK_BYTES];
    let q = encode(x, 15, &mut b);
    for (p, &q) in q.iter().enumerate() {
        let (c, n, l) = (p / 64, (p % 64) / 32, p % 32);
        b[16 + 32 * c + l] |= q << (4 * n);
    }
    out.extend_from_slice(&b);
}
