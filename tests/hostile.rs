//! Hostile and malformed files fail with a message that names the problem: natively, and compiled
//! to wasm32 (`wasm-pack test`), where `usize` has 32 bits and a size that wraps would pass a
//! bounds check and abort the engine later.

#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;
#[cfg(target_arch = "wasm32")]
wasm_bindgen_test::wasm_bindgen_test_configure!(run_in_browser);

use inside_gpt::gguf::{Gguf, Incoming, Value, MAX_ARRAY_ELEMENTS};
use inside_gpt::model::Kernels;
use inside_gpt::hostile::{self, RawFile};
use inside_gpt::session::{GenerateOptions, Generator, Model};

fn error_of(bytes: &[u8]) -> String {
    match Model::from_bytes(bytes) {
        Ok(_) => panic!("a hostile file loaded"),
        Err(e) => e.0,
    }
}

#[test]
fn the_base_file_loads_and_generates() {
    let model = Model::from_bytes(&hostile::base_file().unwrap()).unwrap();
    let (mut g, _) = Generator::new(&model, "To be", GenerateOptions::default()).unwrap();
    g.step(&model, None).unwrap();
}

#[test]
fn every_hostile_file_fails_with_its_message() {
    let files = hostile::files().unwrap();
    assert!(files.len() >= 30, "{} hostile files", files.len());
    for h in &files {
        let e = error_of(&h.bytes);
        assert!(e.contains(h.needle), "{}: error {e:?} should contain {:?}", h.name, h.needle);
    }
}

/// A file streamed in pieces of any size (`Incoming`, as the browser downloads it) fails as the
/// whole file does, and a good one loads to the same model.
fn streamed(bytes: &[u8], piece: usize) -> inside_gpt::Result<Model> {
    let mut inc = Incoming::new(bytes.len() as u64);
    for chunk in bytes.chunks(piece.max(1)) {
        inc.push(chunk)?;
    }
    Model::from_incoming(inc, Kernels::Ours)
}

#[test]
fn every_hostile_file_fails_the_same_way_when_streamed() {
    for h in &hostile::files().unwrap() {
        for piece in [1, 7, 1000, 1 << 20] {
            if piece == 1 && h.bytes.len() > 50_000 {
                continue; // byte by byte re-parses a long header many times: slow, not different
            }
            match streamed(&h.bytes, piece) {
                Ok(_) => panic!("{} loaded when streamed in pieces of {piece}", h.name),
                Err(e) => assert!(e.0.contains(h.needle), "{} in pieces of {piece}: {:?} should contain {:?}", h.name, e.0, h.needle),
            }
        }
    }
}

#[test]
fn a_streamed_file_loads_to_the_same_model() {
    let base = hostile::base_file().unwrap();
    let whole = Model::from_bytes(&base).unwrap();
    let run = |m: &Model| {
        let (mut g, p) = Generator::new(m, "To be", GenerateOptions::default()).unwrap();
        let s = g.step(m, None).unwrap();
        (p.tokens, s.token, s.prob.to_bits(), s.top.iter().map(|c| c.prob.to_bits()).collect::<Vec<_>>())
    };
    let want = run(&whole);
    for piece in [1, 3, 64, 4096, base.len()] {
        let m = streamed(&base, piece).unwrap();
        assert_eq!(run(&m), want, "pieces of {piece}");
        assert_eq!(m.info.file_bytes, base.len());
    }
    // more bytes than announced, or fewer
    let mut inc = Incoming::new(10);
    assert!(inc.push(&base[..11]).unwrap_err().0.contains("longer than the 10 bytes announced"));
    let mut inc = Incoming::new(base.len() as u64 + 5);
    inc.push(&base).unwrap();
    assert!(Model::from_incoming(inc, Kernels::Ours).err().unwrap().0.contains("truncated file"));
}

#[test]
fn an_array_beyond_the_element_budget_is_refused_though_the_file_holds_it() {
    let mut raw = RawFile::from_bytes(&hostile::base_file().unwrap()).unwrap();
    let n = MAX_ARRAY_ELEMENTS as usize + 1;
    raw.set("general.padding", Value::Array(vec![Value::U8(0); n]));
    let bytes = raw.to_bytes();
    let e = Gguf::parse(&bytes).err().unwrap().0;
    assert!(e.contains("array general.padding has") && e.contains("beyond the"), "{e}");
}

/// The committed fixtures (`inside-gpt hostile --out tests/fixtures/malformed`) are the generated
/// ones, and each fails as its manifest says.
#[cfg(not(target_arch = "wasm32"))]
#[test]
fn committed_fixtures_match_the_generator_and_fail_as_listed() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/malformed");
    let manifest: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(format!("{dir}/manifest.json")).unwrap()).unwrap();
    let listed = manifest.as_array().unwrap();
    let files = hostile::files().unwrap();
    assert_eq!(listed.len(), files.len(), "regenerate the fixtures: inside-gpt hostile --out tests/fixtures/malformed");
    for (entry, h) in listed.iter().zip(&files) {
        assert_eq!(entry["file"], h.name);
        assert_eq!(entry["needle"], h.needle);
        let bytes = std::fs::read(format!("{dir}/{}", h.name)).unwrap();
        assert!(bytes == h.bytes, "{} differs from the generator's: regenerate the fixtures", h.name);
        assert!(error_of(&bytes).contains(h.needle), "{}", h.name);
    }
}

/// `tokenizer.ggml.add_bos_token = true` starts generation with BOS, as llama.cpp does; false or
/// absent (GPT-2's own files) does not.
#[test]
fn add_bos_token_starts_generation_with_bos() {
    let base = hostile::base_file().unwrap();
    let plain = Model::from_bytes(&base).unwrap();
    let (_, p) = Generator::new(&plain, "To be", GenerateOptions::default()).unwrap();
    let bos = plain.tokenizer.bos.unwrap();
    assert_ne!(p.tokens[0], bos);
    let mut raw = RawFile::from_bytes(&base).unwrap();
    raw.set("tokenizer.ggml.add_bos_token", Value::Bool(true));
    let with = Model::from_bytes(&raw.to_bytes()).unwrap();
    let (_, q) = Generator::new(&with, "To be", GenerateOptions::default()).unwrap();
    assert_eq!(q.tokens[0], bos);
    assert_eq!(&q.tokens[1..], &p.tokens[..]);
}
