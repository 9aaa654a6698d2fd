// The service worker (sw.js): after one visit the page works with the server stopped (reload,
// load the model, generate); on a bare static host (no COOP/COEP headers) it makes the page
// cross-origin isolated; a new version of the site replaces the old caches, and the page says so.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chromium } from 'playwright-core';
import { serve } from '../../www/serve.mjs';
import { ROOT } from './harness.mjs';

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run', '--disable-sync'],
});
after(() => browser.close());

/** A page on a fresh profile, and its errors. */
async function open() {
  const context = await browser.newContext();
  const page = await context.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  return { context, page, errors };
}

/** Opens the page at `url` and waits until the service worker controls it and the model is loaded. */
async function visit(page, url) {
  await page.goto(url);
  await page.locator('gpt-model .status', { hasText: 'Loaded' }).waitFor({ timeout: 60_000 });
  await page.evaluate(async () => { await navigator.serviceWorker.ready; });
  await page.waitForFunction(() => navigator.serviceWorker.controller !== null);
}

async function generate(page) {
  const gen = page.locator('#generate gpt-generate');
  await gen.locator('.max-tokens').fill('12');
  await gen.locator('.run:not([disabled])').click();
  await gen.locator('.status[data-reason="maxTokens"]').waitFor({ timeout: 60_000 });
  await gen.evaluate((el) => { delete el.shadowRoot.querySelector('.status').dataset.reason; });
  return gen.locator('.out .gen').count();
}

function stop(server) {
  server.close();
  server.closeAllConnections();
}

test('after one visit the page works with the server stopped', async () => {
  const server = await serve(ROOT, 0);
  const origin = `http://127.0.0.1:${server.address().port}`;
  const { context, page, errors } = await open();
  try {
    await visit(page, `${origin}/index.html`);
    assert.equal(await generate(page), 12);
    stop(server);
    assert.equal(await fetch(`${origin}/index.html`).then(() => 'up', () => 'down'), 'down', 'the server is gone');
    await page.reload();
    await page.locator('gpt-model .status', { hasText: 'Loaded' }).waitFor({ timeout: 60_000 });
    assert.match(await page.locator('gpt-model .status').textContent(), /browser cache/);
    assert.equal(await generate(page), 12);
    // the other widgets too: the next-token candidates and a score
    await page.locator('gpt-next-token .cands .pick').first().waitFor();
    assert.deepEqual(errors, []);
  } finally { stop(server); await context.close(); }
});

test('on a host that sends no isolation headers, the service worker makes the page cross-origin isolated', async () => {
  const server = await serve(ROOT, 0, '127.0.0.1', { plain: true });
  const origin = `http://127.0.0.1:${server.address().port}`;
  const { context, page, errors } = await open();
  try {
    assert.equal((await fetch(`${origin}/index.html`)).headers.get('cross-origin-embedder-policy'), null);
    await visit(page, `${origin}/index.html`);
    // the first visit came before the service worker: not isolated yet
    assert.equal(await page.evaluate(() => crossOriginIsolated), false);
    await page.reload();
    await page.locator('gpt-model .status', { hasText: 'Loaded' }).waitFor({ timeout: 60_000 });
    assert.equal(await page.evaluate(() => crossOriginIsolated), true);
    assert.equal(await generate(page), 12);
    assert.deepEqual(errors, []);
  } finally { stop(server); await context.close(); }
});

test('a new version replaces the old caches, and the page offers it', async () => {
  // a copy of the site whose version can change
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'site-'));
  fs.cpSync(path.join(ROOT, 'index.html'), path.join(dir, 'index.html'));
  fs.cpSync(path.join(ROOT, 'sw.js'), path.join(dir, 'sw.js'));
  fs.cpSync(path.join(ROOT, 'www'), path.join(dir, 'www'), { recursive: true, filter: (f) => !f.includes(`${path.sep}node_modules`) });
  const server = await serve(dir, 0);
  const origin = `http://127.0.0.1:${server.address().port}`;
  const { context, page, errors } = await open();
  const caches = () => page.evaluate(async () => (await caches.keys()).filter((k) => k.startsWith('inside-gpt-site-')));
  try {
    await visit(page, `${origin}/index.html`);
    const before = await caches();
    assert.equal(before.length, 1);
    assert.equal(await page.locator('#update').isHidden(), true);
    // an edited file is a new version (the server computes it from the files)
    fs.appendFileSync(path.join(dir, 'www/app.js'), '\n// a new version\n');
    await page.evaluate(async () => (await navigator.serviceWorker.getRegistration()).update());
    await page.locator('#update').waitFor({ timeout: 60_000 });
    await Promise.all([page.waitForEvent('load'), page.locator('#update button').click()]);
    await page.locator('gpt-model .status', { hasText: 'Loaded' }).waitFor({ timeout: 60_000 });
    const now = await caches();
    assert.equal(now.length, 1, `only the new version's cache is left: ${now}`);
    assert.notEqual(now[0], before[0]);
    assert.deepEqual(errors, []);
  } finally { stop(server); await context.close(); fs.rmSync(dir, { recursive: true, force: true }); }
});
