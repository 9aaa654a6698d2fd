// The benchmark command (not a test): kernels natively, in wasm under node and in a Chromium
// worker; end-to-end prefill/decode in Chromium for ours, the same file through candle's QMatMul,
// and wllama (llama.cpp in wasm), all single-threaded; time to first token cold and cached; the
// .wasm size; the page's start-up on a first visit (startup.mjs, which also runs alone). Prints
// markdown; `--write` also writes BENCHMARKS.md. Run by `.ci/bench`, which also builds
// www/pkg-bench: the engine with candle's kernels and benchKernels (cargo feature candle-baseline),
// which the site's www/pkg leaves out; the kernel tables and the candle rows use it.
// `--notes` rewrites only BENCHMARKS.md's hand-written notes (see below).
// For quick looks: BENCH_SKIP_KERNELS=1, and BENCH_MODELS=[{name,url,promptTokens,decode,shapes}] instead of the two models.
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import os from 'node:os';
import { execFileSync } from 'node:child_process';
import { chromium } from 'playwright-core';
import { start, cli, ROOT } from './harness.mjs';
import * as startup from './startup.mjs';

const args = process.argv.slice(2);
const NOTES = path.join(ROOT, 'tests/e2e/bench-notes.md');
// `--notes`: BENCHMARKS.md's measured part kept as the last run wrote it, its hand-written notes
// (tests/e2e/bench-notes.md, which follow it from their first heading on) replaced; no benchmark runs
if (args.includes('--notes')) {
  const file = path.join(ROOT, 'BENCHMARKS.md');
  const [was, notes] = [fs.readFileSync(file, 'utf8'), fs.readFileSync(NOTES, 'utf8')];
  const at = was.indexOf('\n' + notes.trimStart().split('\n')[0] + '\n');
  if (at < 0) throw new Error('BENCHMARKS.md has no notes heading to replace from');
  fs.writeFileSync(file, was.slice(0, at + 1) + notes.trimStart());
  process.exit(0);
}
const SECONDS = 0.5;
const MODELS = process.env.BENCH_MODELS ? JSON.parse(process.env.BENCH_MODELS) : [
  // the default model decodes more tokens: 64 of them take about 15 ms, too short to time well
  { name: 'default (Shakespeare, Q8_0)', url: '/www/models/shakespeare-q8_0.gguf', promptTokens: 32, decode: 200, shapes: 'default' },
  { name: 'GPT-2 124M shape (synthetic, Q8_0)', url: '/target/bench/gpt2-124m-q8_0.gguf', promptTokens: 128, decode: 64, shapes: 'gpt2' },
  // made by tests/e2e/make_bench_models.py: random weights quantized by llama.cpp's own quantizer
  { name: 'GPT-2 124M shape (random, llama.cpp Q4_K_M)', url: '/target/bench/gpt2-124m-q4_k_m.gguf', promptTokens: 128, decode: 64, shapes: 'gpt2', types: true },
];
const XL = { name: 'GPT-2 XL shape (random, llama.cpp Q4_K_M)', url: '/target/bench/gpt2-xl-q4_k_m.gguf', promptTokens: 32, decode: 16 };
const DECODE = 64;
const out = [];
const say = (s = '') => { out.push(s); console.log(s); };

function kernelTable(title, rows) {
  say(`### ${title}\n`);
  say('| shape | type | bytes/weight | k x n | ours GFLOP/s | candle QMatMul GFLOP/s | scalar GFLOP/s | ours / candle | ours / our Q8_0 |');
  say('|---|---|---|---|---|---|---|---|---|');
  const f = (v) => (v == null ? '(no kernel)' : v.toFixed(2));
  for (const r of rows) {
    const q8 = rows.find((o) => o.shape === r.shape && o.dtype === 'Q8_0');
    say(`| ${r.shape} | ${r.dtype} | ${r.bytesPerWeight.toFixed(3)} | ${r.k}x${r.n} | ${r.oursGflops.toFixed(2)} | ${f(r.candleGflops)} | ${r.scalarGflops.toFixed(2)} | ${f(r.ratio)} | ${q8 ? (r.oursGflops / q8.oursGflops).toFixed(2) : ''} |`);
  }
  say();
}

if (!fs.existsSync(path.join(ROOT, 'www/pkg-bench/inside_gpt_bg.wasm'))) {
  throw new Error('www/pkg-bench is missing: .ci/bench builds it (wasm-pack build ... --out-dir www/pkg-bench -- --features candle-baseline)');
}
const h = await start();
const chromiumVersion = h.page.context().browser().version();
const cpu = os.cpus()[0]?.model ?? 'unknown CPU';
say(`Machine: ${os.cpus().length} cores of ${cpu}, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB; Chromium ${chromiumVersion}; node ${process.version}; ${new Date().toISOString().slice(0, 10)}.`);
say(`Command: \`.ci/bench\` (= \`node tests/e2e/bench.mjs --write\`). Every ratio compares numbers measured in the same run.\n`);

