// The page under its Content-Security-Policy (no inline script or style, wasm allowed, workers and
// connections limited), with no violation while the widgets run; and a model URL from the page's
// address that points to another origin is downloaded only once the reader says yes, with its size.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { start, fixture, ROOT } from './harness.mjs';
import { CSP } from '../../www/serve.mjs';

let h;
before(async () => {
  h = await start();
  await h.context.addInitScript(() => {
    window.violations = [];
    document.addEventListener('securitypolicyviolation', (e) => window.violations.push(`${e.effectiveDirective} ${e.blockedURI}`));
  });
});
after(async () => { await h?.close(); });

test('the server and every page carry the same strict policy', async () => {
  for (const p of ['/index.html', '/www/embed.html', '/www/worker.js']) {
    const r = await fetch(`${h.origin}${p}`);
    assert.equal(r.headers.get('content-security-policy'), CSP, p);
  }
  for (const f of ['index.html', 'www/embed.html']) {
    const html = fs.readFileSync(path.join(ROOT, f), 'utf8');
    assert.ok(html.includes(`<meta http-equiv="Content-Security-Policy" content="${CSP}">`), `${f} repeats the policy for static hosts`);
    assert.doesNotMatch(html, /<script(?![^>]*\bsrc=)[^>]*>/, `${f}: no inline script`);
    assert.doesNotMatch(html, /<style|\sstyle="/, `${f}: no inline style`);
  }
  assert.match(CSP, /script-src 'self' 'wasm-unsafe-eval'(;|$)/);
  assert.doesNotMatch(CSP, /'unsafe-inline'|'unsafe-eval'/);
});

test('the chapter page and the embedding example run under it with no violation', async () => {
  const { page } = h;
  await page.goto(`${h.origin}/index.html`);
  await page.locator('gpt-model .status', { hasText: 'Loaded' }).waitFor();
  const gen = page.locator('#generate gpt-generate');
  await gen.locator('.max-tokens').fill('10');
  await gen.locator('.run').click();
  await gen.locator('.status[data-reason]').waitFor();
  await page.locator('gpt-xor').scrollIntoViewIfNeeded();
  await page.locator('gpt-attention .thumb').first().waitFor();
  await page.locator('gpt-transformer').scrollIntoViewIfNeeded();
  assert.deepEqual(await page.evaluate(() => window.violations), []);
  await page.goto(`${h.origin}/www/embed.html`);
  await page.locator('gpt-next-token .cands .pick').first().waitFor();
  assert.deepEqual(await page.evaluate(() => window.violations), []);
  assert.deepEqual(h.logs.filter((l) => l.startsWith('pageerror') || /Content Security Policy/.test(l)), []);
});

test('a link naming a model on another origin asks first, with the size, and downloads only on yes', async () => {
  const { page } = h;
  const model = fixture('foreign-q8_0.gguf', '--type', 'Q8_0', '--seed', '9', '--vocab', '300', '--width', '32', '--layers', '1', '--heads', '2');
  const size = fs.statSync(model.file).size;
  // the same server under another name is another origin
  const foreign = `http://localhost:${new URL(h.origin).port}${model.urlPath}`;
  const gets = [];
  page.on('request', (r) => { if (new URL(r.url()).pathname.endsWith('foreign-q8_0.gguf')) gets.push(r.method()); });
  await page.goto(`${h.origin}/index.html?model=${encodeURIComponent(foreign)}`);
  const ask = page.locator('gpt-model .ask');
  await ask.waitFor();
  await ask.filter({ hasText: `${(size / 1024).toFixed(0)} KiB` }).waitFor();
  assert.match(await ask.textContent(), new RegExp(`localhost:${new URL(h.origin).port}`));
  // meanwhile the page runs the shipped model, and nothing was downloaded but the size
  await page.locator('gpt-model .status', { hasText: 'Loaded Shakespeare' }).waitFor();
  assert.deepEqual(gets.filter((m) => m !== 'HEAD'), []);
  await ask.locator('.ask-yes').click();
  await page.locator('gpt-model .status', { hasText: 'Loaded foreign-q8_0.gguf' }).waitFor();
  assert.equal(await ask.isHidden(), true);
  assert.match(await page.locator('gpt-model .hyper').textContent(), /300/);
  // same origin: no question
  await page.goto(`${h.origin}/index.html?model=${encodeURIComponent(model.urlPath)}`);
  await page.locator('gpt-model .status', { hasText: 'Loaded' }).waitFor();
  assert.equal(await page.locator('gpt-model .ask').isHidden(), true);
});
