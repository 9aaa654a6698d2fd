//! Kernel benchmarks, the same code natively and in wasm (node or a browser worker): our
//! quantized matrix-vector product against candle-core's `QMatMul` and against our scalar twin, on
//! the default model's shapes and GPT-2 124M's. Every row is measured in one run, so the ratios
//! hold even on a noisy shared machine.

use crate::gguf::{quantize, DType};
use crate::kernels::QMatrix;
use crate::sampler::Rng;
use crate::Result;
use candle_core::quantized::{ggml_file::qtensor_from_ggml, QMatMul};
use candle_core::{Device, Module, Tensor};
use serde::Serialize;

/// (name, inputs k, outputs n): y (1 x n) = x (1 x k) W^T.
pub const SHAPES: [(&str, usize, usize); 10] = [
    ("default attn_qkv", 192, 576),
    ("default attn_output", 192, 192),
    ("default ffn_up", 192, 768),
    ("default ffn_down", 768, 192),
    ("default lm_head", 192, 2048),
    ("gpt2 attn_qkv", 768, 2304),
    ("gpt2 attn_output", 768, 768),
    ("gpt2 ffn_up", 768, 3072),
    ("gpt2 ffn_down", 3072, 768),
    ("gpt2 lm_head", 768, 50257),
];

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct KernelRow {
    pub shape: String,
    pub dtype: String,
    pub k: usize,
    pub n: usize,
    /// the file's bytes per weight
    pub bytes_per_weight: f64,
    pub ours_gflops: f64,
    /// None where candle's `QMatMul` has no kernel for the type
    pub candle_gflops: Option<f64>,
    pub scalar_gflops: f64,
    /// ours / candle
    pub ratio: Option<f64>,
    /// max |ours - candle| / max |candle|
    pub rel_diff: Option<f64>,
}

/// Runs `f` repeatedly for at least `seconds`; returns calls per second.
/// Calls per second: the best of five windows of `seconds / 5`, so that a burst of other work on a
/// shared machine lowers one window, not the figure (ours, candle's and the scalar twin alike).
fn rate(seconds: f64, now: &dyn Fn() -> f64, mut f: impl FnMut()) -> f64 {
    f(); // warm-up (and tier-up in wasm engines)
    let mut best = 0f64;
    for _ in 0..5 {
        let start = now();
        let mut calls = 0u64;
        while now() - start < seconds / 5.0 || calls < 3 {
            f();
            calls += 1;
        }
        best = best.max(calls as f64 / (now() - start));
    }
    best
}

/// One row per (shape, type). `now` returns seconds (Instant natively, performance.now() in wasm).
pub fn kernels(shapes: &[(&str, usize, usize)], dtypes: &[DType], seconds: f64, now: &dyn Fn() -> f64) -> Result<Vec<KernelRow>> {
    let mut rng = Rng::new(1);
    let mut rows = Vec::new();
    for &(name, k, n) in shapes {
        let w: Vec<f32> = (0..k * n).map(|_| 0.02 * rng.normal() as f32).collect();
        let x: Vec<f32> = (0..k).map(|_| rng.normal() as f32).collect();
        for &dtype in dtypes {
            let bytes = quantize(&w, dtype)?;
            let ours = QMatrix::new(dtype, n, k, &bytes)?;
            // candle's QMatMul where it has the type (not F16/BF16 blocks)
            let candle = match crate::model::candle_type(dtype) {
                Some(ggml) => Some(QMatMul::from_qtensor(qtensor_from_ggml(ggml, &bytes, vec![n, k], &Device::Cpu)?)?),
                None => None,
            };
            let xt = Tensor::from_slice(&x, (1, k), &Device::Cpu)?;
            let flop = 2.0 * k as f64 * n as f64;
            let ours_rate = rate(seconds, now, || {
                std::hint::black_box(ours.matmul(&x, 1));
            });
            let candle_rate = candle.as_ref().map(|c| {
                rate(seconds, now, || {
                    std::hint::black_box(c.forward(&xt).unwrap());
                })
            });
            let scalar_rate = rate(seconds, now, || {
                std::hint::black_box(ours.matmul_scalar(&x, 1));
            });
            let a = ours.matmul(&x, 1);
            let rel_diff = match &candle {
                Some(c) => {
                    let b = c.forward(&xt)?.flatten_all()?.to_vec1::<f32>()?;
                    let scale = b.iter().fold(0f32, |m, v| m.max(v.abs())).max(1e-12);
                    Some((a.iter().zip(&b).fold(0f32, |m, (p, q)| m.max((p - q).abs())) / scale) as f64)
                }
                None => None,
            };
            rows.push(KernelRow {
                shape: name.to_string(),
                dtype: dtype.name().to_string(),
                k,
                n,
                bytes_per_weight: bytes.len() as f64 / (k * n) as f64,
                ours_gflops: ours_rate * flop / 1e9,
                candle_gflops: candle_rate.map(|r| r * flop / 1e9),
                scalar_gflops: scalar_rate * flop / 1e9,
                ratio: candle_rate.map(|r| ours_rate / r),
                rel_diff,
            });
        }
    }
    Ok(rows)
}

