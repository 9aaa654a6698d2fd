// <gpt-attention>: where each token looks. One T x T heatmap per layer and head (rows: the token
// that attends; columns: the tokens it attends to; the masked future is hatched), a layers x heads
// grid of thumbnails to choose from, the value under the pointer, and, while the model writes,
// each new token's row added live. Long texts show a window of rows around the selected token.
import { GptElement, showPiece, fmt } from './base.js';
import { t } from '../i18n.js';
import { inspect, generate, stop, newSlot } from '../client.js';

const WINDOW = 32;

/** Attention as jagged rows: rows[layer][head][i] holds the weights of query i over keys 0..i. */
function toRows(a) {
  const rows = [];
  for (let l = 0; l < a.layers; l++) {
    rows.push([]);
    for (let h = 0; h < a.heads; h++) {
      const m = [];
      for (let r = 0; r < a.rows; r++) {
        const off = ((l * a.heads + h) * a.rows + r) * a.cols;
        m.push(a.data.slice(off, off + a.row0 + r + 1));
      }
      rows[l].push(m);
    }
  }
  return rows;
}

export class GptAttention extends GptElement {
  build() {
    this.genSlot = newSlot();
    // the model's own counts are not known yet: set() clamps from above
    this.layer = this.int('layer', 0, 0, 1023);
    this.head = this.int('head', 0, 0, 1023);
    this.root.innerHTML = `
      <div class="card">
        <h3 data-t="att.title"></h3>
        <div class="row">
          <label class="grow"><span data-t="att.text"></span> <input class="text grow" type="text"></label>
          <button class="run" data-run data-t="att.run"></button>
          <button class="gen secondary" data-run data-t="att.gen"></button>
          <button class="stop secondary" data-stop data-t="gen.stop"></button>
        </div>
        <p class="status" role="status" aria-live="polite"></p>
        <div class="cols2">
          <div>
            <div class="row"><strong class="which"></strong>
              <label><span data-t="att.focus"></span> <input class="focus" type="range" min="0" max="0" value="0"></label>
              <label><input class="rowscale" type="checkbox" checked> <span data-t="att.rowScale"></span></label></div>
            <canvas class="map" width="520" height="520" tabindex="0" data-t-label="att.mapLabel"></canvas>
            <p class="readout muted" aria-live="polite"></p>
          </div>
          <div>
            <p class="muted" data-t="att.pick"></p>
            <div class="grid" role="group" data-t-label="att.grid"></div>
            <p class="muted" data-t="att.legend"></p>
          </div>
        </div>
      </div>`;
    this.$('.text').value = this.getAttribute('text') ?? 'The king is dead. Long live the king!';
    this.$('.run').onclick = () => this.analyse();
    this.$('.gen').onclick = () => this.generate();
    this.$('.stop').onclick = () => stop(this.genSlot);
    this.$('.focus').oninput = () => { this.focus = Number(this.$('.focus').value); this.draw(); };
    this.$('.rowscale').onchange = () => { if (this.rows) { this.buildGrid(); this.draw(); } };
    const map = this.$('.map');
    map.addEventListener('mousemove', (e) => this.hover(e));
    map.addEventListener('keydown', (e) => this.key(e));
  }

  /** The maps were the old model's: cleared, and the text analysed again by the new one. */
  modelChanged() {
    this.rows = null;
    this.geom = null;
    this.cursor = null;
    this.$('.grid').replaceChildren();
    this.$('.which').textContent = '';
    this.$('.readout').textContent = '';
    const map = this.$('.map');
    map.getContext('2d').clearRect(0, 0, map.width, map.height);
    this.whenIdle(() => this.analyse());
  }

  select(layer, head) {
    this.layer = layer;
    this.head = head;
    this.dispatchEvent(new CustomEvent('select', { bubbles: true, composed: true, detail: { layer, head } }));
    this.draw();
  }

  analyse() {
    return this.task(async (run) => {
      const r = await run(inspect(this.$('.text').value, 1));
      this.set(r.pieces, r.attention);
    });
  }

  set(pieces, attention) {
    this.pieces = [...pieces];
    this.rows = toRows(attention);
    this.layers = attention.layers;
    this.heads = attention.heads;
    this.layer = Math.min(this.layer, this.layers - 1);
    this.head = Math.min(this.head, this.heads - 1);
    this.focus = this.pieces.length - 1;
    this.buildGrid();
    this.draw();
  }

  generate() {
    return this.task(async (run) => {
      await run(generate(this.genSlot, this.$('.text').value, { temperature: 0.8, topK: 40, topP: 0.95, seed: 7, topN: 1, attention: true }, this.int('tokens', 24, 1, 2048), run.each((m) => {
        if (m.status === 'prompt') this.set(m.pieces, m.attention);
        else if (m.status === 'token' && m.attention) {
          this.pieces.push(m.piece);
          const a = m.attention;
          for (let l = 0; l < a.layers; l++) for (let h = 0; h < a.heads; h++) {
            const off = (l * a.heads + h) * a.cols;
            this.rows[l][h].push(a.data.slice(off, off + a.cols));
          }
          this.focus = this.pieces.length - 1;
          this.buildGrid();
          this.draw();
        }
      })));
    });
  }

  /** The rows shown: a window of up to WINDOW tokens ending at the focused token. */
  window() {
    const end = Math.min(this.focus ?? 0, this.pieces.length - 1) + 1;
    const start = Math.max(0, end - WINDOW);
    return [start, end];
  }

