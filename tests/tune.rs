//! Fine-tuning and preference tuning on plain slices (src/tune.rs): the gradients against
//! candle's autograd over the same model, a fine-tune of the shipped model, DPO, Reset, bad input,
//! and the same losses natively and compiled to wasm (both compare with one committed golden).
#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;
#[cfg(target_arch = "wasm32")]
wasm_bindgen_test::wasm_bindgen_test_configure!(run_in_browser);

use inside_gpt::model::{Config, Weights};
use inside_gpt::session::Model;
use inside_gpt::tune::{nll_gradient, Rated, TuneOptions, Tuner};

const SHIPPED: &[u8] = include_bytes!("../www/models/shakespeare-q8_0.gguf");
const TIGER: &str = "TIGER. I am the tiger of the eastern wood,\nAnd where I walk the deer do fly for fear.\nMy coat is gold and black, my eyes are fire.";
/// The loss of every step of `golden_run`, as f32 bits (written natively with INSIDE_GPT_WRITE_GOLDEN=1).
const GOLDEN: &str = include_str!("fixtures/tune/losses.json");

fn small(tied_head: bool) -> Weights {
    let cfg = Config { n_vocab: 50, n_ctx: 16, n_embd: 32, n_ff: 128, n_layer: 2, n_head: 4, eps: 1e-5, tied_head };
    Weights::random(&cfg, 3, 0.2)
}

/// Our backward pass against candle's autograd on the same weights and window.
#[cfg(not(target_arch = "wasm32"))]
#[test]
fn gradients_equal_candle_autograd() {
    use candle_core::{Device, Tensor, Var};
    use inside_gpt::model::Gpt2;
    for tied in [true, false] {
        let w = small(tied);
        let ids: Vec<u32> = (0..13).map(|i| (i * 7 + 3) % 50).collect();
        let (loss, grads) = nll_gradient(&w, &ids).unwrap();
        let mut vars = Vec::new();
        let mut map = std::collections::HashMap::new();
        for (name, dims, v) in &w.tensors {
            let shape: Vec<usize> = dims.iter().rev().copied().collect();
            let var = Var::from_tensor(&Tensor::from_slice(v, shape, &Device::Cpu).unwrap()).unwrap();
            map.insert(name.clone(), var.as_tensor().clone());
            vars.push(var);
        }
        let model = Gpt2::from_tensors(&w.cfg, &map).unwrap();
        let window = Tensor::from_slice(&ids, (1, ids.len()), &Device::Cpu).unwrap();
        let l = inside_gpt::train::Trainer::loss(&model, &window).unwrap();
        let theirs = l.to_scalar::<f32>().unwrap();
        assert!((loss - theirs).abs() <= 1e-5 * theirs.abs(), "loss {loss} vs candle's {theirs}");
        let store = l.backward().unwrap();
        for ((name, _, _), (var, ours)) in w.tensors.iter().zip(vars.iter().zip(&grads)) {
            let g = store.get(var.as_tensor()).unwrap().flatten_all().unwrap().to_vec1::<f32>().unwrap();
            let scale = g.iter().fold(0f32, |m, v| m.max(v.abs()));
            let diff = g.iter().zip(ours).fold(0f32, |m, (a, b)| m.max((a - b).abs()));
            assert!(scale > 0.0, "{name}: candle's gradient is zero");
            assert!(diff <= 2e-4 * scale + 1e-7, "tied {tied}, {name}: max difference {diff} against a largest gradient {scale}");
        }
    }
}

fn shipped_tuner() -> (Model, Tuner) {
    let model = Model::from_bytes(SHIPPED).unwrap();
    let tuner = Tuner::new(model.gpt.to_weights().unwrap()).unwrap();
    (model, tuner)
}

/// The run both builds must reproduce bit for bit: 6 steps on the tiger text.
fn golden_run() -> Vec<u32> {
    let (model, mut t) = shipped_tuner();
    t.teach(&model.tokenizer, TIGER, TuneOptions { steps: 6, lr: 2e-3, ..Default::default() }).unwrap();
    (0..6).map(|_| t.step().unwrap().loss.to_bits()).collect()
}

#[test]
fn the_same_run_gives_the_same_losses_in_every_build() {
    let got = golden_run();
    #[cfg(not(target_arch = "wasm32"))]
    if std::env::var("INSIDE_GPT_WRITE_GOLDEN").is_ok() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/tune/losses.json");
        std::fs::write(path, serde_json::to_string(&got).unwrap()).unwrap();
    }
    let want: Vec<u32> = serde_json::from_str(GOLDEN).unwrap();
    let f = |v: &[u32]| v.iter().map(|b| f32::from_bits(*b)).collect::<Vec<_>>();
    assert_eq!(got, want, "losses {:?}, the golden's {:?}", f(&got), f(&want));
}

