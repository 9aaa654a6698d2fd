//! Our matrix kernels over quantized weights: y = x W^T with W in Q8_0 or Q4_0 blocks and the
//! activations quantized to Q8_0 blocks, as llama.cpp does.
//!
//! At load the blocks are repacked: each block's scale as an f32 and its 32 values as signed bytes
//! (Q4_0 nibbles unpacked), so the inner loop does only integer multiply-adds and one scaled add.
//! Every other quantized format (Q4_1, Q5_0, Q5_1, Q2_K .. Q6_K) is decoded exactly and re-encoded
//! into this Q8_0 form at load (`QMatrix::new`), so it runs through the same kernels.
//!
//! Bit-identical twins: a row's dot product keeps four partial sums, lane j holding the products
//! of elements e with (e mod 8) div 2 == j (the lanes of wasm's `i32x4.dot_i16x8_s`). Each block's
//! four integer lane sums are exact; lane j accumulates `scale * lane_sum` in block order; the row's
//! result is (lane0 + lane1) + (lane2 + lane3). The scalar twin does exactly these operations, so
//! the native CLI and the browser produce the same logits, and the same tokens for a seed.
//! `row_dot` chooses between the twins under `cfg`: simd128 in wasm, SSE2 on x86-64, scalar
//! elsewhere; tests compare them bit for bit.

use crate::gguf::DType;
use crate::{bail, Result};
use half::f16;
use std::sync::Arc;

/// Q8_0/Q4_0 blocks hold 32 values.
pub const QK: usize = crate::quants::QK;

/// A quantized weight matrix (rows = outputs, cols = inputs), repacked for the kernels.
#[derive(Clone, Debug)]
pub struct QMatrix {
    /// the form the values are held in, and that `to_blocks` writes: Q8_0 or Q4_0 as the file
    /// stored them, or Q8_0 for a re-encoded format
    pub dtype: DType,
    /// the type the file stored (equal to `dtype` unless re-encoded)
    pub file_dtype: DType,
    pub rows: usize,
    pub cols: usize,
    /// (rows, cols / 32) block scales
    scales: Arc<[f32]>,
    /// (rows, cols) values in [-128, 127]
    quants: Arc<[i8]>,
}

/// Activations quantized to Q8_0: per block a scale and 32 values in [-127, 127], kept widened to
/// i16 since every weight row reuses them.
pub struct QActivations {
    pub scales: Vec<f32>,
    pub quants: Vec<i16>,
}

impl QMatrix {
    /// From file blocks (`rows * cols` values of any quantized `dtype`). Q8_0 and Q4_0 are
    /// repacked as they are. Every other format is decoded row by row, exactly, and each row
    /// re-encoded as Q8_0 blocks with the file encoder's rounding (`quants::q8_0::block`: f16
    /// scale max|x| / 127, values rounded to nearest): the same kernels then run every format.
    /// The cost of this first step: the matrix takes 1.125 bytes per weight in memory (an f32
    /// scale per 32 values and an i8 per value; Q2_K's file holds 0.33, Q6_K's 0.82), and Q8_0's
    /// rounding, up to half a step of max|block| / 127, adds to the file's own. Packed kernels
    /// per format, reading the file's blocks, are the next step.
    pub fn new(dtype: DType, rows: usize, cols: usize, data: &[u8]) -> Result<Self> {
        if !dtype.is_quantized() {
            bail!("QMatrix holds quantized blocks, not {}", dtype.name());
        }
        let need = dtype.bytes_for(rows as u64 * cols as u64);
        if cols % dtype.block_len() != 0 || data.len() as u64 != need {
            bail!("a {rows}x{cols} {} matrix needs {need} bytes, got {}", dtype.name(), data.len());
        }
        // rows * cols fits: data holds at least one byte per 4 elements
        let mut scales = crate::try_vec(rows * cols / QK, "the matrix scales")?;
        let mut quants = crate::try_vec(rows * cols, "the matrix values")?;
        let held = match dtype {
            DType::Q8_0 | DType::Q4_0 => {
                for block in data.chunks_exact(dtype.block_bytes()) {
                    scales.push(f16::from_le_bytes([block[0], block[1]]).to_f32());
                    match dtype {
                        DType::Q8_0 => quants.extend(block[2..].iter().map(|&q| q as i8)),
                        _ => {
                            quants.extend(block[2..].iter().map(|&q| (q & 0x0f) as i8 - 8));
                            quants.extend(block[2..].iter().map(|&q| (q >> 4) as i8 - 8));
                        }
                    }
                }
                dtype
            }
            _ => {
                let mut row = Vec::with_capacity(cols);
                for blocks in data.chunks_exact(dtype.bytes_for(cols as u64) as usize) {
                    row.clear();
                    crate::quants::dequantize(blocks, dtype, &mut row);
                    for x in row.chunks_exact(QK) {
                        let (d, q) = crate::quants::q8_0::block(x);
                        scales.push(d.to_f32());
                        quants.extend_from_slice(&q);
                    }
                }
                DType::Q8_0
            }
        };
        Ok(QMatrix { dtype: held, file_dtype: dtype, rows, cols, scales: scales.into(), quants: quants.into() })
    }

