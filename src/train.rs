//! Training the same `Gpt2` the engine runs: its weights become candle `Var`s, candle's autograd
//! gives the gradients, and our own AdamW (warm-up, cosine decay, decoupled weight decay on
//! matrices, global-norm clipping) updates them. Optimizer state is explicit so that a checkpoint
//! (a GGUF file written by the same exporter) resumes a run exactly.

use crate::gguf::{DType, Gguf, Value, Writer};
use crate::model::{Config, Gpt2, Weights};
use crate::sampler::Rng;
use crate::tokenizer::Tokenizer;
use crate::{bail, Error, Result};
use candle_core::{Device, Tensor, Var};
use std::collections::HashMap;

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct TrainConfig {
    /// optimizer steps
    pub steps: usize,
    /// sequences per step
    pub batch: usize,
    /// tokens per sequence (at most the context length)
    pub seq_len: usize,
    /// peak learning rate, reached after `warmup` steps, then cosine decay to `min_lr`
    pub lr: f64,
    pub min_lr: f64,
    pub warmup: usize,
    /// decoupled weight decay, on matrices only
    pub weight_decay: f64,
    pub beta1: f64,
    pub beta2: f64,
    /// global gradient-norm limit
    pub clip: f64,
    pub seed: u64,
}

impl Default for TrainConfig {
    fn default() -> Self {
        TrainConfig {
            steps: 1000,
            batch: 16,
            seq_len: 128,
            lr: 2e-3,
            min_lr: 2e-4,
            warmup: 50,
            weight_decay: 0.1,
            beta1: 0.9,
            beta2: 0.99,
            clip: 1.0,
            seed: 1337,
        }
    }
}

impl TrainConfig {
    /// Learning rate at `step` (0-based).
    pub fn lr_at(&self, step: usize) -> f64 {
        if step < self.warmup {
            return self.lr * (step + 1) as f64 / self.warmup as f64;
        }
        let span = (self.steps.saturating_sub(self.warmup)).max(1) as f64;
        let progress = ((step - self.warmup) as f64 / span).min(1.0);
        self.min_lr + 0.5 * (self.lr - self.min_lr) * (1.0 + (std::f64::consts::PI * progress).cos())
    }
}

struct Param {
    name: String,
    /// ggml dims, as the exporter writes them
    dims: Vec<usize>,
    var: Var,
    m: Tensor,
    v: Tensor,
    decay: bool,
}

pub struct Trainer {
    pub cfg: Config,
    pub tc: TrainConfig,
    params: Vec<Param>,
    /// steps taken so far
    pub step: usize,
    rng: Rng,
}

/// What one optimizer step did.
#[derive(Debug, Clone, Copy)]
pub struct StepStats {
    pub loss: f64,
    pub lr: f64,
    pub grad_norm: f64,
}

impl Trainer {
    /// Fresh weights, GPT-2's initialisation: N(0, 0.02) matrices and embeddings, residual
    /// projections scaled by 1/sqrt(2 * layers), zero biases, unit LayerNorm gains.
    pub fn new(cfg: &Config, tc: &TrainConfig) -> Result<Self> {
        if tc.seq_len > cfg.n_ctx || tc.seq_len == 0 || tc.batch == 0 {
            bail!("sequence length {} must be in 1..={} and batch at least 1", tc.seq_len, cfg.n_ctx);
        }
        let mut rng = Rng::new(tc.seed);
        let resid = 0.02 / (2.0 * cfg.n_layer as f64).sqrt();
        let tensors = Weights::layout(cfg)
            .into_iter()
            .map(|(name, dims)| {
                let n: usize = dims.iter().product();
                let v: Vec<f32> = if name.ends_with("norm.weight") {
                    vec![1.0; n]
                } else if dims.len() == 1 {
                    vec![0.0; n]
                } else {
                    let std = if name.ends_with("attn_output.weight") || name.ends_with("ffn_down.weight") { resid } else { 0.02 };
                    (0..n).map(|_| (std * rng.normal()) as f32).collect()
                };
                (name, dims, v)
            })
            .collect();
        let mut t = Self::from_weights(&Weights { cfg: cfg.clone(), tensors }, tc)?;
        t.rng = rng;
        Ok(t)
    }

