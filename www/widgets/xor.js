// <gpt-xor>: back-propagation on XOR, one sample at a time. The network is drawn with its weights
// (line width = |w|, colour = sign, value on hover); Step takes one sample through the forward
// pass, the error (target - y), the backward pass and the update, starting with the chapter's
// example (1, 1) -> 0, and shows every number. Epoch, Play/Pause, a loss curve, the decision
// boundary, and an over-fitting demo on noisy XOR. The maths is Rust (src/xor.rs) in the model
// worker's wasm module (client.js: xorNew, xorStep, xorEpoch), so the page's main thread never
// instantiates the engine for it; every command answers with the network's state, drawn here.
import { GptElement, fmt } from './base.js';
import { t } from '../i18n.js';
import { newSlot, onCrash, xorNew, xorStep, xorEpoch } from '../client.js';

/** Step visits the chapter's example first. */
const ORDER = [[1, 1, 0], [0, 0, 0], [0, 1, 1], [1, 0, 1]];
/** The decision boundary's samples (an XorGrid): 45 x 45 over [-0.5, 1.5]^2. */
const GRID = { n: 45, lo: -0.5, hi: 1.5 };
const SVG = 'http://www.w3.org/2000/svg';

export class GptXor extends GptElement {
  autoload() {} // no language model needed

  build() {
    this.root.innerHTML = `
      <div class="card">
        <h3 data-t="xor.title"></h3>
        <div class="row">
          <label><span data-t="xor.lr"></span> <input class="lr" type="number" min="0.001" max="10" step="0.1" value="2"></label>
          <label><span data-t="xor.act"></span> <select class="act"><option value="sigmoid">sigmoid</option><option value="tanh">tanh</option><option value="relu">ReLU</option></select></label>
          <label><span data-t="xor.hidden"></span> <input class="hidden" type="number" min="1" max="32" step="1" value="2"></label>
          <label><span data-t="xor.layers"></span> <input class="layers" type="number" min="1" max="4" step="1" value="1"></label>
          <label><span data-t="gen.seed"></span> <input class="seed" type="number" min="0" step="1" value="1"></label>
        </div>
        <div class="row">
          <label><input class="noisy" type="checkbox"> <span data-t="xor.noisy"></span></label>
          <label><span data-t="xor.points"></span> <input class="points" type="number" min="4" max="400" step="4" value="12"></label>
          <button class="reset secondary" data-t="xor.reset"></button>
          <button class="step" data-t="xor.step"></button>
          <button class="epoch secondary" data-t="xor.epoch"></button>
          <button class="play secondary" data-t="xor.play"></button>
        </div>
        <p class="status" role="status" aria-live="polite"></p>
        <div class="cols2">
          <div><svg class="net" viewBox="0 0 420 260" role="img" data-t-label="xor.netLabel"></svg></div>
          <div class="row top">
            <figure class="plot"><canvas class="boundary" width="180" height="180" data-t-label="xor.boundaryLabel"></canvas>
              <figcaption class="muted" data-t="xor.boundary"></figcaption></figure>
            <figure class="plot"><canvas class="curve" width="220" height="180" data-t-label="xor.curveLabel"></canvas>
              <figcaption class="muted losses"></figcaption></figure>
          </div>
        </div>
        <div class="explain"></div>
      </div>`;
    this.$('.reset').onclick = () => this.reset();
    this.$('.step').onclick = () => this.step();
    this.$('.epoch').onclick = () => this.epoch(1);
    this.$('.play').onclick = () => this.togglePlay();
    for (const c of ['.act', '.hidden', '.layers', '.seed', '.noisy', '.points']) this.$(c).addEventListener('change', () => this.reset());
    /** This widget's network in the worker. */
    this.net = newSlot();
    /** The commands sent, in order: each runs once the one before has answered. */
    this.queue = Promise.resolve(true);
    this.history = [];
    this.status(t('xor.starting'));
    this.reset();
  }

  connectedCallback() {
    super.connectedCallback();
    // the network lived in the engine that crashed: a fresh one from the same settings
    this.unsubscribe.push(onCrash((c) => this.reset().then((ok) => ok && this.failed({ message: t('xor.restarted', { message: c.message }) }))));
  }

  disconnectedCallback() {
    super.disconnectedCallback();
    this.stopPlay();
  }

  /**
   * Runs `fn` after the commands before it, so that the answers are drawn in order and a click
   * never acts on a network that is being replaced; a failure is shown and stops Play. Resolves
   * to whether `fn` succeeded.
   */
  run(fn) {
    this.queue = this.queue.then(fn).then(() => true, (e) => {
      this.stopPlay();
      this.failed(e);
      return false;
    });
    return this.queue;
  }

  /** Resolves once every command sent so far has been answered and drawn (tests wait on it). */
  idle() {
    return this.queue.then(() => {});
  }

