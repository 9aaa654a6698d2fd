// The worker protocol in headless Chromium: a GGUF from the local server with progress events,
// a token stream, Stop, and the same token ids as the native CLI for the same file, prompt and seed.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { start, fixture, cli, ROOT } from './harness.mjs';

let h;
// width 128 x 4 layers: slow enough in wasm that Stop lands mid-stream
const model = fixture('synth-q8_0.gguf', '--type', 'Q8_0', '--seed', '3', '--std', '0.1', '--layers', '4', '--width', '128', '--ctx', '512', '--vocab', '400');

before(async () => { h = await start(); await h.page.goto(`${h.origin}/index.html`); });
after(async () => { await h?.close(); });

/** Runs `commands` against a fresh worker in the page and returns every message it sent. */
async function drive(commands, stopAfterTokens = 0, workerUrl = '/www/worker.js') {
  return h.page.evaluate(async ({ commands, stopAfterTokens, workerUrl }) => {
    const { Command, Status } = await import('/www/protocol.js');
    const w = new Worker(workerUrl, { type: 'module' });
    const seen = [];
    for (const cmd of commands) {
      if (cmd.bytesText) cmd.bytes = new TextEncoder().encode(cmd.bytesText).buffer;
      await new Promise((resolve) => {
        let tokens = 0;
        w.onmessage = ({ data }) => {
          const copy = { ...data };
          if (copy.grid) copy.grid = Array.from(copy.grid);
          if (copy.attention) copy.attention = { ...copy.attention, data: Array.from(copy.attention.data) };
          seen.push(copy);
          if (data.status === Status.TOKEN && ++tokens === stopAfterTokens) w.postMessage({ command: Command.STOP });
          if ([Status.LOADED, Status.DONE, Status.ERROR, Status.SCORED, Status.XOR].includes(data.status)) resolve();
        };
        w.postMessage(cmd);
      });
    }
    w.terminate();
    return seen;
  }, { commands, stopAfterTokens, workerUrl });
}

// every type: our quantized kernels are bit-identical natively and in wasm
// every type llama.cpp's quantizer writes for GPT-2 (K-quant rows are whole 256-value super-blocks)
const TYPES = ['F32', 'F16', 'BF16', 'Q8_0', 'Q4_0', 'Q4_1', 'Q5_0', 'Q5_1', 'Q2_K', 'Q3_K', 'Q4_K', 'Q5_K', 'Q6_K'];
const settings = { temperature: 0.9, topK: 50, topP: 0.95, seed: 1234, topN: 5 };
const prompt = 'To be, or not to be: 언어 모델 😀';

test('loads with progress events and streams tokens', async () => {
  const msgs = await drive([
    { command: 'load', id: 1, url: model.urlPath },
    { command: 'generate', id: 2, prompt, options: settings, maxTokens: 40 },
  ]);
  const progress = msgs.filter((m) => m.status === 'progress');
  assert.ok(progress.length >= 1, 'progress events');
  const lastP = progress.at(-1);
  assert.equal(lastP.loaded, lastP.total);
  assert.ok(lastP.total > 100000);
  const loaded = msgs.find((m) => m.status === 'loaded');
  assert.ok(loaded, JSON.stringify(msgs.filter((m) => m.status === 'error')));
  assert.equal(loaded.info.config.n_layer, 4);
  const tokens = msgs.filter((m) => m.status === 'token');
  assert.ok(tokens.length >= 20, `${tokens.length} tokens`);
  assert.deepEqual(tokens.map((t) => t.position), tokens.map((_, i) => tokens[0].position + i));
  const done = msgs.find((m) => m.status === 'done');
  assert.equal(done.tokens, tokens.length);
  // a second load comes from the Cache API, with progress too
  const again = await drive([{ command: 'load', id: 1, url: model.urlPath }]);
  assert.equal(again.find((m) => m.status === 'loaded').source, 'cache');
  assert.ok(again.some((m) => m.status === 'progress'));
});

for (const type of TYPES) {
  test(`the browser and the native CLI give the same token ids (${type})`, async () => {
    const width = type.endsWith('_K') ? '256' : '128';
    const f = fixture(`synth-${type}-${width}.gguf`, '--type', type, '--seed', '3', '--std', '0.1', '--layers', '4', '--width', width, '--ctx', '512', '--vocab', '400');
    const msgs = await drive([
      { command: 'load', id: 1, url: f.urlPath },
      { command: 'generate', id: 2, prompt, options: settings, maxTokens: 40 },
    ]);
    const native = JSON.parse(cli('generate', '--model', f.file, '--prompt', prompt, '--temperature', '0.9',
      '--top-k', '50', '--top-p', '0.95', '--seed', '1234', '--max-tokens', '40', '--json'));
    assert.deepEqual(msgs.find((m) => m.status === 'prompt').tokens, native.promptTokens);
    const tokens = msgs.filter((m) => m.status === 'token');
    assert.deepEqual(tokens.map((t) => t.token), native.tokens);
    assert.equal(tokens.map((t) => t.text).join(''), native.text);
  });
}