    fn from_weights(w: &Weights, tc: &TrainConfig) -> Result<Self> {
        let mut params = Vec::new();
        for (name, dims, values) in &w.tensors {
            let shape: Vec<usize> = dims.iter().rev().copied().collect();
            let t = Tensor::from_vec(values.clone(), shape, &Device::Cpu)?;
            params.push(Param {
                decay: dims.len() == 2 && name != "position_embd.weight",
                name: name.clone(),
                dims: dims.clone(),
                m: t.zeros_like()?,
                v: t.zeros_like()?,
                var: Var::from_tensor(&t)?,
            });
        }
        Ok(Trainer { cfg: w.cfg.clone(), tc: tc.clone(), params, step: 0, rng: Rng::new(tc.seed) })
    }

    /// The model over the trainable tensors: it sees every update without being rebuilt.
    pub fn model(&self) -> Result<Gpt2> {
        let map: HashMap<String, Tensor> = self.params.iter().map(|p| (p.name.clone(), p.var.as_tensor().clone())).collect();
        Gpt2::from_tensors(&self.cfg, &map)
    }

    /// `batch` random windows of `seq_len + 1` tokens: (B, T+1).
    pub fn sample_batch(&mut self, tokens: &[u32]) -> Result<Tensor> {
        let span = self.tc.seq_len + 1;
        if tokens.len() <= span {
            bail!("the training text has {} tokens: at least {} are needed", tokens.len(), span + 1);
        }
        let mut ids = Vec::with_capacity(self.tc.batch * span);
        for _ in 0..self.tc.batch {
            let start = (self.rng.next_u64() % (tokens.len() - span) as u64) as usize;
            ids.extend_from_slice(&tokens[start..start + span]);
        }
        Ok(Tensor::from_vec(ids, (self.tc.batch, span), &Device::Cpu)?)
    }

    /// Mean cross-entropy (nats per token) of predicting window[1..] from window[..T].
    pub fn loss(model: &Gpt2, windows: &Tensor) -> Result<Tensor> {
        let (b, span) = windows.dims2()?;
        let t = span - 1;
        let input = windows.narrow(1, 0, t)?;
        let target = windows.narrow(1, 1, t)?.reshape(b * t)?;
        let logits = model.forward_train(&input)?.reshape((b * t, ()))?; // (B*T, V)
        Ok(candle_nn::loss::cross_entropy(&logits, &target)?)
    }

    /// One AdamW step on one batch.
    pub fn train_step(&mut self, model: &Gpt2, batch: &Tensor) -> Result<StepStats> {
        let loss = Self::loss(model, batch)?;
        let grads = loss.backward()?;
        let mut sq = 0f64;
        let mut gs = Vec::with_capacity(self.params.len());
        for p in &self.params {
            let g = match grads.get(p.var.as_tensor()) {
                Some(g) => g.clone(),
                None => p.m.zeros_like()?,
            };
            sq += g.sqr()?.sum_all()?.to_scalar::<f32>()? as f64;
            gs.push(g);
        }
        let grad_norm = sq.sqrt();
        if !grad_norm.is_finite() {
            bail!("gradient norm is {grad_norm} at step {}: lower the learning rate", self.step);
        }
        let scale = (self.tc.clip / (grad_norm + 1e-6)).min(1.0);
        let lr = self.tc.lr_at(self.step);
        self.step += 1;
        let (b1, b2) = (self.tc.beta1, self.tc.beta2);
        let (c1, c2) = (1.0 - b1.powi(self.step as i32), 1.0 - b2.powi(self.step as i32));
        for (p, g) in self.params.iter_mut().zip(gs) {
            let g = (g * scale)?;
            p.m = ((&p.m * b1)? + (&g * (1.0 - b1))?)?;
            p.v = ((&p.v * b2)? + (g.sqr()? * (1.0 - b2))?)?;
            let update = ((&p.m / c1)? / ((&p.v / c2)?.sqrt()? + 1e-8)?)?;
            let mut theta = p.var.as_tensor().detach();
            if p.decay {
                theta = (&theta * (1.0 - lr * self.tc.weight_decay))?;
            }
            p.var.set(&(theta - (update * lr)?)?)?;
        }
        Ok(StepStats { loss: loss.to_scalar::<f32>()? as f64, lr, grad_norm })
    }

