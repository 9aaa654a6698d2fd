//! Q5_K: 256 values per super-block, 176 bytes (5.5 bits per value). Q4_K with a fifth bit per
//! value.
//!
//! ```text
//! bytes 0..2      d           f16 scale of the scale codes
//! bytes 2..4      dmin        f16 scale of the min codes
//! bytes 4..16     scales[12]  8 scale codes and 8 min codes, packed as Q4_K's
//! bytes 16..48    qh[32]      fifth bits: value p = 32s + l (s < 8, l < 32) at bit s of qh[l]
//! bytes 48..176   qs[128]     low 4 bits, as Q4_K's values: value p = 64c + 32n + l in nibble n of qs[32c + l]
//! value p = (d * sc_s) * (low | high << 4) - (dmin * m_s), s = p / 32
//! ```
//! Encoding (ours): Q4_K's, in 31 steps.

use super::q4_k::{encode, scale_min, sub_block};
use super::{f16_at, Block, QK_K};

pub const BLOCK_BYTES: usize = 2 + 2 + 12 + QK_K / 8 + QK_K / 2;

pub fn dequantize(b: &[u8], y: &mut [f32]) {
    let (qh, qs) = (&b[16..48], &b[48..BLOCK_BYTES]);
    for (s, y) in y.chunks_exact_mut(32).enumerate() {
        let (dl, ml) = sub_block(b, s);
        let (c, n) = (s / 2, s % 2);
        for (l, y) in y.iter_mut().enumerate() {
            let q = ((qs[32 * c + l] >> (4 * n)) & 15) | (((qh[l] >> s) & 1) << 4);
            *y = dl * q as f32 - ml;
        }
    }
}

/// The super-block for the integer kernels: w = sc_s * q, mn = m_s (both halves of sub-block s).
pub fn unpack(b: &[u8], u: Block) {
    u.d[..8].fill(f16_at(b, 0));
    u.dmin[..8].fill(f16_at(b, 2));
    let (qh, qs) = (&b[16..48], &b[48..BLOCK_BYTES]);
    for s in 0..8 {
        let (sc, m) = scale_min(&b[4..16], s);
        u.mn[2 * s..2 * s + 2].fill(m as i16);
        let (c, n) = (s / 2, 4 * (s % 2));
        for (l, w) in u.w[32 * s..32 * s + 32].iter_mut().enumerate() {
            let q = ((qs[32 * c + l] >> n) & 15) | (((qh[l] >> s) & 1) << 4);
            *w = sc as i16 * q as i16;
        }
    }
}

pub fn quantize(x: &[f32], out: &mut Vec<u8>) {
    let mut b = [0u8; BLOCK_BYTES];
    let q = encode(x, 31, &mut b);
    for (p, &q) in q.iter().enumerate() {
        let (s, c, n, l) = (p / 32, p / 64, (p % 64) / 32, p % 32);
        b[48 + 32 * c + l] |= (q & 15) << (4 * n);
        b[16 + l] |= (q >> 4) << s;
    }
    out.extend_from_slice(&b);
}
