//! Fine-tuning and preference tuning (chapter section 6) on plain slices: one GPT-2 forward pass
//! that keeps what its backward pass needs, the backward pass beside it (each layer's gradient
//! next to its forward, as llm.c lays it out), and AdamW. The same code runs in the CLI
//! (`inside-gpt finetune`, `inside-gpt prefer`) and in the browser's worker, through our f32
//! kernels (`dot`, `axpy`, `exp`, `ln`: the same bits in every build), so a run gives the same
//! losses natively and in wasm. `tests/tune.rs` checks the gradients against candle's autograd
//! over the same model.
//!
//! Two objectives over the same machinery, a weighted sum of next-token log-probabilities:
//! - teach (`Job::Teach`): the mean negative log-likelihood of the reader's text (windows of the
//!   context length, the first token conditioned on BOS, as scoring does);
//! - prefer (`Job::Prefer`, DPO, Rafailov et al. 2023): for every (good, bad) pair of completions
//!   of one prompt, -log sigmoid(beta ((lp_good - ref_good) - (lp_bad - ref_bad))), lp the
//!   completion's log-probability after the prompt under the weights being tuned and ref under a
//!   frozen copy of the starting weights. Its gradient is the log-likelihood's, weighted per
//!   completion by d loss / d lp.
//!
//! What trains (`Trains`): up to `MAX_PARAMS` parameters every weight, as f32 (a quantized file
//! is decoded first). Above, the f32 weights, gradients and two Adam moments would not fit a
//! browser tab (GPT-2 124M: 2 GB), so only the vectors train, every LayerNorm's gain and shift and
//! every bias (as BitFit does, Ben Zaken et al. 2021): the matrices and embeddings stay frozen in
//! the loaded model, in their file's form, read through the inference kernels, and never rounded
//! into the result (`Gpt2::to_gguf_with` writes their blocks back as they were).

use crate::kernels::{self, axpy, dot, exp, ln};
use crate::model::{gelu_tanh, gelu_tanh_grad, layer_norm, Config, Gpt2, Weights};
use crate::tokenizer::Tokenizer;
use crate::{bail, Result};
use serde::{Deserialize, Serialize};

/// The largest model whose every weight trains (parameters): each is held as f32 with its
/// gradient, two optimiser moments and a copy to reset to (20 bytes).
pub const MAX_PARAMS: usize = 20_000_000;

/// Which weights a run trains.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Trains {
    /// every weight, as f32
    All,
    /// the LayerNorms' gains and shifts and every bias; matrices and embeddings frozen
    Vectors,
}

impl Trains {
    /// Every weight up to `MAX_PARAMS` parameters, the vectors above.
    pub fn for_params(params: usize) -> Trains {
        if params <= MAX_PARAMS { Trains::All } else { Trains::Vectors }
    }

    /// The parameters that train in a model of `cfg`.
    pub fn count(self, cfg: &Config) -> usize {
        let layout = Weights::layout(cfg).into_iter();
        layout.filter(|(_, dims)| self == Trains::All || dims.len() == 1).map(|(_, dims)| dims.iter().product::<usize>()).sum()
    }
}

/// Settings of a run. `seed` is kept for the generations the page shows before and after: the
/// steps themselves use no randomness (every window in every step, no dropout).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", default)]
pub struct TuneOptions {
    pub steps: u32,
    pub lr: f32,
    /// DPO's beta: how far the tuned weights may move from the reference
    pub beta: f32,
    pub seed: u64,
    /// what trains; by default `Trains::for_params` (a run under way keeps its choice)
    pub trains: Option<Trains>,
}

impl Default for TuneOptions {
    fn default() -> Self {
        TuneOptions { steps: 20, lr: 1e-3, beta: 0.1, seed: 1, trains: None }
    }
}

impl TuneOptions {
    fn check(&self) -> Result<()> {
        if self.steps == 0 || self.steps > 500 {
            bail!("steps must be 1 to 500, not {}", self.steps);
        }
        if !(self.lr > 0.0 && self.lr <= 0.1) {
            bail!("the learning rate must be above 0 and at most 0.1, not {}", self.lr);
        }
        if !(self.beta > 0.0 && self.beta <= 10.0) {
            bail!("beta must be above 0 and at most 10, not {}", self.beta);
        }
        Ok(())
    }
}

