// <gpt-compare>: prompts matter. Two prompts generated side by side, with the same settings and
// the same seed, at the same time (two generations interleaved in the one worker).
import { GptElement, tokenSpan, fmt } from './base.js';
import { t } from '../i18n.js';
import { generate, stop, newSlot } from '../client.js';
import { settingsHtml, applySettings, readSettings, tokenFor } from './generate.js';

export class GptCompare extends GptElement {
  build() {
    this.slots = [newSlot(), newSlot()];
    this.root.innerHTML = `
      <div class="card">
        <h3 data-t="cmp.title"></h3>
        <div class="cols2">
          ${[0, 1].map((i) => `
          <div class="side">
            <label class="sr-only" for="p${i}" data-t="gen.prompt"></label>
            <textarea id="p${i}" class="prompt" rows="2" data-t-label="gen.prompt"></textarea>
            <div class="tokens out"></div>
            <p class="muted speed"></p>
          </div>`).join('')}
        </div>
        ${settingsHtml()}
        <div class="row">
          <button class="run" data-t="cmp.run" disabled></button>
          <button class="stop secondary" data-t="gen.stop" disabled></button>
        </div>
        <p class="status" role="status" aria-live="polite"></p>
      </div>`;
    const [a, b] = this.$$('.prompt');
    a.value = this.getAttribute('a') ?? 'KING.\nMy lords, ';
    b.value = this.getAttribute('b') ?? 'CLOWN.\nMy lords, ';
    this.$('.max-tokens').value = 60;
    applySettings(this);
    this.$('.run').onclick = () => this.run();
    this.$('.stop').onclick = () => this.slots.forEach(stop);
  }

  modelChanged() {
    if (!this.running) this.$('.run').disabled = false;
  }

  async run() {
    const { options, maxTokens } = readSettings(this);
    this.running = true;
    this.$('.run').disabled = true;
    this.$('.stop').disabled = false;
    this.status('');
    const sides = this.$$('.side');
    const runs = sides.map((side, i) => {
      const out = side.querySelector('.out');
      out.replaceChildren();
      return generate(this.slots[i], side.querySelector('.prompt').value, options, maxTokens, (m) => {
        if (m.status === 'prompt') for (const p of m.pieces) out.append(tokenSpan(p, 'prompt'));
        else if (m.status === 'token') out.append(tokenFor(m));
      }).then((d) => { side.querySelector('.speed').textContent = t('gen.done', { n: d.tokens, speed: fmt(d.tokensSec, 1) }); });
    });
    const results = await Promise.allSettled(runs);
    const failed = results.find((r) => r.status === 'rejected');
    if (failed) this.failed(failed.reason);
    else this.status(t('cmp.same', { seed: options.seed }));
    this.running = false;
    this.$('.run').disabled = false;
    this.$('.stop').disabled = true;
  }
}
