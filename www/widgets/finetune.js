// <gpt-finetune>: teach the loaded model one more thing (the chapter's tiger). A few AdamW steps on
// the reader's text, run by the engine in the worker, with the loss drawn live; then the same
// measurements before and after, side by side: the taught text's per-token log-probabilities and
// perplexity, the perplexity on held-out Shakespeare (does it forget?), and a generation with the
// same seed. Reset gives the loaded weights back bit for bit; Download saves the tuned ones as a
// GGUF. Attributes: text, prompt, steps, lr, seed, model.
import { GptElement, scoredToken, tokenSpan, lineChart, fmt } from './base.js';
import { t } from '../i18n.js';
import { finetune, stopTune, resetTune, exportTuned, score, tokenize, generate, stop, newSlot, MODELS_URL } from '../client.js';
import { tokenFor } from './generate.js';

/** The default lesson: lines about a tiger, in the style of the plays the model was trained on. */
const TIGER = `TIGER. I am the tiger of the eastern wood.
The tiger hath a coat of fire and night,
And where the tiger walks, the deer do fly.
KING. Then let the tiger come before the king.
`;

let heldout = null;
/** The held-out Shakespeare slice the model card scores (www/models/heldout-slice.txt), fetched once. */
export function heldoutText() {
  heldout ??= fetch(new URL('./heldout-slice.txt', MODELS_URL)).then((r) => {
    if (!r.ok) throw new Error(`heldout-slice.txt: HTTP ${r.status}`);
    return r.text();
  });
  heldout.catch(() => { heldout = null; }); // a failed fetch is tried again next time
  return heldout;
}

const tokenCount = async (s) => (await tokenize(s)).tokens.length;

/**
 * `text` cut into consecutive parts of at most `limit` tokens each (scoring takes at most the
 * context): at line ends where it can, else at spaces, else between characters.
 */
export async function windows(text, limit) {
  if (await tokenCount(text) <= limit) return [text];
  const out = [];
  const split = async (s, level) => {
    const parts = level === 0 ? s.split(/(?<=\n)/) : level === 1 ? s.split(/(?<= )/) : Array.from(s);
    let cur = '';
    for (const p of parts) {
      if (await tokenCount(cur + p) <= limit) { cur += p; continue; }
      if (cur) out.push(cur);
      cur = '';
      if (level >= 2 || await tokenCount(p) <= limit) cur = p;
      else await split(p, level + 1);
    }
    if (cur) out.push(cur);
  };
  await split(text, 0);
  return out;
}

/** Windows of a text per model (a tokenizer does not change with tuning), for the held-out slice. */
const windowCache = new WeakMap();

/**
 * Every token of `text` scored (in windows of the context when it is longer): {pieces, logprobs,
 * total, n (tokens with a log-probability), perplexity, windows}.
 */
export async function scoreLong(text, nCtx, parts) {
  parts ??= await windows(text, nCtx - 1); // one position for the <|endoftext|> scoring starts from
  const r = { pieces: [], logprobs: [], total: 0, n: 0, windows: parts.length };
  for (const part of parts) {
    const s = await score(part);
    r.pieces.push(...s.pieces);
    r.logprobs.push(...s.logprobs);
    r.total += s.total;
    r.n += s.logprobs.filter((v) => v !== null && v !== undefined).length;
  }
  r.perplexity = r.n ? Math.exp(-r.total / r.n) : NaN;
  return r;
}

/**
 * Generates from `prompt` into `out` (its tokens coloured by probability, the prompt's greyed
 * when `showPrompt`) under the task's `run`, and resolves to the generated text.
 */
export async function sampleInto(run, slot, prompt, out, { seed, temperature, maxTokens, showPrompt = true }) {
  out.replaceChildren();
  let text = '';
  await run(generate(slot, prompt, { temperature, topK: 0, topP: 1, seed, topN: 1 }, maxTokens, run.each((m) => {
    if (m.status === 'prompt' && showPrompt) for (const p of m.pieces) out.append(tokenSpan(p, 'prompt'));
    else if (m.status === 'token') { out.append(tokenFor(m)); text += m.text; }
  })));
  return text;
}

