//! Malformed and hostile GGUF files, each with the words its error message must contain: the
//! regression fixtures in `tests/fixtures/malformed/` (written by `inside-gpt synth --malformed`),
//! the wasm32 test of 32-bit size arithmetic, and the fuzzer's seeds.
//!
//! Every file starts from one small valid model and breaks one thing, so that the message names
//! that thing and nothing else fails first.

use crate::gguf::{write_header, DType, Gguf, TensorHeader, Value};
use crate::model::Config;
use crate::Result;

/// A GGUF file as fields, written back byte for byte, with nothing checked: tensor offsets are
/// relative to the data section, `data` is that section.
#[derive(Clone)]
pub struct RawFile {
    pub version: u32,
    pub metadata: Vec<(String, Value)>,
    /// name, dims (ggml order), ggml type id, offset
    pub tensors: Vec<(String, Vec<u64>, u32, u64)>,
    pub data: Vec<u8>,
    pub alignment: usize,
}

impl RawFile {
    /// Splits a valid file into its fields.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let g = Gguf::parse(bytes)?;
        let start = g.tensors.iter().map(|t| t.start).min().unwrap_or(bytes.len());
        let tensors = g.tensors.iter().map(|t| (t.name.clone(), t.dims.iter().map(|&d| d as u64).collect(), t.dtype.id(), (t.start - start) as u64)).collect();
        Ok(RawFile { version: g.version, metadata: g.metadata, tensors, data: bytes[start..].to_vec(), alignment: crate::gguf::DEFAULT_ALIGNMENT })
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        let infos: Vec<TensorHeader> = self.tensors.iter().map(|(name, dims, ty, offset)| (name.as_str(), dims.clone(), *ty, *offset)).collect();
        let mut out = Vec::new();
        write_header(&mut out, self.version, &self.metadata, &infos);
        out.resize(out.len().div_ceil(self.alignment) * self.alignment, 0);
        out.extend_from_slice(&self.data);
        out
    }

    pub fn set(&mut self, key: &str, value: Value) -> &mut Self {
        match self.metadata.iter_mut().find(|(k, _)| k == key) {
            Some(kv) => kv.1 = value,
            None => self.metadata.push((key.to_string(), value)),
        }
        self
    }
    pub fn remove(&mut self, key: &str) -> &mut Self {
        self.metadata.retain(|(k, _)| k != key);
        self
    }
    fn tensor(&mut self, name: &str) -> &mut (String, Vec<u64>, u32, u64) {
        self.tensors.iter_mut().find(|t| t.0 == name).expect("the base model has this tensor")
    }
}

/// The small valid model every hostile file starts from: 300 tokens, width 32, one layer, Q8_0.
pub fn base_file() -> Result<Vec<u8>> {
    let tok = crate::synth::tokenizer(300)?;
    let cfg = Config { n_vocab: 0, n_ctx: 16, n_embd: 32, n_ff: 64, n_layer: 1, n_head: 2, eps: 1e-5, tied_head: true };
    crate::synth::model_file(&cfg, &tok, DType::Q8_0, 7, 0.05)
}

/// One hostile file: a file name, its bytes, and the words its error message must contain.
pub struct Hostile {
    pub name: &'static str,
    pub bytes: Vec<u8>,
    pub needle: &'static str,
}

/// Offset just after the first occurrence of `what` in `bytes`.
fn after(bytes: &[u8], what: &[u8]) -> usize {
    bytes.windows(what.len()).position(|w| w == what).expect("the base file holds this string") + what.len()
}

fn put(bytes: &mut [u8], at: usize, value: &[u8]) {
    bytes[at..at + value.len()].copy_from_slice(value);
}

