// <gpt-prefer>: the + and − of RLHF, in small. The model writes a few completions of a prompt
// (one seed each), the reader rates them + or −, and preference tuning (DPO, against a frozen copy
// of the starting weights) moves the model toward the + ones, the loss and the reward margin drawn
// live; then each completion's log-probability under the tuned and the reference weights, its
// implicit reward, and new completions from the same seeds. Attributes: prompt, steps, lr, beta,
// model.
import { lineChart, fmt } from './base.js';
import { t } from '../i18n.js';
import { prefer, stopTune, stop, newSlot } from '../client.js';
import { sampleInto, readTuning, TuningElement } from './finetune.js';

/** One seed per completion: the same seeds write again after tuning. */
const SEEDS = [1, 2, 3, 4];
const WRITE = { temperature: 1.0, maxTokens: 24 };
// The default learning rate: at 0.001 (fine-tuning's default) 15 DPO steps push the − completions
// down by breaking the shipped model (its new completions are nonsense, a plain sentence's
// perplexity 434 -> 559); at 0.00003 the margin still rises and the model still writes its plays.

export class GptPrefer extends TuningElement {
  build() {
    this.slot = newSlot();
    this.root.innerHTML = `
      <div class="card">
        <h3 data-t="pf.title"></h3>
        <p class="muted" data-t="pf.intro"></p>
        <label class="sr-only" for="pp" data-t="pf.prompt"></label>
        <textarea id="pp" class="prompt" rows="2" data-t-label="pf.prompt"></textarea>
        <div class="row"><button class="write" data-run data-t="pf.write"></button></div>
        <ol class="completions written"></ol>
        <div class="row settings">
          <label><span data-t="pf.beta"></span> <input class="beta" type="number" min="0" step="0.01" value="0.1"></label>
          <label><span data-t="tune.steps"></span> <input class="steps" type="number" min="1" max="500" step="1" value="15"></label>
          <label><span data-t="tune.lr"></span> <input class="lr" type="number" min="0" max="0.1" step="any" value="0.00003"></label>
        </div>
        <div class="row">
          <button class="tune" data-run data-t="pf.tune"></button>
          <button class="stop secondary" data-stop data-t="tune.stop"></button>
          <button class="reset secondary" data-t="tune.reset"></button>
        </div>
        <progress class="progress" max="1" value="0" data-t-label="tune.progress"></progress>
        <p class="status" role="status" aria-live="polite"></p>
        <figure class="plot">
          <svg class="chart" role="img" data-t-label="pf.chart"></svg>
          <figcaption class="muted"><span class="key loss"></span> <span data-t="pf.loss"></span> · <span class="key margin"></span> <span data-t="pf.margin"></span> <span class="losses"></span></figcaption>
        </figure>
        <p class="muted table-note" data-t="pf.tableCaption" hidden></p>
        <div class="scroll">
          <table class="results" hidden>
            <caption class="sr-only" data-t="pf.tableCaption"></caption>
            <thead><tr><th data-t="pf.seed"></th><th data-t="pf.completion"></th><th data-t="pf.rated"></th>
              <th class="num" data-t="pf.logpRef"></th><th class="num" data-t="pf.logpTuned"></th><th class="num" data-t="pf.reward"></th></tr></thead>
            <tbody></tbody>
          </table>
        </div>
        <h4 class="after-h" data-t="pf.after" hidden></h4>
        <ol class="completions rewritten"></ol>
        <p class="tok-detail"></p>
        <p class="muted" data-t="pf.rlhf"></p>
        <p class="muted" data-t="pf.limits"></p>
      </div>`;
    this.$('.prompt').value = this.getAttribute('prompt') ?? 'KING. What say you of the tiger?';
    for (const f of ['steps', 'lr', 'beta']) if (this.hasAttribute(f)) this.$(`.${f}`).value = this.getAttribute(f);
    this.$('.write').onclick = () => this.write();
    this.$('.tune').onclick = () => this.tune();
    this.$('.stop').onclick = () => { this.stopAsked = true; if (this.tuning) stopTune(); stop(this.slot); };
    this.$('.reset').onclick = () => this.reset();
    this.tokenDetails([this.$('.written'), this.$('.rewritten')], this.$('.tok-detail'));
    this.clear();
  }

