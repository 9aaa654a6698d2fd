// The page's side of the worker protocol: one worker and one loaded model per page, shared by
// every widget on it. Requests are promises; streaming statuses go to a callback. When the engine
// traps (a panic, memory exhausted), the worker is replaced by a fresh one and the model loaded
// again (from the Cache API or the reader's file), with no reload of the page. Fine-tuning changes
// the weights in place: the page hears of it as of a new model (onModel), with `tuned` set.
import { Command, Status } from './protocol.js';

const FINAL = {
  [Command.LOAD]: Status.LOADED, [Command.GENERATE]: Status.DONE, [Command.START]: Status.PROMPT,
  [Command.STEP]: Status.TOKEN, [Command.SCORE]: Status.SCORED, [Command.INSPECT]: Status.INSPECTED,
  [Command.TOKENIZE]: Status.TOKENIZED, [Command.MEMORY]: Status.MEMORY, [Command.FAIL_NEXT_STEP]: Status.DONE,
  [Command.FITS]: Status.FITS, [Command.TUNE]: Status.TUNED, [Command.PREFER]: Status.PREFERRED,
  [Command.RESET_TUNE]: Status.TUNE_RESET, [Command.EXPORT_TUNED]: Status.EXPORTED,
};

/** Answers after which the engine runs other weights: what kind of change each is. */
const CHANGES = { [Status.TUNED]: 'tune', [Status.PREFERRED]: 'prefer', [Status.TUNE_RESET]: 'reset' };

let worker = null;
let nextId = 1;
let nextSlot = 1;
const pending = new Map();
const listeners = new Set();
/** Who wants download progress of the load under way. */
const progressFns = new Set();
/** Who wants to hear that the engine crashed and what came of the restart. */
const crashFns = new Set();
/** Restarts after a crash, recent ones (milliseconds), to stop a model that crashes at load from looping. */
const restarts = [];

/** An error from a request that the engine's crash ended: `crash` holds what happened. */
export class EngineCrash extends Error {
  constructor(message, panic, tunedLost = false) {
    super(message);
    this.crash = { message, panic, tunedLost };
  }
}

/**
 * The loaded model: {info, name, url, tuned, tune, change, ...} or null; `loading` is the promise
 * of a load under way. `tuned`: the engine runs fine-tuned weights, not the file's; `tune`: the
 * engine's TuneInfo ({tuned, trainable, total, which}, null from a build without tuning);
 * `change`: what made this the model, {kind: 'load'|'tune'|'prefer'|'reset', owner} (`owner`: the
 * `owner` option of the request that tuned it).
 */
export const model = { current: null, loading: null, loadingUrl: null };

/** Where the shipped models are listed. */
export const MODELS_URL = new URL('./models/models.json', import.meta.url);

/**
 * A module worker running `url`. A worker must have the page's origin, so on a page of another
 * origin (a blog embedding the widgets) it is a same-origin blob that imports the real module,
 * which the widgets' host serves with CORS (README: embedding).
 */
function spawn(url) {
  if (url.origin === location.origin) return new Worker(url, { type: 'module' });
  const shim = URL.createObjectURL(new Blob([`import ${JSON.stringify(url.href)};\n`], { type: 'text/javascript' }));
  const w = new Worker(shim, { type: 'module' });
  // the blob is read once the worker has started: the first message proves it
  w.addEventListener('message', () => URL.revokeObjectURL(shim), { once: true });
  return w;
}

let starts = 0;
/** How many workers this page has started (1, plus one per restart after a crash). */
export const workerStarts = () => starts;

function ensureWorker() {
  if (worker) return worker;
  starts += 1;
  const url = new URL('./worker.js', import.meta.url);
  // tests set this (or open the page with ?test-hooks) before the first widget loads, to reach the
  // worker's test-only commands; a URL alone cannot use them: they are sent by the page's own code
  const hooks = globalThis.INSIDE_GPT_TEST_HOOKS || new URLSearchParams(globalThis.location?.search).has('test-hooks');
  if (hooks) url.searchParams.set('test-hooks', '');
  worker = spawn(url);
  worker.onmessage = ({ data }) => {
    if (data.status === Status.CRASHED) { recover(data); return; }
    const p = pending.get(data.id);
    if (!p) return;
    if (data.status === Status.ERROR) {
      pending.delete(data.id);
      p.reject(new Error(data.message));
    } else if (data.status === FINAL[p.command]) {
      pending.delete(data.id);
      // every widget hears of new weights before the one that asked gets its answer
      if (CHANGES[data.status]) weightsChanged(CHANGES[data.status], data.info, p.owner);
      p.resolve(data);
    } else {
      p.onMessage?.(data);
    }
  };
  worker.onerror = (e) => {
    for (const p of pending.values()) p.reject(new Error(`the model worker failed: ${e.message}`));
    pending.clear();
  };
  return worker;
}

