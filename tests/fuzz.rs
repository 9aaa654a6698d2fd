//! A structured mutation fuzzer over the GGUF reader, the model loader and the tokenizer built
//! from a GGUF: every input must load or fail with an error, never panic.
//!
//! Seeds are the hostile files (`inside_gpt::hostile`) and the valid model they start from.
//! Mutations are biased to the header, where the sizes and counts live: bytes flipped, integers
//! overwritten with boundary values (0, 2^31, 2^32 + 1, u64::MAX, ...), truncation, and edits of
//! the parsed fields (tensor dims, types and offsets; metadata values of any type; duplicates).
//! Whatever loads is also run: a prompt, two tokens, a score.
//!
//!   cargo test --release --test fuzz                       # the CI's short run (FUZZ_EXECS, default 20000)
//!   FUZZ_EXECS=10000000 cargo test --release --test fuzz -- --nocapture
#![cfg(not(target_arch = "wasm32"))]

use inside_gpt::gguf::{Gguf, Incoming, Value};
use inside_gpt::model::Kernels;
use inside_gpt::hostile::{self, RawFile};
use inside_gpt::sampler::SamplerConfig;
use inside_gpt::session::{GenerateOptions, Generator, Model};
use inside_gpt::tokenizer::Tokenizer;
use std::panic::{catch_unwind, AssertUnwindSafe};

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        // xorshift64*
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
    fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        &xs[self.below(xs.len())]
    }
}

const BOUNDARY: [u64; 18] = [
    0, 1, 2, 3, 4, 7, 8, 31, 32, 255, 1 << 16, (1 << 31) - 1, 1 << 31, 1 << 32, (1 << 32) + 1, 1 << 40, u64::MAX >> 1, u64::MAX,
];

fn interesting(r: &mut Rng) -> u64 {
    match r.below(3) {
        0 => *r.pick(&BOUNDARY),
        1 => r.pick(&BOUNDARY).wrapping_sub(1),
        _ => r.next() >> r.below(64),
    }
}

fn value(r: &mut Rng, depth: u32) -> Value {
    let n = interesting(r);
    match r.below(if depth > 0 { 12 } else { 13 }) {
        0 => Value::U8(n as u8),
        1 => Value::I8(n as i8),
        2 => Value::U16(n as u16),
        3 => Value::I16(n as i16),
        4 => Value::U32(n as u32),
        5 => Value::I32(n as i32),
        6 => Value::F32(f32::from_bits(n as u32)),
        7 => Value::Bool(n & 1 == 1),
        8 => Value::String(["", "gpt2", "gpt-2", "llama", "<|endoftext|>", "a b", "Ġ Ġ", "\u{0}"][r.below(8)].into()),
        9 => Value::U64(n),
        10 => Value::I64(n as i64),
        11 => Value::F64(f64::from_bits(n)),
        _ => Value::Array((0..r.below(4)).map(|_| value(r, depth + 1)).collect()),
    }
}

/// One mutated input from a seed (its bytes, its fields when it parses, and its header length).
fn mutate(r: &mut Rng, seeds: &[(Vec<u8>, Option<RawFile>, usize)]) -> Vec<u8> {
    let (bytes, raw, header) = r.pick(seeds);
    let mut b = bytes.clone();
    let at = |r: &mut Rng, len: usize| if r.below(5) < 4 { r.below((*header).min(len)) } else { r.below(len) };
    match (r.below(6), raw) {
        (0, _) if !b.is_empty() => {
            for _ in 0..1 + r.below(8) {
                let i = at(r, b.len());
                b[i] = r.next() as u8;
            }
        }
        (1, _) if b.len() >= 8 => {
            let i = at(r, b.len() - 7);
            let v = interesting(r);
            if r.below(2) == 0 {
                b[i..i + 8].copy_from_slice(&v.to_le_bytes());
            } else {
                b[i..i + 4].copy_from_slice(&(v as u32).to_le_bytes());
            }
        }
        (2, _) => b.truncate(r.below(b.len() + 1)),
        (3, Some(raw)) => {
            let mut raw = raw.clone();
            if !raw.tensors.is_empty() {
                let i = r.below(raw.tensors.len());
                match r.below(5) {
                    0 => {
                        let d = r.below(raw.tensors[i].1.len().max(1) + 1);
                        raw.tensors[i].1 = (0..d).map(|_| if r.below(2) == 0 { interesting(r) } else { 32 * (1 + r.below(16)) as u64 }).collect();
                    }
                    1 => raw.tensors[i].2 = interesting(r) as u32 % 40,
                    2 => raw.tensors[i].3 = if r.below(2) == 0 { interesting(r) } else { 32 * r.below(64) as u64 },
                    3 => {
                        let t = raw.tensors[i].clone();
                        raw.tensors.push(t);
                    }
                    _ => {
                        raw.tensors.remove(i);
                    }
                }
            }
            b = raw.to_bytes();
        }
        (4, Some(raw)) => {
            let mut raw = raw.clone();
            if !raw.metadata.is_empty() {
                let i = r.below(raw.metadata.len());
                match r.below(4) {
                    0 => raw.metadata[i].1 = value(r, 0),
                    1 => {
                        let kv = raw.metadata[i].clone();
                        raw.metadata.push(kv);
                    }
                    2 => {
                        raw.metadata.remove(i);
                    }
                    _ => {
                        // a token id or hyper-parameter set to a boundary value
                        let keys = ["tokenizer.ggml.bos_token_id", "tokenizer.ggml.eos_token_id", "gpt2.context_length", "gpt2.embedding_length", "gpt2.block_count", "gpt2.attention.head_count", "gpt2.feed_forward_length", "general.alignment"];
                        let v = value(r, 0);
                        raw.set(keys[r.below(keys.len())], v);
                    }
                }
            }
            if let Some((_, Value::Array(items))) = raw.metadata.iter_mut().find(|(k, _)| k.starts_with("tokenizer.ggml.")) {
                if !items.is_empty() && r.below(3) == 0 {
                    let j = r.below(items.len());
                    items[j] = value(r, 1);
                }
            }
            b = raw.to_bytes();
        }
        _ => {
            // splice: the start of one seed, the rest of another
            let (other, _, _) = r.pick(seeds);
            let cut = r.below(b.len().min(other.len()) + 1);
            b.truncate(cut);
            b.extend_from_slice(&other[cut.min(other.len())..]);
        }
    }
    b
}