    /// Row `r` decoded to f32, appended to `out` (embedding lookups).
    pub fn dequantize_row(&self, r: usize, out: &mut Vec<f32>) {
        let nb = self.cols / QK;
        for b in 0..nb {
            let d = self.scales[r * nb + b];
            out.extend(self.quants[r * self.cols + b * QK..r * self.cols + (b + 1) * QK].iter().map(|&q| q as f32 * d));
        }
    }

    /// The matrix as file blocks again (to hand the same weights to another kernel).
    pub fn to_blocks(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.dtype.bytes_for((self.rows * self.cols) as u64) as usize);
        for (b, d) in self.scales.iter().enumerate() {
            out.extend_from_slice(&f16::from_f32(*d).to_le_bytes());
            let q = &self.quants[b * QK..(b + 1) * QK];
            match self.dtype {
                DType::Q8_0 => out.extend(q.iter().map(|&v| v as u8)),
                _ => out.extend((0..16).map(|j| ((q[j] + 8) as u8) | (((q[j + 16] + 8) as u8) << 4))),
            }
        }
        out
    }

    /// y (m x rows) = x (m x cols) W^T.
    pub fn matmul(&self, x: &[f32], m: usize) -> Vec<f32> {
        self.matmul_with(x, m, row_dot)
    }

    /// The same product with the scalar twin, whatever the build (for benchmarks and tests).
    pub fn matmul_scalar(&self, x: &[f32], m: usize) -> Vec<f32> {
        self.matmul_with(x, m, row_dot_scalar)
    }

    #[inline(always)]
    fn matmul_with(&self, x: &[f32], m: usize, dot: impl Fn(&[f32], &[i8], &[f32], &[i16]) -> f32 + Sync) -> Vec<f32> {
        let qa = quantize_activations(x, m, self.cols);
        let nb = self.cols / QK;
        // outputs by weight row: out[(r - r0) * m + i] for rows r0.. (each weight row read once)
        let rows_from = |r0: usize, out: &mut [f32]| {
            for (k, o) in out.chunks_exact_mut(m).enumerate() {
                let r = r0 + k;
                let (ws, wq) = (&self.scales[r * nb..(r + 1) * nb], &self.quants[r * self.cols..(r + 1) * self.cols]);
                for (i, o) in o.iter_mut().enumerate() {
                    *o = dot(ws, wq, &qa.scales[i * nb..(i + 1) * nb], &qa.quants[i * self.cols..(i + 1) * self.cols]);
                }
            }
        };
        let mut yt = vec![0f32; self.rows * m];
        for_row_blocks(&mut yt, m, self.rows * self.cols * m, rows_from);
        transpose(yt, self.rows, m)
    }
}

/// Multiply-adds below which a product stays on the calling thread (`threads` feature).
pub const PARALLEL_MIN_WORK: usize = 1 << 22;

