// The page: DOM on the main thread, every model computation in the worker (www/worker.js).
import { Command, Status } from './protocol.js';

const $ = (id) => document.getElementById(id);
const worker = new Worker(new URL('./worker.js', import.meta.url), { type: 'module' });
let nextId = 1;
let genId = 0;
let loadedName = null;

function setStatus(el, text, isError = false) {
  el.textContent = text;
  el.classList.toggle('error', isError);
}

function fmtBytes(n) {
  return n >= 1 << 20 ? `${(n / (1 << 20)).toFixed(1)} MiB` : `${(n / 1024).toFixed(0)} KiB`;
}

function describe(info) {
  const c = info.config;
  const p = info.params;
  const types = info.bytesByType.map(([t, b, n]) => `${t}: ${fmtBytes(b)} in ${n} tensors`).join(', ');
  return `${info.name}: ${p.total.toLocaleString()} parameters (embeddings ${p.embeddings.toLocaleString()}, ` +
    `attention ${p.attention.toLocaleString()}, MLP ${p.mlp.toLocaleString()}, norms ${p.norms.toLocaleString()})\n` +
    `${c.n_layer} layers, ${c.n_head} heads, width ${c.n_embd}, context ${c.n_ctx}, vocabulary ${c.n_vocab}\n${types}`;
}

function load(source) {
  const id = nextId++;
  $('progress').value = 0;
  $('load').disabled = true;
  setStatus($('model-status'), `Loading ${source.name}…`);
  const msg = source.bytes
    ? { command: Command.LOAD, id, bytes: source.bytes, name: source.name }
    : { command: Command.LOAD, id, url: source.url };
  worker.postMessage(msg, source.bytes ? [source.bytes] : []);
  pending.set(id, source.name);
}
const pending = new Map();

function options() {
  return {
    temperature: Number($('temperature').value),
    topK: Math.max(0, Math.floor(Number($('top-k').value) || 0)),
    topP: Number($('top-p').value),
    seed: Math.max(0, Math.floor(Number($('seed').value) || 0)),
    topN: 5,
  };
}

function tokenSpan(text, cls, title) {
  const s = document.createElement('span');
  s.className = cls;
  s.textContent = text;
  if (title) s.title = title;
  return s;
}

function generate() {
  genId = nextId++;
  $('output').replaceChildren();
  setStatus($('gen-status'), '');
  $('speed').textContent = '';
  $('run').disabled = true;
  $('stop').disabled = false;
  worker.postMessage({
    command: Command.GENERATE, id: genId, prompt: $('prompt').value, options: options(),
    maxTokens: Math.max(1, Math.floor(Number($('max-tokens').value) || 1)),
  });
}

function finishGeneration() {
  $('run').disabled = loadedName === null;
  $('stop').disabled = true;
}

worker.onmessage = ({ data: m }) => {
  switch (m.status) {
    case Status.PROGRESS:
      $('progress').value = m.total ? m.loaded / m.total : 0;
      setStatus($('model-status'), `Downloading: ${fmtBytes(m.loaded)}${m.total ? ` of ${fmtBytes(m.total)}` : ''}`);
      break;
    case Status.LOADED:
      loadedName = pending.get(m.id) ?? m.info.name;
      $('progress').value = 1;
      $('load').disabled = false;
      setStatus($('model-status'), `Loaded ${loadedName} from ${m.source} in ${m.seconds.toFixed(2)} s.`);
      $('model-info').hidden = false;
      $('model-info').textContent = describe(m.info);
      finishGeneration();
      break;
    case Status.PROMPT:
      if (m.id !== genId) return;
      for (const piece of m.pieces) $('output').append(tokenSpan(piece, 'tok prompt', 'prompt token'));
      break;
    case Status.TOKEN: {
      if (m.id !== genId) return;
      const alpha = (0.1 + 0.5 * (1 - m.prob)).toFixed(2);
      const s = tokenSpan(m.text, 'tok gen',
        `p = ${m.prob.toFixed(4)}, rank ${m.rank + 1}, entropy ${m.entropy.toFixed(2)} nats\ntoken ${m.token} ${JSON.stringify(m.piece)}`);
      s.dataset.token = m.token;
      s.style.background = `rgba(220, 120, 20, ${alpha})`;
      $('output').append(s);
      $('speed').textContent = `${m.tokensSec.toFixed(1)} tokens/s`;
      break;
    }
    case Status.DONE:
      if (m.id !== genId) return;
      $('speed').textContent = `${m.tokens} tokens, ${m.tokensSec.toFixed(1)} tokens/s`;
      setStatus($('gen-status'), { stopped: 'Stopped.', maxTokens: 'Reached the token limit.', eos: 'The model ended the text.', context: 'Reached the end of the model\'s context.' }[m.reason] ?? m.reason);
      $('gen-status').dataset.reason = m.reason;
      finishGeneration();
      break;
    case Status.ERROR:
      if (m.command === Command.LOAD) {
        pending.delete(m.id);
        $('load').disabled = false;
        $('progress').value = 0;
        const keep = loadedName ? ` Still using ${loadedName}.` : '';
        setStatus($('model-status'), `Could not load the model: ${m.message}.${keep}`, true);
      } else {
        setStatus($('gen-status'), m.message, true);
        finishGeneration();
      }
      break;
  }
};
worker.onerror = (e) => setStatus($('model-status'), `The worker failed: ${e.message}`, true);

$('run').onclick = generate;
$('stop').onclick = () => worker.postMessage({ command: Command.STOP });
$('load').onclick = () => {
  const url = $('model-url').value.trim();
  if (url) load({ url, name: url });
  else {
    const o = $('model-select').selectedOptions[0];
    if (o) load({ url: o.value, name: o.textContent });
  }
};
$('model-file').onchange = async (e) => {
  const f = e.target.files[0];
  if (f) load({ bytes: await f.arrayBuffer(), name: f.name });
};

// The models this site ships, listed in www/models/models.json.
(async () => {
  let models = [];
  try {
    const r = await fetch(new URL('./models/models.json', import.meta.url));
    if (r.ok) models = await r.json();
  } catch { /* no manifest: the URL and file pickers still work */ }
  for (const m of models) {
    const o = document.createElement('option');
    o.value = new URL(m.url, new URL('./models/', import.meta.url)).href;
    o.textContent = m.name;
    $('model-select').append(o);
  }
  const fromUrl = new URLSearchParams(location.search).get('model');
  if (fromUrl) load({ url: fromUrl, name: fromUrl });
  else if (models.length) load({ url: $('model-select').value, name: models[0].name });
})();
