// Loads stream: a model goes into the engine chunk by chunk (from the network, the Cache API or
// a File), never whole in the worker's memory, so the engine's memory grows by about the file's
// size, not twice it. A file that cannot fit is refused before its body is read; a download cut
// short is a clear error; a download of unknown size (chunked, compressed) still loads. Each time
// the model loaded before keeps working. Test-only routes come from a small server of another origin.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import zlib from 'node:zlib';
import { start, fixture, ROOT } from './harness.mjs';
import { CACHE_NAME } from '../../www/protocol.js';

const SHIPPED = '/www/models/shakespeare-q8_0.gguf';
const FILE = fs.readFileSync(path.join(ROOT, SHIPPED));
// 28 MB, weights almost all of it: the engine's own overhead is small beside them
const big = fixture('stream-q8_0.gguf', '--type', 'Q8_0', '--seed', '7', '--layers', '8', '--width', '512', '--ctx', '256', '--vocab', '2000');

let h, other;
/** What the other server saw: {name, method, sent, early} per request (`early`: the client hung up first). */
const seen = [];

/** The routes: a file claiming 5 GB (the real header, then a trickle), one cut short, one chunked, two gzipped. */
function route(req, res) {
  const name = new URL(req.url, 'http://x').pathname;
  const entry = { name, method: req.method, sent: 0, early: false };
  seen.push(entry);
  res.on('close', () => { entry.early = !res.writableFinished; });
  const headers = { 'Access-Control-Allow-Origin': '*', 'Content-Type': 'application/octet-stream' };
  const send = (body, extra) => {
    res.writeHead(200, { ...headers, ...extra });
    if (req.method === 'HEAD') { res.end(); return; }
    entry.sent = body.length;
    res.end(body);
  };
  if (name === '/huge.gguf') {
    res.writeHead(200, { ...headers, 'Content-Length': String(5e9) });
    if (req.method === 'HEAD') { res.end(); return; }
    const timer = setInterval(() => {
      if (entry.sent >= FILE.length) { clearInterval(timer); return; }
      res.write(FILE.subarray(entry.sent, entry.sent + 65536));
      entry.sent += 65536;
    }, 20);
    res.on('close', () => clearInterval(timer));
  } else if (name === '/truncated.gguf') {
    // announces the whole file, sends half, and drops the connection
    res.writeHead(200, { ...headers, 'Content-Length': String(FILE.length) });
    entry.sent = FILE.length >> 1;
    res.write(FILE.subarray(0, entry.sent), () => setTimeout(() => res.socket.destroy(), 50));
  } else if (name === '/chunked.gguf') {
    send(FILE, {});
  } else if (name === '/gzip-exposed.gguf' || name === '/gzip-hidden.gguf') {
    // a compressed body's Content-Length is the compressed size; the hidden one's encoding is not
    // exposed to another origin (CORS), so the worker sees a length that is not the file's
    const gz = zlib.gzipSync(FILE);
    const expose = name === '/gzip-exposed.gguf' ? { 'Access-Control-Expose-Headers': 'Content-Encoding' } : {};
    send(gz, { 'Content-Encoding': 'gzip', 'Content-Length': String(gz.length), ...expose });
  } else {
    res.writeHead(404, headers).end();
  }
}

before(async () => {
  h = await start();
  await h.page.goto(`${h.origin}/index.html`);
  other = http.createServer(route);
  await new Promise((resolve) => other.listen(0, '127.0.0.1', resolve));
});
after(async () => { await h?.close(); other?.close(); other?.closeAllConnections(); });

const at = (name) => `http://127.0.0.1:${other.address().port}${name}`;

/**
 * Runs `commands` against a fresh worker in the page and returns every message it sent;
 * `{fileUrl}` in a command is fetched by the page and sent as a File.
 */