/// One completion the reader rated.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct Rated {
    pub text: String,
    pub good: bool,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Plan {
    /// tokens the loss covers
    pub tokens: usize,
    /// sequences per step (windows of the text, or rated completions)
    pub windows: usize,
    /// (good, bad) pairs (preference tuning)
    pub pairs: usize,
    pub steps: u32,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StepReport {
    pub step: u32,
    pub steps: u32,
    /// the objective before this step's update
    pub loss: f32,
    /// preference tuning: mean implicit reward of the good completion minus the bad one's
    pub margin: Option<f32>,
    pub done: bool,
}

/// A rated completion's log-probabilities after the prompt, tuned and reference, and its implicit
/// reward beta (tuned - reference).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PreferRow {
    pub text: String,
    pub good: bool,
    pub logp_tuned: f32,
    pub logp_ref: f32,
    pub reward: f32,
}

/// A sequence and the weight of each next-token log-probability in the objective (zero for the
/// positions it does not count): loss = -sum of weight[t] ln p(ids[t + 1] | ids[..=t]).
#[derive(Debug, Clone)]
struct Seq {
    ids: Vec<u32>,
    /// per input position (ids.len() - 1 of them)
    counted: Vec<bool>,
}

enum Job {
    Teach { seqs: Vec<Seq>, tokens: usize },
    Prefer { seqs: Vec<Seq>, texts: Vec<Rated>, pairs: Vec<(usize, usize)>, reference: Vec<f32>, beta: f32 },
}

/// The weights being tuned, their gradients and AdamW's moments, and the run under way. With
/// `Trains::Vectors`, `w` (and the rest) hold only the vectors, the other tensors empty: the
/// passes read those from the model each call takes.
pub struct Tuner {
    pub trains: Trains,
    pub start: Weights,
    pub w: Weights,
    grads: Vec<Vec<f32>>,
    m: Vec<Vec<f32>>,
    v: Vec<Vec<f32>>,
    /// beta1^t and beta2^t, kept by multiplication (no `powi`: the same bits in every build)
    b1t: f32,
    b2t: f32,
    job: Option<Job>,
    opts: TuneOptions,
    step: u32,
}

const BETA1: f32 = 0.9;
const BETA2: f32 = 0.999;
const ADAM_EPS: f32 = 1e-8;
const CLIP: f32 = 1.0;

impl Tuner {
    /// Starts from the weights `model` runs now, training `trains` of them.
    pub fn new(model: &Gpt2, trains: Trains) -> Result<Tuner> {
        let params = model.cfg.params().total;
        if trains == Trains::All && params > MAX_PARAMS {
            bail!(
                "this model has {:.0} million parameters: training every weight holds each as f32 with its gradient, two optimiser moments and a copy to reset to (20 bytes each), so it runs on models up to {} million; above, the norms and biases train",
                params as f64 / 1e6,
                MAX_PARAMS / 1_000_000
            );
        }
        let w = match trains {
            Trains::All => model.to_weights()?,
            Trains::Vectors => model.weights_where(&|_, dims| dims.len() == 1)?,
        };
        let zeros = |w: &Weights| w.tensors.iter().map(|(_, _, v)| vec![0f32; v.len()]).collect::<Vec<_>>();
        Ok(Tuner { trains, grads: zeros(&w), m: zeros(&w), v: zeros(&w), start: w.clone(), w, b1t: 1.0, b2t: 1.0, job: None, opts: TuneOptions::default(), step: 0 })
    }

    pub fn trainable(&self) -> usize {
        self.w.tensors.iter().map(|(_, _, v)| v.len()).sum()
    }

    /// Back to the starting weights, optimiser state cleared.
    pub fn reset(&mut self) {
        self.w = self.start.clone();
        for t in self.m.iter_mut().chain(self.v.iter_mut()) {
            t.fill(0.0);
        }
        (self.b1t, self.b2t, self.job, self.step) = (1.0, 1.0, None, 0);
    }

