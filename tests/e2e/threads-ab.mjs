// Decode and prefill through worker.js with ?threads=N, alternating N (env AB_THREADS, AB_FILES;
// N = 0: no ?threads, the worker measures), and the wasm memory after each load.
import { start } from './harness.mjs';
const h = await start();
await h.page.goto(`${h.origin}/bench-blank`);
const files = (process.env.AB_FILES ?? '/www/models/shakespeare-q8_0.gguf,/target/bench/gpt2-124m-q8_0.gguf').split(',');
const order = (process.env.AB_THREADS ?? '1,2,1,2').split(',').map(Number);
const run = (url, threads) => h.page.evaluate(async ({ url, threads }) => {
  const w = new Worker(`/www/worker.js?threads=${threads}`, { type: 'module' });
  const call = (msg, until) => new Promise((resolve, reject) => {
    const seen = [];
    w.onmessage = ({ data }) => { seen.push({ ...data, t: performance.now() }); if (data.status === 'error') reject(new Error(data.message)); if (data.status === until) resolve(seen); };
    w.postMessage(msg);
  });
  const loaded = (await call({ command: 'load', id: 1, url }, 'loaded')).at(-1);
  const memory = (await call({ command: 'memory', id: 9 }, 'memory')).at(-1);
  const prompt = 'ROMEO. But soft, what light through yonder window breaks? It is the east, and Juliet is the sun. '.repeat(6);
  const tok = await call({ command: 'tokenize', id: 2, text: prompt }, 'tokenized');
  const p = tok.at(-1).pieces.slice(0, 128).join('');
  let r;
  for (let k = 0; k < 2; k++) {
    const t0 = performance.now();
    const msgs = await call({ command: 'generate', id: 3 + k, prompt: p, options: { temperature: 0, topN: 1 }, maxTokens: 48 }, 'done');
    const pm = msgs.find((m) => m.status === 'prompt');
    r = { wasmBytes: memory.wasmBytes, threads: loaded.threads, probed: loaded.probed, prefill: pm.tokens.length / ((pm.t - t0) / 1000), decode: msgs.at(-1).tokensSec, tokens: msgs.filter((m) => m.status === 'token').map((m) => m.token).join(',') };
  }
  w.terminate();
  return r;
}, { url, threads });
for (const url of files) {
  let ref = null;
  for (const n of order) {
    const r = await run(url, n);
    ref ??= r.tokens;
    console.log(`${url.split('/').at(-1)} threads=${n} (ran ${r.threads}${r.probed?.length ? ' probed ' + r.probed.map((p) => `${p.threads}:${p.ms.toFixed(3)}`).join(' ') : ''}): wasm memory ${(r.wasmBytes / 1e6).toFixed(1)} MB, prefill ${r.prefill.toFixed(1)} decode ${r.decode.toFixed(1)} tok/s same=${r.tokens === ref}`);
  }
}
await h.close();
