//! Our matrix kernels: y = x W^T for every weight type a GGUF file holds, and the f32 kernels of
//! attention.
//!
//! Weights stay in memory at the file's own size: a matrix holds the file's blocks as they are
//! (Q8_0 alone is repacked, its scales as f32 beside the values, for the fastest inner loop: 1.125
//! bytes per weight against the file's 1.0625). Quantized products quantize the activations to
//! Q8_0 blocks (32 values, an f16-rounded scale), as llama.cpp does, and run in integers:
//! - Q8_0: the values widened to i16 in the kernel (`row_dot`);
//! - every other quantized type: each weight row is unpacked (`quants::unpack_row`, exact) into
//!   i16 products w = (sub-block scale) x (level) with a float scale per 32 values and, for the
//!   types with minimums (Q4_1, Q5_1, Q2_K, Q4_K, Q5_K), an integer minimum per 16; then
//!   `row_dot_i16` and the shared minimum term `min_term`. The row is unpacked once per product
//!   and serves every activation row (a prompt's tokens);
//! - F16 and BF16: each row widened to f32 (`widen_f16`, `widen_bf16`, exact) and multiplied by
//!   the f32 `dot`.
//!
//! Bit-identical twins: a row's dot product keeps four partial sums, lane j holding the products
//! of elements e with (e mod 8) div 2 == j (the lanes of wasm's `i32x4.dot_i16x8_s`). Each block's
//! four integer lane sums are exact; lane j accumulates `scale * lane_sum` in block order; the row's
//! result is (lane0 + lane1) + (lane2 + lane3). The scalar twin does exactly these operations, so
//! the native CLI and the browser produce the same logits, and the same tokens for a seed.
//! `row_dot` chooses between the twins under `cfg`: simd128 in wasm, SSE2 on x86-64, scalar
//! elsewhere; tests compare them bit for bit. The unpacking and the minimum term are one piece of
//! plain code in every build (integers, or f32 operations in a fixed order), so they cannot differ.

use crate::gguf::DType;
use crate::quants::{self, Unpacked};
use crate::{bail, Result};
use half::f16;
use std::sync::Arc;

/// Q8_0 blocks, and the activations' blocks, hold 32 values.
pub const QK: usize = crate::quants::QK;

/// A weight matrix (rows = outputs, cols = inputs) of any type but F32, in the kernels' form.
#[derive(Clone, Debug)]
pub struct QMatrix {
    /// the type the file stored, and that `to_blocks` writes
    pub dtype: DType,
    pub rows: usize,
    pub cols: usize,
    store: Store,
}

#[derive(Clone, Debug)]
enum Store {
    /// Q8_0: (rows, cols / 32) block scales and (rows, cols) values (bytes holding i8, `as_i8`)
    Q8 { scales: Arc<[f32]>, quants: Arc<Vec<u8>> },
    /// any other type: the file's bytes
    Blocks(Arc<Vec<u8>>),
}

/// Activations quantized to Q8_0: per block a scale and 32 values in [-127, 127], kept widened to
/// i16 since every weight row reuses them, and the sum of each 16 values (for minimums).
pub struct QActivations {
    pub scales: Vec<f32>,
    pub quants: Vec<i16>,
    pub sums: Vec<i32>,
}

/// The scales and 16-value sums of the first 4g activation rows laid out by fours (block b of rows
/// 4g'..4g'+4 side by side), so that `less_min_terms_x4` reads each block's four with one load.
pub struct Fours {
    /// [g'][b][j]: scales[(4g' + j) nb + b]
    pub scales: Vec<f32>,
    /// [g'][s][j]: sums[(4g' + j) 2nb + s]
    pub sums: Vec<i32>,
}

impl Fours {
    /// Group g's scales, [b][j].
    pub fn scales(&self, g: usize, nb: usize) -> &[f32] {
        &self.scales[4 * nb * g..4 * nb * (g + 1)]
    }
}