// --- kernels
// a blank page of our origin (the server's 404 page) for the workers
await h.page.goto(`${h.origin}/bench-blank`);
var inWorker = [];
var inNode = [];
const goals = { decode: {}, efficiency: {} };
if (!process.env.BENCH_SKIP_KERNELS) {
say('## Kernels: 1 x k by k x n products\n');
say(`Each figure is the best of five windows of ${SECONDS / 5} s (a burst of other work on this shared machine lowers one window, not the figure), for ours, candle and the scalar twin alike. The decode-loop efficiency below divides a plain decode run by these best-of figures, which errs against us.\n`);
kernelTable('Native x86-64 (ours: SSE2, one thread; candle: AVX2 and both cores)', JSON.parse(cli('bench', '--json', '--seconds', String(SECONDS))));
{
  const pkg = path.join(ROOT, 'www/pkg-bench');
  const mod = await import(path.join(pkg, 'inside_gpt.js'));
  await mod.default({ module_or_path: fs.readFileSync(path.join(pkg, 'inside_gpt_bg.wasm')) });
  inNode = mod.benchKernels(SECONDS);
  kernelTable(`wasm simd128 under node ${process.version}`, inNode);
}
var inWorker = await h.page.evaluate(async (seconds) => {
  const src = `import init, { benchKernels } from '${location.origin}/www/pkg-bench/inside_gpt.js';
    self.onmessage = async () => { await init(); self.postMessage(benchKernels(${seconds})); };`;
  const w = new Worker(URL.createObjectURL(new Blob([src], { type: 'text/javascript' })), { type: 'module' });
  const rows = await new Promise((r) => { w.onmessage = (e) => r(e.data); w.postMessage(null); });
  w.terminate();
  return rows;
}, SECONDS);
kernelTable(`wasm simd128 in a Chromium ${chromiumVersion} worker`, inWorker);
say('### Every type, on two of GPT-2 124M\'s shapes\n');
say('Each type in its own form (src/kernels.rs): Q8_0 in its own kernel; Q4_0, Q4_K and Q6_K in fused simd128 kernels when decoding (the unpacking in registers; natively they take the general path); the other types unpacked row by row to i16 and multiplied by the shared kernel; F16 and BF16 widened to f32. "(no kernel)": candle\'s QMatMul has no kernel for the type.\n');
kernelTable('Native x86-64, every type', JSON.parse(cli('bench', '--json', '--all-types', '--seconds', String(SECONDS))));
{
  const pkg = path.join(ROOT, 'www/pkg-bench');
  const mod = await import(path.join(pkg, 'inside_gpt.js'));
  kernelTable(`wasm simd128 under node ${process.version}, every type`, mod.benchKernels(SECONDS, true));
}
kernelTable(`wasm simd128 in a Chromium ${chromiumVersion} worker, every type`, await h.page.evaluate(async (seconds) => {
  const src = `import init, { benchKernels } from '${location.origin}/www/pkg-bench/inside_gpt.js';
    self.onmessage = async () => { await init(); self.postMessage(benchKernels(${seconds}, true)); };`;
  const w = new Worker(URL.createObjectURL(new Blob([src], { type: 'text/javascript' })), { type: 'module' });
  const rows = await new Promise((r) => { w.onmessage = (e) => r(e.data); w.postMessage(null); });
  w.terminate();
  return rows;
}, SECONDS));
}

const PROMPT = 'ROMEO. But soft, what light through yonder window breaks? It is the east, and Juliet is the sun. Arise, fair sun, and kill the envious moon, who is already sick and pale with grief that thou her maid art far more fair than she. Be not her maid, since she is envious; her vestal livery is but sick and green, and none but fools do wear it; cast it off. It is my lady, O it is my love!';

/** Ours' runs of one setting as one: the median of each figure, the rest from the first run. */
function medianRun(runs) {
  const med = (v) => { const s = v.filter((x) => x != null).sort((a, b) => a - b); return s.length ? (s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2) : null; };
  return { ...runs[0], prefill: med(runs.map((r) => r.prefill)), decode: med(runs.map((r) => r.decode)), firstMs: med(runs.map((r) => r.firstMs)), runs };
}
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);

async function ours(model, kernels, profile = false, threads = 1) {
  return h.page.evaluate(async ({ url, kernels, n, decode, prompt, profile, threads }) => {
    // candle's kernels are only in the benchmarks' package
    const w = new Worker(kernels === 'candle' ? '/www/worker.js?build=bench' : `/www/worker.js?threads=${threads}`, { type: 'module' });
    const call = (msg, until) => new Promise((resolve, reject) => {
      const seen = [];
      w.onmessage = ({ data }) => {
        seen.push({ ...data, t: performance.now() });
        if (data.status === 'error') reject(new Error(data.message));
        if (data.status === until) resolve(seen);
      };
      w.postMessage(msg);
    });
    const loaded = (await call({ command: 'load', id: 1, url, kernels }, 'loaded')).at(-1);
    const info = loaded.info;
    // a prompt of exactly n tokens
    const tok = await call({ command: 'tokenize', id: 2, text: prompt.repeat(4) }, 'tokenized');
    const p = tok.at(-1).pieces.slice(0, n).join(''); // ASCII text: the pieces are exact
    // one untimed generation first: the browser compiles wasm in tiers, optimising hot code later
    await call({ command: 'generate', id: 3, prompt: p, options: { temperature: 0, topN: 1 }, maxTokens: decode }, 'done');
    const t0 = performance.now();
    const msgs = await call({ command: 'generate', id: 4, prompt: p, options: { temperature: 0, topN: 1, profile }, maxTokens: decode }, 'done');
    const promptMsg = msgs.find((m) => m.status === 'prompt');
    const done = msgs.at(-1);
    w.terminate();
    // decode's stages per token: the generation's totals less the prompt's
    const stages = profile ? Object.fromEntries(Object.keys(done.profile).map((k) => [k, (done.profile[k] - promptMsg.profile[k]) / done.tokens])) : null;
    const first = msgs.find((m) => m.status === 'token');
    return { promptTokens: promptMsg.tokens.length, prefill: promptMsg.tokens.length / ((promptMsg.t - t0) / 1000), firstMs: first ? first.t - t0 : null, decode: done.tokensSec, text: p, info, stages, threads: loaded.threads, probed: loaded.probed, tokens: msgs.filter((m) => m.status === 'token').map((m) => m.token) };
  }, { url: model.url, kernels, n: model.promptTokens, decode: model.decode ?? DECODE, prompt: PROMPT, profile, threads });
}

/** Token ids whose bytes are not valid UTF-8 on their own: llama.cpp's server cannot put them in a
 * JSON reply, so wllama is asked never to produce them (a random model would otherwise pick some). */
function partialUtf8Tokens(file) {
  const py = `
import sys, json, gguf
r = gguf.GGUFReader(sys.argv[1])
f = r.fields['tokenizer.ggml.tokens']
bs = list(range(33, 127)) + list(range(161, 173)) + list(range(174, 256))
cs = bs[:] + [256 + i for i in range(256 - len(bs))]
inv = {chr(c): b for b, c in zip(bs + [b for b in range(256) if b not in bs], cs)}
bad = []
for i, idx in enumerate(f.data):
    t = bytes(f.parts[idx]).decode('utf-8')
    try:
        bytes(inv[c] for c in t).decode('utf-8')
    except (UnicodeDecodeError, KeyError):
        bad.append(i)
print(json.dumps(bad))`;
  return JSON.parse(execFileSync('python3', ['-c', py, file], { encoding: 'utf8', maxBuffer: 1 << 26 }));
}

async function wllama(model, prompt, threads = 1) {
  const banned = partialUtf8Tokens(path.join(ROOT, model.url));
  // a page of its own, closed after: its workers (llama.cpp's threads) end with it, and the
  // engine measured next shares the cores with nothing of wllama's
  const page = await h.page.context().newPage();
  await page.goto(`${h.origin}/bench-blank`);
  try {
    return await wllamaIn(page, model, prompt, threads, banned);
  } finally {
    await page.close();
  }
}

