//! The generation and scoring API: one API for the CLI and the browser worker.
//!
//! `Generator` holds the KV cache and the next-token logits; the caller owns the loop and calls
//! `step` once per token, so a UI can stop between any two tokens. Reported probabilities are the
//! model's own (softmax at temperature 1), whatever the sampler's settings.

use crate::gguf::{Gguf, Incoming};
use crate::model::{Cache, Config, Gpt2, Kernels, ParamCounts, Profile};
use crate::sampler::{ranked_top, Distribution, Sampler, SamplerConfig};
use crate::tokenizer::{Tokenizer, Utf8Stream};
use crate::{bail, Result};
use candle_core::Tensor;
use serde::{Deserialize, Serialize};

/// A loaded model: network, tokenizer, and what the file says about itself.
pub struct Model {
    pub gpt: Gpt2,
    pub tokenizer: Tokenizer,
    pub info: ModelInfo,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ModelInfo {
    pub name: String,
    pub config: Config,
    pub params: ParamCounts,
    /// (type name, bytes, tensor count) for each tensor type in the file
    pub bytes_by_type: Vec<(String, usize, usize)>,
    pub file_bytes: usize,
}

/// (type name, bytes, tensor count) for each tensor type in a file, in the order they first appear.
pub fn bytes_by_type(g: &Gguf) -> Vec<(String, usize, usize)> {
    let mut out: Vec<(String, usize, usize)> = Vec::new();
    for t in &g.tensors {
        match out.iter_mut().find(|(n, _, _)| n == t.dtype.name()) {
            Some(e) => {
                e.1 += t.len;
                e.2 += 1;
            }
            None => out.push((t.dtype.name().to_string(), t.len, 1)),
        }
    }
    out
}

impl Model {
    pub fn from_bytes(bytes: &[u8]) -> Result<Model> {
        Self::from_bytes_with(bytes, Kernels::Ours)
    }

    /// Loads with a choice of quantized kernels (candle's are the benchmarks' baseline).
    pub fn from_bytes_with(bytes: &[u8], kernels: Kernels) -> Result<Model> {
        let g = Gguf::parse(bytes)?;
        let gpt = Gpt2::load_with(&g, bytes, kernels)?;
        Self::assemble(&g, gpt, bytes.len())
    }

    /// A file that arrived in pieces (`Incoming`), built without a second copy of its tensors.
    pub fn from_incoming(incoming: Incoming, kernels: Kernels) -> Result<Model> {
        let file_bytes = incoming.received() as usize;
        let (g, parts) = incoming.finish()?;
        let gpt = Gpt2::load_parts(&g, parts, kernels)?;
        Self::assemble(&g, gpt, file_bytes)
    }

    fn assemble(g: &Gguf, gpt: Gpt2, file_bytes: usize) -> Result<Model> {
        let tokenizer = Tokenizer::from_gguf(g)?;
        if tokenizer.vocab_size() != gpt.cfg.n_vocab {
            bail!("the tokenizer has {} tokens but token_embd.weight has {} rows", tokenizer.vocab_size(), gpt.cfg.n_vocab);
        }
        let info = ModelInfo {
            name: g.get_str("general.name").unwrap_or("unnamed").to_string(),
            config: gpt.cfg.clone(),
            params: gpt.cfg.params(),
            bytes_by_type: bytes_by_type(g),
            file_bytes,
        };
        Ok(Model { gpt, tokenizer, info })
    }

    /// Prompt tokens, checked: not empty, not longer than the context.
    pub fn encode_prompt(&self, prompt: &str) -> Result<Vec<u32>> {
        let ids = self.tokenizer.encode(prompt)?;
        if ids.is_empty() {
            bail!("the prompt is empty: type at least one character");
        }
        if ids.len() > self.gpt.cfg.n_ctx {
            bail!("the prompt is {} tokens, longer than the model's context of {} tokens", ids.len(), self.gpt.cfg.n_ctx);
        }
        Ok(ids)
    }