/// Fills `out` ((rows, m) row-major) by calling `f(r0, block)` on blocks of whole rows: in order on
/// this thread, or, with the `threads` feature and a pool of more than one thread, spread over the
/// pool when the product is large enough to pay for it. Every output is computed by the same code
/// either way, so results do not depend on the number of threads.
#[inline(always)]
fn for_row_blocks(out: &mut [f32], m: usize, work: usize, f: impl Fn(usize, &mut [f32]) + Sync) {
    #[cfg(feature = "threads")]
    {
        let threads = rayon::current_num_threads();
        let rows = out.len() / m.max(1);
        // waking the pool costs tens of microseconds in a browser: only products of several
        // million multiply-adds (prefill's, the LM head's) are split
        if threads > 1 && work >= PARALLEL_MIN_WORK && rows >= 2 * threads {
            use rayon::prelude::*;
            // a few blocks per thread, so that a slow thread does not hold up the others
            let block = rows.div_ceil(4 * threads).max(8);
            out.par_chunks_mut(block * m).enumerate().for_each(|(b, o)| f(b * block, o));
            return;
        }
    }
    let _ = (work, m);
    f(0, out)
}

/// (rows, m) row-major to (m, rows) row-major.
fn transpose(a: Vec<f32>, rows: usize, m: usize) -> Vec<f32> {
    if m == 1 {
        return a;
    }
    let mut y = vec![0f32; a.len()];
    for r in 0..rows {
        for i in 0..m {
            y[i * rows + r] = a[r * m + i];
        }
    }
    y
}

/// Quantizes m rows of `cols` values to Q8_0 blocks: scale = max|x| / 127 (rounded to f16, as
/// llama.cpp stores it), q = round(x / scale).
pub fn quantize_activations(x: &[f32], m: usize, cols: usize) -> QActivations {
    let mut scales = Vec::with_capacity(m * cols / QK);
    let mut quants = Vec::with_capacity(m * cols);
    for block in x[..m * cols].chunks_exact(QK) {
        let amax = block.iter().fold(0f32, |a, v| if v.abs() > a { v.abs() } else { a });
        let d = amax / 127.0;
        let id = if d != 0.0 { 1.0 / d } else { 0.0 };
        scales.push(f16::from_f32(d).to_f32());
        quants.extend(block.iter().map(|v| round_half_away(v * id) as i16));
    }
    QActivations { scales, quants }
}

/// `f32::round` (half away from zero) for |x| < 2^31 from a truncating conversion: in wasm
/// `round` is a software call.
#[inline]
pub(crate) fn round_half_away(x: f32) -> i32 {
    let t = x as i32;
    let f = x - t as f32;
    t + (f >= 0.5) as i32 - (f <= -0.5) as i32
}

/// One row's dot product over all blocks: weights (scales, quants) by activations (scales, quants).
#[inline]
pub fn row_dot(ws: &[f32], wq: &[i8], xs: &[f32], xq: &[i16]) -> f32 {
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    {
        row_dot_simd128(ws, wq, xs, xq)
    }
    #[cfg(target_arch = "x86_64")]
    {
        row_dot_sse2(ws, wq, xs, xq)
    }
    #[cfg(not(any(all(target_arch = "wasm32", target_feature = "simd128"), target_arch = "x86_64")))]
    {
        row_dot_scalar(ws, wq, xs, xq)
    }
}

