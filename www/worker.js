// The model's worker: loads a GGUF (streamed into the engine chunk by chunk, with progress, written
// to the Cache API on the way), owns the generation and tuning loops, and yields between tokens
// (and optimiser steps) so that a Stop message is handled within one token (or step). It also
// holds the XOR walkthrough's small networks, from the same wasm module.
import { Command, Status, CACHE_NAME } from './protocol.js';

// Threads: where the page is cross-origin isolated (shared memory allowed) and the threaded build
// (www/pkg-threads, made by .ci/build where a nightly toolchain exists) is present, each matrix
// product (and attention, head by head) is shared between this worker and the helpers of an awake
// pool (src/pool.rs). `?threads=N` asks for N threads, this worker included. By default the worker
// measures each model once it has loaded: its first MLP product, for one token, on 1, 2, ...
// threads (up to the cores the browser reports, at most 8), stopping at the first thread that adds
// less than a third of a thread (a second thread on one core, memory already saturated, or a model
// whose products are too small to share). Otherwise, and with N = 1, the
// single-thread build. Same bits either way.
// This module's own URL, not `self.location`: on a page of another origin the worker is a
// same-origin blob that imports this module (see client.js), and its location is that blob.
const params = new URL(import.meta.url).searchParams;
const asked = Number(params.get('threads')) || 0;
const most = asked || Math.min(navigator.hardwareConcurrency || 1, 8);
/** Commands that exist for tests only (making the engine trap) are refused without this. */
const testHooks = params.has('test-hooks');
let Engine, Loading, Xor, checkGgufPrefix, lastPanic, memoryBytes, heapBytes, wontFit;
/** The threaded build, where it loaded (its thread count is chosen for each model loaded). */
let pool = null;
let threads = 1;
/** @type {{threads: number, ms: number}[]} what the thread measurement found (empty if none ran) */
let probed = [];
// `?build=bench`: the benchmarks' package (www/pkg-bench, made by .ci/bench with the cargo feature
// candle-baseline), whose engine also runs candle's kernels (`kernels: 'candle'`); single-threaded
const benchBuild = params.get('build') === 'bench';
async function boot() {
  let pkg = null;
  if (benchBuild) {
    pkg = await import('./pkg-bench/inside_gpt.js');
    await pkg.default();
  }
  if (!pkg && most > 1 && self.crossOriginIsolated) {
    try {
      const t = await import('./pkg-threads/inside_gpt.js');
      await t.default();
      await t.initThreadPool(most - 1);
      t.setThreads(1);
      [pkg, pool] = [t, t];
    } catch (e) { console.info(`threads unavailable (${e.message}): the single-thread build`); }
  }
  if (!pkg) {
    pkg = await import('./pkg/inside_gpt.js');
    await pkg.default();
  }
  ({ Engine, Loading, Xor, checkGgufPrefix, lastPanic, memoryBytes, heapBytes, wontFit } = pkg);
}

/** Sets the thread count on the threaded build for the model just loaded: `?threads=N`, or
 * measured on the model's own product (some 25 ms): k-1 and k threads timed in turn, eight
 * times, best of 5 each. Eight rounds, not three: three (8 ms) once timed two threads no faster
 * than one on GPT-2 124M (0.200 against 0.205 ms, where other loads gave 0.18 against 0.34; just
 * after a load the browser may still be compiling optimised code on the other core), and the
 * model then decoded on one thread at 60% of the speed of two. */
function chooseThreads() {
  if (!pool) return;
  probed = [];
  threads = asked || measureThreads();
  pool.setThreads(threads);
}

/** The thread count worth using for this model (see the top of this file); 1 if unmeasurable. */
function measureThreads() {
  try {
    // the browser optimises hot code later, and the helpers start with the first shared product
    // (a sleeping pool worker can take milliseconds to wake): both before anything is timed
    for (let i = 0; i < 30; i++) engine.timeProduct(i % 2 ? most : 1, 1);
    let best = 1;
    probed.push({ threads: 1, ms: Infinity });
    for (let k = 2; k <= most; k++) {
      probed.push({ threads: k, ms: Infinity });
      for (let round = 0; round < 8; round++) {
        for (const p of probed.slice(-2)) p.ms = Math.min(p.ms, engine.timeProduct(p.threads, 5));
      }
      if (probed[k - 2].ms / probed[k - 1].ms < 1 + 1 / (3 * (k - 1))) break;
      best = k;
    }
    return best;
  } catch (e) {
    console.info(`no thread measurement (${e.message}): one thread`);
    return 1;
  }
}

