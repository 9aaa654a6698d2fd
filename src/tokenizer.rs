//! Byte-level BPE as GPT-2 defines it, through the `tokenizers` crate, plus UTF-8-safe streaming.
//!
//! One vocabulary form serves every source: token strings in GPT-2's byte-to-unicode alphabet,
//! their types (1 normal, 3 control) and "a b" merges, exactly what a GGUF stores under
//! `tokenizer.ggml.*`. A `tokenizer.json` and a freshly trained tokenizer are turned into that form.

use crate::gguf::{Gguf, Value, Writer};
use crate::{bail, Error, Result};
use std::collections::HashMap;
use tokenizers::models::bpe::{BpeTrainer, BPE};
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::models::TrainerWrapper;
use tokenizers::{AddedToken, Tokenizer as HfTokenizer};

pub const ENDOFTEXT: &str = "<|endoftext|>";
const TYPE_NORMAL: i32 = 1;
const TYPE_CONTROL: i32 = 3;

/// A metadata value in a message: numbers plainly, anything else as its debug form (shortened).
fn show(v: &Value) -> String {
    match v {
        Value::I8(x) => x.to_string(),
        Value::I16(x) => x.to_string(),
        Value::I32(x) => x.to_string(),
        Value::I64(x) => x.to_string(),
        Value::F32(x) => x.to_string(),
        Value::F64(x) => x.to_string(),
        _ => match v.as_u64() {
            Some(x) => x.to_string(),
            None => format!("{v:?}").chars().take(60).collect(),
        },
    }
}

/// GPT-2's table from bytes to printable characters: printable Latin-1 bytes map to themselves,
/// the rest to U+0100 onwards, in byte order.
fn byte_to_char() -> [char; 256] {
    let mut table = ['\0'; 256];
    let mut next = 256u32;
    for b in 0..256u32 {
        let printable = (b'!' as u32..=b'~' as u32).contains(&b) || (0xA1..=0xAC).contains(&b) || (0xAE..=0xFF).contains(&b);
        table[b as usize] = if printable {
            char::from_u32(b).unwrap()
        } else {
            next += 1;
            char::from_u32(next - 1).unwrap()
        };
    }
    table
}

pub struct Tokenizer {
    inner: HfTokenizer,
    /// token strings as stored (byte-level alphabet; control tokens verbatim)
    pub tokens: Vec<String>,
    pub token_types: Vec<i32>,
    pub merges: Vec<String>,
    pub bos: Option<u32>,
    pub eos: Option<u32>,
    /// `tokenizer.ggml.add_bos_token`: generation starts with `bos`, as llama.cpp does then
    pub add_bos: bool,
    /// the raw bytes each token stands for
    bytes: Vec<Vec<u8>>,
}

impl Tokenizer {
    /// The one constructor: every other source ends here.
    pub fn from_vocab(tokens: Vec<String>, token_types: Vec<i32>, merges: Vec<String>, bos: Option<u32>, eos: Option<u32>) -> Result<Self> {
        if tokens.is_empty() {
            bail!("tokenizer has an empty vocabulary");
        }
        if token_types.len() != tokens.len() {
            bail!("tokenizer has {} tokens but {} token types", tokens.len(), token_types.len());
        }
        for (what, id) in [("bos", bos), ("eos", eos)] {
            if let Some(id) = id {
                if id as usize >= tokens.len() {
                    bail!("tokenizer {what} id {id} is outside the vocabulary of {}", tokens.len());
                }
            }
        }
        let table = byte_to_char();
        let inverse: HashMap<char, u8> = table.iter().enumerate().map(|(b, c)| (*c, b as u8)).collect();
        let mut vocab = ahash::AHashMap::with_capacity(tokens.len());
        for (id, t) in tokens.iter().enumerate() {
            vocab.entry(t.clone()).or_insert(id as u32);
        }
        for (b, c) in table.iter().enumerate() {
            if !vocab.contains_key(&c.to_string()) {
                bail!("tokenizer vocabulary lacks the byte token for 0x{b:02x}: not a byte-level BPE vocabulary");
            }
        }
        let mut pairs = Vec::with_capacity(merges.len());
        for m in &merges {
            let Some((a, b)) = m.split_once(' ') else { bail!("tokenizer merge {m:?} is not two tokens") };
            pairs.push((a.to_string(), b.to_string()));
        }
        // no word cache: tokenizers 0.23 keeps it in a thread-local map keyed by the BPE's id and
        // never removes an entry when the BPE is dropped, so every model loaded in the worker
        // would leave its cache behind (the soak found it); our texts are short
        let bpe = BPE::builder()
            .vocab_and_merges(vocab, pairs)
            .cache_capacity(0)
            .build()
            .map_err(|e| Error(format!("tokenizer: {e}")))?;
        let mut inner = HfTokenizer::new(bpe);
        inner.with_pre_tokenizer(Some(ByteLevel::new(false, true, true)));
        inner.with_decoder(Some(ByteLevel::default()));
        let specials: Vec<AddedToken> = tokens
            .iter()
            .zip(&token_types)
            .filter(|(_, t)| **t == TYPE_CONTROL)
            .map(|(s, _)| AddedToken::from(s.clone(), true))
            .collect();
        inner.add_special_tokens(specials).map_err(|e| Error(format!("tokenizer: {e}")))?;
        let bytes = tokens
            .iter()
            .zip(&token_types)
            .map(|(t, ty)| {
                if *ty == TYPE_CONTROL {
                    t.as_bytes().to_vec()
                } else {
                    let mut out = Vec::with_capacity(t.len());
                    for c in t.chars() {
                        match inverse.get(&c) {
                            Some(b) => out.push(*b),
                            None => out.extend_from_slice(c.to_string().as_bytes()),
                        }
                    }
                    out
                }
            })
            .collect();
        Ok(Tokenizer { inner, tokens, token_types, merges, bos, eos, add_bos: false, bytes })
    }

