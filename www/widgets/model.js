// <gpt-model>: choose and load a model (shipped, URL, or local file by picker or drag-and-drop)
// and see its card, computed from the loaded file: parameters by part, hyper-parameters, bytes by
// tensor type, and its size on a log scale against famous models. One load at a time.
import { GptElement, fmt } from './base.js';
import { t } from '../i18n.js';
import { loadModel, ensureModel, shippedModels, model, MODELS_URL, onCrash, wontFit } from '../client.js';

/** Published parameter counts (GPT-1: Radford et al. 2018; GPT-2: 2019; GPT-3: Brown et al. 2020). */
const FAMOUS = [['GPT-1', 117e6], ['GPT-2 small', 124e6], ['GPT-2 XL', 1.5e9], ['GPT-3', 175e9]];

function bytes(n) {
  return n >= 1 << 20 ? `${(n / (1 << 20)).toFixed(1)} MiB` : `${(n / 1024).toFixed(0)} KiB`;
}

/** Every tensor type of a file, largest first: "Q4_K 82.0 MiB (49 tensors) · Q6_K 40.0 MiB (1 tensor) · …". */
function typesText(bytesByType) {
  return [...bytesByType].sort((a, b) => b[1] - a[1])
    .map(([type, b, n]) => t(n === 1 ? 'model.typeBytes.1' : 'model.typeBytes', { type, size: bytes(b), n }))
    .join(' · ');
}

export class GptModel extends GptElement {
  constructor() {
    super();
    this.needsModel = false; // its controls are how a model arrives
  }

  build() {
    // the engine crashed somewhere on the page: say so here, and what came of the restart
    onCrash(({ message, reloaded, tunedLost }) => {
      this.showCrash('crash.restarting', { message });
      reloaded.then(
        // fine-tuned weights lived only in the dead engine: what came back is the file as it was loaded
        (m) => (m ? this.showCrash(tunedLost ? 'crash.reloadedTuned' : 'crash.reloaded', { message, name: m.name }) : this.showCrash('crash.restarted', { message })),
        (e) => this.showCrash('crash.failed', { message, error: e.message }),
      );
    });
    this.root.innerHTML = `
      <div class="card">
        <h3 data-t="model.title"></h3>
        <div class="row drop">
          <label><span data-t="model.pick"></span> <select class="pick" data-run></select></label>
          <button class="load" data-run data-t="model.load"></button>
          <label class="grow"><span class="sr-only" data-t="model.url"></span>
            <input class="url grow" type="url" data-t-ph="model.url" data-t-label="model.url"></label>
          <button class="load-url secondary" data-run data-t="model.loadUrl"></button>
          <label><span data-t="model.file"></span> <input class="file" type="file" accept=".gguf" data-run></label>
        </div>
        <progress class="progress" max="1" value="0" aria-label="download"></progress>
        <p class="status" role="status" aria-live="polite"></p>
        <p class="notice error" role="alert" hidden></p>
        <div class="ask row" role="alert" hidden><span class="ask-text"></span>
          <button class="ask-yes" data-t="model.askYes"></button> <button class="ask-no secondary" data-t="model.askNo"></button></div>
        <p class="tuned-note" role="status" hidden></p>
        <div class="card-body" hidden>
          <div class="cols2">
            <div>
              <table class="hyper"><caption class="sr-only" data-t="model.hyper"></caption><tbody></tbody></table>
              <p class="muted types"></p>
            </div>
            <div>
              <table class="parts"><thead><tr><th data-t="model.part"></th><th data-t="model.params"></th><th></th></tr></thead><tbody></tbody></table>
            </div>
          </div>
          <p class="trained muted"></p>
          <h3 data-t="model.scale"></h3>
          <div class="bars scale"></div>
          <p class="muted" data-t="model.scaleNote"></p>
        </div>
      </div>`;
    this.$('.load').onclick = () => this.load({ url: this.$('.pick').value, name: this.$('.pick').selectedOptions[0]?.textContent });
    this.$('.load-url').onclick = () => { const url = this.$('.url').value.trim(); if (url) this.load({ url, name: url }); };
    this.$('.file').onchange = (e) => { const f = e.target.files[0]; if (f) this.load({ file: f, name: f.name }); };
    const drop = this.$('.drop');
    drop.addEventListener('dragover', (e) => { e.preventDefault(); drop.classList.add('over'); });
    drop.addEventListener('dragleave', () => drop.classList.remove('over'));
    drop.addEventListener('drop', (e) => {
      e.preventDefault();
      drop.classList.remove('over');
      const f = e.dataTransfer.files[0];
      if (f) this.load({ file: f, name: f.name });
    });
    shippedModels().then((list) => {
      for (const m of list) {
        const o = document.createElement('option');
        o.value = m.url;
        o.textContent = m.name;
        this.$('.pick').append(o);
      }
      if (model.current?.url) this.$('.pick').value = model.current.url;
    });
    this.status(t('model.none'));
  }

