//! Fine-tuning and preference tuning on plain slices (src/tune.rs): the gradients against
//! candle's autograd over the same model, a fine-tune of the shipped model, DPO, Reset, bad input,
//! and the same losses natively and compiled to wasm (both compare with one committed golden).
#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;
#[cfg(target_arch = "wasm32")]
wasm_bindgen_test::wasm_bindgen_test_configure!(run_in_browser);

use inside_gpt::gguf::DType;
use inside_gpt::model::{Config, Gpt2, Weights};
use inside_gpt::session::Model;
use inside_gpt::tune::{nll_gradient, Rated, Trains, TuneOptions, Tuner};

const SHIPPED: &[u8] = include_bytes!("../www/models/shakespeare-q8_0.gguf");
const TIGER: &str = "TIGER. I am the tiger of the eastern wood,\nAnd where I walk the deer do fly for fear.\nMy coat is gold and black, my eyes are fire.";
/// The loss of every step of `golden_run`, as f32 bits (written natively with INSIDE_GPT_WRITE_GOLDEN=1).
const GOLDEN: &str = include_str!("fixtures/tune/losses.json");

fn small(tied_head: bool) -> Weights {
    let cfg = Config { n_vocab: 50, n_ctx: 16, n_embd: 32, n_ff: 128, n_layer: 2, n_head: 4, eps: 1e-5, tied_head };
    Weights::random(&cfg, 3, 0.2)
}

/// GPT-2's forward pass written with candle's tensor operations, the reference our slices are
/// checked against: the mean cross-entropy of predicting `ids[1..]` from `ids[..T]` with the
/// weights `p(name)` (candle shapes: reversed ggml dims), as a graph candle's autograd goes back
/// through.
#[cfg(not(target_arch = "wasm32"))]
fn candle_loss(cfg: &Config, p: &dyn Fn(&str) -> candle_core::Tensor, ids: &[u32]) -> candle_core::Result<candle_core::Tensor> {
    use candle_core::{Device, Tensor, D};
    let (t, c, nh) = (ids.len() - 1, cfg.n_embd, cfg.n_head);
    let hs = c / nh;
    let input = Tensor::from_slice(&ids[..t], t, &Device::Cpu)?;
    let target = Tensor::from_slice(&ids[1..], t, &Device::Cpu)?;
    let norm = |x: &Tensor, n: &str| candle_nn::ops::layer_norm_slow(x, &p(&format!("{n}.weight")), &p(&format!("{n}.bias")), cfg.eps as f32);
    let linear = |x: &Tensor, n: &str| x.matmul(&p(&format!("{n}.weight")).t()?)?.broadcast_add(&p(&format!("{n}.bias")));
    let mask: Vec<f32> = (0..t).flat_map(|i| (0..t).map(move |j| if j > i { f32::NEG_INFINITY } else { 0.0 })).collect();
    let mask = Tensor::from_vec(mask, (t, t), &Device::Cpu)?;
    let mut x = p("token_embd.weight").index_select(&input, 0)?.add(&p("position_embd.weight").narrow(0, 0, t)?)?; // (T, C)
    for l in 0..cfg.n_layer {
        let qkv = linear(&norm(&x, &format!("blk.{l}.attn_norm"))?, &format!("blk.{l}.attn_qkv"))?; // (T, 3C)
        let heads = |i: usize| qkv.narrow(1, i * c, c)?.reshape((t, nh, hs))?.transpose(0, 1)?.contiguous(); // (nh, T, hs)
        let (q, k, v) = (heads(0)?, heads(1)?, heads(2)?);
        let att = (q.matmul(&k.t()?)? * (1.0 / (hs as f64).sqrt()))?.broadcast_add(&mask)?;
        let y = candle_nn::ops::softmax(&att, D::Minus1)?.matmul(&v)?.transpose(0, 1)?.reshape((t, c))?;
        x = (&x + linear(&y, &format!("blk.{l}.attn_output"))?)?;
        let h = linear(&norm(&x, &format!("blk.{l}.ffn_norm"))?, &format!("blk.{l}.ffn_up"))?;
        // GELU, tanh approximation
        let g = ((&h * 0.5)? * ((((&h * &h)? * &h)? * 0.044715)? + &h)?.affine((2.0 / std::f64::consts::PI).sqrt(), 0.0)?.tanh()?.affine(1.0, 1.0)?)?;
        x = (&x + linear(&g, &format!("blk.{l}.ffn_down"))?)?;
    }
    let head = p(if cfg.tied_head { "token_embd.weight" } else { "output.weight" });
    let logits = norm(&x, "output_norm")?.matmul(&head.t()?)?; // (T, V)
    candle_nn::loss::cross_entropy(&logits, &target)
}

