// The chapter page: the widgets, the language switch, and the page state in the URL
// (prompt, settings, selected layer and head), so that a view can be shared as a link.
import { t, lang, setLang, onLang } from './i18n.js';

function translatePage() {
  for (const el of document.querySelectorAll('[data-t]')) el.textContent = t(el.dataset.t);
  document.documentElement.lang = lang;
  document.getElementById('lang').value = lang;
}

const params = new URLSearchParams(location.search);
const gen = document.querySelector('#generate gpt-generate');
const att = document.querySelector('gpt-attention');
// URL -> widgets, before they are built
const SETTINGS = { prompt: 'prompt', temperature: 'temperature', topK: 'top-k', topP: 'top-p', seed: 'seed', maxTokens: 'max-tokens' };
for (const [key, attr] of Object.entries(SETTINGS)) if (params.has(key)) gen.setAttribute(attr, params.get(key));
if (params.has('layer')) att.setAttribute('layer', params.get('layer'));
if (params.has('head')) att.setAttribute('head', params.get('head'));

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
