// What every widget shares, on the chapter page with the two shipped models: one run at a time,
// a model switch that leaves no old numbers behind, answers scored apart from their context,
// URL parameters that cannot break the page, and token numbers reachable by keyboard and touch.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { start, widgetFinished } from './harness.mjs';

let h;
before(async () => {
  h = await start();
  await h.page.goto(`${h.origin}/index.html?lang=en`);
  await loaded(h.page, 'Q8_0');
});
after(async () => { await h?.close(); });

/** Waits until the model picker says that the shipped model of `type` is loaded. */
const loaded = (page, type) => page.locator('gpt-model .status', { hasText: new RegExp(`Loaded Shakespeare .*\\(${type}\\)`) }).waitFor();

const finished = (widget) => widgetFinished(h.page, widget);

/** Calls one of client.js's requests in the page, on the page's own worker and model. */
const client = (name, ...args) => h.page.evaluate(async ([name, args]) => (await import('/www/client.js'))[name](...args), [name, args]);

const pageErrors = () => h.logs.filter((l) => l.startsWith('pageerror'));

test('Ctrl+Enter during a generation does not start a second one', async () => {
  const gen = h.page.locator('#generate gpt-generate');
  await gen.locator('textarea.prompt').fill('KING.\n');
  await gen.locator('.max-tokens').fill('2000'); // runs to the end of the context
  // as the third token appears, the reader presses Ctrl+Enter in the prompt, twice
  await gen.evaluate((el) => {
    const root = el.shadowRoot;
    const out = root.querySelector('.out');
    window.seen = { removed: 0, removedAtPress: null };
    new MutationObserver((records) => {
      for (const r of records) window.seen.removed += r.removedNodes.length;
      if (window.seen.removedAtPress === null && out.querySelectorAll('.gen').length >= 3) {
        window.seen.removedAtPress = window.seen.removed;
        for (let i = 0; i < 2; i++) root.querySelector('.prompt').dispatchEvent(new KeyboardEvent('keydown', { key: 'Enter', ctrlKey: true, bubbles: true }));
        window.seen.runDisabled = root.querySelector('.run').disabled;
      }
    }).observe(out, { childList: true });
  });
  await gen.locator('.run').click();
  assert.equal(await finished('#generate gpt-generate'), 'context');
  const seen = await h.page.evaluate(() => window.seen);
  assert.notEqual(seen.removedAtPress, null, 'the keys were pressed mid-run');
  assert.equal(seen.removed, seen.removedAtPress, 'the output was not cleared by a second run');
  assert.equal(seen.runDisabled, true);
  assert.doesNotMatch(await gen.locator('.status').getAttribute('class'), /error/);
  // and the widget runs again once the first run is over
  await gen.locator('.max-tokens').fill('4');
  await gen.locator('textarea.prompt').press('Control+Enter');
  assert.equal(await finished('#generate gpt-generate'), 'maxTokens');
  assert.equal(await gen.locator('.out .gen').count(), 4);
});

test('after a model switch no old numbers are left, and every widget runs again', async () => {
  const { page } = h;
  const nt = page.locator('gpt-next-token');
  const sc = page.locator('gpt-score');
  const ch = page.locator('gpt-choices').first();
  const gen = page.locator('#generate gpt-generate');
  // state from the Q8_0 model: a picked token, scores, a results table, a generation under way
  await nt.locator('.cands .pick').first().click();
  await page.waitForFunction(() => document.querySelector('gpt-next-token').shadowRoot.querySelectorAll('.out .gen').length === 1);
  await sc.locator('.sum').first().filter({ hasText: 'perplexity' }).waitFor();
  const logprobs = () => sc.locator('.side').first().locator('.tok').evaluateAll((els) => els.map((e) => Number(e.dataset.logprob)));
  const old = await logprobs();
  await ch.locator('.run').click();
  await ch.locator('.results tbody tr').first().waitFor();
  await gen.locator('.max-tokens').fill('2000');
  await gen.locator('.run').click();

  await page.locator('gpt-model .pick').selectOption({ index: 1 });
  await page.locator('gpt-model .load').click();
  await loaded(page, 'Q4_0');

  // the score widget shows the new model's numbers, which differ from the old ones
  const text = await sc.locator('.text').first().inputValue();
  const fresh = (await client('score', text)).logprobs;
  assert.notDeepEqual(fresh, old, 'Q4_0 and Q8_0 give different log-probabilities');
  await page.waitForFunction(([want]) => {
    const got = [...document.querySelector('gpt-score').shadowRoot.querySelector('.side .out').querySelectorAll('.tok')].map((e) => Number(e.dataset.logprob));
    return JSON.stringify(got) === JSON.stringify(want);
  }, [fresh], { timeout: 10_000 });
  // the results table is gone; the generator's text is gone and it can run
  assert.equal(await ch.locator('.results tbody tr').count(), 0);
  await page.waitForFunction(() => !document.querySelector('#generate gpt-generate').shadowRoot.querySelector('.run').disabled);
  assert.equal(await gen.locator('.out .gen').count(), 0);
  await gen.locator('.max-tokens').fill('3');
  await gen.locator('.run').click();
  assert.equal(await finished('#generate gpt-generate'), 'maxTokens');
  // the next-token widget started again from its prompt, with the new model's candidates, and a pick works
  await page.waitForFunction(() => {
    const r = document.querySelector('gpt-next-token').shadowRoot;
    return r.querySelectorAll('.out .gen').length === 0 && r.querySelectorAll('.cands .pick:not(:disabled)').length > 0;
  }, null, { timeout: 10_000 });
  await nt.locator('.cands .pick').nth(1).click();
  await page.waitForFunction(() => document.querySelector('gpt-next-token').shadowRoot.querySelectorAll('.out .gen').length === 1);
  await nt.locator('.sample').click();
  await page.waitForFunction(() => document.querySelector('gpt-next-token').shadowRoot.querySelectorAll('.out .gen').length === 2);
  assert.doesNotMatch(await nt.locator('.status').getAttribute('class'), /error/);
  assert.deepEqual(pageErrors(), []);

  // back to Q8_0 for the tests that follow
  await page.locator('gpt-model .pick').selectOption({ index: 0 });
  await page.locator('gpt-model .load').click();
  await loaded(page, 'Q8_0');
});