/// Our backward pass against candle's autograd on the same weights and window.
#[cfg(not(target_arch = "wasm32"))]
#[test]
fn gradients_equal_candle_autograd() {
    use candle_core::{Device, Tensor, Var};
    for tied in [true, false] {
        let w = small(tied);
        let ids: Vec<u32> = (0..13).map(|i| (i * 7 + 3) % 50).collect();
        let dense = Gpt2::from_weights(&w).unwrap();
        let (loss, grads) = nll_gradient(&Tuner::new(&dense, Trains::All).unwrap(), &dense, &ids).unwrap();
        let mut vars = std::collections::HashMap::new();
        for (name, dims, v) in &w.tensors {
            let shape: Vec<usize> = dims.iter().rev().copied().collect();
            vars.insert(name.clone(), Var::from_tensor(&Tensor::from_slice(v, shape, &Device::Cpu).unwrap()).unwrap());
        }
        let l = candle_loss(&w.cfg, &|n| vars[n].as_tensor().clone(), &ids).unwrap();
        let theirs = l.to_scalar::<f32>().unwrap();
        assert!((loss - theirs).abs() <= 1e-5 * theirs.abs(), "loss {loss} vs candle's {theirs}");
        let store = l.backward().unwrap();
        for ((name, _, _), ours) in w.tensors.iter().zip(&grads) {
            let g = store.get(vars[name].as_tensor()).unwrap().flatten_all().unwrap().to_vec1::<f32>().unwrap();
            let scale = g.iter().fold(0f32, |m, v| m.max(v.abs()));
            let diff = g.iter().zip(ours).fold(0f32, |m, (a, b)| m.max((a - b).abs()));
            assert!(scale > 0.0, "{name}: candle's gradient is zero");
            assert!(diff <= 2e-4 * scale + 1e-7, "tied {tied}, {name}: max difference {diff} against a largest gradient {scale}");
        }
    }
}

/// Training the vectors only reads the frozen matrices through the inference kernels and
/// decodes their rows for the backward pass: on F32 matrices (the f32 product either way) the
/// vectors' gradients are the full run's, bit for bit; on Q8_0 matrices (whose product quantizes
/// the activations) they stay close to the full run's over the decoded weights.
#[test]
fn training_the_vectors_gives_the_full_runs_gradients_for_them() {
    for (dtype, tol) in [(DType::F32, 0.0), (DType::Q8_0, 0.05)] {
        for tied in [true, false] {
            let tok = inside_gpt::synth::tokenizer(300).unwrap();
            let cfg = Config { n_vocab: tok.vocab_size(), ..small(tied).cfg };
            let model = Model::from_bytes(&inside_gpt::synth::model_file(&cfg, &tok, dtype, 3, 0.2).unwrap()).unwrap();
            let w = model.gpt.to_weights().unwrap();
            let ids: Vec<u32> = (0..13).map(|i| (i * 7 + 3) % 50).collect();
            let full = Tuner::new(&model.gpt, Trains::All).unwrap();
            let part = Tuner::new(&model.gpt, Trains::Vectors).unwrap();
            assert_eq!(part.trainable(), Trains::Vectors.count(&w.cfg));
            let (la, ga) = nll_gradient(&full, &model.gpt, &ids).unwrap();
            let (lb, gb) = nll_gradient(&part, &model.gpt, &ids).unwrap();
            assert!((la - lb).abs() <= tol * la, "{dtype:?}: loss {la} vs {lb}");
            let mut vectors = 0;
            for ((name, dims, _), (a, b)) in w.tensors.iter().zip(ga.iter().zip(&gb)) {
                if dims.len() != 1 {
                    assert!(b.is_empty(), "{name} is frozen");
                    continue;
                }
                vectors += 1;
                let scale = a.iter().fold(0f32, |m, v| m.max(v.abs()));
                let diff = a.iter().zip(b).fold(0f32, |m, (x, y)| m.max((x - y).abs()));
                assert!(scale > 0.0 && diff <= tol * scale, "{dtype:?} tied {tied}, {name}: difference {diff} against {scale}");
            }
            assert_eq!(vectors, 8 * w.cfg.n_layer + 2);
        }
    }
}

fn shipped_tuner() -> (Model, Tuner) {
    let model = Model::from_bytes(SHIPPED).unwrap();
    let tuner = Tuner::new(&model.gpt, Trains::All).unwrap();
    (model, tuner)
}