/** Bytes per piece the engine takes (see streamEngine). */
const STAGE = 1 << 20;
const ready = boot();
/** @type {import('./pkg/inside_gpt.js').Engine|null} */
let engine = null;
/** Set once the module has trapped: its memory and wasm-bindgen's borrow flags are no longer
 * trustworthy, so this worker answers nothing more and the page starts a fresh one. */
let dead = null;

/** A trap of the wasm module (a Rust panic or an allocation failure aborts it), as opposed to an
 * error the engine returned. After a trap, any later call on the engine fails with "recursive
 * use of an object", which is the same trap seen late. */
function isTrap(e) {
  return e instanceof WebAssembly.RuntimeError || /recursive use of an object|unreachable|null pointer passed to rust/i.test(e?.message ?? '');
}

/** What a trap was, in words: the panic's message when there was one. */
function describeTrap(e) {
  let panic = null;
  try { panic = lastPanic?.() ?? null; } catch { /* the module is too broken to say */ }
  const raw = e?.message ?? String(e);
  // without a panic, an abort is almost always a failed allocation (Rust aborts on those)
  let mib = null;
  try { mib = Math.round(memoryBytes() / 2 ** 20); } catch { /* unknown */ }
  const message = panic ? `a panic: ${panic}`
    : /unreachable/i.test(raw) ? `out of memory, ${mib ?? '?'} MiB of wasm memory in use` : `a trap: ${raw}`;
  return { message, panic };
}

const post = (msg, transfer) => self.postMessage(msg, transfer || []);

// A macrotask without setTimeout's clamping: lets queued messages (Stop) run between tokens.
const channel = new MessageChannel();
const waiting = [];
channel.port1.onmessage = () => waiting.shift()?.();
const yieldToMessages = () => new Promise((resolve) => { waiting.push(resolve); channel.port2.postMessage(null); });

async function openCache() {
  try { return await caches.open(CACHE_NAME); } catch { return null; } // no Cache API here: carry on
}

/** The file's size a response announces, or 0 when unknown: the Content-Length of a compressed
 * body (a Content-Encoding other than identity) is the compressed size, not the file's. */
function announcedSize(response) {
  const encoding = response.headers.get('content-encoding');
  if (encoding && encoding.trim().toLowerCase() !== 'identity') return 0;
  return Number(response.headers.get('content-length')) || 0;
}

/** A stream of `chunks` (Uint8Arrays already in memory), each let go once read. */
function streamOf(chunks) {
  let i = 0;
  return new ReadableStream({
    pull(c) {
      if (i === chunks.length) { c.close(); return; }
      c.enqueue(chunks[i]);
      chunks[i++] = null;
    },
  }, { highWaterMark: 0 });
}

/** An ArrayBuffer as a stream of 1 MiB views (each push copies its piece into wasm memory). */
function streamOfBuffer(buffer) {
  const all = new Uint8Array(buffer);
  const chunks = [];
  for (let at = 0; at < all.length; at += 1 << 20) chunks.push(all.subarray(at, at + (1 << 20)));
  return streamOf(chunks);
}

/**
 * Reads a body of unknown size whole (a chunked or compressed download): the one load path that
 * holds the file twice, here and in the engine. Progress has no total; the GGUF magic is checked
 * as soon as 8 bytes are in, so that an HTML page fails at once.
 */
async function collect(body, id, source) {
  const reader = body.getReader();
  const chunks = [];
  let loaded = 0;
  let head = new Uint8Array(0);
  let lastPost = 0;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      chunks.push(value);
      loaded += value.length;
      if (head && head.length < 8) {
        head = new Uint8Array([...head, ...value.subarray(0, 8 - head.length)]);
        if (head.length >= 8) { checkGgufPrefix(head); head = null; }
      }
      const now = performance.now();
      if (now - lastPost > 50) { post({ status: Status.PROGRESS, id, loaded, total: 0, source }); lastPost = now; }
    }
  } catch (e) {
    reader.cancel().catch(() => {});
    throw e;
  }
  return { chunks, size: loaded };
}