/// x86-64 (SSE2, always present there): `_mm_madd_epi16` is wasm's `i32x4.dot_i16x8_s`, so the
/// lanes, and the results, are the same as the simd128 and scalar twins'.
#[cfg(target_arch = "x86_64")]
#[inline]
pub fn row_dot_sse2(ws: &[f32], wq: &[i8], xs: &[f32], xq: &[i16]) -> f32 {
    use std::arch::x86_64::*;
    let nb = ws.len();
    assert!(xs.len() >= nb && wq.len() >= nb * QK && xq.len() >= nb * QK);
    unsafe {
        let mut acc = _mm_setzero_ps();
        let (wp, xp) = (wq.as_ptr(), xq.as_ptr());
        // sign-extend 8 bytes to 8 i16: interleave each byte with itself, shift right arithmetically
        let widen_lo = |v: __m128i| _mm_srai_epi16(_mm_unpacklo_epi8(v, v), 8);
        let widen_hi = |v: __m128i| _mm_srai_epi16(_mm_unpackhi_epi8(v, v), 8);
        for b in 0..nb {
            let w0 = _mm_loadu_si128(wp.add(b * QK) as *const __m128i);
            let w1 = _mm_loadu_si128(wp.add(b * QK + 16) as *const __m128i);
            let x = xp.add(b * QK);
            let mut s = _mm_madd_epi16(widen_lo(w0), _mm_loadu_si128(x as *const __m128i));
            s = _mm_add_epi32(s, _mm_madd_epi16(widen_hi(w0), _mm_loadu_si128(x.add(8) as *const __m128i)));
            s = _mm_add_epi32(s, _mm_madd_epi16(widen_lo(w1), _mm_loadu_si128(x.add(16) as *const __m128i)));
            s = _mm_add_epi32(s, _mm_madd_epi16(widen_hi(w1), _mm_loadu_si128(x.add(24) as *const __m128i)));
            let d = _mm_set1_ps(*ws.get_unchecked(b) * *xs.get_unchecked(b));
            acc = _mm_add_ps(acc, _mm_mul_ps(d, _mm_cvtepi32_ps(s)));
        }
        let mut lanes = [0f32; 4];
        _mm_storeu_ps(lanes.as_mut_ptr(), acc);
        (lanes[0] + lanes[1]) + (lanes[2] + lanes[3])
    }
}

/// Scalar twin: the same lanes, the same order.
#[inline]
pub fn row_dot_scalar(ws: &[f32], wq: &[i8], xs: &[f32], xq: &[i16]) -> f32 {
    let mut acc = [0f32; 4];
    for (b, (dw, dx)) in ws.iter().zip(xs).enumerate() {
        let (w, x) = (&wq[b * QK..(b + 1) * QK], &xq[b * QK..(b + 1) * QK]);
        let mut lanes = [0i32; 4];
        for e in 0..QK {
            lanes[(e % 8) / 2] += w[e] as i32 * x[e] as i32;
        }
        let d = dw * dx;
        for j in 0..4 {
            acc[j] += d * lanes[j] as f32;
        }
    }
    (acc[0] + acc[1]) + (acc[2] + acc[3])
}

/// simd128: widen the weights to i16, multiply-add pairs into four i32 lanes, scale and accumulate in f32x4.
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
#[inline]
pub fn row_dot_simd128(ws: &[f32], wq: &[i8], xs: &[f32], xq: &[i16]) -> f32 {
    use core::arch::wasm32::*;
    let nb = ws.len();
    assert!(xs.len() >= nb && wq.len() >= nb * QK && xq.len() >= nb * QK);
    unsafe {
        let mut acc = f32x4_splat(0.0);
        let (wp, xp) = (wq.as_ptr(), xq.as_ptr());
        for b in 0..nb {
            let w0 = v128_load(wp.add(b * QK) as *const v128);
            let w1 = v128_load(wp.add(b * QK + 16) as *const v128);
            let x = xp.add(b * QK);
            let mut s = i32x4_dot_i16x8(i16x8_extend_low_i8x16(w0), v128_load(x as *const v128));
            s = i32x4_add(s, i32x4_dot_i16x8(i16x8_extend_high_i8x16(w0), v128_load(x.add(8) as *const v128)));
            s = i32x4_add(s, i32x4_dot_i16x8(i16x8_extend_low_i8x16(w1), v128_load(x.add(16) as *const v128)));
            s = i32x4_add(s, i32x4_dot_i16x8(i16x8_extend_high_i8x16(w1), v128_load(x.add(24) as *const v128)));
            let d = f32x4_splat(*ws.get_unchecked(b) * *xs.get_unchecked(b));
            acc = f32x4_add(acc, f32x4_mul(d, f32x4_convert_i32x4(s)));
        }
        (f32x4_extract_lane::<0>(acc) + f32x4_extract_lane::<1>(acc)) + (f32x4_extract_lane::<2>(acc) + f32x4_extract_lane::<3>(acc))
    }
}

// ---------------------------------------------------------------------------------------------
// f32 kernels: attention (q.k and p.v over the cache) and dense f32 weights (F32/F16 files)

