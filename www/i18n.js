// Every UI string in English and Korean. The language comes from ?lang=, then the reader's last
// choice, then the browser's language.
import { en, ko } from './strings.js';

export const TABLES = { en, ko };
const listeners = new Set();

function initial() {
  const fromUrl = new URLSearchParams(location.search).get('lang');
  let saved = null;
  try { saved = localStorage.getItem('inside-gpt-lang'); } catch { /* storage blocked */ }
  const pick = fromUrl || saved || (navigator.language || 'en').slice(0, 2);
  return TABLES[pick] ? pick : 'en';
}

export let lang = initial();

/** The string for `key` in the current language (English, then the key itself, as fallbacks). */
export function t(key, vars = {}) {
  const s = TABLES[lang][key] ?? en[key] ?? key;
  return s.replace(/\{(\w+)\}/g, (_, k) => vars[k] ?? `{${k}}`);
}

export function setLang(l) {
  if (!TABLES[l] || l === lang) return;
  lang = l;
  try { localStorage.setItem('inside-gpt-lang', l); } catch { /* storage blocked */ }
  document.documentElement.lang = l;
  for (const fn of listeners) fn(l);
}

export function onLang(fn) {
  listeners.add(fn);
  return () => listeners.delete(fn);
}
