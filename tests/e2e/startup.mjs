// The page's start-up on a first visit, in Chromium: time to interactive and main-thread blocking
// time (the definitions are in `DEFINITION`), with the times the XOR widget and the model are
// ready. bench.mjs prints it as a section of BENCHMARKS.md; alone, it compares sites:
//   node tests/e2e/startup.mjs [--runs N] [ROOT ...]
// serves each ROOT (default: this repository; another is, say, an older commit's tree with its
// www/pkg built) and visits them in turn, run after run, so that a busy spell of this shared
// machine falls on both; prints one row per ROOT, and each ROOT's www/pkg size, compile and
// instantiation time on a page's main thread. STARTUP_JSON=FILE also writes every run's figures.
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { serve } from '../../www/serve.mjs';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

export const DEFINITION = 'Each run is a first visit: a fresh browser context (empty HTTP cache, Cache API and service workers) opens index.html; long tasks (main-thread tasks over 50 ms) come from a `longtask` PerformanceObserver registered before any of the page\'s scripts. '
  + 'Time to interactive (TTI), as Lighthouse defines it: the first window of 5 s after first contentful paint (FCP) that holds no long task and never more than two of the page\'s own requests in flight (those of the document, from Resource Timing; the workers\' downloads, the model\'s and the service worker\'s precache, are left out: they do not hold the main thread); TTI is the end of the last long task before that window, or FCP when none. '
  + 'Total blocking time (TBT), also Lighthouse\'s: the sum over the long tasks between FCP and TTI of their time beyond 50 ms. "Blocking from navigation" counts every long task up to TTI, those before FCP too. '
  + '"Wasm work on the main thread": the time the page\'s main thread spent in trace events of the `v8.wasm` category (receiving and compiling a module\'s bytes, instantiating it, compiling its functions on first call), from a trace of that category only. "XOR ready": the XOR widget has drawn its network; "model ready": the model widget says Loaded. Times in ms from navigation start.';

const QUIET = 5000;

// Registered before the page's own scripts: long tasks and paints are buffered by the browser,
// and the two widgets' ready times are read by polling (20 ms: each look is far below a long task)
const INIT = () => {
  self.__startup = { longtasks: [], xorReady: null, modelReady: null };
  new PerformanceObserver((list) => {
    for (const e of list.getEntries()) self.__startup.longtasks.push({ start: e.startTime, end: e.startTime + e.duration });
  }).observe({ type: 'longtask', buffered: true });
  const poll = setInterval(() => {
    const s = self.__startup;
    const root = (sel) => document.querySelector(sel)?.shadowRoot;
    if (s.xorReady === null && root('gpt-xor')?.querySelector('svg circle')) s.xorReady = performance.now();
    if (s.modelReady === null && /Loaded|불러왔/.test(root('gpt-model')?.querySelector('.status')?.textContent ?? '')) s.modelReady = performance.now();
    if (s.xorReady !== null && s.modelReady !== null) clearInterval(poll);
  }, 20);
};

/** TTI and blocking times from one visit's long tasks, FCP and the document's requests. */
export function interactive({ fcp, longtasks, requests, now }) {
  // intervals when more than two of the document's requests were in flight
  const edges = requests.flatMap((r) => [[r.start, 1], [r.end, -1]]).sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  const busy = [];
  let inFlight = 0;
  for (const [t, d] of edges) {
    inFlight += d;
    if (d > 0 && inFlight === 3) busy.push({ start: t, end: Infinity });
    if (d < 0 && inFlight === 2) busy.at(-1).end = t;
  }
  const blockers = [...longtasks, ...busy].sort((a, b) => a.start - b.start);
  let start = fcp;
  for (const b of blockers) if (b.end > start && b.start < start + QUIET) start = Math.max(start, b.end);
  if (start + QUIET > now) return null; // no quiet window seen yet
  const tti = Math.max(fcp, ...longtasks.filter((l) => l.end <= start).map((l) => l.end));
  const over = (l) => Math.max(0, l.end - l.start - 50);
  return {
    tti,
    tbt: longtasks.filter((l) => l.start >= fcp && l.end <= tti).reduce((s, l) => s + over(l), 0),
    blocking: longtasks.filter((l) => l.end <= tti).reduce((s, l) => s + over(l), 0),
    longtasks: longtasks.length,
  };
}

/** One first visit of `origin`'s index.html in a fresh context of `browser`. */
export async function visit(browser, origin, { timeout = 60000 } = {}) {
  const context = await browser.newContext({ viewport: { width: 1100, height: 900 } });
  let traced = false;
  try {
    await context.addInitScript(INIT);
    const page = await context.newPage();
    // the engine's module compiled or instantiated on the page's main thread (its wasm events)
    await browser.startTracing(page, { categories: ['v8.wasm'] });
    const wasmOnMain = async () => {
      traced = true;
      const events = JSON.parse((await browser.stopTracing()).toString()).traceEvents;
      const main = new Set(events.filter((e) => e.name === 'thread_name' && e.args?.name === 'CrRendererMain').map((e) => `${e.pid}:${e.tid}`));
      // the union of the events' spans (some nest)
      const spans = events.filter((e) => e.ph === 'X' && e.cat === 'v8.wasm' && main.has(`${e.pid}:${e.tid}`)).map((e) => [e.ts, e.ts + e.dur]).sort((a, b) => a[0] - b[0]);
      let sum = 0, end = -Infinity;
      for (const [a, b] of spans) { if (b > end) { sum += b - Math.max(a, end); end = b; } }
      return sum / 1000;
    };
    await page.goto(`${origin}/index.html`, { waitUntil: 'load' });
    const t0 = Date.now();
    for (;;) {
      await page.waitForTimeout(250);
      const s = await page.evaluate(() => ({
        ...self.__startup,
        fcp: performance.getEntriesByName('first-contentful-paint')[0]?.startTime ?? null,
        requests: performance.getEntriesByType('resource').map((r) => ({ start: r.startTime, end: r.responseEnd, name: r.name })),
        now: performance.now(),
      }));
      const r = s.fcp !== null && s.xorReady !== null && s.modelReady !== null ? interactive(s) : null;
      if (r) return { ...r, fcp: s.fcp, xorReady: s.xorReady, modelReady: s.modelReady, mainThreadWasm: s.requests.some((q) => q.name.endsWith('.wasm')), wasmOnMain: await wasmOnMain() };
      if (Date.now() - t0 > timeout) throw new Error(`no quiet window within ${timeout / 1000} s (FCP ${s.fcp}, XOR ready ${s.xorReady}, model ready ${s.modelReady}, ${s.longtasks.length} long tasks)`);
    }
  } finally {
    if (!traced) await browser.stopTracing().catch(() => {});
    await context.close();
  }
}