    /// Plans a fine-tune on `text` (from the current weights): BOS, then the text's tokens, in
    /// windows of the context length that overlap by one token.
    pub fn teach(&mut self, tok: &Tokenizer, text: &str, opts: TuneOptions) -> Result<Plan> {
        opts.check()?;
        let ids = tok.encode(text)?;
        if ids.is_empty() {
            bail!("there is no text to train on: write a few sentences");
        }
        let bos = tok.bos.ok_or_else(|| crate::Error("the tokenizer has no BOS token to start the text with".into()))?;
        let all: Vec<u32> = std::iter::once(bos).chain(ids).collect();
        let n = self.w.cfg.n_ctx;
        let mut seqs = Vec::new();
        let mut s = 0;
        while s + 1 < all.len() {
            let end = (s + n + 1).min(all.len());
            seqs.push(Seq { ids: all[s..end].to_vec(), counted: vec![true; end - s - 1] });
            s = end - 1;
        }
        let tokens = all.len() - 1;
        let plan = Plan { tokens, windows: seqs.len(), pairs: 0, steps: opts.steps };
        self.begin(Job::Teach { seqs, tokens }, opts);
        Ok(plan)
    }

    /// The network the passes run: the tuned tensors, the rest from `model`.
    fn net<'a>(&'a self, model: &'a Gpt2) -> Net<'a> {
        Net { w: &self.w, model: Some(model), ix: TensorIdx::of(&self.w.cfg) }
    }

    /// The tuned model as a GGUF: F32 when every weight trained; otherwise the loaded model's
    /// tensors as they were, its vectors replaced by the tuned ones (F32).
    pub fn to_gguf(&self, model: &Gpt2, tok: &Tokenizer, name: &str) -> Result<Vec<u8>> {
        match self.trains {
            Trains::All => self.w.to_gguf(tok, crate::gguf::DType::F32, name),
            Trains::Vectors => model.to_gguf_with(&self.w, tok, name),
        }
    }

    /// Plans preference tuning: every (good, bad) pair of `items`, completions of `prompt`,
    /// against the current weights as the reference.
    pub fn prefer(&mut self, model: &Gpt2, tok: &Tokenizer, prompt: &str, items: &[Rated], opts: TuneOptions) -> Result<Plan> {
        opts.check()?;
        let (good, bad) = (items.iter().filter(|r| r.good).count(), items.iter().filter(|r| !r.good).count());
        if good == 0 || bad == 0 {
            bail!("rate at least one completion good (+) and one bad (-): preference tuning learns from pairs");
        }
        let mut ctx = match tok.bos {
            Some(b) => vec![b],
            None => Vec::new(),
        };
        ctx.extend(tok.encode(prompt)?);
        if ctx.is_empty() {
            bail!("the prompt is empty");
        }
        let mut seqs = Vec::new();
        for r in items {
            let c = tok.encode(&r.text)?;
            if c.is_empty() {
                bail!("a rated completion is empty");
            }
            let ids: Vec<u32> = ctx.iter().chain(&c).copied().collect();
            if ids.len() > self.w.cfg.n_ctx + 1 {
                bail!("prompt and completion are {} tokens, more than the model's context of {}", ids.len() - 1, self.w.cfg.n_ctx);
            }
            let counted = (0..ids.len() - 1).map(|t| t + 1 >= ctx.len()).collect();
            seqs.push(Seq { ids, counted });
        }
        let pairs: Vec<(usize, usize)> =
            (0..items.len()).filter(|&i| items[i].good).flat_map(|i| (0..items.len()).filter(|&j| !items[j].good).map(move |j| (i, j))).collect();
        let net = self.net(model);
        let reference = seqs.iter().map(|s| forward(&net, s).map(|f| f.logp)).collect::<Result<Vec<_>>>()?;
        let plan = Plan { tokens: seqs.iter().map(|s| s.counted.iter().filter(|c| **c).count()).sum(), windows: seqs.len(), pairs: pairs.len(), steps: opts.steps };
        self.begin(Job::Prefer { seqs, texts: items.to_vec(), pairs, reference, beta: opts.beta }, opts);
        Ok(plan)
    }

    fn begin(&mut self, job: Job, opts: TuneOptions) {
        self.job = Some(job);
        self.opts = opts;
        self.step = 0;
    }