/** The tuning settings of a widget (inputs .steps, .lr and, when asked, .beta), refused in words when out of range. */
export function readTuning(el, { beta = false } = {}) {
  const steps = Number(el.$('.steps').value);
  const lr = Number(el.$('.lr').value);
  if (!Number.isInteger(steps) || steps < 1 || steps > 500) throw new Error(t('tune.badSteps', { value: el.$('.steps').value }));
  if (!(lr > 0 && lr <= 0.1)) throw new Error(t('tune.badLr', { value: el.$('.lr').value }));
  const out = { steps, lr };
  if (beta) {
    out.beta = Number(el.$('.beta').value);
    if (!(out.beta > 0 && out.beta <= 10)) throw new Error(t('tune.badBeta', { value: el.$('.beta').value }));
  }
  return out;
}

/** The learning rate each choice of what trains starts with (measured: BENCHMARKS.md, fine-tuning). */
const LR = { all: '0.001', vectors: '0.01' };

/** Which weights train (`trains`, else the engine's choice), from the engine's TuneInfo. */
export function whichText(m, trains = m?.tune?.trains) {
  if (!m?.tune) return t('tune.cannot');
  const n = (v) => v.toLocaleString();
  const vectors = trains === 'vectors';
  const trainable = vectors ? m.tune.vectors : m.tune.total;
  return t(vectors ? 'tune.whichVectors' : 'tune.whichAll', { trainable: n(trainable), total: n(m.tune.total), max: n(m.tune.maxParams) });
}

/** What both tuning widgets share: a failure marks the status's data-reason, and Reset. */
export class TuningElement extends GptElement {
  failed(e) {
    super.failed(e);
    this.$('.status').dataset.reason = 'error';
  }

  /** The loaded weights again; `cleared()` drops what the widget showed of the tuned ones. */
  reset() {
    return this.task(async (run) => {
      await run(resetTune({ owner: this }));
      this.cleared();
      this.status(t('tune.wasReset'));
    });
  }

  cleared() {}
}

export class GptFinetune extends TuningElement {
  build() {
    this.slot = newSlot();
    this.root.innerHTML = `
      <div class="card">
        <h3 data-t="ft.title"></h3>
        <p class="muted" data-t="ft.intro"></p>
        <label for="text" data-t="ft.text"></label>
        <textarea id="text" class="text" rows="5"></textarea>
        <div class="row settings">
          <label><span data-t="tune.steps"></span> <input class="steps" type="number" min="1" max="500" step="1" value="20"></label>
          <label><span data-t="tune.lr"></span> <input class="lr" type="number" min="0" max="0.1" step="any" value="0.001"></label>
          <label><span data-t="gen.seed"></span> <input class="seed" type="number" min="0" step="1" value="42"></label>
          <label><span data-t="tune.trains"></span> <select class="trains"><option value="all" data-t="tune.shortAll"></option><option value="vectors" data-t="tune.shortVectors"></option></select></label>
          <label class="grow"><span data-t="ft.prompt"></span> <input class="prompt grow" type="text"></label>
        </div>
        <div class="row">
          <button class="train" data-run data-t="ft.train"></button>
          <button class="stop secondary" data-stop data-t="tune.stop"></button>
          <button class="reset secondary" data-t="tune.reset"></button>
          <button class="download secondary" data-t="ft.download"></button>
        </div>
        <progress class="progress" max="1" value="0" data-t-label="tune.progress"></progress>
        <p class="status" role="status" aria-live="polite"></p>
        <figure class="plot">
          <svg class="chart" role="img" data-t-label="ft.chart"></svg>
          <figcaption class="muted losses"></figcaption>
        </figure>
        <div class="cols2">
          ${['before', 'after'].map((side) => `
          <div class="side" data-side="${side}">
            <h4 data-t="ft.${side}"></h4>
            <div class="tokens out taught" role="group" data-t-label="ft.taught"></div>
            <p class="sum taught-sum"></p>
            <p class="sum held-sum"></p>
            <p class="sum sample-sum"></p>
            <div class="tokens out sample" role="group" data-t-label="ft.sample"></div>
          </div>`).join('')}
        </div>
        <p class="tok-detail"></p>
        <p class="muted which-line"></p>
        <p class="muted" data-t="ft.note"></p>
        <p class="muted" data-t="ft.try"></p>
      </div>`;
    this.$('.text').value = this.getAttribute('text') ?? TIGER;
    this.$('.prompt').value = this.getAttribute('prompt') ?? 'The tiger';
    for (const f of ['steps', 'lr', 'seed']) if (this.hasAttribute(f)) this.$(`.${f}`).value = this.getAttribute(f);
    // each choice with the learning rate measured to suit it (BENCHMARKS.md, fine-tuning)
    this.$('.trains').onchange = () => { this.$('.lr').value = LR[this.$('.trains').value]; this.translated(); };
    this.$('.train').onclick = () => this.train();
    // Stop ends the training after its step in progress (or, before it, keeps it from starting)
    this.$('.stop').onclick = () => { this.stopAsked = true; if (this.training) stopTune(); stop(this.slot); };
    this.$('.reset').onclick = () => this.reset();
    this.$('.download').onclick = () => this.download();
    this.tokenDetails(this.$$('.side .out'), this.$('.tok-detail'));
    this.clear();
  }

