//! The trainer: a few seconds on a few KB lowers the loss, a seed fixes the weights exactly,
//! and a checkpoint resumes a run to the same weights as an uninterrupted one.

use inside_gpt::model::Config;
use inside_gpt::synth;
use inside_gpt::tokenizer::Tokenizer;
use inside_gpt::train::{TrainConfig, Trainer};

const TEXT: &str = "To be, or not to be, that is the question:\n\
Whether 'tis nobler in the mind to suffer\n\
The slings and arrows of outrageous fortune,\n\
Or to take arms against a sea of troubles\n\
And by opposing end them. To die, to sleep;\n";

fn setup() -> (Tokenizer, Vec<u32>, Config, TrainConfig) {
    let tok = synth::tokenizer(300).unwrap();
    let ids: Vec<u32> = TEXT.repeat(8).split_inclusive('\n').flat_map(|l| tok.encode(l).unwrap()).collect();
    let cfg = Config { n_vocab: tok.vocab_size(), n_ctx: 32, n_embd: 32, n_ff: 128, n_layer: 2, n_head: 2, eps: 1e-5, tied_head: true };
    let tc = TrainConfig { steps: 40, batch: 4, seq_len: 32, lr: 1e-2, min_lr: 1e-3, warmup: 5, seed: 7, ..Default::default() };
    (tok, ids, cfg, tc)
}

fn run(trainer: &mut Trainer, ids: &[u32], until: usize) -> Vec<f64> {
    let mut losses = Vec::new();
    while trainer.step < until {
        let batch = trainer.sample_batch(ids).unwrap();
        losses.push(trainer.train_step(&batch).unwrap().loss);
    }
    losses
}

#[test]
fn a_short_run_lowers_the_loss() {
    let (tok, ids, cfg, tc) = setup();
    let mut t = Trainer::new(&cfg, &tc).unwrap();
    let (before, n, _) = Trainer::evaluate(&t.model().unwrap(), &tok, &ids, 32, 8).unwrap();
    let losses = run(&mut t, &ids, tc.steps);
    let (after, _, _) = Trainer::evaluate(&t.model().unwrap(), &tok, &ids, 32, 8).unwrap();
    let (before, after) = (before / n as f64, after / n as f64);
    println!("loss {before:.3} -> {after:.3} nats/token; first step {:.3}, last {:.3}", losses[0], losses.last().unwrap());
    assert!((before - (cfg.n_vocab as f64).ln()).abs() < 0.5, "an untrained model is near uniform: {before}");
    assert!(after < before - 1.5, "training lowered the loss only from {before} to {after}");
}

#[test]
fn one_seed_gives_identical_weights_and_resume_continues_exactly() {
    let (tok, ids, cfg, tc) = setup();
    let mut a = Trainer::new(&cfg, &tc).unwrap();
    run(&mut a, &ids, 20);
    let mut b = Trainer::new(&cfg, &tc).unwrap();
    run(&mut b, &ids, 20);
    let (wa, wb) = (a.weights(), b.weights());
    assert_eq!(wa.tensors, wb.tensors, "two runs with one seed differ");
    // a different seed gives different weights
    let mut c = Trainer::new(&cfg, &TrainConfig { seed: 8, ..tc.clone() }).unwrap();
    run(&mut c, &ids, 20);
    assert_ne!(c.weights().tensors, wa.tensors);
    // stop at 20, save, resume, go to 30: the same as 30 straight
    let (mut resumed, tok2) = Trainer::resume(&a.checkpoint(&tok).unwrap()).unwrap();
    assert_eq!(tok2.tokens, tok.tokens);
    assert_eq!(resumed.step, 20);
    run(&mut resumed, &ids, 30);
    run(&mut b, &ids, 30);
    assert_eq!(resumed.weights().tensors, b.weights().tensors, "resumed run differs");
}

#[test]
fn trained_weights_export_and_run_in_the_engine() {
    let (tok, ids, cfg, tc) = setup();
    let mut t = Trainer::new(&cfg, &tc).unwrap();
    run(&mut t, &ids, tc.steps);
    let trained = t.model().unwrap();
    let (nats, n, _) = Trainer::evaluate(&trained, &tok, &ids, 32, 8).unwrap();
    let bytes = t.weights().to_gguf(&tok, inside_gpt::gguf::DType::F32, "t").unwrap();
    let m = inside_gpt::session::Model::from_bytes(&bytes).unwrap();
    let (nats2, n2, _) = Trainer::evaluate(&m.gpt, &m.tokenizer, &ids, 32, 8).unwrap();
    assert_eq!(n, n2);
    assert!((nats / n as f64 - nats2 / n2 as f64).abs() < 1e-4, "training graph and engine disagree: {nats} vs {nats2}");
}

/// Training's forward pass (the slices of `tune`, with what its backward needs) and the engine's
/// inference path give the same loss on the same window.
#[test]
fn the_training_pass_and_the_inference_path_agree() {
    let (tok, ids, cfg, tc) = setup();
    let mut trainer = Trainer::new(&cfg, &tc).unwrap();
    run(&mut trainer, &ids, 5); // weights moved away from their initialisation
    let model = trainer.model().unwrap();
    let window = &ids[..33];
    let tuner = inside_gpt::tune::Tuner::new(&model, inside_gpt::tune::Trains::All).unwrap();
    let (training, _) = inside_gpt::tune::nll_gradient(&tuner, &model, window).unwrap();
    let (nats, n, _) = Trainer::evaluate(&model, &tok, window, 32, 1).unwrap();
    let inference = (nats / n as f64) as f32;
    assert!((training - inference).abs() <= 1e-5 * inference, "training pass {training}, inference {inference}");
}