/**
 * Compiling and instantiating the module at `pkg` (a folder's URL path, e.g. /www/pkg) on a page's
 * main thread, `runs` times, each in a fresh context (no cached code): ms from the fetch to the
 * compiled module (download from the local server included), and for wasm-bindgen's init on it
 * (instantiation and the module's start).
 */
export async function compileTimes(browser, origin, pkg, runs = 5) {
  const out = [];
  for (let i = 0; i < runs; i++) {
    const context = await browser.newContext();
    try {
      const page = await context.newPage();
      await page.goto(`${origin}/startup-blank`);
      out.push(await page.evaluate(async (pkg) => {
        const t0 = performance.now();
        const module = await WebAssembly.compileStreaming(fetch(`${pkg}/inside_gpt_bg.wasm`));
        const t1 = performance.now();
        const glue = await import(`${pkg}/inside_gpt.js`);
        const t2 = performance.now();
        await glue.default({ module_or_path: module });
        return { compile: t1 - t0, instantiate: performance.now() - t2 };
      }, pkg));
    } finally {
      await context.close();
    }
  }
  return out;
}

const median = (xs) => { const s = [...xs].sort((a, b) => a - b); const m = s.length >> 1; return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2; };
/** "median (min to max)" of one figure over the runs, in ms. */
export const spread = (xs) => `${median(xs).toFixed(0)} (${Math.min(...xs).toFixed(0)} to ${Math.max(...xs).toFixed(0)})`;

/**
 * `runs` first visits of each site in `roots`, in turn; one list of visits per root. With
 * `compile`, also each site's www/pkg compiled and instantiated on a page's main thread, in turn
 * (`compile` lists per root).
 */
export async function startup({ roots = [ROOT], runs = 5, compile = false } = {}) {
  const servers = await Promise.all(roots.map((r) => serve(r, 0)));
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run', '--disable-sync'],
  });
  try {
    const out = roots.map(() => []);
    const compiled = roots.map(() => []);
    for (let i = 0; i < runs; i++) {
      for (const [k, s] of servers.entries()) {
        const origin = `http://127.0.0.1:${s.address().port}`;
        out[k].push(await visit(browser, origin));
        if (compile) compiled[k].push(...(await compileTimes(browser, origin, '/www/pkg', 1)));
      }
    }
    if (compile) out.compile = compiled;
    return out;
  } finally {
    await browser.close();
    for (const s of servers) s.close();
  }
}

/** The table's header and one row per site: medians with the spread over the runs. */
export function table(names, results) {
  const rows = ['| site | runs | FCP | TTI | TBT | blocking from navigation | long tasks | wasm work on the main thread | XOR ready | model ready | engine wasm fetched by the page |', '|---|---|---|---|---|---|---|---|---|---|---|'];
  for (const [k, vs] of results.entries()) {
    const f = (key) => spread(vs.map((v) => v[key]));
    rows.push(`| ${names[k]} | ${vs.length} | ${f('fcp')} | ${f('tti')} | ${f('tbt')} | ${f('blocking')} | ${f('longtasks')} | ${f('wasmOnMain')} | ${f('xorReady')} | ${f('modelReady')} | ${vs.some((v) => v.mainThreadWasm) ? 'yes' : 'no'} |`);
  }
  return rows.join('\n');
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2);
  const at = args.indexOf('--runs');
  const runs = at >= 0 ? Number(args.splice(at, 2)[1]) : 5;
  const roots = args.length ? args.map((a) => path.resolve(a)) : [ROOT];
  for (const r of roots) if (!fs.existsSync(path.join(r, 'www/pkg/inside_gpt_bg.wasm'))) throw new Error(`${r} has no www/pkg build`);
  const results = await startup({ roots, runs, compile: true });
  const names = roots.map((r) => path.relative(process.cwd(), r) || '.');
  console.log(`${DEFINITION}\n`);
  console.log(table(names, results));
  console.log('\n| site | www/pkg .wasm bytes | gzipped | compile ms | instantiate ms |\n|---|---|---|---|---|');
  for (const [k, r] of roots.entries()) {
    const w = fs.readFileSync(path.join(r, 'www/pkg/inside_gpt_bg.wasm'));
    const c = results.compile[k];
    console.log(`| ${names[k]} | ${w.length} | ${zlib.gzipSync(w, { level: 9 }).length} | ${spread(c.map((t) => t.compile))} | ${spread(c.map((t) => t.instantiate))} |`);
  }
  if (process.env.STARTUP_JSON) fs.writeFileSync(process.env.STARTUP_JSON, JSON.stringify({ roots, results, compile: results.compile }, null, 1));
}