// the files llama.cpp's own quantizer wrote (tests/fixtures/llama): the browser loads each, says
// which types it holds, and gives the native CLI's greedy tokens (which tests/llama_golden.rs
// compares with llama.cpp's)
const LLAMA = JSON.parse(fs.readFileSync(path.join(ROOT, 'tests/fixtures/llama/outputs.json'), 'utf8'));
test('every llama.cpp-quantized fixture loads in the browser and decodes as natively', async () => {
  for (const [file, f] of Object.entries(LLAMA.files)) {
    const urlPath = `/tests/fixtures/llama/${file}`;
    const msgs = await drive([
      { command: 'load', id: 1, url: urlPath },
      { command: 'generate', id: 2, prompt: 'To be, or not to be', options: { temperature: 0 }, maxTokens: 16 },
    ]);
    const loaded = msgs.find((m) => m.status === 'loaded');
    assert.ok(loaded, `${file}: ${JSON.stringify(msgs.filter((m) => m.status === 'error'))}`);
    const types = new Set(Object.values(f.tensor_types));
    assert.deepEqual(new Set(loaded.info.bytesByType.map(([t]) => t)), types, `${file}: the card lists every type in the file`);
    const native = JSON.parse(cli('generate', '--model', path.join(ROOT, urlPath), '--prompt', 'To be, or not to be', '--temperature', '0', '--max-tokens', '16', '--json'));
    assert.deepEqual(msgs.filter((m) => m.status === 'token').map((t) => t.token), native.tokens, file);
  }
});

test('Stop ends generation within one token', async () => {
  const msgs = await drive([
    { command: 'load', id: 1, url: model.urlPath },
    { command: 'generate', id: 2, prompt: 'Hello', options: { ...settings, seed: 5 }, maxTokens: 400 },
  ], 5);
  const tokens = msgs.filter((m) => m.status === 'token');
  const done = msgs.find((m) => m.status === 'done');
  assert.equal(done.reason, 'stopped');
  // the worker counts the tokens it finished after the Stop message arrived
  assert.ok(done.tokensAfterStop !== null && done.tokensAfterStop <= 1, `${done.tokensAfterStop} tokens after Stop arrived`);
  assert.ok(tokens.length >= 5 && tokens.length < 400, `${tokens.length} tokens`);
  assert.equal(msgs.at(-1).status, 'done', 'nothing after done');
});

test('a bad file, a non-GGUF URL and a 404 are clear errors and keep the loaded model', async () => {
  const msgs = await drive([
    { command: 'load', id: 1, url: model.urlPath },
    { command: 'load', id: 2, url: '/index.html' },
    { command: 'load', id: 3, url: '/no/such/model.gguf' },
    { command: 'load', id: 4, bytesText: 'GGUF\x03\0\0\0garbage' },
    { command: 'generate', id: 5, prompt: '', options: settings, maxTokens: 5 },
    { command: 'generate', id: 6, prompt: 'Hi', options: { ...settings, temperature: NaN }, maxTokens: 5 },
    { command: 'generate', id: 7, prompt: 'Hi', options: settings, maxTokens: 3 },
  ]);
  const err = (id) => msgs.find((m) => m.id === id && m.status === 'error')?.message ?? '';
  assert.match(err(2), /HTML/);
  assert.match(err(3), /404/);
  assert.match(err(4), /truncated|corrupt/);
  assert.match(err(5), /empty/);
  assert.match(err(6), /temperature/);
  assert.equal(msgs.filter((m) => m.id === 7 && m.status === 'token').length, 3, 'the first model still works');
  assert.deepEqual(h.foreign, [], 'no request left the origin');
});

test('a pool of threads gives the same bits as one thread', async (t) => {
  const built = await h.page.evaluate(async () => (await fetch('/www/pkg-threads/inside_gpt.js', { method: 'HEAD' })).ok);
  if (!built) { t.skip('www/pkg-threads not built (no nightly toolchain with rust-src here): the site runs single-threaded'); return; }
  // a long prompt: its products are large enough to be split across the pool
  const commands = [
    { command: 'load', id: 1, url: model.urlPath },
    { command: 'generate', id: 2, prompt: prompt.repeat(10), options: { ...settings, attention: true }, maxTokens: 12 },
  ];
  const one = await drive(commands, 0, '/www/worker.js?threads=1');
  const two = await drive(commands, 0, '/www/worker.js?threads=2');
  assert.equal(one.find((m) => m.status === 'loaded').threads, 1);
  assert.equal(two.find((m) => m.status === 'loaded').threads, 2);
  const pick = (msgs) => msgs.filter((m) => m.status === 'prompt' || m.status === 'token').map(({ status, tokens, token, prob, top, attention }) => ({ status, tokens, token, prob, top, attention }));
  const [a, b] = [pick(one), pick(two)];
  assert.ok(a[0].tokens.length > 120, `${a[0].tokens.length} prompt tokens`);
  assert.equal(a.length, 13);
  assert.deepEqual(b, a);
});