/// Everything a reader's file goes through; how far it got (0: refused by the reader, 1: parsed,
/// 2: loaded and ran).
fn exercise(bytes: &[u8]) -> u8 {
    // streamed in pieces (as the browser loads), the file loads exactly when it loads whole
    let piece = 1 + bytes.len() / 7 + bytes.first().copied().unwrap_or(0) as usize;
    let mut inc = Incoming::new(bytes.len() as u64);
    let streamed = bytes.chunks(piece).try_for_each(|c| inc.push(c)).and_then(|_| Model::from_incoming(inc, Kernels::Ours));
    assert_eq!(streamed.is_ok(), Model::from_bytes(bytes).is_ok(), "streamed and whole loads disagree");
    let Ok(g) = Gguf::parse(bytes) else { return 0 };
    if let Ok(tok) = Tokenizer::from_gguf(&g) {
        if let Ok(ids) = tok.encode("Hello, 세계! <|endoftext|> \u{FEFF}🇰🇷") {
            let _ = tok.decode(&ids);
        }
    }
    if let Ok(model) = Model::from_bytes(bytes) {
        let opts = GenerateOptions { sampler: SamplerConfig { temperature: 0.0, ..Default::default() }, ..Default::default() };
        if let Ok((mut gen, _)) = Generator::new(&model, "To be", opts) {
            let _ = gen.step(&model, None);
            let _ = gen.step(&model, None);
        }
        let _ = model.score("To be, or not");
        let _ = model.inspect("To be", 8);
        return 2;
    }
    1
}

#[test]
fn no_input_panics() {
    let execs: u64 = std::env::var("FUZZ_EXECS").ok().and_then(|v| v.parse().ok()).unwrap_or(20_000);
    let seed: u64 = std::env::var("FUZZ_SEED").ok().and_then(|v| v.parse().ok()).unwrap_or(1);
    let mut seeds: Vec<(Vec<u8>, Option<RawFile>, usize)> = Vec::new();
    let base = hostile::base_file().unwrap();
    let header = base.len() - RawFile::from_bytes(&base).unwrap().data.len();
    seeds.push((base.clone(), RawFile::from_bytes(&base).ok(), header));
    for h in hostile::files().unwrap() {
        let raw = RawFile::from_bytes(&h.bytes).ok();
        let header = raw.as_ref().map_or(h.bytes.len(), |r| h.bytes.len() - r.data.len());
        seeds.push((h.bytes, raw, header.max(1)));
    }
    let mut r = Rng(0x9E37_79B9_7F4A_7C15 ^ seed);
    let t0 = std::time::Instant::now();
    let (mut parsed, mut loaded) = (0u64, 0u64);
    for i in 0..execs {
        let input = mutate(&mut r, &seeds);
        match catch_unwind(AssertUnwindSafe(|| exercise(&input))) {
            Ok(stage) => {
                parsed += (stage >= 1) as u64;
                loaded += (stage == 2) as u64;
            }
            Err(_) => {
                let path = format!("{}/fuzz-panic-{seed}-{i}.gguf", env!("CARGO_TARGET_TMPDIR"));
            std::fs::write(&path, &input).unwrap();
                panic!("execution {i} panicked; the input is in {path}");
            }
        }
    }
    let s = t0.elapsed().as_secs_f64();
    println!("fuzz: {execs} executions in {s:.1} s ({:.0}/s), seed {seed}: {parsed} parsed, {loaded} loaded and ran, 0 panics", execs as f64 / s);
}
