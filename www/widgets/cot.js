// <gpt-cot>: the chain-of-thought prompt format. Question / Solution / Answer examples and a new
// question are assembled into one few-shot prompt and handed to the generator below it. Format
// only: a model this small cannot reason, and the page says so.
import { GptElement } from './base.js';
import { t } from '../i18n.js';

export class GptCot extends GptElement {
  autoload() {} // the generator inside loads the model

  build() {
    this.root.innerHTML = `
      <div class="card">
        <h3 data-t="cot.title"></h3>
        <label class="sr-only" for="ex" data-t="cot.examples"></label>
        <p class="muted" data-t="cot.help"></p>
        <textarea id="ex" class="examples" rows="6" data-t-label="cot.examples"></textarea>
        <div class="row"><label class="grow"><span data-t="cot.question"></span> <input class="question grow" type="text"></label>
          <button class="build" data-t="cot.build"></button></div>
        <pre class="prompt tokens" aria-live="polite"></pre>
        <slot></slot>
      </div>`;
    this.$('.examples').value = 'Question: Roger has 5 balls. He buys 2 cans of 3 balls each. How many balls does he have?\nSolution: He buys 2 x 3 = 6 balls. 5 + 6 = 11.\nAnswer: 11';
    this.$('.question').value = 'The cafeteria had 23 apples. They used 20 and bought 6 more. How many apples do they have?';
    this.$('.build').onclick = () => this.assemble();
    this.assemble();
  }

  assemble() {
    const prompt = `${this.$('.examples').value.trim()}\n\nQuestion: ${this.$('.question').value.trim()}\nSolution:`;
    this.$('.prompt').textContent = prompt;
    const gen = this.querySelector('gpt-generate');
    if (gen) {
      gen.setAttribute('prompt', prompt);
      const ta = gen.shadowRoot?.querySelector('.prompt');
      if (ta) ta.value = prompt;
    }
  }
}
