// Fine-tuning and preference tuning in the browser (section 6), on the shipped model: the loss
// falls and the taught text becomes more likely; every other widget sees the tuned weights; Reset
// gives the loaded weights back bit for bit; Stop ends training within one step; preference steps
// widen the margin; bad settings are refused in words with the model untouched; the exported GGUF
// loads back and scores as the tuned model did; a crash reloads the original. Screenshots of both
// widgets in English and Korean, on a desktop and a 390-pixel phone.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { start } from './harness.mjs';

let h;
before(async () => {
  h = await start();
  // for the crash test (the engine's test-only trap); nothing else uses the hook
  await h.context.addInitScript(() => { globalThis.INSIDE_GPT_TEST_HOOKS = true; });
  await h.page.goto(`${h.origin}/index.html?lang=en`);
  await loaded(h.page);
});
after(async () => { await h?.close(); });

const LONG = { timeout: 180_000 };
const FT = 'gpt-finetune';
const PF = 'gpt-prefer';

/** Waits until the model picker says that a shipped model (Q8_0 unless told) is loaded. */
const loaded = (page, type = 'Q8_0') => page.locator('gpt-model .status', { hasText: new RegExp(`(Loaded|불러왔습니다).*Shakespeare .*\\(${type}\\)|Shakespeare .*\\(${type}\\).*불러왔습니다`) }).waitFor(LONG);

/** Calls one of client.js's exports in the page, on the page's own worker and model. */
const client = (name, ...args) => h.page.evaluate(async ([name, args]) => (await import('/www/client.js'))[name](...args), [name, args]);

/** What the page's client knows of the model now. */
const current = (page = h.page) => page.evaluate(async () => {
  const m = (await import('/www/client.js')).model.current;
  return m && { tuned: m.tuned, tune: m.tune, kind: m.change?.kind, name: m.name };
});

/** Waits until `widget`'s status carries a data-reason, returns it and clears it for the next run. */
async function finished(page, widget) {
  const s = page.locator(`${widget} .status[data-reason]`);
  await s.waitFor(LONG);
  const reason = await s.getAttribute('data-reason');
  await page.locator(widget).evaluate((el) => { delete el.shadowRoot.querySelector('.status').dataset.reason; });
  return reason;
}

/** The numbers a widget keeps of its run (losses, margins), read from the element. */
const widgetState = (page, widget, fn) => page.locator(widget).evaluate(fn);

/** The log-probabilities the score widget shows on its first side. */
const shownScores = (page = h.page) => page.locator('gpt-score .side').first().locator('.tok').evaluateAll((els) => els.map((e) => Number(e.dataset.logprob)));

/** Waits until the score widget shows exactly `want` on its first side (it re-scores on every change of weights). */
const scoreWidgetShows = (want, page = h.page) => page.waitForFunction(([want]) => {
  const got = [...document.querySelector('gpt-score').shadowRoot.querySelector('.side .out').querySelectorAll('.tok')].map((e) => Number(e.dataset.logprob));
  return JSON.stringify(got) === JSON.stringify(want);
}, [want], LONG);

/**
 * A picture of `widget` without the page's floating "the model is fine-tuned" note, which would
 * cover part of it (the note itself is checked, and seen in the phone's viewport picture).
 */
async function shootWidget(page, widget, file) {
  const note = page.locator('#tuned');
  await note.evaluate((n) => { n.style.visibility = 'hidden'; });
  try { await page.locator(widget).screenshot({ path: `${h.artifacts}/${file}` }); } finally { await note.evaluate((n) => { n.style.visibility = ''; }); }
}

const pageErrors = () => h.logs.filter((l) => l.startsWith('pageerror'));

/** State shared by the tests that follow one another: the loaded model's scores of the taught text. */
const original = {};