/// Dot product of two f32 vectors. Eight partial sums, lane l holding the products of elements
/// e < len - len mod 8 with e mod 8 == l; then (s0 + s4) .. (s3 + s7) as four lanes, summed
/// (s0 + s1) + (s2 + s3); then the tail elements in order. No fused multiply-add anywhere, so the
/// twins agree bit for bit.
#[inline]
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    {
        dot_simd128(a, b)
    }
    #[cfg(target_arch = "x86_64")]
    {
        dot_sse2(a, b)
    }
    #[cfg(not(any(all(target_arch = "wasm32", target_feature = "simd128"), target_arch = "x86_64")))]
    {
        dot_scalar(a, b)
    }
}

/// Scalar twin of `dot`.
#[inline]
pub fn dot_scalar(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let body = n - n % 8;
    let mut acc = [0f32; 8];
    for i in (0..body).step_by(8) {
        for l in 0..8 {
            acc[l] += a[i + l] * b[i + l];
        }
    }
    let s = [acc[0] + acc[4], acc[1] + acc[5], acc[2] + acc[6], acc[3] + acc[7]];
    let mut sum = (s[0] + s[1]) + (s[2] + s[3]);
    for i in body..n {
        sum += a[i] * b[i];
    }
    sum
}

#[cfg(target_arch = "x86_64")]
#[inline]
pub fn dot_sse2(a: &[f32], b: &[f32]) -> f32 {
    use std::arch::x86_64::*;
    let n = a.len().min(b.len());
    let body = n - n % 8;
    unsafe {
        let (pa, pb) = (a.as_ptr(), b.as_ptr());
        let (mut lo, mut hi) = (_mm_setzero_ps(), _mm_setzero_ps());
        for i in (0..body).step_by(8) {
            lo = _mm_add_ps(lo, _mm_mul_ps(_mm_loadu_ps(pa.add(i)), _mm_loadu_ps(pb.add(i))));
            hi = _mm_add_ps(hi, _mm_mul_ps(_mm_loadu_ps(pa.add(i + 4)), _mm_loadu_ps(pb.add(i + 4))));
        }
        let mut s = [0f32; 4];
        _mm_storeu_ps(s.as_mut_ptr(), _mm_add_ps(lo, hi));
        let mut sum = (s[0] + s[1]) + (s[2] + s[3]);
        for i in body..n {
            sum += a[i] * b[i];
        }
        sum
    }
}

#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
#[inline]
pub fn dot_simd128(a: &[f32], b: &[f32]) -> f32 {
    use core::arch::wasm32::*;
    let n = a.len().min(b.len());
    let body = n - n % 8;
    unsafe {
        let (pa, pb) = (a.as_ptr(), b.as_ptr());
        let (mut lo, mut hi) = (f32x4_splat(0.0), f32x4_splat(0.0));
        for i in (0..body).step_by(8) {
            lo = f32x4_add(lo, f32x4_mul(v128_load(pa.add(i) as *const v128), v128_load(pb.add(i) as *const v128)));
            hi = f32x4_add(hi, f32x4_mul(v128_load(pa.add(i + 4) as *const v128), v128_load(pb.add(i + 4) as *const v128)));
        }
        let s = f32x4_add(lo, hi);
        let mut sum = (f32x4_extract_lane::<0>(s) + f32x4_extract_lane::<1>(s)) + (f32x4_extract_lane::<2>(s) + f32x4_extract_lane::<3>(s));
        for i in body..n {
            sum += a[i] * b[i];
        }
        sum
    }
}

/// y += a x, element by element (the compiler vectorizes it; each element is one multiply and
/// one add, so every build gives the same bits).
#[inline]
pub fn axpy(y: &mut [f32], a: f32, x: &[f32]) {
    for (y, x) in y.iter_mut().zip(x) {
        *y += a * *x;
    }
}

/// y (m x rows) = x (m x cols) W^T for a dense f32 W (rows x cols), one `dot` per output.
pub fn matmul_f32(w: &[f32], rows: usize, cols: usize, x: &[f32], m: usize) -> Vec<f32> {
    matmul_f32_with(w, rows, cols, x, m, dot)
}

