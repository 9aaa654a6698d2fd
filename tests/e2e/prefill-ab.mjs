// A/B of two engine builds in one Chromium (www/pkg-old vs www/pkg): prefill of a 128-token prompt
// and greedy decode on the bench files, each build timed on its second run, alternating twice.
// Usage: node prefill-ab.mjs   (build www/pkg-old from the commit to compare first); AB_ORDER lists
// the builds (folders of www/) in the order to run them, AB_FILES the models; medians and ranges at the end
import { start } from './harness.mjs';
const h = await start();
await h.page.goto(`${h.origin}/index.html?lang=en`);
const files = (process.env.AB_FILES ?? '/www/models/shakespeare-q8_0.gguf,/target/bench/gpt2-124m-q8_0.gguf,/target/bench/gpt2-124m-q4_k_m.gguf').split(',');
const run = (pkg, url) => h.page.evaluate(async ({ pkg, url }) => {
  const src = `import init, { Engine } from '${location.origin}/www/${pkg}/inside_gpt.js';
    self.onmessage = async ({ data }) => {
      await init();
      const e = new Engine(new Uint8Array(await (await fetch('${location.origin}' + data.url)).arrayBuffer()));
      const out = [];
      for (let k = 0; k < 2; k++) {
        const t0 = performance.now();
        const p = e.start(k, data.prompt, { temperature: 0 });
        const t1 = performance.now();
        for (let i = 0; i < 32; i++) e.step(k);
        const t2 = performance.now();
        e.end(k);
        out.push({ prefill: p.tokens.length / ((t1 - t0) / 1000), decode: 32 / ((t2 - t1) / 1000), n: p.tokens.length });
      }
      self.postMessage(out[1]);
    };`;
  const w = new Worker(URL.createObjectURL(new Blob([src], { type: 'text/javascript' })), { type: 'module' });
  const prompt = 'ROMEO. But soft, what light through yonder window breaks? It is the east, and Juliet is the sun. '.repeat(5);
  const r = await new Promise((res) => { w.onmessage = (e) => res(e.data); w.postMessage({ url, prompt }); });
  w.terminate();
  return r;
}, { pkg, url });
for (const url of files) {
  const rows = [];
  for (const pkg of (process.env.AB_ORDER ?? 'pkg-old,pkg,pkg-old,pkg').split(',')) rows.push({ pkg, ...(await run(pkg, url)) });
  for (const r of rows) console.log(`${url.split('/').at(-1)} ${r.pkg.padEnd(7)} prompt ${r.n} tokens: prefill ${r.prefill.toFixed(1)} tok/s, decode ${r.decode.toFixed(1)} tok/s`);
  // per build: the median and the range of its runs
  const med = (v) => { const s = [...v].sort((a, b) => a - b); return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2; };
  for (const pkg of [...new Set(rows.map((r) => r.pkg))]) {
    const mine = rows.filter((r) => r.pkg === pkg);
    const f = (k) => `${med(mine.map((r) => r[k])).toFixed(1)} (${Math.min(...mine.map((r) => r[k])).toFixed(1)}..${Math.max(...mine.map((r) => r[k])).toFixed(1)})`;
    console.log(`${url.split('/').at(-1)} ${pkg.padEnd(7)} median of ${mine.length}: prefill ${f('prefill')} tok/s, decode ${f('decode')} tok/s`);
  }
}
await h.close();