  controls() {
    super.controls();
    // only tuned weights can be reset or are worth a download (the file itself is the original)
    const off = this.busy || !this.model?.tuned;
    this.$('.reset').disabled = off;
    this.$('.download').disabled = off;
    // tuned weights keep what trained them until Reset; a model too large trains its vectors only
    const tune = this.model?.tune;
    this.$('.trains').disabled = this.busy || !tune || this.model.tuned;
    this.$('.trains option[value="all"]').disabled = !!tune && tune.total > tune.maxParams;
  }

  /** Sets the choice of what trains to the engine's: a new model's default, or what trained the weights running now. */
  syncTrains(m) {
    const want = m?.tune?.trains;
    if (!want || this.$('.trains').value === want) return;
    this.$('.trains').value = want;
    if (!this.hasAttribute('lr')) this.$('.lr').value = LR[want];
  }

  translated() {
    this.$('.which-line').textContent = whichText(this.model, this.$('.trains').value);
    this.showAll();
  }

  /** The old weights' numbers go (another model, or another widget tuned or reset the weights). */
  modelChanged() {
    this.syncTrains(this.model);
    this.clear();
    this.clearStatus();
  }

  /** This widget's own training or reset: the weights changed as it asked. */
  ownChange(m) {
    this.$('.which-line').textContent = whichText(m, this.$('.trains').value);
    if (m.change.kind === 'reset') {
      this.show('after', null);
      this.syncTrains(m);
    }
  }

  clear() {
    this.results = { before: null, after: null };
    this.losses = [];
    this.planned = 0;
    this.$('.progress').value = 0;
    for (const side of ['before', 'after']) this.show(side, null);
    this.showAll();
    this.$('.which-line').textContent = whichText(this.model, this.$('.trains').value);
  }

  /** The loss plot and every line of numbers, again (a step arrived, or the language changed). */
  showAll() {
    lineChart(this.$('.chart'), [{ values: this.losses, cls: 'loss' }], this.planned);
    const l = this.losses;
    this.$('.losses').textContent = l.length ? t('ft.lossCaption', { first: fmt(l[0], 3), last: fmt(l.at(-1), 3), n: l.length }) : t('ft.lossEmpty');
    for (const side of ['before', 'after']) this.sums(side);
  }

  /** Shows one side's measurements (`r`: {taught, held, prompt, seed}, or null to clear the side). */
  show(side, r) {
    this.results[side] = r;
    const el = this.$(`.side[data-side="${side}"]`);
    const taught = el.querySelector('.taught');
    taught.replaceChildren();
    if (r?.taught) r.taught.pieces.forEach((p, i) => taught.append(scoredToken(p, r.taught.logprobs[i])));
    if (!r) el.querySelector('.sample').replaceChildren();
    this.sums(side);
  }

