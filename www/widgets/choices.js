// <gpt-choices>: zero-shot classification and multiple choice by log-likelihood, as GPT-1 did:
// score "context + each answer" with the real model and pick the answer the model finds most
// likely. The numbers are shown as they are, including when the small model gets it wrong.
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
        <div class="row"><button class="run" data-t="ch.run" disabled></button>
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

  modelChanged() {
    this.$('.run').disabled = false;
  }

  async run() {
    const context = this.$('.context').value;
    const answers = this.$('.answers').value.split('\n').filter((a) => a.length > 0);
    const body = this.$('.results tbody');
    body.replaceChildren();
    this.status(t('ch.scoring'));
    try {
      const base = await score(context);
      const rows = [];
      for (const a of answers) {
        const r = await score(context + a);
        // the answer's own tokens: those after the context's (when tokenization agrees on the boundary)
        const k = base.tokens.every((id, i) => r.tokens[i] === id) ? base.tokens.length : 0;
        const lps = r.logprobs.slice(k).filter((x) => x !== null);
        const total = lps.reduce((s, x) => s + x, 0);
        rows.push({ a, total, mean: total / Math.max(1, lps.length), n: lps.length });
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
    } catch (e) {
      this.failed(e);
    }
  }
}