/// Four activation rows of a prompt, as the four-row kernels read them.
#[derive(Clone, Copy)]
pub struct Four<'a> {
    /// each row's block scales
    pub xs: [&'a [f32]; 4],
    /// the same scales by block, [b][j] (`Fours::scales`): the simd128 kernel scales a block's
    /// four sums with one multiplication
    pub xs4: &'a [f32],
    /// each row's values
    pub xq: [&'a [i16]; 4],
}

impl QActivations {
    /// The fours of the first `g` groups of four rows, `nb` blocks a row.
    pub fn by_fours(&self, g: usize, nb: usize) -> Fours {
        let mut f = Fours { scales: Vec::with_capacity(4 * g * nb), sums: Vec::with_capacity(8 * g * nb) };
        for g in 0..g {
            for b in 0..nb {
                f.scales.extend((0..4).map(|j| self.scales[(4 * g + j) * nb + b]));
            }
            for s in 0..2 * nb {
                f.sums.extend((0..4).map(|j| self.sums[(4 * g + j) * 2 * nb + s]));
            }
        }
        f
    }
}

impl QMatrix {
    /// From the file's bytes for `rows * cols` values of `dtype` (any type but F32).
    pub fn new(dtype: DType, rows: usize, cols: usize, data: &[u8]) -> Result<Self> {
        Self::check(dtype, rows, cols, data.len())?;
        Self::from_vec(dtype, rows, cols, data.to_vec())
    }

    /// The same, taking the bytes (a streamed load hands each tensor over without a copy).
    pub fn from_vec(dtype: DType, rows: usize, cols: usize, data: Vec<u8>) -> Result<Self> {
        Self::check(dtype, rows, cols, data.len())?;
        let store = match dtype {
            DType::Q8_0 => {
                // repacked in place, so that a load never holds the matrix twice: each block's 32
                // values move down over the scales before them (block b's from 34b + 2 to 32b,
                // always lower, in order), the scales go to their own vector, and the tail goes
                let mut data = data;
                let mut scales = crate::try_vec(rows * cols / QK, "the matrix scales")?;
                let bb = dtype.block_bytes();
                for b in 0..rows * cols / QK {
                    scales.push(f16::from_le_bytes([data[b * bb], data[b * bb + 1]]).to_f32());
                    data.copy_within(b * bb + 2..(b + 1) * bb, b * QK);
                }
                data.truncate(rows * cols);
                data.shrink_to_fit();
                Store::Q8 { scales: scales.into(), quants: Arc::new(data) }
            }
            _ => Store::Blocks(Arc::new(data)),
        };
        Ok(QMatrix { dtype, rows, cols, store })
    }

    fn check(dtype: DType, rows: usize, cols: usize, len: usize) -> Result<()> {
        if dtype == DType::F32 {
            bail!("QMatrix holds quantized or half-precision blocks, not F32");
        }
        let need = dtype.bytes_for(rows as u64 * cols as u64);
        if cols % dtype.block_len() != 0 || len as u64 != need {
            bail!("a {rows}x{cols} {} matrix needs {need} bytes in rows of whole blocks, got {}", dtype.name(), len);
        }
        Ok(())
    }

    /// Bytes the matrix holds in memory.
    pub fn memory_bytes(&self) -> usize {
        match &self.store {
            Store::Q8 { scales, quants } => scales.len() * 4 + quants.len(),
            Store::Blocks(b) => b.len(),
        }
    }

    fn row_bytes(&self) -> usize {
        self.dtype.bytes_for(self.cols as u64) as usize
    }

    /// Row `r` decoded to f32, appended to `out` (embedding lookups): the file decoder's values.
    pub fn dequantize_row(&self, r: usize, out: &mut Vec<f32>) {
        match &self.store {
            Store::Q8 { scales, quants } => {
                let nb = self.cols / QK;
                for b in 0..nb {
                    let d = scales[r * nb + b];
                    out.extend(quants[r * self.cols + b * QK..r * self.cols + (b + 1) * QK].iter().map(|&q| q as i8 as f32 * d));
                }
            }
            Store::Blocks(data) => {
                let rb = self.row_bytes();
                quants::dequantize(&data[r * rb..(r + 1) * rb], self.dtype, out);
            }
        }
    }

    /// The matrix as file blocks again (to hand the same weights to another kernel).
    pub fn to_blocks(&self) -> Vec<u8> {
        match &self.store {
            Store::Q8 { scales, quants } => {
                let mut out = Vec::with_capacity(self.dtype.bytes_for((self.rows * self.cols) as u64) as usize);
                for (b, d) in scales.iter().enumerate() {
                    out.extend_from_slice(&f16::from_f32(*d).to_le_bytes());
                    out.extend_from_slice(&quants[b * QK..(b + 1) * QK]);
                }
                out
            }
            Store::Blocks(data) => data.to_vec(),
        }
    }

    /// y (m x rows) = x (m x cols) W^T.
    pub fn matmul(&self, x: &[f32], m: usize) -> Vec<f32> {
        self.matmul_with(x, m, Twin::Fast)
    }

    /// The same product with the scalar twins, whatever the build (for benchmarks and tests).
    pub fn matmul_scalar(&self, x: &[f32], m: usize) -> Vec<f32> {
        self.matmul_with(x, m, Twin::Scalar)
    }

    /// Q8_0 through the general path (unpacked to i16 rows) instead of its own kernel: the two
    /// give the same bits (a test checks it).
    pub fn matmul_unpacked(&self, x: &[f32], m: usize) -> Vec<f32> {
        let data = self.to_blocks();
        let mut yt = vec![0f32; self.rows * m];
        let qa = quantize_activations(x, m, self.cols);
        let fours = (m >= 4).then(|| qa.by_fours(m / 4, self.cols / QK));
        self.rows_unpacked(&data, &qa, fours.as_ref(), m, Twin::Fast, 0, &mut yt);
        transpose(yt, self.rows, m)
    }

    fn matmul_with(&self, x: &[f32], m: usize, twin: Twin) -> Vec<f32> {
        let (rows, cols) = (self.rows, self.cols);
        let mut yt = vec![0f32; rows * m];
        let work = rows * cols * m;
        match (&self.store, self.dtype) {
            (Store::Q8 { scales, quants }, _) => {
                let qa = quantize_activations(x, m, cols);
                let nb = cols / QK;
                let dot = match twin {
                    Twin::Fast => row_dot,
                    Twin::Scalar => row_dot_scalar,
                };
                let act = |i: usize| (&qa.scales[i * nb..(i + 1) * nb], &qa.quants[i * cols..(i + 1) * cols]);
                let fours = (matches!(twin, Twin::Fast) && m >= 4).then(|| qa.by_fours(m / 4, nb));
                // outputs by weight row: out[(r - r0) * m + i] for rows r0.. (each weight row read
                // once per tile); in a prompt, four activation rows at a time share the row's loads
                for_row_blocks(&mut yt, m, work, |r0, out| {
                    let row = |k: usize| {
                        let r = r0 + k;
                        (&scales[r * nb..(r + 1) * nb], as_i8(&quants[r * cols..(r + 1) * cols]))
                    };
                    let four = if matches!(twin, Twin::Fast) { m / 4 * 4 } else { 0 };
                    prefill_loops(
                        out,
                        m,
                        four,
                        prefill_tiling(cols + 4 * nb, cols),
                        &mut (),
                        |_, _| {},
                        |_, k, i| {
                            let (ws, wq) = row(k);
                            let a = [act(i), act(i + 1), act(i + 2), act(i + 3)];
                            let f = fours.as_ref().expect("the fours of a prompt");
                            row_dot_x4(ws, wq, Four { xs: a.map(|a| a.0), xs4: f.scales(i / 4, nb), xq: a.map(|a| a.1) })
                        },
                        |_, k, i| {
                            let ((ws, wq), (xs, xq)) = (row(k), act(i));
                            dot(ws, wq, xs, xq)
                        },
                    );
                });
            }
            (Store::Blocks(data), DType::F16 | DType::BF16) => {
                let widen = match (self.dtype, twin) {
                    (DType::F16, Twin::Fast) => widen_f16,
                    (DType::F16, Twin::Scalar) => widen_f16_scalar,
                    (_, Twin::Fast) => widen_bf16,
                    (_, Twin::Scalar) => widen_bf16_scalar,
                };
                let dot = match twin {
                    Twin::Fast => dot,
                    Twin::Scalar => dot_scalar,
                };
                let rb = self.row_bytes();
                for_row_blocks(&mut yt, m, work, |r0, out| {
                    let mut w = vec![0f32; cols];
                    for (k, o) in out.chunks_exact_mut(m).enumerate() {
                        let r = r0 + k;
                        widen(&data[r * rb..(r + 1) * rb], &mut w);
                        for (i, o) in o.iter_mut().enumerate() {
                            *o = dot(&w, &x[i * cols..(i + 1) * cols]);
                        }
                    }
                });
            }
            (Store::Blocks(data), _) => {
                let qa = quantize_activations(x, m, cols);
                let fours = (matches!(twin, Twin::Fast) && m >= 4).then(|| qa.by_fours(m / 4, cols / QK));
                for_row_blocks(&mut yt, m, work, |r0, out| self.rows_unpacked(data, &qa, fours.as_ref(), m, twin, r0, out));
            }
        }
        transpose(yt, rows, m)
    }

    /// Rows r0.. of a product over blocks of any quantized type: each row unpacked once, then
    /// multiplied by every activation row.
    #[inline(always)]
    fn rows_unpacked(&self, data: &[u8], qa: &QActivations, fours: Option<&Fours>, m: usize, twin: Twin, r0: usize, out: &mut [f32]) {
        let (cols, nb, rb) = (self.cols, self.cols / QK, self.row_bytes());
        let mins = quants::has_mins(self.dtype);
        let dot = match twin {
            Twin::Fast => row_dot_i16,
            Twin::Scalar => row_dot_i16_scalar,
        };
        // a few activation rows (decoding): the fused kernels, which unpack in registers
        #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
        if matches!(twin, Twin::Fast) && m < FUSED_BELOW_ROWS {
            let fused: Option<fn(&[u8], &[f32], &[i16], &[i32]) -> f32> = match self.dtype {
                DType::Q4_0 => Some(row_q4_0_simd128),
                DType::Q4_1 => Some(row_q4_1_simd128),
                DType::Q5_0 => Some(row_q5_0_simd128),
                DType::Q5_1 => Some(row_q5_1_simd128),
                DType::Q2_K => Some(row_q2_k_simd128),
                DType::Q3_K => Some(row_q3_k_simd128),
                DType::Q4_K => Some(row_q4_k_simd128),
                DType::Q5_K => Some(row_q5_k_simd128),
                DType::Q6_K => Some(row_q6_k_simd128),
                _ => None,
            };
            if let Some(f) = fused {
                for (k, o) in out.chunks_exact_mut(m).enumerate() {
                    let row = &data[(r0 + k) * rb..(r0 + k + 1) * rb];
                    for (i, o) in o.iter_mut().enumerate() {
                        *o = f(row, &qa.scales[i * nb..(i + 1) * nb], &qa.quants[i * cols..(i + 1) * cols], &qa.sums[2 * i * nb..2 * (i + 1) * nb]);
                    }
                }
                return;
            }
        }
        let act = |i: usize| (&qa.scales[i * nb..(i + 1) * nb], &qa.quants[i * cols..(i + 1) * cols], &qa.sums[2 * i * nb..2 * (i + 1) * nb]);
        // four activation rows at a time share an unpacked row's loads, and (for the types with
        // minimums) each minimum's: `less_min_terms_x4` over the scales and sums laid out by fours
        let four = if matches!(twin, Twin::Fast) { m / 4 * 4 } else { 0 };
        let tiling = prefill_tiling(2 * cols + 8 * nb, cols);
        // the chunk's rows unpacked, and its first row
        let mut chunk: (Vec<Unpacked>, usize) = ((0..tiling.0.min(out.len() / m)).map(|_| Unpacked::default()).collect(), 0);
        prefill_loops(
            out,
            m,
            four,
            tiling,
            &mut chunk,
            |rows, (us, c0)| {
                *c0 = rows.start;
                for k in rows.clone() {
                    quants::unpack_row(&data[(r0 + k) * rb..(r0 + k + 1) * rb], self.dtype, &mut us[k - rows.start]);
                }
            },
            |(us, c0), k, i| {
                let u = &us[k - c0];
                let a = [act(i), act(i + 1), act(i + 2), act(i + 3)];
                let (f, g) = (fours.expect("the fours of a prompt"), i / 4);
                let y = row_dot_i16_x4(&u.d, &u.w, Four { xs: a.map(|a| a.0), xs4: f.scales(g, nb), xq: a.map(|a| a.1) });
                if mins {
                    less_min_terms_x4(y, &u.dmin, &u.mn, f.scales(g, nb), &f.sums[8 * nb * g..8 * nb * (g + 1)])
                } else {
                    y
                }
            },
            |(us, c0), k, i| {
                let (u, (xs, xq, sums)) = (&us[k - c0], act(i));
                let y = dot(&u.d, &u.w, xs, xq);
                if mins {
                    y - min_term(&u.dmin, &u.mn, xs, sums)
                } else {
                    y
                }
            },
        );
    }
}

/// Prefill's loops over a block of weight rows (outputs `out[k m + i]`, weight row k, activation
/// row i): the rows in chunks (`chunk(rows, state)` prepares each), and within a chunk the first
/// `four` activation rows in tiles (`tiling`), four at a time (`x4(state, k, i)` gives rows
/// i..i + 4), then the rest one by one (`one(state, k, i)`). Every output is computed by the same
/// call whatever the tiles, so they change no bits.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn prefill_loops<S>(
    out: &mut [f32],
    m: usize,
    four: usize,
    (rows_per_chunk, tile): (usize, usize),
    state: &mut S,
    mut chunk: impl FnMut(std::ops::Range<usize>, &mut S),
    x4: impl Fn(&S, usize, usize) -> [f32; 4],
    one: impl Fn(&S, usize, usize) -> f32,
) {
    let n = out.len() / m;
    for c0 in (0..n).step_by(rows_per_chunk) {
        let c1 = (c0 + rows_per_chunk).min(n);
        chunk(c0..c1, state);
        for i0 in (0..four).step_by(tile) {
            for k in c0..c1 {
                for i in (i0..(i0 + tile).min(four)).step_by(4) {
                    out[k * m + i..k * m + i + 4].copy_from_slice(&x4(state, k, i));
                }
            }
        }
        for k in c0..c1 {
            for i in four..m {
                out[k * m + i] = one(state, k, i);
            }
        }
    }
}

