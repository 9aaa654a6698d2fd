// <gpt-transformer>: the decoder, live. The stack is drawn with the loaded model's real number of
// layers; clicking a box shows that stage's real numbers for the reader's text (each position's
// vector as a strip of its first channels, and its length). Beside it, GPT's decoder-only design
// next to the original encoder-decoder transformer.
import { GptElement, showPiece, fmt } from './base.js';
import { t } from '../i18n.js';
import { inspect } from '../client.js';

const BLOCK_STAGES = [
  ['ln_1', 'tf.ln1'], ['attention', 'tf.attn'], ['attn_out', 'tf.attnOut'], ['resid_mid', 'tf.add1'],
  ['ln_2', 'tf.ln2'], ['mlp_out', 'tf.mlp'], ['resid_out', 'tf.add2'],
];

export class GptTransformer extends GptElement {
  build() {
    this.root.innerHTML = `
      <div class="card">
        <h3 data-t="tf.title"></h3>
        <div class="row">
          <label class="grow"><span data-t="att.text"></span> <input class="text grow" type="text"></label>
          <button class="run" data-run data-t="tf.run"></button>
        </div>
        <p class="status" role="status" aria-live="polite"></p>
        <div class="cols2">
          <div class="stack" role="group" data-t-label="tf.stack"></div>
          <div><h3 class="detail-title"></h3><div class="detail"></div></div>
        </div>
        <h3 data-t="tf.compare"></h3>
        <div class="cols2 arch">
          <div><strong data-t="tf.original"></strong><div class="orig"></div></div>
          <div><strong data-t="tf.gpt"></strong><div class="gptd"></div><p class="muted" data-t="tf.gptNote"></p></div>
        </div>
      </div>`;
    this.$('.text').value = this.getAttribute('text') ?? 'To be, or not to be';
    this.$('.run').onclick = () => this.run();
    this.drawArch();
  }

  /** The two architectures as the chapter draws them, bottom to top. */
  drawArch() {
    const box = (keys, label) => {
      const d = document.createElement('div');
      d.style.cssText = 'border:1px solid var(--border);border-radius:6px;padding:0.3rem 0.5rem;margin:0.3rem 0;background:var(--bg)';
      if (label) {
        const l = document.createElement('div');
        l.className = 'muted';
        l.textContent = label;
        d.append(l);
      }
      for (const k of keys) {
        const s = document.createElement('div');
        s.style.cssText = 'border:1px solid var(--border);border-radius:4px;margin:2px 0;padding:0 0.4rem;font-size:13px';
        s.textContent = t(k);
        d.append(s);
      }
      return d;
    };
    const line = (k) => { const p = document.createElement('div'); p.style.fontSize = '13px'; p.textContent = t(k); return p; };
    const orig = this.$('.orig');
    orig.replaceChildren(
      line('tf.d.outProb'),
      box(['tf.d.mmha', 'tf.d.addnorm', 'tf.d.cross', 'tf.d.addnorm', 'tf.d.ff', 'tf.d.addnorm'], t('tf.d.decoderN')),
      line('tf.d.outputs'),
      box(['tf.d.mha', 'tf.d.addnorm', 'tf.d.ff', 'tf.d.addnorm'], t('tf.d.encoderN')),
      line('tf.d.inputs'),
    );
    this.$('.gptd').replaceChildren(
      line('tf.d.nextProb'),
      box(['tf.d.mmha', 'tf.d.addnorm', 'tf.d.ff', 'tf.d.addnorm'], t('tf.d.decoderN')),
      line('tf.d.tokens'),
    );
  }

  /** The stack and its numbers were the old model's: cleared, and the text run again. */
  modelChanged() {
    this.data = null;
    this.$('.stack').replaceChildren();
    this.$('.detail-title').textContent = '';
    this.$('.detail').replaceChildren();
    this.whenIdle(() => this.run());
  }

  translated() {
    this.drawArch();
    if (!this.data) return;
    this.drawStack();
    this.open(this.selected || 'tokens');
  }

  run() {
    return this.task(async (run) => {
      this.data = await run(inspect(this.$('.text').value, 64));
      this.drawStack();
      // a stage of a block the new model does not have: back to the tokens
      const layer = this.selected?.startsWith('blk.') ? Number(this.selected.split('.')[1]) : -1;
      this.open(this.selected && layer < this.data.attention.layers ? this.selected : 'tokens');
    });
  }

  box(key, label, indent = 0) {
    const b = document.createElement('button');
    b.className = 'secondary stage';
    b.dataset.stage = key;
    b.textContent = label;
    b.style.margin = '2px';
    b.style.fontSize = '13px';
    if (!indent) { b.style.display = 'block'; b.style.width = '100%'; }
    b.onclick = () => this.open(key);
    return b;
  }

  drawStack() {
    const stack = this.$('.stack');
    stack.replaceChildren();
    const layers = this.data.attention.layers;
    stack.append(this.box('softmax', t('tf.softmax')), this.box('logits', t('tf.linear')), this.box('ln_f', t('tf.lnf')));
    for (let l = layers - 1; l >= 0; l--) {
      const g = document.createElement('fieldset');
      g.style.border = '1px solid var(--border)';
      g.style.borderRadius = '6px';
      g.style.margin = '4px 0';
      const legend = document.createElement('legend');
      legend.textContent = t('tf.block', { n: l + 1, of: layers });
      g.append(legend);
      for (const [k, label] of BLOCK_STAGES) g.append(this.box(`blk.${l}.${k}`, t(label), 1));
      stack.append(g);
    }
    stack.append(this.box('position_embedding', t('tf.pos')), this.box('token_embedding', t('tf.tok')), this.box('tokens', t('tf.tokens')));
  }

