//! GPT-2, exactly as OpenAI defined it, loaded from a GGUF in llama.cpp's `gpt2` layout.
//!
//! Pre-LayerNorm blocks, fused QKV with bias, causal multi-head attention scaled by 1/sqrt(head_dim),
//! 4x MLP with tanh-GELU, final LayerNorm, LM head tied to the token embedding unless the file
//! carries `output.weight`. Every matrix is a `Matrix`, dense f32 or quantized blocks: quantization
//! swaps the layer type, not the model.
//!
//! One way through the layers: `infer` (generation, scoring, tracing) runs one sequence on plain
//! f32 slices (T, C) through our kernels, with the KV cache; training (`tune`, `train`) runs the
//! same arithmetic with each layer's backward pass beside its forward, over the same weights.
//! Shapes are noted on each line.

use crate::gguf::{dequantize, DType, Gguf, TensorInfo};
use crate::{bail, Error, Result};
use crate::kernels::{self, QMatrix};
use candle_core::{Device, Tensor};
use std::collections::HashMap;

// ---------------------------------------------------------------------------------------------
// Config

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Config {
    /// vocabulary size (rows of the token embedding)
    pub n_vocab: usize,
    /// context length (rows of the position embedding)
    pub n_ctx: usize,
    /// residual stream width
    pub n_embd: usize,
    /// MLP hidden width (4 * n_embd in GPT-2)
    pub n_ff: usize,
    /// number of decoder blocks
    pub n_layer: usize,
    /// attention heads per block
    pub n_head: usize,
    /// LayerNorm epsilon
    pub eps: f64,
    /// LM head is the token embedding (no `output.weight` in the file)
    pub tied_head: bool,
}

/// Parameter counts by part of the network.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ParamCounts {
    pub embeddings: usize,
    pub attention: usize,
    pub mlp: usize,
    pub norms: usize,
    pub head: usize,
    pub total: usize,
}

impl Config {
    /// Named preset: GPT-2 small (124M).
    pub fn gpt2_124m() -> Self {
        Config { n_vocab: 50257, n_ctx: 1024, n_embd: 768, n_ff: 3072, n_layer: 12, n_head: 12, eps: 1e-5, tied_head: true }
    }

    pub fn head_dim(&self) -> usize {
        self.n_embd / self.n_head
    }

    pub fn params(&self) -> ParamCounts {
        let (e, f, l) = (self.n_embd, self.n_ff, self.n_layer);
        let embeddings = self.n_vocab * e + self.n_ctx * e;
        let attention = l * (e * 3 * e + 3 * e + e * e + e);
        let mlp = l * (e * f + f + f * e + e);
        let norms = l * 4 * e + 2 * e;
        let head = if self.tied_head { 0 } else { self.n_vocab * e };
        ParamCounts { embeddings, attention, mlp, norms, head, total: embeddings + attention + mlp + norms + head }
    }

    /// Reads `gpt2.*` metadata; sizes are checked against the tensors when they load.
    pub fn from_gguf(g: &Gguf) -> Result<Self> {
        let arch = g.get_str("general.architecture")?;
        if arch != "gpt2" {
            bail!("general.architecture is {arch:?}: this engine runs \"gpt2\" models");
        }
        let get = |k: &str| -> Result<usize> {
            let v = g.get_u64(&format!("gpt2.{k}"))?;
            if v == 0 || v > 1 << 20 {
                bail!("metadata gpt2.{k} = {v} is out of range");
            }
            Ok(v as usize)
        };
        let token_embd = g.tensor("token_embd.weight").ok_or_else(|| Error("missing tensor token_embd.weight".into()))?;
        if token_embd.dims.len() != 2 {
            bail!("tensor token_embd.weight has shape {:?}, expected [n_embd, n_vocab]", token_embd.dims);
        }
        let eps = match g.get("gpt2.attention.layer_norm_epsilon") {
            Some(v) => v.as_f64().filter(|e| *e > 0.0 && *e < 1.0).ok_or_else(|| Error(format!("bad layer_norm_epsilon {v:?}")))?,
            None => 1e-5,
        };
        let cfg = Config {
            n_vocab: token_embd.dims[1],
            n_ctx: get("context_length")?,
            n_embd: get("embedding_length")?,
            n_ff: get("feed_forward_length")?,
            n_layer: get("block_count")?,
            n_head: get("attention.head_count")?,
            eps,
            tied_head: g.tensor("output.weight").is_none(),
        };
        if cfg.n_layer > 1024 || cfg.n_head > cfg.n_embd || cfg.n_embd % cfg.n_head != 0 {
            bail!("inconsistent hyper-parameters: {} layers, {} heads, width {}", cfg.n_layer, cfg.n_head, cfg.n_embd);
        }
        // The key/value cache grows with the tokens seen, up to the context; its largest size must
        // be addressable (in u64, so that it cannot wrap where usize has 32 bits).
        let kv = 2 * 4 * cfg.n_layer as u64 * cfg.n_ctx as u64 * cfg.n_embd as u64;
        if kv > usize::MAX as u64 / 2 {
            bail!(
                "this model's key/value cache needs {} MiB at its full context of {} tokens, more than this engine can address",
                kv >> 20,
                cfg.n_ctx
            );
        }
        Ok(cfg)
    }
}

// ---------------------------------------------------------------------------------------------
// Loading

/// Where weights come from: a GGUF file, or named f32 tensors (a trained or tuned model's, and the
/// tests' candle `Var`s).
enum Source<'a> {
    File { g: &'a Gguf, bytes: &'a [u8] },
    /// a streamed file: each tensor's bytes apart (`gguf::Incoming`), in the header's order,
    /// handed over as they are used
    Parts { g: &'a Gguf, parts: std::cell::RefCell<Vec<Vec<u8>>> },
    Tensors(&'a HashMap<String, Tensor>),
}

/// Finds tensors by name, checks their shapes (given in ggml order) and builds layers.
struct Loader<'a> {
    src: Source<'a>,
    kernels: Kernels,
}

/// Which kernels run the quantized matrices: ours (the default), or candle-core's `QMatMul`, kept
/// as the baseline the benchmarks compare against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kernels {
    Ours,
    /// only in a build with the `candle-baseline` feature; elsewhere a load with it is refused
    Candle,
}

impl Kernels {
    /// Candle's when `candle` (refused, saying why, by a build without the baseline), else ours.
    pub fn choose(candle: bool) -> Result<Self> {
        if !candle {
            return Ok(Kernels::Ours);
        }
        if !cfg!(feature = "candle-baseline") {
            return Err(Error(NO_BASELINE.into()));
        }
        Ok(Kernels::Candle)
    }
}