function wllamaIn(page, model, prompt, threads, banned) {
  return page.evaluate(async ({ url, prompt, decode, banned, threads }) => {
    const { Wllama } = await import('/tests/e2e/node_modules/@wllama/wllama/esm/index.js');
    const w = new Wllama({ default: '/tests/e2e/node_modules/@wllama/wllama/esm/wasm/wllama.wasm' }, { suppressNativeLog: true });
    const blob = await (await fetch(url)).blob();
    await w.loadModel([blob], { n_threads: threads, n_ctx: 1024, n_batch: 512 });
    const logit_bias = Object.fromEntries(banned.map((id) => [String(id), -100]));
    // as for ours: one untimed completion first
    await w.createCompletion({ prompt, max_tokens: decode, temperature: 0, cache_prompt: false, logit_bias });
    const r = await w.createCompletion({ prompt, max_tokens: decode, temperature: 0, cache_prompt: false, logit_bias });
    const multiThread = w.isMultithread();
    await w.exit();
    return { promptTokens: r.usage?.prompt_tokens ?? r.timings?.prompt_n, prefill: r.timings?.prompt_per_second, decode: r.timings?.predicted_per_second, decoded: r.timings?.predicted_n, multiThread };
  }, { url: model.url, prompt, decode: model.decode ?? DECODE, banned, threads });
}

/** Native llama.cpp on one thread (tests/e2e/llama_native.py): prefill and decode tokens/s. */
function llamaNative(model, text) {
  return JSON.parse(execFileSync('python3', [path.join(ROOT, 'tests/e2e/llama_native.py'), path.join(ROOT, model.url), String(model.promptTokens), text], { encoding: 'utf8', maxBuffer: 1 << 20 }).trim().split('\n').at(-1));
}

// --- prefill against native llama.cpp, threads against wllama's, the first token, bandwidth
say('## Prefill, threads and the first token\n');
{
  say(`Each model's prompt (its first ${MODELS.map((m) => m.promptTokens).join(' / ')} tokens of the same text) and a greedy decode. Ours in a Chromium worker (\`worker.js?threads=N\`, N counting the worker; "measured": no N, the worker chose by timing a product, as on the site, and the cell lists each run's choice), each setting run ${ROUNDS} times in turn with the others, each figure the median of its runs (their range in brackets); wllama 3.13.0 in the same Chromium (\`n_threads\`); native llama.cpp through llama-cpp-python (built from its PyPI source, \`n_threads=1\`, best of 3). Native llama.cpp runs AVX2 code, the browsers 128-bit wasm SIMD. The machine has ${os.cpus().length} cores.\n`);
  say('| model | engine | threads | prefill tok/s | decode tok/s | first token after Generate (ms) | ours vs native llama.cpp (prefill) | ours vs wllama, same threads (decode) | same tokens as 1 thread |');
  say('|---|---|---|---|---|---|---|---|---|');
  goals.speed = {};
  for (const model of MODELS) {
    if (!fs.existsSync(path.join(ROOT, model.url))) continue;
    // ours on 1, 2 and the measured threads in turn, ROUNDS times (this machine drifts by tens of
    // percent between runs, so one run of each compares little): each figure the median of its runs
    const runs = { 1: [], 2: [], 0: [] };
    for (let round = 0; round < ROUNDS; round++) for (const n of [1, 2, 0]) runs[n].push(await ours(model, 'ours', false, n));
    const [one, two, measured] = [1, 2, 0].map((n) => medianRun(runs[n]));
    let native = null;
    try { native = llamaNative(model, one.text); } catch (e) { native = { error: e.message.split('\n')[0] }; }
    const wl = {};
    for (const n of [1, 2]) { try { wl[n] = await wllama(model, one.text, n); } catch (e) { wl[n] = { error: e.message }; } }
    const g = (goals.speed[model.types ? 'q4km' : model.shapes] = { one, native, wl });
    const f = (x, d = 1) => (x == null ? 'n/a' : x.toFixed(d));
    [g.two, g.measured] = [two, measured];
    for (const [label, n, r] of [['1', 1, one], ['2', 2, two], ['measured', 0, measured]]) {
      const ran = n === 0 ? `${label}: ${r.runs.map((x) => x.threads).join(', ')}` : label;
      if (n && r.threads !== n) { say(`| ${model.name} | ours | ${n} | threaded build not available here (ran with ${r.threads}) | | | | | |`); continue; }
      const same = r.runs.every((x) => x.tokens.length === one.tokens.length && x.tokens.every((t, i) => t === one.tokens[i]));
      const w = wl[r.threads];
      const range = (k) => (r.runs.length > 1 ? ` (${f(Math.min(...r.runs.map((x) => x[k])))}..${f(Math.max(...r.runs.map((x) => x[k])))})` : '');
      say(`| ${model.name} | ours | ${ran} | ${f(r.prefill)}${range('prefill')} | ${f(r.decode)}${range('decode')} | ${f(r.firstMs, 0)} | ${native?.prefill ? (r.prefill / native.prefill).toFixed(2) : 'n/a'} | ${w?.decode ? (r.decode / w.decode).toFixed(2) : 'n/a'} | ${n === 1 ? '(reference)' : same ? 'yes' : 'NO'} |`);
    }
    for (const n of [1, 2]) {
      const w = wl[n];
      say(w.error ? `| ${model.name} | wllama | ${n} | failed: ${w.error} | | | | | |` : `| ${model.name} | wllama | ${n}${w.multiThread === false && n > 1 ? ' (ran single-threaded)' : ''} | ${f(w.prefill)} | ${f(w.decode)} | | | | |`);
    }
    say(native.error ? `| ${model.name} | native llama.cpp | 1 | failed: ${native.error} | | | | | |` : `| ${model.name} | native llama.cpp ${native.version} | 1 | ${f(native.prefill)} | ${f(native.decode)} | | | | |`);
  }
  // bytes a token reads: every matrix and vector whole; of the embeddings one row each, unless the
  // head is tied (no output.weight), when the LM head reads the token embedding whole
  const bytesPerToken = (file) => Number(execFileSync('python3', ['-c', `
import sys, gguf
r = gguf.GGUFReader(sys.argv[1])
names = {t.name for t in r.tensors}
emb = ('token_embd.weight', 'position_embd.weight') if 'output.weight' in names else ('position_embd.weight',)
print(sum(int(t.n_bytes) for t in r.tensors if t.name not in emb))`, path.join(ROOT, file)], { encoding: 'utf8' }).trim());
  // one thread's read bandwidth, then two threads' together (two workers probing at once; each
  // probe's best pass overlaps the other's passes, which take as long)
  const bandwidth = (workers) => h.page.evaluate(async (workers) => {
    const src = `import init, { readBandwidth } from '${location.origin}/www/pkg-bench/inside_gpt.js';
      self.onmessage = async () => { await init(); self.postMessage(readBandwidth(1024, 5)); };`;
    const ws = Array.from({ length: workers }, () => new Worker(URL.createObjectURL(new Blob([src], { type: 'text/javascript' })), { type: 'module' }));
    const r = await Promise.all(ws.map((w) => new Promise((res) => { w.onmessage = (e) => res(e.data); w.postMessage(null); })));
    ws.forEach((w) => w.terminate());
    return r.reduce((a, b) => a + b, 0);
  }, workers);
  const gbs = await bandwidth(1);
  const gbs2 = await bandwidth(2);
  say(`\nMemory: one thread of this machine reads ${gbs.toFixed(2)} GB/s in a Chromium worker (\`readBandwidth\`, src/bench.rs: a 1 GiB buffer summed, best of 5); two threads at once (two workers, each its own buffer) read ${gbs2.toFixed(2)} GB/s together, ${(gbs2 / gbs).toFixed(2)}x one. A token reads every weight once (of the embeddings one row each, or, with a tied head, the token embedding whole), so decoding on n threads can go no faster than the n threads' bandwidth over the bytes a token reads.\n`);
  say('| model | MiB read per token | threads | decode tok/s | GB/s read | share of the bandwidth of as many threads |');
  say('|---|---|---|---|---|---|');
  const bw = (name, bytes, n, r) => say(`| ${name} | ${(bytes / 2 ** 20).toFixed(0)} | ${n} | ${r.decode.toFixed(2)} | ${(bytes * r.decode / 1e9).toFixed(2)} | ${(100 * bytes * r.decode / 1e9 / (n === 1 ? gbs : gbs2)).toFixed(0)}% |`);
  for (const model of MODELS) {
    const g = goals.speed[model.types ? 'q4km' : model.shapes];
    if (!g || model.shapes === 'default') continue;
    const bytes = bytesPerToken(model.url);
    bw(model.name, bytes, 1, g.one);
    if (g.two?.threads === 2) bw(model.name, bytes, 2, g.two);
  }
  // GPT-2 XL, larger than any cache: every weight comes from memory once per token
  if (fs.existsSync(path.join(ROOT, XL.url))) {
    const bytes = bytesPerToken(XL.url);
    const xl = {};
    for (const n of [1, 2]) xl[n] = await ours(XL, 'ours', false, n);
    for (const n of [1, 2]) {
      if (xl[n].threads !== n) { say(`| ${XL.name} | | ${n} | threaded build not available here | | |`); continue; }
      bw(XL.name, bytes, n, xl[n]);
    }
    goals.xl = { bytes, gbs, gbs2, xl };
  }
  const m = goals.speed.gpt2?.measured;
  if (m?.probed?.length) say(`\nThe worker's measurement on GPT-2 124M (ms per product of its first MLP matrix, 768 x 3072, for one token, best of its runs): ${m.probed.map((p) => `${p.threads} thread${p.threads > 1 ? 's' : ''} ${p.ms.toFixed(3)}`).join(', ')}; it chose ${m.threads}.`);
  say();
}
if (process.env.BENCH_ONLY === 'speed') { await h.close(); process.exit(0); }

