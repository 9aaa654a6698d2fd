//! ggml's tensor block formats, one file per format: each file opens with the block's byte layout
//! as ggml defines it (`ggml-common.h`), then its decoder and an encoder. This file is the map and
//! the one dispatch on `DType`.
//!
//! | file | formats | values per block | bytes per block |
//! |---|---|---|---|
//! | `float.rs` | F32, F16, BF16 | 1 | 4, 2, 2 |
//! | `q8_0.rs` | Q8_0 | 32 | 34 |
//! | `q4_0.rs`, `q4_1.rs` | Q4_0, Q4_1 | 32 | 18, 20 |
//! | `q5_0.rs`, `q5_1.rs` | Q5_0, Q5_1 | 32 | 22, 24 |
//! | `q2_k.rs` .. `q6_k.rs` | Q2_K, Q3_K, Q4_K, Q5_K, Q6_K ("K-quants": super-blocks of 256 values in 16 or 8 sub-blocks, each with its own small scale) | 256 | 84, 110, 144, 176, 210 |
//!
//! Decoders do ggml's `dequantize_row_*` f32 operations in the same order (Rust never fuses a
//! multiply and an add), so their results are bit-identical with ggml's and gguf-py's
//! (`tests/quants_compat.py` checks them against gguf-py on random blocks; `tests/quants.rs`
//! against goldens gguf-py wrote).
//!
//! Encoders: F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0 and Q5_1 round exactly as ggml's reference
//! quantizers (`quantize_row_*_ref`; checked byte for byte against gguf-py). The K-quant encoders
//! are simple ones of ours (gguf-py has none): each sub-block's scale (and minimum) from its
//! extremes, those scales quantized against the super-block's, every value rounded to the nearest
//! level of its decoded scale. ggml searches for the scales that minimise the error, so its files
//! are somewhat more accurate; both decode the same way. Ours write the test models.

mod float;
mod q2_k;
mod q3_k;
mod q4_0;
mod q4_1;
mod q4_k;
mod q5_0;
mod q5_1;
mod q5_k;
mod q6_k;
pub(crate) mod q8_0;

use crate::gguf::DType;
use crate::{bail, Result};
use half::f16;

/// Bytes per block of `dtype`, from the format's own file.
pub(crate) fn block_bytes(dtype: DType) -> usize {
    match dtype {
        DType::F32 => 4,
        DType::F16 | DType::BF16 => 2,
        DType::Q8_0 => q8_0::BLOCK_BYTES,
        DType::Q4_0 => q4_0::BLOCK_BYTES,
        DType::Q4_1 => q4_1::BLOCK_BYTES,
        DType::Q5_0 => q5_0::BLOCK_BYTES,
        DType::Q5_1 => q5_1::BLOCK_BYTES,
        DType::Q2_K => q2_k::BLOCK_BYTES,
        DType::Q3_K => q3_k::BLOCK_BYTES,
        DType::Q4_K => q4_k::BLOCK_BYTES,
        DType::Q5_K => q5_k::BLOCK_BYTES,
        DType::Q6_K => q6_k::BLOCK_BYTES,
    }
}

