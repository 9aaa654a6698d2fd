// The README's embedding (one script tag, one element) on a page of another origin: a "blog" on
// http://localhost:B uses the widgets served from http://127.0.0.1:A, once from the repository's
// site and once from the widgets' npm package (`npm pack` in www/, unpacked and served). The
// worker starts through a same-origin blob; scripts, wasm and the model come over CORS.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import http from 'node:http';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chromium } from 'playwright-core';
import { serve } from '../../www/serve.mjs';
import { ROOT } from './harness.mjs';

let browser, site, pack, blog, tmp;
before(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'embed-'));
  // the widgets' package, as an author would get it
  const tgz = execFileSync('npm', ['pack', '--pack-destination', tmp, '--silent'], { cwd: path.join(ROOT, 'www'), encoding: 'utf8' }).trim().split('\n').pop();
  execFileSync('tar', ['xzf', path.join(tmp, tgz), '-C', tmp]);
  site = await serve(ROOT, 0);
  pack = await serve(path.join(tmp, 'package'), 0);
  fs.mkdirSync(path.join(tmp, 'blog'));
  // the blog is someone else's plain server: no CORS, no isolation, no CSP of ours
  blog = http.createServer((req, res) => {
    const file = path.join(tmp, 'blog', path.basename(new URL(req.url, 'http://x').pathname));
    if (!fs.existsSync(file)) { res.writeHead(404).end(); return; }
    res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' }).end(fs.readFileSync(file));
  });
  await new Promise((resolve) => blog.listen(0, '127.0.0.1', resolve));
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run', '--disable-sync'],
  });
});
after(async () => {
  await browser?.close();
  for (const s of [site, pack, blog]) s?.close();
  fs.rmSync(tmp, { recursive: true, force: true });
});

/** A blog post on the blog's origin embedding the widgets from `base` (a URL of another origin). */
function post(name, base) {
  fs.writeFileSync(path.join(tmp, 'blog', name), `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>A post</title><link rel="icon" href="data:,">
<script type="module" src="${base}/inside-gpt.js"></script></head><body>
<p>Some words of the post.</p>
<gpt-generate model="${base}/models/shakespeare-q8_0.gguf" prompt="ROMEO." max-tokens="12" temperature="0"></gpt-generate>
</body></html>`);
  return `http://localhost:${blog.address().port}/${name}`;
}

for (const [what, base] of [['the site', () => `http://127.0.0.1:${site.address().port}/www`], ['the npm package', () => `http://127.0.0.1:${pack.address().port}`]]) {
  test(`a page of another origin embeds the widgets from ${what} and generates`, async () => {
    const page = await browser.newPage();
    const errors = [];
    page.on('pageerror', (e) => errors.push(e.message));
    page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
    page.on('response', (r) => { if (r.status() >= 400) errors.push(`${r.status()} ${r.url()}`); });
    const workers = [];
    page.on('worker', (w) => workers.push(w.url()));
    try {
      const url = post(`${what.replace(/\W/g, '-')}.html`, base());
      await page.goto(url);
      assert.notEqual(new URL(url).origin, new URL(base()).origin, 'two origins');
      const gen = page.locator('gpt-generate');
      await gen.locator('.run:not([disabled])').waitFor({ timeout: 60_000 });
      await gen.locator('.run').click();
      await gen.locator('.status[data-reason="maxTokens"]').waitFor({ timeout: 60_000 });
      assert.equal(await gen.locator('.out .gen').count(), 12);
      assert.ok(workers.length === 1 && workers[0].startsWith('blob:'), `the worker is a same-origin blob: ${workers}`);
      assert.deepEqual(errors, []);
    } finally { await page.close(); }
  });
}