// --- end to end
say('## End to end in Chromium, single-threaded\n');
say(`Greedy decoding after a prompt (${MODELS.map((m) => `${m.decode ?? DECODE} tokens for ${m.name}`).join(', ')}), each engine timed on its second run in the same worker (the first lets the browser finish compiling); prefill = prompt tokens / time to the prompt's logits; decode = generated tokens / time.\n`);
say('| model | engine | prompt tokens | prefill tok/s | decode tok/s | decode vs wllama |');
say('|---|---|---|---|---|---|');
const efficiency = [];
const profiles = [];
const profileRates = [];
for (const model of MODELS) {
  if (!fs.existsSync(path.join(ROOT, model.url))) { say(`| ${model.name} | (file missing: ${model.url}) | | | | |`); continue; }
  const a = await ours(model, 'ours');
  const b = await ours(model, 'candle');
  let c = null;
  try { c = await wllama(model, a.text); } catch (e) { c = { error: e.message }; }
  const vs = (x) => (c?.decode ? (x / c.decode).toFixed(2) : 'n/a');
  say(`| ${model.name} | ours | ${a.promptTokens} | ${a.prefill.toFixed(1)} | ${a.decode.toFixed(1)} | ${vs(a.decode)} |`);
  goals.decode[model.types ? 'q4km' : model.shapes] = { tokS: a.decode, prefill: a.prefill, vsWllama: c?.decode ? a.decode / c.decode : null };
  // how much of the standalone kernels' speed the decode loop keeps
  const { params: prm, config: cfg } = a.info;
  const flopPerToken = 2 * (prm.attention + prm.mlp + cfg.n_vocab * cfg.n_embd);
  const rows = model.types ? [] : inWorker.filter((r) => r.dtype === 'Q8_0' && r.shape.startsWith(model.shapes));
  // the standalone kernels' rate over this model's shapes (total FLOP / total time)
  const kernel = rows.reduce((s, r) => s + 2 * r.k * r.n, 0) / rows.reduce((s, r) => s + (2 * r.k * r.n) / (r.oursGflops * 1e9), 0) / 1e9;
  if (rows.length) {
    const effective = (flopPerToken * a.decode) / 1e9;
    goals.efficiency[model.shapes] = effective / kernel;
    efficiency.push(`${model.name}: ${(flopPerToken / 1e6).toFixed(1)} MFLOP of matrix products per token; decode runs them at ${effective.toFixed(2)} GFLOP/s, ${(100 * effective / kernel).toFixed(0)}% of the standalone kernels' ${kernel.toFixed(2)} GFLOP/s on this model's shapes.`);
  }
  // a separate run with the stage clock on (its reads cost a little time of their own)
  const pr = await ours(model, 'ours', true);
  const ms = 1000 / pr.decode;
  const st = pr.stages;
  const rest = ms - st.matmulMs - st.attentionMs - st.otherMs - st.samplingMs;
  const pct = (x) => `${x.toFixed(3)} (${(100 * x / ms).toFixed(0)}%)`;
  profiles.push(`| ${model.name} | ${ms.toFixed(3)} | ${pct(st.matmulMs)} | ${pct(st.lmHeadMs)} | ${pct(st.attentionMs)} | ${pct(st.otherMs)} | ${pct(st.samplingMs)} | ${pct(rest)} |`);
  if (rows.length) {
    const inLoop = flopPerToken / (st.matmulMs * 1e6);
    profileRates.push(`${model.name}: inside the loop the matrix products ran at ${inLoop.toFixed(2)} GFLOP/s, ${(100 * inLoop / kernel).toFixed(0)}% of the standalone kernels' rate.`);
  }
  say(`| ${model.name} | same file, candle QMatMul | ${b.promptTokens} | ${b.prefill.toFixed(1)} | ${b.decode.toFixed(1)} | ${vs(b.decode)} |`);
  if (c?.error) say(`| ${model.name} | wllama 3.13.0 | failed: ${c.error} | | | |`);
  else say(`| ${model.name} | wllama 3.13.0 (1 thread) | ${c.promptTokens} | ${c.prefill?.toFixed(1)} | ${c.decode?.toFixed(1)} (${c.decoded} tokens) | 1.00 |`);
}
say();
for (const line of efficiency) say(line);
say();

