// The embedding example: a blog-like page with several widgets, one script tag, one shared worker
// and one download of the shipped model.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { start } from './harness.mjs';

let h;
before(async () => { h = await start(); });
after(async () => { await h?.close(); });

test('two language-model widgets run at once on one model, downloaded once', async () => {
  const { page } = h;
  const ggufs = [];
  page.on('request', (r) => { if (r.url().endsWith('.gguf')) ggufs.push(r.url()); });
  const workers = [];
  page.on('worker', (w) => workers.push(w.url()));
  await page.goto(`${h.origin}/www/embed.html`);
  const nt = page.locator('gpt-next-token');
  const att = page.locator('gpt-attention');
  await nt.locator('.cands .pick').first().waitFor();
  await att.locator('.thumb').first().waitFor();
  // both at once: a pick in one while the other generates
  await att.locator('.gen').click();
  await nt.locator('.cands .pick').first().click();
  await page.waitForFunction(() => document.querySelector('gpt-next-token').shadowRoot.querySelectorAll('.out .gen').length === 1);
  await page.waitForFunction(() => { const r = document.querySelector('gpt-attention').shadowRoot; return r.querySelector('.stop').disabled && !r.querySelector('.gen').disabled; });
  assert.equal(ggufs.length, 1, `model downloads: ${ggufs}`);
  assert.equal(workers.filter((u) => u.endsWith('worker.js')).length, 1);
  assert.equal(await page.locator('gpt-xor svg circle').count(), 5);
  await page.screenshot({ path: `${h.artifacts}/embed.png`, fullPage: true });
  assert.deepEqual(h.foreign, []);
});
