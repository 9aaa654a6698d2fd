// The widgets' base class: a shadow root with the shared stylesheet, translated strings, the
// page's one model (loaded on first use; the `model` attribute names a GGUF URL), and the one way
// a widget runs something (`task`): one run at a time, its buttons kept in step, its errors in the
// status line, and its results dropped when the model changed under it.
import { sheet } from './style.js';
import { t, onLang } from '../i18n.js';
import { ensureModel, onModel } from '../client.js';

/** Thrown through a task whose model was replaced while it ran; the task ends quietly. */
const STALE = Symbol('stale');

export class GptElement extends HTMLElement {
  constructor() {
    super();
    this.root = this.attachShadow({ mode: 'open' });
    this.root.adoptedStyleSheets = [sheet];
    /** A task is running (see `task`). */
    this.busy = false;
    /** Bumped by every model load: a task started under an older number is stale. */
    this.generation = 0;
    /** The loaded model, once there is one. */
    this.model = null;
    /** `data-run` controls wait for a model; the model picker's do not. */
    this.needsModel = true;
  }

  connectedCallback() {
    if (!this.built) {
      this.built = true;
      this.build();
    }
    this.unsubscribe = [onLang(() => this.translate()), onModel((m) => this.modelArrived(m))];
    this.controls();
    this.translate();
    if (!this.hasAttribute('no-autoload')) this.autoload();
  }

  /**
   * A (new) model is loaded, or the weights changed (fine-tuning, a reset): whatever runs for the
   * old ones is stale, its controls are usable. A change this widget asked for itself (its request's
   * `owner`) leaves its task running: `ownChange(m)` hears of it instead.
   */
  modelArrived(m) {
    if (m.change?.owner && m.change.owner === this) {
      this.model = m;
      this.controls();
      this.ownChange(m);
      return;
    }
    this.generation++;
    this.model = m;
    this.controls();
    this.modelChanged(m);
  }

  /**
   * Runs `fn(run)` as this widget's one task, or returns null (and does nothing) while one runs,
   * so that a double click or Ctrl+Enter cannot start a second. While it runs, `data-run` controls
   * are disabled and `data-stop` ones enabled; the status line is set to `status` first and
   * shows the error if it fails. `await run(promise)` gives the promise's value, or ends the task
   * quietly if the model changed meanwhile; `run.each(fn)` wraps a streaming callback the same
   * way, and `run.live` says whether the task's model is still the loaded one.
   */
  task(fn, { status = '' } = {}) {
    if (this.busy) return null;
    const generation = this.generation;
    const run = (promise) => promise.then((v) => { if (!run.live) throw STALE; return v; });
    Object.defineProperty(run, 'live', { get: () => generation === this.generation });
    run.each = (f) => (...args) => { if (run.live) f(...args); };
    this.busy = true;
    this.controls();
    this.status(status);
    return (async () => {
      try {
        return await fn(run);
      } catch (e) {
        if (e !== STALE && run.live) this.failed(e);
        return undefined;
      } finally {
        this.busy = false;
        this.controls();
        const next = this.queued;
        this.queued = null;
        next?.();
      }
    })();
  }

  /** Calls `fn` now, or when the task under way ends (only the last one asked for is kept). */
  whenIdle(fn) {
    if (this.busy) this.queued = fn;
    else fn();
  }