    /// Reads `tokenizer.ggml.*` as llama.cpp writes it for GPT-2.
    pub fn from_gguf(g: &Gguf) -> Result<Self> {
        let model = g.get_str("tokenizer.ggml.model")?;
        if model != "gpt2" {
            bail!("tokenizer.ggml.model is {model:?}: only GPT-2 byte-level BPE (\"gpt2\") is supported");
        }
        // How text is split before BPE. Only GPT-2's own split is implemented; a file without the
        // key (older converters) is taken to mean it, as its architecture does.
        match g.get("tokenizer.ggml.pre").map(|v| v.as_str()) {
            None | Some(Some("gpt-2")) => {}
            Some(Some(pre)) => bail!("tokenizer.ggml.pre is {pre:?}: this engine splits text as GPT-2 does (\"gpt-2\") and would tokenize this model's text differently"),
            Some(None) => bail!("metadata tokenizer.ggml.pre should be a string"),
        }
        let add_bos = match g.get("tokenizer.ggml.add_bos_token") {
            None => false,
            Some(Value::Bool(b)) => *b,
            Some(v) => bail!("metadata tokenizer.ggml.add_bos_token should be a bool, found {}", show(v)),
        };
        let strings = |key: &str| -> Result<Vec<String>> {
            let arr = g.get(key).and_then(Value::as_array).ok_or_else(|| Error(format!("missing metadata {key}")))?;
            arr.iter()
                .map(|v| v.as_str().map(str::to_string).ok_or_else(|| Error(format!("metadata {key} should hold strings"))))
                .collect()
        };
        let tokens = strings("tokenizer.ggml.tokens")?;
        let merges = strings("tokenizer.ggml.merges")?;
        let token_types = match g.get("tokenizer.ggml.token_type").and_then(Value::as_array) {
            Some(arr) => arr
                .iter()
                .map(|v| match v {
                    Value::I32(x) => Ok(*x),
                    other => other
                        .as_u64()
                        .and_then(|x| i32::try_from(x).ok())
                        .ok_or_else(|| Error(format!("tokenizer.ggml.token_type should hold small integers, found {other:?}"))),
                })
                .collect::<Result<Vec<_>>>()?,
            None => vec![TYPE_NORMAL; tokens.len()],
        };
        // Special token ids, range-checked as the u64 they are stored in (never narrowed first:
        // 2^32 + 1 would otherwise become 1). Every *_token_id key is checked, used or not.
        for (key, v) in &g.metadata {
            if key.starts_with("tokenizer.ggml.") && key.ends_with("_token_id") {
                match v.as_u64() {
                    Some(id) if id < tokens.len() as u64 => {}
                    _ => bail!("metadata {key} = {} is not a token id of the {}-token vocabulary", show(v), tokens.len()),
                }
            }
        }
        let id = |key: &str| g.get(key).and_then(Value::as_u64).map(|x| x as u32);
        let bos = id("tokenizer.ggml.bos_token_id");
        if add_bos && bos.is_none() {
            bail!("tokenizer.ggml.add_bos_token is true but the file gives no tokenizer.ggml.bos_token_id");
        }
        let mut t = Self::from_vocab(tokens, token_types, merges, bos, id("tokenizer.ggml.eos_token_id"))?;
        t.add_bos = add_bos;
        Ok(t)
    }

