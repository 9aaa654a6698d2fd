//! Every `wasm_bindgen` item, and the only place where errors become `JsError`.
//!
//! The worker (`www/worker.js`) owns the loop: it calls `start` once, then `step` once per token,
//! yielding between steps so that a Stop message can arrive. Attention weights cross as
//! `Float32Array`s, not as arrays of JS numbers.

use crate::session::{Attention, GenerateOptions, Generator, Model};
use std::collections::HashMap;
use serde::Serialize;
use wasm_bindgen::prelude::*;

#[wasm_bindgen(start)]
pub fn start() {
    // A panic aborts the module (a trap, "unreachable" in JS). Its message is kept so that the
    // worker can say what happened after the trap; the console gets it as well.
    std::panic::set_hook(Box::new(|info| {
        let payload = info.payload();
        let what = payload.downcast_ref::<&str>().copied().or_else(|| payload.downcast_ref::<String>().map(String::as_str)).unwrap_or("a panic");
        let at = info.location().map(|l| format!(" (at {}:{})", l.file(), l.line())).unwrap_or_default();
        *LAST_PANIC.lock().unwrap_or_else(|e| e.into_inner()) = Some(format!("{what}{at}"));
        console_error_panic_hook::hook(info);
    }));
}

static LAST_PANIC: std::sync::Mutex<Option<String>> = std::sync::Mutex::new(None);

/// The message of the panic that trapped the module, if one did (taken: a second call gives null).
/// Callable after the trap: it touches no engine.
#[wasm_bindgen(js_name = lastPanic)]
pub fn last_panic() -> Option<String> {
    LAST_PANIC.lock().unwrap_or_else(|e| e.into_inner()).take()
}

/// The system allocator, counting the bytes allocated and not yet freed: the soak's leak check
/// reads them (`heapBytes`), since the wasm memory itself only ever grows, to the allocator's
/// high-water mark, which depends on fragmentation as much as on what is held.
struct Counting;

static LIVE: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