  controls() {
    super.controls();
    this.$('.reset').disabled = this.busy || !this.model?.tuned;
  }

  /** The completions came from the old weights: they go, with their ratings and numbers. */
  modelChanged(m) {
    // a large model tunes its norms and biases only, which needs a larger step (measured with
    // `inside-gpt prefer` on the shipped model, two pairs of tiger completions, 20 steps: at 3e-5
    // every weight's margin reached 3.1 and the vectors' 0.06; at 1e-3 the vectors' reached 1.7)
    if (!this.hasAttribute('lr') && !m?.tuned) this.$('.lr').value = m?.tune?.trains === 'vectors' ? '0.001' : '0.00003';
    this.clear();
    this.clearStatus();
  }

  clear() {
    this.written = null;
    this.$('.written').replaceChildren();
    this.clearTuning();
  }

  clearTuning() {
    this.curve = { loss: [], margin: [], steps: 0 };
    this.rows = null;
    this.$('.progress').value = 0;
    this.$('.rewritten').replaceChildren();
    this.$('.after-h').hidden = true;
    this.$('.results').hidden = true;
    this.$('.table-note').hidden = true;
    this.$('.results tbody').replaceChildren();
    this.plot();
  }

  translated() {
    this.plot();
    for (const li of this.$$('.completions li')) li.querySelector('.seedno').textContent = t('pf.seedNo', { seed: li.dataset.seed });
    if (this.rows) this.table();
  }

  plot() {
    const c = this.curve;
    lineChart(this.$('.chart'), [{ values: c.loss, cls: 'loss' }, { values: c.margin, cls: 'margin' }], c.steps);
    const n = c.loss.length;
    this.$('.losses').textContent = n ? t('pf.curveCaption', { l0: fmt(c.loss[0], 3), l1: fmt(c.loss[n - 1], 3), m0: fmt(c.margin[0], 3), m1: fmt(c.margin[n - 1], 3) }) : '';
  }

  /** A list item for the completion of `seed`: its tokens, and (when `rate`) its + and − buttons. */
  item(list, seed, rate) {
    const li = document.createElement('li');
    li.dataset.seed = seed;
    const no = document.createElement('span');
    no.className = 'seedno';
    no.textContent = t('pf.seedNo', { seed });
    const out = document.createElement('div');
    out.className = 'tokens out';
    li.append(no, out);
    if (rate) {
      for (const [cls, text, key] of [['good', '+', 'pf.good'], ['bad', '−', 'pf.bad']]) {
        const b = document.createElement('button');
        b.className = `rate ${cls}`;
        b.textContent = text;
        b.dataset.run = '';
        b.dataset.tLabel = key;
        b.dataset.tTitle = key;
        b.setAttribute('aria-label', t(key));
        b.title = t(key);
        b.setAttribute('aria-pressed', 'false');
        b.disabled = this.busy; // a data-run control: usable once the task writing it is over
        b.onclick = () => this.rate(seed, cls);
        li.append(b);
      }
    }
    list.append(li);
    return { li, out };
  }

  /** Rates the completion of `seed` good or bad (again: no rating). */
  rate(seed, how) {
    const it = this.written?.items.find((i) => i.seed === seed);
    if (!it) return;
    it.rating = it.rating === how ? null : how;
    for (const b of it.li.querySelectorAll('.rate')) b.setAttribute('aria-pressed', String(b.classList.contains(it.rating)));
  }

  /** Writes one completion per seed (temperature 1), to be rated. */
  write() {
    return this.task(async (run) => {
      const prompt = this.$('.prompt').value;
      if (!prompt.trim()) throw new Error(t('pf.noPrompt'));
      this.clear();
      this.stopAsked = false;
      const written = { prompt, items: [] };
      this.written = written;
      for (const seed of SEEDS) {
        if (this.stopAsked) break;
        const { li, out } = this.item(this.$('.written'), seed, true);
        const text = await sampleInto(run, this.slot, prompt, out, { seed, ...WRITE, showPrompt: false });
        written.items.push({ seed, text, rating: null, li });
      }
      this.status(t('pf.rateThem'));
    }, { status: t('pf.writing') });
  }