test("gpt-choices scores only the answer's tokens, also when they merge with the context's", async () => {
  const ch = h.page.locator('gpt-choices').first();
  // "...the" + "e": BPE can merge the context's last letters with the answer's first
  const context = 'HAMLET. To be, or not to be, that is th';
  const answers = ['e question', ' question'];
  const [ctxTok, joined] = await Promise.all([client('tokenize', context), client('tokenize', context + answers[0])]);
  assert.ok(ctxTok.tokens.some((id, i) => joined.tokens[i] !== id), 'the fixture merges across the boundary');
  await ch.locator('.context').fill(context);
  await ch.locator('.answers').fill(answers.join('\n'));
  await ch.locator('.run').click();
  await ch.locator('.results tbody tr').nth(1).waitFor();
  // each row: the total, and "mean (tokens)"
  const rows = await ch.locator('.results tbody tr').evaluateAll((trs) => trs.map((tr) => ({ total: Number(tr.dataset.total), tokens: Number(/\((\d+)\)$/.exec(tr.children[2].textContent)[1]) })));
  for (const [i, a] of answers.entries()) {
    const own = await client('tokenize', a);
    const direct = await client('score', a, context);
    assert.equal(rows[i].tokens, own.tokens.length, `${JSON.stringify(a)}: as many tokens as the answer has`);
    assert.equal(direct.contextTokens, ctxTok.tokens.length);
    assert.equal(rows[i].total, direct.total);
    // conditioned on the context: not the answer's score on its own
    assert.notEqual(direct.total, (await client('score', a)).total);
  }
  // where the boundary does not merge, the answer's tokens are the tail of scoring the whole text
  const whole = await client('score', context + answers[1]);
  assert.deepEqual(whole.tokens.slice(0, ctxTok.tokens.length), ctxTok.tokens);
  const tail = whole.logprobs.slice(ctxTok.tokens.length).reduce((s, x) => s + x, 0);
  assert.ok(Math.abs(tail - rows[1].total) < 1e-4, `${tail} vs ${rows[1].total}`);
});

test('bad URL parameters are clamped or ignored, and the page does not throw', async () => {
  const cases = [
    ['layer=-1&head=abc&temperature=abc&topK=-5&topP=7&seed=-3&maxTokens=1e9', 'Layer 1, head 1',
      { temperature: '0.8', 'top-k': '0', 'top-p': '1', seed: '0', 'max-tokens': '2048' }],
    ['layer=2.5&head=1e400&temperature=-2&topK=NaN&topP=0&seed=1e300&maxTokens=0', 'Layer 3, head 6',
      { temperature: '0', 'top-k': '40', 'top-p': '0.01', seed: String(Number.MAX_SAFE_INTEGER), 'max-tokens': '1' }],
    ['layer=&head=%20&topP=Infinity&maxTokens=-Infinity&prompt=%00%F0%9F%98%80', 'Layer 1, head 1',
      { 'top-p': '1', 'max-tokens': '1' }],
  ];
  for (const [query, which, settings] of cases) {
    const page = await h.context.newPage();
    const errors = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(`${h.origin}/index.html?lang=en&${query}`);
    const att = page.locator('gpt-attention');
    await att.locator('.thumb').first().waitFor();
    assert.equal(await att.locator('.which').textContent(), which, query);
    assert.doesNotMatch(await att.locator('.status').getAttribute('class'), /error/, query);
    // the heatmap reads out under the pointer and with the arrow keys
    const box = await att.locator('.map').boundingBox();
    await page.mouse.move(box.x + box.width / 2, box.y + box.height / 2);
    await att.locator('.map').focus();
    await page.keyboard.press('ArrowUp');
    await page.keyboard.press('ArrowRight');
    assert.match(await att.locator('.readout').textContent(), /→|cannot see/, query);
    const gen = page.locator('#generate gpt-generate');
    for (const [field, want] of Object.entries(settings)) assert.equal(await gen.locator(`.${field}`).inputValue(), want, `${query}: ${field}`);
    // and the generator runs with what the URL left it
    await gen.locator('.max-tokens').fill('3');
    await gen.locator('.run').click();
    await gen.locator('.status[data-reason]').waitFor();
    assert.equal(await gen.locator('.status').getAttribute('data-reason'), 'maxTokens', query);
    assert.deepEqual(errors, [], query);
    await page.close();
  }
});

