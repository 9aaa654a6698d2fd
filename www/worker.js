// The model's worker: loads a GGUF (streamed, with progress, cached), owns the generation loop,
// and yields between tokens so that a Stop message is handled within one token.
import { Command, Status, CACHE_NAME } from './protocol.js';

// Threads: where the page is cross-origin isolated (shared memory allowed) and the threaded build
// (www/pkg-threads, made by .ci/build where a nightly toolchain exists) is present, the matrix
// products run on a pool of `?threads=N` workers. By default N is the machine's cores less one (this
// worker keeps doing the rest of each token), at most 8: on 2 cores a pool measured slower decoding
// (BENCHMARKS.md). Otherwise, and with N = 1, the single-thread build. Same bits either way.
// This module's own URL, not `self.location`: on a page of another origin the worker is a
// same-origin blob that imports this module (see client.js), and its location is that blob.
const params = new URL(import.meta.url).searchParams;
const asked = Number(params.get('threads')) || Math.min((navigator.hardwareConcurrency || 1) - 1, 8);
/** Commands that exist for tests only (making the engine trap) are refused without this. */
const testHooks = params.has('test-hooks');
let Engine, checkGgufPrefix, lastPanic, memoryBytes;
let threads = 1;
async function boot() {
  let pkg = null;
  if (asked > 1 && self.crossOriginIsolated) {
    try {
      const t = await import('./pkg-threads/inside_gpt.js');
      await t.default();
      await t.initThreadPool(asked);
      [pkg, threads] = [t, asked];
    } catch (e) { console.info(`threads unavailable (${e.message}): the single-thread build`); }
  }
  if (!pkg) {
    pkg = await import('./pkg/inside_gpt.js');
    await pkg.default();
  }
  ({ Engine, checkGgufPrefix, lastPanic, memoryBytes } = pkg);
}
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

/** Reads a response body into one buffer, checking the header as soon as 8 bytes are in. */
async function readBody(response, id) {
  const total = Number(response.headers.get('content-length')) || 0;
  const reader = response.body.getReader();
  let buf = new Uint8Array(total || 1 << 20);
  let loaded = 0;
  let checked = false;
  let lastPost = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    if (loaded + value.length > buf.length) {
      const bigger = new Uint8Array(Math.max(buf.length * 2, loaded + value.length));
      bigger.set(buf.subarray(0, loaded));
      buf = bigger;
    }
    buf.set(value, loaded);
    loaded += value.length;
    if (!checked && loaded >= 8) {
      try { checkGgufPrefix(buf.subarray(0, 8)); } catch (e) { reader.cancel(); throw e; }
      checked = true;
    }
    const now = performance.now();
    if (now - lastPost > 50) { post({ status: Status.PROGRESS, id, loaded, total }); lastPost = now; }
  }
  post({ status: Status.PROGRESS, id, loaded, total: total || loaded });
  return buf.subarray(0, loaded);
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

async function sha256Hex(bytes) {
  if (!self.crypto?.subtle) return null; // not a secure context: no digest to check with
  const d = new Uint8Array(await crypto.subtle.digest('SHA-256', bytes));
  return [...d].map((b) => b.toString(16).padStart(2, '0')).join('');
}

/**
 * A model's bytes from the Cache API or the network. `expect` ({bytes, sha256}, from models.json)
 * is checked on a download. The result can `remember` a download (once the engine accepted it:
 * other versions of the same URL are dropped then) or `forget` a cache entry the engine refused.
 */
async function fetchModel(url, id, expect, { skipCache = false } = {}) {
  const cache = await openCache();
  const abs = new URL(url, import.meta.url).href;
  const key = cacheKey(abs, expect);
  if (cache && !skipCache) {
    try {
      const hit = await cache.match(key);
      if (hit) return { bytes: await readBody(hit, id), source: 'cache', forget: () => cache.delete(key).catch(() => false) };
    } catch { /* a broken cache entry: fetch again */ }
  }
  let response;
  try { response = await fetch(abs); } catch (e) { throw new Error(`cannot fetch ${url}: ${e.message}`); }
  if (!response.ok) throw new Error(`cannot fetch ${url}: HTTP ${response.status} ${response.statusText}`);
  const bytes = await readBody(response, id);
  if (expect?.bytes && bytes.length !== expect.bytes) {
    throw new Error(`${url} is ${bytes.length} bytes, but the site lists it as ${expect.bytes}: a stale or broken copy (reload the page)`);
  }
  if (expect?.sha256) {
    const got = await sha256Hex(bytes);
    if (got && got !== expect.sha256) throw new Error(`${url} has SHA-256 ${got}, but the site lists ${expect.sha256}: a stale or broken copy (reload the page)`);
  }
  // cached only once the engine has accepted the file (see load)
  const remember = async () => {
    if (!cache) return;
    try {
      await cache.put(key, new Response(bytes.slice()));
      // older versions of this URL (other hashes, or the unhashed key) go
      for (const req of await cache.keys()) {
        const u = new URL(req.url);
        u.searchParams.delete('inside-gpt-sha256');
        if (u.href === abs && req.url !== key) await cache.delete(req);
      }
    } catch { /* quota or private mode */ }
  };
  return { bytes, source: 'network', remember };
}

async function load(msg) {
  await ready;
  const t0 = performance.now();
  let got = msg.bytes ? { bytes: new Uint8Array(msg.bytes), source: 'file' } : await fetchModel(msg.url, msg.id, msg.expect);
  if (msg.bytes) checkGgufPrefix(got.bytes.subarray(0, 8));
  // throws on a bad file: the previous engine stays; `kernels: 'candle'` is the benchmarks' baseline
  const build = () => Engine.withKernels(got.bytes, msg.kernels === 'candle');
  let next;
  try {
    next = build();
  } catch (e) {
    if (got.source !== 'cache' || isTrap(e)) throw e;
    // a cached copy the engine refuses is deleted, and the file fetched again once
    await got.forget();
    got = await fetchModel(msg.url, msg.id, msg.expect, { skipCache: true });
    next = build();
  }
  for (const state of running.values()) state.stop = true;
  engine?.free();
  engine = next;
  await got.remember?.();
  post({ status: Status.LOADED, id: msg.id, info: engine.info(), source: got.source, threads, seconds: (performance.now() - t0) / 1000 });
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
      case Command.MEMORY:
        await ready;
        post({ status: Status.MEMORY, id: msg.id, wasmBytes: memoryBytes() });
        break;
      case Command.FAIL_NEXT_STEP:
        if (!testHooks) throw new Error('failNextStep is a test command: start the worker with ?test-hooks');
        needEngine().failNextStep(msg.kind, msg.steps ?? undefined);
        post({ status: Status.DONE, id: msg.id });
        break;
      case Command.TOKENIZE:
        post({ status: Status.TOKENIZED, id: msg.id, ...needEngine().tokenize(msg.text) });
        break;
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