    fn candidates(&self, logits: &[f32], dist: &Distribution, n: usize) -> Vec<Candidate> {
        ranked_top(logits, n)
            .into_iter()
            .map(|t| Candidate { token: t, piece: self.tokenizer.piece(t), prob: dist.prob(logits[t as usize]) })
            .collect()
    }

    /// Every stage of the network on `text` (the prompt as the page shows it): per stage, each
    /// position's vector norm and its first `channels` values; attention of every layer and head;
    /// the next-token candidates after the last position.
    pub fn inspect(&self, text: &str, channels: usize) -> Result<Inspection> {
        let ids = self.encode_prompt(text)?;
        let trace = self.gpt.trace(&ids)?;
        let mut stages = Vec::new();
        let mut layers = Vec::new();
        let mut next = Vec::new();
        for (name, t) in trace {
            if name.ends_with(".attention") {
                layers.push(t);
            } else if name == "logits" {
                let last = t.get(t.dim(0)? - 1)?.to_vec1::<f32>()?;
                next = self.candidates(&last, &Distribution::new(&last), 10);
            } else {
                let (rows, cols) = t.dims2()?;
                let norms = t.sqr()?.sum(1)?.sqrt()?.to_vec1::<f32>()?;
                let k = channels.min(cols);
                let data = t.narrow(1, 0, k)?.flatten_all()?.to_vec1::<f32>()?;
                stages.push(Stage { name, rows, cols, channels: k, norms, data });
            }
        }
        let attention = Attention::from_layers(&layers, 0)?;
        let pieces = self.tokenizer.pieces(&ids);
        Ok(Inspection { tokens: ids, pieces, stages, attention, next })
    }

    /// Per-token log-probabilities of `text`. The first token is conditioned on the tokenizer's
    /// BOS (`<|endoftext|>` for GPT-2), as GPT-2 was trained; without one it gets no score.
    pub fn score(&self, text: &str) -> Result<Scored> {
        self.score_after("", text)
    }

