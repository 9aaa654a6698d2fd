//! The wasm boundary as the worker uses it: JS option objects in, JS objects (and Float32Array
//! attention) out, errors as exceptions. Runs in headless Chromium under `wasm-pack test`.
#![cfg(target_arch = "wasm32")]

use inside_gpt::gguf::DType;
use inside_gpt::synth;
use inside_gpt::web::{check_gguf_prefix, Engine};
use js_sys::{Float32Array, Reflect};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

fn engine() -> Engine {
    let tok = synth::tokenizer(300).unwrap();
    let bytes = synth::model_file(&synth::tiny_config(0), &tok, DType::Q8_0, 3, 0.1).unwrap();
    Engine::new(&bytes).unwrap_or_else(|_| panic!("engine"))
}

fn get(v: &JsValue, k: &str) -> JsValue {
    Reflect::get(v, &k.into()).unwrap()
}

fn options(pairs: &[(&str, f64)]) -> JsValue {
    let o = js_sys::Object::new();
    for (k, v) in pairs {
        Reflect::set(&o, &(*k).into(), &(*v).into()).unwrap();
    }
    o.into()
}

#[wasm_bindgen_test]
fn start_and_step_from_js_objects() {
    let mut e = engine();
    let prompt = e.start(0, "To be, or not", options(&[("temperature", 0.8), ("seed", 7.0), ("topK", 20.0), ("topN", 5.0)]).into()).unwrap_or_else(|_| panic!("start"));
    assert!(get(&prompt, "tokens").is_object());
    let mut ids = Vec::new();
    for _ in 0..10 {
        let s = e.step(0, None).unwrap_or_else(|_| panic!("step"));
        ids.push(get(&s, "token").as_f64().unwrap() as u32);
        assert_eq!(js_sys::Array::from(&get(&s, "top")).length(), 5);
    }
    // same seed, same tokens
    e.start(0, "To be, or not", options(&[("temperature", 0.8), ("seed", 7.0), ("topK", 20.0), ("topN", 5.0)])).unwrap_or_else(|_| panic!("start"));
    let again: Vec<u32> = (0..10).map(|_| get(&e.step(0, None).unwrap_or_else(|_| panic!("step")), "token").as_f64().unwrap() as u32).collect();
    assert_eq!(ids, again);
}

#[wasm_bindgen_test]
fn attention_crosses_as_float32_array() {
    let mut e = engine();
    let p = e.start(0, "Hello world", options(&[("attention", 1.0)]).into());
    // `attention` must be a boolean: a number is refused with a message
    assert!(p.is_err());
    let o = options(&[]);
    Reflect::set(&o, &"attention".into(), &JsValue::TRUE).unwrap();
    let p = e.start(0, "Hello world", o).unwrap_or_else(|_| panic!("start"));
    let att = get(&p, "attention");
    let data: Float32Array = get(&att, "data").dyn_into().unwrap();
    let (l, h, r, c) = ["layers", "heads", "rows", "cols"].map(|k| get(&att, k).as_f64().unwrap() as u32).into();
    assert_eq!(data.length(), l * h * r * c);
    assert_eq!(r, c);
    let s = e.step(0, None).unwrap_or_else(|_| panic!("step"));
    let row: Float32Array = get(&get(&s, "attention"), "data").dyn_into().unwrap();
    assert_eq!(row.length(), l * h * (c + 1));
}

#[wasm_bindgen_test]
fn bad_input_is_an_exception_with_a_message() {
    let mut e = engine();
    for (prompt, opts, needle) in [
        ("", options(&[]), "empty"),
        ("Hi", options(&[("temperature", f64::NAN)]), "temperature"),
        ("Hi", options(&[("temperature", -1.0)]), "temperature"),
        ("Hi", options(&[("topP", 0.0)]), "top-p"),
        ("Hi", options(&[("topP", 2.0)]), "top-p"),
    ] {
        let err = e.start(0, prompt, opts).err().expect("bad input accepted");
        let msg: JsValue = err.into();
        let text = get(&msg, "message").as_string().unwrap();
        assert!(text.contains(needle), "{text}");
    }
    assert!(e.step(0, None).is_err(), "a failed start leaves no generation behind");
    assert!(check_gguf_prefix(b"<!doctype html>").is_err());
    assert!(check_gguf_prefix(b"GGUF\x03\0\0\0").is_ok());
    assert!(Engine::new(b"GGUF\x03\0\0\0").is_err());
}
