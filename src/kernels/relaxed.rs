//! Relaxed-SIMD kernels (the www/pkg-relaxed build, `+relaxed-simd`): the decode kernels of Q8_0 and
//! of the fused types (Q4_0, Q4_1, Q5_0, Q5_1, Q4_K, Q6_K) with `relaxed_dot_i8x16_i7x16`, which
//! multiplies 16 byte pairs where the simd128 kernels widen to i16 and multiply 8. They give the
//! simd128 kernels' bits (and so the scalar twins'): per 32-value block the same four exact integer
//! lane sums, then the same f32 operations in the same order.
//!
//! Why the results are exact, whichever engine runs them:
//! - the instruction is deterministic only while its second operand lies in 0..127 (x86 reads it
//!   unsigned, and a 16-bit pair sum of 2 x 128 x 255 would saturate). That operand is always a
//!   stored level (0..63: Q4, Q5, Q6_K levels before their offset) or a part of an activation
//!   (0..127); 16-bit pair sums then stay within +-2 x 128 x 127, and those of two 16-value halves
//!   added in i16 within +-2 x 2 x 63 x 127, both inside i16;
//! - offsets (Q4_0's 8, Q5_0's 16, Q6_K's 32) come back out as offset x (the activations' lane
//!   sums), in integers;
//! - Q8_0's weights are signed (-128..127, -128 included: a hostile file can hold it) and so are
//!   the activations: x = x+ - x- with x+ = max(x, 0) and x- = max(-x, 0), each in 0..127; the two
//!   16-bit pair sums w.x+ and w.x- each fit in i16 and so does their difference (it is the pair's
//!   w.x, within +-2 x 128 x 127), so the wrapping i16 subtraction is exact;
//! - the instruction's lane k sums bytes 4k..4k+3, while `row_dot`'s lane j holds elements e with
//!   (e mod 8) div 2 == j: weights and activations alike are permuted within each 16 bytes by `PERM`,
//!   so that every lane holds the same elements as simd128's.
//!
//! Their scalar twins are the simd128 kernels' (`row_dot_scalar`, the general unpacking path): the
//! twin tests in tests/kernels.rs run under this build in Chromium.

use super::{f16_le, hsum, QK};
use core::arch::wasm32::*;

/// Byte p of a permuted 16 holds element PERM[p]: lane k (bytes 4k..4k+3) then holds elements 2k,
/// 2k + 1, 2k + 8, 2k + 9, as `i32x4.dot_i16x8_s` over the widened halves does.
const PERM: [u8; 16] = [0, 1, 8, 9, 2, 3, 10, 11, 4, 5, 12, 13, 6, 7, 14, 15];

#[inline(always)]
fn perm() -> v128 {
    u8x16(0, 1, 8, 9, 2, 3, 10, 11, 4, 5, 12, 13, 6, 7, 14, 15)
}

/// Activations in the relaxed kernels' forms, made once per product by `quantize_activations`
/// and shared by every weight row. All in `PERM` order, per 16 values.
#[derive(Default)]
pub struct Acts {
    /// x, i8 (in -127..127)
    xp: Vec<i8>,
    /// max(x, 0)
    xa: Vec<u8>,
    /// max(-x, 0)
    xn: Vec<u8>,
    /// per 16 values, the four lanes' sums of x (for the offsets)
    ls: Vec<i32>,
}

/// One activation row's slices of `Acts` (`cols` values).
#[derive(Clone, Copy)]
pub struct Row<'a> {
    xp: &'a [i8],
    xa: &'a [u8],
    xn: &'a [u8],
    ls: &'a [i32],
}

impl Acts {
    /// From the quantized activations (any number of rows; whole blocks).
    pub fn new(q: &[i16]) -> Acts {
        let mut a = Acts { xp: Vec::with_capacity(q.len()), xa: Vec::with_capacity(q.len()), xn: Vec::with_capacity(q.len()), ls: Vec::with_capacity(q.len() / 4) };
        for g in q.chunks_exact(16) {
            let mut ls = [0i32; 4];
            for (p, &e) in PERM.iter().enumerate() {
                let v = g[e as usize];
                a.xp.push(v as i8);
                a.xa.push(v.max(0) as u8);
                a.xn.push((-v).max(0) as u8);
                ls[p / 4] += v as i32;
            }
            a.ls.extend_from_slice(&ls);
        }
        a
    }