function drive(commands) {
  return h.page.evaluate(async (commands) => {
    const { Status } = await import('/www/protocol.js');
    const w = new Worker('/www/worker.js', { type: 'module' });
    const seen = [];
    for (const cmd of commands) {
      if (cmd.fileUrl) { cmd.file = new File([await (await fetch(cmd.fileUrl)).blob()], cmd.fileUrl.split('/').pop()); delete cmd.fileUrl; }
      await new Promise((resolve) => {
        w.onmessage = ({ data }) => {
          seen.push(data);
          if (![Status.PROGRESS, Status.PROMPT, Status.TOKEN].includes(data.status)) resolve();
        };
        w.postMessage(cmd);
      });
    }
    w.terminate();
    return seen;
  }, commands);
}

const memory = (id) => ({ command: 'memory', id });
const wasmGrowth = (msgs) => msgs.find((m) => m.id === 3).wasmBytes - msgs.find((m) => m.id === 1).wasmBytes;
const cached = (url) => h.page.evaluate(async ({ name, url }) => {
  const r = await (await caches.open(name)).match(url);
  return r ? (await r.arrayBuffer()).byteLength : null;
}, { name: CACHE_NAME, url });

test('a model streams into the engine from the network, the cache and a File: the engine grows by its size, not twice it', async () => {
  const size = fs.statSync(big.file).size;
  assert.ok(size > 20e6, `${size} bytes: large beside the engine's own overhead`);
  for (const [source, load] of [['network', { url: big.urlPath }], ['cache', { url: big.urlPath }], ['file', { fileUrl: big.urlPath, name: 'stream-q8_0.gguf' }]]) {
    const msgs = await drive([memory(1), { command: 'load', id: 2, ...load }, memory(3)]);
    const loaded = msgs.find((m) => m.status === 'loaded');
    assert.ok(loaded, `${source}: ${JSON.stringify(msgs.filter((m) => m.status === 'error'))}`);
    assert.equal(loaded.source, source);
    assert.equal(loaded.streamed, true, `${source}: streamed`);
    // the old load path held the file in wasm memory beside the weights built from it: 2x
    const growth = wasmGrowth(msgs);
    assert.ok(growth < 1.3 * size, `${source}: wasm memory grew by ${(growth / size).toFixed(2)}x the file's size`);
    // progress carries the header's types as soon as it is in, before the file has all arrived
    const progress = msgs.filter((m) => m.status === 'progress');
    const first = progress.find((m) => m.header);
    assert.ok(first && first.loaded < size, `${source}: the types were known at ${first?.loaded} of ${size} bytes`);
    assert.deepEqual(first.header.bytesByType.map(([t]) => t).sort(), ['F32', 'Q8_0']);
    assert.deepEqual(progress.at(-1), { ...progress.at(-1), loaded: size, total: size, source });
    // the download was in the Cache API by the time it was announced as loaded
    if (source === 'network') assert.equal(await cached(`${h.origin}${big.urlPath}`), size);
  }
});

test('a file that cannot fit is refused before its body is read, and the model loaded before keeps working', async () => {
  seen.length = 0;
  const msgs = await drive([
    { command: 'load', id: 1, url: SHIPPED },
    { command: 'fits', id: 2, bytes: 5e9 },
    { command: 'fits', id: 3, bytes: 1e6 },
    { command: 'load', id: 4, url: at('/huge.gguf') },
    { command: 'generate', id: 5, prompt: 'ROMEO.', options: { temperature: 0 }, maxTokens: 5 },
  ]);
  const message = msgs.find((m) => m.id === 4 && m.status === 'error')?.message ?? '';
  assert.match(message, /this file is 4768 MiB and needs about \d+ MiB .* at most 4096 MiB/);
  assert.equal(msgs.find((m) => m.id === 2).why, message, 'the worker answers the same before a download');
  assert.equal(msgs.find((m) => m.id === 3).why, null);
  assert.equal(msgs.filter((m) => m.id === 5 && m.status === 'token').length, 5, 'the first model still works');
  // the worker hung up at the headers: the trickle had hardly started
  const get = seen.find((r) => r.name === '/huge.gguf' && r.method === 'GET');
  for (let i = 0; i < 50 && !get.early; i++) await new Promise((r) => setTimeout(r, 100));
  assert.ok(get.early, 'the download was cancelled');
  assert.ok(get.sent < FILE.length, `${get.sent} bytes were sent`);
  assert.equal(await cached(at('/huge.gguf')), null, 'nothing was cached');
});

