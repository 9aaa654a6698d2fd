//! Models made from a seed, for tests and benchmarks: random weights written through the real
//! exporter, with a byte-level BPE trained on a small built-in bilingual text.

use crate::gguf::DType;
use crate::model::{Config, Weights};
use crate::tokenizer::Tokenizer;
use crate::Result;

/// A few lines of English and Korean, enough for a few hundred merges.
const CORPUS: &str = "\
A language model computes how natural a sentence is, and predicts the next word from the words before it.
The model is trained on a large corpus of text. The parameters are the weights it learns; \
the hyper-parameters, such as the hidden size and the learning rate, are chosen by people.
To be, or not to be, that is the question: whether 'tis nobler in the mind to suffer \
the slings and arrows of outrageous fortune, or to take arms against a sea of troubles.
언어 모델은 문장이 얼마나 자연스러운지를 확률로 계산하고, 앞의 단어들로부터 다음 단어를 예측합니다.
대규모 언어 모델은 매우 많은 파라미터를 가진 언어 모델입니다. 트랜스포머의 디코더를 쌓아 만든 것이 GPT입니다.
Back-propagation sends the error backwards, layer by layer, and updates the weights. \
The transformer uses masked multi-head attention, add and norm, and a feed-forward network.
";

/// A byte-level BPE of up to `vocab_size` tokens trained on the built-in text.
pub fn tokenizer(vocab_size: usize) -> Result<Tokenizer> {
    let lines: Vec<String> = CORPUS.lines().map(|l| format!("{l}\n")).collect();
    Tokenizer::train(lines.into_iter().cycle().take(64), vocab_size)
}

/// A small config for tests: widths are multiples of 32 so every quantized type applies.
pub fn tiny_config(n_vocab: usize) -> Config {
    Config { n_vocab, n_ctx: 64, n_embd: 64, n_ff: 256, n_layer: 2, n_head: 4, eps: 1e-5, tied_head: true }
}

/// A whole GGUF file: random weights from `seed` with `cfg`'s shape (its vocabulary size is taken
/// from the tokenizer), matrices stored as `dtype`.
pub fn model_file(cfg: &Config, tokenizer: &Tokenizer, dtype: DType, seed: u64, std: f32) -> Result<Vec<u8>> {
    let cfg = Config { n_vocab: tokenizer.vocab_size(), ..cfg.clone() };
    Weights::random(&cfg, seed, std).to_gguf(tokenizer, dtype, &format!("synthetic-seed{seed}"))
}
