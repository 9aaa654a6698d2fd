// <gpt-next-token>: the language model's one job, made visible. The top candidates for the next
// token as bars; the reader picks one (or lets the sampler pick) and the text grows by it. A new
// model starts it again from the prompt: the candidates and the text so far were the old model's.
import { GptElement, tokenSpan, showPiece, fmt } from './base.js';
import { tokenFor } from './generate.js';
import { t } from '../i18n.js';
import { start, step, newSlot } from '../client.js';

export class GptNextToken extends GptElement {
  build() {
    this.genSlot = newSlot();
    this.root.innerHTML = `
      <div class="card">
        <h3 data-t="next.title"></h3>
        <div class="row">
          <label class="grow"><span data-t="gen.prompt"></span> <input class="prompt grow" type="text"></label>
          <label><span data-t="gen.temperature"></span> <input class="temperature" type="number" min="0" max="5" step="0.1" value="0.8"></label>
          <label><span data-t="gen.seed"></span> <input class="seed" type="number" min="0" step="1" value="42"></label>
          <button class="begin" data-run data-t="next.begin"></button>
        </div>
        <div class="out tokens" aria-live="polite"></div>
        <p class="tok-detail"></p>
        <p class="status" role="status" aria-live="polite"></p>
        <div class="row"><span class="muted" data-t="next.choose"></span>
          <button class="sample secondary" data-run data-t="next.sample"></button></div>
        <div class="bars cands"></div>
      </div>`;
    this.$('.prompt').value = this.getAttribute('prompt') ?? 'To be, or not to';
    this.$('.begin').onclick = () => this.begin();
    this.$('.sample').onclick = () => this.take(undefined);
    this.tokenDetails([this.$('.out')], this.$('.tok-detail'));
  }

  modelChanged() {
    this.$('.out').replaceChildren();
    this.show([]);
    this.whenIdle(() => this.begin());
  }

  /** Nothing to sample from before the prompt has run, or after the text has ended. */
  controls() {
    super.controls();
    if (!this.cands?.length) this.$('.sample').disabled = true;
  }

  begin() {
    return this.task(async (run) => {
      const options = { temperature: Number(this.$('.temperature').value), seed: Math.floor(Number(this.$('.seed').value)) || 0, topK: 0, topP: 1, topN: this.num('candidates', 10) };
      this.show([]);
      const p = await run(start(this.genSlot, this.$('.prompt').value, options));
      this.$('.out').replaceChildren(...p.pieces.map((x) => tokenSpan(x, 'prompt')));
      this.show(p.candidates);
    });
  }

  show(cands) {
    this.cands = cands;
    const box = this.$('.cands');
    box.replaceChildren();
    const top = cands[0]?.prob || 1;
    for (const c of cands) {
      const b = document.createElement('button');
      b.className = 'pick';
      b.dataset.run = '';
      b.textContent = showPiece(c.piece);
      b.setAttribute('aria-label', t('next.pickLabel', { piece: c.piece, p: fmt(100 * c.prob, 1) }));
      b.onclick = () => this.take(c.token);
      const bar = document.createElement('div');
      bar.className = 'bar';
      bar.style.width = `${(100 * c.prob) / top}%`;
      const p = document.createElement('span');
      p.className = 'muted';
      p.textContent = `${fmt(100 * c.prob, 1)}%`;
      box.append(b, bar, p);
    }
    this.controls();
  }

  /** Appends `token` (undefined: the sampler's pick); one at a time, so a double click appends one. */
  take(token) {
    return this.task(async (run) => {
      const s = await run(step(this.genSlot, token));
      this.$('.out').append(tokenFor(s));
      if (s.stop) this.status(t(`gen.reason.${s.stop}`));
      this.show(s.candidates);
    });
  }
}