  autoload() {
    // the page's model: ?model=URL, else the `model` attribute, else the first shipped one
    const asked = new URLSearchParams(location.search).get('model');
    // A link can name any URL: a model from another origin is downloaded only once the reader
    // says yes, knowing its size; meanwhile the page runs the shipped model.
    if (asked && new URL(asked, location.href).origin !== location.origin) {
      this.ask(new URL(asked, location.href).href);
      this.track((progress) => ensureModel(this.getAttribute('model') || undefined, progress), '');
      return;
    }
    const url = asked || this.getAttribute('model');
    this.track((progress) => ensureModel(url || undefined, progress), url || '');
  }

  /** For a shipped model, what it was trained on and how well it does, from model-card.json. */
  async showCard(m) {
    const p = this.$('.trained');
    p.textContent = '';
    if (!m.url) return;
    try {
      const r = await fetch(new URL('./model-card.json', MODELS_URL));
      if (!r.ok) return;
      const card = await r.json();
      const e = card.evaluation.find((x) => new URL(x.file, MODELS_URL).href === m.url);
      if (!e) return;
      p.textContent = t('model.trained', {
        tokens: (card.training.tokensSeen / 1e6).toFixed(1), date: card.training.exported,
        npc: fmt(e.natsPerChar, 3), ppl: fmt(e.perplexity, 1),
      });
    } catch { /* no card: nothing to add */ }
  }

  /** Runs `start(progress)`, a load, as this widget's task; a failure says which model is still in use. */
  track(start, name) {
    return this.task(async () => {
      this.$('.progress').value = 0;
      // its size as it arrives, and once its header is in, which tensor types the file holds
      const progress = (loaded, total, header, source) => {
        this.$('.progress').value = total ? loaded / total : 0;
        const key = source === 'network' ? 'model.downloading' : 'model.reading';
        const text = t(key, { loaded: bytes(loaded), total: total ? bytes(total) : '?' });
        this.status(header?.bytesByType?.length ? t('model.progressTypes', { progress: text, types: typesText(header.bytesByType) }) : text);
      };
      try {
        await start(progress);
      } catch (e) {
        const keep = model.current ? ' ' + t('model.kept', { name: model.current.name }) : '';
        throw new Error(t('model.failed', { message: e.message }) + keep);
      }
      // the model already loaded announces nothing: show its card again
      if (this.loaded) this.render();
    }, { status: t('model.loading', { name }) });
  }

  load(source) {
    return this.track((progress) => loadModel(source, progress), source.name);
  }

  modelChanged(m) {
    this.loaded = m;
    this.$('.progress').value = 1;
    this.render();
  }

  /** Asks before downloading `url` (another origin), with its size when the server says it; a
   * file that cannot fit in the engine's memory is not offered at all (the worker would refuse it
   * before reading its body anyway). */
  async ask(url) {
    const box = this.$('.ask');
    const origin = new URL(url).origin;
    const show = (size, why = null) => {
      this.asking = { origin, size, why };
      this.showAsk();
    };
    show(null);
    box.hidden = false;
    this.$('.ask-yes').onclick = () => { box.hidden = true; this.asking = null; this.load({ url, name: url.split('/').pop() }); };
    this.$('.ask-no').onclick = () => { box.hidden = true; this.asking = null; };
    try {
      const r = await fetch(url, { method: 'HEAD' });
      // a compressed body's length is not the file's
      const encoded = (r.headers.get('content-encoding') ?? 'identity').toLowerCase() !== 'identity';
      const n = encoded ? 0 : Number(r.headers.get('content-length'));
      if (!r.ok || !(n > 0) || !this.asking) return;
      const why = await wontFit(n).catch(() => null);
      if (this.asking) show(n, why);
    } catch { /* no size: the question says so */ }
  }