/// Encodes f32 values into `dtype` blocks.
pub fn quantize(values: &[f32], dtype: DType) -> Result<Vec<u8>> {
    if values.len() % dtype.block_len() != 0 {
        bail!("{} values cannot be stored as {}: not a multiple of {}", values.len(), dtype.name(), dtype.block_len());
    }
    let mut out = Vec::with_capacity(dtype.bytes_for(values.len() as u64) as usize);
    let o = &mut out;
    match dtype {
        DType::F32 => float::quantize_f32(values, o),
        DType::F16 => float::quantize_f16(values, o),
        DType::BF16 => float::quantize_bf16(values, o),
        DType::Q8_0 => values.chunks_exact(QK).for_each(|x| q8_0::quantize(x, o)),
        DType::Q4_0 => values.chunks_exact(QK).for_each(|x| q4_0::quantize(x, o)),
        DType::Q4_1 => values.chunks_exact(QK).for_each(|x| q4_1::quantize(x, o)),
        DType::Q5_0 => values.chunks_exact(QK).for_each(|x| q5_0::quantize(x, o)),
        DType::Q5_1 => values.chunks_exact(QK).for_each(|x| q5_1::quantize(x, o)),
        DType::Q2_K => values.chunks_exact(QK_K).for_each(|x| q2_k::quantize(x, o)),
        DType::Q3_K => values.chunks_exact(QK_K).for_each(|x| q3_k::quantize(x, o)),
        DType::Q4_K => values.chunks_exact(QK_K).for_each(|x| q4_k::quantize(x, o)),
        DType::Q5_K => values.chunks_exact(QK_K).for_each(|x| q5_k::quantize(x, o)),
        DType::Q6_K => values.chunks_exact(QK_K).for_each(|x| q6_k::quantize(x, o)),
    }
    Ok(out)
}

/// Decodes `dtype` blocks, appending the values to `out`; `bytes` holds whole blocks (a partial
/// block at the end is ignored: the reader sizes every tensor in whole blocks).
pub fn dequantize(bytes: &[u8], dtype: DType, out: &mut Vec<f32>) {
    out.reserve(bytes.len() / dtype.block_bytes() * dtype.block_len());
    let blocks = bytes.chunks_exact(dtype.block_bytes());
    match dtype {
        DType::F32 => float::dequantize_f32(bytes, out),
        DType::F16 => float::dequantize_f16(bytes, out),
        DType::BF16 => float::dequantize_bf16(bytes, out),
        DType::Q8_0 => blocks.for_each(|b| q8_0::dequantize(b, out)),
        DType::Q4_0 => blocks.for_each(|b| q4_0::dequantize(b, out)),
        DType::Q4_1 => blocks.for_each(|b| q4_1::dequantize(b, out)),
        DType::Q5_0 => blocks.for_each(|b| q5_0::dequantize(b, out)),
        DType::Q5_1 => blocks.for_each(|b| q5_1::dequantize(b, out)),
        DType::Q2_K => blocks.for_each(|b| q2_k::dequantize(b, grow(out))),
        DType::Q3_K => blocks.for_each(|b| q3_k::dequantize(b, grow(out))),
        DType::Q4_K => blocks.for_each(|b| q4_k::dequantize(b, grow(out))),
        DType::Q5_K => blocks.for_each(|b| q5_k::dequantize(b, grow(out))),
        DType::Q6_K => blocks.for_each(|b| q6_k::dequantize(b, grow(out))),
    }
}

/// `dequantize` into a new vector, refusing bytes that are not whole blocks (the CLI's input).
pub fn dequantize_all(bytes: &[u8], dtype: DType) -> Result<Vec<f32>> {
    if bytes.len() % dtype.block_bytes() != 0 {
        bail!("{} bytes are not whole {} blocks of {} bytes", bytes.len(), dtype.name(), dtype.block_bytes());
    }
    let mut out = crate::try_vec(bytes.len() / dtype.block_bytes() * dtype.block_len(), "the decoded values")?;
    dequantize(bytes, dtype, &mut out);
    Ok(out)
}

/// One block as the integer kernels read it (`kernels::QMatrix`): value e of the block is
/// `d[e / 32] * w[e] - dmin[e / 32] * mn[e / 16]`, where `w` (a sub-block's integer scale times
/// the value's level) and `mn` (a sub-block's integer minimum) are exact small integers. Each
/// format's `unpack` fills the slices of one block; formats without minimums leave `mn` and
/// `dmin` alone.
pub struct Block<'a> {
    pub w: &'a mut [i16],
    pub d: &'a mut [f32],
    pub mn: &'a mut [i16],
    pub dmin: &'a mut [f32],
}

