// The widgets' base class: a shadow root with the shared stylesheet, translated strings, and the
// page's one model (loaded on first use; the `model` attribute names a GGUF URL).
import { sheet } from './style.js';
import { t, onLang } from '../i18n.js';
import { ensureModel, onModel } from '../client.js';

export class GptElement extends HTMLElement {
  constructor() {
    super();
    this.root = this.attachShadow({ mode: 'open' });
    this.root.adoptedStyleSheets = [sheet];
  }

  connectedCallback() {
    if (!this.built) {
      this.built = true;
      this.build();
    }
    this.unsubscribe = [onLang(() => this.translate()), onModel((m) => this.modelChanged(m))];
    this.translate();
    if (!this.hasAttribute('no-autoload')) this.autoload();
  }

  /** Loads the `model` attribute's URL, or the page's model (the first shipped one by default). */
  autoload() {
    ensureModel(this.getAttribute('model') || undefined).catch((e) => this.failed(e));
  }

  disconnectedCallback() {
    for (const u of this.unsubscribe || []) u();
  }

  /** Fills the shadow root once; `data-t` (text), `data-t-label` (aria-label), `data-t-ph` (placeholder) are translated. */
  build() {}
  /** A model finished loading. */
  modelChanged() {}
  /** Something failed; widgets show it in their status line. */
  failed(e) {
    const s = this.$('.status');
    if (s) { s.textContent = e.message; s.classList.add('error'); }
  }

  status(text) {
    const s = this.$('.status');
    if (s) { s.textContent = text; s.classList.remove('error'); }
  }

  $(sel) { return this.root.querySelector(sel); }
  $$(sel) { return [...this.root.querySelectorAll(sel)]; }

  translate() {
    for (const el of this.$$('[data-t]')) el.textContent = t(el.dataset.t);
    for (const el of this.$$('[data-t-label]')) el.setAttribute('aria-label', t(el.dataset.tLabel));
    for (const el of this.$$('[data-t-ph]')) el.setAttribute('placeholder', t(el.dataset.tPh));
    for (const el of this.$$('[data-t-title]')) el.setAttribute('title', t(el.dataset.tTitle));
    this.translated?.();
  }

  /** A number attribute, or `fallback`. */
  num(name, fallback) {
    const v = Number(this.getAttribute(name));
    return this.hasAttribute(name) && Number.isFinite(v) ? v : fallback;
  }
}

/** Colour for a probability: strong where the model was unsure. */
export function probColour(p) {
  return `rgba(var(--hot), ${(0.08 + 0.55 * (1 - Math.max(0, Math.min(1, p)))).toFixed(2)})`;
}

/** A token span with its text made visible (newlines and tabs shown, not swallowed). */
export function tokenSpan(text, cls) {
  const s = document.createElement('span');
  s.className = `tok ${cls}`;
  s.textContent = text;
  return s;
}

/** Visible form of a token piece for labels: spaces as '·', newlines as '⏎'. */
export function showPiece(p) {
  return p.replace(/ /g, '·').replace(/\n/g, '⏎').replace(/\t/g, '⇥') || '∅';
}

export function fmt(n, digits = 3) {
  return Number.isFinite(n) ? n.toFixed(digits) : '–';
}