/// Every hostile file, built from `base_file()`.
pub fn files() -> Result<Vec<Hostile>> {
    let base = base_file()?;
    let raw = RawFile::from_bytes(&base)?;
    let mut out = Vec::new();
    let mut add = |name: &'static str, bytes: Vec<u8>, needle: &'static str| out.push(Hostile { name, bytes, needle });
    let edit = |f: &dyn Fn(&mut RawFile)| {
        let mut r = raw.clone();
        f(&mut r);
        r.to_bytes()
    };
    let patch = |f: &dyn Fn(&mut Vec<u8>)| {
        let mut b = base.clone();
        f(&mut b);
        b
    };

    // not GGUF at all
    add("empty.gguf", Vec::new(), "too short");
    add("html-page.gguf", b"<!DOCTYPE html><html><body>404 Not Found</body></html>".to_vec(), "HTML page");
    add("wrong-magic.gguf", patch(&|b| put(b, 0, b"GGML")), "wrong magic");
    add("version-1.gguf", patch(&|b| put(b, 4, &1u32.to_le_bytes())), "unsupported GGUF version 1");
    add("version-99.gguf", patch(&|b| put(b, 4, &99u32.to_le_bytes())), "unsupported GGUF version 99");
    // counts and lengths that cannot fit in the file
    add("tensor-count-huge.gguf", patch(&|b| put(b, 8, &u64::MAX.to_le_bytes())), "tensor count");
    add("metadata-count-huge.gguf", patch(&|b| put(b, 16, &(1u64 << 40).to_le_bytes())), "metadata count");
    add("key-length-huge.gguf", patch(&|b| put(b, 24, &(1u64 << 60).to_le_bytes())), "metadata key");
    // an array of hundreds of millions of elements, more than the file holds
    add(
        "array-300-million.gguf",
        patch(&|b| {
            let at = after(b, b"tokenizer.ggml.tokens") + 4 + 4;
            put(b, at, &300_000_000u64.to_le_bytes())
        }),
        "length of array tokenizer.ggml.tokens",
    );
    add("truncated-header.gguf", base[..base.len().min(600)].to_vec(), "truncated");
    add("truncated-data.gguf", base[..base.len() - 1].to_vec(), "truncated file: tensor");
    add("key-not-utf8.gguf", patch(&|b| { let at = after(b, b"general.archit") - 1; put(b, at, &[0xff]) }), "not valid UTF-8");
    add("value-type-unknown.gguf", patch(&|b| { let at = after(b, b"general.architecture"); put(b, at, &99u32.to_le_bytes()) }), "unknown value type 99");
    add(
        "array-element-type-unknown.gguf",
        patch(&|b| { let at = after(b, b"tokenizer.ggml.merges") + 4; put(b, at, &77u32.to_le_bytes()) }),
        "unknown element type 77",
    );
    add(
        "arrays-nested-too-deep.gguf",
        edit(&|r| {
            let deep = Value::Array(vec![Value::Array(vec![Value::Array(vec![Value::Array(vec![Value::U8(1)])])])]);
            r.set("general.nested", deep);
        }),
        "nested too deeply",
    );
    // duplicates, which llama.cpp refuses
    add("duplicate-key.gguf", edit(&|r| r.metadata.push(("gpt2.block_count".into(), Value::U32(1)))), "metadata key \"gpt2.block_count\" is defined twice");
    add(
        "duplicate-tensor.gguf",
        edit(&|r| {
            let t = r.tensors[0].clone();
            r.tensors.push(t);
        }),
        "tensor \"token_embd.weight\" is defined twice",
    );
    // tensor infos
    add(
        "tensor-2-to-the-30-f32.gguf",
        edit(&|r| {
            // 8 x 2^27 F32 values: 4 GiB, whose byte length wraps to 0 in 32-bit arithmetic; with a
            // width of 8 its shape is the one the loader expects, so only the size can stop it
            r.set("gpt2.embedding_length", Value::U32(8));
            let t = r.tensor("token_embd.weight");
            t.1 = vec![8, 1 << 27];
            t.2 = DType::F32.id();
        }),
        "truncated file: tensor token_embd.weight",
    );
    add("tensor-dims-absurd.gguf", edit(&|r| r.tensor("token_embd.weight").1 = vec![1 << 40, 1 << 30]), "absurd dimensions");
    add("tensor-no-dims.gguf", edit(&|r| r.tensor("output_norm.weight").1 = vec![]), "0 dimensions");
    add("tensor-type-unknown.gguf", edit(&|r| r.tensor("token_embd.weight").2 = 999), "unknown ggml type id 999");
    add("tensor-type-unsupported.gguf", edit(&|r| r.tensor("token_embd.weight").2 = 23), "which this engine does not support");
    add("tensor-offset-unaligned.gguf", edit(&|r| r.tensor("output_norm.weight").3 += 4), "not a multiple of the alignment");
    add("tensor-offset-huge.gguf", edit(&|r| r.tensor("output_norm.weight").3 = u64::MAX - 31), "beyond any file");
    // two tensors over the same bytes (a streamed load copies each byte to one tensor)
    add("tensors-overlap.gguf", edit(&|r| r.tensor("output_norm.bias").3 = r.tensor("output_norm.weight").3), "overlap");
    add(
        "tensor-row-not-whole-blocks.gguf",
        edit(&|r| {
            let t = r.tensor("blk.0.attn_qkv.weight");
            t.1 = vec![48, 64];
        }),
        "not a multiple of the Q8_0 block length",
    );
    add("alignment-not-power-of-two.gguf", edit(&|r| { r.set("general.alignment", Value::U32(24)); }), "not a power of two");
    // the model
    add("architecture-llama.gguf", edit(&|r| { r.set("general.architecture", Value::String("llama".into())); }), "this engine runs \"gpt2\" models");
    add("context-length-zero.gguf", edit(&|r| { r.set("gpt2.context_length", Value::U32(0)); }), "gpt2.context_length = 0 is out of range");
    add("heads-do-not-divide-width.gguf", edit(&|r| { r.set("gpt2.attention.head_count", Value::U32(3)); }), "inconsistent hyper-parameters");
    add("layer-norm-epsilon-nan.gguf", edit(&|r| { r.set("gpt2.attention.layer_norm_epsilon", Value::F32(f32::NAN)); }), "bad layer_norm_epsilon");
    add(
        "missing-tensor.gguf",
        edit(&|r| r.tensors.retain(|t| t.0 != "blk.0.ffn_up.weight")),
        "missing tensor blk.0.ffn_up.weight",
    );
    add(
        "wrong-shape.gguf",
        edit(&|r| r.tensor("blk.0.attn_output.weight").1 = vec![64, 16]),
        "tensor blk.0.attn_output.weight has shape [64, 16], expected [32, 32]",
    );
    // the tokenizer
    add("tokenizer-not-gpt2.gguf", edit(&|r| { r.set("tokenizer.ggml.model", Value::String("llama".into())); }), "only GPT-2 byte-level BPE");
    add("tokenizer-pre-unknown.gguf", edit(&|r| { r.set("tokenizer.ggml.pre", Value::String("llama-bpe".into())); }), "tokenizer.ggml.pre is \"llama-bpe\"");
    add("add-bos-not-a-bool.gguf", edit(&|r| { r.set("tokenizer.ggml.add_bos_token", Value::U32(1)); }), "tokenizer.ggml.add_bos_token should be a bool");
    add("tokenizer-no-tokens.gguf", edit(&|r| { r.remove("tokenizer.ggml.tokens"); }), "missing metadata tokenizer.ggml.tokens");
    add(
        "bos-id-2-to-the-32-plus-1.gguf",
        edit(&|r| { r.set("tokenizer.ggml.bos_token_id", Value::U64((1 << 32) + 1)); }),
        "tokenizer.ggml.bos_token_id = 4294967297 is not a token id",
    );
    add("eos-id-negative.gguf", edit(&|r| { r.set("tokenizer.ggml.eos_token_id", Value::I32(-1)); }), "tokenizer.ggml.eos_token_id = -1 is not a token id");
    add("unknown-id-out-of-range.gguf", edit(&|r| { r.set("tokenizer.ggml.unknown_token_id", Value::U32(300)); }), "tokenizer.ggml.unknown_token_id = 300");
    add(
        "token-type-huge.gguf",
        edit(&|r| {
            let n = r.metadata.iter().find(|(k, _)| k == "tokenizer.ggml.tokens").and_then(|(_, v)| v.as_array().map(<[Value]>::len)).unwrap_or(0);
            r.set("tokenizer.ggml.token_type", Value::Array(vec![Value::U64(1 << 40); n]));
        }),
        "tokenizer.ggml.token_type should hold small integers",
    );
    add(
        "merge-not-a-pair.gguf",
        edit(&|r| { r.set("tokenizer.ggml.merges", Value::Array(vec![Value::String("abc".into())])); }),
        "merge \"abc\" is not two tokens",
    );
    add(
        "vocabulary-size-mismatch.gguf",
        edit(&|r| {
            if let Some((_, Value::Array(tokens))) = r.metadata.iter_mut().find(|(k, _)| k == "tokenizer.ggml.tokens") {
                tokens.push(Value::String("extra".into()));
            }
            if let Some((_, Value::Array(types))) = r.metadata.iter_mut().find(|(k, _)| k == "tokenizer.ggml.token_type") {
                types.push(Value::I32(1));
            }
        }),
        "the tokenizer has 301 tokens but token_embd.weight has 300 rows",
    );
    Ok(out)
}