/**
 * The worker's engine trapped: every request under way fails with the crash's message, a fresh
 * worker starts, and the model that was loaded loads again (the one whose load crashed is not
 * retried). Listeners hear {message, panic, reloaded: Promise}.
 */
function recover(data) {
  worker.terminate();
  worker = null;
  const previous = model.current;
  // the tuned weights lived in the dead engine only: the reload gives the model as it was loaded
  const tuning = [...pending.values()].some((p) => p.command === Command.TUNE || p.command === Command.PREFER);
  const tunedLost = !!previous?.tuned || (!!previous && tuning);
  const crash = new EngineCrash(data.message, data.panic, tunedLost);
  for (const p of pending.values()) p.reject(crash);
  pending.clear();
  progressFns.clear();
  model.loading = null;
  model.loadingUrl = null;
  model.current = null;
  const now = performance.now();
  while (restarts.length && now - restarts[0] > 60_000) restarts.shift();
  restarts.push(now);
  let reloaded;
  if (!previous) reloaded = Promise.resolve(null);
  else if (restarts.length > 3) reloaded = Promise.reject(new Error('the engine crashed three times in a minute: not restarting it again; reload the page'));
  else reloaded = loadModel(previous.from);
  reloaded.catch(() => {});
  for (const fn of crashFns) fn({ message: data.message, panic: data.panic, command: data.command, reloaded, tunedLost });
}

/** Calls `fn({message, panic, command, reloaded, tunedLost})` whenever the engine crashes and is
 * restarted (`tunedLost`: the model was fine-tuned, or being tuned; the reload is the original). */
export function onCrash(fn) {
  crashFns.add(fn);
  return () => crashFns.delete(fn);
}

function request(msg, onMessage, transfer = [], owner = null) {
  const id = nextId++;
  return new Promise((resolve, reject) => {
    pending.set(id, { command: msg.command, resolve, reject, onMessage, owner });
    ensureWorker().postMessage({ ...msg, id }, transfer);
  });
}

/** A slot of one's own, so that two widgets can generate side by side. */
export function newSlot() {
  return nextSlot++;
}

/** Calls `fn(model.current)` now (if a model is loaded) and after every load. */
export function onModel(fn) {
  listeners.add(fn);
  if (model.current) fn(model.current);
  return () => listeners.delete(fn);
}

let listing = null;
/** The shipped models: [{name, url, bytes, sha256}] with absolute URLs; [] when the list is missing. */
export function shippedModels() {
  listing ??= fetch(MODELS_URL)
    .then(async (r) => (r.ok ? (await r.json()).map((m) => ({ ...m, url: new URL(m.url, MODELS_URL).href })) : []))
    .catch(() => []);
  return listing;
}

/**
 * Loads a model from {url}, {file, name} (a File or Blob: kept, so that a restart after a crash
 * can read it again) or {bytes, name}; progress(loaded, total, header) while it downloads or is
 * read (`header`, once the file's header is in: {name, tensors, bytesByType}).
 * A failed load rejects and leaves the previous model in place.
 */
export function loadModel(source, progress) {
  const url = source.url ? new URL(source.url, location.href).href : null;
  // the same file again is the same model, unless it was tuned: then a load gives the original back
  if (url && model.current?.url === url && !model.current.tuned) return Promise.resolve(model.current);
  if (progress) progressFns.add(progress);
  if (url && model.loadingUrl === url) return model.loading;
  // the File itself goes to the worker (a reference: the worker streams it), never its bytes;
  // raw bytes become a Blob, which is also what a restart reads back
  const kept = url ? { url, name: source.name } : { file: source.file ?? new Blob([source.bytes]), name: source.name };
  const onProgress = (m) => { if (m.status === Status.PROGRESS) for (const fn of progressFns) fn(m.loaded, m.total, m.header ?? null, m.source); };
  const p = (async () => {
    // a shipped model's size and content hash: its cache key, and checked on a download
    const listed = url ? (await shippedModels()).find((m) => m.url === url) : null;
    const expect = listed?.sha256 ? { bytes: listed.bytes, sha256: listed.sha256 } : undefined;
    const msg = url ? { command: Command.LOAD, url, expect } : { command: Command.LOAD, file: kept.file, name: source.name };
    const m = await request(msg, onProgress);
    model.current = {
      info: m.info, name: source.name || m.info.name, url, source: m.source, from: kept, seconds: m.seconds, threads: m.threads, streamed: m.streamed,
      tuned: false, tune: m.tune ?? null, change: { kind: 'load', owner: null },
    };
    for (const fn of listeners) fn(model.current);
    return model.current;
  })().finally(() => {
    if (model.loading === p) { model.loading = null; model.loadingUrl = null; progressFns.clear(); }
  });
  model.loading = p;
  model.loadingUrl = url;
  return p;
}