  sums(side) {
    const r = this.results[side];
    const el = this.$(`.side[data-side="${side}"]`);
    const tg = r?.taught;
    el.querySelector('.taught-sum').textContent = tg ? t('ft.taughtSum', { total: fmt(tg.total, 2), n: tg.n, ppl: fmt(tg.perplexity, 2) }) : '';
    el.querySelector('.held-sum').textContent = r?.held ? t('ft.heldSum', { ppl: fmt(r.held.perplexity, 2), n: r.held.n }) : '';
    el.querySelector('.sample-sum').textContent = r?.prompt !== undefined ? t('ft.sampleSum', { prompt: JSON.stringify(r.prompt), seed: r.seed }) : '';
  }

  /** Scores the taught text and the held-out slice, and generates from the prompt, into one side. */
  async measure(run, side, text, prompt, seed) {
    const nCtx = this.model.info.config.n_ctx;
    const r = { taught: await run(scoreLong(text, nCtx)) };
    this.show(side, r);
    const info = this.model.info;
    let parts = windowCache.get(info);
    if (!parts) {
      parts = await run(heldoutText().then((h) => windows(h, nCtx - 1)));
      windowCache.set(info, parts);
    }
    r.held = await run(scoreLong('', nCtx, parts));
    r.prompt = prompt;
    r.seed = seed;
    this.sums(side);
    await sampleInto(run, this.slot, prompt, this.$(`.side[data-side="${side}"] .sample`), { seed, temperature: 0.8, maxTokens: 40 });
    return r;
  }

  /** Measures, trains (loss live), measures again; refused (null) while a task runs. */
  train() {
    return this.task(async (run) => {
      const text = this.$('.text').value;
      if (!text.trim()) throw new Error(t('ft.empty'));
      const { steps, lr } = readTuning(this);
      const trains = this.$('.trains').value;
      const seed = Math.max(0, Math.floor(Number(this.$('.seed').value)) || 0);
      const prompt = this.$('.prompt').value;
      this.clear();
      this.planned = steps;
      this.stopAsked = false;
      await this.measure(run, 'before', text, prompt, seed);
      if (this.stopAsked) {
        this.status(t('ft.stoppedBefore'));
        this.$('.status').dataset.reason = 'stopped';
        return;
      }
      this.status(t('ft.starting'));
      this.training = true;
      const done = await run(finetune(text, { steps, lr, seed, trains, owner: this }, run.each((m) => {
        this.losses.push(m.loss);
        this.planned = m.steps;
        this.$('.progress').value = m.step / m.steps;
        this.showAll();
        const windowsNote = m.windows > 1 ? ' ' + t('ft.windows', { tokens: m.tokens, windows: m.windows }) : '';
        this.status(t('ft.step', { step: m.step, steps: m.steps, loss: fmt(m.loss, 3) }) + windowsNote);
      })).finally(() => { this.training = false; }));
      this.$('.progress').value = 1;
      this.status(t('ft.measuringAfter'));
      await this.measure(run, 'after', text, prompt, seed);
      const vars = { steps: done.steps, planned: steps, seconds: fmt(done.seconds, 1), speed: Math.round(done.tokensPerSec).toLocaleString() };
      this.status(t(done.stopped ? 'ft.stopped' : 'ft.done', vars));
      this.$('.status').dataset.reason = done.stopped ? 'stopped' : 'done';
    }, { status: t('ft.measuring') });
  }


  /** Saves the tuned weights as a GGUF file (the engine writes it). */
  download() {
    return this.task(async (run) => {
      const bytes = await run(exportTuned());
      const base = (this.model?.url ?? this.model?.name ?? 'model').split('/').pop().replace(/\.gguf$/i, '').replace(/[^\w.-]+/g, '_') || 'model';
      const name = `${base}-tuned.gguf`;
      const url = URL.createObjectURL(new Blob([bytes], { type: 'application/octet-stream' }));
      const a = document.createElement('a');
      a.href = url;
      a.download = name;
      this.root.append(a);
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(url), 60_000);
      this.status(t('ft.downloaded', { name, size: `${(bytes.length / 2 ** 20).toFixed(1)} MiB` }));
    }, { status: t('ft.exporting') });
  }
}