    /// Activation row i of rows `cols` long.
    #[inline(always)]
    pub fn row(&self, i: usize, cols: usize) -> Row<'_> {
        let r = i * cols..(i + 1) * cols;
        Row { xp: &self.xp[r.clone()], xa: &self.xa[r.clone()], xn: &self.xn[r], ls: &self.ls[i * cols / 4..(i + 1) * cols / 4] }
    }
}

impl Row<'_> {
    #[inline(always)]
    unsafe fn xp(&self, at: usize) -> v128 {
        v128_load(self.xp.as_ptr().add(at) as *const v128)
    }
    /// the lane sums of the 16 values from `at` (a multiple of 16)
    #[inline(always)]
    unsafe fn ls(&self, at: usize) -> v128 {
        v128_load(self.ls.as_ptr().add(at / 4) as *const v128)
    }
}

/// Lanes of sum x w over 32 values whose weights are levels in 0..63 (`lo`: values 0..16, `hi`:
/// 16..32, permuted), x from `at`: the two halves' 16-bit pair sums added before widening.
#[inline(always)]
unsafe fn dot32_levels(a: Row, at: usize, lo: v128, hi: v128) -> v128 {
    let p = i16x8_add(i16x8_relaxed_dot_i8x16_i7x16(a.xp(at), lo), i16x8_relaxed_dot_i8x16_i7x16(a.xp(at + 16), hi));
    i32x4_extadd_pairwise_i16x8(p)
}

/// Q8_0 (`row_dot`'s bits): one row.
#[inline]
pub fn row_q8_0(ws: &[f32], wq: &[i8], xs: &[f32], a: Row) -> f32 {
    let nb = ws.len();
    assert!(xs.len() >= nb && wq.len() >= nb * QK && a.xa.len() >= nb * QK && a.xn.len() >= nb * QK);
    unsafe {
        let mut acc = f32x4_splat(0.0);
        let (wp, xa, xn, pm) = (wq.as_ptr(), a.xa.as_ptr(), a.xn.as_ptr(), perm());
        let ld = |p: *const u8| v128_load(p as *const v128);
        // 16 values from `o`: pair sums w.x+ - w.x- in i16 (exact, see above), widened to i32 lanes
        let half = |o: usize| {
            let w = i8x16_relaxed_swizzle(v128_load(wp.add(o) as *const v128), pm);
            i32x4_extadd_pairwise_i16x8(i16x8_sub(i16x8_relaxed_dot_i8x16_i7x16(w, ld(xa.add(o))), i16x8_relaxed_dot_i8x16_i7x16(w, ld(xn.add(o)))))
        };
        for b in 0..nb {
            let o = b * QK;
            let s = i32x4_add(half(o), half(o + 16));
            let d = f32x4_splat(*ws.get_unchecked(b) * *xs.get_unchecked(b));
            acc = f32x4_add(acc, f32x4_mul(d, f32x4_convert_i32x4(s)));
        }
        hsum(acc)
    }
}

/// The fused kernels' signature here: (row's bytes, activation scales, relaxed activations, sums
/// of 16 for the minimums).
pub type Fused = fn(&[u8], &[f32], Row, &[i32]) -> f32;

/// The relaxed kernel of a fused type, if it has one.
pub fn fused(dtype: crate::gguf::DType) -> Option<Fused> {
    use crate::gguf::DType;
    Some(match dtype {
        DType::Q4_0 => row_q4_0,
        DType::Q4_1 => row_q4_1,
        DType::Q5_0 => row_q5_0,
        DType::Q5_1 => row_q5_1,
        DType::Q4_K => row_q4_k,
        DType::Q6_K => row_q6_k,
        _ => return None,
    })
}

/// The 32-value formats (`row_legacy_simd128`'s bits): `levels(block)` gives the 32 stored levels
/// (0..31) permuted, values 0..16 then 16..32; the value is (level - OFF) x d, plus m for MINS.
/// OFF x (lane sums of x) leaves the integer lanes as (1 << SHIFT) = OFF.
#[inline(always)]
unsafe fn row_legacy<const BB: usize, const MINS: bool, const SHIFT: u32>(
    row: &[u8],
    xs: &[f32],
    a: Row,
    sums: &[i32],
    levels: impl Fn(&[u8]) -> (v128, v128),
) -> f32 {
    let nb = row.len() / BB;
    assert!(xs.len() >= nb && a.xp.len() >= nb * QK && a.ls.len() >= nb * 8 && (!MINS || sums.len() >= 2 * nb));
    let mut acc = f32x4_splat(0.0);
    let mut accm = 0f32;
    for b in 0..nb {
        let blk = &row[b * BB..(b + 1) * BB];
        let (lo, hi) = levels(blk);
        let mut s = dot32_levels(a, b * QK, lo, hi);
        if SHIFT > 0 {
            s = i32x4_sub(s, i32x4_shl(i32x4_add(a.ls(b * QK), a.ls(b * QK + 16)), SHIFT));
        }
        let dx = xs[b];
        acc = f32x4_add(acc, f32x4_mul(f32x4_splat(f16_le(blk, 0) * dx), f32x4_convert_i32x4(s)));
        if MINS {
            accm += (-f16_le(blk, 2) * dx) * (sums[2 * b] + sums[2 * b + 1]) as f32;
        }
    }
    if MINS {
        hsum(acc) - accm
    } else {
        hsum(acc)
    }
}