    /// One AdamW step over the whole job (every window, or every rated completion); `model` is
    /// the one the tuner started from.
    pub fn step(&mut self, model: &Gpt2) -> Result<StepReport> {
        let Some(job) = &self.job else { bail!("nothing to train: start a fine-tune or a preference run first") };
        if self.step >= self.opts.steps {
            bail!("this run has done its {} steps", self.opts.steps);
        }
        let mut grads = std::mem::take(&mut self.grads);
        grads.iter_mut().for_each(|g| g.fill(0.0));
        let net = self.net(model);
        let (loss, margin) = match job {
            Job::Teach { seqs, tokens } => {
                let scale = 1.0 / *tokens as f32;
                let mut loss = 0f32;
                for s in seqs {
                    let f = forward(&net, s)?;
                    loss += -f.logp * scale;
                    backward(&net, s, &f, &vec![scale; s.counted.len()], &mut grads)?;
                }
                (loss, None)
            }
            Job::Prefer { seqs, pairs, reference, beta, .. } => {
                let fs = seqs.iter().map(|s| forward(&net, s)).collect::<Result<Vec<_>>>()?;
                let mut coef = vec![0f32; seqs.len()];
                let (mut loss, mut margin) = (0f32, 0f32);
                let np = pairs.len() as f32;
                for &(g, b) in pairs {
                    let (rg, rb) = (beta * (fs[g].logp - reference[g]), beta * (fs[b].logp - reference[b]));
                    let z = rg - rb;
                    loss += -log_sigmoid(z) / np;
                    margin += z / np;
                    // d(-log sigmoid z)/dz = -sigmoid(-z); dz/dlp_good = beta, dz/dlp_bad = -beta
                    let d = sigmoid(-z) * beta / np;
                    coef[g] -= d;
                    coef[b] += d;
                }
                // loss = sum over completions of coef * lp, and lp = -(its negative log-likelihood)
                for ((s, f), c) in seqs.iter().zip(&fs).zip(&coef) {
                    backward(&net, s, f, &vec![-c; s.counted.len()], &mut grads)?;
                }
                (loss, Some(margin))
            }
        };
        self.grads = grads;
        self.adamw();
        self.step += 1;
        Ok(StepReport { step: self.step, steps: self.opts.steps, loss, margin, done: self.step == self.opts.steps })
    }

    /// Ends the run where it is (the weights keep the steps taken).
    pub fn stop(&mut self) {
        self.job = None;
    }

    /// Every rated completion's log-probabilities under the tuned and the reference weights.
    pub fn report(&self, model: &Gpt2) -> Result<Vec<PreferRow>> {
        let Some(Job::Prefer { seqs, texts, reference, beta, .. }) = &self.job else { bail!("no preference run to report on") };
        let mut rows = Vec::new();
        for ((s, r), lr) in seqs.iter().zip(texts).zip(reference) {
            let lp = forward(&self.net(model), s)?.logp;
            rows.push(PreferRow { text: r.text.clone(), good: r.good, logp_tuned: lp, logp_ref: *lr, reward: beta * (lp - lr) });
        }
        Ok(rows)
    }

    /// Clips the gradient to a global norm of `CLIP`, then AdamW (no weight decay: a few steps on a
    /// few sentences).
    fn adamw(&mut self) {
        let norm = self.grads.iter().flat_map(|g| g.iter()).map(|g| g * g).sum::<f32>().sqrt();
        let clip = if norm > CLIP { CLIP / norm } else { 1.0 };
        self.b1t *= BETA1;
        self.b2t *= BETA2;
        let (c1, c2) = (1.0 - self.b1t, 1.0 - self.b2t);
        let lr = self.opts.lr;
        for (((w, g), m), v) in self.w.tensors.iter_mut().map(|(_, _, w)| w).zip(&self.grads).zip(&mut self.m).zip(&mut self.v) {
            for (((w, g), m), v) in w.iter_mut().zip(g).zip(m.iter_mut()).zip(v.iter_mut()) {
                let g = g * clip;
                *m = BETA1 * *m + (1.0 - BETA1) * g;
                *v = BETA2 * *v + (1.0 - BETA2) * g * g;
                *w -= lr * (*m / c1) / ((*v / c2).sqrt() + ADAM_EPS);
            }
        }
    }
}

fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + exp(-x))
}

/// ln sigmoid(x), without overflow for large |x|.
fn log_sigmoid(x: f32) -> f32 {
    if x >= 0.0 {
        -ln(1.0 + exp(-x))
    } else {
        x - ln(1.0 + exp(x))
    }
}

// ---------------------------------------------------------------------------------------------
// The forward pass with its saved activations, and the backward pass

/// Indices of a layer's tensors in `Weights::layout` order.
pub(crate) struct LayerIdx {
    pub ln1_w: usize,
    pub ln1_b: usize,
    pub qkv_w: usize,
    pub qkv_b: usize,
    pub proj_w: usize,
    pub proj_b: usize,
    pub ln2_w: usize,
    pub ln2_b: usize,
    pub fc_w: usize,
    pub fc_b: usize,
    pub down_w: usize,
    pub down_b: usize,
}