test('fine-tuning the default text: the loss falls, the taught text becomes more likely, every widget sees the tuned model', async () => {
  const { page } = h;
  const ft = page.locator(FT);
  await ft.locator('.train:not([disabled])').waitFor(LONG);
  const text = await ft.locator('.text').inputValue();
  assert.match(text, /tiger/i);
  assert.match(await ft.locator('.which-line').textContent(), /What trains: .+ of the model's [\d,]+ parameters/);
  original.text = text;
  original.taught = await client('score', text);
  original.scoreText = await page.locator('gpt-score .text').first().inputValue();
  original.score = await client('score', original.scoreText);
  await scoreWidgetShows(original.score.logprobs);
  assert.equal((await current()).tuned, false);

  await ft.locator('.train').click();
  assert.equal(await finished(page, FT), 'done', await ft.locator('.status').textContent());
  const losses = await widgetState(page, FT, (el) => el.losses);
  assert.equal(losses.length, 20, 'one loss per step, 20 steps by default');
  assert.ok(losses.at(-1) < losses[0], `the loss falls: ${losses.map((l) => l.toFixed(3)).join(' ')}`);
  assert.equal(await ft.locator('.chart circle').count(), 20, 'one point per step on the plot');
  assert.equal(await ft.locator('.progress').evaluate((p) => p.value), 1);

  // the taught text is more likely under the tuned weights, in the worker and on the widget
  const tuned = await client('score', text);
  assert.ok(tuned.total > original.taught.total, `log p ${original.taught.total} -> ${tuned.total}`);
  const sides = await ft.locator('.side').evaluateAll((ss) => ss.map((s) => ({
    lps: [...s.querySelectorAll('.taught .tok')].map((e) => Number(e.dataset.logprob)),
    taught: s.querySelector('.taught-sum').textContent, held: s.querySelector('.held-sum').textContent,
    sample: s.querySelectorAll('.sample .gen').length, sampleText: s.querySelector('.sample').textContent,
  })));
  assert.deepEqual(sides[0].lps, original.taught.logprobs, 'before: the loaded weights\' numbers');
  assert.deepEqual(sides[1].lps, tuned.logprobs, 'after: the tuned weights\' numbers');
  for (const s of sides) {
    assert.match(s.taught, /perplexity \d+\.\d\d/);
    assert.match(s.held, /Held-out Shakespeare: perplexity \d+\.\d\d over \d+ tokens/);
    assert.ok(s.sample > 0 && s.sample <= 40, `${s.sample} generated tokens`);
  }
  const ppl = (s) => Number(/perplexity (\d+\.\d+)/.exec(s)[1]);
  assert.ok(ppl(sides[1].taught) < ppl(sides[0].taught), 'the taught text\'s perplexity falls');
  console.log(`taught ppl ${ppl(sides[0].taught)} -> ${ppl(sides[1].taught)}; held-out ppl ${ppl(sides[0].held)} -> ${ppl(sides[1].held)}`);
  console.log(`before: ${JSON.stringify(sides[0].sampleText)}\nafter:  ${JSON.stringify(sides[1].sampleText)}`);
  assert.match(await ft.locator('.status').textContent(), /Trained 20 steps in [\d.]+ s \([\d,]+ tokens\/s\)/);

  // the page knows: the client's model is tuned, the banner and the model card say so
  const m = await current();
  assert.equal(m.tuned, true);
  assert.equal(m.kind, 'tune');
  assert.equal(m.tune.tuned, true);
  assert.ok(m.tune.trainable > 0 && m.tune.trainable <= m.tune.total);
  assert.equal(await page.locator('#tuned').isVisible(), true);
  assert.match(await page.locator('gpt-model .tuned-note').textContent(), /Fine-tuned in this page/);
  assert.equal(await ft.locator('.reset').isDisabled(), false);
  assert.equal(await ft.locator('.download').isDisabled(), false);

  // another widget re-scored with the tuned weights
  original.tunedScore = await client('score', original.scoreText);
  assert.notDeepEqual(original.tunedScore.logprobs, original.score.logprobs);
  await scoreWidgetShows(original.tunedScore.logprobs);
  await shootWidget(page, FT, 'finetune-en.png');
  assert.deepEqual(pageErrors(), []);
});

test('Reset gives the loaded weights back bit for bit, and every widget sees them', async () => {
  const { page } = h;
  const ft = page.locator(FT);
  assert.equal((await current()).tuned, true, 'the previous test left the model tuned');
  await ft.locator('.reset').click();
  await ft.locator('.status', { hasText: 'Reset: the model runs the weights as they were loaded again' }).waitFor(LONG);
  const m = await current();
  assert.equal(m.tuned, false);
  assert.equal(m.kind, 'reset');
  // exactly the numbers of the loaded model, token by token
  const again = await client('score', original.text);
  assert.deepEqual(again.tokens, original.taught.tokens);
  assert.deepEqual(again.logprobs, original.taught.logprobs);
  assert.equal(again.total, original.taught.total);
  assert.deepEqual((await client('score', original.scoreText)).logprobs, original.score.logprobs);
  await scoreWidgetShows(original.score.logprobs);
  assert.equal(await page.locator('#tuned').isVisible(), false);
  assert.equal(await page.locator('gpt-model .tuned-note').isVisible(), false);
  assert.equal(await ft.locator('.reset').isDisabled(), true);
  // the after side went with the tuned weights
  assert.equal(await ft.locator('.side[data-side="after"] .taught .tok').count(), 0);
  // and a second reset (nothing tuned) is harmless
  assert.equal((await client('resetTune')).tuned, false);
  assert.deepEqual((await client('score', original.text)).logprobs, original.taught.logprobs);
});

test('training only the norms and biases: the loss falls, the download keeps the loaded Q8_0 blocks, Reset gives the loaded weights back', async () => {
  const { page } = h;
  const ft = page.locator(FT);
  await ft.locator('.train:not([disabled])').waitFor(LONG);
  assert.equal(await ft.locator('.trains').inputValue(), 'all', 'a small model trains every weight by default');
  await ft.locator('.trains').selectOption('vectors');
  assert.equal(await ft.locator('.lr').inputValue(), '0.01', 'with the learning rate measured for it');
  const info = (await current()).tune;
  assert.match(await ft.locator('.which-line').textContent(), new RegExp(`only the LayerNorms' gains and shifts and the biases, ${info.vectors.toLocaleString('en')} of the model's`));
  await ft.locator('.train').click();
  assert.equal(await finished(page, FT), 'done', await ft.locator('.status').textContent());
  const losses = await widgetState(page, FT, (el) => el.losses);
  assert.ok(losses.at(-1) < 0.8 * losses[0], `the loss falls: ${losses.map((l) => l.toFixed(3)).join(' ')}`);
  const m = await current();
  assert.equal(m.tuned, true);
  assert.equal(m.tune.trains, 'vectors');
  assert.equal(m.tune.trainable, info.vectors);
  assert.equal(await ft.locator('.trains').isDisabled(), true, 'what trained the weights stays until Reset');
  assert.match(await page.locator('gpt-model .tuned-note').textContent(), /norms and biases only/);
  const tuned = await client('score', original.text);
  assert.ok(tuned.total > original.taught.total, `log p ${original.taught.total} -> ${tuned.total}`);
  // the file keeps the loaded blocks: as large as the shipped Q8_0 file give or take the F32
  // vectors, and it scores as the tuned model did
  const r = await page.evaluate(async (text) => {
    const c = await import('/www/client.js');
    const shipped = (await (await fetch('/www/models/shakespeare-q8_0.gguf')).arrayBuffer()).byteLength;
    const bytes = await c.exportTuned();
    await c.loadModel({ bytes, name: 'vectors-tuned.gguf' });
    return { size: bytes.length, shipped, s: await c.score(text) };
  }, original.text);
  console.log(`vectors-tuned export: ${r.size} bytes (shipped Q8_0 file ${r.shipped})`);
  assert.ok(Math.abs(r.size - r.shipped) < 0.05 * r.shipped, `${r.size} bytes against the shipped ${r.shipped}`);
  assert.deepEqual(r.s.logprobs, tuned.logprobs, 'the exported file runs the tuned model exactly');
  await page.locator('gpt-model .pick').selectOption({ index: 0 });
  await page.locator('gpt-model .load').click();
  await loaded(page);
  assert.equal(await ft.locator('.trains').inputValue(), 'all', 'a new model: its own default again');
  assert.deepEqual((await client('score', original.text)).logprobs, original.taught.logprobs);
  // Reset after vectors-only training, in the worker: the loaded numbers bit for bit
  const again = await page.evaluate(async (text) => {
    const c = await import('/www/client.js');
    await c.finetune(text, { steps: 3, lr: 1e-2, seed: 1, trains: 'vectors' });
    const during = await c.score(text);
    await c.resetTune();
    return { during, after: await c.score(text) };
  }, original.text);
  assert.notDeepEqual(again.during.logprobs, original.taught.logprobs);
  assert.deepEqual(again.after.logprobs, original.taught.logprobs);
  await ft.locator('.lr').fill('0.001');
  assert.deepEqual(pageErrors(), []);
});

test('Stop ends training within one step, and keeps what it learned', async () => {
  const { page } = h;
  // the worker's own count: steps finished after STOP_TUNE reached it
  const r = await page.evaluate(async (text) => {
    const c = await import('/www/client.js');
    let stopAt = null;
    const done = await c.finetune(text, { steps: 300, lr: 1e-3, seed: 1 }, (m) => { if (m.step === 3 && stopAt === null) { stopAt = m.step; c.stopTune(); } });
    return { stopAt, steps: done.steps, after: done.stepsAfterStop, stopped: done.stopped, tuned: done.info.tuned };
  }, original.text);
  assert.equal(r.stopped, true);
  assert.ok(r.after !== null && r.after <= 1, `steps after the stop arrived: ${r.after}`);
  assert.ok(r.steps >= 3 && r.steps <= 5, `stopped at step ${r.steps} (asked at 3)`);
  assert.equal(r.tuned, true, 'the weights tuned so far are the model');
  assert.notDeepEqual((await client('score', original.text)).logprobs, original.taught.logprobs);
  await client('resetTune');

  // the widget's Stop, pressed as the third loss arrives
  const ft = page.locator(FT);
  await ft.locator('.steps').fill('300');
  await ft.locator('.train:not([disabled])').waitFor(LONG);
  await ft.evaluate((el) => {
    window.stopPressedAt = null;
    const chart = el.shadowRoot.querySelector('.chart');
    const obs = new MutationObserver(() => {
      if (el.losses.length >= 3 && window.stopPressedAt === null) { window.stopPressedAt = el.losses.length; obs.disconnect(); el.shadowRoot.querySelector('.stop').click(); }
    });
    obs.observe(chart, { childList: true });
  });
  await ft.locator('.train').click();
  assert.equal(await finished(page, FT), 'stopped');
  const pressed = await page.evaluate(() => window.stopPressedAt);
  const n = await widgetState(page, FT, (el) => el.losses.length);
  assert.ok(n >= pressed && n <= pressed + 2, `${n} steps, Stop pressed at ${pressed} (messages in flight may add one)`);
  assert.match(await ft.locator('.status').textContent(), new RegExp(`Stopped after ${n} of 300 steps`));
  assert.equal((await current()).tuned, true);
  // the after side was measured on the weights tuned so far
  await ft.locator('.side[data-side="after"] .held-sum', { hasText: 'perplexity' }).waitFor();
  await ft.locator('.steps').fill('20');
  await ft.locator('.reset').click();
  await ft.locator('.status', { hasText: 'Reset' }).waitFor(LONG);
  assert.deepEqual((await client('score', original.text)).logprobs, original.taught.logprobs);
});

/** Writes the prefer widget's completions and rates them: `ratings` by seed, '+' or '-'. */
async function writeAndRate(page, ratings) {
  const pf = page.locator(PF);
  await pf.locator('.write:not([disabled])').waitFor(LONG);
  await pf.locator('.write').click();
  await pf.locator('.written li .rate:not([disabled])').first().waitFor(LONG);
  assert.equal(await pf.locator('.written li').count(), 4);
  for (const [seed, how] of Object.entries(ratings)) await pf.locator(`.written li[data-seed="${seed}"] .rate.${how === '+' ? 'good' : 'bad'}`).click();
}

test('preference steps raise the margin, and the good completion gains log-probability against the reference', async () => {
  const { page } = h;
  const pf = page.locator(PF);
  await writeAndRate(page, { 1: '+', 2: '-', 3: '-' });
  assert.equal(await pf.locator('.written li[data-seed="1"] .rate.good').getAttribute('aria-pressed'), 'true');
  const written = await pf.evaluate((el) => el.written.items.map((i) => ({ seed: i.seed, text: i.text })));
  assert.ok(written.every((w) => w.text.length > 0), JSON.stringify(written));
  await pf.locator('.tune').click();
  assert.equal(await finished(page, PF), 'done', await pf.locator('.status').textContent());
  const curve = await widgetState(page, PF, (el) => el.curve);
  assert.equal(curve.margin.length, 15, 'one point per step, 15 steps by default');
  assert.ok(curve.margin.at(-1) > curve.margin[0], `margin ${curve.margin.map((v) => v.toFixed(3)).join(' ')}`);
  assert.ok(curve.loss.at(-1) < curve.loss[0], `loss ${curve.loss.map((v) => v.toFixed(3)).join(' ')}`);
  const rows = await pf.locator('.results tbody tr').evaluateAll((trs) => trs.map((tr) => ({ ...tr.dataset })));
  assert.equal(rows.length, 3, 'one row per rated completion');
  for (const r of rows) {
    const [lt, lr, rw] = [Number(r.logpTuned), Number(r.logpRef), Number(r.reward)];
    assert.ok(Math.abs(rw - 0.1 * (lt - lr)) < 1e-5, `reward = beta (tuned - ref): ${JSON.stringify(r)}`);
    if (r.good === 'true') assert.ok(lt - lr > 0, `the good completion gained: ${JSON.stringify(r)}`);
  }
  assert.equal(await pf.locator('.rewritten li').count(), 4, 'the same seeds write again');
  assert.ok(await pf.locator('.rewritten li .gen').count() > 0);
  assert.equal((await current()).kind, 'prefer');
  assert.equal((await current()).tuned, true);
  // the fine-tuning widget's numbers (of other weights) went; the score widget re-scored
  await scoreWidgetShows((await client('score', original.scoreText)).logprobs);
  assert.match(await pf.locator('.status').textContent(), /Tuned 15 steps on 2 \(good, bad\) pairs/);
  await shootWidget(page, PF, 'prefer-en.png');

  // the worker's numbers directly: every rated item reported, reward = beta (tuned - ref)
  await client('resetTune');
  const items = [{ text: written[0].text, good: true }, { text: written[1].text, good: false }];
  const prompt = await pf.locator('.prompt').inputValue();
  const res = await page.evaluate(async ([prompt, items]) => {
    const c = await import('/www/client.js');
    const steps = [];
    const done = await c.prefer(prompt, items, { steps: 8, lr: 1e-3, beta: 0.5, seed: 3 }, (m) => steps.push(m));
    return { steps, done };
  }, [prompt, items]);
  assert.equal(res.done.pairs, 1);
  assert.equal(res.steps.length, 8);
  assert.ok(res.steps.at(-1).margin > res.steps[0].margin);
  assert.equal(res.done.rows.length, 2);
  for (const r of res.done.rows) assert.ok(Math.abs(r.reward - 0.5 * (r.logpTuned - r.logpRef)) < 1e-5);
  assert.ok(res.done.rows[0].logpTuned > res.done.rows[0].logpRef);
  assert.ok(res.done.rows[1].logpTuned < res.done.rows[1].logpRef);
  await client('resetTune');
  assert.deepEqual((await client('score', original.text)).logprobs, original.taught.logprobs);
});

test('bad settings and bad ratings are refused in words, and the model keeps working', async () => {
  const { page } = h;
  const ft = page.locator(FT);
  const before = await current();
  assert.equal(before.tuned, false);
  const refused = async (fill, re) => {
    await ft.locator('.train:not([disabled])').waitFor(LONG);
    await fill();
    await ft.locator('.train').click();
    assert.equal(await finished(page, FT), 'error');
    assert.match(await ft.locator('.status').textContent(), re);
    assert.equal((await current()).tuned, false);
  };
  await refused(() => ft.locator('.text').fill('   '), /Write some text to teach the model first/);
  await ft.locator('.text').fill(original.text);
  await refused(() => ft.locator('.steps').fill('0'), /Steps must be a whole number from 1 to 500/);
  await refused(() => ft.locator('.steps').fill('501'), /Steps must be a whole number from 1 to 500/);
  await refused(() => ft.locator('.steps').fill('2.5'), /Steps must be a whole number/);
  await ft.locator('.steps').fill('20');
  await refused(() => ft.locator('.lr').fill('-0.001'), /learning rate must be a number above 0 and at most 0\.1/);
  await refused(() => ft.locator('.lr').fill(''), /learning rate must be/);
  await refused(() => ft.locator('.lr').fill('0.5'), /learning rate must be/);
  await ft.locator('.lr').fill('0.001');

  // the engine refuses the same by itself, before any weight changes
  const engineRefusals = await page.evaluate(async (text) => {
    const c = await import('/www/client.js');
    const cases = [['', { steps: 5, lr: 1e-3 }], [text, { steps: 0, lr: 1e-3 }], [text, { steps: 501, lr: 1e-3 }],
      [text, { steps: 5, lr: NaN }], [text, { steps: 5, lr: -1 }], [text, { steps: 5, lr: 0.2 }]];
    const out = [];
    for (const [t, o] of cases) out.push(await c.finetune(t, o).then(() => 'accepted', (e) => e.message));
    const items = [{ text: ' I am good.', good: true }, { text: ' So am I.', good: true }];
    out.push(await c.prefer('KING.', items, { steps: 3, lr: 1e-3, beta: 0.1 }).then(() => 'accepted', (e) => e.message));
    out.push(await c.prefer('KING.', items.map((i) => ({ ...i, good: false })), { steps: 3, lr: 1e-3, beta: 0.1 }).then(() => 'accepted', (e) => e.message));
    out.push(await c.prefer('KING.', [], { steps: 3, lr: 1e-3, beta: 0.1 }).then(() => 'accepted', (e) => e.message));
    return out;
  }, original.text);
  console.log(`engine refusals:\n  ${engineRefusals.join('\n  ')}`);
  for (const m of engineRefusals) assert.ok(m !== 'accepted' && m.length > 10, m);
  assert.equal((await current()).tuned, false);
  assert.deepEqual((await client('score', original.text)).logprobs, original.taught.logprobs, 'nothing changed');

  // preference: nothing written, nothing rated, no bad, no good
  const pf = page.locator(PF);
  await pf.evaluate((el) => el.clear());
  await pf.locator('.tune:not([disabled])').waitFor(LONG);
  await pf.locator('.tune').click();
  assert.equal(await finished(page, PF), 'error');
  assert.match(await pf.locator('.status').textContent(), /Write completions first/);
  await writeAndRate(page, {});
  await pf.locator('.tune').click();
  assert.equal(await finished(page, PF), 'error');
  assert.match(await pf.locator('.status').textContent(), /No completion is rated yet/);
  await pf.locator('.written li[data-seed="2"] .rate.good').click();
  await pf.locator('.tune').click();
  assert.equal(await finished(page, PF), 'error');
  assert.match(await pf.locator('.status').textContent(), /No completion is rated − \(bad\)/);
  await pf.locator('.written li[data-seed="2"] .rate.bad').click(); // now − instead of +
  await pf.locator('.tune').click();
  assert.equal(await finished(page, PF), 'error');
  assert.match(await pf.locator('.status').textContent(), /No completion is rated \+ \(good\)/);
  await pf.locator('.written li[data-seed="1"] .rate.good').click();
  // one text rated both ways
  const saved = await pf.evaluate((el) => { const t = el.written.items[1].text; el.written.items[1].text = el.written.items[0].text; return t; });
  await pf.locator('.tune').click();
  assert.equal(await finished(page, PF), 'error');
  assert.match(await pf.locator('.status').textContent(), /seeds 1 and 2 are the same text, rated \+ and −/);
  await pf.evaluate((el, t) => { el.written.items[1].text = t; }, saved);
  await pf.locator('.beta').fill('0');
  await pf.locator('.tune').click();
  assert.equal(await finished(page, PF), 'error');
  assert.match(await pf.locator('.status').textContent(), /Beta must be a number above 0 and at most 10/);
  await pf.locator('.beta').fill('0.1');
  assert.equal((await current()).tuned, false);

  // text longer than the context is trained in windows (not refused), and scored in windows
  const slice = await (await fetch(`${h.origin}/www/models/heldout-slice.txt`)).text();
  const long = await client('finetune', slice, { steps: 1, lr: 1e-4, seed: 0 });
  assert.ok(long.windows > 1, `${long.windows} windows for ${long.tokens} tokens`);
  assert.equal(long.steps, 1);
  await client('resetTune');
  await ft.locator('.text').fill(slice.slice(0, 2000));
  await ft.locator('.steps').fill('2');
  await ft.locator('.train').click();
  assert.equal(await finished(page, FT), 'done', await ft.locator('.status').textContent());
  assert.ok(await ft.locator('.side[data-side="after"] .taught .tok').count() > 256, 'every token of the long text scored');
  await ft.locator('.reset').click();
  await ft.locator('.status', { hasText: 'Reset' }).waitFor(LONG);
  await ft.locator('.text').fill(original.text);
  await ft.locator('.steps').fill('20');
  assert.deepEqual((await client('score', original.text)).logprobs, original.taught.logprobs);
  assert.deepEqual(pageErrors(), []);
});

test('the exported GGUF loads back as a model and scores the taught text as the tuned model did', async () => {
  const { page } = h;
  const ft = page.locator(FT);
  await ft.locator('.steps').fill('10');
  await ft.locator('.train:not([disabled])').waitFor(LONG);
  await ft.locator('.train').click();
  assert.equal(await finished(page, FT), 'done');
  const tuned = await client('score', original.text);
  // the widget's Download gives a file
  const [download] = await Promise.all([page.waitForEvent('download', LONG), ft.locator('.download').click()]);
  assert.match(download.suggestedFilename(), /-tuned\.gguf$/);
  const r = await page.evaluate(async (text) => {
    const c = await import('/www/client.js');
    const bytes = await c.exportTuned();
    const magic = String.fromCharCode(...bytes.subarray(0, 4));
    await c.loadModel({ bytes, name: 'exported-tuned.gguf' });
    const s = await c.score(text);
    return { magic, size: bytes.length, s, tuned: c.model.current.tuned, name: c.model.current.name };
  }, original.text);
  assert.equal(r.magic, 'GGUF');
  assert.equal(r.tuned, false, 'a loaded file, not tuned weights on top of one');
  assert.equal(r.name, 'exported-tuned.gguf');
  assert.deepEqual(r.s.tokens, tuned.tokens);
  const worst = Math.max(...r.s.logprobs.map((v, i) => Math.abs(v - tuned.logprobs[i])));
  console.log(`exported ${r.size} bytes; largest log-probability difference from the tuned model: ${worst}`);
  assert.ok(worst < 1e-3, `the exported file scores as the tuned model did (largest difference ${worst})`);
  assert.ok(r.s.total > original.taught.total, 'and it still knows the tiger');
  // back to the shipped model for the tests that follow
  await page.locator('gpt-model .pick').selectOption({ index: 0 });
  await page.locator('gpt-model .load').click();
  await loaded(page);
  await ft.locator('.steps').fill('20');
  assert.deepEqual((await client('score', original.text)).logprobs, original.taught.logprobs);
});

test('a crash loses the tuned weights: the page says so and reloads the model as it was loaded', async () => {
  const { page } = h;
  await client('finetune', original.text, { steps: 3, lr: 1e-3, seed: 0 });
  assert.equal((await current()).tuned, true);
  const failed = await page.evaluate(async () => {
    const c = await import('/www/client.js');
    await c.failNextStep('panic', 2);
    return c.generate(c.newSlot(), 'ROMEO.', { temperature: 0 }, 5).then(() => 'no crash', (e) => e.message);
  });
  assert.match(failed, /a panic/);
  await page.locator('gpt-model .notice', { hasText: /reloaded .* as it was loaded: the fine-tuned weights were lost/ }).waitFor(LONG);
  await loaded(page);
  assert.equal((await current()).tuned, false);
  assert.deepEqual((await client('score', original.text)).logprobs, original.taught.logprobs);
  assert.equal(await page.locator('#tuned').isVisible(), false);
});

test('a model loaded in the middle of training ends the training, and is the model as loaded', async () => {
  const { page } = h;
  const r = await page.evaluate(async (text) => {
    const c = await import('/www/client.js');
    const list = await c.shippedModels();
    let load = null;
    const tuning = c.finetune(text, { steps: 300, lr: 1e-3 }, (m) => { if (m.step === 2 && !load) load = c.loadModel(list[1]); });
    const message = await tuning.then(() => 'finished', (e) => e.message);
    await load;
    const m = c.model.current;
    return { message, name: m.name, tuned: m.tuned, info: m.tune };
  }, original.text);
  assert.match(r.message, /another model was loaded: the tuning under way was dropped/);
  assert.match(r.name, /Q4_0/);
  assert.equal(r.tuned, false);
  assert.equal(r.info.tuned, false);
  // the new engine tunes from its own weights
  const done = await client('finetune', original.text, { steps: 2, lr: 1e-3 });
  assert.equal(done.steps, 2);
  await page.locator('gpt-model .pick').selectOption({ index: 0 });
  await page.locator('gpt-model .load').click();
  await loaded(page);
  assert.equal((await current()).tuned, false);
  assert.deepEqual((await client('score', original.text)).logprobs, original.taught.logprobs);
});

/**
 * Trains a few steps and takes the fine-tuning widget's picture (`shoot(FT)`), resets, then tunes
 * preferences a few steps and takes that widget's: each widget's numbers go when the other
 * changes the weights.
 */
async function fillAndShoot(page, shoot) {
  const ft = page.locator(FT);
  await ft.locator('.steps').fill('8');
  await ft.locator('.train:not([disabled])').waitFor(LONG);
  await ft.locator('.train').click();
  assert.equal(await finished(page, FT), 'done');
  await shoot(FT);
  await ft.locator('.reset').click();
  await page.waitForFunction(async () => (await import('/www/client.js')).model.current?.tuned === false);
  const pf = page.locator(PF);
  await writeAndRate(page, { 1: '+', 2: '-', 4: '-' });
  await pf.locator('.steps').fill('6');
  await pf.locator('.tune').click();
  assert.equal(await finished(page, PF), 'done', await pf.locator('.status').textContent());
  await shoot(PF);
}

for (const [lang, width] of [['en', 390], ['ko', 1100], ['ko', 390]]) {
  test(`both widgets in ${lang === 'en' ? 'English' : 'Korean'} at ${width} pixels: screenshots, nothing wider than the screen`, async () => {
    const phone = width < 600;
    const ctx = await h.context.browser().newContext(phone ? { viewport: { width, height: 844 }, hasTouch: true, isMobile: true } : { viewport: { width, height: 900 } });
    const page = await ctx.newPage();
    const errors = [];
    page.on('pageerror', (e) => errors.push(e.message));
    try {
      await page.goto(`${h.origin}/index.html?lang=${lang}`);
      await loaded(page);
      const name = `${lang}${phone ? '-phone' : ''}`;
      await fillAndShoot(page, async (widget) => {
        if (lang === 'ko') {
          assert.match(await page.locator(widget).locator('h3').textContent(), widget === FT ? /파인튜닝/ : /선호 튜닝/);
          assert.match(await page.locator(widget).locator('.status').textContent(), widget === FT ? /학습했습니다/ : /튜닝했습니다/);
        }
        await shootWidget(page, widget, `${widget === FT ? 'finetune' : 'prefer'}-${name}.png`);
      });
      if (phone) {
        assert.equal(await page.evaluate(() => document.documentElement.scrollWidth), width, 'the page fits the phone');
        await page.locator('#rlhf').scrollIntoViewIfNeeded();
        await page.screenshot({ path: `${h.artifacts}/rlhf-${name}-viewport.png` });
      }
      assert.deepEqual(errors, []);
    } finally { await ctx.close(); }
  });
}