  reset() {
    this.stopPlay();
    const hidden = Math.max(1, Math.min(32, Math.floor(Number(this.$('.hidden').value)) || 2));
    const layers = Math.max(1, Math.min(4, Math.floor(Number(this.$('.layers').value)) || 1));
    const settings = {
      sizes: [2, ...Array(layers).fill(hidden), 1], activation: this.$('.act').value,
      seed: Math.max(0, Math.floor(Number(this.$('.seed').value)) || 0),
      noisy: this.$('.noisy').checked, points: Math.floor(Number(this.$('.points').value)) || 12, dataSeed: 7,
    };
    return this.run(async () => {
      const m = await xorNew(this.net, settings, GRID);
      this.data = m.data;
      this.next = 0;
      this.history = [];
      this.last = null;
      this.status('');
      this.show(m);
      this.$('.explain').replaceChildren();
    });
  }

  lr() {
    return Number(this.$('.lr').value);
  }

  step() {
    return this.run(async () => {
      const m = await xorStep(this.net, ORDER[this.next % ORDER.length], this.lr(), GRID);
      this.next += 1;
      this.last = m.trace;
      this.show(m);
      this.explain(m.trace);
    });
  }

  epoch(n) {
    return this.run(async () => {
      const m = await xorEpoch(this.net, n, this.lr(), GRID);
      this.last = null;
      this.show(m);
    });
  }

  stopPlay() {
    this.playing = false;
    this.$('.play').textContent = t('xor.play');
  }

  /** Ten epochs a frame, one request in flight at a time, until Pause (or a failure). */
  togglePlay() {
    if (this.playing) { this.stopPlay(); return; }
    // this run's token: a Pause then Play while a frame is in flight starts one loop, not two
    const playing = (this.playing = {});
    this.$('.play').textContent = t('xor.pause');
    const tick = async () => {
      if (this.playing !== playing || !this.isConnected) return;
      if (await this.epoch(10)) requestAnimationFrame(tick);
    };
    tick();
  }

  /** The network's state from the worker's answer, drawn. */
  show(m) {
    this.weights = m.weights;
    this.losses = m.losses;
    this.grid = m.grid;
    this.record();
    this.draw();
  }

  record() {
    const l = this.losses;
    this.history.push(l);
    if (this.history.length > 2000) this.history.splice(0, this.history.length - 2000);
    this.$('.losses').textContent = this.lossText(l);
  }

  lossText(l) {
    return l.test === null ? t('xor.loss', { train: fmt(l.train, 4) }) : t('xor.lossTest', { train: fmt(l.train, 4), test: fmt(l.test, 4) });
  }

  translated() {
    if (!this.weights) return;
    this.$('.play').textContent = t(this.playing ? 'xor.pause' : 'xor.play');
    if (this.history.length) this.$('.losses').textContent = this.lossText(this.losses);
    if (this.last) this.explain(this.last);
  }

  draw() {
    this.drawNet(this.weights, this.last);
    this.drawBoundary();
    this.drawCurve();
  }

  drawNet(net, trace) {
    const svg = this.$('.net');
    svg.replaceChildren();
    const W = 420, H = 260;
    const cols = net.sizes.length;
    const pos = net.sizes.map((n, l) => Array.from({ length: n }, (_, i) => [40 + (l * (W - 80)) / (cols - 1), H / 2 + (i - (n - 1) / 2) * Math.min(60, (H - 40) / n)]));
    const maxW = Math.max(1e-9, ...net.layers.flatMap((L) => L.w.flat().map(Math.abs)));
    net.layers.forEach((L, l) => L.w.forEach((row, o) => row.forEach((w, i) => {
      const line = document.createElementNS(SVG, 'line');
      const [x1, y1] = pos[l][i];
      const [x2, y2] = pos[l + 1][o];
      Object.entries({ x1, y1, x2, y2, 'stroke-width': 0.5 + (5 * Math.abs(w)) / maxW, stroke: w >= 0 ? 'rgb(220,110,20)' : 'rgb(10,88,168)' }).forEach(([k, v]) => line.setAttribute(k, v));
      line.dataset.weight = `${l}.${o}.${i}`;
      const title = document.createElementNS(SVG, 'title');
      const g = trace ? ` ${t('xor.gradTip', { g: fmt(trace.grad_w[l][o][i], 5), u: fmt(-this.lr() * trace.grad_w[l][o][i], 5) })}` : '';
      title.textContent = `w = ${fmt(w, 4)}${g}`;
      line.append(title);
      svg.append(line);
    })));
    net.sizes.forEach((n, l) => pos[l].forEach(([x, y], i) => {
      const c = document.createElementNS(SVG, 'circle');
      Object.entries({ cx: x, cy: y, r: 15, fill: 'var(--card)', stroke: 'var(--fg)' }).forEach(([k, v]) => c.setAttribute(k, v));
      svg.append(c);
      if (trace && net.sizes.length <= 4 && n <= 4) {
        const txt = document.createElementNS(SVG, 'text');
        Object.entries({ x, y: y + 4, 'text-anchor': 'middle', 'font-size': 10, fill: 'var(--fg)' }).forEach(([k, v]) => txt.setAttribute(k, v));
        txt.textContent = fmt(trace.a[l][i], 2);
        svg.append(txt);
      }
      if (l === 0 || l === net.sizes.length - 1) {
        const lab = document.createElementNS(SVG, 'text');
        Object.entries({ x: l === 0 ? x - 22 : x + 22, y: y + 4, 'text-anchor': l === 0 ? 'end' : 'start', 'font-size': 12, fill: 'var(--muted)' }).forEach(([k, v]) => lab.setAttribute(k, v));
        lab.textContent = l === 0 ? `x${i + 1}` : 'y';
        svg.append(lab);
      }
    }));
  }