/**
 * Streams `body`, a file of `size` bytes, into a new engine: each chunk is pushed into a Loading
 * (the engine's parser; it copies each tensor once, into the buffer it keeps) and handed to `copy`
 * (the Cache API's copy), so that the whole file is never in this worker's memory. Checks the
 * byte count and SHA-256 against `expect` (from models.json). Progress every 50 ms, with the
 * header's types once it is in; `quiet`: only the last one (the bytes were in memory already).
 * Throws with `overflow` set when the body is longer than `size`.
 */
async function streamEngine(body, size, { id, source, label, expect, candle, copy, quiet }) {
  const reader = body.getReader();
  let loading;
  // refused before a byte is read when it cannot fit (wontFit), or on a size that is no size
  try { loading = new Loading(size, candle); } catch (e) { reader.cancel().catch(() => {}); throw e; }
  let loaded = 0;
  let header = null;
  let lastPost = 0;
  const progress = () => post({ status: Status.PROGRESS, id, loaded, total: size, source, header: header ?? undefined });
  // The engine takes the file in pieces of exactly STAGE bytes (the last one shorter), whatever
  // sizes the network or the disk hands over: each push makes one allocation of the piece's size
  // in wasm memory, so equal pieces give every load of a file the same allocations, and the
  // engine's memory the same layout (with chunks of varying sizes its high-water mark wandered
  // from one load to the next).
  const stage = new Uint8Array(Math.min(STAGE, Math.max(size, 1)));
  let staged = 0;
  const flush = () => {
    if (staged) loading.push(stage.subarray(0, staged));
    staged = 0;
  };
  const stagePush = (chunk) => {
    for (let at = 0; at < chunk.length;) {
      const n = Math.min(chunk.length - at, stage.length - staged);
      stage.set(chunk.subarray(at, at + n), staged);
      [staged, at] = [staged + n, at + n];
      if (staged === stage.length) flush();
    }
  };
  try {
    for (;;) {
      let r;
      try {
        r = await reader.read();
      } catch (e) {
        const broke = new Error(`${label}: the ${source === 'network' ? 'download' : 'read'} broke off after ${loaded} of ${size} bytes (${e.message})`);
        broke.brokeOff = true;
        throw broke;
      }
      if (r.done) break;
      const chunk = r.value;
      if (loaded + chunk.length > size) {
        const e = new Error(expect?.bytes
          ? `${label} is longer than the ${size} bytes the site lists: a stale or broken copy (reload the page)`
          : `${label} is longer than the ${size} bytes announced`);
        e.overflow = true;
        throw e;
      }
      stagePush(chunk); // throws on a bad header as soon as the header's bytes are in
      loaded += chunk.length;
      if (copy) await copy(chunk);
      const now = performance.now();
      if (!header && (header = loading.header())) { progress(); lastPost = now; } // which types, at once
      if (!quiet && now - lastPost > 50) { progress(); lastPost = now; }
    }
    flush();
    progress();
    if (expect?.bytes && loaded !== expect.bytes) {
      throw new Error(`${label} is ${loaded} bytes, but the site lists it as ${expect.bytes}: a stale or broken copy (reload the page)`);
    }
    const sha = loading.sha256();
    if (expect?.sha256 && sha && sha !== expect.sha256) {
      throw new Error(`${label} has SHA-256 ${sha}, but the site lists ${expect.sha256}: a stale or broken copy (reload the page)`);
    }
  } catch (e) {
    reader.cancel().catch(() => {});
    try { loading.free(); } catch { /* after a trap: reported by the caller */ }
    throw e;
  }
  // consumes the Loading; throws on a truncated file or a bad model: the previous engine stays
  return loading.finish();
}

/**
 * A Cache API entry written while the file streams in: `write(chunk)` for each chunk, then `keep()`
 * once the engine accepted the file (the entry is complete, and stored, only then) or `drop()`.
 * Its failures (quota, private mode) never fail a load: the entry is just not there.
 */
function cacheWriter(cache, key, size) {
  let controller;
  let broken = false;
  let resume = null;
  const wake = () => { resume?.(); resume = null; };
  // the download waits while the cache is more than 16 MiB behind, so that no copy piles up here
  const body = new ReadableStream({
    start(c) { controller = c; },
    pull: wake,
    cancel() { broken = true; wake(); },
  }, new ByteLengthQueuingStrategy({ highWaterMark: 16 << 20 }));
  const headers = { 'content-length': String(size), 'content-type': 'application/octet-stream' };
  const put = cache.put(key, new Response(body, { headers })).then(() => true, () => { broken = true; wake(); return false; });
  return {
    async write(chunk) {
      if (broken) return;
      controller.enqueue(chunk);
      if (controller.desiredSize <= 0) await new Promise((r) => { resume = r; });
    },
    /** Resolves to whether the entry is stored. */
    keep() {
      if (!broken) controller.close();
      return put;
    },
    async drop() {
      if (!broken) { broken = true; controller.error(new Error('the engine refused the file')); }
      await put;
      await cache.delete(key).catch(() => false);
    },
  };
}