test('a link to a model that cannot fit says so and offers no download', async () => {
  const page = await h.context.newPage();
  try {
    seen.length = 0;
    await page.goto(`${h.origin}/index.html?model=${encodeURIComponent(at('/huge.gguf'))}`);
    const ask = page.locator('gpt-model .ask');
    await ask.filter({ hasText: 'cannot load here' }).waitFor();
    assert.match(await ask.textContent(), /4768\.4 MiB.*4096 MiB/);
    assert.equal(await ask.locator('.ask-yes').isHidden(), true);
    await page.locator('gpt-model .status', { hasText: 'Loaded Shakespeare' }).waitFor();
    assert.deepEqual(seen.map((r) => r.method), ['HEAD'], 'only its size was asked');
  } finally { await page.close(); }
});

test('a download cut short is a clear error, is not cached, and the model loaded before keeps working', async () => {
  const msgs = await drive([
    { command: 'load', id: 1, url: SHIPPED },
    { command: 'load', id: 2, url: at('/truncated.gguf') },
    { command: 'generate', id: 3, prompt: 'ROMEO.', options: { temperature: 0 }, maxTokens: 5 },
  ]);
  const message = msgs.find((m) => m.id === 2 && m.status === 'error')?.message ?? '';
  assert.match(message, new RegExp(`truncated\\.gguf: the download broke off after \\d+ of ${FILE.length} bytes`));
  assert.equal(msgs.filter((m) => m.id === 3 && m.status === 'token').length, 5, 'the first model still works');
  assert.equal(await cached(at('/truncated.gguf')), null, 'the broken download was not cached');
});

test('a download of unknown size (chunked, or compressed) is read whole, then loads', async () => {
  for (const name of ['/chunked.gguf', '/gzip-exposed.gguf', '/gzip-hidden.gguf']) {
    const msgs = await drive([{ command: 'load', id: 1, url: at(name) }]);
    const loaded = msgs.find((m) => m.status === 'loaded');
    assert.ok(loaded, `${name}: ${JSON.stringify(msgs.filter((m) => m.status === 'error'))}`);
    assert.equal(loaded.streamed, false, name);
    assert.equal(loaded.info.config.n_vocab, 2048, name);
    assert.equal(msgs.filter((m) => m.status === 'progress').at(-1).total, FILE.length, name);
  }
});

test('while a file streams in, the picker says its size and every type it holds; the card lists them all', async () => {
  const page = await h.context.newPage();
  try {
    await page.goto(`${h.origin}/index.html`);
    await page.locator('gpt-model .status', { hasText: 'Loaded Shakespeare' }).waitFor();
    // every text the status line shows, in order
    await page.locator('gpt-model').evaluate((el) => {
      window.statuses = [];
      new MutationObserver((records) => {
        for (const r of records) for (const n of r.addedNodes) window.statuses.push(n.textContent);
      }).observe(el.shadowRoot.querySelector('.status'), { childList: true });
    });
    const mixed = path.join(ROOT, 'tests/fixtures/llama/byte256-Q4_K_M.gguf');
    await page.locator('gpt-model .file').setInputFiles(mixed);
    await page.locator('gpt-model .status', { hasText: 'Loaded byte256-Q4_K_M.gguf (from a local file)' }).waitFor();
    const during = (await page.evaluate(() => window.statuses)).filter((s) => s.startsWith('Reading'));
    const kib = `${(fs.statSync(mixed).size / 1024).toFixed(0)} KiB`;
    assert.ok(during.some((s) => s.includes(`of ${kib}`) && /\. The file holds Q6_K 427 KiB \(3 tensors\) · Q4_K 221 KiB \(3 tensors\) · F32 79 KiB \(11 tensors\)\.$/.test(s)),
      `the status line while the file is read: ${JSON.stringify(during)}`);
    assert.equal(await page.locator('gpt-model .types').textContent(),
      'Bytes by tensor type: Q6_K 427 KiB (3 tensors) · Q4_K 221 KiB (3 tensors) · F32 79 KiB (11 tensors)');
  } finally { await page.close(); }
});