/// Nibbles of 16 bytes at `p`, permuted: (low nibbles, high nibbles).
#[inline(always)]
unsafe fn nibbles(p: *const u8) -> (v128, v128) {
    let q = i8x16_relaxed_swizzle(v128_load(p as *const v128), perm());
    (v128_and(q, u8x16_splat(15)), u8x16_shr(q, 4))
}

/// Q4_0: levels 0..15, value (q - 8) d.
pub fn row_q4_0(row: &[u8], xs: &[f32], a: Row, sums: &[i32]) -> f32 {
    unsafe { row_legacy::<18, false, 3>(row, xs, a, sums, |blk| nibbles(blk.as_ptr().add(2))) }
}

/// Q4_1: levels 0..15, value q d + m.
pub fn row_q4_1(row: &[u8], xs: &[f32], a: Row, sums: &[i32]) -> f32 {
    unsafe { row_legacy::<20, true, 0>(row, xs, a, sums, |blk| nibbles(blk.as_ptr().add(4))) }
}

/// `q5_high_bits` in `PERM` order: the fifth bits of values 0..16 and 16..32 as bytes 0 or 16.
#[inline(always)]
unsafe fn q5_high_bits(qh: u32) -> (v128, v128) {
    let v = u32x4_splat(qh);
    // byte p tests bit PERM[p] mod 8 of qh's byte PERM[p] div 8 (+ 2 for values 16..32)
    let bits = u8x16(1, 2, 1, 2, 4, 8, 4, 8, 16, 32, 16, 32, 64, 128, 64, 128);
    let sixteen = u8x16_splat(16);
    let spread = |idx: v128| v128_and(i8x16_eq(v128_and(i8x16_swizzle(v, idx), bits), bits), sixteen);
    (spread(u8x16(0, 0, 1, 1, 0, 0, 1, 1, 0, 0, 1, 1, 0, 0, 1, 1)), spread(u8x16(2, 2, 3, 3, 2, 2, 3, 3, 2, 2, 3, 3, 2, 2, 3, 3)))
}

/// Q5_0: levels 0..31, value (q - 16) d.
pub fn row_q5_0(row: &[u8], xs: &[f32], a: Row, sums: &[i32]) -> f32 {
    unsafe {
        row_legacy::<22, false, 4>(row, xs, a, sums, |blk| {
            let (h0, h1) = q5_high_bits(u32::from_le_bytes([blk[2], blk[3], blk[4], blk[5]]));
            let (lo, hi) = nibbles(blk.as_ptr().add(6));
            (v128_or(lo, h0), v128_or(hi, h1))
        })
    }
}

/// Q5_1: levels 0..31, value q d + m.
pub fn row_q5_1(row: &[u8], xs: &[f32], a: Row, sums: &[i32]) -> f32 {
    unsafe {
        row_legacy::<24, true, 0>(row, xs, a, sums, |blk| {
            let (h0, h1) = q5_high_bits(u32::from_le_bytes([blk[4], blk[5], blk[6], blk[7]]));
            let (lo, hi) = nibbles(blk.as_ptr().add(8));
            (v128_or(lo, h0), v128_or(hi, h1))
        })
    }
}

