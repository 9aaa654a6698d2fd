//! Our matrix kernels over quantized weights: y = x W^T with W in Q8_0 or Q4_0 blocks and the
//! activations quantized to Q8_0 blocks, as llama.cpp does.
//!
//! Every block's dot product is an exact integer sum, and the blocks' scaled sums are added in
//! one fixed order, so the scalar kernel and the simd128 kernel give bit-identical results: the
//! native CLI and the browser produce the same logits, hence the same tokens for a seed.
//! `block_dot` chooses between the twins under `cfg(target_feature)`; tests compare them.

use crate::gguf::DType;
use crate::{bail, Result};
use half::f16;
use std::sync::Arc;

/// Q8_0/Q4_0 blocks hold 32 values.
pub const QK: usize = 32;

/// A weight matrix (rows = outputs, cols = inputs) kept in its file encoding.
#[derive(Clone, Debug)]
pub struct QMatrix {
    pub dtype: DType,
    pub rows: usize,
    pub cols: usize,
    data: Arc<[u8]>,
}

/// Activations quantized to Q8_0: per block a scale and 32 signed bytes.
pub struct QActivations {
    pub scales: Vec<f32>,
    pub quants: Vec<i8>,
    pub blocks_per_row: usize,
}

impl QMatrix {
    pub fn new(dtype: DType, rows: usize, cols: usize, data: &[u8]) -> Result<Self> {
        if !matches!(dtype, DType::Q8_0 | DType::Q4_0) {
            bail!("QMatrix holds Q8_0 or Q4_0 blocks, not {}", dtype.name());
        }
        if cols % QK != 0 || data.len() != dtype.bytes_for(rows * cols) {
            bail!("a {rows}x{cols} {} matrix needs {} bytes, got {}", dtype.name(), dtype.bytes_for(rows * cols), data.len());
        }
        Ok(QMatrix { dtype, rows, cols, data: data.into() })
    }

    fn row_bytes(&self) -> usize {
        self.dtype.bytes_for(self.cols)
    }

    /// Row `r` decoded to f32, appended to `out` (embedding lookups).
    pub fn dequantize_row(&self, r: usize, out: &mut Vec<f32>) {
        let rb = self.row_bytes();
        crate::gguf::dequantize(&self.data[r * rb..(r + 1) * rb], self.dtype, out);
    }

    /// y (m x rows) = x (m x cols) W^T.
    pub fn matmul(&self, x: &[f32], m: usize) -> Vec<f32> {
        self.matmul_with(x, m, block_dot)
    }

    /// The same product with the scalar block dot, whatever the build (for benchmarks).
    pub fn matmul_scalar(&self, x: &[f32], m: usize) -> Vec<f32> {
        self.matmul_with(x, m, block_dot_scalar)
    }

    /// The raw blocks (for handing the same matrix to another kernel).
    pub fn bytes(&self) -> &[u8] {
        &self.data
    }

    #[inline(always)]
    fn matmul_with(&self, x: &[f32], m: usize, dot: impl Fn(&[i8], &[i8]) -> i32) -> Vec<f32> {
        let qa = quantize_activations(x, m, self.cols);
        let mut y = vec![0f32; m * self.rows];
        let nb = self.cols / QK;
        let rb = self.row_bytes();
        let bb = self.dtype.block_bytes();
        let mut wq = [0i8; QK];
        for r in 0..self.rows {
            let row = &self.data[r * rb..(r + 1) * rb];
            // each output row's weights are read once for all m inputs
            let mut sums = vec![0f32; m];
            for b in 0..nb {
                let block = &row[b * bb..(b + 1) * bb];
                let dw = f16::from_le_bytes([block[0], block[1]]).to_f32();
                let w: &[i8] = match self.dtype {
                    DType::Q8_0 => bytemuck_i8(&block[2..]),
                    _ => {
                        for j in 0..16 {
                            wq[j] = (block[2 + j] & 0x0f) as i8 - 8;
                            wq[j + 16] = (block[2 + j] >> 4) as i8 - 8;
                        }
                        &wq
                    }
                };
                for (i, s) in sums.iter_mut().enumerate() {
                    let k = i * nb + b;
                    let xq = &qa.quants[k * QK..(k + 1) * QK];
                    *s += (dw * qa.scales[k]) * dot(w, xq) as f32;
                }
            }
            for (i, s) in sums.into_iter().enumerate() {
                y[i * self.rows + r] = s;
            }
        }
        y
    }
}

fn bytemuck_i8(b: &[u8]) -> &[i8] {
    // i8 and u8 have the same size and alignment
    unsafe { std::slice::from_raw_parts(b.as_ptr() as *const i8, b.len()) }
}

/// Quantizes m rows of `cols` values to Q8_0 blocks: scale = max|x| / 127, q = round(x / scale).
pub fn quantize_activations(x: &[f32], m: usize, cols: usize) -> QActivations {
    let nb = cols / QK;
    let mut scales = Vec::with_capacity(m * nb);
    let mut quants = Vec::with_capacity(m * cols);
    for block in x[..m * cols].chunks_exact(QK) {
        let amax = block.iter().fold(0f32, |a, v| a.max(v.abs()));
        let d = amax / 127.0;
        let id = if d != 0.0 { 1.0 / d } else { 0.0 };
        // stored as f16 like llama.cpp's Q8_0, and used as stored
        let d16 = f16::from_f32(d);
        scales.push(d16.to_f32());
        quants.extend(block.iter().map(|v| (v * id).round() as i8));
    }
    QActivations { scales, quants, blocks_per_row: nb }
}

/// The exact integer dot product of two 32-value blocks.
#[inline]
pub fn block_dot(a: &[i8], b: &[i8]) -> i32 {
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    {
        block_dot_simd128(a, b)
    }
    #[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
    {
        block_dot_scalar(a, b)
    }
}

/// Scalar twin.
#[inline]
pub fn block_dot_scalar(a: &[i8], b: &[i8]) -> i32 {
    a[..QK].iter().zip(&b[..QK]).map(|(&x, &y)| x as i32 * y as i32).sum()
}

/// simd128: widen to i16, multiply-add pairs into i32 lanes, sum the lanes.
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
#[inline]
pub fn block_dot_simd128(a: &[i8], b: &[i8]) -> i32 {
    use core::arch::wasm32::*;
    assert!(a.len() >= QK && b.len() >= QK);
    unsafe {
        let a0 = v128_load(a.as_ptr() as *const v128);
        let a1 = v128_load(a.as_ptr().add(16) as *const v128);
        let b0 = v128_load(b.as_ptr() as *const v128);
        let b1 = v128_load(b.as_ptr().add(16) as *const v128);
        let mut acc = i32x4_dot_i16x8(i16x8_extend_low_i8x16(a0), i16x8_extend_low_i8x16(b0));
        acc = i32x4_add(acc, i32x4_dot_i16x8(i16x8_extend_high_i8x16(a0), i16x8_extend_high_i8x16(b0)));
        acc = i32x4_add(acc, i32x4_dot_i16x8(i16x8_extend_low_i8x16(a1), i16x8_extend_low_i8x16(b1)));
        acc = i32x4_add(acc, i32x4_dot_i16x8(i16x8_extend_high_i8x16(a1), i16x8_extend_high_i8x16(b1)));
        i32x4_extract_lane::<0>(acc) + i32x4_extract_lane::<1>(acc) + i32x4_extract_lane::<2>(acc) + i32x4_extract_lane::<3>(acc)
    }
}
