// Every committed malformed file (tests/fixtures/malformed, written by `inside-gpt hostile`),
// loaded through the model picker in headless Chromium: the page shows a message that names the
// problem, never a bare "unreachable", and the model loaded before keeps working.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { start, ROOT } from './harness.mjs';

const DIR = path.join(ROOT, 'tests/fixtures/malformed');
const manifest = JSON.parse(fs.readFileSync(path.join(DIR, 'manifest.json'), 'utf8'));
let h;

before(async () => {
  h = await start();
  await h.page.goto(`${h.origin}/index.html`);
  await h.page.locator('gpt-model .status', { hasText: 'Loaded' }).waitFor();
});
after(async () => { await h?.close(); });

/** The page's own generation through the worker: proof the previous engine still works. */
const generate = () => h.page.evaluate(async () => {
  const c = await import('/www/client.js');
  const done = await c.generate(c.newSlot(), 'ROMEO.', { temperature: 0, seed: 1 }, 8);
  return done.tokens;
});

test(`${manifest.length} malformed files each fail with a message that names the problem; the loaded model keeps working`, async () => {
  const { page } = h;
  assert.ok(manifest.length >= 30);
  const before = await page.locator('gpt-model .hyper').textContent();
  const status = page.locator('gpt-model .status');
  for (const [i, { file, needle }] of manifest.entries()) {
    await page.locator('gpt-model .file').setInputFiles(path.join(DIR, file));
    await page.locator('gpt-model .status.error').waitFor();
    const text = await status.textContent();
    assert.ok(text.includes(needle), `${file}: the page says ${JSON.stringify(text)}, which should contain ${JSON.stringify(needle)}`);
    assert.doesNotMatch(text, /unreachable|RuntimeError|recursive use/);
    assert.match(text, /Shakespeare/, `${file}: the message says which model is kept`);
    // the next load's error must be its own: clear the state
    await page.locator('gpt-model').evaluate((el) => el.shadowRoot.querySelector('.status').classList.remove('error'));
    if (i % 10 === 9) assert.equal(await generate(), 8, `after ${file}`);
  }
  assert.equal(await page.locator('gpt-model .hyper').textContent(), before, 'the model card is the previous model\'s');
  assert.equal(await generate(), 8);
  assert.deepEqual(h.logs.filter((l) => l.startsWith('pageerror')), []);
});