/// Rows of blocks unpacked by `unpack_row`: `w` per value, `d` and `dmin` per 32 values, `mn`
/// per 16 (zero for a format without minimums).
#[derive(Default, Clone)]
pub struct Unpacked {
    pub w: Vec<i16>,
    pub d: Vec<f32>,
    pub mn: Vec<i16>,
    pub dmin: Vec<f32>,
}

/// Q3_K's sub-block s scale code (0..64, the signed scale plus 32) from its 12 packed bytes (the
/// fused kernel's).
pub fn q3_k_code(scales: &[u8], s: usize) -> u8 {
    q3_k::code(scales, s)
}

/// Q4_K's (and Q5_K's) sub-block s scale and min codes from the 12 packed bytes (the fused kernels').
pub fn q4_k_scale_min(scales: &[u8], s: usize) -> (u8, u8) {
    q4_k::scale_min(scales, s)
}

/// Whether `dtype`'s values carry a subtracted minimum (the kernels' second term).
pub fn has_mins(dtype: DType) -> bool {
    matches!(dtype, DType::Q4_1 | DType::Q5_1 | DType::Q2_K | DType::Q4_K | DType::Q5_K)
}

/// Unpacks whole blocks of a quantized `dtype` into `u` (resized to them). Exact: every field
/// holds the integers and f16 scales the file stores, nothing rounded.
pub fn unpack_row(bytes: &[u8], dtype: DType, u: &mut Unpacked) {
    #[inline(always)]
    fn each(bytes: &[u8], vl: usize, bb: usize, u: &mut Unpacked, f: impl Fn(&[u8], Block)) {
        for (k, b) in bytes.chunks_exact(bb).enumerate() {
            let (v, s) = (k * vl, k * vl / QK);
            f(b, Block { w: &mut u.w[v..v + vl], d: &mut u.d[s..s + vl / QK], mn: &mut u.mn[2 * s..2 * s + vl / 16], dmin: &mut u.dmin[s..s + vl / QK] });
        }
    }
    let (vl, bb) = (dtype.block_len(), dtype.block_bytes());
    let n = bytes.len() / bb * vl;
    u.w.resize(n, 0);
    u.d.resize(n / QK, 0.0);
    u.mn.resize(n / 16, 0);
    u.dmin.resize(n / QK, 0.0);
    match dtype {
        DType::Q8_0 => each(bytes, vl, bb, u, q8_0::unpack),
        DType::Q4_0 => each(bytes, vl, bb, u, q4_0::unpack),
        DType::Q4_1 => each(bytes, vl, bb, u, q4_1::unpack),
        DType::Q5_0 => each(bytes, vl, bb, u, q5_0::unpack),
        DType::Q5_1 => each(bytes, vl, bb, u, q5_1::unpack),
        DType::Q2_K => each(bytes, vl, bb, u, q2_k::unpack),
        DType::Q3_K => each(bytes, vl, bb, u, q3_k::unpack),
        DType::Q4_K => each(bytes, vl, bb, u, q4_k::unpack),
        DType::Q5_K => each(bytes, vl, bb, u, q5_k::unpack),
        DType::Q6_K => each(bytes, vl, bb, u, q6_k::unpack),
        // no integer form: `kernels::QMatrix` widens these to f32 instead
        DType::F32 | DType::F16 | DType::BF16 => {}
    }
}

// ---------------------------------------------------------------------------------------------
// Shared by the formats

/// Values per block of the legacy formats (Q4_0 .. Q8_0).
pub(crate) const QK: usize = 32;
/// Values per super-block of the K-quants.
pub(crate) const QK_K: usize = 256;

/// The f16 at `b[at..at + 2]` (little-endian), as f32.
#[inline]
fn f16_at(b: &[u8], at: usize) -> f32 {
    f16::from_le_bytes([b[at], b[at + 1]]).to_f32()
}