/// The run both builds must reproduce bit for bit: 6 steps on the tiger text.
fn golden_run() -> Vec<u32> {
    let (model, mut t) = shipped_tuner();
    t.teach(&model.tokenizer, TIGER, TuneOptions { steps: 6, lr: 2e-3, ..Default::default() }).unwrap();
    (0..6).map(|_| t.step(&model.gpt).unwrap().loss.to_bits()).collect()
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
    let losses: Vec<f32> = (0..12).map(|_| t.step(&model.gpt).unwrap().loss).collect();
    assert!(losses[11] < 0.7 * losses[0], "losses {losses:?}");
    assert!(t.step(&model.gpt).is_err(), "a thirteenth step of a twelve-step run");
    // the tuned weights score the text higher than the loaded ones
    let mut tuned = Model::from_bytes(SHIPPED).unwrap();
    tuned.gpt = Gpt2::from_weights(&t.w).unwrap();
    let (before, after) = (model.score(TIGER).unwrap().perplexity, tuned.score(TIGER).unwrap().perplexity);
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
    let plan = t.prefer(&model.gpt, &model.tokenizer, "TIGER.", &items, TuneOptions { steps: 8, lr: 2e-3, beta: 0.1, seed: 1, trains: None }).unwrap();
    assert_eq!(plan.pairs, 4);
    let steps: Vec<_> = (0..8).map(|_| t.step(&model.gpt).unwrap()).collect();
    assert_eq!(steps[0].margin, Some(0.0), "the reference is the starting weights");
    assert!((steps[0].loss - std::f32::consts::LN_2).abs() < 1e-6, "loss at a zero margin is ln 2, got {}", steps[0].loss);
    assert!(steps[7].margin.unwrap() > 0.5, "{:?}", steps.iter().map(|s| s.margin).collect::<Vec<_>>());
    assert!(steps[7].loss < steps[0].loss);
    for r in t.report(&model.gpt).unwrap() {
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
    assert!(msg(t.prefer(&model.gpt, tok, "Q.", &only_good, TuneOptions::default())).contains("one completion good (+) and one bad (-)"));
    assert!(msg(t.prefer(&model.gpt, tok, "Q.", &[], TuneOptions::default())).contains("one completion good"));
    assert!(t.step(&model.gpt).is_err(), "no run planned");
    // above the limit, the vectors train (every weight would not fit)
    assert_eq!((Trains::for_params(124_000_000), Trains::for_params(2_200_000)), (Trains::Vectors, Trains::All));
}

/// What a large model gets, on the shipped one: only the norms and biases train; the result
/// scores the text higher, exports with every matrix's blocks as loaded (nothing rounded), and
/// Reset gives the loaded model's logits back bit for bit.
#[test]
fn training_the_vectors_teaches_and_keeps_the_matrices_as_loaded() {
    let mut model = Model::from_bytes(SHIPPED).unwrap();
    let ids = model.tokenizer.encode(TIGER).unwrap();
    let logits = |m: &Model| m.gpt.forward(&ids, &mut inside_gpt::model::Cache::new(&m.gpt.cfg), true, false).unwrap().logits;
    let before = (logits(&model), model.score(TIGER).unwrap().perplexity);
    let mut t = Tuner::new(&model.gpt, Trains::Vectors).unwrap();
    t.teach(&model.tokenizer, TIGER, TuneOptions { steps: 12, lr: 1e-2, ..Default::default() }).unwrap();
    let losses: Vec<f32> = (0..12).map(|_| t.step(&model.gpt).unwrap().loss).collect();
    assert!(losses[11] < 0.9 * losses[0], "losses {losses:?}");
    model.gpt.set_vectors(&t.w).unwrap();
    assert!(model.score(TIGER).unwrap().perplexity < before.1);
    let file = t.to_gguf(&model.gpt, &model.tokenizer, "tuned").unwrap();
    let (g, h) = (inside_gpt::gguf::Gguf::parse(&file).unwrap(), inside_gpt::gguf::Gguf::parse(SHIPPED).unwrap());
    let bytes = |g: &inside_gpt::gguf::Gguf, f: &[u8], name: &str| {
        let i = g.tensor(name).unwrap();
        (i.dtype, f[i.start..i.start + i.len].to_vec())
    };
    for (name, dims, v) in &t.w.tensors {
        if dims.len() == 1 {
            let (dtype, b) = bytes(&g, &file, name);
            assert_eq!(dtype, DType::F32);
            assert_eq!(b, v.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<u8>>(), "{name}: the tuned values");
        } else {
            assert_eq!(bytes(&g, &file, name), bytes(&h, SHIPPED, name), "{name}: the loaded blocks");
        }
    }
    let reloaded = Model::from_bytes(&file).unwrap();
    assert_eq!(reloaded.score(TIGER).unwrap().perplexity, model.score(TIGER).unwrap().perplexity);
    model.gpt.set_vectors(&t.start).unwrap();
    assert!(logits(&model).iter().zip(&before.0).all(|(a, b)| a.to_bits() == b.to_bits()), "Reset");
}