/// Prefill's loop order, so that what a product re-reads comes from cache: the weight rows in
/// chunks of about `CHUNK_BYTES` (`row_bytes` each, in the kernel's form), re-read from L2 once
/// per tile, and the activation rows, four at a time, in tiles of about `TILE_BYTES` (`cols`
/// i16 values each), re-read from L1 by every row of the chunk. Without tiles, every weight row
/// read the whole prompt's activations (128 tokens of a 768-wide layer: 192 KiB) from L2.
/// Returns (rows per chunk, activation rows per tile, a multiple of four).
fn prefill_tiling(row_bytes: usize, cols: usize) -> (usize, usize) {
    const CHUNK_BYTES: usize = 192 << 10;
    const TILE_BYTES: usize = 16 << 10;
    ((CHUNK_BYTES / row_bytes).max(1), (TILE_BYTES / (2 * cols) / 4 * 4).max(4))
}

/// Bytes read as the i8 values they hold (the same size and alignment).
#[inline(always)]
fn as_i8(b: &[u8]) -> &[i8] {
    // SAFETY: u8 and i8 have the same size and alignment, and every bit pattern is valid for both
    unsafe { std::slice::from_raw_parts(b.as_ptr() as *const i8, b.len()) }
}

/// Which of the twins a product runs.
#[derive(Clone, Copy)]
enum Twin {
    /// the build's own (simd128, SSE2 or scalar)
    Fast,
    Scalar,
}

/// The minimums' share of a row's dot product: the sum over blocks b, in order, of
/// (dmin[b] x xs[b]) x (mn[2b] sums[2b] + mn[2b + 1] sums[2b + 1]), the integer part exact. One
/// piece of code for every build.
#[inline]
pub fn min_term(dmin: &[f32], mn: &[i16], xs: &[f32], sums: &[i32]) -> f32 {
    let mut acc = 0f32;
    for (b, (dm, dx)) in dmin.iter().zip(xs).enumerate() {
        let s = mn[2 * b] as i32 * sums[2 * b] + mn[2 * b + 1] as i32 * sums[2 * b + 1];
        acc += (dm * dx) * s as f32;
    }
    acc
}

/// Four activation rows' `y - min_term(dmin, mn, xs, sums)` at once, their scales and sums by
/// fours (`Fours`): lane j runs row j's operations in `min_term`'s order, so each result is its bits.
#[inline]
pub fn less_min_terms_x4(y: [f32; 4], dmin: &[f32], mn: &[i16], xs4: &[f32], sums4: &[i32]) -> [f32; 4] {
    let nb = dmin.len();
    assert!(mn.len() >= 2 * nb && xs4.len() >= 4 * nb && sums4.len() >= 8 * nb);
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    unsafe {
        use core::arch::wasm32::*;
        let mut acc = f32x4_splat(0.0);
        let (xp, sp) = (xs4.as_ptr(), sums4.as_ptr());
        for b in 0..nb {
            let (m0, m1) = (i32x4_splat(*mn.get_unchecked(2 * b) as i32), i32x4_splat(*mn.get_unchecked(2 * b + 1) as i32));
            let s = i32x4_add(i32x4_mul(m0, v128_load(sp.add(8 * b) as *const v128)), i32x4_mul(m1, v128_load(sp.add(8 * b + 4) as *const v128)));
            let dx = f32x4_mul(f32x4_splat(*dmin.get_unchecked(b)), v128_load(xp.add(4 * b) as *const v128));
            acc = f32x4_add(acc, f32x4_mul(dx, f32x4_convert_i32x4(s)));
        }
        let y = f32x4_sub(f32x4(y[0], y[1], y[2], y[3]), acc);
        [f32x4_extract_lane::<0>(y), f32x4_extract_lane::<1>(y), f32x4_extract_lane::<2>(y), f32x4_extract_lane::<3>(y)]
    }
    #[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
    {
        let mut acc = [0f32; 4];
        for b in 0..nb {
            for j in 0..4 {
                let s = mn[2 * b] as i32 * sums4[8 * b + j] + mn[2 * b + 1] as i32 * sums4[8 * b + 4 + j];
                acc[j] += (dmin[b] * xs4[4 * b + j]) * s as f32;
            }
        }
        [0, 1, 2, 3].map(|j| y[j] - acc[j])
    }
}