  showAsk() {
    const { origin, size, why } = this.asking;
    const vars = { origin, size: size ? bytes(size) : t('model.sizeUnknown'), why };
    this.$('.ask-text').textContent = t(why ? 'model.askTooBig' : 'model.ask', vars);
    this.$('.ask-yes').hidden = !!why;
  }

  showCrash(key, vars) {
    this.crash = { key, vars };
    const n = this.$('.notice');
    n.hidden = false;
    n.textContent = t(key, vars);
  }

  translated() {
    if (this.crash) this.showCrash(this.crash.key, this.crash.vars);
    if (this.asking) this.showAsk();
    if (this.loaded) this.render();
  }

  render() {
    const m = this.loaded;
    const { config: c, params: p } = m.info;
    const threads = m.threads > 1 ? t('model.threads.n', { n: m.threads }) : t('model.threads.1');
    this.status(t('model.loaded', { name: m.name, source: t(`model.source.${m.source}`), seconds: fmt(m.seconds, 2), threads }));
    const note = this.$('.tuned-note');
    note.hidden = !m.tuned;
    note.textContent = m.tuned ? t('model.tuned', { which: t(m.tune?.trains === 'vectors' ? 'tune.shortVectors' : 'tune.shortAll') }) : '';
    this.$('.card-body').hidden = false;
    if (m.url) this.$('.pick').value = m.url;
    const rows = [['model.layers', c.n_layer], ['model.heads', c.n_head], ['model.width', c.n_embd], ['model.ff', c.n_ff],
      ['model.context', c.n_ctx], ['model.vocab', c.n_vocab]];
    this.$('.hyper tbody').innerHTML = '';
    for (const [k, v] of rows) {
      const tr = document.createElement('tr');
      tr.innerHTML = `<th></th><td class="num"></td>`;
      tr.children[0].textContent = t(k);
      tr.children[1].textContent = v.toLocaleString();
      this.$('.hyper tbody').append(tr);
    }
    this.$('.types').textContent = t('model.bytes') + ' ' + typesText(m.info.bytesByType);
    const parts = [['model.embeddings', p.embeddings], ['model.attention', p.attention], ['model.mlp', p.mlp], ['model.norms', p.norms], ['model.head', p.head]];
    const body = this.$('.parts tbody');
    body.innerHTML = '';
    for (const [k, v] of [...parts.filter(([, v]) => v > 0), ['model.total', p.total]]) {
      const tr = document.createElement('tr');
      tr.innerHTML = `<td></td><td class="num"></td><td class="muted"></td>`;
      tr.children[0].textContent = t(k);
      tr.children[1].textContent = v.toLocaleString();
      tr.children[2].textContent = `${((100 * v) / p.total).toFixed(1)}%`;
      body.append(tr);
    }
    this.showCard(m);
    // log scale from 10^5 to 10^12 parameters
    const scale = this.$('.scale');
    scale.innerHTML = '';
    const pos = (n) => Math.max(1, ((Math.log10(n) - 5) / 7) * 100);
    for (const [name, n] of [[t('model.this'), p.total], ...FAMOUS]) {
      const label = document.createElement('span');
      label.textContent = name;
      const bar = document.createElement('div');
      bar.className = 'bar';
      bar.style.width = `${pos(n)}%`;
      const num = document.createElement('span');
      num.className = 'muted';
      num.textContent = n >= 1e9 ? `${(n / 1e9).toFixed(1)}B` : `${(n / 1e6).toFixed(n < 1e7 ? 2 : 0)}M`;
      scale.append(label, bar, num);
    }
  }
}