#[test]
fn a_fine_tune_teaches_the_text_and_reset_restores_the_weights() {
    let (model, mut t) = shipped_tuner();
    let plan = t.teach(&model.tokenizer, TIGER, TuneOptions { steps: 12, lr: 2e-3, ..Default::default() }).unwrap();
    assert_eq!(plan.windows, 1);
    let losses: Vec<f32> = (0..12).map(|_| t.step().unwrap().loss).collect();
    assert!(losses[11] < 0.7 * losses[0], "losses {losses:?}");
    assert!(t.step().is_err(), "a thirteenth step of a twelve-step run");
    // the tuned weights score the text higher than the loaded ones
    let (before, _) = nll_gradient(&t.start, &model.tokenizer.encode(TIGER).unwrap()).unwrap();
    let (after, _) = nll_gradient(&t.w, &model.tokenizer.encode(TIGER).unwrap()).unwrap();
    assert!(after < before, "{after} vs {before}");
    t.reset();
    assert!(t.w.tensors.iter().zip(&t.start.tensors).all(|(a, b)| a.2.iter().zip(&b.2).all(|(x, y)| x.to_bits() == y.to_bits())));
    // a text longer than the context is split into windows, not refused
    let long = TIGER.repeat(12);
    let plan = t.teach(&model.tokenizer, &long, TuneOptions { steps: 1, ..Default::default() }).unwrap();
    assert!(plan.windows >= 2 && plan.tokens > model.gpt.cfg.n_ctx, "{plan:?}");
}

#[test]
fn preference_steps_raise_the_margin() {
    let (model, mut t) = shipped_tuner();
    let items = [
        Rated { text: " I will guard the wood and spare the deer.".into(), good: true },
        Rated { text: " I will burn the wood and eat the deer.".into(), good: false },
        Rated { text: " The tiger is gentle.".into(), good: true },
        Rated { text: " The tiger is cruel.".into(), good: false },
    ];
    let plan = t.prefer(&model.tokenizer, "TIGER.", &items, TuneOptions { steps: 8, lr: 2e-3, beta: 0.1, seed: 1 }).unwrap();
    assert_eq!(plan.pairs, 4);
    let steps: Vec<_> = (0..8).map(|_| t.step().unwrap()).collect();
    assert_eq!(steps[0].margin, Some(0.0), "the reference is the starting weights");
    assert!((steps[0].loss - std::f32::consts::LN_2).abs() < 1e-6, "loss at a zero margin is ln 2, got {}", steps[0].loss);
    assert!(steps[7].margin.unwrap() > 0.5, "{:?}", steps.iter().map(|s| s.margin).collect::<Vec<_>>());
    assert!(steps[7].loss < steps[0].loss);
    for r in t.report().unwrap() {
        assert_eq!(r.reward > 0.0, r.good, "{r:?}");
    }
}

#[test]
fn bad_input_gets_a_clear_message() {
    let (model, mut t) = shipped_tuner();
    let tok = &model.tokenizer;
    let msg = |e: inside_gpt::Result<_>| e.err().map(|e: inside_gpt::Error| e.0).unwrap_or_default();
    assert!(msg(t.teach(tok, "", TuneOptions::default())).contains("no text to train on"));
    assert!(msg(t.teach(tok, TIGER, TuneOptions { steps: 0, ..Default::default() })).contains("steps must be 1 to 500"));
    for lr in [f32::NAN, -1e-3, 0.0, 1.0] {
        assert!(msg(t.teach(tok, TIGER, TuneOptions { lr, ..Default::default() })).contains("learning rate"), "lr {lr}");
    }
    let only_good = [Rated { text: " yes".into(), good: true }];
    assert!(msg(t.prefer(tok, "Q.", &only_good, TuneOptions::default())).contains("one completion good (+) and one bad (-)"));
    assert!(msg(t.prefer(tok, "Q.", &[], TuneOptions::default())).contains("one completion good"));
    assert!(t.step().is_err(), "no run planned");
    // a model above the limit is refused by size, before its weights are decoded
    assert!(inside_gpt::tune::check_size(124_000_000).unwrap_err().0.contains("up to 20 million"));
    let _ = small(true);
}