/// Every tensor's index in `Weights::layout` order.
pub(crate) struct TensorIdx {
    pub wte: usize,
    pub wpe: usize,
    pub layers: Vec<LayerIdx>,
    pub lnf_w: usize,
    pub lnf_b: usize,
    /// the LM head: `output.weight`, or `wte` when tied
    pub head: usize,
}

impl TensorIdx {
    /// `Weights::layout` puts the embeddings first, then 12 tensors per layer in a fixed order,
    /// then the final norm and the optional head.
    pub(crate) fn of(cfg: &Config) -> TensorIdx {
    let layers = (0..cfg.n_layer)
        .map(|i| {
            let b = 2 + 12 * i;
            LayerIdx {
                ln1_w: b,
                ln1_b: b + 1,
                qkv_w: b + 2,
                qkv_b: b + 3,
                proj_w: b + 4,
                proj_b: b + 5,
                ln2_w: b + 6,
                ln2_b: b + 7,
                fc_w: b + 8,
                fc_b: b + 9,
                down_w: b + 10,
                down_b: b + 11,
            }
        })
        .collect();
    let f = 2 + 12 * cfg.n_layer;
    TensorIdx { wte: 0, wpe: 1, layers, lnf_w: f, lnf_b: f + 1, head: if cfg.tied_head { 0 } else { f + 2 } }
    }
}

/// The network the passes run: `w`'s tensors, and for each that `w` leaves empty (a partial
/// fine-tune's frozen matrices and embeddings) the model's own.
struct Net<'a> {
    w: &'a Weights,
    model: Option<&'a Gpt2>,
    ix: TensorIdx,
}

impl<'a> Net<'a> {
    fn t(&self, i: usize) -> &'a [f32] {
        &self.w.tensors[i].2
    }

    /// The model that holds the frozen tensors.
    fn frozen(&self) -> Result<&'a Gpt2> {
        self.model.ok_or_else(|| crate::Error("a tensor is empty and no model holds it".into()))
    }

    /// y (m, out) = x (m, in) W^T (+ b) with matrix `wi`.
    fn product(&self, wi: usize, out: usize, x: &[f32], m: usize) -> Result<Vec<f32>> {
        match self.t(wi) {
            [] => self.frozen()?.frozen_matmul(wi, x, m),
            w => Ok(kernels::matmul_f32(w, out, x.len() / m, x, m)),
        }
    }

    fn linear(&self, wi: usize, bi: usize, x: &[f32], m: usize) -> Result<Vec<f32>> {
        let b = self.t(bi);
        let mut y = self.product(wi, b.len(), x, m)?;
        y.chunks_exact_mut(b.len()).for_each(|r| r.iter_mut().zip(b).for_each(|(y, b)| *y += b));
        Ok(y)
    }

    /// dx (m, in) += dy (m, out) W with matrix `wi`.
    fn back_x(&self, wi: usize, dx: &mut [f32], dy: &[f32], out: usize, m: usize) -> Result<()> {
        match self.t(wi) {
            [] => self.frozen()?.frozen_back_x(wi, dx, dy, m),
            w => {
                back_x(dx, dy, w, out, m);
                Ok(())
            }
        }
    }

    /// The token and position embeddings of `ids[..t]`, summed (T, C).
    fn embed(&self, ids: &[u32], c: usize) -> Result<Vec<f32>> {
        let (wte, wpe) = (self.t(self.ix.wte), self.t(self.ix.wpe));
        if wte.is_empty() || wpe.is_empty() {
            return self.frozen()?.embed(ids);
        }
        let mut x = Vec::with_capacity(ids.len() * c);
        for (p, &id) in ids.iter().enumerate() {
            let (e, q) = (&wte[id as usize * c..][..c], &wpe[p * c..][..c]);
            x.extend(e.iter().zip(q).map(|(a, b)| a + b));
        }
        Ok(x)
    }
}

struct Norm {
    out: Vec<f32>,
    mean: Vec<f32>,
    rstd: Vec<f32>,
}

fn norm(x: &[f32], w: &[f32], b: &[f32], eps: f32) -> Norm {
    let (mut mean, mut rstd) = (Vec::new(), Vec::new());
    let out = layer_norm(x, w, b, eps, Some((&mut mean, &mut rstd)));
    Norm { out, mean, rstd }
}

