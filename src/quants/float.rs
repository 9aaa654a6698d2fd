//! F32, F16 and BF16: one value per "block", little-endian.
//!
//! - F32: IEEE binary32, 4 bytes.
//! - F16: IEEE binary16, 2 bytes (1 sign, 5 exponent, 10 fraction bits).
//! - BF16: bfloat16, 2 bytes: the top half of an f32 (1 sign, 8 exponent, 7 fraction bits), so
//!   decoding shifts it up 16 bits; ggml encodes by rounding to nearest, ties to even, and keeps a
//!   NaN a quiet NaN (`ggml_compute_fp32_to_bf16`).

use half::f16;

pub fn dequantize_f32(b: &[u8], out: &mut Vec<f32>) {
    out.extend(b.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])));
}

pub fn dequantize_f16(b: &[u8], out: &mut Vec<f32>) {
    out.extend(b.chunks_exact(2).map(|b| f16::from_le_bytes([b[0], b[1]]).to_f32()));
}

pub fn dequantize_bf16(b: &[u8], out: &mut Vec<f32>) {
    out.extend(b.chunks_exact(2).map(|b| f32::from_bits((u16::from_le_bytes([b[0], b[1]]) as u32) << 16)));
}

pub fn quantize_f32(x: &[f32], out: &mut Vec<u8>) {
    x.iter().for_each(|v| out.extend_from_slice(&v.to_le_bytes()));
}

pub fn quantize_f16(x: &[f32], out: &mut Vec<u8>) {
    x.iter().for_each(|v| out.extend_from_slice(&f16::from_f32(*v).to_le_bytes()));
}

pub fn quantize_bf16(x: &[f32], out: &mut Vec<u8>) {
    for v in x {
        let u = v.to_bits();
        let h = if u & 0x7fff_ffff > 0x7f80_0000 {
            (u >> 16) | 64 // NaN: keep the sign and payload's top, force it quiet
        } else {
            // no overflow: the largest non-NaN pattern, 0xff80_0000, plus 0x8000 fits
            (u + (0x7fff + ((u >> 16) & 1))) >> 16
        };
        out.extend_from_slice(&(h as u16).to_le_bytes());
    }
}