/// `x` rounded to f16 (to nearest, ties to even, as ggml and numpy do), appended; returns the
/// rounded value as f32, which is what a decoder will see.
#[inline]
fn push_f16(out: &mut Vec<u8>, x: f32) -> f32 {
    let h = f16::from_f32(x);
    out.extend_from_slice(&h.to_le_bytes());
    h.to_f32()
}

/// Room for one K-quant super-block at the end of `out`, returned to be filled.
#[inline]
fn grow(out: &mut Vec<f32>) -> &mut [f32] {
    let start = out.len();
    out.resize(start + QK_K, 0.0);
    &mut out[start..]
}

/// The value of largest magnitude, with its sign (the first one on a tie, as ggml picks it).
#[inline]
fn signed_absmax(x: &[f32]) -> f32 {
    x.iter().fold(0f32, |m, &v| if v.abs() > m.abs() { v } else { m })
}

/// The smallest and the largest value (Q4_1's and Q5_1's encoders span them).
#[inline]
fn min_max(x: &[f32]) -> (f32, f32) {
    let min = x.iter().fold(f32::MAX, |m, &v| if v < m { v } else { m });
    let max = x.iter().fold(-f32::MAX, |m, &v| if v > m { v } else { m });
    (min, max)
}

/// Value `j` (0..32) of a Q5_0 or Q5_1 block, unsigned: its low four bits in `qs` (value j < 16 in
/// the low nibble of qs[j], value j + 16 in the high nibble of qs[j - 16]), its fifth in bit j of `qh`.
#[inline]
fn five_bits(qh: u32, qs: &[u8], j: usize) -> u32 {
    let low = if j < QK / 2 { qs[j] & 0x0f } else { qs[j - QK / 2] >> 4 };
    low as u32 | (((qh >> j) & 1) << 4)
}

/// Appends `qh` and `qs` for 32 values of five bits, as `five_bits` reads them.
#[inline]
fn push_five_bits(out: &mut Vec<u8>, q: &[u8; QK]) {
    let qh = q.iter().enumerate().fold(0u32, |h, (j, &q)| h | (((q >> 4) as u32) << j));
    out.extend_from_slice(&qh.to_le_bytes());
    out.extend((0..QK / 2).map(|j| (q[j] & 0x0f) | ((q[j + QK / 2] & 0x0f) << 4)));
}

/// 1 / d, or 0 when d is 0 (every value then encodes as the zero level).
#[inline]
fn inverse(d: f32) -> f32 {
    if d != 0.0 {
        1.0 / d
    } else {
        0.0
    }
}

/// Nearest integer to `x` (halves away from zero), clamped to [lo, hi].
#[inline]
fn nearest(x: f32, lo: i32, hi: i32) -> i32 {
    (x.round() as i32).clamp(lo, hi)
}

/// One sub-block of an asymmetric K-quant (Q2_K, Q4_K, Q5_K): y = scale * q - min for q in
/// 0..=levels, with min >= 0 (the format stores it unsigned and subtracts it). Returns
/// (scale, min) spanning the values' range widened to include 0.
#[inline]
fn scale_min(x: &[f32], levels: f32) -> (f32, f32) {
    let lo = x.iter().fold(0f32, |m, &v| if v < m { v } else { m });
    let hi = x.iter().fold(lo, |m, &v| if v > m { v } else { m });
    ((hi - lo) / levels, -lo)
}

/// Writes `x` rounded to f16 at `b[at..at + 2]`; returns the rounded value as f32.
#[inline]
fn set_f16(b: &mut [u8], at: usize, x: f32) -> f32 {
    let h = f16::from_f32(x);
    b[at..at + 2].copy_from_slice(&h.to_le_bytes());
    h.to_f32()
}

/// The level of `x` on a grid of step `step` (nearest, clamped to [lo, hi]); the zero level when
/// the step is 0, or when it is lo..hi's nearest to zero.
#[inline]
fn level(x: f32, step: f32, lo: i32, hi: i32) -> i32 {
    if step == 0.0 {
        0.clamp(lo, hi)
    } else {
        nearest(x / step, lo, hi)
    }
}