struct LayerActs {
    /// the residual stream entering the layer (T, C)
    x: Vec<f32>,
    ln1: Norm,
    /// (T, 3C): q | k | v
    qkv: Vec<f32>,
    /// (nh, T, T) attention weights, row i holding positions 0..=i
    att: Vec<f32>,
    /// (T, C) attention output before its projection
    y: Vec<f32>,
    /// the residual stream after attention (T, C)
    x2: Vec<f32>,
    ln2: Norm,
    /// (T, F) before and after GELU
    h: Vec<f32>,
    hg: Vec<f32>,
}

struct Forward {
    layers: Vec<LayerActs>,
    /// the residual stream entering the final norm
    xf: Vec<f32>,
    lnf: Norm,
    /// (T, V) next-token probabilities
    probs: Vec<f32>,
    /// sum of the counted positions' log-probabilities
    logp: f32,
}

fn forward(net: &Net, s: &Seq) -> Result<Forward> {
    let cfg = &net.w.cfg;
    let ix = &net.ix;
    let t_ = |i: usize| net.t(i);
    let (t, c, nh, eps) = (s.ids.len() - 1, cfg.n_embd, cfg.n_head, cfg.eps as f32);
    let hs = c / nh;
    if t == 0 || t > cfg.n_ctx {
        bail!("a window of {t} tokens (the context is {})", cfg.n_ctx);
    }
    let mut x = net.embed(&s.ids[..t], c)?;
    let scale = 1.0 / (hs as f32).sqrt();
    let mut layers = Vec::with_capacity(cfg.n_layer);
    for l in &ix.layers {
        let ln1 = norm(&x, t_(l.ln1_w), t_(l.ln1_b), eps);
        let qkv = net.linear(l.qkv_w, l.qkv_b, &ln1.out, t)?;
        let mut att = vec![0f32; nh * t * t];
        let mut y = vec![0f32; t * c];
        for h in 0..nh {
            for i in 0..t {
                let p = &mut att[(h * t + i) * t..][..i + 1];
                kernels::dots(p, &qkv[i * 3 * c + h * hs..][..hs], &qkv[c + h * hs..], 3 * c);
                p.iter_mut().for_each(|v| *v *= scale);
                kernels::softmax(p);
                kernels::weighted_sum(&mut y[i * c + h * hs..][..hs], p, &qkv[2 * c + h * hs..], 3 * c);
            }
        }
        let a = net.linear(l.proj_w, l.proj_b, &y, t)?;
        let x2: Vec<f32> = x.iter().zip(&a).map(|(x, a)| x + a).collect();
        let ln2 = norm(&x2, t_(l.ln2_w), t_(l.ln2_b), eps);
        let h = net.linear(l.fc_w, l.fc_b, &ln2.out, t)?;
        let hg: Vec<f32> = h.iter().map(|&v| gelu_tanh(v)).collect();
        let mo = net.linear(l.down_w, l.down_b, &hg, t)?;
        let next: Vec<f32> = x2.iter().zip(&mo).map(|(x, m)| x + m).collect();
        layers.push(LayerActs { x, ln1, qkv, att, y, x2, ln2, h, hg });
        x = next;
    }
    let lnf = norm(&x, t_(ix.lnf_w), t_(ix.lnf_b), eps);
    let v = cfg.n_vocab;
    let mut probs = net.product(ix.head, v, &lnf.out, t)?;
    let mut logp = 0f32;
    for (i, row) in probs.chunks_exact_mut(v).enumerate() {
        let target = s.ids[i + 1] as usize;
        let m = kernels::max(row);
        let z = row[target] - m;
        row.iter_mut().for_each(|r| *r = exp(*r - m));
        let sum: f32 = row.iter().sum();
        if s.counted[i] {
            logp += z - ln(sum);
        }
        let inv = 1.0 / sum;
        row.iter_mut().for_each(|r| *r *= inv);
    }
    Ok(Forward { layers, xf: x, lnf, probs, logp })
}

/// dx (m, in) += dy (m, out) W (out, in).
fn back_x(dx: &mut [f32], dy: &[f32], w: &[f32], out: usize, m: usize) {
    let inp = dx.len() / m;
    for (dxi, dyi) in dx.chunks_exact_mut(inp).zip(dy.chunks_exact(out)) {
        for (o, &g) in dyi.iter().enumerate() {
            axpy(dxi, g, &w[o * inp..(o + 1) * inp]);
        }
    }
}

