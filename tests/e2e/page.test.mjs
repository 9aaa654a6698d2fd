// The page as a reader uses it: load a model by URL, generate, watch tokens appear, stop.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { start, fixture } from './harness.mjs';

let h;
const model = fixture('synth-q8_0.gguf', '--type', 'Q8_0', '--seed', '3', '--std', '0.1', '--layers', '4', '--width', '128', '--ctx', '512', '--vocab', '400');

before(async () => { h = await start(); });
after(async () => { await h?.close(); });

test('generate streams tokens one by one, a seed repeats, Stop stops', async () => {
  const { page } = h;
  await page.goto(`${h.origin}/index.html?model=${encodeURIComponent(model.urlPath)}`);
  await page.waitForFunction(() => document.getElementById('model-status').textContent.startsWith('Loaded'));
  await page.fill('#prompt', 'To be, or not');
  await page.fill('#max-tokens', '30');
  // when each generated token reaches the DOM
  await page.evaluate(() => {
    window.arrivals = [];
    new MutationObserver((records) => {
      for (const r of records) for (const n of r.addedNodes) if (n.classList?.contains('gen')) window.arrivals.push(performance.now());
    }).observe(document.getElementById('output'), { childList: true });
  });
  await page.click('#run');
  await page.waitForFunction(() => document.getElementById('gen-status').dataset.reason);
  const first = await page.locator('#output').textContent();
  const arrivals = await page.evaluate(() => window.arrivals);
  assert.equal(arrivals.length, 30);
  assert.ok(new Set(arrivals).size >= 15, `tokens arrived one by one, not in a batch: ${arrivals.map((t) => t.toFixed(1))}`);
  await h.screenshot('generate');
  await page.evaluate(() => { delete document.getElementById('gen-status').dataset.reason; });
  await page.click('#run');
  await page.waitForFunction(() => document.getElementById('gen-status').dataset.reason);
  assert.equal(await page.locator('#output').textContent(), first, 'same seed, same text');

  await page.fill('#max-tokens', '2000');
  await page.evaluate(() => { delete document.getElementById('gen-status').dataset.reason; });
  await page.click('#run');
  await page.waitForFunction(() => document.querySelectorAll('#output .gen').length >= 3);
  await page.click('#stop');
  await page.waitForFunction(() => document.getElementById('gen-status').dataset.reason);
  assert.equal(await page.locator('#gen-status').getAttribute('data-reason'), 'stopped');
  assert.ok(await page.locator('#output .gen').count() < 2000);
  assert.deepEqual(h.foreign, []);
  assert.deepEqual(h.logs.filter((l) => l.startsWith('pageerror')), []);
});