    /// Reads a Hugging Face `tokenizer.json` holding a byte-level BPE model.
    pub fn from_json(json: &str) -> Result<Self> {
        let v: serde_json::Value = serde_json::from_str(json).map_err(|e| Error(format!("tokenizer.json: {e}")))?;
        let model = &v["model"];
        if model["type"] != "BPE" {
            bail!("tokenizer.json: model type {} is not BPE", model["type"]);
        }
        let vocab = model["vocab"].as_object().ok_or_else(|| Error("tokenizer.json: model.vocab missing".into()))?;
        let mut tokens = vec![String::new(); vocab.len()];
        for (t, id) in vocab {
            let id = id.as_u64().filter(|&i| (i as usize) < tokens.len()).ok_or_else(|| Error(format!("tokenizer.json: bad id for {t:?}")))?;
            tokens[id as usize] = t.clone();
        }
        let mut token_types = vec![TYPE_NORMAL; tokens.len()];
        for added in v["added_tokens"].as_array().into_iter().flatten() {
            if let (Some(id), Some(content)) = (added["id"].as_u64(), added["content"].as_str()) {
                let id = id as usize;
                if id >= tokens.len() {
                    tokens.resize(id + 1, String::new());
                    token_types.resize(id + 1, TYPE_NORMAL);
                }
                tokens[id] = content.to_string();
                if added["special"].as_bool().unwrap_or(false) {
                    token_types[id] = TYPE_CONTROL;
                }
            }
        }
        let merges = model["merges"]
            .as_array()
            .ok_or_else(|| Error("tokenizer.json: model.merges missing".into()))?
            .iter()
            .map(|m| match m {
                serde_json::Value::String(s) => Ok(s.clone()),
                serde_json::Value::Array(p) if p.len() == 2 => Ok(format!("{} {}", p[0].as_str().unwrap_or(""), p[1].as_str().unwrap_or(""))),
                _ => bail!("tokenizer.json: bad merge {m}"),
            })
            .collect::<Result<Vec<_>>>()?;
        let eot = tokens.iter().position(|t| t == ENDOFTEXT).map(|i| i as u32);
        Self::from_vocab(tokens, token_types, merges, eot, eot)
    }

    /// Reads OpenAI's GPT-2 tokenizer files: `encoder.json` ({token: id}) and `vocab.bpe` (merges).
    pub fn from_gpt2_files(encoder_json: &str, vocab_bpe: &str) -> Result<Self> {
        let map: HashMap<String, u32> = serde_json::from_str(encoder_json).map_err(|e| Error(format!("encoder.json: {e}")))?;
        let mut tokens = vec![String::new(); map.len()];
        for (t, id) in map {
            let slot = tokens.get_mut(id as usize).ok_or_else(|| Error(format!("encoder.json: id {id} out of range")))?;
            *slot = t;
        }
        let token_types = tokens.iter().map(|t| if t == ENDOFTEXT { TYPE_CONTROL } else { TYPE_NORMAL }).collect();
        let merges = vocab_bpe.lines().filter(|l| !l.starts_with("#version") && !l.trim().is_empty()).map(str::to_string).collect();
        let eot = tokens.iter().position(|t| t == ENDOFTEXT).map(|i| i as u32);
        Self::from_vocab(tokens, token_types, merges, eot, eot)
    }

    /// Trains a byte-level BPE of `vocab_size` tokens (including the 256 bytes and `<|endoftext|>`).
    pub fn train<S: AsRef<str> + Send>(texts: impl Iterator<Item = S> + Send, vocab_size: usize) -> Result<Self> {
        let mut trainer: TrainerWrapper = BpeTrainer::builder()
            .vocab_size(vocab_size)
            .min_frequency(2)
            .show_progress(false)
            .initial_alphabet(ByteLevel::alphabet().into_iter().collect())
            .special_tokens(vec![AddedToken::from(ENDOFTEXT, true)])
            .build()
            .into();
        let mut hf = HfTokenizer::new(BPE::default());
        hf.with_pre_tokenizer(Some(ByteLevel::new(false, true, true)));
        hf.train(&mut trainer, texts).map_err(|e| Error(format!("tokenizer training: {e}")))?;
        let json: serde_json::Value =
            serde_json::from_str(&hf.to_string(false).map_err(|e| Error(format!("tokenizer: {e}")))?).map_err(|e| Error(e.to_string()))?;
        Self::from_json(&json.to_string())
    }

