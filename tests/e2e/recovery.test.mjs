// When the engine traps (a panic, memory exhausted), the page says what happened, starts a fresh
// worker, loads the same model again and carries on, with no reload of the page. The traps are
// real: the test-only command (reachable only with INSIDE_GPT_TEST_HOOKS) makes the next step
// panic, or allocate until the module's memory is exhausted, in the middle of a generation. The
// XOR widget, whose network lived in that engine, starts a fresh one and says so.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { start, ROOT } from './harness.mjs';

let h;
before(async () => {
  h = await start();
  await h.context.addInitScript(() => { globalThis.INSIDE_GPT_TEST_HOOKS = true; });
  await h.page.goto(`${h.origin}/index.html`);
  await h.page.locator('gpt-model .status', { hasText: 'Loaded' }).waitFor();
});
after(async () => { await h?.close(); });

const gen = () => h.page.locator('#generate gpt-generate');

/** Makes the engine trap at the 8th step of the next generation, and starts one in the widget. */
async function crashMidGeneration(kind) {
  const { page } = h;
  await page.evaluate(async (k) => (await import('/www/client.js')).failNextStep(k, 8), kind);
  // tokens as they arrive (the output itself is cleared when the model comes back)
  await gen().evaluate((el) => {
    window.tokens = 0;
    if (!window.counting) el.addEventListener('token', () => { window.tokens += 1; });
    window.counting = true;
  });
  await gen().locator('.max-tokens').fill('100');
  await gen().locator('.temperature').fill('0.8');
  await gen().locator('.run').click();
  // the trap came mid-generation: seven tokens arrived first
  await gen().locator('.status.error').waitFor({ timeout: 60_000 });
  assert.equal(await page.evaluate(() => window.tokens), 7);
}

for (const [kind, words] of [['panic', /a panic: a test asked the engine to fail here \(panic\) \(at src\/web\.rs:\d+\)/], ['oom', /out of memory, \d+ MiB of wasm memory in use/]]) {
  test(`a ${kind} mid-generation: the page says so, restarts the engine, reloads the model, carries on`, async () => {
    const { page } = h;
    const starts = () => page.evaluate(async () => (await import('/www/client.js')).workerStarts());
    const workersBefore = await starts();
    await crashMidGeneration(kind);
    // the widget whose generation died says why, in words
    const status = gen().locator('.status.error');
    await status.waitFor({ timeout: 60_000 });
    assert.match(await status.textContent(), words);
    // the model picker says what happened and that the model came back
    const notice = page.locator('gpt-model .notice');
    await notice.filter({ hasText: /reloaded/ }).waitFor({ timeout: 60_000 });
    assert.match(await notice.textContent(), words);
    await page.locator('gpt-model .status', { hasText: 'Loaded' }).waitFor();
    assert.match(await page.locator('gpt-model .status').textContent(), /from the browser cache/, 'the model came back from the Cache API');
    assert.equal(await starts(), workersBefore + 1, 'a fresh worker was started');
    // and the page carries on: a full generation in the same widget
    await gen().locator('.max-tokens').fill('20');
    await gen().locator('.run').click();
    await gen().locator('.status[data-reason="maxTokens"]').waitFor();
    assert.equal(await gen().locator('.out .gen').count(), 20);
    // the scoring widget works on the fresh engine too
    const r = await page.evaluate(async () => (await import('/www/client.js')).score('To be, or not to be'));
    assert.ok(Number.isFinite(r.total));
    // the XOR widget's network lived in the dead engine: a fresh one from the same settings, said
    // so, and Step goes on from the chapter's first example
    const xor = page.locator('gpt-xor');
    await xor.locator('.status.error', { hasText: /started again/ }).waitFor({ timeout: 60_000 });
    assert.match(await xor.locator('.status').textContent(), words);
    await xor.locator('.step').click();
    await xor.evaluate((el) => el.idle());
    assert.deepEqual(await xor.evaluate((el) => el.trace.input), [1, 1]);
    assert.deepEqual(h.logs.filter((l) => l.startsWith('pageerror')), []);
  });
}

test('a model the reader loaded from a file comes back from that file after a crash', async () => {
  const page = await h.context.newPage(); // a page of its own: its crashes are counted apart
  try {
    await page.goto(`${h.origin}/index.html`);
    await page.locator('gpt-model .status', { hasText: 'Loaded' }).waitFor();
    await page.locator('gpt-model .file').setInputFiles(path.join(ROOT, 'www/models/shakespeare-q4_0.gguf'));
    await page.locator('gpt-model .status', { hasText: 'Loaded shakespeare-q4_0.gguf (from a local file)' }).waitFor();
    const failed = await page.evaluate(async () => {
      const c = await import('/www/client.js');
      await c.failNextStep('panic', 2);
      return c.generate(c.newSlot(), 'ROMEO.', { temperature: 0 }, 5).then(() => 'no crash', (e) => e.message);
    });
    assert.match(failed, /a panic/);
    await page.locator('gpt-model .notice', { hasText: 'reloaded shakespeare-q4_0.gguf' }).waitFor({ timeout: 60_000 });
    await page.locator('gpt-model .status', { hasText: 'Loaded shakespeare-q4_0.gguf (from a local file)' }).waitFor();
    const done = await page.evaluate(async () => {
      const c = await import('/www/client.js');
      return (await c.generate(c.newSlot(), 'ROMEO.', { temperature: 0 }, 5)).tokens;
    });
    assert.equal(done, 5);
  } finally { await page.close(); }
});

test('the test-only command is refused without the test hook', async () => {
  const page = await h.context.browser().newPage();
  try {
    await page.goto(`${h.origin}/index.html`);
    await page.locator('gpt-model .status', { hasText: 'Loaded' }).waitFor();
    const e = await page.evaluate(async () => (await import('/www/client.js')).failNextStep('panic').then(() => 'accepted', (err) => err.message));
    assert.match(e, /test command/);
  } finally { await page.close(); }
});
