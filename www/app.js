// The chapter page: the widgets, the language switch, and the page state in the URL
// (prompt, settings, selected layer and head), so that a view can be shared as a link.
import { t, lang, setLang, onLang } from './i18n.js';
import { registerOffline } from './offline.js';
import { onModel } from './client.js';

function translatePage() {
  for (const el of document.querySelectorAll('[data-t]')) el.textContent = t(el.dataset.t);
  document.documentElement.lang = lang;
  document.getElementById('lang').value = lang;
}

/**
 * A URL value as a number in [min, max] (whole when `whole`), or null (the widget keeps its
 * default) when it is not a number. A shared link can hold anything, and the widgets take their
 * attributes as they are: ?layer=-1 would index no layer, ?maxTokens=1e9 would run for minutes.
 */
function number(value, min, max, whole = false) {
  if (value === null || value.trim() === '') return null;
  let v = Number(value);
  if (Number.isNaN(v)) return null;
  if (whole) v = Math.floor(v); // Infinity stays, and is clamped
  return Math.max(min, Math.min(max, v));
}

// URL parameter -> [element, attribute, value or null]. The ranges are the settings inputs' own;
// seed and top-k stop where the engine's integer types do; layer and head are clamped again by
// <gpt-attention> to the loaded model's counts.
const params = new URLSearchParams(location.search);
const gen = document.querySelector('#generate gpt-generate');
const att = document.querySelector('gpt-attention');
const FROM_URL = {
  prompt: [gen, 'prompt', (v) => v],
  temperature: [gen, 'temperature', (v) => number(v, 0, 5)],
  topK: [gen, 'top-k', (v) => number(v, 0, 1e6, true)],
  topP: [gen, 'top-p', (v) => number(v, 0.01, 1)],
  seed: [gen, 'seed', (v) => number(v, 0, Number.MAX_SAFE_INTEGER, true)],
  maxTokens: [gen, 'max-tokens', (v) => number(v, 1, 2048, true)],
  layer: [att, 'layer', (v) => number(v, 0, 1023, true)],
  head: [att, 'head', (v) => number(v, 0, 1023, true)],
};
// URL -> widgets, before they are built
for (const [key, [el, attr, parse]] of Object.entries(FROM_URL)) {
  const v = params.has(key) ? parse(params.get(key)) : null;
  if (v !== null) el.setAttribute(attr, String(v));
}

// the widgets are defined only now, so that they are built with the URL's values
await import('./inside-gpt.js');

function writeUrl(values) {
  const p = new URLSearchParams(location.search);
  for (const [k, v] of Object.entries(values)) p.set(k, v);
  history.replaceState(null, '', `${location.pathname}?${p}${location.hash}`);
}
gen.addEventListener('settings', (e) => {
  const d = e.detail;
  writeUrl({ prompt: d.prompt, temperature: d.options.temperature, topK: d.options.topK, topP: d.options.topP, seed: d.options.seed, maxTokens: d.maxTokens });
});
att.addEventListener('select', (e) => writeUrl({ layer: e.detail.layer, head: e.detail.head }));

document.getElementById('lang').onchange = (e) => { setLang(e.target.value); writeUrl({ lang: e.target.value }); };
onLang(translatePage);
translatePage();

// the weights are fine-tuned (section 6): every section uses them, so the page says so until Reset
onModel((m) => { document.getElementById('tuned').hidden = !m?.tuned; });

// offline after one visit; a new version of the site is offered, not forced
registerOffline({
  show(reload) {
    const bar = document.getElementById('update');
    bar.hidden = false;
    bar.querySelector('button').onclick = reload;
  },
});