  /** Enables and disables the run and stop controls for the widget's state; widgets may add to it. */
  controls() {
    const off = this.busy || (this.needsModel && !this.model);
    for (const el of this.$$('[data-run]')) el.disabled = off;
    for (const el of this.$$('[data-stop]')) el.disabled = !this.busy;
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
  /** A model finished loading (the first, or another), or its weights changed: clear what came from the old one. */
  modelChanged() {}
  /** The weights changed at this widget's own request (it tuned or reset them). */
  ownChange() {}
  /** Something failed; widgets show it in their status line. */
  failed(e) {
    const s = this.$('.status');
    // a request the engine's crash ended: say so, and that it is coming back
    const text = e?.crash ? t(e.crash.tunedLost ? 'crash.widgetTuned' : 'crash.widget', { message: e.crash.message }) : e?.message ?? String(e);
    if (s) { s.textContent = text; s.classList.add('error'); }
  }

  status(text) {
    const s = this.$('.status');
    if (s) { s.textContent = text; s.classList.remove('error'); }
  }

  /** Empties the status line unless it shows an error, which still explains (a crash, a bad setting) after a model change. */
  clearStatus() {
    if (!this.$('.status')?.classList.contains('error')) this.status('');
  }

  $(sel) { return this.root.querySelector(sel); }
  $$(sel) { return [...this.root.querySelectorAll(sel)]; }

  translate() {
    for (const el of this.$$('[data-t]')) el.textContent = t(el.dataset.t);
    for (const el of this.$$('[data-t-label]')) el.setAttribute('aria-label', t(el.dataset.tLabel));
    for (const el of this.$$('[data-t-ph]')) el.setAttribute('placeholder', t(el.dataset.tPh));
    for (const el of this.$$('[data-t-title]')) el.setAttribute('title', t(el.dataset.tTitle));
    for (const el of this.$$('.tok[role=button]')) el.setAttribute('aria-label', t(el.numbers.label, el.numbers.vars));
    for (const el of this.$$('.tok-detail')) if (el.shown) showDetail(el, el.shown);
    this.translated?.();
  }

  /** A number attribute, or `fallback`. */
  num(name, fallback) {
    const v = Number(this.getAttribute(name));
    return this.hasAttribute(name) && Number.isFinite(v) ? v : fallback;
  }

  /** An integer attribute clamped to [min, max], or `fallback` when it is not a number. */
  int(name, fallback, min, max) {
    const v = Math.floor(this.num(name, fallback));
    return Math.max(min, Math.min(max, Number.isFinite(v) ? v : fallback));
  }

  /**
   * Shows the numbers of the token (made by `withNumbers`) that is focused, clicked or tapped in
   * any of `outs` in the details line `line`, so they are not only in a hover tooltip. Each output
   * keeps one token in the Tab order (the last one visited, else the first); the arrow keys, Home
   * and End move between its tokens.
   */
  tokenDetails(outs, line) {
    const tokens = (out) => [...out.querySelectorAll('.tok[role=button]')];
    for (const out of outs) {
      out.addEventListener('focusin', (e) => {
        const tok = e.target.closest?.('.tok[role=button]');
        if (!tok) return;
        for (const other of out.querySelectorAll('.tok[tabindex="0"]')) if (other !== tok) other.tabIndex = -1;
        tok.tabIndex = 0;
        showDetail(line, tok);
      });
      out.addEventListener('click', (e) => {
        const tok = e.target.closest?.('.tok[role=button]');
        if (!tok) return;
        tok.focus();
        showDetail(line, tok);
      });
      out.addEventListener('keydown', (e) => {
        const tok = e.target.closest?.('.tok[role=button]');
        if (!tok) return;
        const all = tokens(out);
        const i = all.indexOf(tok);
        const to = { ArrowRight: i + 1, ArrowDown: i + 1, ArrowLeft: i - 1, ArrowUp: i - 1, Home: 0, End: all.length - 1 }[e.key];
        if (to !== undefined) all[Math.max(0, Math.min(all.length - 1, to))].focus();
        else if (e.key === 'Enter' || e.key === ' ') showDetail(line, tok);
        else return;
        e.preventDefault();
      });
      // new output: its first token takes the Tab stop; a cleared output clears the line
      new MutationObserver(() => {
        if (!out.querySelector('.tok[tabindex="0"]')) { const first = tokens(out)[0]; if (first) first.tabIndex = 0; }
        if (line.shown && !line.shown.isConnected) { line.shown = null; line.textContent = ''; }
      }).observe(out, { childList: true });
    }
  }
}

/**
 * Gives a token span its numbers for every reader: focusable, and named by the `label` string
 * with `vars`; `detail` is the string the details line shows for it (see `tokenDetails`).
 */
export function withNumbers(span, label, detail, vars) {
  span.setAttribute('role', 'button');
  span.tabIndex = -1;
  span.numbers = { label, detail, vars };
  span.setAttribute('aria-label', t(label, vars));
  return span;
}

function showDetail(line, tok) {
  line.shown = tok;
  line.textContent = t(tok.numbers.detail, tok.numbers.vars);
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

/**
 * A scored token (as <gpt-score> shows them): coloured by its log-probability `lp` given the
 * tokens before it (darker = less likely; -8 nats and below are the darkest), with its numbers
 * in its tooltip, its name and the details line; `data-logprob` holds the number itself.
 */
export function scoredToken(piece, lp) {
  const s = document.createElement('span');
  s.className = 'tok';
  s.textContent = piece;
  s.style.background = `rgba(var(--hot), ${(0.05 + 0.6 * Math.min(1, -(lp ?? 0) / 8)).toFixed(2)})`;
  const vars = { piece: JSON.stringify(piece), lp: fmt(lp, 3), p: fmt(Math.exp(lp), 4) };
  s.title = `${showPiece(piece)}: log p = ${vars.lp} (p = ${vars.p})`;
  s.dataset.logprob = lp;
  return withNumbers(s, 'tok.score', 'tok.score', vars);
}

const SVG = 'http://www.w3.org/2000/svg';

function svgEl(name, attrs, text) {
  const el = document.createElementNS(SVG, name);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, v);
  if (text !== undefined) el.textContent = text;
  return el;
}

/**
 * Draws a small line chart into `svg`, one point per step: `series` [{values, cls}] share one
 * y-axis (labelled with its range, and 0 drawn when inside it); the x-axis runs over `steps`
 * steps, so that the lines grow from the left as steps arrive. Hidden while there is no point.
 */
export function lineChart(svg, series, steps) {
  const [W, H, L, R, T, B] = [320, 130, 44, 10, 8, 18];
  svg.setAttribute('viewBox', `0 0 ${W} ${H}`);
  svg.replaceChildren();
  const all = series.flatMap((s) => s.values).filter(Number.isFinite);
  svg.toggleAttribute('hidden', !all.length); // no steps yet: no empty frame
  if (!all.length) return;
  let [lo, hi] = [Math.min(...all), Math.max(...all)];
  if (hi - lo < 1e-9) { lo -= 0.5; hi += 0.5; }
  const n = Math.max(2, steps, ...series.map((s) => s.values.length));
  const x = (i) => L + ((W - L - R) * i) / (n - 1);
  const y = (v) => T + ((H - T - B) * (hi - v)) / (hi - lo);
  svg.append(svgEl('path', { class: 'axis', d: `M${L} ${T}V${H - B}H${W - R}` }));
  if (lo < 0 && hi > 0) svg.append(svgEl('path', { class: 'zero', d: `M${L} ${y(0)}H${W - R}` }));
  svg.append(svgEl('text', { x: L - 4, y: T + 8, 'text-anchor': 'end' }, fmt(hi, 2)));
  svg.append(svgEl('text', { x: L - 4, y: H - B, 'text-anchor': 'end' }, fmt(lo, 2)));
  svg.append(svgEl('text', { x: L, y: H - 4, 'text-anchor': 'start' }, '1'));
  svg.append(svgEl('text', { x: W - R, y: H - 4, 'text-anchor': 'end' }, String(n)));
  for (const s of series) {
    const pts = s.values.map((v, i) => [x(i), y(v)]).filter(([, py]) => Number.isFinite(py));
    if (!pts.length) continue;
    svg.append(svgEl('polyline', { class: `line ${s.cls}`, points: pts.map(([a, b]) => `${a.toFixed(1)},${b.toFixed(1)}`).join(' ') }));
    for (const [a, b] of pts) svg.append(svgEl('circle', { class: `dot ${s.cls}`, cx: a.toFixed(1), cy: b.toFixed(1), r: 2 }));
  }
}
