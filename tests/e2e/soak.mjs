// The soak: many generations and model switches in one page, measuring the worker's wasm memory
// and the page's JS heap after warm-up. `node tests/e2e/soak.mjs` prints the figures (the
// benchmark); soak.test.mjs runs it and checks only for errors and the 5% bound.
import { fileURLToPath } from 'node:url';
import { start } from './harness.mjs';

const MODELS = ['/www/models/shakespeare-q8_0.gguf', '/www/models/shakespeare-q4_0.gguf'];

/** Garbage-collected JS heap of the page, in bytes (Chromium's DevTools protocol). */
async function jsHeap(cdp) {
  await cdp.send('HeapProfiler.collectGarbage');
  return (await cdp.send('Runtime.getHeapUsage')).usedSize;
}

/**
 * `generations` generations of `tokens` tokens with varied prompts and seeds, switching between
 * the two shipped models every generations/switches. Memory is read after `warmup` of them and at
 * the end, both at an even number of switches (the same model loaded): the bytes the engine's heap
 * holds (a leak shows there, whatever the allocator does), and the wasm memory, which only ever
 * grows, to the allocator's high-water mark: with streamed loads it settles on holes that fit
 * both models' buffers within 20 to about 90 switches (measured 12 to 14 MiB), so it is reported,
 * not bounded.
 */
export async function soak({ generations = 500, switches = 50, tokens = 24, warmup = 200 } = {}) {
  const h = await start();
  try {
    await h.page.goto(`${h.origin}/index.html`);
    await h.page.locator('gpt-model .status', { hasText: 'Loaded' }).waitFor();
    const cdp = await h.context.newCDPSession(h.page);
    const every = Math.max(1, Math.round(generations / switches));
    const t0 = Date.now();
    let warm = null;
    let errors = 0;
    let switched = 0;
    let generated = 0;
    for (let i = 0; i < generations; i++) {
      if (i === warmup) warm = { ...(await h.page.evaluate(async () => (await import('/www/client.js')).memoryDetail())), js: await jsHeap(cdp) };
      const url = i % every === every - 1 && switched < switches ? MODELS[++switched % 2] : null;
      const r = await h.page.evaluate(async ({ i, url, tokens }) => {
        const c = await import('/www/client.js');
        try {
          if (url) await c.loadModel({ url, name: url.split('/').pop() });
          const prompts = ['ROMEO.', 'KING.\n', 'To be, or not to be', 'Juliet.\nO ', '언어 모델', '\u{FEFF}🇰🇷 odd'];
          const done = await c.generate(9999, prompts[i % prompts.length], { temperature: 0.8, topK: 40, seed: i }, tokens);
          return { tokens: done.tokens };
        } catch (e) { return { error: e.message }; }
      }, { i, url, tokens });
      if (r.error) errors += 1; else generated += r.tokens;
    }
    const end = { ...(await h.page.evaluate(async () => (await import('/www/client.js')).memoryDetail())), js: await jsHeap(cdp) };
    const pageErrors = h.logs.filter((l) => l.startsWith('pageerror'));
    return {
      generations, switches: switched, tokens: generated, seconds: (Date.now() - t0) / 1000, errors, pageErrors,
      wasmAfterWarmup: warm.wasmBytes, wasmEnd: end.wasmBytes, wasmGrowth: end.wasmBytes / warm.wasmBytes - 1,
      heapAfterWarmup: warm.heapBytes, heapEnd: end.heapBytes, heapGrowth: end.heapBytes / warm.heapBytes - 1,
      jsAfterWarmup: warm.js, jsEnd: end.js, jsGrowth: end.js / warm.js - 1,
    };
  } finally { await h.close(); }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const r = await soak();
  const mib = (b) => (b / 2 ** 20).toFixed(1);
  console.log(`soak: ${r.generations} generations (${r.tokens} tokens), ${r.switches} model switches in ${r.seconds.toFixed(1)} s, ${r.errors} errors`);
  console.log(`wasm memory after warm-up ${mib(r.wasmAfterWarmup)} MiB, at the end ${mib(r.wasmEnd)} MiB (${(100 * r.wasmGrowth).toFixed(1)}%)`);
  console.log(`page JS heap after warm-up ${mib(r.jsAfterWarmup)} MiB, at the end ${mib(r.jsEnd)} MiB (${(100 * r.jsGrowth).toFixed(1)}%)`);
}