const NO_BASELINE: &str = "this build has no candle baseline (kernels: 'candle'): it is the benchmarks' only; build with the cargo feature candle-baseline (.ci/bench makes www/pkg-bench, which the worker loads with ?build=bench)";

impl<'a> Loader<'a> {
    fn info(g: &'a Gguf, name: &str, dims: &[usize]) -> Result<&'a TensorInfo> {
        let t = g.tensor(name).ok_or_else(|| Error(format!("missing tensor {name}")))?;
        if t.dims != dims {
            bail!("tensor {name} has shape {:?}, expected {dims:?}", t.dims);
        }
        Ok(t)
    }
    fn tensor(map: &HashMap<String, Tensor>, name: &str, dims: &[usize]) -> Result<Tensor> {
        let t = map.get(name).ok_or_else(|| Error(format!("missing tensor {name}")))?;
        let want: Vec<usize> = dims.iter().rev().copied().collect();
        if t.dims() != want.as_slice() {
            bail!("tensor {name} has shape {:?}, expected {want:?}", t.dims());
        }
        Ok(t.clone())
    }
    /// A file tensor's header entry and bytes (borrowed from a whole file, or taken from a
    /// streamed one); None for named tensors.
    fn file_tensor(&self, name: &str, dims: &[usize]) -> Result<Option<(&'a TensorInfo, std::borrow::Cow<'a, [u8]>)>> {
        Ok(match &self.src {
            Source::Tensors(_) => None,
            Source::File { g, bytes } => {
                let t = Self::info(g, name, dims)?;
                Some((t, std::borrow::Cow::Borrowed(&bytes[t.start..t.start + t.len])))
            }
            Source::Parts { g, parts } => {
                let t = Self::info(g, name, dims)?;
                let i = g.tensors.iter().position(|u| std::ptr::eq(u, t)).unwrap_or(0);
                Some((t, std::borrow::Cow::Owned(std::mem::take(&mut parts.borrow_mut()[i]))))
            }
        })
    }
    /// Any tensor as f32, candle shape = reversed ggml dims.
    fn dense(&self, name: &str, dims: &[usize]) -> Result<Tensor> {
        match (&self.src, self.file_tensor(name, dims)?) {
            (Source::Tensors(map), _) => Self::tensor(map, name, dims),
            (_, Some((t, bytes))) => Self::decode(t, &bytes, dims),
            (_, None) => bail!("missing tensor {name}"),
        }
    }
    /// A file tensor's bytes decoded to f32, candle shape = reversed ggml dims.
    fn decode(t: &TensorInfo, bytes: &[u8], dims: &[usize]) -> Result<Tensor> {
        let mut v = crate::try_vec(t.elements(), &format!("tensor {}", t.name))?;
        dequantize(bytes, t.dtype, &mut v);
        if v.len() != t.elements() {
            bail!("tensor {}: {} of its {} bytes arrived", t.name, bytes.len(), t.len);
        }
        let shape: Vec<usize> = dims.iter().rev().copied().collect();
        Ok(Tensor::from_vec(v, shape, &Device::Cpu)?)
    }
    /// A weight matrix stored [in, out] (ggml order) used as y = x W^T. Every type but F32 stays
    /// in its file's form and goes to our kernels (`QMatrix`); F32 goes to the dense f32 path.
    fn matrix(&self, name: &str, dims: &[usize]) -> Result<Matrix> {
        if let Some((t, bytes)) = self.file_tensor(name, dims)? {
            if t.dtype != DType::F32 {
                let q = QMatrix::from_vec(t.dtype, dims[1], dims[0], bytes.into_owned()).map_err(|e| Error(format!("tensor {name}: {e}")))?;
                return Ok(match (self.kernels, candle_type(t.dtype)) {
                    (Kernels::Candle, Some(_)) => Matrix::Candle(candle_qmatmul(&q)?, q),
                    _ => Matrix::Quant(q),
                });
            }
            return Ok(Matrix::Dense(Self::decode(t, &bytes, dims)?));
        }
        Ok(Matrix::Dense(self.dense(name, dims)?))
    }
    fn embedding(&self, name: &str, dims: &[usize]) -> Result<TokenEmbedding> {
        Ok(match self.matrix(name, dims)? {
            Matrix::Dense(t) => TokenEmbedding::Dense(t),
            Matrix::Quant(q) | Matrix::Candle(_, q) => TokenEmbedding::Packed(q),
        })
    }
    fn linear(&self, prefix: &str, n_in: usize, n_out: usize) -> Result<Linear> {
        Ok(Linear { w: self.matrix(&format!("{prefix}.weight"), &[n_in, n_out])?, b: self.dense(&format!("{prefix}.bias"), &[n_out])? })
    }
    fn layer_norm(&self, prefix: &str, n: usize, eps: f64) -> Result<LayerNorm> {
        Ok(LayerNorm { w: self.dense(&format!("{prefix}.weight"), &[n])?, b: self.dense(&format!("{prefix}.bias"), &[n])?, eps })
    }
}

// ---------------------------------------------------------------------------------------------
// Layers: `apply` on plain slices (T, C) of one sequence, through our kernels.

/// Lends a contiguous f32 tensor's values (no copy).
fn read<R>(t: &Tensor, f: impl FnOnce(&[f32]) -> R) -> Result<R> {
    let (storage, layout) = t.storage_and_layout();
    match (&*storage, layout.contiguous_offsets()) {
        (candle_core::Storage::Cpu(candle_core::CpuStorage::F32(v)), Some((a, b))) => Ok(f(&v[a..b])),
        _ => bail!("expected a contiguous f32 tensor in memory, got {:?} {:?}", t.dtype(), t.dims()),
    }
}

struct LayerNorm {
    w: Tensor,
    b: Tensor,
    eps: f64,
}

impl LayerNorm {
    /// Each row of x (rows of `w.len()` values) normalised, scaled and shifted.
    fn apply(&self, x: &[f32]) -> Result<Vec<f32>> {
        read(&self.w, |w| read(&self.b, |b| layer_norm(x, w, b, self.eps as f32, None)))?
    }
}

/// LayerNorm over rows of `w.len()` values: (x - mean) / sqrt(var + eps) * w + b. With `stats`,
/// each row's mean and 1 / sqrt(var + eps) are appended (what the backward pass needs).
pub(crate) fn layer_norm(x: &[f32], w: &[f32], b: &[f32], eps: f32, mut stats: Option<(&mut Vec<f32>, &mut Vec<f32>)>) -> Vec<f32> {
    let n = w.len();
    let mut y = Vec::with_capacity(x.len());
    for row in x.chunks_exact(n) {
        let mean = row.iter().sum::<f32>() / n as f32;
        let var = row.iter().map(|v| (v - mean) * (v - mean)).sum::<f32>() / n as f32;
        let inv = 1.0 / (var + eps).sqrt();
        y.extend(row.iter().zip(w).zip(b).map(|((v, w), b)| (v - mean) * inv * w + b));
        if let Some((m, r)) = stats.as_mut() {
            m.push(mean);
            r.push(inv);
        }
    }
    y
}

/// A weight matrix (out, in): dense f32, or blocks of any other type, through our kernels.
enum Matrix {
    Dense(Tensor),
    Quant(QMatrix),
    /// the baseline: candle's kernels over the same blocks (kept for embedding lookups)
    Candle(CandleMatMul, QMatrix),
}

/// candle's quantized product, in a build with the benchmarks' baseline; without it a type with
/// no values, so that `Matrix::Candle` cannot be made and none of candle's kernels is linked in.
#[cfg(feature = "candle-baseline")]
type CandleMatMul = candle_core::quantized::QMatMul;
#[cfg(not(feature = "candle-baseline"))]
enum CandleMatMul {}

/// candle's block type for a file type its `QMatMul` runs.
pub fn candle_type(d: DType) -> Option<candle_core::quantized::GgmlDType> {
    use candle_core::quantized::GgmlDType as G;
    Some(match d {
        DType::Q8_0 => G::Q8_0,
        DType::Q4_0 => G::Q4_0,
        DType::Q4_1 => G::Q4_1,
        DType::Q5_0 => G::Q5_0,
        DType::Q5_1 => G::Q5_1,
        DType::Q2_K => G::Q2K,
        DType::Q3_K => G::Q3K,
        DType::Q4_K => G::Q4K,
        DType::Q5_K => G::Q5K,
        DType::Q6_K => G::Q6K,
        _ => return None,
    })
}

#[cfg(not(feature = "candle-baseline"))]
fn candle_qmatmul(_: &QMatrix) -> Result<CandleMatMul> {
    Err(Error(NO_BASELINE.into()))
}

#[cfg(feature = "candle-baseline")]
fn candle_qmatmul(q: &QMatrix) -> Result<CandleMatMul> {
    use candle_core::quantized::{ggml_file::qtensor_from_ggml, QMatMul};
    let Some(ty) = candle_type(q.dtype) else { bail!("candle's QMatMul has no {} kernel", q.dtype.name()) };
    // candle reads the blocks in place: give it 4-byte-aligned memory
    let blocks = q.to_blocks();
    let mut words = vec![0u32; blocks.len().div_ceil(4)];
    let buf = unsafe { std::slice::from_raw_parts_mut(words.as_mut_ptr() as *mut u8, blocks.len()) };
    buf.copy_from_slice(&blocks);
    Ok(QMatMul::from_qtensor(qtensor_from_ggml(ty, buf, vec![q.rows, q.cols], &Device::Cpu)?)?)
}

impl Matrix {
    /// y (m, out) = x (m, in) W^T on plain slices: inference.
    fn matmul(&self, x: &[f32], m: usize) -> Result<Vec<f32>> {
        Ok(match self {
            Matrix::Quant(q) => q.matmul(x, m),
            Matrix::Dense(w) => {
                let (rows, cols) = w.dims2()?;
                read(w, |w| kernels::matmul_f32(w, rows, cols, x, m))?
            }
            #[cfg(feature = "candle-baseline")]
            Matrix::Candle(qm, q) => {
                let y = candle_core::Module::forward(qm, &Tensor::from_slice(x, (m, q.cols), &Device::Cpu)?)?;
                y.flatten_all()?.to_vec1::<f32>()?
            }
            #[cfg(not(feature = "candle-baseline"))]
            Matrix::Candle(never, _) => match *never {},
        })
    }
}

struct Linear {
    /// (out, in)
    w: Matrix,
    /// (out,)
    b: Tensor,
}

impl Linear {
    /// (m, in) -> (m, out), bias added.
    fn apply(&self, x: &[f32], m: usize) -> Result<Vec<f32>> {
        let mut y = self.w.matmul(x, m)?;
        read(&self.b, |b| y.chunks_exact_mut(b.len()).for_each(|row| row.iter_mut().zip(b).for_each(|(y, b)| *y += b)))?;
        Ok(y)
    }
}

struct CausalSelfAttention {
    c_attn: Linear,
    c_proj: Linear,
    n_head: usize,
}

impl CausalSelfAttention {
    /// Inference: x (T, C) at positions pos0.. after the `kv` cache's; appends their keys and
    /// values; returns y (T, C) and, if `att` is given, fills it with the weights (nh, T, pos0 + T).
    fn apply(&self, x: &[f32], kv: &mut LayerCache, att: Option<&mut Vec<f32>>, clock: &mut Clock) -> Result<Vec<f32>> {
        let c = self.c_proj.b.dim(0)?;
        let (t, nh, hs) = (x.len() / c, self.n_head, c / self.n_head);
        let qkv = self.c_attn.apply(x, t)?; // (T, 3C): q | k | v
        clock.lap(Stage::Matmul);
        let pos0 = kv.k.len() / c;
        for row in qkv.chunks_exact(3 * c) {
            kv.k.extend_from_slice(&row[c..2 * c]); // (Tk, C), position-major
            kv.v.extend_from_slice(&row[2 * c..]);
        }
        clock.lap(Stage::Other);
        let tk = pos0 + t;
        let scale = 1.0 / (hs as f32).sqrt();
        let mut y = vec![0f32; t * c];
        let att = att.map(|a| {
            a.clear();
            a.resize(nh * t * tk, 0.0);
            crate::pool::Disjoint::new(a.as_mut_slice())
        });
        // one head per part, across the pool when it has threads: each writes its own columns
        // of y (T, C) and its own weights (T, Tk), with the same operations as on one thread
        let out = crate::pool::Disjoint::new(&mut y);
        // each head's scores in its own piece of one buffer
        let mut scores = vec![0f32; nh * tk];
        let scores = crate::pool::Disjoint::new(&mut scores);
        // (the pool's threshold counts the kernels' integer multiply-adds; an f32 one here, with
        // the softmax's exp and the scattered reads, costs about four of them)
        crate::pool::run(nh, 8 * t * tk * c, &|h| {
            // SAFETY: head h alone uses these scores
            let p = unsafe { scores.piece(h * tk, tk) };
            for i in 0..t {
                let n = pos0 + i + 1; // causal: positions 0..=pos0+i
                let q = &qkv[i * 3 * c + h * hs..][..hs];
                kernels::dots(&mut p[..n], q, &kv.k[h * hs..], c);
                p[..n].iter_mut().for_each(|s| *s *= scale);
                kernels::softmax(&mut p[..n]);
                // SAFETY: head h alone writes these columns of row i, and these weights
                kernels::weighted_sum(unsafe { out.piece(i * c + h * hs, hs) }, &p[..n], &kv.v[h * hs..], c);
                if let Some(a) = &att {
                    unsafe { a.piece((h * t + i) * tk, n) }.copy_from_slice(&p[..n]);
                }
            }
        });
        clock.lap(Stage::Attention);
        let out = self.c_proj.apply(&y, t)?;
        clock.lap(Stage::Matmul);
        Ok(out)
    }
}

struct Mlp {
    c_fc: Linear,
    c_proj: Linear,
}

impl Mlp {
    /// (T, C) -> (T, C)
    fn apply(&self, x: &[f32], t: usize, clock: &mut Clock) -> Result<Vec<f32>> {
        let mut h = self.c_fc.apply(x, t)?; // (T, 4C)
        clock.lap(Stage::Matmul);
        h.iter_mut().for_each(|v| *v = gelu_tanh(*v));
        clock.lap(Stage::Other);
        let out = self.c_proj.apply(&h, t)?;
        clock.lap(Stage::Matmul);
        Ok(out)
    }
}

/// GELU, tanh approximation: y = x/2 (1 + tanh u), u = sqrt(2/pi) (x + 0.044715 x^3).
const SQRT_2_OVER_PI: f32 = 0.797_884_6;

/// Written as x / (1 + e^(-2u)), which equals x/2 (1 + tanh u), with our `exp`: libm's tanh is
/// a slow software routine in wasm.
#[inline]
pub(crate) fn gelu_tanh(x: f32) -> f32 {
    x / (1.0 + kernels::exp(-2.0 * SQRT_2_OVER_PI * (x + 0.044715 * x * x * x)))
}

/// d gelu_tanh / dx with our `exp` only (the same bits in every build): with s = 1 / (1 + e^(-2u)),
/// y = x s, so dy/dx = s + 2 x s (1 - s) du/dx, du/dx = sqrt(2/pi) (1 + 3 * 0.044715 x^2).
#[inline]
pub(crate) fn gelu_tanh_grad(x: f32) -> f32 {
    let s = 1.0 / (1.0 + kernels::exp(-2.0 * SQRT_2_OVER_PI * (x + 0.044715 * x * x * x)));
    s + 2.0 * x * s * (1.0 - s) * SQRT_2_OVER_PI * (1.0 + 3.0 * 0.044715 * x * x)
}

struct Block {
    ln_1: LayerNorm,
    attn: CausalSelfAttention,
    ln_2: LayerNorm,
    mlp: Mlp,
}

enum TokenEmbedding {
    /// rows of any type but F32, decoded on lookup by the file's own decoder
    Packed(QMatrix),
    /// (V, C)
    Dense(Tensor),
}

impl TokenEmbedding {
    /// ids (T,) -> (T, C) on plain slices.
    fn lookup(&self, ids: &[u32]) -> Result<Vec<f32>> {
        match self {
            TokenEmbedding::Packed(q) => {
                let mut v = Vec::with_capacity(ids.len() * q.cols);
                ids.iter().for_each(|&id| q.dequantize_row(id as usize, &mut v));
                Ok(v)
            }
            TokenEmbedding::Dense(w) => {
                let c = w.dim(1)?;
                read(w, |w| ids.iter().flat_map(|&id| w[id as usize * c..][..c].iter().copied()).collect())
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The model

/// Keys and values of every layer for the positions seen so far, (positions, C) each, appended
/// in place as tokens arrive.
pub struct Cache {
    layers: Vec<LayerCache>,
    len: usize,
    /// where the time of every forward call through this cache went, when asked
    pub profile: Option<Profile>,
}

/// Milliseconds spent per stage, summed over the forward calls (and sampling steps) profiled.
#[derive(Debug, Default, Clone, Copy, PartialEq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Profile {
    /// quantized and dense matrix products (our kernels, activation quantization included),
    /// the LM head among them
    pub matmul_ms: f64,
    /// the LM head's share of `matmul_ms`
    pub lm_head_ms: f64,
    /// scores over the cached keys, softmax, weighted sum of cached values
    pub attention_ms: f64,
    /// embeddings, LayerNorms, GELU, residual adds, copies into the cache
    pub other_ms: f64,
    /// the reported distribution, rank, candidates and the sampler (`Generator::step`)
    pub sampling_ms: f64,
    /// forward calls profiled (tokens generated, plus one for the prompt)
    pub calls: usize,
}

enum Stage {
    Matmul,
    LmHead,
    Attention,
    Other,
}

/// Laps of a profile: each `lap` charges the time since the previous one to a stage. Does
/// nothing (and reads no clock) when the cache has no profile.
struct Clock {
    last: Option<f64>,
    p: Profile,
}

impl Clock {
    fn new(on: bool) -> Self {
        Clock { last: on.then(crate::now_ms), p: Profile::default() }
    }
    #[inline]
    fn lap(&mut self, stage: Stage) {
        if let Some(last) = self.last {
            let now = crate::now_ms();
            let dt = now - last;
            match stage {
                Stage::Matmul => self.p.matmul_ms += dt,
                Stage::LmHead => {
                    self.p.matmul_ms += dt;
                    self.p.lm_head_ms += dt;
                }
                Stage::Attention => self.p.attention_ms += dt,
                Stage::Other => self.p.other_ms += dt,
            }
            self.last = Some(now);
        }
    }
    fn add_to(self, cache: &mut Cache) {
        if let (Some(p), Some(_)) = (cache.profile.as_mut(), self.last) {
            p.matmul_ms += self.p.matmul_ms;
            p.lm_head_ms += self.p.lm_head_ms;
            p.attention_ms += self.p.attention_ms;
            p.other_ms += self.p.other_ms;
            p.calls += 1;
        }
    }
}

#[derive(Default, Clone)]
struct LayerCache {
    k: Vec<f32>,
    v: Vec<f32>,
}

impl Cache {
    pub fn new(cfg: &Config) -> Self {
        Cache { layers: vec![LayerCache::default(); cfg.n_layer], len: 0, profile: None }
    }
    /// Positions already in the cache.
    pub fn len(&self) -> usize {
        self.len
    }
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

/// What one forward call produced.
pub struct Forward {
    /// (T_out, V) row-major: every position if asked, else the last one
    pub logits: Vec<f32>,
    /// per layer (nh, T, Tk), when asked
    pub attention: Vec<Tensor>,
}

pub struct Gpt2 {
    pub cfg: Config,
    wte: TokenEmbedding,
    /// (n_ctx, C)
    wpe: Tensor,
    blocks: Vec<Block>,
    ln_f: LayerNorm,
    /// (V, C)
    lm_head: Matrix,
}

impl Gpt2 {
    /// Milliseconds this model's first MLP product (C -> 4C, a decoding token's row) takes on
    /// `threads` threads, best of `reps`: what worker.js measures the thread count with, on the
    /// model it will run (no memory beyond one activation row).
    pub fn time_product(&self, threads: usize, reps: usize) -> Result<f64> {
        let fc = &self.blocks.first().ok_or_else(|| crate::Error("the model has no layers".into()))?.mlp.c_fc;
        let x: Vec<f32> = (0..self.cfg.n_embd).map(|i| ((i * 37 % 101) as f32 - 50.0) / 100.0).collect();
        let mut failed = None;
        let ms = crate::pool::time(threads, reps, &mut || {
            if let Err(e) = fc.w.matmul(&x, 1) {
                failed = Some(e);
            }
        });
        failed.map_or(Ok(ms), Err)
    }

    /// Loads a GGUF file in llama.cpp's `gpt2` layout.
    pub fn load(g: &Gguf, bytes: &[u8]) -> Result<Self> {
        Self::load_with(g, bytes, Kernels::Ours)
    }

    pub fn load_with(g: &Gguf, bytes: &[u8], kernels: Kernels) -> Result<Self> {
        Self::build(Config::from_gguf(g)?, Loader { src: Source::File { g, bytes }, kernels })
    }

    /// Loads a streamed file from its tensors' bytes (`gguf::Incoming::finish`), taking them.
    pub fn load_parts(g: &Gguf, parts: Vec<Vec<u8>>, kernels: Kernels) -> Result<Self> {
        Self::build(Config::from_gguf(g)?, Loader { src: Source::Parts { g, parts: parts.into() }, kernels })
    }

    /// Every weight as f32 (quantized ones decoded), in `Weights::layout` order: what fine-tuning
    /// starts from.
    pub fn to_weights(&self) -> Result<Weights> {
        self.weights_where(&|_, _| true)
    }

    /// `to_weights` with only the tensors `keep(layout index, dims)` picks; the others are left
    /// empty (what a partial fine-tune trains, the rest read frozen from the model).
    pub fn weights_where(&self, keep: &dyn Fn(usize, &[usize]) -> bool) -> Result<Weights> {
        fn vals(t: &Tensor) -> Result<Vec<f32>> {
            Ok(t.flatten_all()?.to_vec1::<f32>()?)
        }
        fn mat(m: &Matrix) -> Result<Vec<f32>> {
            match m {
                Matrix::Dense(t) => vals(t),
                Matrix::Quant(q) | Matrix::Candle(_, q) => {
                    let mut v = crate::try_vec(q.rows * q.cols, "the decoded weights")?;
                    (0..q.rows).for_each(|r| q.dequantize_row(r, &mut v));
                    Ok(v)
                }
            }
        }
        let mut tensors = Vec::new();
        for (i, (name, dims)) in Weights::layout(&self.cfg).into_iter().enumerate() {
            if !keep(i, &dims) {
                tensors.push((name, dims, Vec::new()));
                continue;
            }
            let v = match name.as_str() {
                "token_embd.weight" => match &self.wte {
                    TokenEmbedding::Dense(t) => vals(t)?,
                    TokenEmbedding::Packed(q) => mat(&Matrix::Quant(q.clone()))?,
                },
                "position_embd.weight" => vals(&self.wpe)?,
                "output_norm.weight" => vals(&self.ln_f.w)?,
                "output_norm.bias" => vals(&self.ln_f.b)?,
                "output.weight" => mat(&self.lm_head)?,
                _ => {
                    let (i, part) = name.strip_prefix("blk.").and_then(|r| r.split_once('.')).ok_or_else(|| Error(format!("no tensor {name}")))?;
                    let b = &self.blocks[i.parse::<usize>().map_err(|_| Error(format!("no tensor {name}")))?];
                    match part {
                        "attn_norm.weight" => vals(&b.ln_1.w)?,
                        "attn_norm.bias" => vals(&b.ln_1.b)?,
                        "attn_qkv.weight" => mat(&b.attn.c_attn.w)?,
                        "attn_qkv.bias" => vals(&b.attn.c_attn.b)?,
                        "attn_output.weight" => mat(&b.attn.c_proj.w)?,
                        "attn_output.bias" => vals(&b.attn.c_proj.b)?,
                        "ffn_norm.weight" => vals(&b.ln_2.w)?,
                        "ffn_norm.bias" => vals(&b.ln_2.b)?,
                        "ffn_up.weight" => mat(&b.mlp.c_fc.w)?,
                        "ffn_up.bias" => vals(&b.mlp.c_fc.b)?,
                        "ffn_down.weight" => mat(&b.mlp.c_proj.w)?,
                        "ffn_down.bias" => vals(&b.mlp.c_proj.b)?,
                        _ => bail!("no tensor {name}"),
                    }
                }
            };
            tensors.push((name, dims, v));
        }
        Ok(Weights { cfg: self.cfg.clone(), tensors })
    }

    /// The model over f32 weights (dense matrices, our f32 kernels).
    pub fn from_weights(w: &Weights) -> Result<Self> {
        let mut map = HashMap::new();
        for (name, dims, v) in &w.tensors {
            let shape: Vec<usize> = dims.iter().rev().copied().collect();
            map.insert(name.clone(), Tensor::from_slice(v, shape, &Device::Cpu)?);
        }
        Self::from_tensors(&w.cfg, &map)
    }

    /// Writes every non-empty vector (1-D tensor) of `w` into the model: the norms and biases a
    /// partial fine-tune trained, or the loaded ones back (Reset).
    pub fn set_vectors(&mut self, w: &Weights) -> Result<()> {
        let ix = crate::tune::TensorIdx::of(&self.cfg);
        let set = |t: &mut Tensor, i: usize| -> Result<()> {
            let v = &w.tensors[i].2;
            if !v.is_empty() {
                *t = Tensor::from_slice(v, v.len(), &Device::Cpu)?;
            }
            Ok(())
        };
        for (b, l) in self.blocks.iter_mut().zip(&ix.layers) {
            set(&mut b.ln_1.w, l.ln1_w)?;
            set(&mut b.ln_1.b, l.ln1_b)?;
            set(&mut b.attn.c_attn.b, l.qkv_b)?;
            set(&mut b.attn.c_proj.b, l.proj_b)?;
            set(&mut b.ln_2.w, l.ln2_w)?;
            set(&mut b.ln_2.b, l.ln2_b)?;
            set(&mut b.mlp.c_fc.b, l.fc_b)?;
            set(&mut b.mlp.c_proj.b, l.down_b)?;
        }
        set(&mut self.ln_f.w, ix.lnf_w)?;
        set(&mut self.ln_f.b, ix.lnf_b)
    }

    /// The frozen matrix at `Weights::layout` index `i` (a layer's product or the LM head; the
    /// token embedding's index means the head when it is tied), for a partial fine-tune.
    fn frozen(&self, i: usize) -> Result<&Matrix> {
        let ix = crate::tune::TensorIdx::of(&self.cfg);
        if i == ix.head {
            return Ok(&self.lm_head);
        }
        for (b, l) in self.blocks.iter().zip(&ix.layers) {
            match i {
                _ if i == l.qkv_w => return Ok(&b.attn.c_attn.w),
                _ if i == l.proj_w => return Ok(&b.attn.c_proj.w),
                _ if i == l.fc_w => return Ok(&b.mlp.c_fc.w),
                _ if i == l.down_w => return Ok(&b.mlp.c_proj.w),
                _ => {}
            }
        }
        bail!("tensor {i} is not a matrix of the model")
    }

    /// y (m, out) = x (m, in) W^T with frozen matrix `i`, as inference runs it.
    pub(crate) fn frozen_matmul(&self, i: usize, x: &[f32], m: usize) -> Result<Vec<f32>> {
        self.frozen(i)?.matmul(x, m)
    }

    /// dx (m, in) += dy (m, out) W with frozen matrix `i`: each row of W decoded once (the file
    /// decoder's values) and added into every row of dx.
    pub(crate) fn frozen_back_x(&self, i: usize, dx: &mut [f32], dy: &[f32], m: usize) -> Result<()> {
        let mut row = Vec::new();
        let mut add = |out: usize, inp: usize, get: &mut dyn FnMut(usize, &mut Vec<f32>)| {
            for o in 0..out {
                row.clear();
                get(o, &mut row);
                for (dxi, dyi) in dx.chunks_exact_mut(inp).zip(dy.chunks_exact(out)).take(m) {
                    kernels::axpy(dxi, dyi[o], &row);
                }
            }
        };
        match self.frozen(i)? {
            Matrix::Quant(q) | Matrix::Candle(_, q) => add(q.rows, q.cols, &mut |o, r| q.dequantize_row(o, r)),
            Matrix::Dense(w) => {
                let (out, inp) = w.dims2()?;
                read(w, |w| add(out, inp, &mut |o, r| r.extend_from_slice(&w[o * inp..(o + 1) * inp])))?
            }
        }
        Ok(())
    }

    /// The token and position embeddings of `ids` at positions 0.., summed (T, C).
    pub(crate) fn embed(&self, ids: &[u32]) -> Result<Vec<f32>> {
        self.check_ids(ids)?;
        let c = self.cfg.n_embd;
        let mut x = self.wte.lookup(ids)?;
        read(&self.wpe, |wpe| x.iter_mut().zip(&wpe[..ids.len() * c]).for_each(|(x, p)| *x += p))?;
        Ok(x)
    }

    /// The model as a GGUF with every tensor in its loaded form (quantized blocks byte for byte),
    /// the vectors (norms, biases) taken from `w`: a partial fine-tune's result, nothing rounded.
    pub fn to_gguf_with(&self, w: &Weights, tokenizer: &crate::tokenizer::Tokenizer, name: &str) -> Result<Vec<u8>> {
        let ix = crate::tune::TensorIdx::of(&self.cfg);
        let packed = |i: usize| -> Option<&QMatrix> {
            match (i == ix.wte, &self.wte, self.frozen(i)) {
                (true, TokenEmbedding::Packed(q), _) => Some(q),
                (false, _, Ok(Matrix::Quant(q) | Matrix::Candle(_, q))) => Some(q),
                _ => None,
            }
        };
        // f32 values for what is neither tuned nor packed (the position embedding, F32 matrices)
        let plain = self.weights_where(&|i, _| w.tensors[i].2.is_empty() && packed(i).is_none())?;
        let file_type = packed(ix.layers.first().map_or(ix.head, |l| l.qkv_w)).map_or(DType::F32, |q| q.dtype);
        let mut out = crate::gguf::Writer::new();
        w.write_meta(&mut out, tokenizer, name, file_type, file_type.is_quantized())?;
        for (i, ((tname, dims, tuned), (_, _, own))) in w.tensors.iter().zip(&plain.tensors).enumerate() {
            match packed(i) {
                Some(q) if tuned.is_empty() => out.blocks(tname, dims, q.dtype, q.to_blocks())?,
                _ => out.tensor(tname, dims, DType::F32, if tuned.is_empty() { own } else { tuned })?,
            };
        }
        Ok(out.to_bytes())
    }

    /// Builds the model over named f32 tensors (candle shapes).
    pub fn from_tensors(cfg: &Config, tensors: &HashMap<String, Tensor>) -> Result<Self> {
        Self::build(cfg.clone(), Loader { src: Source::Tensors(tensors), kernels: Kernels::Ours })
    }

    fn build(cfg: Config, l: Loader) -> Result<Self> {
        let (e, f) = (cfg.n_embd, cfg.n_ff);
        let wte = l.embedding("token_embd.weight", &[e, cfg.n_vocab])?;
        let wpe = l.dense("position_embd.weight", &[e, cfg.n_ctx])?;
        let mut blocks = Vec::with_capacity(cfg.n_layer);
        for i in 0..cfg.n_layer {
            let p = format!("blk.{i}");
            blocks.push(Block {
                ln_1: l.layer_norm(&format!("{p}.attn_norm"), e, cfg.eps)?,
                attn: CausalSelfAttention {
                    c_attn: l.linear(&format!("{p}.attn_qkv"), e, 3 * e)?,
                    c_proj: l.linear(&format!("{p}.attn_output"), e, e)?,
                    n_head: cfg.n_head,
                },
                ln_2: l.layer_norm(&format!("{p}.ffn_norm"), e, cfg.eps)?,
                mlp: Mlp { c_fc: l.linear(&format!("{p}.ffn_up"), e, f)?, c_proj: l.linear(&format!("{p}.ffn_down"), f, e)? },
            });
        }
        let ln_f = l.layer_norm("output_norm", e, cfg.eps)?;
        let head = if cfg.tied_head { "token_embd.weight" } else { "output.weight" };
        // tied: the same tensor (or the same shared blocks) as the embedding
        let lm_head = match (&wte, cfg.tied_head) {
            (TokenEmbedding::Dense(t), true) => Matrix::Dense(t.clone()),
            (TokenEmbedding::Packed(q), true) if l.kernels == Kernels::Candle && candle_type(q.dtype).is_some() => Matrix::Candle(candle_qmatmul(q)?, q.clone()),
            (TokenEmbedding::Packed(q), true) => Matrix::Quant(q.clone()),
            (_, false) => l.matrix(head, &[e, cfg.n_vocab])?,
        };
        Ok(Gpt2 { cfg, wte, wpe, blocks, ln_f, lm_head })
    }

    /// Inference, on plain slices through our kernels: ids (T,) at the positions after the
    /// cache's, whose keys and values are appended. Returns the final hidden states (T, C) before
    /// `ln_f` and, if asked, the attention weights per layer (nh, T, Tk). With `trace`, every
    /// stage's output is recorded by name, for a reader to look at.
    fn infer(&self, ids: &[u32], cache: &mut Cache, want_attention: bool, mut trace: Option<&mut Vec<(String, Tensor)>>, clock: &mut Clock) -> Result<(Vec<f32>, Vec<Tensor>)> {
        let (t, c, nh) = (ids.len(), self.cfg.n_embd, self.cfg.n_head);
        let pos0 = cache.len;
        let tk = pos0 + t;
        let tracing = trace.is_some();
        let keep = want_attention || tracing;
        let mut record = |name: String, x: &[f32], dims: &[usize]| -> Result<()> {
            if let Some(tr) = trace.as_mut() {
                tr.push((name, Tensor::from_slice(x, dims, &Device::Cpu)?));
            }
            Ok(())
        };
        let mut x = self.wte.lookup(ids)?; // (T, C)
        record("token_embedding".into(), &x, &[t, c])?;
        read(&self.wpe, |wpe| -> Result<()> {
            let pos = &wpe[pos0 * c..tk * c];
            record("position_embedding".into(), pos, &[t, c])?;
            x.iter_mut().zip(pos).for_each(|(x, p)| *x += p);
            Ok(())
        })??;
        let mut attention = Vec::new();
        let mut att = Vec::new();
        for (i, block) in self.blocks.iter().enumerate() {
            let h = block.ln_1.apply(&x)?;
            clock.lap(Stage::Other);
            let a = block.attn.apply(&h, &mut cache.layers[i], keep.then_some(&mut att), clock)?;
            x.iter_mut().zip(&a).for_each(|(x, a)| *x += a);
            let h2 = block.ln_2.apply(&x)?;
            clock.lap(Stage::Other);
            let m = block.mlp.apply(&h2, t, clock)?;
            if tracing {
                record(format!("blk.{i}.ln_1"), &h, &[t, c])?;
                record(format!("blk.{i}.attention"), &att, &[nh, t, tk])?;
                record(format!("blk.{i}.attn_out"), &a, &[t, c])?;
                record(format!("blk.{i}.resid_mid"), &x, &[t, c])?;
                record(format!("blk.{i}.ln_2"), &h2, &[t, c])?;
                record(format!("blk.{i}.mlp_out"), &m, &[t, c])?;
            }
            x.iter_mut().zip(&m).for_each(|(x, m)| *x += m);
            if tracing {
                record(format!("blk.{i}.resid_out"), &x, &[t, c])?;
            }
            if want_attention {
                attention.push(Tensor::from_slice(&att, (nh, t, tk), &Device::Cpu)?);
            }
            clock.lap(Stage::Other);
        }
        cache.len += t;
        Ok((x, attention))
    }

    /// Every stage of one full pass over `ids` (one sequence, from position 0), by name; ends
    /// with "ln_f" (T, C) and "logits" (T, V).
    pub fn trace(&self, ids: &[u32]) -> Result<Vec<(String, Tensor)>> {
        if ids.is_empty() || ids.len() > self.cfg.n_ctx {
            bail!("trace needs 1 to {} tokens, got {}", self.cfg.n_ctx, ids.len());
        }
        self.check_ids(ids)?;
        let mut tr = Vec::new();
        let (x, _) = self.infer(ids, &mut Cache::new(&self.cfg), false, Some(&mut tr), &mut Clock::new(false))?;
        let h = self.ln_f.apply(&x)?;
        let logits = self.lm_head.matmul(&h, ids.len())?;
        tr.push(("ln_f".into(), Tensor::from_vec(h, (ids.len(), self.cfg.n_embd), &Device::Cpu)?));
        tr.push(("logits".into(), Tensor::from_vec(logits, (ids.len(), self.cfg.n_vocab), &Device::Cpu)?));
        Ok(tr)
    }

    fn check_ids(&self, ids: &[u32]) -> Result<()> {
        match ids.iter().find(|&&i| i as usize >= self.cfg.n_vocab) {
            Some(bad) => bail!("token id {bad} is outside the vocabulary of {}", self.cfg.n_vocab),
            None => Ok(()),
        }
    }

    /// Runs `ids` at the positions after those in `cache`, appending their keys and values.
    pub fn forward(&self, ids: &[u32], cache: &mut Cache, all_logits: bool, want_attention: bool) -> Result<Forward> {
        let t = ids.len();
        if t == 0 {
            bail!("no tokens to run");
        }
        if cache.len + t > self.cfg.n_ctx {
            bail!("{} tokens exceed the context length of {}", cache.len + t, self.cfg.n_ctx);
        }
        self.check_ids(ids)?;
        let mut clock = Clock::new(cache.profile.is_some());
        let (x, attention) = self.infer(ids, cache, want_attention, None, &mut clock)?;
        let x = if all_logits { &x[..] } else { &x[(t - 1) * self.cfg.n_embd..] };
        let rows = x.len() / self.cfg.n_embd;
        let h = self.ln_f.apply(x)?;
        clock.lap(Stage::Other);
        let logits = self.lm_head.matmul(&h, rows)?; // (T_out, V)
        clock.lap(Stage::LmHead);
        clock.add_to(cache);
        Ok(Forward { logits, attention })
    }

}

// ---------------------------------------------------------------------------------------------
// Export

/// An in-memory model: f32 tensors named and shaped (ggml order) as the GGUF stores them.
#[derive(Clone)]
pub struct Weights {
    pub cfg: Config,
    pub tensors: Vec<(String, Vec<usize>, Vec<f32>)>,
}

impl Weights {
    /// Every tensor of the `gpt2` layout with its ggml dims, in file order.
    pub fn layout(cfg: &Config) -> Vec<(String, Vec<usize>)> {
        let (e, f) = (cfg.n_embd, cfg.n_ff);
        let mut out = vec![("token_embd.weight".to_string(), vec![e, cfg.n_vocab]), ("position_embd.weight".to_string(), vec![e, cfg.n_ctx])];
        for i in 0..cfg.n_layer {
            for (part, dims) in [
                ("attn_norm.weight", vec![e]),
                ("attn_norm.bias", vec![e]),
                ("attn_qkv.weight", vec![e, 3 * e]),
                ("attn_qkv.bias", vec![3 * e]),
                ("attn_output.weight", vec![e, e]),
                ("attn_output.bias", vec![e]),
                ("ffn_norm.weight", vec![e]),
                ("ffn_norm.bias", vec![e]),
                ("ffn_up.weight", vec![e, f]),
                ("ffn_up.bias", vec![f]),
                ("ffn_down.weight", vec![f, e]),
                ("ffn_down.bias", vec![e]),
            ] {
                out.push((format!("blk.{i}.{part}"), dims));
            }
        }
        out.push(("output_norm.weight".into(), vec![e]));
        out.push(("output_norm.bias".into(), vec![e]));
        if !cfg.tied_head {
            out.push(("output.weight".into(), vec![e, cfg.n_vocab]));
        }
        out
    }

    /// Random weights from a seed: matrices N(0, std), norm gains near 1, small biases.
    pub fn random(cfg: &Config, seed: u64, std: f32) -> Self {
        let mut rng = crate::sampler::Rng::new(seed);
        let tensors = Self::layout(cfg)
            .into_iter()
            .map(|(name, dims)| {
                let n: usize = dims.iter().product();
                let (mean, s) = if name.ends_with("norm.weight") { (1.0, 0.1) } else if dims.len() == 1 { (0.0, 0.02) } else { (0.0, std) };
                let v = (0..n).map(|_| mean + s * rng.normal() as f32).collect();
                (name, dims, v)
            })
            .collect();
        Weights { cfg: cfg.clone(), tensors }
    }

    pub fn get(&self, name: &str) -> Option<&[f32]> {
        self.tensors.iter().find(|(n, _, _)| n == name).map(|(_, _, v)| v.as_slice())
    }

    /// Writes a GGUF as llama.cpp lays out `gpt2`: matrices in `dtype`, vectors and the position
    /// embedding in F32, the tokenizer embedded.
    pub fn to_gguf(&self, tokenizer: &crate::tokenizer::Tokenizer, dtype: DType, name: &str) -> Result<Vec<u8>> {
        let mut w = crate::gguf::Writer::new();
        self.write_into(&mut w, tokenizer, dtype, name)?;
        Ok(w.to_bytes())
    }

    /// The metadata, tokenizer and tensors of `to_gguf`, into a writer that may take more.
    pub fn write_into(&self, w: &mut crate::gguf::Writer, tokenizer: &crate::tokenizer::Tokenizer, dtype: DType, name: &str) -> Result<()> {
        self.write_mixed(w, tokenizer, name, dtype, &|_| dtype)
    }

    /// `write_into` with a type per matrix, as llama.cpp's quantizer recipes mix them (Q4_K_M:
    /// Q4_K with some Q6_K, ...): `type_of(name)` for each 2-D weight; vectors and the position
    /// embedding stay F32. `file_type` gives `general.file_type`.
    pub fn write_mixed(&self, w: &mut crate::gguf::Writer, tokenizer: &crate::tokenizer::Tokenizer, name: &str, file_type: DType, type_of: &dyn Fn(&str) -> DType) -> Result<()> {
        let layout = Self::layout(&self.cfg);
        let type_for = |tname: &str, dims: &[usize]| if dims.len() == 2 && tname != "position_embd.weight" { type_of(tname) } else { DType::F32 };
        self.write_meta(w, tokenizer, name, file_type, layout.iter().any(|(n, d)| type_for(n, d).is_quantized()))?;
        for (tname, dims) in layout {
            let v = self.get(&tname).ok_or_else(|| Error(format!("missing tensor {tname}")))?;
            w.tensor(&tname, &dims, type_for(&tname, &dims), v)?;
        }
        Ok(())
    }

    /// The metadata and the tokenizer of a `gpt2` GGUF (`quantized`: some tensor is).
    pub(crate) fn write_meta(&self, w: &mut crate::gguf::Writer, tokenizer: &crate::tokenizer::Tokenizer, name: &str, file_type: DType, quantized: bool) -> Result<()> {
        use crate::gguf::Value;
        let c = &self.cfg;
        if tokenizer.vocab_size() != c.n_vocab {
            bail!("tokenizer has {} tokens but the model's vocabulary is {}", tokenizer.vocab_size(), c.n_vocab);
        }
        w.meta("general.architecture", Value::String("gpt2".into()))
            .meta("general.name", Value::String(name.into()))
            .meta("general.file_type", Value::U32(file_type.file_type()))
            .meta("gpt2.context_length", Value::U32(c.n_ctx as u32))
            .meta("gpt2.embedding_length", Value::U32(c.n_embd as u32))
            .meta("gpt2.feed_forward_length", Value::U32(c.n_ff as u32))
            .meta("gpt2.block_count", Value::U32(c.n_layer as u32))
            .meta("gpt2.attention.head_count", Value::U32(c.n_head as u32))
            .meta("gpt2.attention.layer_norm_epsilon", Value::F32(c.eps as f32));
        if quantized {
            w.meta("general.quantization_version", Value::U32(2));
        }
        tokenizer.write_gguf(w);
        Ok(())
    }
}