  drawBoundary() {
    const c = this.$('.boundary');
    const ctx = c.getContext('2d');
    const { n, lo, hi } = GRID;
    const g = this.grid;
    const cell = c.width / n;
    for (let r = 0; r < n; r++) for (let k = 0; k < n; k++) {
      const v = g[r * n + k];
      ctx.fillStyle = `rgb(${Math.round(10 + 210 * v)}, ${Math.round(88 + 22 * v)}, ${Math.round(168 - 148 * v)})`;
      ctx.fillRect(k * cell, r * cell, cell + 1, cell + 1);
    }
    const { train, test } = this.data;
    const px = (x) => ((x - lo) / (hi - lo)) * c.width;
    for (const [[x, y], label] of [...test.map((d) => [...d, true]), ...train.map((d) => [...d, false])].map(([p, l, isTest]) => [p, l, isTest])) {
      ctx.beginPath();
      ctx.arc(px(x), c.height - px(y), 3.5, 0, 2 * Math.PI);
      ctx.fillStyle = label ? '#fff' : '#000';
      ctx.fill();
      ctx.strokeStyle = label ? '#000' : '#fff';
      ctx.stroke();
    }
  }

  drawCurve() {
    const c = this.$('.curve');
    const ctx = c.getContext('2d');
    ctx.clearRect(0, 0, c.width, c.height);
    const hs = this.history;
    const max = Math.max(0.13, ...hs.map((h) => Math.max(h.train, h.test ?? 0)));
    ctx.strokeStyle = '#8888';
    ctx.strokeRect(0.5, 0.5, c.width - 1, c.height - 1);
    for (const [key, colour] of [['train', 'rgb(220,110,20)'], ['test', 'rgb(10,88,168)']]) {
      ctx.beginPath();
      ctx.strokeStyle = colour;
      ctx.lineWidth = 2;
      hs.forEach((h, i) => {
        if (h[key] === null || h[key] === undefined) return;
        const x = (i / Math.max(1, hs.length - 1)) * (c.width - 4) + 2;
        const y = c.height - 2 - (h[key] / max) * (c.height - 4);
        i ? ctx.lineTo(x, y) : ctx.moveTo(x, y);
      });
      ctx.stroke();
    }
  }

  /** The step's numbers, in the order the chapter tells them. */
  explain(tr) {
    const box = this.$('.explain');
    const lr = this.lr();
    const v = (a) => `[${a.map((x) => fmt(x, 4)).join(', ')}]`;
    const rows = [
      ['xor.input', `x = (${tr.input.join(', ')}), ${t('xor.target')} = ${tr.target}`, 'input'],
      ...tr.z.map((z, l) => [l === tr.z.length - 1 ? 'xor.outLayer' : 'xor.hiddenLayer', `z = ${v(z)} → a = ${v(tr.a[l + 1])}`, `forward-${l}`, { n: l + 1 }]),
      ['xor.error', `${t('xor.target')} − y = ${tr.target} − ${fmt(tr.y, 4)} = ${fmt(tr.error, 4)}; ${t('xor.lossIs')} ${fmt(tr.loss, 5)}`, 'error'],
      ...tr.delta.map((d, l) => ['xor.delta', `δ = ${v(d)}`, `delta-${l}`, { n: l + 1 }]).reverse(),
      ...tr.grad_w.map((g, l) => ['xor.update', g.map((row, o) => row.map((x, i) => `w${o + 1}${i + 1}: ${fmt(tr.before[l].w[o][i], 4)} → ${fmt(tr.after[l].w[o][i], 4)} (−${lr}×${fmt(x, 5)})`).join('; ')).join('; '), `update-${l}`, { n: l + 1 }]),
    ];
    const table = document.createElement('table');
    for (const [key, text, id, vars] of rows) {
      const tr_ = document.createElement('tr');
      tr_.dataset.part = id;
      const th = document.createElement('th');
      th.textContent = t(key, vars);
      const td = document.createElement('td');
      td.textContent = text;
      td.style.fontFamily = 'ui-monospace, monospace';
      tr_.append(th, td);
      table.append(tr_);
    }
    box.replaceChildren(table);
    this.trace = tr;
  }
}
