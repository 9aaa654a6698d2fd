// <gpt-generate>: the model writes, one token at a time. Each token shows its boundary and is
// coloured by the probability the model gave it; hovering it, focusing it (Tab, then the arrow
// keys) or tapping it shows probability, rank and the entropy of the distribution it was drawn
// from. Attributes: prompt, temperature, top-k, top-p, seed, max-tokens, model.
import { GptElement, probColour, tokenSpan, withNumbers, fmt } from './base.js';
import { t } from '../i18n.js';
import { generate, stop, newSlot } from '../client.js';

/** The sampling controls shared by <gpt-generate> and <gpt-compare>. */
export function settingsHtml() {
  return `
    <div class="row settings">
      <label><span data-t="gen.temperature"></span> <input class="temperature" type="number" min="0" max="5" step="0.1" value="0.8"></label>
      <label><span data-t="gen.topK"></span> <input class="top-k" type="number" min="0" step="1" value="40"></label>
      <label><span data-t="gen.topP"></span> <input class="top-p" type="number" min="0.01" max="1" step="0.01" value="0.95"></label>
      <label><span data-t="gen.seed"></span> <input class="seed" type="number" min="0" step="1" value="42"></label>
      <label><span data-t="gen.maxTokens"></span> <input class="max-tokens" type="number" min="1" max="2048" step="1" value="120"></label>
    </div>`;
}

const FIELDS = ['temperature', 'top-k', 'top-p', 'seed', 'max-tokens'];

/** Copies attributes (temperature="0.5", ...) into the settings inputs. */
export function applySettings(el) {
  for (const f of FIELDS) if (el.hasAttribute(f)) el.$(`.${f}`).value = el.getAttribute(f);
}

/** The settings as the worker takes them; NaN and out-of-range values go through, for the engine to refuse clearly. */
export function readSettings(el) {
  const v = (f) => Number(el.$(`.${f}`).value);
  return {
    options: { temperature: v('temperature'), topK: Math.max(0, Math.floor(v('top-k')) || 0), topP: v('top-p'), seed: Math.max(0, Math.floor(v('seed')) || 0), topN: 5 },
    maxTokens: Math.max(1, Math.floor(v('max-tokens')) || 1),
  };
}

/** One streamed token as a span with its numbers: in the tooltip, its accessible name and its details line. */
export function tokenFor(m) {
  const s = tokenSpan(m.text, 'gen');
  s.style.background = probColour(m.prob);
  s.dataset.token = m.token;
  s.dataset.prob = m.prob;
  const vars = { p: fmt(m.prob, 4), rank: m.rank + 1, h: fmt(m.entropy, 2), piece: JSON.stringify(m.piece), id: m.token };
  s.title = t('gen.tip', vars);
  return withNumbers(s, 'tok.gen', 'tok.genDetail', vars);
}

export class GptGenerate extends GptElement {
  build() {
    this.genSlot = newSlot();
    this.root.innerHTML = `
      <div class="card">
        <h3 data-t="gen.title"></h3>
        <label class="sr-only" for="prompt" data-t="gen.prompt"></label>
        <textarea id="prompt" class="prompt" rows="3" data-t-label="gen.prompt"></textarea>
        ${settingsHtml()}
        <div class="row">
          <button class="run" data-run data-t="gen.run"></button>
          <button class="stop secondary" data-stop data-t="gen.stop"></button>
          <span class="speed muted" aria-live="off"></span>
        </div>
        <p class="status" role="status" aria-live="polite"></p>
        <div class="out tokens" role="log" aria-live="off" data-t-label="gen.output"></div>
        <p class="tok-detail"></p>
        <p class="muted" data-t="gen.legend"></p>
      </div>`;
    this.$('.prompt').value = this.getAttribute('prompt') ?? 'KING.\n';
    applySettings(this);
    this.$('.run').onclick = () => this.run();
    this.$('.stop').onclick = () => stop(this.genSlot);
    this.$('.prompt').addEventListener('keydown', (e) => { if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) this.run(); });
    for (const el of this.$$('input, textarea')) el.addEventListener('change', () => this.changed());
    this.tokenDetails([this.$('.out')], this.$('.tok-detail'));
  }

  /** Announces the settings so the page can keep them in its URL. */
  changed() {
    this.dispatchEvent(new CustomEvent('settings', { bubbles: true, composed: true, detail: { prompt: this.$('.prompt').value, ...readSettings(this) } }));
  }

  /** The text and its numbers came from the old model: gone with it (a run under way is stopped by the load). */
  modelChanged() {
    this.$('.out').replaceChildren();
    this.$('.speed').textContent = '';
    this.clearStatus();
  }

  failed(e) {
    super.failed(e);
    this.$('.status').dataset.reason = 'error';
  }

  /** Generates into the output; refused (null) while a generation runs. */
  run() {
    return this.task(async (run) => {
      const { options, maxTokens } = readSettings(this);
      const out = this.$('.out');
      out.replaceChildren();
      this.$('.speed').textContent = '';
      const done = await run(generate(this.genSlot, this.$('.prompt').value, options, maxTokens, run.each((m) => {
        if (m.status === 'prompt') {
          for (const p of m.pieces) out.append(tokenSpan(p, 'prompt'));
        } else if (m.status === 'token') {
          out.append(tokenFor(m));
          this.$('.speed').textContent = t('gen.speed', { n: fmt(m.tokensSec, 1) });
          this.dispatchEvent(new CustomEvent('token', { bubbles: true, composed: true, detail: m }));
        }
      })));
      this.$('.speed').textContent = t('gen.done', { n: done.tokens, speed: fmt(done.tokensSec, 1) });
      this.status(t(`gen.reason.${done.reason}`));
      this.$('.status').dataset.reason = done.reason;
    });
  }
}