/**
 * The Cache API key for a model: its URL, plus its SHA-256 when the site lists one (models.json),
 * so that a retrained file at the same URL can never be answered by an old entry.
 */
function cacheKey(url, expect) {
  if (!expect?.sha256) return url;
  const u = new URL(url);
  u.searchParams.set('inside-gpt-sha256', expect.sha256);
  return u.href;
}

/** Refuses, before anything is read, a file of `size` bytes that cannot fit beside the engine now loaded. */
function checkFits(size) {
  const why = size ? wontFit(size) : undefined;
  if (why) throw Object.assign(new Error(why), { wontFit: true });
}

/**
 * An engine for the model at `url`, from the Cache API or the network, streamed (see streamEngine).
 * `expect` ({bytes, sha256}, from models.json) is checked either way. A download is written to the
 * cache as it arrives, kept once the engine accepted it (other versions of the same URL are
 * dropped then); a cached copy the engine refuses is deleted and the file fetched again once.
 */
async function engineFromUrl(url, { id, expect, candle }) {
  const cache = await openCache();
  const abs = new URL(url, import.meta.url).href;
  const key = cacheKey(abs, expect);
  let hit = null;
  try { hit = await cache?.match(key); } catch { /* a broken cache entry: fetch again */ }
  if (hit) {
    try {
      // our entries carry their length; an older one is read as a Blob (the browser keeps it on disk)
      let size = announcedSize(hit) || expect?.bytes || 0;
      let body = hit.body;
      if (!size) { const blob = await hit.blob(); [size, body] = [blob.size, blob.stream()]; }
      checkFits(size);
      return { engine: await streamEngine(body, size, { id, source: 'cache', label: url, expect, candle }), source: 'cache', streamed: true };
    } catch (e) {
      if (isTrap(e) || e.wontFit) throw e; // a copy that cannot fit now is no broken copy: it stays
      await cache.delete(key).catch(() => false);
    }
  }
  checkFits(expect?.bytes);
  const download = async (trustLength) => {
    let response;
    try { response = await fetch(abs); } catch (e) { throw new Error(`cannot fetch ${url}: ${e.message}`); }
    if (!response.ok) {
      response.body?.cancel().catch(() => {});
      throw new Error(`cannot fetch ${url}: HTTP ${response.status} ${response.statusText}`);
    }
    const announced = trustLength ? announcedSize(response) : 0;
    if (expect?.bytes && announced && announced !== expect.bytes) {
      response.body.cancel().catch(() => {});
      throw new Error(`${url} is ${announced} bytes, but the site lists it as ${expect.bytes}: a stale or broken copy (reload the page)`);
    }
    let size = expect?.bytes || announced;
    let body = response.body;
    let streamed = true;
    if (!size) {
      // no size known before the body (chunked, compressed): read it whole, then push it
      const got = await collect(body, id, 'network');
      [size, body, streamed] = [got.size, streamOf(got.chunks), false];
    }
    try { checkFits(size); } catch (e) { body.cancel().catch(() => {}); throw e; }
    const writer = cache ? cacheWriter(cache, key, size) : null;
    try {
      const engine = await streamEngine(body, size, { id, source: 'network', label: url, expect, candle, copy: writer?.write, quiet: !streamed });
      return { engine, writer, streamed };
    } catch (e) {
      await writer?.drop();
      // another origin's compressed body, whose Content-Encoding CORS does not expose: its
      // Content-Length is not the file's, so the file seems longer, or its tensors past its end
      e.lengthSuspect = announced && !expect?.bytes && response.type === 'cors' && !e.brokeOff && (e.overflow || /truncated/i.test(e.message));
      throw e;
    }
  };
  let got;
  try {
    got = await download(true);
  } catch (e) {
    if (!e.lengthSuspect) throw e;
    got = await download(false); // read it again whole, once
  }
  if (got.writer) {
    try {
      if (await got.writer.keep()) {
        // older versions of this URL (other hashes, or the unhashed key) go
        for (const req of await cache.keys()) {
          const u = new URL(req.url);
          u.searchParams.delete('inside-gpt-sha256');
          if (u.href === abs && req.url !== key) await cache.delete(req);
        }
      }
    } catch { /* quota or private mode */ }
  }
  return { engine: got.engine, source: 'network', streamed: got.streamed };
}

