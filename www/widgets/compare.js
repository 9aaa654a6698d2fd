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
        <p class="tok-detail"></p>
        ${settingsHtml()}
        <div class="row">
          <button class="run" data-run data-t="cmp.run"></button>
          <button class="stop secondary" data-stop data-t="gen.stop"></button>
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
    this.tokenDetails(this.$$('.side .out'), this.$('.tok-detail'));
  }

  /** Both texts were the old model's (a run under way is stopped by the load). */
  modelChanged() {
    for (const side of this.$$('.side')) {
      side.querySelector('.out').replaceChildren();
      side.querySelector('.speed').textContent = '';
    }
    this.clearStatus();
  }

  run() {
    return this.task(async (run) => {
      const { options, maxTokens } = readSettings(this);
      const sides = this.$$('.side');
      const runs = sides.map((side, i) => {
        const out = side.querySelector('.out');
        out.replaceChildren();
        side.querySelector('.speed').textContent = '';
        return run(generate(this.slots[i], side.querySelector('.prompt').value, options, maxTokens, run.each((m) => {
          if (m.status === 'prompt') for (const p of m.pieces) out.append(tokenSpan(p, 'prompt'));
          else if (m.status === 'token') out.append(tokenFor(m));
        }))).then((d) => { side.querySelector('.speed').textContent = t('gen.done', { n: d.tokens, speed: fmt(d.tokensSec, 1) }); });
      });
      // both run to their end even when one fails, so that the slots are free again
      const results = await Promise.allSettled(runs);
      const failed = results.find((r) => r.status === 'rejected');
      if (failed) throw failed.reason;
      this.status(t('cmp.same', { seed: options.seed }));
    });
  }
}