/// The two suites: Q8_0 and Q4_0 on every shape (`all_types` false), or every type but F32 on
/// `TYPE_SHAPES`.
pub fn suite(seconds: f64, all_types: bool, now: &dyn Fn() -> f64) -> Result<Vec<KernelRow>> {
    if all_types {
        let types: Vec<DType> = DType::ALL.into_iter().filter(|t| *t != DType::F32).collect();
        kernels(&TYPE_SHAPES, &types, seconds, now)
    } else {
        kernels(&SHAPES, &[DType::Q8_0, DType::Q4_0], seconds, now)
    }
}

/// GPT-2 124M's shapes that the every-type table measures (one narrow, one wide product).
pub const TYPE_SHAPES: [(&str, usize, usize); 2] = [("gpt2 attn_qkv", 768, 2304), ("gpt2 ffn_down", 3072, 768)];

/// The rows as a markdown table.
pub fn table(rows: &[KernelRow]) -> String {
    let opt = |v: Option<f64>| v.map_or("(no kernel)".to_string(), |v| format!("{v:.2}"));
    let mut s = String::from("| shape | type | bytes/weight | k x n | ours GFLOP/s | candle QMatMul GFLOP/s | scalar GFLOP/s | ours / candle |\n|---|---|---|---|---|---|---|---|\n");
    for r in rows {
        s += &format!(
            "| {} | {} | {:.3} | {}x{} | {:.2} | {} | {:.2} | {} |\n",
            r.shape, r.dtype, r.bytes_per_weight, r.k, r.n, r.ours_gflops, opt(r.candle_gflops), r.scalar_gflops, opt(r.ratio)
        );
    }
    s
}

/// The memory bandwidth one thread reads at (GB/s, best of `reps` passes) over a buffer of
/// `bytes`, larger than any cache: what bounds decoding once a model no longer fits in the cache,
/// since every weight is read once per token. A sum of u64 words over four accumulators (simd128
/// in wasm), kept from being optimised away.
pub fn read_bandwidth(bytes: usize, reps: usize, now: &dyn Fn() -> f64) -> Result<f64> {
    let n = bytes / 8;
    let mut v = crate::try_vec::<u64>(n, "the bandwidth probe's buffer")?;
    v.extend((0..n as u64).map(|i| i.wrapping_mul(0x9e37_79b9_7f4a_7c15)));
    let mut best = 0f64;
    for _ in 0..reps.max(1) {
        let t0 = now();
        let mut acc = [0u64; 4];
        for c in v.chunks_exact(4) {
            for j in 0..4 {
                acc[j] = acc[j].wrapping_add(c[j]);
            }
        }
        std::hint::black_box(acc);
        best = best.max((n * 8) as f64 / (now() - t0) / 1e9);
    }
    Ok(best)
}