  /** Preference steps on every (good, bad) pair of the rated completions; then the numbers and new completions. */
  tune() {
    return this.task(async (run) => {
      const w = this.written;
      if (!w?.items.length) throw new Error(t('pf.noCompletions'));
      const rated = w.items.filter((i) => i.rating);
      if (!rated.length) throw new Error(t('pf.noneRated'));
      if (!rated.some((i) => i.rating === 'good')) throw new Error(t('pf.noGood'));
      if (!rated.some((i) => i.rating === 'bad')) throw new Error(t('pf.noBad'));
      // one text rated both ways pulls both ways: the pair teaches nothing
      for (const g of rated.filter((i) => i.rating === 'good')) {
        const twin = rated.find((b) => b.rating === 'bad' && b.text === g.text);
        if (twin) throw new Error(t('pf.same', { a: g.seed, b: twin.seed }));
      }
      const { steps, lr, beta } = readTuning(this, { beta: true });
      this.clearTuning();
      this.curve.steps = steps;
      this.plot();
      this.stopAsked = false;
      this.tuning = true;
      const items = rated.map((i) => ({ text: i.text, good: i.rating === 'good' }));
      const done = await run(prefer(w.prompt, items, { steps, lr, beta, seed: 0, owner: this }, run.each((m) => {
        this.curve.loss.push(m.loss);
        this.curve.margin.push(m.margin);
        this.curve.steps = m.steps;
        this.$('.progress').value = m.step / m.steps;
        this.plot();
        this.status(t('pf.step', { step: m.step, steps: m.steps, loss: fmt(m.loss, 3), margin: fmt(m.margin, 3) }));
      })).finally(() => { this.tuning = false; }));
      this.$('.progress').value = 1;
      this.rows = done.rows.map((r, k) => ({ ...r, seed: rated[k]?.seed }));
      this.table();
      const vars = { steps: done.steps, planned: steps, pairs: done.pairs, seconds: fmt(done.seconds, 1) };
      this.status(t('pf.rewriting'));
      this.$('.after-h').hidden = false;
      for (const seed of SEEDS) {
        if (this.stopAsked) break;
        const { out } = this.item(this.$('.rewritten'), seed, false);
        await sampleInto(run, this.slot, w.prompt, out, { seed, ...WRITE, showPrompt: false });
      }
      this.status(t(done.stopped ? 'pf.stopped' : 'pf.done', vars));
      this.$('.status').dataset.reason = done.stopped ? 'stopped' : 'done';
    }, { status: t('pf.starting') });
  }

  /** The rated completions' numbers: log p under the reference and the tuned weights, and the reward. */
  table() {
    const body = this.$('.results tbody');
    body.replaceChildren();
    for (const r of this.rows) {
      const tr = document.createElement('tr');
      tr.dataset.good = r.good;
      tr.dataset.logpTuned = r.logpTuned;
      tr.dataset.logpRef = r.logpRef;
      tr.dataset.reward = r.reward;
      // the blank lines around a speech are left out here (the numbers are for the text as written)
      const cells = [String(r.seed ?? ''), r.text.trim(), r.good ? '+' : '−', fmt(r.logpRef, 2), fmt(r.logpTuned, 2), fmt(r.reward, 3)];
      cells.forEach((c, i) => {
        const td = document.createElement('td');
        td.textContent = c;
        if (i === 1) td.className = 'text';
        if (i >= 3) td.className = 'num';
        if (i === 2) td.className = r.good ? 'good' : 'bad';
        tr.append(td);
      });
      body.append(tr);
    }
    this.$('.results').hidden = false;
    this.$('.table-note').hidden = false;
  }

  cleared() {
    this.clearTuning();
  }
}
