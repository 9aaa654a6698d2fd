// What matters to a reader, in every engine a reader has: Chromium, Firefox (Gecko) and WebKit
// (JavaScriptCore, Safari's engine), through one driver (driver.mjs), so each test is written once.
// The chapter page loads its model with progress and shows the card; generation streams and Stop
// stops it; a malformed file is refused with its message and the previous model keeps working;
// XOR steps and trains; an engine crash is recovered. Where an engine lacks a feature the page
// uses (shared memory for the threaded build, the Cache API), the test checks the documented
// fallback instead.
//
// An engine whose driver is not installed is skipped with the reason, unless
// INSIDE_GPT_ALL_ENGINES=1 (set by .ci/test), where it fails. INSIDE_GPT_ENGINES=firefox,webkit
// runs a subset.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { ENGINES, ROOT, missing, open, startSite } from './driver.mjs';

const ALL = process.env.INSIDE_GPT_ALL_ENGINES === '1';
const ONLY = process.env.INSIDE_GPT_ENGINES?.split(',').map((s) => s.trim());
const ARTIFACTS = path.join(ROOT, 'tests/e2e/artifacts');
const MALFORMED = JSON.parse(fs.readFileSync(path.join(ROOT, 'tests/fixtures/malformed/manifest.json'), 'utf8'));
/** A few of the malformed fixtures, each failing in a different layer: tensor data, metadata, tokenizer ids. */
const BAD = ['tensor-2-to-the-30-f32.gguf', 'duplicate-key.gguf', 'bos-id-2-to-the-32-plus-1.gguf', 'html-page.gguf']
  .map((file) => MALFORMED.find((m) => m.file === file) ?? assert.fail(`${file} is not in the manifest`));
const GEN = '#generate gpt-generate';
const T = { timeout: 180_000 };

let site;
before(async () => { site = await startSite(); fs.mkdirSync(ARTIFACTS, { recursive: true }); });
after(async () => { await site?.close(); });

/** Waits for a widget's status line to carry a data-reason, returns it and clears it for the next run. */
async function finished(p, widget, timeout = 60_000) {
  const reason = await p.waitFor((w, { q }) => q(`${w} >> .status`)?.dataset.reason, widget, { timeout, what: `${widget} to finish` });
  await p.evaluate((w, { q }) => { delete q(`${w} >> .status`).dataset.reason; }, widget);
  return reason;
}

const loaded = (p, timeout = 60_000) => p.waitFor((a, { q }) => {
  const s = q('gpt-model >> .status');
  return s && !s.classList.contains('error') && /^Loaded /.test(s.textContent) && s.textContent;
}, null, { timeout, what: 'the model to load' });

/** What the engine offers that the page can use, each with its fallback in the page. */
const features = (p) => p.evaluate(async () => {
  let cache = false;
  try { await caches.open('inside-gpt-probe'); await caches.delete('inside-gpt-probe'); cache = true; } catch { /* none over this origin */ }
  return {
    userAgent: navigator.userAgent, isolated: self.crossOriginIsolated, sharedMemory: typeof SharedArrayBuffer === 'function',
    cache, cores: navigator.hardwareConcurrency, memoryApi: typeof performance.memory === 'object',
  };
});

