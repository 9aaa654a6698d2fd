//! Bad input gives an error that names the problem, never a panic or a giant allocation.

#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;
#[cfg(target_arch = "wasm32")]
wasm_bindgen_test::wasm_bindgen_test_configure!(run_in_browser);

use inside_gpt::gguf::{DType, Value, Writer};
use inside_gpt::model::Weights;
use inside_gpt::sampler::SamplerConfig;
use inside_gpt::session::{GenerateOptions, Generator, Model};
use inside_gpt::synth;

fn good_file() -> Vec<u8> {
    let tok = synth::tokenizer(300).unwrap();
    synth::model_file(&synth::tiny_config(0), &tok, DType::Q8_0, 1, 0.02).unwrap()
}

fn err_of(bytes: &[u8]) -> String {
    match Model::from_bytes(bytes) {
        Ok(_) => panic!("a bad file loaded"),
        Err(e) => e.0,
    }
}

fn expect(bytes: &[u8], needle: &str) {
    let e = err_of(bytes);
    assert!(e.contains(needle), "error {e:?} should mention {needle:?}");
}

/// Rewrites a good model with one tensor replaced (or dropped, with `None`).
fn with_tensor(name: &str, replacement: Option<(Vec<usize>, DType)>) -> Vec<u8> {
    let tok = synth::tokenizer(300).unwrap();
    let cfg = inside_gpt::model::Config { n_vocab: tok.vocab_size(), ..synth::tiny_config(0) };
    let w = Weights::random(&cfg, 1, 0.02);
    let mut out = Writer::new();
    out.meta("general.architecture", Value::String("gpt2".into()))
        .meta("gpt2.context_length", Value::U32(64))
        .meta("gpt2.embedding_length", Value::U32(64))
        .meta("gpt2.feed_forward_length", Value::U32(256))
        .meta("gpt2.block_count", Value::U32(2))
        .meta("gpt2.attention.head_count", Value::U32(4));
    tok.write_gguf(&mut out);
    for (n, dims, v) in &w.tensors {
        if n != name {
            out.tensor(n, dims, DType::F32, v).unwrap();
        } else if let Some((dims, dtype)) = &replacement {
            let len: usize = dims.iter().product();
            out.tensor(n, dims, *dtype, &vec![0.5; len]).unwrap();
        }
    }
    out.to_bytes()
}

#[test]
fn the_reference_file_loads() {
    Model::from_bytes(&good_file()).unwrap();
    Model::from_bytes(&with_tensor("none", None)).unwrap();
}

#[test]
fn truncated_file() {
    let f = good_file();
    for cut in [0, 3, 7, 20, 100, f.len() / 2, f.len() - 1] {
        let e = err_of(&f[..cut]);
        assert!(e.contains("truncated") || e.contains("too short"), "cut at {cut}: {e}");
    }
}

#[test]
fn wrong_magic_and_html() {
    let mut f = good_file();
    f[..4].copy_from_slice(b"GGML");
    expect(&f, "wrong magic");
    expect(b"<!DOCTYPE html><html><body>Not Found</body></html>", "HTML");
}

#[test]
fn unsupported_version() {
    let mut f = good_file();
    f[4..8].copy_from_slice(&7u32.to_le_bytes());
    expect(&f, "unsupported GGUF version 7");
}

#[test]
fn missing_tensor() {
    expect(&with_tensor("blk.1.ffn_up.weight", None), "missing tensor blk.1.ffn_up.weight");
}

#[test]
fn wrong_shape() {
    expect(&with_tensor("blk.0.attn_qkv.weight", Some((vec![64, 64], DType::F32))), "tensor blk.0.attn_qkv.weight has shape [64, 64], expected [64, 192]");
}

#[test]
fn unknown_and_unsupported_types() {
    let f = with_tensor("none", None);
    let g = inside_gpt::gguf::Gguf::parse(&f).unwrap();
    // the type field is the 4 bytes before the offset (u64) at the end of the first tensor info
    let name = b"token_embd.weight";
    let at = f.windows(name.len()).position(|w| w == name).unwrap() + name.len() + 4 + 8 * g.tensors[0].dims.len();
    for (id, needle) in [
        (999u32, "unknown ggml type id 999"),
        (23, "tensor token_embd.weight has ggml type 23 (IQ4_XS), which this engine does not support (supported: F32, F16, BF16"),
        (15, "(Q8_K), which this engine does not support"),
        // a type we read, but whose blocks (256 values) do not fit this 64-wide row
        (12, "first dimension 64 is not a multiple of the Q4_K block length 256"),
    ] {
        let mut bad = f.clone();
        bad[at..at + 4].copy_from_slice(&id.to_le_bytes());
        expect(&bad, needle);
    }
}

#[test]
fn absurd_header_counts_and_dims() {
    let f = good_file();
    // tensor count, metadata count
    for (at, needle) in [(8, "tensor count"), (16, "metadata count")] {
        let mut bad = f.clone();
        bad[at..at + 8].copy_from_slice(&u64::MAX.to_le_bytes());
        expect(&bad, needle);
    }
    // the first key's length
    let mut bad = f.clone();
    bad[24..32].copy_from_slice(&(1u64 << 60).to_le_bytes());
    expect(&bad, "metadata key");
    // a huge array length inside the tokenizer
    let key = b"tokenizer.ggml.tokens";
    let at = f.windows(key.len()).position(|w| w == key).unwrap() + key.len() + 4 + 4;
    let mut bad = f.clone();
    bad[at..at + 8].copy_from_slice(&(1u64 << 50).to_le_bytes());
    expect(&bad, "length of array tokenizer.ggml.tokens");
    // a huge dimension
    let name = b"token_embd.weight";
    let at = f.windows(name.len()).position(|w| w == name).unwrap() + name.len() + 4;
    let mut bad = f.clone();
    bad[at..at + 8].copy_from_slice(&(1u64 << 40).to_le_bytes());
    expect(&bad, "absurd dimensions");
}

#[test]
fn bad_prompts_and_settings() {
    let model = Model::from_bytes(&good_file()).unwrap();
    let opts = GenerateOptions::default();
    let e = Generator::new(&model, "", opts.clone()).err().unwrap();
    assert!(e.0.contains("empty"), "{e}");
    let long = "word ".repeat(400);
    let e = Generator::new(&model, &long, opts.clone()).err().unwrap();
    assert!(e.0.contains("longer than the model's context of 64"), "{e}");
    assert!(model.score(&long).is_err());
    for (t, p, needle) in [(f64::NAN, 0.9, "temperature"), (-1.0, 0.9, "temperature"), (0.8, 0.0, "top-p"), (0.8, 1.01, "top-p")] {
        let o = GenerateOptions { sampler: SamplerConfig { temperature: t, top_p: p, ..Default::default() }, ..opts.clone() };
        let e = Generator::new(&model, "Hello", o).err().unwrap();
        assert!(e.0.contains(needle), "{e}");
    }
    // odd Unicode is a fine prompt
    let (mut g, _) = Generator::new(&model, "\u{0}\u{FEFF}🇰🇷\u{202E}", opts).unwrap();
    g.step(&model, None).unwrap();
    assert!(g.step(&model, Some(1_000_000)).is_err());
}
