//! `inside-gpt`: the native command line. The same `session` API as the browser, so the same file,
//! prompt and seed give the same token ids here and in the worker.
//!
//!   inside-gpt generate --model F.gguf --prompt TEXT [--max-tokens N] [--temperature T]
//!                       [--top-k K] [--top-p P] [--seed S] [--json]
//!   inside-gpt score    --model F.gguf --text TEXT [--json]
//!   inside-gpt info     --model F.gguf
//!   inside-gpt synth    --out F.gguf [--type Q8_0] [--seed 1] [--layers 2] [--width 64]
//!                       [--heads 4] [--ctx 64] [--vocab 400] [--std 0.02]

use inside_gpt::gguf::DType;
use inside_gpt::model::Config;
use inside_gpt::session::{GenerateOptions, Generator, Model};
use inside_gpt::{bail, synth, Error, Result};
use std::collections::HashMap;
use std::io::Write;

const USAGE: &str = "usage: inside-gpt <generate|score|info|synth> [--option value ...] (see src/main.rs)";

/// `--key value` pairs and bare `--flag`s.
struct Args(HashMap<String, String>);

impl Args {
    fn parse(args: &[String]) -> Result<Args> {
        let mut map = HashMap::new();
        let mut i = 0;
        while i < args.len() {
            let Some(key) = args[i].strip_prefix("--") else { bail!("unexpected argument {:?}\n{USAGE}", args[i]) };
            if key == "json" {
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

fn load(args: &Args) -> Result<Model> {
    let path = args.str("model")?;
    let bytes = std::fs::read(path).map_err(|e| Error(format!("cannot read {path}: {e}")))?;
    Model::from_bytes(&bytes).map_err(|e| Error(format!("{path}: {e}")))
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
            "prefillSeconds": prefill_s, "decodeTokensPerSecond": tok_s,
        });
        println!("{out}");
    } else {
        eprintln!("\n[{} tokens, {tok_s:.1} tokens/s, stop: {}]", tokens.len(), stop.as_deref().unwrap_or("max tokens"));
    }
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

fn synth_cmd(args: &Args) -> Result<()> {
    let out = args.str("out")?;
    let tok = synth::tokenizer(args.num("vocab", 400)?)?;
    let width: usize = args.num("width", 64)?;
    let cfg = Config {
        n_vocab: tok.vocab_size(),
        n_ctx: args.num("ctx", 64)?,
        n_embd: width,
        n_ff: 4 * width,
        n_layer: args.num("layers", 2)?,
        n_head: args.num("heads", 4)?,
        eps: 1e-5,
        tied_head: true,
    };
    let dtype = DType::parse(args.str("type").unwrap_or("Q8_0"))?;
    let bytes = synth::model_file(&cfg, &tok, dtype, args.num("seed", 1)?, args.num("std", 0.02)?)?;
    std::fs::write(out, &bytes).map_err(|e| Error(format!("cannot write {out}: {e}")))?;
    eprintln!("wrote {out}: {} bytes, {} parameters, vocabulary {}", bytes.len(), cfg.params().total, cfg.n_vocab);
    Ok(())
}

fn main() {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let result = match argv.first().map(String::as_str) {
        Some(cmd) => Args::parse(&argv[1..]).and_then(|a| match cmd {
            "generate" => generate(&a),
            "score" => score(&a),
            "info" => load(&a).map(|m| println!("{}", json(&m.info))),
            "synth" => synth_cmd(&a),
            _ => Err(Error(format!("unknown command {cmd:?}\n{USAGE}"))),
        }),
        None => Err(Error(USAGE.into())),
    };
    if let Err(e) = result {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}