/** An engine for a file the reader picked (a File or Blob), or raw bytes (an ArrayBuffer). */
async function engineFromFile(msg, candle) {
  const label = msg.name || 'the file';
  if (msg.file) {
    checkFits(msg.file.size);
    return { engine: await streamEngine(msg.file.stream(), msg.file.size, { id: msg.id, source: 'file', label, candle }), source: 'file', streamed: true };
  }
  const size = msg.bytes.byteLength;
  checkFits(size);
  return { engine: await streamEngine(streamOfBuffer(msg.bytes), size, { id: msg.id, source: 'file', label, candle, quiet: true }), source: 'file', streamed: false };
}

async function load(msg) {
  await ready;
  const t0 = performance.now();
  // `kernels: 'candle'` is the benchmarks' baseline: a build without it refuses it (new Loading)
  const candle = msg.kernels === 'candle';
  // throws on a bad file: the previous engine stays until the new one is built
  const got = msg.file || msg.bytes ? await engineFromFile(msg, candle) : await engineFromUrl(msg.url, { id: msg.id, expect: msg.expect, candle });
  stopGenerations();
  engine?.free(); // a tuning under way on it ends at its next step (see tuneLoop)
  engine = got.engine;
  const seconds = (performance.now() - t0) / 1000;
  chooseThreads();
  post({ status: Status.LOADED, id: msg.id, info: engine.info(), tune: tuneInfo(), source: got.source, streamed: got.streamed, threads, probed, seconds });
}

/** Every generation under way ends before its next token: the weights under it changed. */
function stopGenerations() {
  for (const state of running.values()) state.stop = true;
}

// ---------------------------------------------------------------------------------------------
// Tuning: the engine exports a step API (start, step, stop); this loop owns the steps and yields
// between them, so that STOP_TUNE (and any other request) is handled within one step.

/** The tuning under way, or null: {kind: 'tune'|'prefer', engine, stop, stopAt, step}. */
let tuning = null;

/** The engine's TuneInfo (null before a model is loaded). */
const tuneInfo = () => engine?.tuneInfo() ?? null;

function beginTuning(kind) {
  const e = needEngine();
  if (tuning) throw new Error(`${tuning.kind === 'prefer' ? 'a preference tuning' : 'a fine-tuning'} is already running: stop it first`);
  return { kind, engine: e, stop: false, stopAt: null, step: 0, stepMs: 0 };
}

/**
 * Runs `step()` (one optimiser step; returns {step, done, ...}) until done, or until STOP_TUNE,
 * then calls `stop()`. Returns whether it was stopped. A model loaded meanwhile (the old engine
 * is freed) ends it with an error: the tuning belonged to that model.
 */
async function tuneLoop(state, step, stop) {
  tuning = state;
  try {
    for (;;) {
      await yieldToMessages();
      if (engine !== state.engine) throw new Error('another model was loaded: the tuning under way was dropped');
      if (state.stop) { stop(); return true; }
      const t0 = performance.now();
      const s = step();
      state.stepMs += performance.now() - t0;
      state.step = s.step;
      if (s.done) return false;
    }
  } finally {
    if (tuning === state) tuning = null;
  }
}

async function finetune(msg) {
  const state = beginTuning('tune');
  const e = state.engine;
  const t0 = performance.now();
  // refuses bad settings (and a model too large to train here) before touching any weight
  const started = e.finetuneStart(msg.text, { steps: msg.steps, lr: msg.lr, seed: msg.seed ?? 0, trains: msg.trains });
  const stopped = await tuneLoop(state, () => {
    const s = e.finetuneStep();
    post({ status: Status.TUNE_STEP, id: msg.id, step: s.step, steps: s.steps, loss: s.loss, tokens: started.tokens, windows: started.windows });
    return s;
  }, () => e.finetuneStop());
  stopGenerations();
  post({
    status: Status.TUNED, id: msg.id, steps: state.step, stepsAfterStop: state.stopAt === null ? null : state.step - state.stopAt,
    seconds: (performance.now() - t0) / 1000, tokensPerSec: state.stepMs ? (started.tokens * state.step) / (state.stepMs / 1000) : 0,
    stopped, tokens: started.tokens, windows: started.windows, info: e.tuneInfo(),
  });
}