    /// Held-out loss over non-overlapping windows of `seq_len` (at most `max_windows`, evenly
    /// spread): (total nats, tokens scored, characters those tokens decode to).
    pub fn evaluate(model: &Gpt2, tokenizer: &Tokenizer, tokens: &[u32], seq_len: usize, max_windows: usize) -> Result<(f64, usize, usize)> {
        let n = tokens.len().saturating_sub(1) / seq_len;
        if n == 0 {
            bail!("held-out text too short for one window of {seq_len} tokens");
        }
        let take = n.min(max_windows.max(1));
        let (mut nats, mut count, mut chars) = (0.0, 0, 0);
        for k in 0..take {
            let w = k * n / take;
            let window = &tokens[w * seq_len..w * seq_len + seq_len + 1];
            let t = Tensor::from_slice(window, (1, seq_len + 1), &Device::Cpu)?;
            nats += Self::loss(model, &t)?.to_scalar::<f32>()? as f64 * seq_len as f64;
            count += seq_len;
            chars += tokenizer.decode(&window[1..]).chars().count();
        }
        Ok((nats, count, chars))
    }

    /// The current weights, for export.
    pub fn weights(&self) -> Result<Weights> {
        let mut tensors = Vec::new();
        for p in &self.params {
            tensors.push((p.name.clone(), p.dims.clone(), p.var.as_tensor().flatten_all()?.to_vec1::<f32>()?));
        }
        Ok(Weights { cfg: self.cfg.clone(), tensors })
    }

    /// A checkpoint: the weights as a loadable model file, plus Adam moments and the step.
    pub fn checkpoint(&self, tokenizer: &Tokenizer) -> Result<Vec<u8>> {
        let mut w = self.weights()?;
        for p in &self.params {
            w.tensors.push((format!("adam_m.{}", p.name), p.dims.clone(), p.m.flatten_all()?.to_vec1::<f32>()?));
            w.tensors.push((format!("adam_v.{}", p.name), p.dims.clone(), p.v.flatten_all()?.to_vec1::<f32>()?));
        }
        let mut out = Writer::new();
        w.write_into(&mut out, tokenizer, DType::F32, "checkpoint")?;
        for (name, dims, v) in &w.tensors[self.params.len()..] {
            out.tensor(name, dims, DType::F32, v)?;
        }
        out.meta("train.step", Value::U64(self.step as u64))
            .meta("train.rng", Value::U64(self.rng.state()))
            .meta("train.config", Value::String(serde_json::to_string(&self.tc).unwrap()));
        Ok(out.to_bytes())
    }

    /// Resumes from `checkpoint` bytes; the run's settings come from the checkpoint.
    pub fn resume(bytes: &[u8]) -> Result<(Trainer, Tokenizer)> {
        let g = Gguf::parse(bytes)?;
        let tc: TrainConfig = serde_json::from_str(g.get_str("train.config")?).map_err(|e| Error(format!("checkpoint: {e}")))?;
        let cfg = Config::from_gguf(&g)?;
        let read = |name: &str| -> Result<Vec<f32>> {
            let t = g.tensor(name).ok_or_else(|| Error(format!("checkpoint lacks {name}")))?;
            let mut v = Vec::new();
            crate::gguf::dequantize(&bytes[t.start..t.start + t.len], t.dtype, &mut v);
            Ok(v)
        };
        let tensors = Weights::layout(&cfg).into_iter().map(|(n, d)| Ok((n.clone(), d, read(&n)?))).collect::<Result<Vec<_>>>()?;
        let mut t = Self::from_weights(&Weights { cfg, tensors }, &tc)?;
        for p in t.params.iter_mut() {
            let shape = p.var.as_tensor().shape().clone();
            p.m = Tensor::from_vec(read(&format!("adam_m.{}", p.name))?, shape.clone(), &Device::Cpu)?;
            p.v = Tensor::from_vec(read(&format!("adam_v.{}", p.name))?, shape, &Device::Cpu)?;
        }
        t.step = g.get_u64("train.step")? as usize;
        t.rng = Rng::from_state(g.get_u64("train.rng")?);
        Ok((t, Tokenizer::from_gguf(&g)?))
    }
}