/// Q4_K (`row_q4_k_simd128`'s bits): sub-block s is sc_s q d - m_s dmin, levels 0..15.
pub fn row_q4_k(row: &[u8], xs: &[f32], a: Row, sums: &[i32]) -> f32 {
    const BB: usize = 144;
    let nsb = row.len() / BB;
    assert!(xs.len() >= nsb * 8 && a.xp.len() >= nsb * 256 && sums.len() >= nsb * 16);
    unsafe {
        let mut acc = f32x4_splat(0.0);
        let mut accm = 0f32;
        for k in 0..nsb {
            let blk = &row[k * BB..(k + 1) * BB];
            let (d, dmin) = (f16_le(blk, 0), f16_le(blk, 2));
            let (mut sc, mut mn) = ([0i32; 8], [0i32; 8]);
            for s in 0..8 {
                let (a, m) = crate::quants::q4_k_scale_min(&blk[4..16], s);
                (sc[s], mn[s]) = (a as i32, m as i32);
            }
            let (xs, sums) = (&xs[8 * k..8 * k + 8], &sums[16 * k..16 * k + 16]);
            for c in 0..4 {
                // low nibbles: sub-block 2c; high nibbles: sub-block 2c + 1
                let (l0, h0) = nibbles(blk.as_ptr().add(16 + 32 * c));
                let (l1, h1) = nibbles(blk.as_ptr().add(32 + 32 * c));
                let (s0, s1) = (2 * c, 2 * c + 1);
                let t0 = dot32_levels(a, (8 * k + s0) * QK, l0, l1);
                let t1 = dot32_levels(a, (8 * k + s1) * QK, h0, h1);
                acc = f32x4_add(acc, f32x4_mul(f32x4_splat(d * xs[s0]), f32x4_convert_i32x4(i32x4_mul(t0, i32x4_splat(sc[s0])))));
                accm += (dmin * xs[s0]) * (mn[s0] * sums[2 * s0] + mn[s0] * sums[2 * s0 + 1]) as f32;
                acc = f32x4_add(acc, f32x4_mul(f32x4_splat(d * xs[s1]), f32x4_convert_i32x4(i32x4_mul(t1, i32x4_splat(sc[s1])))));
                accm += (dmin * xs[s1]) * (mn[s1] * sums[2 * s1] + mn[s1] * sums[2 * s1 + 1]) as f32;
            }
        }
        hsum(acc) - accm
    }
}

/// Q6_K (`row_q6_k_simd128`'s bits): sub-block s (16 values) is sc_s (q - 32) d, levels 0..63.
pub fn row_q6_k(row: &[u8], xs: &[f32], a: Row, _sums: &[i32]) -> f32 {
    const BB: usize = 210;
    let nsb = row.len() / BB;
    assert!(xs.len() >= nsb * 8 && a.xp.len() >= nsb * 256 && a.ls.len() >= nsb * 64);
    unsafe {
        let mut acc = f32x4_splat(0.0);
        let (m4, m3, pm) = (u8x16_splat(15), u8x16_splat(3), perm());
        for k in 0..nsb {
            let blk = &row[k * BB..(k + 1) * BB];
            let p = blk.as_ptr();
            let d = f16_le(blk, 208);
            for h in 0..2 {
                // 16-value groups g of value 128h + 32j + 16g + l, levels 0..63, permuted
                let mut v = [[u8x16_splat(0); 2]; 4];
                for g in 0..2 {
                    let ld = |o: usize| i8x16_relaxed_swizzle(v128_load(p.add(o) as *const v128), pm);
                    let (qa, qb, qh) = (ld(64 * h + 16 * g), ld(64 * h + 32 + 16 * g), ld(128 + 32 * h + 16 * g));
                    let high = |shift: u32| u8x16_shl(v128_and(u8x16_shr(qh, shift), m3), 4);
                    v[0][g] = v128_or(v128_and(qa, m4), high(0));
                    v[1][g] = v128_or(v128_and(qb, m4), high(2));
                    v[2][g] = v128_or(u8x16_shr(qa, 4), high(4));
                    v[3][g] = v128_or(u8x16_shr(qb, 4), high(6));
                }
                for j in 0..4 {
                    let b = 8 * k + 4 * h + j;
                    let s = 8 * h + 2 * j;
                    // (levels . x) - 32 (lane sums of x), per 16 values
                    let part = |g: usize| {
                        let at = b * QK + 16 * g;
                        let t = i32x4_extadd_pairwise_i16x8(i16x8_relaxed_dot_i8x16_i7x16(a.xp(at), v[j][g]));
                        i32x4_sub(t, i32x4_shl(a.ls(at), 5))
                    };
                    let t0 = i32x4_mul(part(0), i32x4_splat(blk[192 + s] as i8 as i32));
                    let t1 = i32x4_mul(part(1), i32x4_splat(blk[192 + s + 1] as i8 as i32));
                    let dx = *xs.get_unchecked(b);
                    acc = f32x4_add(acc, f32x4_mul(f32x4_splat(d * dx), f32x4_convert_i32x4(i32x4_add(t0, t1))));
                }
            }
        }
        hsum(acc)
    }
}