async function prefer(msg) {
  const state = beginTuning('prefer');
  const e = state.engine;
  const t0 = performance.now();
  const started = e.preferStart(msg.prompt, msg.items, { steps: msg.steps, lr: msg.lr, beta: msg.beta, seed: msg.seed ?? 0 });
  const stopped = await tuneLoop(state, () => {
    const s = e.preferStep();
    post({ status: Status.PREFER_STEP, id: msg.id, step: s.step, steps: s.steps, loss: s.loss, margin: s.margin });
    return s;
  }, () => e.finetuneStop()); // ends either kind of run
  stopGenerations();
  post({
    status: Status.PREFERRED, id: msg.id, pairs: started.pairs, steps: state.step, stepsAfterStop: state.stopAt === null ? null : state.step - state.stopAt,
    seconds: (performance.now() - t0) / 1000, stopped, rows: e.preferReport(), info: e.tuneInfo(),
  });
}

/** The GGUF of the weights in use, moved to the page (copied once more only when it is a view). */
function exportTuned(msg) {
  const e = needEngine();
  const u8 = e.exportGguf();
  const whole = u8.byteOffset === 0 && u8.byteLength === u8.buffer.byteLength && u8.buffer instanceof ArrayBuffer;
  const bytes = whole ? u8.buffer : u8.slice().buffer;
  post({ status: Status.EXPORTED, id: msg.id, bytes, transferred: whole }, [bytes]);
}

/** slot -> {stop: boolean} for the generation loops now running */
const running = new Map();

/** Attention data goes as a transferable buffer, not copied element by element. */
function transferables(obj) {
  return obj?.attention?.data ? [obj.attention.data.buffer] : [];
}

async function generate(msg) {
  if (!engine) throw new Error('no model loaded yet');
  const slot = msg.slot ?? 0;
  if (running.has(slot)) throw new Error('a generation is already running here: stop it first');
  const state = { stop: false, n: 0, stopAt: null };
  running.set(slot, state);
  try {
    const prompt = engine.start(slot, msg.prompt, msg.options || {});
    const promptProfile = msg.options?.profile ? engine.profile(slot) : undefined;
    post({ status: Status.PROMPT, id: msg.id, slot, ...prompt, profile: promptProfile }, transferables(prompt));
    const maxTokens = msg.maxTokens ?? 100;
    const t0 = performance.now();
    let n = 0;
    let reason = 'maxTokens';
    while (n < maxTokens) {
      await yieldToMessages();
      if (state.stop) { reason = 'stopped'; break; }
      const step = engine.step(slot);
      n += 1;
      state.n = n;
      const tokensSec = n / ((performance.now() - t0) / 1000);
      post({ status: Status.TOKEN, id: msg.id, slot, ...step, tokensSec }, transferables(step));
      if (step.stop) { reason = step.stop; break; }
    }
    const afterStop = state.stopAt === null ? null : n - state.stopAt;
    const profile = msg.options?.profile ? engine.profile(slot) : undefined;
    post({ status: Status.DONE, id: msg.id, slot, reason, tokens: n, tokensAfterStop: afterStop, tokensSec: n / ((performance.now() - t0) / 1000), profile });
  } finally {
    running.delete(slot);
    if (!dead) try { engine?.end(slot); } catch { /* a trap: reported by the caller */ }
  }
}

// ---------------------------------------------------------------------------------------------
// The XOR walkthrough (<gpt-xor>): its small networks (src/xor.rs) live in this module beside the
// engine, so that the page does not instantiate a second copy of it on its main thread.

/** net (the page's number) -> Xor */
const nets = new Map();

async function xor(msg) {
  await ready;
  let x = nets.get(msg.net);
  const extra = {};
  if (msg.command === Command.XOR_NEW) {
    // a bad setting throws here, and the network the widget had stays
    const fresh = new Xor(new Uint32Array(msg.sizes), msg.activation, msg.seed);
    fresh.setData(!!msg.noisy, msg.points, msg.dataSeed);
    x?.free();
    nets.set(msg.net, (x = fresh));
    extra.data = x.data();
  } else if (!x) {
    throw new Error('this XOR network is gone (the engine restarted): press Reset');
  } else if (msg.command === Command.XOR_STEP) {
    extra.trace = x.step(msg.x1, msg.x2, msg.target, msg.lr);
  } else {
    const epochs = Math.max(1, Math.min(1000, Math.floor(msg.epochs) || 1));
    for (let i = 0; i < epochs; i++) x.epoch(msg.lr);
  }
  const g = msg.grid;
  const grid = g ? x.grid(g.n, g.lo, g.hi) : null;
  post({ status: Status.XOR, id: msg.id, net: msg.net, weights: x.net(), losses: x.losses(), grid, ...extra }, grid ? [grid.buffer] : []);
}