/// The same product with the scalar twin (tests, benchmarks).
pub fn matmul_f32_scalar(w: &[f32], rows: usize, cols: usize, x: &[f32], m: usize) -> Vec<f32> {
    matmul_f32_with(w, rows, cols, x, m, dot_scalar)
}

#[inline(always)]
fn matmul_f32_with(w: &[f32], rows: usize, cols: usize, x: &[f32], m: usize, dot: impl Fn(&[f32], &[f32]) -> f32 + Sync) -> Vec<f32> {
    assert!(w.len() >= rows * cols && x.len() >= m * cols);
    let mut yt = vec![0f32; rows * m];
    for_row_blocks(&mut yt, m, rows * cols * m, |r0, out| {
        for (k, o) in out.chunks_exact_mut(m).enumerate() {
            let wr = &w[(r0 + k) * cols..(r0 + k + 1) * cols];
            for (i, o) in o.iter_mut().enumerate() {
                *o = dot(wr, &x[i * cols..(i + 1) * cols]);
            }
        }
    });
    transpose(yt, rows, m)
}

/// e^x in f32 from basic operations only (no libm, no fused multiply-add), so it is fast in wasm,
/// where `f32::exp` and `tanh` are software routines, and gives the same bits in every build.
/// Cody-Waite reduction x = n ln 2 + r, |r| <= ln 2 / 2, then Cephes' degree-6 polynomial for e^r
/// (within 2 ulp of the exact value); 2^n is built in the exponent bits. Below -87.3 (the smallest
/// normal f32) it returns 0, above 88 infinity.
#[inline]
pub fn exp(x: f32) -> f32 {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    const LN2_HI: f32 = 0.693_359_4; // ln 2 in few bits: n * LN2_HI is exact
    const LN2_LO: f32 = -2.121_944_4e-4;
    // branch-free (selects only), so that loops over it vectorize
    let xc = if x < -87.3 { -87.3 } else if x > 88.0 { 88.0 } else { x };
    let xc = if xc == xc { xc } else { 0.0 }; // NaN: any finite value, replaced below
    // n = floor(x log2 e + 1/2), by truncation corrected for negative values
    let t = xc * LOG2E + 0.5;
    let n = t as i32;
    let n = n - ((n as f32) > t) as i32;
    let nf = n as f32;
    let r = (xc - nf * LN2_HI) - nf * LN2_LO;
    let mut p = 1.987_569_2e-4f32;
    p = p * r + 1.398_199_9e-3;
    p = p * r + 8.333_452e-3;
    p = p * r + 4.166_579_6e-2;
    p = p * r + 1.666_666_5e-1;
    p = p * r + 5.000_000_1e-1;
    let e = (p * r * r + r) + 1.0;
    let y = e * f32::from_bits(((n + 127) as u32) << 23);
    if x < -87.3 {
        0.0
    } else if x > 88.0 {
        f32::INFINITY
    } else if x == x {
        y
    } else {
        x
    }
}

/// The largest value of a slice (negative infinity when empty), by plain comparisons: in wasm
/// `f32::max` is a call (its NaN rule differs from the instruction's).
#[inline]
pub fn max(x: &[f32]) -> f32 {
    x.iter().fold(f32::NEG_INFINITY, |m, &v| if v > m { v } else { m })
}

/// Softmax in place: e^(x - max) / sum.
#[inline]
pub fn softmax(x: &mut [f32]) {
    let m = max(x);
    x.iter_mut().for_each(|v| *v = exp(*v - m)); // no running sum here: this loop vectorizes
    let inv = 1.0 / x.iter().sum::<f32>();
    x.iter_mut().for_each(|v| *v *= inv);
}

/// y[e] = sum over j of p[j] v[j * stride + e], for e < y.len(), the sum taken in j order from
/// zero: attention's weighted sum of value rows (one head's slice of each cached position).
#[inline]
pub fn weighted_sum(y: &mut [f32], p: &[f32], v: &[f32], stride: usize) {
    assert!(p.is_empty() || v.len() >= (p.len() - 1) * stride + y.len());
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    {
        weighted_sum_simd128(y, p, v, stride)
    }
    #[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
    {
        weighted_sum_scalar(y, p, v, stride)
    }
}