/// Fills `out` ((rows, m) row-major) by calling `f(r0, block)` on blocks of whole rows: in order on
/// this thread, or spread over the awake pool (`crate::pool::run`) when it has more than one thread
/// and the product is large enough to pay for it. Every output is computed by the same code either way,
/// so results do not depend on the number of threads.
#[inline(always)]
fn for_row_blocks(out: &mut [f32], m: usize, work: usize, f: impl Fn(usize, &mut [f32]) + Sync) {
    let threads = crate::pool::threads();
    let rows = out.len() / m.max(1);
    if threads > 1 && work >= crate::pool::PARALLEL_MIN_WORK && rows >= 2 * threads {
        // a few blocks per thread, so that a thread that starts late or runs slow holds up no one
        let block = rows.div_ceil(4 * threads).max(8);
        let parts = rows.div_ceil(block);
        let out = crate::pool::Disjoint::new(out);
        crate::pool::run(parts, work, &|p| {
            let (r0, r1) = (p * block, ((p + 1) * block).min(rows));
            // SAFETY: part p alone writes rows r0..r1
            f(r0, unsafe { out.piece(r0 * m, (r1 - r0) * m) })
        });
        return;
    }
    f(0, out)
}

/// (rows, m) row-major to (m, rows) row-major.
fn transpose(a: Vec<f32>, rows: usize, m: usize) -> Vec<f32> {
    if m == 1 {
        return a;
    }
    // in 16 x 16 tiles: row by row, every write of a prompt-long row would land in another line
    const T: usize = 16;
    let mut y = vec![0f32; a.len()];
    for r0 in (0..rows).step_by(T) {
        for i0 in (0..m).step_by(T) {
            for r in r0..(r0 + T).min(rows) {
                for i in i0..(i0 + T).min(m) {
                    y[i * rows + r] = a[r * m + i];
                }
            }
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
    let sums = quants.chunks_exact(16).map(|q| q.iter().map(|&v| v as i32).sum()).collect();
    QActivations { scales, quants, sums }
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

/// `row_dot` over weights already widened to i16 (unpacked rows of the other quantized types):
/// the same lanes, the same order.
#[inline]
pub fn row_dot_i16(ws: &[f32], wq: &[i16], xs: &[f32], xq: &[i16]) -> f32 {
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    {
        row_dot_i16_simd128(ws, wq, xs, xq)
    }
    #[cfg(target_arch = "x86_64")]
    {
        row_dot_i16_sse2(ws, wq, xs, xq)
    }
    #[cfg(not(any(all(target_arch = "wasm32", target_feature = "simd128"), target_arch = "x86_64")))]
    {
        row_dot_i16_scalar(ws, wq, xs, xq)
    }
}

/// Scalar twin of `row_dot_i16`.
#[inline]
pub fn row_dot_i16_scalar(ws: &[f32], wq: &[i16], xs: &[f32], xq: &[i16]) -> f32 {
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

#[cfg(target_arch = "x86_64")]
#[inline]
pub fn row_dot_i16_sse2(ws: &[f32], wq: &[i16], xs: &[f32], xq: &[i16]) -> f32 {
    use std::arch::x86_64::*;
    let nb = ws.len();
    assert!(xs.len() >= nb && wq.len() >= nb * QK && xq.len() >= nb * QK);
    unsafe {
        let mut acc = _mm_setzero_ps();
        let (wp, xp) = (wq.as_ptr(), xq.as_ptr());
        let ld = |p: *const i16| _mm_loadu_si128(p as *const __m128i);
        for b in 0..nb {
            let (w, x) = (wp.add(b * QK), xp.add(b * QK));
            let mut s = _mm_madd_epi16(ld(w), ld(x));
            s = _mm_add_epi32(s, _mm_madd_epi16(ld(w.add(8)), ld(x.add(8))));
            s = _mm_add_epi32(s, _mm_madd_epi16(ld(w.add(16)), ld(x.add(16))));
            s = _mm_add_epi32(s, _mm_madd_epi16(ld(w.add(24)), ld(x.add(24))));
            let d = _mm_set1_ps(*ws.get_unchecked(b) * *xs.get_unchecked(b));
            acc = _mm_add_ps(acc, _mm_mul_ps(d, _mm_cvtepi32_ps(s)));
        }
        let mut lanes = [0f32; 4];
        _mm_storeu_ps(lanes.as_mut_ptr(), acc);
        (lanes[0] + lanes[1]) + (lanes[2] + lanes[3])
    }
}

#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
#[inline]
pub fn row_dot_i16_simd128(ws: &[f32], wq: &[i16], xs: &[f32], xq: &[i16]) -> f32 {
    use core::arch::wasm32::*;
    let nb = ws.len();
    assert!(xs.len() >= nb && wq.len() >= nb * QK && xq.len() >= nb * QK);
    unsafe {
        let mut acc = f32x4_splat(0.0);
        let (wp, xp) = (wq.as_ptr(), xq.as_ptr());
        let ld = |p: *const i16| v128_load(p as *const v128);
        for b in 0..nb {
            let (w, x) = (wp.add(b * QK), xp.add(b * QK));
            let mut s = i32x4_dot_i16x8(ld(w), ld(x));
            s = i32x4_add(s, i32x4_dot_i16x8(ld(w.add(8)), ld(x.add(8))));
            s = i32x4_add(s, i32x4_dot_i16x8(ld(w.add(16)), ld(x.add(16))));
            s = i32x4_add(s, i32x4_dot_i16x8(ld(w.add(24)), ld(x.add(24))));
            let d = f32x4_splat(*ws.get_unchecked(b) * *xs.get_unchecked(b));
            acc = f32x4_add(acc, f32x4_mul(d, f32x4_convert_i32x4(s)));
        }
        (f32x4_extract_lane::<0>(acc) + f32x4_extract_lane::<1>(acc)) + (f32x4_extract_lane::<2>(acc) + f32x4_extract_lane::<3>(acc))
    }
}

/// One weight row against four activation rows (prefill): `row_dot` of each, in one pass, so that
/// the weights are loaded and widened once for the four. Each result's lanes and order are
/// `row_dot`'s, so it is its bits.
#[inline]
pub fn row_dot_x4(ws: &[f32], wq: &[i8], a: Four) -> [f32; 4] {
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    {
        row_dot_x4_simd128(ws, wq, a)
    }
    #[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
    {
        [0, 1, 2, 3].map(|k| row_dot(ws, wq, a.xs[k], a.xq[k]))
    }
}

#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
#[inline]
pub fn row_dot_x4_simd128(ws: &[f32], wq: &[i8], a: Four) -> [f32; 4] {
    use core::arch::wasm32::*;
    assert!(wq.len() >= ws.len() * QK);
    let wp = wq.as_ptr();
    // SAFETY: block b's 32 values lie within wq (checked above)
    rows_x4_simd128(ws, a, |b| unsafe {
        let w0 = v128_load(wp.add(b * QK) as *const v128);
        let w1 = v128_load(wp.add(b * QK + 16) as *const v128);
        [i16x8_extend_low_i8x16(w0), i16x8_extend_high_i8x16(w0), i16x8_extend_low_i8x16(w1), i16x8_extend_high_i8x16(w1)]
    })
}

/// The loop both four-row kernels share: per block, the weight row's 32 values as i16 lanes
/// (`weights(b)`) times each activation row's, in `row_dot`'s lanes and order.
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
#[inline(always)]
fn rows_x4_simd128(ws: &[f32], a: Four, weights: impl Fn(usize) -> [core::arch::wasm32::v128; 4]) -> [f32; 4] {
    use core::arch::wasm32::*;
    let nb = ws.len();
    assert!(a.xs4.len() >= 4 * nb && a.xq.iter().all(|x| x.len() >= nb * QK));
    unsafe {
        let (mut a0, mut a1, mut a2, mut a3) = (f32x4_splat(0.0), f32x4_splat(0.0), f32x4_splat(0.0), f32x4_splat(0.0));
        let [x0, x1, x2, x3] = a.xq.map(|x| x.as_ptr());
        let xs4 = a.xs4.as_ptr();
        for b in 0..nb {
            let w = weights(b);
            // the four rows' dw x dx at once: each lane the product `row_dot` forms
            let d = f32x4_mul(f32x4_splat(*ws.get_unchecked(b)), v128_load(xs4.add(4 * b) as *const v128));
            let lane = |x: *const i16, acc: v128, d: v128| {
                let x = x.add(b * QK);
                let mut s = i32x4_dot_i16x8(w[0], v128_load(x as *const v128));
                s = i32x4_add(s, i32x4_dot_i16x8(w[1], v128_load(x.add(8) as *const v128)));
                s = i32x4_add(s, i32x4_dot_i16x8(w[2], v128_load(x.add(16) as *const v128)));
                s = i32x4_add(s, i32x4_dot_i16x8(w[3], v128_load(x.add(24) as *const v128)));
                f32x4_add(acc, f32x4_mul(d, f32x4_convert_i32x4(s)))
            };
            a0 = lane(x0, a0, i32x4_shuffle::<0, 0, 0, 0>(d, d));
            a1 = lane(x1, a1, i32x4_shuffle::<1, 1, 1, 1>(d, d));
            a2 = lane(x2, a2, i32x4_shuffle::<2, 2, 2, 2>(d, d));
            a3 = lane(x3, a3, i32x4_shuffle::<3, 3, 3, 3>(d, d));
        }
        [hsum(a0), hsum(a1), hsum(a2), hsum(a3)]
    }
}

/// `row_dot_i16` of one unpacked weight row against four activation rows in one pass (prefill):
/// each result is `row_dot_i16`'s bits.
#[inline]
pub fn row_dot_i16_x4(ws: &[f32], wq: &[i16], a: Four) -> [f32; 4] {
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    {
        row_dot_i16_x4_simd128(ws, wq, a)
    }
    #[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
    {
        [0, 1, 2, 3].map(|k| row_dot_i16(ws, wq, a.xs[k], a.xq[k]))
    }
}

#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
#[inline]
pub fn row_dot_i16_x4_simd128(ws: &[f32], wq: &[i16], a: Four) -> [f32; 4] {
    use core::arch::wasm32::*;
    assert!(wq.len() >= ws.len() * QK);
    let wp = wq.as_ptr();
    // SAFETY: block b's 32 values lie within wq (checked above)
    rows_x4_simd128(ws, a, |b| [0, 8, 16, 24].map(|o| unsafe { v128_load(wp.add(b * QK + o) as *const v128) }))
}

/// Below this many activation rows the fused kernels run (each unpacks a row in registers for
/// one activation row); from it on, a row is unpacked once to i16 and serves them all. Both give
/// the same bits.
pub const FUSED_BELOW_ROWS: usize = 4;

// Fused simd128 kernels for every quantized type but Q8_0 (which has its own), those of
// llama.cpp's recipes (Q4_K_M and Q5_K_M mix Q4_K/Q5_K with Q6_K, Q2_K and Q3_K_M mostly Q3_K and
// Q2_K, and all fall back to Q5_0, Q5_1 or Q4_1 for rows that are not whole super-blocks, as
// GPT-2 XL's 1600-wide ones): the unpacking happens in registers. Their scalar twin is the general
// path (`quants::unpack_row`, `row_dot_i16_scalar`, `min_term`): per 32-value block the same exact
// integer lanes (a sub-block scale times a pair sum equals the sum of the scaled pairs), the same
// f32 operations in the same order, and the minimums in their own sum, subtracted at the end.

/// (lane sum of the 16 i8 weights `w` times x[0..16]): i32x4 lanes as `row_dot`'s.
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
#[inline(always)]
unsafe fn dot16_i8(w: core::arch::wasm32::v128, x: *const i16) -> core::arch::wasm32::v128 {
    use core::arch::wasm32::*;
    let lo = i32x4_dot_i16x8(i16x8_extend_low_i8x16(w), v128_load(x as *const v128));
    i32x4_add(lo, i32x4_dot_i16x8(i16x8_extend_high_i8x16(w), v128_load(x.add(8) as *const v128)))
}

#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
#[inline(always)]
fn hsum(acc: core::arch::wasm32::v128) -> f32 {
    use core::arch::wasm32::*;
    (f32x4_extract_lane::<0>(acc) + f32x4_extract_lane::<1>(acc)) + (f32x4_extract_lane::<2>(acc) + f32x4_extract_lane::<3>(acc))
}

#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
#[inline(always)]
fn f16_le(b: &[u8], at: usize) -> f32 {
    f16::from_le_bytes([b[at], b[at + 1]]).to_f32()
}

/// The loop the 32-value formats share: per block, `values(block)` gives its 32 weights as two
/// i8x16 (values 0..16, 16..32), the f16 scale sits at byte 0 and, for Q4_1/Q5_1, the f16
/// minimum m at byte 2, which enters as `min_term` takes it (dmin = -m over mn = 1).
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
#[inline(always)]
unsafe fn row_legacy_simd128<const BB: usize, const MINS: bool>(
    row: &[u8],
    xs: &[f32],
    xq: &[i16],
    sums: &[i32],
    values: impl Fn(&[u8]) -> (core::arch::wasm32::v128, core::arch::wasm32::v128),
) -> f32 {
    use core::arch::wasm32::*;
    let nb = row.len() / BB;
    assert!(xs.len() >= nb && xq.len() >= nb * QK && (!MINS || sums.len() >= 2 * nb));
    let mut acc = f32x4_splat(0.0);
    let mut accm = 0f32;
    for b in 0..nb {
        let blk = &row[b * BB..(b + 1) * BB];
        let (lo, hi) = values(blk);
        let x = unsafe { xq.as_ptr().add(b * QK) };
        let s = unsafe { i32x4_add(dot16_i8(lo, x), dot16_i8(hi, x.add(16))) };
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

/// Q4_0: 18-byte blocks, values (q - 8) * d.
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
pub fn row_q4_0_simd128(row: &[u8], xs: &[f32], xq: &[i16], sums: &[i32]) -> f32 {
    use core::arch::wasm32::*;
    let (m4, eight) = (u8x16_splat(15), i8x16_splat(8));
    unsafe {
        row_legacy_simd128::<18, false>(row, xs, xq, sums, |blk| {
            let q = v128_load(blk.as_ptr().add(2) as *const v128);
            (i8x16_sub(v128_and(q, m4), eight), i8x16_sub(u8x16_shr(q, 4), eight))
        })
    }
}

/// Q4_1: 20-byte blocks, values q * d + m.
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
pub fn row_q4_1_simd128(row: &[u8], xs: &[f32], xq: &[i16], sums: &[i32]) -> f32 {
    use core::arch::wasm32::*;
    let m4 = u8x16_splat(15);
    unsafe {
        row_legacy_simd128::<20, true>(row, xs, xq, sums, |blk| {
            let q = v128_load(blk.as_ptr().add(4) as *const v128);
            (v128_and(q, m4), u8x16_shr(q, 4))
        })
    }
}

/// The fifth bits of a Q5 block's 32 values (`qh`, bit j for value j) as bytes 0 or 16: values
/// 0..16 in the first vector, 16..32 in the second.
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
#[inline(always)]
unsafe fn q5_high_bits(qh: u32) -> (core::arch::wasm32::v128, core::arch::wasm32::v128) {
    use core::arch::wasm32::*;
    let v = u32x4_splat(qh);
    let bits = u8x16(1, 2, 4, 8, 16, 32, 64, 128, 1, 2, 4, 8, 16, 32, 64, 128);
    let sixteen = u8x16_splat(16);
    let spread = |idx: v128| v128_and(i8x16_eq(v128_and(i8x16_swizzle(v, idx), bits), bits), sixteen);
    (spread(u8x16(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1)), spread(u8x16(2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3)))
}

/// Q5_0: 22-byte blocks, values (q - 16) * d with q's fifth bit in `qh`.
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
pub fn row_q5_0_simd128(row: &[u8], xs: &[f32], xq: &[i16], sums: &[i32]) -> f32 {
    use core::arch::wasm32::*;
    let (m4, off) = (u8x16_splat(15), i8x16_splat(16));
    unsafe {
        row_legacy_simd128::<22, false>(row, xs, xq, sums, |blk| {
            let (h0, h1) = q5_high_bits(u32::from_le_bytes([blk[2], blk[3], blk[4], blk[5]]));
            let q = v128_load(blk.as_ptr().add(6) as *const v128);
            (i8x16_sub(v128_or(v128_and(q, m4), h0), off), i8x16_sub(v128_or(u8x16_shr(q, 4), h1), off))
        })
    }
}

/// Q5_1: 24-byte blocks, values q * d + m with q's fifth bit in `qh`.
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
pub fn row_q5_1_simd128(row: &[u8], xs: &[f32], xq: &[i16], sums: &[i32]) -> f32 {
    use core::arch::wasm32::*;
    let m4 = u8x16_splat(15);
    unsafe {
        row_legacy_simd128::<24, true>(row, xs, xq, sums, |blk| {
            let (h0, h1) = q5_high_bits(u32::from_le_bytes([blk[4], blk[5], blk[6], blk[7]]));
            let q = v128_load(blk.as_ptr().add(8) as *const v128);
            (v128_or(v128_and(q, m4), h0), v128_or(u8x16_shr(q, 4), h1))
        })
    }
}

/// Q4_K: 144-byte super-blocks; sub-block s (32 values) is sc_s * q * d - m_s * dmin.
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
pub fn row_q4_k_simd128(row: &[u8], xs: &[f32], xq: &[i16], sums: &[i32]) -> f32 {
    // SAFETY: Q4_K's layout (`quants::q4_k`): the values at bytes 16..144
    unsafe { row_k_simd128::<144, 16, false>(row, xs, xq, sums) }
}

/// Q5_K: 176-byte super-blocks, Q4_K's with a fifth bit per value (bit s of qh[l], bytes 16..48,
/// for value 32s + l) and the low four bits at bytes 48..176.
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
pub fn row_q5_k_simd128(row: &[u8], xs: &[f32], xq: &[i16], sums: &[i32]) -> f32 {
    // SAFETY: Q5_K's layout (`quants::q5_k`)
    unsafe { row_k_simd128::<176, 48, true>(row, xs, xq, sums) }
}

/// The loop Q4_K and Q5_K share: `BB`-byte super-blocks, d and dmin at bytes 0 and 2, the scale
/// and min codes at 4..16, the low four bits of value 64c + 32n + l in nibble n of byte `QS` +
/// 32c + l, and with `FIFTH` the fifth bit of value 32s + l at bit s of byte 16 + l.
///
/// # Safety
/// `BB` and `QS` must be such a layout: QS + 128 <= BB, and with `FIFTH` QS >= 48.
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
#[inline(always)]
unsafe fn row_k_simd128<const BB: usize, const QS: usize, const FIFTH: bool>(row: &[u8], xs: &[f32], xq: &[i16], sums: &[i32]) -> f32 {
    use core::arch::wasm32::*;
    let nsb = row.len() / BB;
    assert!(xs.len() >= nsb * 8 && xq.len() >= nsb * 256 && sums.len() >= nsb * 16);
    let mut acc = f32x4_splat(0.0);
    let mut accm = 0f32;
    let (m4, sixteen) = (u8x16_splat(15), u8x16_splat(16));
    // bit `bit` of each byte of qh, as 16 (or 0): two operations, one for bit 4
    let fifth = |qh: v128, bit: u32| match bit {
        0..=3 => v128_and(u8x16_shl(qh, 4 - bit), sixteen),
        4 => v128_and(qh, sixteen),
        _ => v128_and(u8x16_shr(qh, bit - 4), sixteen),
    };
    for k in 0..nsb {
        let blk = &row[k * BB..(k + 1) * BB];
        let (d, dmin) = (f16_le(blk, 0), f16_le(blk, 2));
        let (mut sc, mut mn) = ([0i32; 8], [0i32; 8]);
        for s in 0..8 {
            let (a, m) = crate::quants::q4_k_scale_min(&blk[4..16], s);
            (sc[s], mn[s]) = (a as i32, m as i32);
        }
        let (qh0, qh1) = if FIFTH { (v128_load(blk.as_ptr().add(16) as *const v128), v128_load(blk.as_ptr().add(32) as *const v128)) } else { (u8x16_splat(0), u8x16_splat(0)) };
        let (xs, xq, sums) = (&xs[8 * k..8 * k + 8], xq.as_ptr().add(256 * k), &sums[16 * k..16 * k + 16]);
        for c in 0..4 {
            let q0 = v128_load(blk.as_ptr().add(QS + 32 * c) as *const v128);
            let q1 = v128_load(blk.as_ptr().add(QS + 16 + 32 * c) as *const v128);
            // low nibbles: sub-block 2c; high nibbles: sub-block 2c + 1
            let (s0, s1) = (2 * c, 2 * c + 1);
            let (mut v00, mut v01, mut v10, mut v11) = (v128_and(q0, m4), v128_and(q1, m4), u8x16_shr(q0, 4), u8x16_shr(q1, 4));
            if FIFTH {
                v00 = v128_or(v00, fifth(qh0, s0 as u32));
                v01 = v128_or(v01, fifth(qh1, s0 as u32));
                v10 = v128_or(v10, fifth(qh0, s1 as u32));
                v11 = v128_or(v11, fifth(qh1, s1 as u32));
            }
            let (x0, x1) = (xq.add(s0 * QK), xq.add(s1 * QK));
            let t0 = i32x4_add(dot16_i8(v00, x0), dot16_i8(v01, x0.add(16)));
            let t1 = i32x4_add(dot16_i8(v10, x1), dot16_i8(v11, x1.add(16)));
            acc = f32x4_add(acc, f32x4_mul(f32x4_splat(d * xs[s0]), f32x4_convert_i32x4(i32x4_mul(t0, i32x4_splat(sc[s0])))));
            accm += (dmin * xs[s0]) * (mn[s0] * sums[2 * s0] + mn[s0] * sums[2 * s0 + 1]) as f32;
            acc = f32x4_add(acc, f32x4_mul(f32x4_splat(d * xs[s1]), f32x4_convert_i32x4(i32x4_mul(t1, i32x4_splat(sc[s1])))));
            accm += (dmin * xs[s1]) * (mn[s1] * sums[2 * s1] + mn[s1] * sums[2 * s1 + 1]) as f32;
        }
    }
    hsum(acc) - accm
}

/// Q2_K: 84-byte super-blocks; value 128h + 32j + l is bits 2j..2j+2 of byte 16 + 32h + l, and
/// sub-block s (16 values) is sc_s * q * d - m_s * dmin (codes in the nibbles of byte s).
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
pub fn row_q2_k_simd128(row: &[u8], xs: &[f32], xq: &[i16], sums: &[i32]) -> f32 {
    use core::arch::wasm32::*;
    let m2 = u8x16_splat(3);
    // SAFETY: Q2_K's layout (`quants::q2_k`): the values at bytes 16..80
    unsafe {
        row_16s_simd128::<84, true>(
            row,
            xs,
            xq,
            sums,
            |blk| (f16_le(blk, 80), f16_le(blk, 82), std::array::from_fn(|s| (blk[s] & 15) as i32), std::array::from_fn(|s| (blk[s] >> 4) as i32)),
            |blk, h, j| {
                let q = |o: usize| v128_and(u8x16_shr(v128_load(blk.as_ptr().add(16 + 32 * h + o) as *const v128), 2 * j as u32), m2);
                (q(0), q(16))
            },
        )
    }
}

/// Q3_K: 110-byte super-blocks; value 128h + 32j + l has its two low bits at bits 2j of byte 32 +
/// 32h + l and its high bit at bit 4h + j of byte l, and sub-block s (16 values) is
/// (code_s - 32) * (low - 4 unless the high bit is set) * d (`quants::q3_k`).
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
pub fn row_q3_k_simd128(row: &[u8], xs: &[f32], xq: &[i16], sums: &[i32]) -> f32 {
    use core::arch::wasm32::*;
    let (m2, four) = (u8x16_splat(3), u8x16_splat(4));
    // SAFETY: Q3_K's layout: high bits at bytes 0..32, low bits at 32..96
    unsafe {
        row_16s_simd128::<110, false>(
            row,
            xs,
            xq,
            sums,
            |blk| (f16_le(blk, 108), 0.0, std::array::from_fn(|s| crate::quants::q3_k_code(&blk[96..108], s) as i32 - 32), [0; 16]),
            |blk, h, j| {
                let bit = (4 * h + j) as u32;
                let q = |o: usize| {
                    let low = v128_and(u8x16_shr(v128_load(blk.as_ptr().add(32 + 32 * h + o) as *const v128), 2 * j as u32), m2);
                    let hm = v128_load(blk.as_ptr().add(o) as *const v128);
                    // the high bit as 4 (or 0), then the value less 4: in -4..=3
                    let high = if bit <= 2 { v128_and(u8x16_shl(hm, 2 - bit), four) } else { v128_and(u8x16_shr(hm, bit - 2), four) };
                    i8x16_sub(v128_or(low, high), four)
                };
                (q(0), q(16))
            },
        )
    }
}

/// The loop Q2_K and Q3_K share: `BB`-byte super-blocks of 8 blocks of 32 values, each block two
/// sub-blocks of 16 with their own codes. `codes(super-block)` gives (d, dmin, the 16 scale codes,
/// the 16 min codes); `values(super-block, h, j)` block 4h + j's 32 values as two i8x16. Per
/// block, the general path's integers (w = code x value) and f32 operations, as for the other
/// fused kernels; with `MINS`, the minimums' term as `min_term` forms it.
///
/// # Safety
/// `values` must read within the super-block it is given.
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
#[inline(always)]
unsafe fn row_16s_simd128<const BB: usize, const MINS: bool>(
    row: &[u8],
    xs: &[f32],
    xq: &[i16],
    sums: &[i32],
    codes: impl Fn(&[u8]) -> (f32, f32, [i32; 16], [i32; 16]),
    values: impl Fn(&[u8], usize, usize) -> (core::arch::wasm32::v128, core::arch::wasm32::v128),
) -> f32 {
    use core::arch::wasm32::*;
    let nsb = row.len() / BB;
    assert!(xs.len() >= nsb * 8 && xq.len() >= nsb * 256 && (!MINS || sums.len() >= nsb * 16));
    let mut acc = f32x4_splat(0.0);
    let mut accm = 0f32;
    for k in 0..nsb {
        let blk = &row[k * BB..(k + 1) * BB];
        let (d, dmin, sc, mn) = codes(blk);
        for h in 0..2 {
            for j in 0..4 {
                let (bl, b) = (4 * h + j, 8 * k + 4 * h + j);
                let (va, vb) = values(blk, h, j);
                let x = xq.as_ptr().add(b * QK);
                let t = i32x4_add(i32x4_mul(dot16_i8(va, x), i32x4_splat(sc[2 * bl])), i32x4_mul(dot16_i8(vb, x.add(16)), i32x4_splat(sc[2 * bl + 1])));
                let dx = *xs.get_unchecked(b);
                acc = f32x4_add(acc, f32x4_mul(f32x4_splat(d * dx), f32x4_convert_i32x4(t)));
                if MINS {
                    accm += (dmin * dx) * (mn[2 * bl] * sums[2 * b] + mn[2 * bl + 1] * sums[2 * b + 1]) as f32;
                }
            }
        }
    }
    if MINS {
        hsum(acc) - accm
    } else {
        hsum(acc)
    }
}

/// Q6_K: 210-byte super-blocks; sub-block s (16 values) is sc_s * (q - 32) * d.
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
pub fn row_q6_k_simd128(row: &[u8], xs: &[f32], xq: &[i16], _sums: &[i32]) -> f32 {
    use core::arch::wasm32::*;
    const BB: usize = 210;
    let nsb = row.len() / BB;
    assert!(xs.len() >= nsb * 8 && xq.len() >= nsb * 256);
    unsafe {
        let mut acc = f32x4_splat(0.0);
        let (m4, m3, m12, m48, off) = (u8x16_splat(15), u8x16_splat(3), u8x16_splat(12), u8x16_splat(48), i8x16_splat(32));
        for k in 0..nsb {
            let blk = &row[k * BB..(k + 1) * BB];
            let p = blk.as_ptr();
            let d = f16_le(blk, 208);
            for h in 0..2 {
                // 16-value groups g = l / 16 of value p = 128h + 32j + l
                let mut v = [[i8x16_splat(0); 2]; 4];
                for g in 0..2 {
                    let qa = v128_load(p.add(64 * h + 16 * g) as *const v128);
                    let qb = v128_load(p.add(64 * h + 32 + 16 * g) as *const v128);
                    let qh = v128_load(p.add(128 + 32 * h + 16 * g) as *const v128);
                    // bits 2p..2p+2 of qh as bits 4..6: ((qh >> 2p) & 3) << 4, in two operations
                    // or one
                    let high = [u8x16_shl(v128_and(qh, m3), 4), u8x16_shl(v128_and(qh, m12), 2), v128_and(qh, m48), v128_and(u8x16_shr(qh, 2), m48)];
                    v[0][g] = i8x16_sub(v128_or(v128_and(qa, m4), high[0]), off);
                    v[1][g] = i8x16_sub(v128_or(v128_and(qb, m4), high[1]), off);
                    v[2][g] = i8x16_sub(v128_or(u8x16_shr(qa, 4), high[2]), off);
                    v[3][g] = i8x16_sub(v128_or(u8x16_shr(qb, 4), high[3]), off);
                }
                for j in 0..4 {
                    let b = 8 * k + 4 * h + j;
                    let s = 8 * h + 2 * j;
                    let x = xq.as_ptr().add(b * QK);
                    let t0 = i32x4_mul(dot16_i8(v[j][0], x), i32x4_splat(blk[192 + s] as i8 as i32));
                    let t1 = i32x4_mul(dot16_i8(v[j][1], x.add(16)), i32x4_splat(blk[192 + s + 1] as i8 as i32));
                    let dx = *xs.get_unchecked(b);
                    acc = f32x4_add(acc, f32x4_mul(f32x4_splat(d * dx), f32x4_convert_i32x4(i32x4_add(t0, t1))));
                }
            }
        }
        hsum(acc)
    }
}

// ---------------------------------------------------------------------------------------------
// F16 and BF16 rows widened to f32, exactly

/// f16 bits to f32 bits without a table or a branch: the magnitude shifted into f32's fields and
/// multiplied by 2^112 (which re-biases the exponent, and turns f16 subnormals into the f32
/// values they stand for); infinities and NaNs get f32's all-ones exponent; then the sign.
#[inline(always)]
fn f16_bits_to_f32(h: u32) -> f32 {
    let mag = (h & 0x7fff) << 13;
    let special = if h & 0x7c00 == 0x7c00 { 0x7f80_0000 } else { 0 };
    let v = f32::from_bits(mag | special) * f32::from_bits(0x7780_0000); // 2^112
    f32::from_bits(v.to_bits() | ((h & 0x8000) << 16))
}

/// Little-endian f16 values to f32 (`out.len()` of them).
#[inline]
pub fn widen_f16(b: &[u8], out: &mut [f32]) {
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    {
        widen_f16_simd128(b, out)
    }
    #[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
    {
        widen_f16_scalar(b, out)
    }
}

/// Scalar twin of `widen_f16` (natively the compiler vectorizes it).
#[inline]
pub fn widen_f16_scalar(b: &[u8], out: &mut [f32]) {
    for (o, h) in out.iter_mut().zip(b.chunks_exact(2)) {
        *o = f16_bits_to_f32(u16::from_le_bytes([h[0], h[1]]) as u32);
    }
}

#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
#[inline]
pub fn widen_f16_simd128(b: &[u8], out: &mut [f32]) {
    use core::arch::wasm32::*;
    let n = out.len().min(b.len() / 2);
    let body = n - n % 8;
    unsafe {
        let (bp, op) = (b.as_ptr(), out.as_mut_ptr());
        let (low15, expo, inf) = (u32x4_splat(0x7fff), u32x4_splat(0x7c00), u32x4_splat(0x7f80_0000));
        let scale = f32x4_splat(f32::from_bits(0x7780_0000));
        let one = |h: v128| {
            let mag = u32x4_shl(v128_and(h, low15), 13);
            let special = v128_and(i32x4_eq(v128_and(h, expo), expo), inf);
            let v = f32x4_mul(v128_or(mag, special), scale);
            v128_or(v, u32x4_shl(v128_and(h, u32x4_splat(0x8000)), 16))
        };
        for i in (0..body).step_by(8) {
            let h = v128_load(bp.add(2 * i) as *const v128);
            v128_store(op.add(i) as *mut v128, one(u32x4_extend_low_u16x8(h)));
            v128_store(op.add(i + 4) as *mut v128, one(u32x4_extend_high_u16x8(h)));
        }
    }
    widen_f16_scalar(&b[2 * body..], &mut out[body..n]);
}

/// Little-endian bf16 values to f32: the upper half of an f32.
#[inline]
pub fn widen_bf16(b: &[u8], out: &mut [f32]) {
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    {
        widen_bf16_simd128(b, out)
    }
    #[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
    {
        widen_bf16_scalar(b, out)
    }
}

/// Scalar twin of `widen_bf16`.
#[inline]
pub fn widen_bf16_scalar(b: &[u8], out: &mut [f32]) {
    for (o, h) in out.iter_mut().zip(b.chunks_exact(2)) {
        *o = f32::from_bits((u16::from_le_bytes([h[0], h[1]]) as u32) << 16);
    }
}

#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
#[inline]
pub fn widen_bf16_simd128(b: &[u8], out: &mut [f32]) {
    use core::arch::wasm32::*;
    let n = out.len().min(b.len() / 2);
    let body = n - n % 8;
    unsafe {
        let (bp, op) = (b.as_ptr(), out.as_mut_ptr());
        for i in (0..body).step_by(8) {
            let h = v128_load(bp.add(2 * i) as *const v128);
            v128_store(op.add(i) as *mut v128, u32x4_shl(u32x4_extend_low_u16x8(h), 16));
            v128_store(op.add(i + 4) as *mut v128, u32x4_shl(u32x4_extend_high_u16x8(h), 16));
        }
    }
    widen_bf16_scalar(&b[2 * body..], &mut out[body..n]);
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

/// ln x in f32 from basic operations only (no libm), so that every build gives the same bits:
/// x = m 2^e with m in [sqrt(1/2), sqrt(2)), then Cephes' polynomial for ln(1 + f), f = m - 1
/// (within 2 ulp). 0 gives negative infinity; negative values and NaN give NaN; infinity itself.
#[inline]
pub fn ln(x: f32) -> f32 {
    if x.is_nan() || x < 0.0 {
        return f32::NAN;
    }
    if x == 0.0 {
        return f32::NEG_INFINITY;
    }
    if x == f32::INFINITY {
        return x;
    }
    // subnormals scaled into the normal range first
    let (x, bias) = if x < f32::MIN_POSITIVE { (x * 16777216.0, -24) } else { (x, 0) };
    let bits = x.to_bits();
    let mut e = ((bits >> 23) & 0xff) as i32 - 126 + bias;
    let mut m = f32::from_bits((bits & 0x007f_ffff) | 0x3f00_0000); // in [0.5, 1)
    if m < std::f32::consts::FRAC_1_SQRT_2 {
        e -= 1;
        m = m + m - 1.0;
    } else {
        m -= 1.0;
    }
    let z = m * m;
    let mut y = 7.037_683_6e-2f32;
    y = y * m - 1.151_461e-1;
    y = y * m + 1.167_699_9e-1;
    y = y * m - 1.242_014_1e-1;
    y = y * m + 1.424_932_3e-1;
    y = y * m - 1.666_805_8e-1;
    y = y * m + 2.000_071_4e-1;
    y = y * m - 2.499_999_4e-1;
    y = y * m + 3.333_333_1e-1;
    y = y * m * z;
    let ef = e as f32;
    y += -2.121_944_4e-4 * ef;
    y += -0.5 * z;
    (m + y) + 0.693_359_4 * ef
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