say('Where a decode token\'s time goes in the Chromium worker (ms per token, from a second run with `profile: true`: the engine reads `performance.now()` between stages; "worker loop" is the rest of the wall time: the yield between tokens, building and posting the message):\n');
say('| model | ms/token | matrix products | of which LM head | attention | norms, GELU, residuals | distribution, sampling | worker loop |');
say('|---|---|---|---|---|---|---|---|');
for (const line of profiles) say(line);
say();
for (const line of profileRates) say(line);
say();

// --- GPT-2 XL: streamed load, memory, decode
say('## GPT-2 XL shape in Chromium: load, memory, decode\n');
/** The resident memory of every Chromium process (bytes), from /proc: the browser's whole footprint. */
function chromiumRss() {
  let sum = 0;
  for (const pid of fs.readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    try {
      if (!/chrom/i.test(fs.readFileSync(`/proc/${pid}/comm`, 'utf8'))) continue;
      const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
      if (m) sum += Number(m[1]) * 1024;
    } catch { /* gone */ }
  }
  return sum;
}
async function xlRun(model) {
  const file = fs.statSync(path.join(ROOT, model.url)).size;
  // a browser of its own with an on-disk profile, as a reader's is: in the test harness's
  // incognito-like context the HTTP cache and the Cache API live in memory, a copy each
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'inside-gpt-bench-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run', '--disable-sync'],
  });
  const page = await context.newPage();
  await page.goto(`${h.origin}/bench-blank`);
  await page.evaluate(() => {
    self.w = new Worker('/www/worker.js', { type: 'module' });
    self.call = (msg, until) => new Promise((resolve, reject) => {
      self.w.onmessage = ({ data }) => {
        if (data.status === 'error') reject(new Error(data.message));
        if (data.status === until) resolve(data);
      };
      self.w.postMessage(msg);
    });
  });
  const before = await page.evaluate(() => call({ command: 'memory', id: 0 }, 'memory'));
  const rss0 = chromiumRss();
  let peak = rss0;
  const timer = setInterval(() => { peak = Math.max(peak, chromiumRss()); }, 50);
  const t0 = Date.now();
  let loaded;
  try {
    loaded = await page.evaluate((url) => call({ command: 'load', id: 1, url }, 'loaded'), model.url);
  } finally {
    clearInterval(timer);
  }
  const seconds = (Date.now() - t0) / 1000;
  peak = Math.max(peak, chromiumRss());
  const after = await page.evaluate(() => call({ command: 'memory', id: 2 }, 'memory'));
  const rss1 = chromiumRss();
  const prompt = PROMPT.slice(0, 120);
  const r = await page.evaluate(async ({ prompt, n }) => {
    const t = performance.now();
    const done = await call({ command: 'generate', id: 3, prompt, options: { temperature: 0, topN: 1 }, maxTokens: n }, 'done');
    return { tokensSec: done.tokensSec, tokens: done.tokens, seconds: (performance.now() - t) / 1000 };
  }, { prompt, n: model.decode });
  await context.close();
  fs.rmSync(profile, { recursive: true, force: true });
  return { file, seconds, streamed: loaded.streamed, wasmBefore: before.wasmBytes, wasmAfter: after.wasmBytes, rssLoad: peak - rss0, rssAfter: rss1 - rss0, decode: r.tokensSec, tokens: r.tokens, threads: loaded.threads };
}
for (const model of [MODELS.find((m) => m.types), XL]) {
  if (!model || !fs.existsSync(path.join(ROOT, model.url))) { say(`(${model?.url ?? 'model'} missing: run tests/e2e/make_bench_models.py)\n`); continue; }
  try {
    const x = await xlRun(model);
    const mib = (b) => `${(b / 2 ** 20).toFixed(0)} MiB`;
    say(`${model.name}: a ${mib(x.file)} file, streamed ${x.streamed ? 'yes' : 'NO'}, loaded from the local server into a browser with an on-disk profile in ${x.seconds.toFixed(1)} s; wasm memory after load ${mib(x.wasmAfter)} = ${(x.wasmAfter / x.file).toFixed(2)}x the file; the Chromium processes' resident memory rose by ${mib(x.rssLoad)} at its peak during the load (${(x.rssLoad / x.file).toFixed(2)}x the file) and by ${mib(x.rssAfter)} after it (${(x.rssAfter / x.file).toFixed(2)}x); decode ${x.decode.toFixed(2)} tokens/s (${x.tokens} tokens, on the ${x.threads === 1 ? 'one thread' : `${x.threads} threads`} the worker chose).\n`);
    goals.memory ??= {};
    goals.memory[model.url.includes('xl') ? 'xl' : '124m'] = x;
  } catch (e) {
    say(`${model.name}: failed: ${e.message}\n`);
  }
}