/// Scalar twin of `weighted_sum` (natively the compiler vectorizes its inner loop).
#[inline]
pub fn weighted_sum_scalar(y: &mut [f32], p: &[f32], v: &[f32], stride: usize) {
    y.fill(0.0);
    for (j, &pj) in p.iter().enumerate() {
        axpy(y, pj, &v[j * stride..j * stride + y.len()]);
    }
}

/// simd128: 16 outputs at a time held in four registers across all positions, so y is loaded and
/// stored once instead of once per position; each lane does the twin's operations in its order.
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
#[inline]
pub fn weighted_sum_simd128(y: &mut [f32], p: &[f32], v: &[f32], stride: usize) {
    use core::arch::wasm32::*;
    let n = y.len();
    let body = n - n % 16;
    unsafe {
        let vp = v.as_ptr();
        for e in (0..body).step_by(16) {
            let mut acc = [f32x4_splat(0.0); 4];
            for (j, &pj) in p.iter().enumerate() {
                let w = f32x4_splat(pj);
                let row = vp.add(j * stride + e);
                for (l, a) in acc.iter_mut().enumerate() {
                    *a = f32x4_add(*a, f32x4_mul(w, v128_load(row.add(4 * l) as *const v128)));
                }
            }
            for (l, a) in acc.iter().enumerate() {
                v128_store(y.as_mut_ptr().add(e + 4 * l) as *mut v128, *a);
            }
        }
    }
    if body < n {
        weighted_sum_scalar(&mut y[body..], p, &v[body..], stride);
    }
}

/// p[j] = dot(q, k[j * stride ..][.. q.len()]) for every j < p.len(): attention's scores of one
/// query against one head's slice of each cached key. Each score is exactly `dot`'s.
#[inline]
pub fn dots(p: &mut [f32], q: &[f32], k: &[f32], stride: usize) {
    assert!(p.is_empty() || k.len() >= (p.len() - 1) * stride + q.len());
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    {
        dots_simd128(p, q, k, stride)
    }
    #[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
    {
        dots_scalar(p, q, k, stride)
    }
}

/// Scalar twin of `dots`.
#[inline]
pub fn dots_scalar(p: &mut [f32], q: &[f32], k: &[f32], stride: usize) {
    for (j, pj) in p.iter_mut().enumerate() {
        *pj = dot(q, &k[j * stride..j * stride + q.len()]);
    }
}

/// simd128: four keys at a time, so each load of the query serves four rows.
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
#[inline]
pub fn dots_simd128(p: &mut [f32], q: &[f32], k: &[f32], stride: usize) {
    use core::arch::wasm32::*;
    let n = q.len();
    let body = n - n % 8;
    let rows = p.len();
    let mut j = 0;
    unsafe {
        let (qp, kp) = (q.as_ptr(), k.as_ptr());
        while j + 4 <= rows {
            let (mut lo, mut hi) = ([f32x4_splat(0.0); 4], [f32x4_splat(0.0); 4]);
            for i in (0..body).step_by(8) {
                let (q0, q1) = (v128_load(qp.add(i) as *const v128), v128_load(qp.add(i + 4) as *const v128));
                for r in 0..4 {
                    let kr = kp.add((j + r) * stride + i);
                    lo[r] = f32x4_add(lo[r], f32x4_mul(q0, v128_load(kr as *const v128)));
                    hi[r] = f32x4_add(hi[r], f32x4_mul(q1, v128_load(kr.add(4) as *const v128)));
                }
            }
            for r in 0..4 {
                let s = f32x4_add(lo[r], hi[r]);
                let mut sum = (f32x4_extract_lane::<0>(s) + f32x4_extract_lane::<1>(s)) + (f32x4_extract_lane::<2>(s) + f32x4_extract_lane::<3>(s));
                for i in body..n {
                    sum += q[i] * k[(j + r) * stride + i];
                }
                p[j + r] = sum;
            }
            j += 4;
        }
    }
    for jj in j..rows {
        p[jj] = dot_simd128(q, &k[jj * stride..jj * stride + n]);
    }
}