  buildGrid() {
    const grid = this.$('.grid');
    grid.style.display = 'grid';
    grid.style.gridTemplateColumns = `repeat(${this.heads}, minmax(0, 48px))`;
    grid.style.gap = '3px';
    grid.replaceChildren();
    const [start, end] = this.window();
    for (let l = 0; l < this.layers; l++) for (let h = 0; h < this.heads; h++) {
      const b = document.createElement('button');
      b.className = 'thumb secondary';
      b.style.padding = '1px';
      b.dataset.layer = l;
      b.dataset.head = h;
      b.setAttribute('aria-label', t('att.which', { l: l + 1, h: h + 1 }));
      b.title = t('att.which', { l: l + 1, h: h + 1 });
      const c = document.createElement('canvas');
      c.width = c.height = 44;
      c.style.display = 'block';
      this.paint(c.getContext('2d'), this.rows[l][h], start, end, 44 / (end - start), 0, 0, false);
      b.append(c);
      b.onclick = () => this.select(l, h);
      grid.append(b);
    }
    this.$('.focus').max = this.pieces.length - 1;
    this.$('.focus').value = this.focus;
  }

  /** Paints rows start..end of one head's matrix as cells of `cell` px at (x0, y0); with
   * "scale each row" on, a row's largest weight is the darkest (the readout stays exact). */
  paint(ctx, m, start, end, cell, x0, y0, hatch) {
    const n = end - start;
    const rowScale = this.$('.rowscale').checked;
    ctx.clearRect(x0, y0, n * cell, n * cell);
    for (let i = 0; i < n; i++) {
      const q = start + i;
      const top = rowScale ? Math.max(...m[q]) || 1 : 1;
      for (let j = 0; j < n; j++) {
        const k = start + j;
        if (k > q) {
          ctx.fillStyle = hatch ? ((i + j) % 2 ? '#8883' : '#8881') : '#8882';
        } else {
          ctx.fillStyle = `rgba(10, 88, 168, ${(m[q][k] / top).toFixed(3)})`;
        }
        ctx.fillRect(x0 + j * cell, y0 + i * cell, cell, cell);
      }
    }
  }

  draw() {
    if (!this.rows) return;
    for (const b of this.$$('.thumb')) b.style.outline = Number(b.dataset.layer) === this.layer && Number(b.dataset.head) === this.head ? '3px solid var(--accent)' : '';
    this.$('.which').textContent = t('att.which', { l: this.layer + 1, h: this.head + 1 });
    const [start, end] = this.window();
    const n = end - start;
    const canvas = this.$('.map');
    const ctx = canvas.getContext('2d');
    const label = 90;
    const cell = Math.max(8, Math.min(28, Math.floor((canvas.width - label) / n)));
    this.geom = { start, end, cell, label };
    ctx.clearRect(0, 0, canvas.width, canvas.height);
    this.paint(ctx, this.rows[this.layer][this.head], start, end, cell, label, label, true);
    ctx.fillStyle = getComputedStyle(this).getPropertyValue('--fg') || '#000';
    ctx.font = `${Math.min(12, cell)}px ui-monospace, monospace`;
    ctx.textBaseline = 'middle';
    for (let i = 0; i < n; i++) {
      const p = showPiece(this.pieces[start + i]).slice(0, 10);
      ctx.textAlign = 'right';
      ctx.fillText(p, label - 4, label + (i + 0.5) * cell);
      ctx.save();
      ctx.translate(label + (i + 0.5) * cell, label - 4);
      ctx.rotate(-Math.PI / 2);
      ctx.textAlign = 'left';
      ctx.fillText(p, 0, 0);
      ctx.restore();
    }
  }

  /** Shows the weight under the pointer; `data-*` on the readout hold the exact numbers. */
  show(i, j) {
    const { start } = this.geom;
    const q = start + i;
    const k = start + j;
    const r = this.$('.readout');
    const v = k <= q ? this.rows[this.layer][this.head][q][k] : null;
    Object.assign(r.dataset, { layer: this.layer, head: this.head, row: q, col: k, value: v ?? 'masked' });
    r.textContent = v === null
      ? t('att.masked', { q: showPiece(this.pieces[q]), k: showPiece(this.pieces[k]) })
      : t('att.value', { q: showPiece(this.pieces[q]), qi: q, k: showPiece(this.pieces[k]), ki: k, v: fmt(v, 4) });
    this.cursor = [i, j];
  }

  hover(e) {
    if (!this.geom) return;
    const rect = this.$('.map').getBoundingClientRect();
    const scale = this.$('.map').width / rect.width;
    const x = (e.clientX - rect.left) * scale - this.geom.label;
    const y = (e.clientY - rect.top) * scale - this.geom.label;
    const n = this.geom.end - this.geom.start;
    const i = Math.floor(y / this.geom.cell);
    const j = Math.floor(x / this.geom.cell);
    if (i >= 0 && j >= 0 && i < n && j < n) this.show(i, j);
  }

  /** Arrow keys move a cursor over the cells, for keyboard readers. */
  key(e) {
    if (!this.geom) return;
    const n = this.geom.end - this.geom.start;
    let [i, j] = this.cursor || [n - 1, 0];
    if (e.key === 'ArrowUp') i--; else if (e.key === 'ArrowDown') i++;
    else if (e.key === 'ArrowLeft') j--; else if (e.key === 'ArrowRight') j++;
    else return;
    e.preventDefault();
    this.show(Math.max(0, Math.min(n - 1, i)), Math.max(0, Math.min(n - 1, j)));
  }
}