// --- fine-tuning
say('## Fine-tuning (chapter section 6)\n');
{
  const TEXT = 'TIGER. I am the tiger of the eastern wood,\nAnd where I walk the deer do fly for fear.\nMy coat is gold and black, my eyes are fire.';
  const STEPS = 20;
  const model = path.join(ROOT, 'www/models/shakespeare-q8_0.gguf');
  // native: the CLI's run, timed by the CLI itself (the steps only, not the load)
  const { spawnSync } = await import('node:child_process');
  const r = spawnSync(path.join(ROOT, 'target/release/inside-gpt'), ['finetune', '--model', model, '--text', TEXT, '--steps', String(STEPS), '--lr', '1e-3', '--json'], { encoding: 'utf8' });
  const nativeSeconds = Number(/([\d.]+) s\s*$/m.exec(r.stderr)?.[1]);
  const tokens = Number(/(\d+) tokens in/.exec(r.stderr)?.[1]);
  const nativeLosses = r.stdout.trim().split('\n').map((l) => JSON.parse(l).loss);
  // the same run in a Chromium worker, through the wasm module directly
  const inBrowser = await h.page.evaluate(async ({ text, steps }) => {
    const src = `import init, { Engine } from '${location.origin}/www/pkg/inside_gpt.js';
      self.onmessage = async ({ data }) => {
        await init();
        const bytes = new Uint8Array(await (await fetch('${location.origin}/www/models/shakespeare-q8_0.gguf')).arrayBuffer());
        const e = new Engine(bytes);
        const plan = e.finetuneStart(data.text, { steps: data.steps, lr: 1e-3 });
        const t0 = performance.now();
        const losses = [];
        for (let i = 0; i < data.steps; i++) losses.push(e.finetuneStep().loss);
        self.postMessage({ seconds: (performance.now() - t0) / 1000, tokens: plan.tokens, losses });
      };`;
    const w = new Worker(URL.createObjectURL(new Blob([src], { type: 'text/javascript' })), { type: 'module' });
    const out = await new Promise((res) => { w.onmessage = (e) => res(e.data); w.postMessage({ text, steps }); });
    w.terminate();
    return out;
  }, { text: TEXT, steps: STEPS });
  // the CLI prints each f32 loss in its shortest decimal form: read back to f32, it is that f32
  const same = nativeLosses.length === inBrowser.losses.length && nativeLosses.every((l, i) => Math.fround(l) === Math.fround(inBrowser.losses[i]));
  const rate = (sec) => (tokens * STEPS) / sec;
  say(`The default model (2.2M parameters, every weight trained as f32), the tiger text (${tokens} tokens, one window), ${STEPS} AdamW steps at lr 1e-3; each step a forward and backward pass over the whole text.\n`);
  say('| where | seconds for the steps | training tokens/s | vs native |');
  say('|---|---|---|---|');
  say(`| native x86-64 CLI (\`inside-gpt finetune\`), one thread | ${nativeSeconds.toFixed(2)} | ${rate(nativeSeconds).toFixed(0)} | 1.00 |`);
  say(`| Chromium worker, wasm simd128 | ${inBrowser.seconds.toFixed(2)} | ${rate(inBrowser.seconds).toFixed(0)} | ${(nativeSeconds / inBrowser.seconds).toFixed(2)} |`);
  say(`\nLosses ${same ? 'identical bit for bit' : 'DIFFERENT'} natively and in the browser: ${inBrowser.losses[0].toFixed(4)} at the first step, ${inBrowser.losses.at(-1).toFixed(4)} at the last.\n`);
  // the reader's wait: from pressing Train in <gpt-finetune> (its defaults) to the after view
  const page = await h.page.context().newPage();
  await page.goto(`${h.origin}/index.html#rlhf`);
  const ft = page.locator('gpt-finetune');
  await ft.locator('.train:not([disabled])').waitFor({ timeout: 120000 });
  const t0 = Date.now();
  await ft.locator('.train').click();
  await ft.locator('.side[data-side="after"] .held-sum', { hasText: /perplexity/ }).waitFor({ timeout: 120000 });
  await ft.locator('.side[data-side="after"] .sample .gen').first().waitFor({ timeout: 120000 });
  const wait = (Date.now() - t0) / 1000;
  await page.close();
  say(`From pressing Train in \`<gpt-finetune>\` (its default text and ${STEPS} steps) to the after view (the taught text and the held-out slice scored, the same-seed generation shown): ${wait.toFixed(2)} s.\n`);
  goals.tune = { ratio: nativeSeconds / inBrowser.seconds, seconds: inBrowser.seconds, same, wait };
  const mib = (b) => `${(b / 2 ** 20).toFixed(0)} MiB`;
  // GPT-2 124M: above 20M parameters only its norms and biases train (every weight as f32 with
  // its gradient and optimiser state would take 20 bytes a parameter, 2.5 GB), over the matrices
  // as loaded; the engine's heap (bytes its allocator holds) and the wasm memory, before and after
  say('GPT-2 124M-shaped files (synthetic weights): above 20M parameters only the norms and biases train (BitFit), the matrices frozen in the file\'s form; the same tiger text, 3 steps at lr 1e-2, in a Chromium worker.\n');
  say('| file | trains | parameters trained | seconds per step | engine heap after load | engine heap, peak during the steps | wasm memory after load | after the steps | losses |');
  say('|---|---|---|---|---|---|---|---|---|');
  for (const file of ['gpt2-124m-q8_0.gguf', 'gpt2-124m-q4_k_m.gguf']) {
    const x = await h.page.evaluate(async ({ text, file }) => {
      const src = `import init, { Engine, heapBytes, memoryBytes } from '${location.origin}/www/pkg/inside_gpt.js';
        self.onmessage = async ({ data }) => {
          try {
            await init();
            const e = new Engine(new Uint8Array(await (await fetch('${location.origin}/target/bench/' + data.file)).arrayBuffer()));
            const loaded = { heap: heapBytes(), wasm: memoryBytes() };
            e.finetuneStart(data.text, { steps: 3, lr: 1e-2 });
            const info = e.tuneInfo();
            let peak = heapBytes();
            const losses = [];
            const t0 = performance.now();
            for (let i = 0; i < 3; i++) { losses.push(e.finetuneStep().loss); peak = Math.max(peak, heapBytes()); }
            self.postMessage({ seconds: (performance.now() - t0) / 1000 / 3, loaded, peak, wasm: memoryBytes(), info, losses });
          } catch (err) { self.postMessage({ error: String(err.message ?? err) }); }
        };`;
      const w = new Worker(URL.createObjectURL(new Blob([src], { type: 'text/javascript' })), { type: 'module' });
      const out = await new Promise((res) => { w.onmessage = (e) => res(e.data); w.postMessage({ text, file }); });
      w.terminate();
      return out;
    }, { text: TEXT, file });
    if (x.error) { say(`| ${file} | failed: ${x.error} | | | | | | | |`); continue; }
    say(`| ${file} | ${x.info.trains} | ${x.info.trainable.toLocaleString('en')} of ${x.info.total.toLocaleString('en')} | ${x.seconds.toFixed(2)} | ${mib(x.loaded.heap)} | ${mib(x.peak)} | ${mib(x.loaded.wasm)} | ${mib(x.wasm)} | ${x.losses.map((l) => l.toFixed(3)).join(', ')} |`);
  }
  say('\nThe peak heap is read after each step (the step\'s own activations are freed by then), so the wasm memory after the steps, a high-water mark, bounds what a step held.\n');
}

