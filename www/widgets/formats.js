// <gpt-formats>: one architecture, many tasks; only the input changes. GPT-1's four input formats
// built from the reader's two texts and shown as the token sequences the model would read.
// GPT-1 learned special Start/Delim/Extract tokens in fine-tuning; a plain language model has
// none, so they are shown as markers here.
import { GptElement, showPiece } from './base.js';
import { t } from '../i18n.js';
import { tokenize } from '../client.js';

const FORMATS = [
  ['fmt.classification', (a) => [['Start'], a, ['Extract']]],
  ['fmt.entailment', (a, b) => [['Start'], a, ['Delim'], b, ['Extract']]],
  ['fmt.similarity1', (a, b) => [['Start'], a, ['Delim'], b, ['Extract']]],
  ['fmt.similarity2', (a, b) => [['Start'], b, ['Delim'], a, ['Extract']]],
  ['fmt.choice', (a, b) => [['Start'], a, ['Delim'], b, ['Extract']]],
];

export class GptFormats extends GptElement {
  build() {
    this.root.innerHTML = `
      <div class="card">
        <h3 data-t="fmt.title"></h3>
        <div class="cols2">
          <label><span data-t="fmt.a"></span> <input class="a grow" type="text"></label>
          <label><span data-t="fmt.b"></span> <input class="b grow" type="text"></label>
        </div>
        <div class="row"><button class="run" data-run data-t="fmt.run"></button></div>
        <p class="status" role="status" aria-live="polite"></p>
        <div class="out"></div>
        <p class="muted" data-t="fmt.note"></p>
      </div>`;
    this.$('.a').value = this.getAttribute('a') ?? 'The king is dead.';
    this.$('.b').value = this.getAttribute('b') ?? 'The king lives.';
    this.$('.run').onclick = () => this.run();
  }

  /** Another model may have another tokenizer: the sequences are built again. */
  modelChanged() {
    this.last = null;
    this.$('.out').replaceChildren();
    this.whenIdle(() => this.run());
  }

  translated() {
    if (this.last) this.render(...this.last);
  }

  run() {
    return this.task(async (run) => {
      const [a, b] = await run(Promise.all([tokenize(this.$('.a').value), tokenize(this.$('.b').value)]));
      this.last = [a, b];
      this.render(a, b);
    });
  }

  render(a, b) {
    const out = this.$('.out');
    out.replaceChildren();
    for (const [key, build] of FORMATS) {
      const row = document.createElement('div');
      const title = document.createElement('strong');
      title.textContent = t(key);
      const seq = document.createElement('div');
      seq.className = 'tokens';
      seq.dataset.format = key;
      for (const part of build(a.pieces, b.pieces)) {
        for (const p of part) {
          const s = document.createElement('span');
          s.className = 'tok';
          const special = part.length === 1 && ['Start', 'Delim', 'Extract'].includes(p) && part !== a.pieces && part !== b.pieces;
          s.textContent = special ? `⟨${p}⟩` : showPiece(p);
          if (special) { s.style.fontWeight = 'bold'; s.style.color = 'var(--accent)'; }
          seq.append(s);
        }
      }
      row.append(title, seq);
      out.append(row);
    }
  }
}