/// dW (out, in) += dy^T x, and db (out) += the sum of dy's rows.
fn back_w(dw: &mut [f32], db: Option<&mut [f32]>, dy: &[f32], x: &[f32], out: usize, m: usize) {
    let inp = x.len() / m;
    // (a frozen W's gradient is empty: no rows)
    for (o, dwo) in dw.chunks_exact_mut(inp).enumerate() {
        for i in 0..m {
            axpy(dwo, dy[i * out + o], &x[i * inp..(i + 1) * inp]);
        }
    }
    if let Some(db) = db {
        for row in dy.chunks_exact(out) {
            db.iter_mut().zip(row).for_each(|(b, g)| *b += g);
        }
    }
}

/// A linear layer's gradients: returns dx, adds dW (unless W is frozen: no gradient kept) and db.
fn back_linear(net: &Net, grads: &mut [Vec<f32>], wi: usize, bi: usize, dy: &[f32], x: &[f32], m: usize) -> Result<Vec<f32>> {
    let out = grads[bi].len();
    let mut dx = vec![0f32; x.len()];
    net.back_x(wi, &mut dx, dy, out, m)?;
    let (dw, db) = two(grads, wi, bi);
    back_w(dw, Some(db), dy, x, out, m);
    Ok(dx)
}

/// LayerNorm's gradients for rows of x: adds to dx, dw and db.
fn back_norm(dx: &mut [f32], grads: &mut [Vec<f32>], wi: usize, bi: usize, dout: &[f32], x: &[f32], n: &Norm, w: &[f32]) {
    let c = w.len();
    let (dw, db) = two(grads, wi, bi);
    for (r, ((dxr, dor), xr)) in dx.chunks_exact_mut(c).zip(dout.chunks_exact(c)).zip(x.chunks_exact(c)).enumerate() {
        let (mean, rstd) = (n.mean[r], n.rstd[r]);
        let (mut md, mut mdx) = (0f32, 0f32);
        for e in 0..c {
            let xh = (xr[e] - mean) * rstd;
            let dn = dor[e] * w[e];
            md += dn;
            mdx += dn * xh;
            dw[e] += dor[e] * xh;
            db[e] += dor[e];
        }
        (md, mdx) = (md / c as f32, mdx / c as f32);
        for e in 0..c {
            let xh = (xr[e] - mean) * rstd;
            dxr[e] += rstd * (dor[e] * w[e] - md - xh * mdx);
        }
    }
}

/// Two distinct tensors of `grads`, mutably.
fn two(g: &mut [Vec<f32>], a: usize, b: usize) -> (&mut [f32], &mut [f32]) {
    debug_assert!(a < b);
    let (lo, hi) = g.split_at_mut(b);
    (&mut lo[a], &mut hi[0])
}

