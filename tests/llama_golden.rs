//! Golden tests against llama.cpp itself: the fixtures in tests/fixtures/llama/ were written by
//! llama.cpp's gguf-py and quantized by llama.cpp's quantizer (`make.py`, with llama-cpp-python),
//! and `outputs.json` holds what llama.cpp computed on them. For every file: it loads; the prompts
//! tokenize to llama.cpp's tokens; our last-position logits agree with llama.cpp's and with a
//! float64 forward over gguf-py's dequantized weights (stored by make.py; tests/llama_golden.py
//! recomputes it) within the limits of `tolerances.json`, measured per file; our 32 greedy tokens
//! equal llama.cpp's up to the first step where llama.cpp's top-2 margin is under 3x the limit.
//!
//! `cargo test --release --test llama_golden -- --nocapture` prints the measured figures.
#![cfg(not(target_arch = "wasm32"))]

use inside_gpt::model::Cache;
use inside_gpt::session::{GenerateOptions, Generator, Model};
use serde_json::Value;
use std::path::PathBuf;

/// Greedy tokens are compared while llama.cpp's top-2 margin is at least this many limits.
const MARGIN_LIMITS: f64 = 3.0;

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/llama")
}

fn json(name: &str) -> Value {
    let path = dir().join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn floats(v: &Value) -> Vec<f64> {
    v.as_array().expect("an array").iter().map(|x| x.as_f64().expect("a number")).collect()
}

fn ints(v: &Value) -> Vec<u32> {
    v.as_array().expect("an array").iter().map(|x| x.as_u64().expect("an integer") as u32).collect()
}

/// The best token, the lowest id on ties (as our greedy sampler and make.py choose).
fn argmax(logits: &[f32]) -> u32 {
    let mut best = 0;
    for (i, &x) in logits.iter().enumerate() {
        if x > logits[best] {
            best = i;
        }
    }
    best as u32
}

fn max_abs_diff(a: &[f64], b: &[f64]) -> f64 {
    assert_eq!(a.len(), b.len());
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f64::max)
}

/// What one file measured: worst over its prompts.
#[derive(Default)]
struct Measured {
    ours_vs_llama: f64,
    ours_vs_llama_rel: f64,
    ours_vs_f64: f64,
    llama_vs_f64: f64,
    greedy_equal: usize,
    greedy_checked: usize,
    greedy_total: usize,
    steps_vs_llama: f64,
    steps_vs_f64: f64,
    steps_llama_vs_f64: f64,
    forced_equal: usize,
    forced_checked: usize,
}