test("a token's probability, rank and entropy: by Tab and the arrow keys, by click, by touch", async () => {
  const { page } = h;
  const gen = page.locator('#generate gpt-generate');
  await gen.locator('.max-tokens').fill('8');
  await gen.locator('.run').click();
  assert.equal(await finished('#generate gpt-generate'), 'maxTokens');
  const detail = gen.locator('.tok-detail');
  const NUMBERS = /p = (0\.\d{4}|1\.0000), rank \d+, entropy \d+\.\d\d nats/;
  /** The focused element inside the widget, and what the details line says. */
  const focused = () => gen.evaluate((el) => {
    const a = el.shadowRoot.activeElement;
    const toks = [...el.shadowRoot.querySelectorAll('.out .gen')];
    return { index: toks.indexOf(a), label: a?.getAttribute('aria-label'), prob: Number(a?.dataset.prob), detail: el.shadowRoot.querySelector('.tok-detail')?.textContent };
  });
  // Tab from the Generate button (Stop is disabled) lands on the first generated token
  await gen.locator('.run').focus();
  await page.keyboard.press('Tab');
  let f = await focused();
  assert.equal(f.index, 0, 'Tab reaches the first token');
  assert.match(f.label, NUMBERS, 'its accessible name has its numbers');
  assert.match(f.detail, NUMBERS);
  assert.ok(f.detail.includes(`p = ${f.prob.toFixed(4)}`), `${f.detail} vs ${f.prob}`);
  await page.keyboard.press('ArrowRight');
  await page.keyboard.press('ArrowRight');
  f = await focused();
  assert.equal(f.index, 2);
  assert.ok(f.detail.includes(`p = ${f.prob.toFixed(4)}`));
  // one Tab stop for the whole output: the next Tab leaves it
  await page.keyboard.press('Tab');
  assert.equal((await focused()).index, -1);
  // a click shows a token's numbers too
  await gen.locator('.out .gen').nth(5).click();
  f = await focused();
  assert.equal(f.index, 5);
  assert.match(await detail.textContent(), NUMBERS);
  assert.ok(f.detail.includes(`p = ${f.prob.toFixed(4)}`));
  // the score widget's tokens: log-probabilities by keyboard
  const sc = page.locator('gpt-score');
  await sc.locator('.sum').first().filter({ hasText: 'perplexity' }).waitFor();
  await sc.locator('.side .out .tok').nth(1).focus();
  const lp = Number(await sc.locator('.side .out .tok').nth(1).getAttribute('data-logprob'));
  assert.ok((await sc.locator('.tok-detail').textContent()).includes(`log p = ${lp.toFixed(3)}`));

  // a phone: tapping a token shows its numbers
  const ctx = await page.context().browser().newContext({ viewport: { width: 390, height: 844 }, hasTouch: true, isMobile: true });
  const phone = await ctx.newPage();
  await phone.goto(`${h.origin}/index.html?lang=en&maxTokens=6`);
  const g = phone.locator('#generate gpt-generate');
  await phone.locator('gpt-model .status', { hasText: 'Loaded' }).waitFor();
  await g.locator('.run').tap();
  await g.locator('.status[data-reason="maxTokens"]').waitFor();
  await g.locator('.out .gen').nth(3).tap();
  const prob = Number(await g.locator('.out .gen').nth(3).getAttribute('data-prob'));
  assert.ok((await g.locator('.tok-detail').textContent()).includes(`p = ${prob.toFixed(4)}`));
  await g.screenshot({ path: `${h.artifacts}/token-details-phone.png` });
  await ctx.close();
  assert.deepEqual(pageErrors(), []);
});
