// A/B of two builds' kernels in Chromium workers (default www/pkg, the simd128 build, against
// www/pkg-relaxed): `benchKernels` (src/bench.rs, 1 x k by k x n products, the best of five
// windows each) of every type on two of GPT-2 124M's shapes (KAB_ALL=0: Q8_0 on every shape), the
// builds run in turn KAB_ROUNDS times (default 3; this machine drifts run to run), then per row
// the median and range of each build and the ratio of the medians.
// Usage: node kernels-ab.mjs   (KAB_BUILDS=pkg,pkg-relaxed; build the second first, e.g. commit
// ba361ec's .ci/build makes www/pkg-relaxed, or a wasm-pack build of another commit into www/pkg-old)
import { start } from './harness.mjs';
const h = await start();
await h.page.goto(`${h.origin}/bench-blank`);
const builds = (process.env.KAB_BUILDS ?? 'pkg,pkg-relaxed').split(',');
const all = process.env.KAB_ALL !== '0';
const rounds = Number(process.env.KAB_ROUNDS ?? 3);
const run = (pkg) => h.page.evaluate(async ({ pkg, all }) => {
  const src = `import init, { benchKernels } from '${location.origin}/www/${pkg}/inside_gpt.js';
    self.onmessage = async () => { await init(); self.postMessage(benchKernels(0.5, ${all})); };`;
  const w = new Worker(URL.createObjectURL(new Blob([src], { type: 'text/javascript' })), { type: 'module' });
  const rows = await new Promise((r) => { w.onmessage = (e) => r(e.data); w.postMessage(null); });
  w.terminate();
  return rows;
}, { pkg, all });
const runs = Object.fromEntries(builds.map((b) => [b, []]));
for (let i = 0; i < rounds; i++) for (const b of builds) runs[b].push(await run(b));
const med = (v) => { const s = [...v].sort((a, b) => a - b); return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2; };
console.log(`Chromium ${h.page.context().browser().version()}, ${rounds} rounds of ${builds.join(' then ')}: GFLOP/s median (min..max)\n`);
console.log(`| shape | type | k x n | ${builds.map((b) => `${b} GFLOP/s`).join(' | ')} | ${builds.slice(1).map((b) => `${b} / ${builds[0]}`).join(' | ')} |`);
console.log(`|---|---|---|${builds.map(() => '---|').join('')}${builds.slice(1).map(() => '---|').join('')}`);
runs[builds[0]][0].forEach((r, j) => {
  const m = builds.map((b) => med(runs[b].map((x) => x[j].oursGflops)));
  const cell = (b) => { const v = runs[b].map((x) => x[j].oursGflops); return `${med(v).toFixed(2)} (${Math.min(...v).toFixed(2)}..${Math.max(...v).toFixed(2)})`; };
  console.log(`| ${r.shape} | ${r.dtype} | ${r.k}x${r.n} | ${builds.map(cell).join(' | ')} | ${m.slice(1).map((v) => (v / m[0]).toFixed(2)).join(' | ')} |`);
});
await h.close();