function needEngine() {
  if (!engine) throw new Error('no model loaded yet');
  return engine;
}

self.onmessage = async ({ data: msg }) => {
  if (dead) {
    if (msg.id !== undefined) post({ status: Status.ERROR, id: msg.id, command: msg.command, message: dead.message });
    return;
  }
  try {
    switch (msg.command) {
      case Command.LOAD: await load(msg); break;
      case Command.GENERATE: await generate(msg); break;
      case Command.STOP:
        for (const [slot, state] of running) {
          if (msg.slot === undefined || msg.slot === slot) { state.stop = true; state.stopAt ??= state.n; }
        }
        break;
      case Command.START: {
        const slot = msg.slot ?? 0;
        if (running.has(slot)) throw new Error('a generation is already running here: stop it first');
        const prompt = needEngine().start(slot, msg.prompt, msg.options || {});
        post({ status: Status.PROMPT, id: msg.id, slot, ...prompt, candidates: engine.candidates(slot, msg.options?.topN ?? 10) }, transferables(prompt));
        break;
      }
      case Command.STEP: {
        const slot = msg.slot ?? 0;
        const step = needEngine().step(slot, msg.token ?? undefined);
        const candidates = step.stop ? [] : engine.candidates(slot, step.top.length || 10);
        post({ status: Status.TOKEN, id: msg.id, slot, ...step, candidates }, transferables(step));
        break;
      }
      case Command.SCORE:
        post({ status: Status.SCORED, id: msg.id, ...needEngine().score(msg.text, msg.context ?? undefined) });
        break;
      case Command.FITS:
        await ready;
        post({ status: Status.FITS, id: msg.id, why: wontFit(msg.bytes) ?? null });
        break;
      case Command.MEMORY:
        await ready;
        post({ status: Status.MEMORY, id: msg.id, wasmBytes: memoryBytes(), heapBytes: heapBytes() });
        break;
      case Command.FAIL_NEXT_STEP:
        if (!testHooks) throw new Error('failNextStep is a test command: start the worker with ?test-hooks');
        needEngine().failNextStep(msg.kind, msg.steps ?? undefined);
        post({ status: Status.DONE, id: msg.id });
        break;
      case Command.TOKENIZE:
        post({ status: Status.TOKENIZED, id: msg.id, ...needEngine().tokenize(msg.text) });
        break;
      case Command.TUNE: await finetune(msg); break;
      case Command.PREFER: await prefer(msg); break;
      case Command.STOP_TUNE:
        if (tuning && !tuning.stop) { tuning.stop = true; tuning.stopAt = tuning.step; }
        break;
      case Command.RESET_TUNE: {
        const e = needEngine();
        if (tuning) throw new Error('a tuning is running: stop it first');
        e.tuneReset();
        stopGenerations();
        post({ status: Status.TUNE_RESET, id: msg.id, info: e.tuneInfo() });
        break;
      }
      case Command.EXPORT_TUNED: exportTuned(msg); break;
      case Command.XOR_NEW: case Command.XOR_STEP: case Command.XOR_EPOCH: await xor(msg); break;
      case Command.XOR_FREE: nets.get(msg.net)?.free(); nets.delete(msg.net); break;
      case Command.INSPECT: {
        const ins = needEngine().inspect(msg.text, msg.channels ?? 64);
        post({ status: Status.INSPECTED, id: msg.id, ...ins }, transferables(ins));
        break;
      }
      default: throw new Error(`unknown command ${JSON.stringify(msg.command)}`);
    }
  } catch (e) {
    if (dead || isTrap(e)) {
      dead ??= describeTrap(e);
      post({ status: Status.CRASHED, id: msg.id, command: msg.command, ...dead });
      return;
    }
    post({ status: Status.ERROR, id: msg.id, command: msg.command, message: e?.message ?? String(e) });
  }
};