for (const engine of ENGINES.filter((e) => !ONLY || ONLY.includes(e))) {
  const why = missing(engine);
  if (why) {
    if (ALL) test(`${engine}: installed (INSIDE_GPT_ALL_ENGINES=1)`, () => assert.fail(`${why}: .ci/setup --test installs it`));
    else test(`${engine}`, { skip: why }, () => {});
    continue;
  }

  describe(engine, () => {
    let p, has;
    before(async () => {
      p = await open(engine, { origin: site.origin });
      await p.goto('/index.html');
      has = await features(p);
    });
    after(async () => { await p?.close(); });

    test('the chapter page loads the default model with progress and shows its card', T, async (t) => {
      const status = await loaded(p);
      t.diagnostic(`${engine} ${p.version}: ${JSON.stringify(has)}`);
      assert.match(status, /^Loaded Shakespeare .* \((downloaded|from the browser cache)\) in \d+\.\d\d s\./);
      const card = await p.evaluate(async (a, { q, qa, mod }) => {
        const { model } = await mod('/www/client.js');
        return {
          progress: q('gpt-model >> .progress').value, hidden: q('gpt-model >> .card-body').hidden,
          hyper: qa('gpt-model >> .hyper tbody tr').length, total: q('gpt-model >> .parts tbody tr:last-child')?.textContent,
          bars: qa('gpt-model >> .scale .bar').length, threads: model.current.threads,
        };
      });
      assert.equal(card.progress, 1, 'the progress bar reached 1');
      assert.equal(card.hidden, false, 'the model card is shown');
      assert.equal(card.hyper, 6);
      assert.match(card.total, /^Total[\d,]+100\.0%$/);
      assert.equal(card.bars, 5);
      // threads need shared memory (cross-origin isolation and SharedArrayBuffer); without it the
      // worker falls back to the single-thread build and the card says so
      if (!has.isolated || !has.sharedMemory) {
        assert.equal(card.threads, 1, 'no shared memory: the single-thread build');
        assert.match(status, /Runs on one thread/);
      } else assert.ok(card.threads >= 1 && card.threads <= Math.min(has.cores, 8));
      await p.screenshot(path.join(ARTIFACTS, `engine-${engine}-loaded.png`), 'gpt-model');
    });

    test('generate streams tokens one by one, and Stop stops it', T, async () => {
      await p.fill(`${GEN} >> .prompt`, 'To be, or not');
      await p.fill(`${GEN} >> .max-tokens`, '30');
      await p.evaluate((w, { q }) => {
        window.arrivals = [];
        new MutationObserver((records) => {
          for (const r of records) for (const n of r.addedNodes) if (n.classList?.contains('gen')) window.arrivals.push(performance.now());
        }).observe(q(`${w} >> .out`), { childList: true });
      }, GEN);
      await p.click(`${GEN} >> .run`);
      assert.equal(await finished(p, GEN), 'maxTokens');
      const arrivals = await p.evaluate(() => window.arrivals);
      assert.equal(arrivals.length, 30);
      assert.ok(new Set(arrivals).size >= 15, `tokens arrived one by one, not in a batch: ${arrivals.map((x) => x.toFixed(1))}`);
      assert.match(await p.attr(`${GEN} >> .out .gen`, 'title'), /p = 0\.\d{4}, rank \d+, entropy \d+\.\d\d nats/);
      const text = await p.text(`${GEN} >> .out`);
      assert.ok(text.startsWith('To be, or not') && text.length > 'To be, or not'.length, text);

      // the page clicks Stop itself as the third token appears; the context (256) is not reached
      await p.fill(`${GEN} >> .max-tokens`, '2000');
      await p.evaluate((w, { q }) => {
        const out = q(`${w} >> .out`);
        const obs = new MutationObserver(() => {
          if (out.querySelectorAll('.gen').length >= 3) { obs.disconnect(); q(`${w} >> .stop`).click(); }
        });
        obs.observe(out, { childList: true });
      }, GEN);
      await p.click(`${GEN} >> .run`);
      assert.equal(await finished(p, GEN), 'stopped');
      const n = await p.count(`${GEN} >> .out .gen`);
      assert.ok(n >= 3 && n < 256, `${n} tokens shown after Stop at the third`);
    });

    test('a malformed file is refused with a message naming the problem; the previous model still generates', T, async () => {
      const before = await p.text('gpt-model >> .hyper');
      for (const { file, needle } of BAD) {
        await p.setFile('gpt-model >> .file', `/tests/fixtures/malformed/${file}`);
        const text = await p.waitFor((a, { q }) => {
          const s = q('gpt-model >> .status');
          return s.classList.contains('error') && s.textContent;
        }, null, { what: `the error for ${file}` });
        assert.ok(text.includes(needle), `${file}: the page says ${JSON.stringify(text)}, which should contain ${JSON.stringify(needle)}`);
        assert.doesNotMatch(text, /unreachable|RuntimeError|recursive use/);
        assert.match(text, /Still using Shakespeare/, `${file}: the message says which model is kept`);
        await p.evaluate((a, { q }) => q('gpt-model >> .status').classList.remove('error'));
      }
      assert.equal(await p.text('gpt-model >> .hyper'), before, "the card is still the previous model's");
      await p.fill(`${GEN} >> .max-tokens`, '8');
      await p.click(`${GEN} >> .run`);
      assert.equal(await finished(p, GEN), 'maxTokens');
      assert.equal(await p.count(`${GEN} >> .out .gen`), 8);
    });

    test("XOR: Step shows the numbers the Rust code computes; Epoch and Play train", T, async () => {
      const X = 'gpt-xor';
      await p.waitFor((x, { qa }) => qa(`${x} >> svg circle`).length === 5, X, { what: 'the XOR network' });
      await p.click(`${X} >> .step`);
      await p.waitFor((x, { q }) => q(`${x} >> .explain tr[data-part="error"]`), X, { what: 'the step explained' });
      const shown = await p.evaluate((x, { q }) => q(x).trace, X);
      const direct = await p.evaluate(async (a, { mod }) => {
        const m = await mod('/www/pkg/inside_gpt.js');
        await m.default();
        return new m.Xor(new Uint32Array([2, 2, 1]), 'sigmoid', 1).step(1, 1, 0, 2);
      });
      assert.deepEqual(shown, direct);
      assert.deepEqual(shown.input, [1, 1]);
      assert.ok((await p.text(`${X} >> .explain tr[data-part="error"] td`)).includes(direct.error.toFixed(4)));
      assert.ok((await p.text(`${X} >> svg line[data-weight="1.0.0"] title`)).startsWith(`w = ${direct.after[1].w[0][0].toFixed(4)}`));
      const loss = () => p.evaluate((x, { q }) => q(x).losses.train, X);
      const first = await loss();
      // the answers come from the worker: each click's epoch is drawn when it arrives
      const drawn = await p.evaluate((x, { q }) => q(x).history.length, X);
      for (let i = 0; i < 5; i++) await p.click(`${X} >> .epoch`);
      await p.waitFor(([x, n], { q }) => q(x).history.length >= n + 5, [X, drawn], { what: 'five epochs drawn' });
      assert.notEqual(await loss(), first);
      // Play trains on animation frames (ten epochs each) until Pause
      const epochsBefore = await p.evaluate((x, { q }) => q(x).history.length, X);
      await p.click(`${X} >> .play`);
      await p.waitFor(([x, n], { q }) => q(x).history.length > n + 20, [X, epochsBefore], { what: 'Play to run frames' });
      await p.click(`${X} >> .play`);
      assert.equal(await p.evaluate((x, { q }) => q(x).playing, X), false);
      assert.ok(await loss() < first, 'the loss fell');
      assert.match(await p.text(`${X} >> .losses`), /^Training loss \d\.\d{4}$/);
    });

    test('an engine crash mid-generation: the page says so, restarts the engine, reloads the model, carries on', T, async () => {
      await p.goto('/index.html?test-hooks');
      const status = await loaded(p);
      // the first visit stored the model with the Cache API; an engine without it downloads again
      assert.match(status, has.cache ? /from the browser cache/ : /downloaded/);
      const starts = () => p.evaluate(async (a, { mod }) => (await mod('/www/client.js')).workerStarts());
      const workersBefore = await starts();
      await p.fill(`${GEN} >> .max-tokens`, '2000');
      await p.fill(`${GEN} >> .temperature`, '0.8');
      await p.click(`${GEN} >> .run`);
      await p.waitFor((w, { qa }) => qa(`${w} >> .out .gen`).length >= 4, GEN, { what: 'tokens to flow' });
      await p.evaluate(async (a, { mod }) => (await mod('/www/client.js')).failNextStep('panic'));
      // on a loaded machine the run can reach the context (256) before the command arrives: then
      // the next run traps at its first step
      const ended = await p.waitFor((w, { q }) => q(`${w} >> .status`).dataset.reason, GEN, { timeout: 60_000, what: 'the run to trap or end' });
      if (ended !== 'error') {
        await p.evaluate((w, { q }) => { delete q(`${w} >> .status`).dataset.reason; }, GEN);
        await p.click(`${GEN} >> .run`);
      }
      const error = await p.waitFor((w, { q }) => q(`${w} >> .status.error`)?.textContent, GEN, { timeout: 60_000, what: 'the widget to report the crash' });
      assert.match(error, /a panic: a test asked the engine to fail here \(panic\) \(at src\/web\.rs:\d+\)/);
      assert.equal(await finished(p, GEN), 'error', 'the crashed run ended in error');
      const notice = await p.waitFor((a, { q }) => /reloaded/.test(q('gpt-model >> .notice').textContent) && q('gpt-model >> .notice').textContent,
        null, { timeout: 60_000, what: 'the model picker to say the model was reloaded' });
      assert.match(notice, /a panic: /);
      assert.match(await loaded(p), has.cache ? /from the browser cache/ : /downloaded/);
      assert.equal(await starts(), workersBefore + 1, 'a fresh worker was started');
      await p.fill(`${GEN} >> .max-tokens`, '20');
      await p.click(`${GEN} >> .run`);
      assert.equal(await finished(p, GEN), 'maxTokens');
      assert.equal(await p.count(`${GEN} >> .out .gen`), 20);
      await p.screenshot(path.join(ARTIFACTS, `engine-${engine}-recovered.png`), GEN);
    });

    test('after one visit the page works offline (the service worker), or says it cannot', T, async () => {
      // a site of its own: it goes away
      const own = await startSite();
      const q = await open(engine, { origin: own.origin });
      try {
        await q.goto('/index.html');
        await loaded(q);
        const sw = await q.evaluate(() => 'serviceWorker' in navigator);
        if (!sw) {
          // the fallback: no offline copy, the page works while the network does
          assert.equal(await q.evaluate(async (a, { mod }) => (await mod('/www/offline.js')).registerOffline({ show() {} })), null);
          return;
        }
        await q.waitFor(async () => { await navigator.serviceWorker.ready; return navigator.serviceWorker.controller !== null; }, null, { timeout: 60_000, what: 'the service worker to control the page' });
        await own.offline();
        await q.goto('/index.html');
        assert.match(await loaded(q), has.cache ? /from the browser cache/ : /./);
        await q.fill(`${GEN} >> .max-tokens`, '12');
        await q.click(`${GEN} >> .run`);
        assert.equal(await finished(q, GEN), 'maxTokens');
        assert.equal(await q.count(`${GEN} >> .out .gen`), 12);
        assert.deepEqual(await q.errors(), []);
      } finally { await q.close(); await own.close(); }
    });

    test('a page of another origin embeds the widgets with one script tag and generates', T, async () => {
      // the blog: someone else's plain server, on another origin than the widgets' site
      const blog = http.createServer((req, res) => {
        res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' }).end(`<!doctype html><html lang="en"><head><meta charset="utf-8">
<title>A post</title><link rel="icon" href="data:,"><script type="module" src="${site.origin}/www/inside-gpt.js"></script></head>
<body><p>A post.</p><gpt-generate model="${site.origin}/www/models/shakespeare-q8_0.gguf" prompt="ROMEO." max-tokens="10" temperature="0"></gpt-generate></body></html>`);
      });
      await new Promise((resolve) => blog.listen(0, '127.0.0.1', resolve));
      const q = await open(engine, { origin: `http://localhost:${blog.address().port}` });
      try {
        await q.goto('/post.html');
        await q.waitFor((a, { q: $ }) => $('gpt-generate >> .run') && !$('gpt-generate >> .run').disabled, null, { timeout: 60_000, what: 'the widget to get its model' });
        await q.click('gpt-generate >> .run');
        assert.equal(await finished(q, 'gpt-generate'), 'maxTokens');
        assert.equal(await q.count('gpt-generate >> .out .gen'), 10);
        assert.deepEqual(await q.errors(), []);
      } finally { await q.close(); blog.close(); }
    });

    test('nothing threw in the page', async () => {
      assert.deepEqual(await p.errors(), []);
    });
  });
}
