// Weights in the Cache API can never go stale or stay broken: shipped models are listed with their
// size and SHA-256 (models.json), which are part of the cache key and checked on a download; a
// cached file the engine refuses is deleted and fetched again.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { start, fixture, ROOT } from './harness.mjs';
import { CACHE_NAME } from '../../www/protocol.js';

const MODELS = path.join(ROOT, 'www/models');
let h;
before(async () => { h = await start(); });
after(async () => { await h?.close(); });

test('models.json lists every shipped file with its size and SHA-256', () => {
  const list = JSON.parse(fs.readFileSync(path.join(MODELS, 'models.json'), 'utf8'));
  assert.ok(list.length >= 2);
  for (const m of list) {
    const data = fs.readFileSync(path.join(MODELS, m.url));
    assert.equal(m.bytes, data.length, `${m.url}: size`);
    assert.equal(m.sha256, crypto.createHash('sha256').update(data).digest('hex'), `${m.url}: SHA-256 (run inside-gpt models --dir www/models)`);
  }
});

/** A fresh browser context whose Cache API holds `entries` ([{url, file}]) before the page opens. */
async function contextWith(entries) {
  const ctx = await h.context.browser().newContext();
  const page = await ctx.newPage();
  await page.goto(`${h.origin}/blank-for-cache`);
  await page.evaluate(async ({ name, entries }) => {
    const c = await caches.open(name);
    for (const e of entries) await c.put(e.url, new Response(await (await fetch(e.file)).arrayBuffer()));
  }, { name: CACHE_NAME, entries });
  return { ctx, page };
}

const keys = (page) => page.evaluate(async (name) => (await (await caches.open(name)).keys()).map((r) => r.url), CACHE_NAME);

test('an old entry for a shipped URL (another version of the file) is never used, and is dropped', async () => {
  const q8 = `${h.origin}/www/models/shakespeare-q8_0.gguf`;
  // the old file at the same URL: simulated with the Q4_0 file's bytes under the Q8_0 URL
  const { ctx, page } = await contextWith([{ url: q8, file: '/www/models/shakespeare-q4_0.gguf' }]);
  try {
    await page.goto(`${h.origin}/index.html`);
    await page.locator('gpt-model .status', { hasText: 'Loaded' }).waitFor();
    assert.match(await page.locator('gpt-model .status').textContent(), /downloaded/);
    assert.match(await page.locator('gpt-model .types').textContent(), /Q8_0/, 'the file the site lists, not the stale copy');
    const k = await keys(page);
    assert.ok(!k.includes(q8), `the stale entry is gone: ${k}`);
    assert.ok(k.some((u) => u.startsWith(q8) && u.includes('inside-gpt-sha256=881d08c1')), `the new entry is keyed by the hash: ${k}`);
    // and the next visit takes it from the cache
    await page.reload();
    await page.locator('gpt-model .status', { hasText: 'Loaded' }).waitFor();
    assert.match(await page.locator('gpt-model .status').textContent(), /browser cache/);
  } finally { await ctx.close(); }
});

test('a cached file the engine refuses is deleted and fetched again', async () => {
  const model = fixture('cache-q8_0.gguf', '--type', 'Q8_0', '--seed', '5', '--vocab', '300');
  const url = `${h.origin}${model.urlPath}`;
  // a broken copy in the cache (a malformed fixture's bytes) under the model's URL
  const { ctx, page } = await contextWith([{ url, file: '/tests/fixtures/malformed/duplicate-key.gguf' }]);
  try {
    await page.goto(`${h.origin}/index.html?model=${encodeURIComponent(model.urlPath)}`);
    await page.locator('gpt-model .status', { hasText: 'Loaded' }).waitFor();
    assert.match(await page.locator('gpt-model .status').textContent(), /downloaded/);
    const size = await page.evaluate(async ({ name, url }) => (await (await (await caches.open(name)).match(url)).arrayBuffer()).byteLength, { name: CACHE_NAME, url });
    assert.equal(size, fs.statSync(model.file).size, 'the cache now holds the good file');
  } finally { await ctx.close(); }
});