unsafe impl std::alloc::GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: std::alloc::Layout) -> *mut u8 {
        let p = unsafe { std::alloc::System.alloc(l) };
        if !p.is_null() {
            LIVE.fetch_add(l.size(), std::sync::atomic::Ordering::Relaxed);
        }
        p
    }
    unsafe fn dealloc(&self, p: *mut u8, l: std::alloc::Layout) {
        unsafe { std::alloc::System.dealloc(p, l) };
        LIVE.fetch_sub(l.size(), std::sync::atomic::Ordering::Relaxed);
    }
    unsafe fn realloc(&self, p: *mut u8, l: std::alloc::Layout, new: usize) -> *mut u8 {
        let q = unsafe { std::alloc::System.realloc(p, l, new) };
        if !q.is_null() {
            LIVE.fetch_add(new, std::sync::atomic::Ordering::Relaxed);
            LIVE.fetch_sub(l.size(), std::sync::atomic::Ordering::Relaxed);
        }
        q
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Bytes the engine holds on its heap now (allocated and not freed).
#[wasm_bindgen(js_name = heapBytes)]
pub fn heap_bytes() -> f64 {
    LIVE.load(std::sync::atomic::Ordering::Relaxed) as f64
}

/// Bytes of wasm memory now (the engine's whole heap, weights included).
#[wasm_bindgen(js_name = memoryBytes)]
pub fn memory_bytes() -> f64 {
    (core::arch::wasm32::memory_size(0) * 65536) as f64
}

fn err(e: crate::Error) -> JsError {
    JsError::new(&e.0)
}

fn to_js<T: Serialize>(v: &T) -> Result<JsValue, JsError> {
    v.serialize(&serde_wasm_bindgen::Serializer::json_compatible()).map_err(|e| JsError::new(&e.to_string()))
}

/// A serialised value with its `attention` field (if any) replaced by one holding a Float32Array.
fn with_attention<T: Serialize>(v: &T, attention: Option<Attention>) -> Result<JsValue, JsError> {
    let obj = to_js(v)?;
    if let Some(a) = attention {
        let data = js_sys::Float32Array::from(a.data.as_slice());
        let att = to_js(&Attention { data: Vec::new(), ..a })?;
        js_sys::Reflect::set(&att, &"data".into(), &data).map_err(|_| JsError::new("cannot set attention data"))?;
        js_sys::Reflect::set(&obj, &"attention".into(), &att).map_err(|_| JsError::new("cannot set attention"))?;
    }
    Ok(obj)
}

/// `initThreadPool(n)` for the threaded build: the n workers the awake pool's helpers run on
/// (worker.js calls it once, before anything else).
#[cfg(feature = "threads")]
pub use wasm_bindgen_rayon::init_thread_pool;

/// Threads each matrix product may use, this worker's included (1: all of it here).
#[wasm_bindgen(js_name = setThreads)]
pub fn set_threads(n: u32) {
    crate::pool::set_threads(n as usize)
}

#[wasm_bindgen]
extern "C" {
    /// The global `performance.now()` (a page's or a worker's).
    #[wasm_bindgen(js_namespace = performance, js_name = now)]
    pub(crate) fn performance_now() -> f64;
}

/// Checks the first bytes of a download (magic and version) before the rest arrives.
#[wasm_bindgen(js_name = checkGgufPrefix)]
pub fn check_gguf_prefix(bytes: &[u8]) -> Result<(), JsError> {
    crate::gguf::check_prefix(bytes).map_err(err)
}

/// The most bytes of wasm32 memory there can be (4 GiB: the engine's builds declare that maximum).
const MEMORY_LIMIT: f64 = 4294967296.0;

/// Whether a model file of `file_bytes` can load beside what the engine holds now, asked before
/// a download starts: null when it can, else the reason. Weights stay at about their file's size
/// in memory (at most 1.06x; F32 norms and position embeddings are small), the key/value cache
/// and activations take tens of MiB, and the engine now loaded stays until the new one is built.
#[wasm_bindgen(js_name = wontFit)]
pub fn wont_fit(file_bytes: f64) -> Option<String> {
    let need = file_bytes * 1.06 + (64u64 << 20) as f64;
    let free = MEMORY_LIMIT - memory_bytes();
    let mib = |b: f64| (b / 1048576.0).round();
    (need > free).then(|| {
        format!(
            "this file is {} MiB and needs about {} MiB of the engine's memory, but a browser gives WebAssembly at most 4096 MiB and {} MiB are left: choose a smaller or more quantized file (Q8_0, Q4_K_M)",
            mib(file_bytes),
            mib(need),
            mib(free.max(0.0))
        )
    })
}

/// A model file arriving in pieces (a download, a `File` read as a stream): `push` each chunk
/// as it arrives, then `finish` builds the engine. Each tensor is copied once, into the buffer the
/// engine keeps, so the whole file is never held a second time, in JavaScript or here. The
/// header is checked as soon as it is in; the SHA-256 of the bytes is taken on the way.
#[wasm_bindgen]
pub struct Loading {
    incoming: crate::gguf::Incoming,
    hasher: sha2::Sha256,
    kernels: crate::model::Kernels,
}

#[wasm_bindgen]
impl Loading {
    /// For a file of `file_bytes` (known before it arrives); `candle` as in `Engine.withKernels`.
    /// Refuses at once a file that cannot fit (`wontFit`).
    #[wasm_bindgen(constructor)]
    pub fn new(file_bytes: f64, candle: bool) -> Result<Loading, JsError> {
        if !(file_bytes.is_finite() && file_bytes >= 0.0) {
            return Err(JsError::new(&format!("a file size of {file_bytes} bytes is not a size")));
        }
        if let Some(why) = wont_fit(file_bytes) {
            return Err(JsError::new(&why));
        }
        use sha2::Digest;
        let kernels = crate::model::Kernels::choose(candle).map_err(err)?;
        Ok(Loading { incoming: crate::gguf::Incoming::new(file_bytes as u64), hasher: sha2::Sha256::new(), kernels })
    }

    /// The next piece of the file. Fails on a header that does not parse, on more bytes than
    /// announced, or when the memory for a tensor cannot be had.
    pub fn push(&mut self, chunk: &[u8]) -> Result<(), JsError> {
        use sha2::Digest;
        self.hasher.update(chunk);
        self.incoming.push(chunk).map_err(err)
    }

    /// Bytes pushed so far.
    pub fn received(&self) -> f64 {
        self.incoming.received() as f64
    }

    /// Once the header is in: `{name, tensors, bytesByType: [[type, bytes, count], ...]}`; before, null.
    pub fn header(&self) -> Result<JsValue, JsError> {
        match self.incoming.header() {
            None => Ok(JsValue::NULL),
            Some(g) => to_js(&serde_json::json!({
                "name": g.get_str("general.name").unwrap_or("unnamed"),
                "tensors": g.tensors.len(),
                "bytesByType": crate::session::bytes_by_type(g),
            })),
        }
    }

    /// Lower-case hex SHA-256 of the bytes pushed so far.
    pub fn sha256(&self) -> String {
        use sha2::Digest;
        self.hasher.clone().finalize().iter().map(|b| format!("{b:02x}")).collect()
    }

    /// Builds the engine from the whole file (fails on a file that did not all arrive).
    pub fn finish(self) -> Result<Engine, JsError> {
        let model = Model::from_incoming(self.incoming, self.kernels).map_err(err)?;
        Ok(Engine { model, gens: HashMap::new(), tuner: None, original: None, tuned: false, fail_next: None })
    }
}

/// A loaded model and its generators, one per slot (two prompts can run side by side).
#[wasm_bindgen]
pub struct Engine {
    model: Model,
    gens: HashMap<u32, Generator>,
    /// fine-tuning or preference tuning under way or done (`finetuneStart`, `preferStart`)
    tuner: Option<crate::tune::Tuner>,
    /// the loaded network, kept aside while `model.gpt` runs weights that all trained
    original: Option<crate::model::Gpt2>,
    /// whether `model.gpt` runs tuned weights (all of them, or its norms and biases)
    tuned: bool,
    /// a crash the tests asked for, and in how many `step`s (see `failNextStep`)
    fail_next: Option<(String, u32)>,
}

#[wasm_bindgen]
impl Engine {
    /// Parses and loads a whole GGUF file.
    #[wasm_bindgen(constructor)]
    pub fn new(bytes: &[u8]) -> Result<Engine, JsError> {
        Self::with_kernels(bytes, false)
    }

    /// Loads with candle's quantized kernels instead of ours when `candle` is true (benchmarks; a
    /// build without the `candle-baseline` feature refuses it, saying so).
    #[wasm_bindgen(js_name = withKernels)]
    pub fn with_kernels(bytes: &[u8], candle: bool) -> Result<Engine, JsError> {
        let kernels = crate::model::Kernels::choose(candle).map_err(err)?;
        Ok(Engine { model: Model::from_bytes_with(bytes, kernels).map_err(err)?, gens: HashMap::new(), tuner: None, original: None, tuned: false, fail_next: None })
    }

    /// Hyper-parameters, parameter counts and bytes by tensor type.
    pub fn info(&self) -> Result<JsValue, JsError> {
        to_js(&self.model.info)
    }

    /// Milliseconds this model's first MLP product takes on `threads` threads, best of `reps`
    /// (`Gpt2::time_product`): worker.js chooses the thread count with it.
    #[wasm_bindgen(js_name = timeProduct)]
    pub fn time_product(&self, threads: u32, reps: u32) -> Result<f64, JsError> {
        self.model.gpt.time_product(threads as usize, reps as usize).map_err(err)
    }

    /// Token ids and their display pieces.
    pub fn tokenize(&self, text: &str) -> Result<JsValue, JsError> {
        let ids = self.model.tokenizer.encode(text).map_err(err)?;
        let pieces = self.model.tokenizer.pieces(&ids);
        to_js(&serde_json::json!({ "tokens": ids, "pieces": pieces }))
    }

    /// Runs the prompt in `slot`; `options` is `{temperature, topK, topP, seed, topN, attention, profile}`
    /// (any subset). A failed start leaves the slot empty.
    pub fn start(&mut self, slot: u32, prompt: &str, options: JsValue) -> Result<JsValue, JsError> {
        self.gens.remove(&slot);
        let opts: GenerateOptions = if options.is_undefined() || options.is_null() {
            GenerateOptions::default()
        } else {
            serde_wasm_bindgen::from_value(options).map_err(|e| JsError::new(&format!("bad options: {e}")))?
        };
        let (gen, mut prompt) = Generator::new(&self.model, prompt, opts).map_err(err)?;
        self.gens.insert(slot, gen);
        let attention = prompt.attention.take();
        with_attention(&prompt, attention)
    }

    /// One token in `slot`: sampled, or `forced` (a reader's pick from the candidates).
    pub fn step(&mut self, slot: u32, forced: Option<u32>) -> Result<JsValue, JsError> {
        let due = match self.fail_next.as_mut() {
            Some((_, n)) if *n > 1 => {
                *n -= 1;
                None
            }
            Some(_) => self.fail_next.take().map(|(kind, _)| kind),
            None => None,
        };
        match due.as_deref() {
            None => {}
            Some("oom") => {
                // really exhaust the memory: allocate until the allocator aborts the module
                let mut hog: Vec<Vec<u8>> = Vec::new();
                loop {
                    hog.push(vec![0u8; 64 << 20]);
                    std::hint::black_box(&hog);
                }
            }
            Some(kind) => panic!("a test asked the engine to fail here ({kind})"),
        }
        let gen = self.gens.get_mut(&slot).ok_or_else(|| JsError::new("no generation in progress: call start first"))?;
        let mut step = gen.step(&self.model, forced).map_err(err)?;
        let attention = step.attention.take();
        with_attention(&step, attention)
    }

    /// The current next-token distribution's top `n` in `slot`, without choosing.
    pub fn candidates(&self, slot: u32, n: usize) -> Result<JsValue, JsError> {
        let gen = self.gens.get(&slot).ok_or_else(|| JsError::new("no generation in progress: call start first"))?;
        to_js(&gen.candidates(&self.model, n))
    }

    /// Milliseconds by stage so far in `slot` (`{matmulMs, lmHeadMs, attentionMs, otherMs,
    /// samplingMs, calls}`), or null when it was started without `profile: true`.
    pub fn profile(&self, slot: u32) -> Result<JsValue, JsError> {
        let gen = self.gens.get(&slot).ok_or_else(|| JsError::new("no generation in progress: call start first"))?;
        to_js(&gen.profile())
    }

    /// Forgets the generation in `slot`.
    pub fn end(&mut self, slot: u32) {
        self.gens.remove(&slot);
    }

    /// Every stage of the network on `text`: embeddings, per layer the LayerNorm outputs,
    /// attention, residual stream and MLP output (norms and the first `channels` values), and the
    /// next-token candidates.
    pub fn inspect(&self, text: &str, channels: usize) -> Result<JsValue, JsError> {
        let mut ins = self.model.inspect(text, channels).map_err(err)?;
        let attention = std::mem::replace(&mut ins.attention, Attention { layers: 0, heads: 0, rows: 0, cols: 0, row0: 0, data: Vec::new() });
        with_attention(&ins, Some(attention))
    }

    /// Per-token log-probabilities, total and perplexity of `text`, after `context` when given
    /// (the two tokenized apart; the result covers `text`'s tokens only).
    pub fn score(&self, text: &str, context: Option<String>) -> Result<JsValue, JsError> {
        to_js(&self.model.score_after(context.as_deref().unwrap_or(""), text).map_err(err)?)
    }

    /// `{tuned, trains, trainable, total, vectors, maxParams}`: whether tuned weights run now;
    /// what trains (`"all"` weights, or the `"vectors"`: norms and biases), as the run under way
    /// chose or else as the model's size allows, and how many parameters that is; the model's
    /// parameters, of which vectors; the largest model whose every weight trains.
    #[wasm_bindgen(js_name = tuneInfo)]
    pub fn tune_info(&self) -> Result<JsValue, JsError> {
        use crate::tune::Trains;
        let total = self.model.info.params.total;
        let trains = self.tuner.as_ref().map_or(Trains::for_params(total), |t| t.trains);
        to_js(&serde_json::json!({
            "tuned": self.tuned,
            "trains": trains,
            "trainable": trains.count(&self.model.gpt.cfg),
            "total": total,
            "vectors": Trains::Vectors.count(&self.model.gpt.cfg),
            "maxParams": crate::tune::MAX_PARAMS,
        }))
    }

    /// The tuner, the model it reads and the tokenizer (borrowed apart); the tuner is made from
    /// the weights running now on first use, training `trains` (by default what the size allows).
    /// Tuned weights keep what trained them until Reset.
    fn tuner(&mut self, trains: Option<crate::tune::Trains>) -> Result<(&mut crate::tune::Tuner, &crate::model::Gpt2, &crate::tokenizer::Tokenizer), JsError> {
        let trains = trains.unwrap_or_else(|| self.tuner.as_ref().map_or(crate::tune::Trains::for_params(self.model.info.params.total), |t| t.trains));
        match &self.tuner {
            Some(t) if t.trains != trains && self.tuned => {
                return Err(JsError::new("the model runs weights tuned another way: press Reset before changing what trains"));
            }
            Some(t) if t.trains == trains => {}
            _ => self.tuner = Some(crate::tune::Tuner::new(&self.model.gpt, trains).map_err(err)?),
        }
        let Engine { tuner, model, .. } = self;
        Ok((tuner.as_mut().ok_or_else(|| JsError::new("no tuner"))?, &model.gpt, &model.tokenizer))
    }

    fn tune_options(options: JsValue) -> Result<crate::tune::TuneOptions, JsError> {
        if options.is_undefined() || options.is_null() {
            return Ok(Default::default());
        }
        serde_wasm_bindgen::from_value(options).map_err(|e| JsError::new(&format!("bad options: {e}")))
    }

    /// Plans a fine-tune on `text` (`options`: `{steps, lr, seed, trains}`, `trains` `"all"` or
    /// `"vectors"`); `finetuneStep` runs it.
    #[wasm_bindgen(js_name = finetuneStart)]
    pub fn finetune_start(&mut self, text: &str, options: JsValue) -> Result<JsValue, JsError> {
        let opts = Self::tune_options(options)?;
        let (tuner, _, tok) = self.tuner(opts.trains)?;
        to_js(&tuner.teach(tok, text, opts).map_err(err)?)
    }

    /// One optimiser step of the run under way (a fine-tune or a preference run). After the last
    /// one the engine runs the tuned weights.
    #[wasm_bindgen(js_name = finetuneStep)]
    pub fn finetune_step(&mut self) -> Result<JsValue, JsError> {
        let r = self.tuner.as_mut().ok_or_else(|| JsError::new("nothing to train: start a fine-tune first"))?.step(&self.model.gpt).map_err(err)?;
        if r.done {
            self.install()?;
        }
        to_js(&r)
    }

    /// Ends the run after the steps taken; the engine runs the weights as they are.
    #[wasm_bindgen(js_name = finetuneStop)]
    pub fn finetune_stop(&mut self) -> Result<(), JsError> {
        if self.tuner.is_some() {
            self.install()?;
        }
        Ok(())
    }

    /// The tuner's weights become the running network's. When every weight trained, the loaded
    /// network is kept aside whole for Reset; otherwise the tuner keeps the loaded vectors.
    fn install(&mut self) -> Result<(), JsError> {
        let Some(t) = self.tuner.as_ref() else { return Ok(()) };
        match t.trains {
            crate::tune::Trains::All => {
                let old = std::mem::replace(&mut self.model.gpt, crate::model::Gpt2::from_weights(&t.w).map_err(err)?);
                self.original.get_or_insert(old);
            }
            crate::tune::Trains::Vectors => self.model.gpt.set_vectors(&t.w).map_err(err)?,
        }
        self.tuned = true;
        self.gens.clear();
        Ok(())
    }

    /// The loaded weights again, bit for bit.
    #[wasm_bindgen(js_name = tuneReset)]
    pub fn tune_reset(&mut self) -> Result<(), JsError> {
        if let Some(gpt) = self.original.take() {
            self.model.gpt = gpt;
        } else if let (Some(t), true) = (&self.tuner, self.tuned) {
            self.model.gpt.set_vectors(&t.start).map_err(err)?;
        }
        (self.tuner, self.tuned) = (None, false);
        self.gens.clear();
        Ok(())
    }

    /// Plans preference tuning (DPO) of the running weights: `items` `[{text, good}]` are rated
    /// completions of `prompt`; `options` `{steps, lr, beta, seed}`. `preferStep` runs it.
    #[wasm_bindgen(js_name = preferStart)]
    pub fn prefer_start(&mut self, prompt: &str, items: JsValue, options: JsValue) -> Result<JsValue, JsError> {
        let items: Vec<crate::tune::Rated> = serde_wasm_bindgen::from_value(items).map_err(|e| JsError::new(&format!("bad completions: {e}")))?;
        let opts = Self::tune_options(options)?;
        let (tuner, gpt, tok) = self.tuner(opts.trains)?;
        to_js(&tuner.prefer(gpt, tok, prompt, &items, opts).map_err(err)?)
    }

    /// One step of the preference run (`finetuneStep`'s report, with `margin`).
    #[wasm_bindgen(js_name = preferStep)]
    pub fn prefer_step(&mut self) -> Result<JsValue, JsError> {
        self.finetune_step()
    }

    /// `[{text, good, logpTuned, logpRef, reward}]` for every rated completion.
    #[wasm_bindgen(js_name = preferReport)]
    pub fn prefer_report(&self) -> Result<JsValue, JsError> {
        to_js(&self.tuner.as_ref().ok_or_else(|| JsError::new("no preference run"))?.report(&self.model.gpt).map_err(err)?)
    }

    /// The running weights as a GGUF file (the tokenizer embedded) that loads back here and in
    /// llama.cpp: F32 when every weight trained, else the loaded tensors as they were with the
    /// tuned norms and biases.
    #[wasm_bindgen(js_name = exportGguf)]
    pub fn export_gguf(&self) -> Result<Vec<u8>, JsError> {
        let name = format!("{} (fine-tuned)", self.model.info.name);
        match &self.tuner {
            Some(t) => t.to_gguf(&self.model.gpt, &self.model.tokenizer, &name),
            None => self.model.gpt.to_weights().and_then(|w| w.to_gguf(&self.model.tokenizer, crate::gguf::DType::F32, &name)),
        }
        .map_err(err)
    }

    /// Tests only (the worker accepts the command only when started with `?test-hooks`): the
    /// `steps`-th `step` from now (1: the next) traps the module, by a panic (`"panic"`) or by
    /// exhausting the memory (`"oom"`), so that the page's recovery from a dead engine can be
    /// tested on a real trap in the middle of a generation.
    #[wasm_bindgen(js_name = failNextStep)]
    pub fn fail_next_step(&mut self, kind: &str, steps: Option<u32>) {
        self.fail_next = Some((kind.to_string(), steps.unwrap_or(1).max(1)));
    }
}

/// The XOR walkthrough's network and data, for `<gpt-xor>`.
#[wasm_bindgen]
pub struct Xor {
    net: crate::xor::Net,
    train: Vec<([f64; 2], f64)>,
    test: Vec<([f64; 2], f64)>,
}

#[wasm_bindgen]
impl Xor {
    /// `sizes` like [2, 2, 1]; `activation` is "sigmoid", "tanh" or "relu".
    #[wasm_bindgen(constructor)]
    pub fn new(sizes: Vec<u32>, activation: &str, seed: u32) -> Result<Xor, JsError> {
        let sizes: Vec<usize> = sizes.into_iter().map(|s| s as usize).collect();
        let net = crate::xor::Net::new(&sizes, crate::xor::Activation::parse(activation).map_err(err)?, seed as u64).map_err(err)?;
        Ok(Xor { net, train: crate::xor::xor_data(), test: Vec::new() })
    }

    /// The four XOR cases (no test set), or `n` noisy points around the corners with 400 test points.
    #[wasm_bindgen(js_name = setData)]
    pub fn set_data(&mut self, noisy: bool, n: u32, seed: u32) {
        if noisy {
            self.train = crate::xor::noisy_xor(n.clamp(4, 1000) as usize, 0.25, 0.15, seed as u64);
            self.test = crate::xor::noisy_xor(400, 0.25, 0.15, seed as u64 + 1);
        } else {
            self.train = crate::xor::xor_data();
            self.test = Vec::new();
        }
    }

    pub fn net(&self) -> Result<JsValue, JsError> {
        to_js(&self.net)
    }

    pub fn data(&self) -> Result<JsValue, JsError> {
        to_js(&serde_json::json!({ "train": self.train, "test": self.test }))
    }

    /// Forward, error, backward and update for one sample; every intermediate is in the result.
    pub fn step(&mut self, x1: f64, x2: f64, target: f64, lr: f64) -> Result<JsValue, JsError> {
        to_js(&self.net.step([x1, x2], target, lr))
    }

    /// One pass over the training data; returns the mean loss.
    pub fn epoch(&mut self, lr: f64) -> f64 {
        self.net.epoch(&self.train, lr)
    }

    /// {train, test} mean losses now (test is null without a test set).
    pub fn losses(&self) -> Result<JsValue, JsError> {
        let test = if self.test.is_empty() { None } else { Some(self.net.loss(&self.test)) };
        to_js(&serde_json::json!({ "train": self.net.loss(&self.train), "test": test }))
    }

    /// The output over an n x n grid covering [lo, hi]^2, top row first.
    pub fn grid(&self, n: u32, lo: f64, hi: f64) -> Vec<f32> {
        self.net.grid(n as usize, lo, hi)
    }
}

/// GB/s one thread reads from a buffer of `mib` MiB (`bench::read_bandwidth`); only in the
/// benchmarks' build.
#[cfg(feature = "candle-baseline")]
#[wasm_bindgen(js_name = readBandwidth)]
pub fn read_bandwidth(mib: u32, reps: u32) -> Result<f64, JsError> {
    crate::bench::read_bandwidth((mib as usize) << 20, reps as usize, &|| performance_now() / 1000.0).map_err(err)
}

/// Kernel GFLOP/s (ours, candle's QMatMul, scalar): Q8_0 and Q4_0 on the default model's and
/// GPT-2 124M's shapes, or (`allTypes`) every type on two of GPT-2's. Only in the benchmarks'
/// build (`candle-baseline`).
#[cfg(feature = "candle-baseline")]
#[wasm_bindgen(js_name = benchKernels)]
pub fn bench_kernels(seconds: f64, all_types: Option<bool>) -> Result<JsValue, JsError> {
    let now = || js_sys::Date::now() / 1000.0;
    let rows = crate::bench::suite(seconds, all_types.unwrap_or(false), &now).map_err(err)?;
    to_js(&rows)
}
