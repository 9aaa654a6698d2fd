// <gpt-score>: how natural is a sentence? Two sentences scored side by side: each token's
// log-probability given the ones before it, the total, and the perplexity. Each token's numbers
// are in its name and, when it is focused or tapped, in the details line.
import { GptElement, scoredToken, fmt } from './base.js';
import { t } from '../i18n.js';
import { score } from '../client.js';

export class GptScore extends GptElement {
  build() {
    this.root.innerHTML = `
      <div class="card">
        <h3 data-t="score.title"></h3>
        <div class="cols2">
          ${[0, 1].map((i) => `
          <div class="side" data-side="${i}">
            <label class="sr-only" for="s${i}" data-t="score.sentence"></label>
            <textarea id="s${i}" class="text" rows="2" data-t-label="score.sentence"></textarea>
            <div class="tokens out"></div>
            <p class="sum"></p>
          </div>`).join('')}
        </div>
        <p class="tok-detail"></p>
        <div class="row"><button class="run" data-run data-t="score.run"></button></div>
        <p class="status" role="status" aria-live="polite"></p>
        <p class="muted" data-t="score.note"></p>
      </div>`;
    const [a, b] = this.$$('.text');
    a.value = this.getAttribute('a') ?? 'I will go to the king and tell him all.';
    b.value = this.getAttribute('b') ?? 'King the him all tell go I to will and.';
    this.$('.run').onclick = () => this.run();
    this.tokenDetails(this.$$('.side .out'), this.$('.tok-detail'));
  }

  /** The old model's numbers go, and the sentences are scored again by the new one. */
  modelChanged() {
    this.clear();
    this.whenIdle(() => this.run());
  }

  clear() {
    for (const side of this.$$('.side')) {
      side.querySelector('.out').replaceChildren();
      const sum = side.querySelector('.sum');
      sum.textContent = '';
      sum.classList.remove('error');
    }
  }

  run() {
    return this.task(async (run) => {
      this.clear();
      const results = [];
      for (const side of this.$$('.side')) {
        const out = side.querySelector('.out');
        const sum = side.querySelector('.sum');
        let r = null;
        try {
          r = await run(score(side.querySelector('.text').value));
        } catch (e) {
          if (!run.live) throw e;
          sum.textContent = e.message;
          sum.classList.add('error');
        }
        results.push(r);
        if (!r) continue;
        r.pieces.forEach((p, i) => out.append(scoredToken(p, r.logprobs[i])));
        sum.textContent = t('score.sum', { total: fmt(r.total, 2), n: r.tokens.length, ppl: fmt(r.perplexity, 2) });
      }
      const [a, b] = results;
      if (a && b) {
        const better = a.perplexity <= b.perplexity ? 1 : 2;
        this.status(t('score.verdict', { n: better }));
      }
    });
  }
}