// --- time to first token and size
say('## Time to first token and size\n');
async function ttft(context) {
  const page = await context.newPage();
  await page.goto(`${h.origin}/bench-blank`);
  const r = await page.evaluate(async (url) => {
    const w = new Worker('/www/worker.js', { type: 'module' });
    const first = await new Promise((resolve) => {
      w.onmessage = ({ data }) => {
        if (data.status === 'loaded') w.postMessage({ command: 'generate', id: 2, prompt: 'ROMEO.\n', options: { temperature: 0 }, maxTokens: 1 });
        if (data.status === 'token') resolve({ at: performance.now(), source: null });
        if (data.status === 'error') resolve({ error: data.message });
      };
      w.postMessage({ command: 'load', id: 1, url });
    });
    w.terminate();
    return first;
  }, MODELS[0].url);
  await page.close();
  return r;
}
if (fs.existsSync(path.join(ROOT, MODELS[0].url))) {
  const ctx = await h.page.context().browser().newContext();
  const cold = await ttft(ctx);
  const warm = await ttft(ctx);
  await ctx.close();
  say(`Default model, from navigation start to the first generated token: cold ${(cold.at / 1000).toFixed(2)} s, weights in the Cache API ${(warm.at / 1000).toFixed(2)} s.`);
  goals.coldSeconds = cold.at / 1000;
}
const wasm = fs.readFileSync(path.join(ROOT, 'www/pkg/inside_gpt_bg.wasm'));
const gz = zlib.gzipSync(wasm, { level: 9 }).length;
say(`inside_gpt_bg.wasm: ${(wasm.length / 2 ** 20).toFixed(2)} MiB raw, ${(gz / 2 ** 20).toFixed(2)} MiB gzipped.`);
{
  const bw = fs.readFileSync(path.join(ROOT, 'www/pkg-bench/inside_gpt_bg.wasm'));
  say(`The benchmarks' build (www/pkg-bench, with candle's kernels and benchKernels; not shipped): ${(bw.length / 2 ** 20).toFixed(2)} MiB raw, ${(zlib.gzipSync(bw, { level: 9 }).length / 2 ** 20).toFixed(2)} MiB gzipped.`);
}
const threaded = path.join(ROOT, 'www/pkg-threads/inside_gpt_bg.wasm');
let gzThreads = 0;
if (fs.existsSync(threaded)) {
  const tw = fs.readFileSync(threaded);
  gzThreads = zlib.gzipSync(tw, { level: 9 }).length;
  say(`The threaded build's (loaded instead where threads run): ${(tw.length / 2 ** 20).toFixed(2)} MiB raw, ${(gzThreads / 2 ** 20).toFixed(2)} MiB gzipped.`);
}

// --- start-up: the page's first visit
say('\n## Start-up: the page\'s first visit\n');
{
  say(`${startup.DEFINITION} Five visits; each figure is the median with the range over them (this shared machine varies a lot).\n`);
  const [visits] = await startup.startup({ runs: 5 });
  say(startup.table(['index.html'], [visits]));
  say(`\nThe engine's module on a page's main thread (what \`<gpt-xor>\` did before it went through the worker), five fresh contexts each: ms from the fetch to the compiled module, and for wasm-bindgen's init (instantiation):\n`);
  say('| package | .wasm MiB | gzipped MiB | compile | instantiate |');
  say('|---|---|---|---|---|');
  for (const pkg of ['www/pkg', 'www/pkg-bench']) {
    const w = fs.readFileSync(path.join(ROOT, pkg, 'inside_gpt_bg.wasm'));
    const times = await startup.compileTimes(h.page.context().browser(), h.origin, `/${pkg}`);
    say(`| ${pkg} | ${(w.length / 2 ** 20).toFixed(2)} | ${(zlib.gzipSync(w, { level: 9 }).length / 2 ** 20).toFixed(2)} | ${startup.spread(times.map((t) => t.compile))} | ${startup.spread(times.map((t) => t.instantiate))} |`);
  }
  goals.startup = visits;
}

// --- the soak: memory over many generations and model switches in one page
say('\n## Soak: 500 generations and 50 model switches in one page\n');
{
  const { soak } = await import('./soak.mjs');
  const r = await soak({ generations: 500, switches: 50 });
  const mib = (b) => (b / 2 ** 20).toFixed(1);
  say(`${r.generations} generations (${r.tokens} tokens in all) and ${r.switches} switches between the two shipped files in ${r.seconds.toFixed(1)} s, ${r.errors} errors, ${r.pageErrors.length} page errors. After the first 200 generations and 20 switches (warm-up), and at the end, both with the same model loaded and at the end:\n`);
  say('| memory | after warm-up | at the end | growth |');
  say('|---|---|---|---|');
  say(`| the bytes the engine's heap holds | ${mib(r.heapAfterWarmup)} MiB | ${mib(r.heapEnd)} MiB | ${(100 * r.heapGrowth).toFixed(1)}% |`);
  say(`| the worker's wasm memory (the allocator's high-water mark) | ${mib(r.wasmAfterWarmup)} MiB | ${mib(r.wasmEnd)} MiB | ${(100 * r.wasmGrowth).toFixed(1)}% |`);
  say(`| the page's JS heap (after a collection) | ${mib(r.jsAfterWarmup)} MiB | ${mib(r.jsEnd)} MiB | ${(100 * r.jsGrowth).toFixed(1)}% |`);
  goals.soak = r;
}

