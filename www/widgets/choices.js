// <gpt-choices>: zero-shot classification and multiple choice by log-likelihood, as GPT-1 did:
// score each answer after the context with the real model and pick the answer the model finds
// most likely. The numbers are shown as they are, including when the small model gets it wrong.
// The engine tokenizes the context and the answer apart and scores only the answer's tokens (as
// lm-evaluation-harness scores continuations): tokenizing "context + answer" as one text can merge
// the two across the boundary, and then no token is the answer's alone.
import { GptElement, fmt } from './base.js';
import { t } from '../i18n.js';
import { score } from '../client.js';

export class GptChoices extends GptElement {
  build() {
    this.root.innerHTML = `
      <div class="card">
        <h3 data-t="ch.title"></h3>
        <label class="sr-only" for="ctx" data-t="ch.context"></label>
        <p class="muted" data-t="ch.contextHelp"></p>
        <textarea id="ctx" class="context" rows="3" data-t-label="ch.context"></textarea>
        <p class="muted" data-t="ch.answersHelp"></p>
        <textarea class="answers" rows="3" data-t-label="ch.answers"></textarea>
        <div class="row"><button class="run" data-run data-t="ch.run"></button>
          <label><input class="expect" type="text" size="12" data-t-ph="ch.expect" data-t-label="ch.expect"></label></div>
        <p class="status" role="status" aria-live="polite"></p>
        <table class="results"><thead><tr><th data-t="ch.answer"></th><th data-t="ch.total"></th><th data-t="ch.mean"></th><th data-t="ch.prob"></th></tr></thead><tbody></tbody></table>
        <p class="muted" data-t="ch.note"></p>
      </div>`;
    this.$('.context').value = this.getAttribute('context') ?? 'Review: This play is a tedious, dreary and wretched piece of work.\nSentiment:';
    this.$('.answers').value = (this.getAttribute('answers') ?? ' positive| negative').split('|').join('\n');
    this.$('.expect').value = this.getAttribute('expect') ?? '';
    this.$('.run').onclick = () => this.run();
  }

  /** The table held the old model's numbers. */
  modelChanged() {
    this.$('.results tbody').replaceChildren();
    this.clearStatus();
  }

  run() {
    return this.task(async (run) => {
      const context = this.$('.context').value;
      const answers = this.$('.answers').value.split('\n').filter((a) => a.length > 0);
      const body = this.$('.results tbody');
      body.replaceChildren();
      const rows = [];
      for (const a of answers) {
        // log p(answer | context): `total` and `tokens` cover the answer's tokens only
        const r = await run(score(a, context));
        rows.push({ a, total: r.total, mean: r.total / Math.max(1, r.tokens.length), n: r.tokens.length });
      }
      const max = Math.max(...rows.map((r) => r.total));
      const z = rows.reduce((s, r) => s + Math.exp(r.total - max), 0);
      const best = rows.reduce((b, r) => (r.total > b.total ? r : b), rows[0]);
      for (const r of rows) {
        const tr = document.createElement('tr');
        tr.innerHTML = '<td></td><td class="num"></td><td class="num"></td><td class="num"></td>';
        tr.children[0].textContent = JSON.stringify(r.a) + (r === best ? ' ◀' : '');
        tr.children[1].textContent = fmt(r.total, 3);
        tr.children[2].textContent = `${fmt(r.mean, 3)} (${r.n})`;
        tr.children[3].textContent = `${fmt((100 * Math.exp(r.total - max)) / z, 1)}%`;
        if (r === best) tr.style.fontWeight = 'bold';
        tr.dataset.total = r.total;
        body.append(tr);
      }
      const expect = this.$('.expect').value;
      const verdict = expect ? (best.a.trim() === expect.trim() ? t('ch.right', { a: best.a.trim() }) : t('ch.wrong', { a: best.a.trim(), e: expect.trim() })) : t('ch.picked', { a: best.a.trim() });
      this.status(verdict);
    }, { status: t('ch.scoring') });
  }
}