  open(key) {
    this.selected = key;
    for (const b of this.$$('.stage')) b.style.outline = b.dataset.stage === key ? '3px solid var(--accent)' : '';
    const d = this.data;
    const detail = this.$('.detail');
    detail.replaceChildren();
    const title = this.$('.detail-title');
    const stage = d.stages.find((s) => s.name === key);
    if (key === 'tokens') {
      title.textContent = t('tf.tokens');
      const tbl = document.createElement('table');
      tbl.innerHTML = `<thead><tr><th>#</th><th>${t('tf.piece')}</th><th>id</th></tr></thead>`;
      d.pieces.forEach((p, i) => {
        const tr = document.createElement('tr');
        tr.innerHTML = '<td class="num"></td><td></td><td class="num"></td>';
        tr.children[0].textContent = i;
        tr.children[1].textContent = showPiece(p);
        tr.children[2].textContent = d.tokens[i];
        tbl.append(tr);
      });
      detail.append(tbl);
    } else if (key === 'softmax' || key === 'logits') {
      title.textContent = t(key === 'softmax' ? 'tf.softmax' : 'tf.linear');
      const p = document.createElement('p');
      p.className = 'muted';
      p.textContent = t('tf.nextNote', { piece: showPiece(d.pieces.at(-1)) });
      const bars = document.createElement('div');
      bars.className = 'bars';
      for (const c of d.next) {
        const a = document.createElement('span');
        a.textContent = showPiece(c.piece);
        const bar = document.createElement('div');
        bar.className = 'bar';
        bar.style.width = `${100 * c.prob / d.next[0].prob}%`;
        const v = document.createElement('span');
        v.className = 'muted';
        v.textContent = `${fmt(100 * c.prob, 2)}%`;
        bars.append(a, bar, v);
      }
      detail.append(p, bars);
    } else if (key.endsWith('.attention')) {
      const l = Number(key.split('.')[1]);
      title.textContent = t('tf.attnOf', { n: l + 1 });
      const a = d.attention;
      const n = a.rows;
      const wrap = document.createElement('div');
      wrap.className = 'row';
      for (let h = 0; h < a.heads; h++) {
        const c = document.createElement('canvas');
        const cell = Math.max(2, Math.floor(96 / n));
        c.width = c.height = cell * n;
        c.title = t('att.which', { l: l + 1, h: h + 1 });
        const ctx = c.getContext('2d');
        for (let i = 0; i < n; i++) for (let j = 0; j <= i; j++) {
          ctx.fillStyle = `rgba(10, 88, 168, ${a.data[((l * a.heads + h) * n + i) * n + j].toFixed(3)})`;
          ctx.fillRect(j * cell, i * cell, cell, cell);
        }
        wrap.append(c);
      }
      const p = document.createElement('p');
      p.className = 'muted';
      p.textContent = t('tf.attnNote');
      detail.append(wrap, p);
    } else if (stage) {
      const label = BLOCK_STAGES.find(([k]) => key.endsWith(`.${k}`))?.[1];
      const l = key.startsWith('blk.') ? Number(key.split('.')[1]) + 1 : null;
      title.textContent = l ? `${t('tf.block', { n: l, of: d.attention.layers })}: ${t(label)}` : t({ token_embedding: 'tf.tok', position_embedding: 'tf.pos', ln_f: 'tf.lnf' }[key]);
      detail.append(this.strip(stage, d.pieces));
      const p = document.createElement('p');
      p.className = 'muted';
      p.textContent = t('tf.stripNote', { c: stage.channels, of: stage.cols });
      detail.append(p);
    }
  }

  /** Each position's vector as a row of coloured cells (first channels), with its L2 norm. */
  strip(stage, pieces) {
    const rows = stage.rows;
    const k = stage.channels;
    const max = stage.data.reduce((m, v) => Math.max(m, Math.abs(v)), 1e-9);
    const cell = Math.max(3, Math.floor(256 / k));
    const label = 80;
    const c = document.createElement('canvas');
    c.width = label + cell * k + 60;
    c.height = 16 * rows;
    const ctx = c.getContext('2d');
    ctx.font = '11px ui-monospace, monospace';
    ctx.textBaseline = 'middle';
    for (let i = 0; i < rows; i++) {
      ctx.fillStyle = '#888';
      ctx.textAlign = 'right';
      ctx.fillText(showPiece(pieces[i]).slice(0, 10), label - 4, i * 16 + 8);
      for (let j = 0; j < k; j++) {
        const v = stage.data[i * k + j] / max;
        ctx.fillStyle = v >= 0 ? `rgba(220, 110, 20, ${v.toFixed(3)})` : `rgba(10, 88, 168, ${(-v).toFixed(3)})`;
        ctx.fillRect(label + j * cell, i * 16 + 1, cell, 14);
      }
      ctx.fillStyle = '#888';
      ctx.textAlign = 'left';
      ctx.fillText(`|x| ${stage.norms[i].toFixed(1)}`, label + k * cell + 4, i * 16 + 8);
    }
    return c;
  }
}