// --- the issue's goals, judged on this run's numbers
say('\n## Goals\n');
say('| goal | measured in this run | met |');
say('|---|---|---|');
const row = (goal, value, ok) => say(`| ${goal} | ${value} | ${ok === null ? 'not measured' : ok ? 'yes' : 'no'} |`);
for (const [where, rows] of [['Chromium worker', inWorker], ['node', inNode]]) {
  const gpt2 = rows.filter((r) => r.dtype === 'Q8_0' && r.shape.startsWith('gpt2'));
  const worst = gpt2.reduce((m, r) => Math.min(m, r.ratio), Infinity);
  row(`Q8_0 product >= 1.5x candle QMatMul on every GPT-2 shape (${where})`, gpt2.length ? `lowest ${worst.toFixed(2)}x` : 'n/a', gpt2.length ? worst >= 1.5 : null);
}
for (const [k, name] of [['default', 'default model'], ['gpt2', 'GPT-2 124M shape']]) {
  const d = goals.decode[k];
  row(`decode >= 1.3x wllama, ${name}`, d?.vsWllama ? `${d.vsWllama.toFixed(2)}x` : 'n/a', d?.vsWllama ? d.vsWllama >= 1.3 : null);
  const e = goals.efficiency[k];
  row(`decode loop >= 70% of the kernels' GFLOP/s, ${name}`, e ? `${(100 * e).toFixed(0)}% (short by ${Math.max(0, 70 - 100 * e).toFixed(0)} points)` : 'n/a', e ? e >= 0.7 : null);
}
const q4 = goals.decode.q4km;
row('GPT-2 124M Q4_K_M decode >= 3x wllama (same file)', q4?.vsWllama ? `${q4.vsWllama.toFixed(2)}x` : 'n/a', q4?.vsWllama ? q4.vsWllama >= 3 : null);
row('GPT-2 124M Q4_K_M decode faster than our Q8_0 of the same shape', q4 && goals.decode.gpt2 ? `${q4.tokS.toFixed(1)} vs ${goals.decode.gpt2.tokS.toFixed(1)} tokens/s` : 'n/a', q4 && goals.decode.gpt2 ? q4.tokS > goals.decode.gpt2.tokS : null);
for (const [k, name] of [['124m', 'GPT-2 124M Q4_K_M'], ['xl', 'GPT-2 XL Q4_K_M']]) {
  const m = goals.memory?.[k];
  row(`${name}: wasm memory after load <= 1.15x the file`, m ? `${(m.wasmAfter / m.file).toFixed(2)}x` : 'n/a', m ? m.wasmAfter / m.file <= 1.15 : null);
  row(`${name}: peak memory during load <= 1.5x the file (Chromium's resident memory)`, m ? `${(m.rssLoad / m.file).toFixed(2)}x` : 'n/a', m ? m.rssLoad / m.file <= 1.5 : null);
}
row('fine-tuning in a Chromium worker >= half the native single-thread rate', goals.tune ? `${goals.tune.ratio.toFixed(2)}x native, losses ${goals.tune.same ? 'identical' : 'different'}` : 'n/a', goals.tune ? goals.tune.ratio >= 0.5 && goals.tune.same : null);
row('from Train to the after view <= 5 s (default fine-tune)', goals.tune?.wait ? `${goals.tune.wait.toFixed(2)} s` : 'n/a', goals.tune?.wait ? goals.tune.wait <= 5 : null);
const g2 = goals.decode.gpt2;
row('GPT-2 124M Q8_0 decode >= 20 tokens/s', g2 ? `${g2.tokS.toFixed(1)} tokens/s` : 'n/a', g2 ? g2.tokS >= 20 : null);
row('cold first token <= 1.5 s, default model', goals.coldSeconds ? `${goals.coldSeconds.toFixed(2)} s` : 'n/a', goals.coldSeconds ? goals.coldSeconds <= 1.5 : null);
row('soak: the engine\'s heap and the JS heap grow <= 5% after warm-up, no error', `${(100 * goals.soak.heapGrowth).toFixed(1)}% and ${(100 * goals.soak.jsGrowth).toFixed(1)}%, ${goals.soak.errors} errors`, goals.soak.heapGrowth <= 0.05 && goals.soak.jsGrowth <= 0.05 && goals.soak.errors === 0);
for (const [k, name] of [['gpt2', 'GPT-2 124M Q8_0'], ['q4km', 'GPT-2 124M Q4_K_M']]) {
  const sp = goals.speed?.[k];
  const nat = sp?.native?.prefill;
  row(`${name}: prefill on one thread in Chromium >= native llama.cpp on one thread`, nat ? `${sp.one.prefill.toFixed(1)} vs ${nat.toFixed(1)} tokens/s (${(sp.one.prefill / nat).toFixed(2)}x)` : 'n/a', nat ? sp.one.prefill >= nat : null);
  const two = sp?.two?.threads === 2 ? sp.two : null;
  row(`${name}: decode on 2 threads >= 1.6x one thread`, two ? `${(two.decode / sp.one.decode).toFixed(2)}x` : 'n/a', two ? two.decode / sp.one.decode >= 1.6 : null);
  const w2 = sp?.wl?.[2]?.decode;
  row(`${name}: decode on 2 threads >= 2x wllama on 2 threads`, two && w2 ? `${(two.decode / w2).toFixed(2)}x` : 'n/a', two && w2 ? two.decode / w2 >= 2 : null);
}
{
  const sp = goals.speed?.default;
  const two = sp?.two?.threads === 2 ? sp.two : null;
  row('default model: decode on 2 threads no slower than one thread', two ? `${two.decode.toFixed(0)} vs ${sp.one.decode.toFixed(0)} tokens/s` : 'n/a', two ? two.decode >= sp.one.decode : null);
}
row('.wasm <= 1.5 MB gzipped (the larger build)', `${(Math.max(gz, gzThreads) / 1e6).toFixed(2)} MB`, Math.max(gz, gzThreads) <= 1.5e6);
await h.close();

if (args.includes('--write')) {
  const head = '# Benchmarks\n\nWritten by `.ci/bench`; do not edit by hand. Absolute figures drift on this shared 2-core machine; compare ratios within one run.\n\n';
  const notes = fs.existsSync(NOTES) ? fs.readFileSync(NOTES, 'utf8') : '';
  fs.writeFileSync(path.join(ROOT, 'BENCHMARKS.md'), head + out.join('\n') + '\n' + notes);
}