test("the site's build refuses candle's kernels, saying why; the benchmarks' build runs them", async (t) => {
  const msgs = await drive([
    { command: 'load', id: 1, url: model.urlPath },
    { command: 'load', id: 2, url: model.urlPath, kernels: 'candle' },
    { command: 'score', id: 3, text: prompt },
  ]);
  const refused = msgs.find((m) => m.id === 2 && m.status === 'error');
  assert.ok(refused, 'the candle load was refused');
  assert.match(refused.message, /no candle baseline.*candle-baseline/);
  assert.ok(msgs.find((m) => m.id === 3 && m.status === 'scored'), 'the first model still works');
  const built = await h.page.evaluate(async () => (await fetch('/www/pkg-bench/inside_gpt.js', { method: 'HEAD' })).ok);
  if (!built) { t.skip('www/pkg-bench not built (.ci/build-bench makes it; .ci/bench runs that)'); return; }
  const score = (kernels) => drive([{ command: 'load', id: 1, url: model.urlPath, kernels }, { command: 'score', id: 2, text: prompt }], 0, '/www/worker.js?build=bench');
  const [ours, candle] = [await score(undefined), await score('candle')];
  const lp = (msgs) => msgs.find((m) => m.status === 'scored')?.logprobs ?? assert.fail(JSON.stringify(msgs.filter((m) => m.status === 'error')));
  const [a, b] = [lp(ours), lp(candle)];
  assert.equal(a.length, b.length);
  const diff = Math.max(...a.map((x, i) => (x === null ? 0 : Math.abs(x - b[i]))));
  // the same model through other kernels: close, not equal (candle quantizes activations its own way)
  assert.ok(diff > 0 && diff < 0.05, `log-probabilities differ by ${diff}`);
});

test('XOR runs in the worker without a model: the numbers the module computes directly', async () => {
  const grid = { n: 5, lo: -0.5, hi: 1.5 };
  const msgs = await drive([
    { command: 'xorNew', id: 1, net: 7, sizes: [2, 2, 1], activation: 'sigmoid', seed: 1, noisy: false, points: 12, dataSeed: 7, grid },
    { command: 'xorStep', id: 2, net: 7, x1: 1, x2: 1, target: 0, lr: 2, grid },
    { command: 'xorEpoch', id: 3, net: 7, epochs: 10, lr: 2, grid },
    { command: 'xorNew', id: 4, net: 7, sizes: [3, 1], activation: 'sigmoid', seed: 1, grid },
    { command: 'xorStep', id: 5, net: 8, x1: 1, x2: 1, target: 0, lr: 2 },
  ]);
  const direct = await h.page.evaluate(async (grid) => {
    const m = await import('/www/pkg/inside_gpt.js');
    await m.default();
    const x = new m.Xor(new Uint32Array([2, 2, 1]), 'sigmoid', 1);
    x.setData(false, 12, 7);
    const first = { weights: x.net(), losses: x.losses(), grid: Array.from(x.grid(grid.n, grid.lo, grid.hi)), data: x.data() };
    const trace = x.step(1, 1, 0, 2);
    const stepped = { weights: x.net(), losses: x.losses(), grid: Array.from(x.grid(grid.n, grid.lo, grid.hi)) };
    for (let i = 0; i < 10; i++) x.epoch(2);
    return { first, trace, stepped, trained: { weights: x.net(), losses: x.losses() } };
  }, grid);
  const at = (id) => msgs.find((m) => m.id === id);
  assert.deepEqual(msgs.map((m) => m.status), ['xor', 'xor', 'xor', 'error', 'error']);
  assert.deepEqual({ weights: at(1).weights, losses: at(1).losses, grid: at(1).grid, data: at(1).data }, direct.first);
  assert.deepEqual(at(2).trace, direct.trace);
  assert.deepEqual({ weights: at(2).weights, losses: at(2).losses, grid: at(2).grid }, direct.stepped);
  assert.deepEqual({ weights: at(3).weights, losses: at(3).losses }, direct.trained);
  assert.match(at(4).message, /layer sizes/);
  assert.match(at(5).message, /XOR network is gone/);
});