/// Adds to `grads` the gradient of -sum over positions t of weight[t] ln p(target t); frozen
/// tensors (empty in `grads`) get none.
fn backward(net: &Net, s: &Seq, f: &Forward, weight: &[f32], grads: &mut [Vec<f32>]) -> Result<()> {
    let cfg = &net.w.cfg;
    let ix = &net.ix;
    let t_ = |i: usize| net.t(i);
    let (t, c, nh, v) = (s.ids.len() - 1, cfg.n_embd, cfg.n_head, cfg.n_vocab);
    let hs = c / nh;
    // logits: weight (p - onehot) at the counted positions
    let mut dlogits = vec![0f32; t * v];
    for i in 0..t {
        if s.counted[i] {
            let (d, p) = (&mut dlogits[i * v..(i + 1) * v], &f.probs[i * v..(i + 1) * v]);
            d.iter_mut().zip(p).for_each(|(d, p)| *d = weight[i] * p);
            d[s.ids[i + 1] as usize] -= weight[i];
        }
    }
    let mut dlnf = vec![0f32; t * c];
    net.back_x(ix.head, &mut dlnf, &dlogits, v, t)?;
    back_w(&mut grads[ix.head], None, &dlogits, &f.lnf.out, v, t);
    let mut dx = vec![0f32; t * c];
    back_norm(&mut dx, grads, ix.lnf_w, ix.lnf_b, &dlnf, &f.xf, &f.lnf, t_(ix.lnf_w));
    let scale = 1.0 / (hs as f32).sqrt();
    for (l, a) in ix.layers.iter().zip(&f.layers).rev() {
        // MLP: x_out = x2 + down(gelu(up(ln2(x2))))
        let dhg = back_linear(net, grads, l.down_w, l.down_b, &dx, &a.hg, t)?;
        let dh: Vec<f32> = dhg.iter().zip(&a.h).map(|(g, &h)| g * gelu_tanh_grad(h)).collect();
        let dln2 = back_linear(net, grads, l.fc_w, l.fc_b, &dh, &a.ln2.out, t)?;
        back_norm(&mut dx, grads, l.ln2_w, l.ln2_b, &dln2, &a.x2, &a.ln2, t_(l.ln2_w));
        // attention: x2 = x + proj(attention(qkv(ln1(x))))
        let dy = back_linear(net, grads, l.proj_w, l.proj_b, &dx, &a.y, t)?;
        let mut dqkv = vec![0f32; t * 3 * c];
        let mut dp = vec![0f32; t];
        for h in 0..nh {
            for i in 0..t {
                let n = i + 1;
                let p = &a.att[(h * t + i) * t..][..n];
                let dyi = &dy[i * c + h * hs..][..hs];
                kernels::dots(&mut dp[..n], dyi, &a.qkv[2 * c + h * hs..], 3 * c);
                let sum = dot(p, &dp[..n]);
                for j in 0..n {
                    axpy(&mut dqkv[j * 3 * c + 2 * c + h * hs..][..hs], p[j], dyi);
                    let ds = p[j] * (dp[j] - sum) * scale;
                    let (q, k) = (&a.qkv[i * 3 * c + h * hs..][..hs], &a.qkv[j * 3 * c + c + h * hs..][..hs]);
                    axpy(&mut dqkv[i * 3 * c + h * hs..][..hs], ds, k);
                    axpy(&mut dqkv[j * 3 * c + c + h * hs..][..hs], ds, q);
                }
            }
        }
        let dln1 = back_linear(net, grads, l.qkv_w, l.qkv_b, &dqkv, &a.ln1.out, t)?;
        back_norm(&mut dx, grads, l.ln1_w, l.ln1_b, &dln1, &a.x, &a.ln1, t_(l.ln1_w));
    }
    // embeddings
    if grads[ix.wte].is_empty() {
        return Ok(());
    }
    for (p, &id) in s.ids[..t].iter().enumerate() {
        let d = &dx[p * c..(p + 1) * c];
        grads[ix.wte][id as usize * c..][..c].iter_mut().zip(d).for_each(|(g, d)| *g += d);
        grads[ix.wpe][p * c..][..c].iter_mut().zip(d).for_each(|(g, d)| *g += d);
    }
    Ok(())
}

/// The gradient of the mean negative log-likelihood of `ids` (one window: inputs ids[..T], targets
/// ids[1..]) for the weights `tuner` trains of `model`, and the loss: what the tests compare with
/// candle's autograd, and the two kinds of run with each other.
pub fn nll_gradient(tuner: &Tuner, model: &Gpt2, ids: &[u32]) -> Result<(f32, Vec<Vec<f32>>)> {
    let n = (ids.len() - 1) as f32;
    let (nll, grads) = gradient(&tuner.net(model), ids, 1.0 / n)?;
    Ok((nll / n, grads))
}

/// Pre-training's part (`train::Trainer`): the gradient of `weight` times the negative
/// log-likelihood of the window `ids` at the f32 weights `w`, and that log-likelihood's sum.
pub(crate) fn window_gradient(w: &Weights, ids: &[u32], weight: f32) -> Result<(f32, Vec<Vec<f32>>)> {
    gradient(&Net { w, model: None, ix: TensorIdx::of(&w.cfg) }, ids, weight)
}

fn gradient(net: &Net, ids: &[u32], weight: f32) -> Result<(f32, Vec<Vec<f32>>)> {
    let s = Seq { ids: ids.to_vec(), counted: vec![true; ids.len() - 1] };
    let f = forward(net, &s)?;
    let mut grads: Vec<Vec<f32>> = net.w.tensors.iter().map(|(_, _, v)| vec![0f32; v.len()]).collect();
    backward(net, &s, &f, &vec![weight; s.counted.len()], &mut grads)?;
    Ok((-f.logp, grads))
}