    pub fn vocab_size(&self) -> usize {
        self.tokens.len()
    }

    pub fn encode(&self, text: &str) -> Result<Vec<u32>> {
        let enc = self.inner.encode(text, false).map_err(|e| Error(format!("tokenizer: {e}")))?;
        Ok(enc.get_ids().to_vec())
    }

    /// The raw bytes a token stands for (a piece of a UTF-8 character, possibly).
    pub fn token_bytes(&self, id: u32) -> &[u8] {
        self.bytes.get(id as usize).map_or(&[], |b| b.as_slice())
    }

    /// A token's text for display; a partial character shows as U+FFFD.
    pub fn piece(&self, id: u32) -> String {
        String::from_utf8_lossy(self.token_bytes(id)).into_owned()
    }

    /// Every token's display text.
    pub fn pieces(&self, ids: &[u32]) -> Vec<String> {
        ids.iter().map(|&i| self.piece(i)).collect()
    }

    /// Exact inverse of `encode`: the concatenated bytes of the tokens.
    pub fn decode(&self, ids: &[u32]) -> String {
        let bytes: Vec<u8> = ids.iter().flat_map(|&i| self.token_bytes(i).iter().copied()).collect();
        String::from_utf8_lossy(&bytes).into_owned()
    }

    pub fn is_control(&self, id: u32) -> bool {
        self.token_types.get(id as usize) == Some(&TYPE_CONTROL)
    }

    /// Writes `tokenizer.ggml.*` as llama.cpp does for GPT-2.
    pub fn write_gguf(&self, w: &mut Writer) {
        let strings = |v: &[String]| Value::Array(v.iter().map(|s| Value::String(s.clone())).collect());
        w.meta("tokenizer.ggml.model", Value::String("gpt2".into()))
            .meta("tokenizer.ggml.pre", Value::String("gpt-2".into()))
            .meta("tokenizer.ggml.tokens", strings(&self.tokens))
            .meta("tokenizer.ggml.token_type", Value::Array(self.token_types.iter().map(|t| Value::I32(*t)).collect()))
            .meta("tokenizer.ggml.merges", strings(&self.merges));
        if let Some(id) = self.bos {
            w.meta("tokenizer.ggml.bos_token_id", Value::U32(id));
        }
        if let Some(id) = self.eos {
            w.meta("tokenizer.ggml.eos_token_id", Value::U32(id));
        }
    }
}

/// Turns a stream of token bytes into text without ever splitting a character: bytes of an
/// incomplete UTF-8 sequence wait for the next token; only invalid bytes become U+FFFD.
#[derive(Default, Debug, Clone)]
pub struct Utf8Stream {
    pending: Vec<u8>,
}

impl Utf8Stream {
    pub fn push(&mut self, bytes: &[u8]) -> String {
        self.pending.extend_from_slice(bytes);
        let mut out = String::new();
        loop {
            match std::str::from_utf8(&self.pending) {
                Ok(s) => {
                    out.push_str(s);
                    self.pending.clear();
                    return out;
                }
                Err(e) => {
                    let good = e.valid_up_to();
                    out.push_str(std::str::from_utf8(&self.pending[..good]).unwrap());
                    match e.error_len() {
                        // an incomplete character at the end: hold it back
                        None => {
                            self.pending.drain(..good);
                            return out;
                        }
                        Some(bad) => {
                            out.push(char::REPLACEMENT_CHARACTER);
                            self.pending.drain(..good + bad);
                        }
                    }
                }
            }
        }
    }

    /// Whatever is held back, at the end of a stream.
    pub fn flush(&mut self) -> String {
        let s = String::from_utf8_lossy(&self.pending).into_owned();
        self.pending.clear();
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_holds_split_characters() {
        let mut s = Utf8Stream::default();
        let bytes = "가😀".as_bytes();
        let mut out = String::new();
        for b in bytes {
            let piece = s.push(&[*b]);
            assert!(!piece.contains('\u{FFFD}'));
            out += &piece;
        }
        assert_eq!(out, "가😀");
        assert_eq!(s.push(&[0xff, b'a']), "\u{FFFD}a");
        assert_eq!(s.push(&[0xea]), "");
        assert_eq!(s.flush(), "\u{FFFD}");
    }

    #[test]
    fn byte_table_is_a_bijection() {
        let t = byte_to_char();
        let set: std::collections::HashSet<char> = t.iter().copied().collect();
        assert_eq!(set.len(), 256);
        assert_eq!(t[b' ' as usize], 'Ġ');
    }
}
