//! The shipped default model: its files decode into the architecture the model card describes,
//! its parameter counts are recomputed two ways, and its held-out loss on a fixed slice matches
//! the card (which `inside-gpt export` measured).

use inside_gpt::gguf::Gguf;
use inside_gpt::session::Model;
use inside_gpt::train::Trainer;

const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/www/models");

fn card() -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(format!("{DIR}/model-card.json")).expect("model card")).unwrap()
}

fn load(file: &str) -> (Model, Vec<u8>) {
    let bytes = std::fs::read(format!("{DIR}/{file}")).unwrap_or_else(|e| panic!("{file}: {e}"));
    (Model::from_bytes(&bytes).unwrap(), bytes)
}

#[test]
fn shipped_files_match_the_card() {
    let card = card();
    let shipped: Vec<&serde_json::Value> = card["evaluation"].as_array().unwrap().iter().filter(|e| e["shipped"] == true).collect();
    assert_eq!(shipped.len(), 2, "Q8_0 and Q4_0 ship");
    for e in shipped {
        let file = e["file"].as_str().unwrap();
        let (model, bytes) = load(file);
        assert_eq!(serde_json::to_value(&model.gpt.cfg).unwrap(), card["config"], "{file}: config");
        // parameters: the config's formula, the card, and a count of every tensor's elements
        let params = model.gpt.cfg.params();
        assert_eq!(serde_json::to_value(&params).unwrap(), card["params"], "{file}: params");
        let counted: usize = Gguf::parse(&bytes).unwrap().tensors.iter().map(|t| t.elements()).sum();
        assert_eq!(counted, params.total, "{file}: tensor elements");
        assert_eq!(bytes.len() as u64, e["bytes"].as_u64().unwrap(), "{file}: size");
        assert!(bytes.len() <= 8 << 20, "{file}: at most 8 MB");
        // the held-out slice, as the card measured it
        let text = std::fs::read_to_string(format!("{DIR}/heldout-slice.txt")).unwrap();
        let ids = model.tokenizer.encode(&text).unwrap();
        let seq = card["training"]["config"]["seq_len"].as_u64().unwrap() as usize;
        let (nats, n, _) = Trainer::evaluate(&model.gpt, &model.tokenizer, &ids, seq, 4).unwrap();
        let want = e["sliceNatsPerToken"].as_f64().unwrap();
        let got = nats / n as f64;
        assert!((got - want).abs() < 1e-3, "{file}: slice loss {got} vs card {want}");
    }
}

#[test]
fn the_card_reports_what_the_issue_asks() {
    let card = card();
    let evals = card["evaluation"].as_array().unwrap();
    let by = |t: &str| evals.iter().find(|e| e["type"] == t).unwrap()["natsPerChar"].as_f64().unwrap();
    let (f32_, q8, q4) = (by("F32"), by("Q8_0"), by("Q4_0"));
    println!("held-out nats/char: F32 {f32_:.4}, Q8_0 {q8:.4} ({:+.2}%), Q4_0 {q4:.4} ({:+.2}%)", 100.0 * (q8 / f32_ - 1.0), 100.0 * (q4 / f32_ - 1.0));
    assert_eq!(card["samples"].as_array().unwrap().len(), 3);
    assert!(card["data"]["licence"].as_str().unwrap().contains("CC BY 2.5"));
    assert!(card["training"]["seconds"].as_f64().unwrap() > 0.0);
}
