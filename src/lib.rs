//! Inside GPT: a GPT-2 decoder that runs natively and, compiled to wasm32, in a browser worker.
//!
//! Layout (each module is DOM-free and tested natively, except `web`):
//! - `bench`: kernel benchmarks (ours, candle's QMatMul, scalar), natively and in wasm
//! - `card`: the export of a checkpoint to the shipped files, the model card and models.json
//! - `gguf`: GGUF v3 reader (bounds-checked) and writer, the tensor types
//! - `quants`: ggml's block formats (F16, BF16, Q4_0 .. Q8_0, Q2_K .. Q6_K), one file each: layout, decoder, encoder
//! - `hostile`: malformed and hostile GGUF files with the message each must produce (fixtures, fuzzing)
//! - `kernels`: our kernels (quantized and f32 products, attention, exp; simd128 with scalar twins)
//! - `model`: the GPT-2 network, loaded from a GGUF in llama.cpp's `gpt2` layout
//! - `pool`: the awake thread pool a matrix product shares its rows with (`threads` feature)
//! - `tokenizer`: byte-level BPE (the `tokenizers` crate) and UTF-8-safe streaming decode
//! - `sampler`: seeded greedy / temperature / top-k / top-p sampling
//! - `session`: the generation and scoring API shared by the CLI and the browser
//! - `train`: the trainer (AdamW over the same `Gpt2`, checkpoints as GGUF) and the pre-training run
//! - `xor`: the hand-written back-propagation walkthrough (every intermediate kept)
//! - `synth`: random-weight models from a seed, for tests and benchmarks
//! - `tune`: fine-tuning and preference tuning (DPO) on plain slices, with their backward pass
//! - `web`: every `wasm_bindgen` item (wasm32 only)

#[cfg(feature = "candle-baseline")]
pub mod bench;
pub mod card;
pub mod gguf;
pub mod hostile;
pub mod kernels;
pub mod model;
pub mod pool;
pub mod quants;
pub mod sampler;
pub mod session;
pub mod synth;
pub mod tokenizer;
pub mod train;
pub mod tune;
pub mod xor;
#[cfg(target_arch = "wasm32")]
pub mod web;

use std::fmt;

/// The crate's one error type: a message that names the problem.
#[derive(Debug, Clone, PartialEq)]
pub struct Error(pub String);

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Error {}

impl From<candle_core::Error> for Error {
    fn from(e: candle_core::Error) -> Self {
        Error(format!("tensor error: {e}"))
    }
}

pub type Result<T> = std::result::Result<T, Error>;

/// Milliseconds from an arbitrary origin, for profiles: `performance.now()` in a browser (page or
/// worker), a monotonic clock natively.
pub fn now_ms() -> f64 {
    #[cfg(target_arch = "wasm32")]
    {
        web::performance_now()
    }
    #[cfg(not(target_arch = "wasm32"))]
    {
        static ORIGIN: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
        ORIGIN.get_or_init(std::time::Instant::now).elapsed().as_secs_f64() * 1e3
    }
}

/// An empty vector with room for `n` items, or an error naming `what` when the memory is not there
/// (in wasm a failed allocation would otherwise abort the whole engine).
pub fn try_vec<T>(n: usize, what: &str) -> Result<Vec<T>> {
    let mut v = Vec::new();
    v.try_reserve_exact(n).map_err(|_| Error(format!("out of memory: {what} need {} MiB", (n as u64 * std::mem::size_of::<T>() as u64) >> 20)))?;
    Ok(v)
}

/// `bail!("...")` returns an `Error` built with `format!`.
#[macro_export]
macro_rules! bail {
    ($($arg:tt)*) => { return Err($crate::Error(format!($($arg)*))) };
}
