// The page's side of the worker protocol: one worker and one loaded model per page, shared by
// every widget on it. Requests are promises; streaming statuses go to a callback.
import { Command, Status } from './protocol.js';

const FINAL = {
  [Command.LOAD]: Status.LOADED, [Command.GENERATE]: Status.DONE, [Command.START]: Status.PROMPT,
  [Command.STEP]: Status.TOKEN, [Command.SCORE]: Status.SCORED, [Command.INSPECT]: Status.INSPECTED,
  [Command.TOKENIZE]: Status.TOKENIZED,
};

let worker = null;
let nextId = 1;
let nextSlot = 1;
const pending = new Map();
const listeners = new Set();
/** Who wants download progress of the load under way. */
const progressFns = new Set();

/** The loaded model: {info, name, url} or null; `loading` is the promise of a load under way. */
export const model = { current: null, loading: null, loadingUrl: null };

/** Where the shipped models are listed. */
export const MODELS_URL = new URL('./models/models.json', import.meta.url);

function ensureWorker() {
  if (worker) return worker;
  worker = new Worker(new URL('./worker.js', import.meta.url), { type: 'module' });
  worker.onmessage = ({ data }) => {
    const p = pending.get(data.id);
    if (!p) return;
    if (data.status === Status.ERROR) {
      pending.delete(data.id);
      p.reject(new Error(data.message));
    } else if (data.status === FINAL[p.command]) {
      pending.delete(data.id);
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

function request(msg, onMessage, transfer = []) {
  const id = nextId++;
  return new Promise((resolve, reject) => {
    pending.set(id, { command: msg.command, resolve, reject, onMessage });
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

/** The shipped models: [{name, url}] with absolute URLs; [] when the list is missing. */
export async function shippedModels() {
  try {
    const r = await fetch(MODELS_URL);
    if (!r.ok) return [];
    return (await r.json()).map((m) => ({ ...m, url: new URL(m.url, MODELS_URL).href }));
  } catch {
    return [];
  }
}

/**
 * Loads a model from {url} or {bytes, name}; progress(loaded, total) while it downloads.
 * A failed load rejects and leaves the previous model in place.
 */
export function loadModel(source, progress) {
  const url = source.url ? new URL(source.url, location.href).href : null;
  if (url && model.current?.url === url) return Promise.resolve(model.current);
  if (progress) progressFns.add(progress);
  if (url && model.loadingUrl === url) return model.loading;
  const msg = source.bytes ? { command: Command.LOAD, bytes: source.bytes, name: source.name } : { command: Command.LOAD, url };
  const onProgress = (m) => { if (m.status === Status.PROGRESS) for (const fn of progressFns) fn(m.loaded, m.total); };
  const p = request(msg, onProgress, source.bytes ? [source.bytes] : [])
    .then((m) => {
      model.current = { info: m.info, name: source.name || m.info.name, url, source: m.source, seconds: m.seconds, threads: m.threads };
      for (const fn of listeners) fn(model.current);
      return model.current;
    })
    .finally(() => {
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
export const score = (text) => request({ command: Command.SCORE, text });
export const inspect = (text, channels = 64) => request({ command: Command.INSPECT, text, channels });
export const tokenize = (text) => request({ command: Command.TOKENIZE, text });