    /// Log-probabilities of `text`'s tokens following `context`: the two are tokenized apart and
    /// their ids joined (as lm-evaluation-harness scores a continuation), so that a merge across
    /// the boundary can never count a context token as the text's. `Scored` covers `text` only;
    /// `context_tokens` says how many came before it.
    pub fn score_after(&self, context: &str, text: &str) -> Result<Scored> {
        let ids = self.encode_prompt(text)?;
        let context_ids = if context.is_empty() { Vec::new() } else { self.tokenizer.encode(context)? };
        let prefix: Vec<u32> = self.tokenizer.bos.into_iter().chain(context_ids.iter().copied()).collect();
        let input: Vec<u32> = prefix.iter().chain(&ids).copied().collect();
        if input.len() > self.gpt.cfg.n_ctx {
            bail!("the text is {} tokens, longer than the model's context of {} tokens", input.len(), self.gpt.cfg.n_ctx);
        }
        let mut cache = Cache::new(&self.gpt.cfg);
        let logits = self.gpt.forward(&input, &mut cache, true, false)?.logits;
        let rows: Vec<&[f32]> = logits.chunks_exact(self.gpt.cfg.n_vocab).collect();
        // input[p] is predicted by row p - 1 (the logits after input[..p])
        let logprobs: Vec<Option<f64>> = (0..ids.len())
            .map(|i| {
                let p = prefix.len() + i;
                (p > 0).then(|| Distribution::new(rows[p - 1]).log_prob(rows[p - 1][ids[i] as usize]))
            })
            .collect();
        let scored: Vec<f64> = logprobs.iter().flatten().copied().collect();
        let total: f64 = scored.iter().sum();
        let perplexity = if scored.is_empty() { f64::NAN } else { (-total / scored.len() as f64).exp() };
        let pieces = self.tokenizer.pieces(&ids);
        Ok(Scored { tokens: ids, pieces, logprobs, total, perplexity, context_tokens: context_ids.len() })
    }
}

// ---------------------------------------------------------------------------------------------
// Messages (serialised as-is to JSON for the CLI and to JS objects for the worker)

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct GenerateOptions {
    #[serde(flatten)]
    pub sampler: SamplerConfig,
    /// how many next-token candidates each step reports
    pub top_n: usize,
    /// report attention weights (prompt: full T x T; steps: the new row)
    pub attention: bool,
    /// time every stage of every token (`Generator::profile`)
    pub profile: bool,
}

impl Default for GenerateOptions {
    fn default() -> Self {
        GenerateOptions { sampler: SamplerConfig::default(), top_n: 10, attention: false, profile: false }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Candidate {
    pub token: u32,
    pub piece: String,
    pub prob: f64,
}

/// Attention weights laid out (layers, heads, rows, cols); row r is the query at position `row0 + r`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Attention {
    pub layers: usize,
    pub heads: usize,
    pub rows: usize,
    pub cols: usize,
    pub row0: usize,
    pub data: Vec<f32>,
}

impl Attention {
    fn from_layers(layers: &[Tensor], row0: usize) -> Result<Self> {
        let (heads, rows, cols) = layers[0].dims3()?;
        let mut data = Vec::with_capacity(layers.len() * heads * rows * cols);
        for l in layers {
            data.extend(l.flatten_all()?.to_vec1::<f32>()?);
        }
        Ok(Attention { layers: layers.len(), heads, rows, cols, row0, data })
    }
    pub fn at(&self, layer: usize, head: usize, row: usize, col: usize) -> f32 {
        self.data[((layer * self.heads + head) * self.rows + row) * self.cols + col]
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Prompt {
    pub tokens: Vec<u32>,
    pub pieces: Vec<String>,
    pub attention: Option<Attention>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Step {
    pub token: u32,
    /// text to append: UTF-8-safe (bytes of a split character wait for the next step)
    pub text: String,
    /// the token's own text for display (a partial character shows as U+FFFD)
    pub piece: String,
    pub prob: f64,
    /// 0 = the model's most likely token
    pub rank: usize,
    /// entropy of the next-token distribution, in nats
    pub entropy: f64,
    pub position: usize,
    pub top: Vec<Candidate>,
    pub attention: Option<Attention>,
    /// why generation cannot go on after this token: "eos" or "context"
    pub stop: Option<String>,
}

/// One stage of the network for every position: (rows = positions, cols = width).
#[derive(Debug, Clone, Serialize)]
pub struct Stage {
    pub name: String,
    pub rows: usize,
    pub cols: usize,
    /// values kept per row in `data` (the first ones)
    pub channels: usize,
    /// L2 norm of each row
    pub norms: Vec<f32>,
    /// (rows, channels)
    pub data: Vec<f32>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Inspection {
    pub tokens: Vec<u32>,
    pub pieces: Vec<String>,
    pub stages: Vec<Stage>,
    pub attention: Attention,
    pub next: Vec<Candidate>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Scored {
    pub tokens: Vec<u32>,
    pub pieces: Vec<String>,
    pub logprobs: Vec<Option<f64>>,
    pub total: f64,
    pub perplexity: f64,
    /// tokens of the context the text was scored after (0 without one)
    pub context_tokens: usize,
}

// ---------------------------------------------------------------------------------------------
// Generation

pub struct Generator {
    cache: Cache,
    tokens: Vec<u32>,
    /// next-token logits, (V,)
    logits: Vec<f32>,
    sampler: Sampler,
    stream: Utf8Stream,
    opts: GenerateOptions,
    finished: Option<String>,
}

impl Generator {
    /// Validates the options, runs the prompt through the model and fills the cache.
    pub fn new(model: &Model, prompt: &str, opts: GenerateOptions) -> Result<(Generator, Prompt)> {
        let sampler = Sampler::new(opts.sampler.clone())?;
        let mut ids = model.encode_prompt(prompt)?;
        // a file that asks for it (tokenizer.ggml.add_bos_token) starts generation with BOS
        if let (true, Some(bos)) = (model.tokenizer.add_bos, model.tokenizer.bos) {
            ids.insert(0, bos);
            if ids.len() > model.gpt.cfg.n_ctx {
                bail!("the prompt is {} tokens with BOS, longer than the model's context of {} tokens", ids.len(), model.gpt.cfg.n_ctx);
            }
        }
        Self::from_tokens(model, ids, opts, sampler)
    }

    fn from_tokens(model: &Model, ids: Vec<u32>, opts: GenerateOptions, sampler: Sampler) -> Result<(Generator, Prompt)> {
        let mut cache = Cache::new(&model.gpt.cfg);
        cache.profile = opts.profile.then(Profile::default);
        let out = model.gpt.forward(&ids, &mut cache, false, opts.attention)?;
        let attention = if opts.attention { Some(Attention::from_layers(&out.attention, 0)?) } else { None };
        let logits = out.logits;
        let prompt = Prompt { pieces: model.tokenizer.pieces(&ids), tokens: ids.clone(), attention };
        let gen = Generator { cache, tokens: ids, logits, sampler, stream: Utf8Stream::default(), opts, finished: None };
        Ok((gen, prompt))
    }

    pub fn tokens(&self) -> &[u32] {
        &self.tokens
    }

    pub fn finished(&self) -> Option<&str> {
        self.finished.as_deref()
    }

    /// Where the time went so far, by stage (prompt and steps), if the options asked for it.
    pub fn profile(&self) -> Option<Profile> {
        self.cache.profile
    }

    /// The next-token distribution now, without choosing: for a reader who picks by hand.
    pub fn candidates(&self, model: &Model, n: usize) -> Vec<Candidate> {
        model.candidates(&self.logits, &Distribution::new(&self.logits), n)
    }

    /// Samples the next token (or takes `forced`, a reader's choice) and runs it through the model.
    pub fn step(&mut self, model: &Model, forced: Option<u32>) -> Result<Step> {
        if let Some(reason) = &self.finished {
            bail!("generation has ended ({reason}); start again with a new prompt");
        }
        let t0 = self.cache.profile.map(|_| crate::now_ms());
        let token = match forced {
            Some(t) if t as usize >= self.logits.len() => bail!("token id {t} is outside the vocabulary"),
            Some(t) => t,
            None => self.sampler.sample(&self.logits)?,
        };
        let dist = Distribution::new(&self.logits);
        let me = self.logits[token as usize];
        let rank = self.logits.iter().enumerate().filter(|(i, l)| **l > me || (**l == me && (*i as u32) < token)).count();
        let top = model.candidates(&self.logits, &dist, self.opts.top_n);
        if let (Some(t0), Some(p)) = (t0, self.cache.profile.as_mut()) {
            p.sampling_ms += crate::now_ms() - t0;
        }
        let position = self.tokens.len();
        self.tokens.push(token);
        let mut attention = None;
        let mut text = String::new();
        if model.tokenizer.eos == Some(token) {
            self.finished = Some("eos".into());
        } else {
            text = self.stream.push(model.tokenizer.token_bytes(token));
            if self.cache.len() >= model.gpt.cfg.n_ctx {
                self.finished = Some("context".into());
            } else {
                let out = model.gpt.forward(&[token], &mut self.cache, false, self.opts.attention)?;
                self.logits = out.logits;
                if self.opts.attention {
                    attention = Some(Attention::from_layers(&out.attention, position)?);
                }
            }
        }
        if self.finished.is_some() {
            text += &self.stream.flush();
        }
        Ok(Step {
            token,
            text,
            piece: model.tokenizer.piece(token),
            prob: dist.prob(me),
            rank,
            entropy: dist.entropy,
            position,
            top,
            attention,
            stop: self.finished.clone(),
        })
    }
}