#[test]
fn llama_cpp_goldens() {
    let gold = json("outputs.json");
    let tols = json("tolerances.json");
    let prompts: Vec<&str> = gold["prompts"].as_array().unwrap().iter().map(|p| p.as_str().unwrap()).collect();
    let files = gold["files"].as_object().unwrap();
    assert!(files.len() >= 14, "outputs.json lists {} files", files.len());
    let mut failures = Vec::new();
    println!("max |logit difference|: at the prompt's last position over the whole vocabulary (the real-vocabulary file: llama.cpp's 64 best)");
    println!("/ at llama.cpp's 4 best ids of each of 32 greedy steps fed llama.cpp's tokens; `/range`: the first over the logits' range");
    println!(
        "{:24} {:>19} {:>8} {:>8} {:>19} {:>8} {:>19} {:>8}  greedy: same prefix / clear prefix / total; fed llama.cpp's: same / clear",
        "file", "ours-llama", "limit", "/range", "ours-f64", "limit", "llama-f64", "limit"
    );
    for (name, f) in files {
        let bytes = std::fs::read(dir().join(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(bytes.len() as u64, f["bytes"].as_u64().unwrap(), "{name}: size differs from outputs.json");
        let model = match Model::from_bytes(&bytes) {
            Ok(m) => m,
            Err(e) => {
                failures.push(format!("{name}: does not load: {e}"));
                continue;
            }
        };
        // the tensor types we see are the ones llama.cpp wrote
        let mut ours: Vec<String> = model.info.bytes_by_type.iter().map(|(t, _, _)| t.clone()).collect();
        let mut theirs: Vec<String> = f["tensor_types"].as_object().unwrap().values().map(|v| v.as_str().unwrap().to_string()).collect();
        ours.sort();
        theirs.sort();
        theirs.dedup();
        if ours != theirs {
            failures.push(format!("{name}: tensor types {ours:?}, llama.cpp wrote {theirs:?}"));
        }
        let tol = &tols["files"][name];
        let lim = |k: &str| tol[k].as_f64().unwrap_or_else(|| panic!("tolerances.json: no {k} for {name}"));
        let (lim_llama, lim_f64, lim_llama_f64) = (lim("ours_vs_llama"), lim("ours_vs_f64"), lim("llama_vs_f64"));
        let mut m = Measured::default();
        for run in f["runs"].as_array().unwrap() {
            let prompt = prompts[run["prompt"].as_u64().unwrap() as usize];
            let want = ints(&run["prompt_tokens"]);
            let ids = model.encode_prompt(prompt).unwrap();
            if ids != want {
                failures.push(format!("{name}: {prompt:?} tokenizes to {ids:?}, llama.cpp's tokens are {want:?}"));
                continue;
            }
            let logits = model.gpt.forward(&ids, &mut Cache::new(&model.gpt.cfg), false, false).unwrap().logits;
            assert_eq!(logits.len(), f["n_vocab"].as_u64().unwrap() as usize);
            let (llama, f64s) = (floats(&run["logits"]), floats(&run["f64_logits"]));
            // the real-vocabulary file keeps only llama.cpp's best logits, and their ids
            let (mine, range): (Vec<f64>, f64) = match run.get("ids") {
                Some(sel) => {
                    let r = floats(&run["logit_range"]);
                    (ints(sel).iter().map(|&i| logits[i as usize] as f64).collect(), r[1] - r[0])
                }
                None => {
                    let hi = llama.iter().cloned().fold(f64::MIN, f64::max);
                    let lo = llama.iter().cloned().fold(f64::MAX, f64::min);
                    (logits.iter().map(|&x| x as f64).collect(), hi - lo)
                }
            };
            let d = max_abs_diff(&mine, &llama);
            m.ours_vs_llama = m.ours_vs_llama.max(d);
            m.ours_vs_llama_rel = m.ours_vs_llama_rel.max(d / range);
            m.ours_vs_f64 = m.ours_vs_f64.max(max_abs_diff(&mine, &f64s));
            m.llama_vs_f64 = m.llama_vs_f64.max(max_abs_diff(&llama, &f64s));

            // greedy, compared while llama.cpp's choice is clear
            let (greedy, margins) = (ints(&run["greedy"]), floats(&run["margins"]));
            let mut opts = GenerateOptions::default();
            opts.sampler.temperature = 0.0;
            let (mut gen, _) = Generator::new(&model, prompt, opts.clone()).unwrap();
            let mut got = Vec::new();
            while got.len() < greedy.len() {
                let step = gen.step(&model, None).unwrap();
                got.push(step.token);
                if step.stop.is_some() {
                    break;
                }
            }
            // teacher-forced, on the same cache: fed llama.cpp's tokens, our logits at llama.cpp's 4
            // best ids of every step agree with its and with float64's, and our best token is
            // llama.cpp's at every step where its choice is clear
            let (step_ids, step_llama, step_f64) = (&run["step_ids"], &run["step_logits"], &run["step_f64_logits"]);
            let mut cache = Cache::new(&model.gpt.cfg);
            let mut logits = model.gpt.forward(&ids, &mut cache, false, false).unwrap().logits;
            for (i, (&t, &mg)) in greedy.iter().zip(&margins).enumerate() {
                let sel = ints(&step_ids[i]);
                let at: Vec<f64> = sel.iter().map(|&j| logits[j as usize] as f64).collect();
                m.steps_vs_llama = m.steps_vs_llama.max(max_abs_diff(&at, &floats(&step_llama[i])));
                m.steps_vs_f64 = m.steps_vs_f64.max(max_abs_diff(&at, &floats(&step_f64[i])));
                m.steps_llama_vs_f64 = m.steps_llama_vs_f64.max(max_abs_diff(&floats(&step_llama[i]), &floats(&step_f64[i])));
                let best = argmax(&logits);
                if mg >= MARGIN_LIMITS * lim_llama {
                    m.forced_checked += 1;
                    if best == t {
                        m.forced_equal += 1;
                    } else {
                        failures.push(format!("{name}: {prompt:?}: fed llama.cpp's tokens, our best token at step {i} is {best}, llama.cpp's {t} (its top-2 margin {mg:.4}, limit {lim_llama})"));
                    }
                }
                if i + 1 < greedy.len() {
                    logits = model.gpt.forward(&[t], &mut cache, false, false).unwrap().logits;
                }
            }
            let clear = margins.iter().take_while(|&&mg| mg >= MARGIN_LIMITS * lim_llama).count();
            let equal = got.iter().zip(&greedy).take_while(|(a, b)| a == b).count();
            m.greedy_total += greedy.len();
            m.greedy_checked += clear;
            m.greedy_equal += equal;
            if equal < clear {
                failures.push(format!(
                    "{name}: {prompt:?}: greedy token {equal} is {} here, {} in llama.cpp, whose top-2 margin there is {:.4} (limit {lim_llama}); ours {got:?}, llama.cpp {greedy:?}",
                    got.get(equal).map_or("none".to_string(), |t| t.to_string()),
                    greedy[equal],
                    margins[equal]
                ));
            }
        }
        println!(
            "{name:24} {:>9.3e}/{:<9.3e} {lim_llama:8.2e} {:8.2e} {:>9.3e}/{:<9.3e} {lim_f64:8.2e} {:>9.3e}/{:<9.3e} {lim_llama_f64:8.2e}  {}/{}/{}; {}/{}",
            m.ours_vs_llama, m.steps_vs_llama, m.ours_vs_llama_rel, m.ours_vs_f64, m.steps_vs_f64, m.llama_vs_f64, m.steps_llama_vs_f64,
            m.greedy_equal, m.greedy_checked, m.greedy_total, m.forced_equal, m.forced_checked
        );
        for (what, a, b, lim) in [
            ("our logits are {} from llama.cpp's", m.ours_vs_llama, m.steps_vs_llama, lim_llama),
            ("our logits are {} from float64", m.ours_vs_f64, m.steps_vs_f64, lim_f64),
            ("llama.cpp's stored logits are {} from float64", m.llama_vs_f64, m.steps_llama_vs_f64, lim_llama_f64),
        ] {
            if a.max(b) > lim {
                failures.push(format!("{name}: {} (prompt's last position / greedy steps), over the limit {lim:e}", what.replace("{}", &format!("{a:.3e} / {b:.3e}"))));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