/** Loads `url`, or when none is given and nothing is loaded, the first shipped model. */
export async function ensureModel(url, progress) {
  if (url) return loadModel({ url, name: url.split('/').pop() }, progress);
  if (model.current) return model.current;
  if (model.loading) return model.loading;
  const [first] = await shippedModels();
  if (!first) throw new Error('no model is shipped with this page: load a GGUF file');
  return loadModel(first, progress);
}

export const generate = (slot, prompt, options, maxTokens, onMessage) =>
  request({ command: Command.GENERATE, slot, prompt, options, maxTokens }, onMessage);
export const stop = (slot) => ensureWorker().postMessage({ command: Command.STOP, slot });
export const start = (slot, prompt, options) => request({ command: Command.START, slot, prompt, options });
export const step = (slot, token) => request({ command: Command.STEP, slot, token });
export const score = (text, context) => request({ command: Command.SCORE, text, context });
/** The engine's wasm memory in bytes. */
export const memory = () => request({ command: Command.MEMORY }).then((m) => m.wasmBytes);
/** {wasmBytes, heapBytes}: the wasm memory, and the bytes the engine's heap holds now. */
export const memoryDetail = () => request({ command: Command.MEMORY }).then(({ wasmBytes, heapBytes }) => ({ wasmBytes, heapBytes }));
/** Null when a model file of `bytes` can load beside the engine now, else why not (asked before a download). */
export const wontFit = (bytes) => request({ command: Command.FITS, bytes }).then((m) => m.why);
/** Tests only: the `steps`-th step from now (default 1) traps the engine ('panic' or 'oom'). */
export const failNextStep = (kind, steps) => request({ command: Command.FAIL_NEXT_STEP, kind, steps });
export const inspect = (text, channels = 64) => request({ command: Command.INSPECT, text, channels });
export const tokenize = (text) => request({ command: Command.TOKENIZE, text });

/**
 * The engine now runs other weights (tuned, or the loaded ones again): every listener hears of it
 * as of a new model, so that every widget clears or re-runs what the old weights gave.
 */
function weightsChanged(kind, info, owner) {
  if (!model.current) return;
  model.current = { ...model.current, tuned: !!info?.tuned, tune: info ?? model.current.tune, change: { kind, owner } };
  for (const fn of listeners) fn(model.current);
}

/**
 * Fine-tunes the loaded model on `text`: `opts` {steps, lr, seed, trains ('all' or 'vectors';
 * by default what the model's size allows), owner}; `onStep({step, steps,
 * loss})` after each step. Resolves to TUNED's message once the tuned weights are the model (every
 * onModel listener has heard of them by then, with `change.owner` = `opts.owner`). Refused on bad
 * settings, with the model as it was.
 */
export const finetune = (text, { steps, lr, seed = 0, trains, owner = null } = {}, onStep) =>
  request({ command: Command.TUNE, text, steps, lr, seed, trains }, onStep && ((m) => { if (m.status === Status.TUNE_STEP) onStep(m); }), [], owner);
/** Ends the tuning under way (fine-tuning or preference) after its current step, keeping what it learned. */
export const stopTune = () => ensureWorker().postMessage({ command: Command.STOP_TUNE });
/** The loaded weights again, bit for bit; resolves to the TuneInfo. */
export const resetTune = ({ owner = null } = {}) => request({ command: Command.RESET_TUNE }, null, [], owner).then((m) => m.info);
/**
 * Preference tuning (DPO) on rated completions of `prompt`: `items` [{text, good}], `opts` {steps,
 * lr, beta, seed, owner}; `onStep({step, steps, loss, margin})`. Resolves to PREFERRED's message,
 * whose `rows` give each completion's log-probability under the tuned and the reference weights.
 */
export const prefer = (prompt, items, { steps, lr, beta, seed = 0, owner = null } = {}, onStep) =>
  request({ command: Command.PREFER, prompt, items, steps, lr, beta, seed }, onStep && ((m) => { if (m.status === Status.PREFER_STEP) onStep(m); }), [], owner);
/** A GGUF file of the weights in use (tuned or not), as a Uint8Array. */
export const exportTuned = () => request({ command: Command.EXPORT_TUNED }).then((m) => new Uint8Array(m.bytes));
