// One driver for the browser tests in every engine a reader has, so that a test is written once:
// Chromium through playwright-core, Firefox (Debian's firefox-esr, through geckodriver) and WebKit
// (WebKitGTK's MiniBrowser, through WebKitWebDriver; JavaScriptCore is Safari's engine) through
// selenium-webdriver's W3C WebDriver client.
//
// Every DOM action runs inside the page (`evaluate`), through one selector helper that walks open
// shadow roots, so it behaves the same in all three engines: `'#generate gpt-generate >> .out .gen'`
// is `document.querySelector('#generate gpt-generate').shadowRoot.querySelectorAll('.out .gen')`.
// Clicks are `el.click()` and fills set `value` and fire input and change: the widgets' own
// handlers run, as they do for a reader, without the engines' differing native-input paths.
//
// Modules: a test reaches the page's own instance of a module with `mod(url)`, never `import()`
// (Firefox's WebDriver scripts would get a second instance; see page-import.js).
//
//   const site = await startSite();                // the site server, under two origins
//   const page = await open('firefox', { origin: site.origin });   // or site.altOrigin
//   await page.goto('/index.html');
//   await page.waitFor((a, { q }) => q('gpt-model >> .status')?.textContent.includes('Loaded'));
//   await page.close(); await site.close();
import { spawn, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { serve } from '../../www/serve.mjs';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const ENGINES = ['chromium', 'firefox', 'webkit'];

// --- where each engine lives

const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const FIREFOX = process.env.FIREFOX || '/usr/bin/firefox-esr';
/** WebKitGTK's MiniBrowser (package libwebkit2gtk-4.1-0, pulled in by webkit2gtk-driver). */
const MINIBROWSER = process.env.MINIBROWSER || ['4.1', '4.0', '6.0']
  .map((v) => `/usr/lib/${process.arch === 'arm64' ? 'aarch64' : 'x86_64'}-linux-gnu/webkit2gtk-${v}/MiniBrowser`)
  .find((p) => fs.existsSync(p));

/** The first executable called `name` on PATH or in ~/.cargo/bin (where `cargo install` puts geckodriver). */
function which(name) {
  const dirs = [...(process.env.PATH || '').split(':'), path.join(os.homedir(), '.cargo/bin')];
  return dirs.map((d) => path.join(d, name)).find((p) => { try { fs.accessSync(p, fs.constants.X_OK); return true; } catch { return false; } });
}

/** Why `engine` cannot run here (a sentence), or null when it can. */
export function missing(engine) {
  const need = {
    chromium: [[fs.existsSync(CHROMIUM), 'Debian chromium']],
    firefox: [[fs.existsSync(FIREFOX), 'Debian firefox-esr'], [which('geckodriver'), 'geckodriver (cargo install geckodriver)']],
    webkit: [[which('WebKitWebDriver'), 'WebKitWebDriver (Debian webkit2gtk-driver)'], [MINIBROWSER, 'WebKitGTK MiniBrowser (libwebkit2gtk-4.1-0)'],
      [process.env.DISPLAY || which('Xvfb'), 'a display or Xvfb (Debian xvfb)']],
  }[engine];
  if (!need) return `unknown engine ${engine}`;
  const absent = need.filter(([have]) => !have).map(([, what]) => what);
  return absent.length ? `${engine} needs ${absent.join(', ')}` : null;
}

// --- the site

/**
 * The site server (www/serve.mjs) on a free port of 127.0.0.1. It answers under two origins,
 * `origin` (http://127.0.0.1:PORT) and `altOrigin` (http://localhost:PORT, the same server under
 * another host name, so a different origin to the browser): a page of one embedding widgets from
 * the other is a cross-origin embed with no second server. `offline()` stops it (open connections
 * too), so that every engine sees the network gone the same way, a refused connection; `online()`
 * brings it back on the same port. `options` go to serve() ({ plain: true }: no headers).
 */
export async function startSite(root = ROOT, options = {}) {
  let server = await serve(root, 0, '127.0.0.1', options);
  const { port } = server.address();
  const stop = (s) => new Promise((resolve) => { s.closeAllConnections?.(); s.close(() => resolve()); });
  let down = false;
  return {
    get server() { return server; },
    port,
    origin: `http://127.0.0.1:${port}`,
    altOrigin: `http://localhost:${port}`,
    async offline() { if (!down) { down = true; await stop(server); } },
    async online() { if (down) { server = await serve(root, port, '127.0.0.1', options); down = false; } },
    close: () => (down ? Promise.resolve() : stop(server)),
  };
}

// --- the code that runs in the page

/**
 * Wraps `fn(arg, dom)` as one expression that every engine evaluates the same way: its result
 * (awaited) comes back JSON-encoded, and a throw comes back as its message, so a value or an
 * error looks the same from Chromium, Firefox and WebKit. `dom` holds the helpers: q(sel) one
 * element or null, qa(sel) an array (`A >> B` steps into A's shadow root), and mod(url), the
 * page's own instance of a module (use it, not import(): see page-import.js).
 */
function pageExpression(fn, arg) {
  return `(async () => {
    const step = (roots, sel) => roots.flatMap((r) => [...(r.shadowRoot ?? r).querySelectorAll(sel)]);
    const qa = (sel) => sel.split('>>').map((s) => s.trim()).reduce((roots, s, i) => i === 0 ? [...document.querySelectorAll(s)] : step(roots, s), []);
    const q = (sel) => qa(sel)[0] ?? null;
    const mod = (spec) => {
      const url = new URL(spec, location.href).href;
      const have = window.__driverModules?.[url];
      if (have) return Promise.resolve(have);
      return new Promise((resolve, reject) => {
        const s = document.createElement('script');
        s.type = 'module';
        s.src = new URL('/tests/e2e/page-import.js?' + new URLSearchParams({ m: url }), location.href).href;
        const got = (e) => {
          if (e.detail?.url !== url) return;
          removeEventListener('inside-gpt-driver-module', got);
          s.remove();
          if (e.detail.error) reject(new Error('import ' + url + ': ' + e.detail.error));
          else resolve(window.__driverModules[url]);
        };
        addEventListener('inside-gpt-driver-module', got);
        s.onerror = () => reject(new Error('could not load ' + s.src));
        (document.head || document.documentElement).append(s);
      });
    };
    try {
      const value = await (${fn})(${JSON.stringify(arg ?? null)}, { q, qa, mod });
      return JSON.stringify({ value: value === undefined ? null : value });
    } catch (e) {
      return JSON.stringify({ error: (e && e.message) || String(e), stack: e && e.stack });
    }
  })()`;
}

function unwrap(json, fn) {
  const r = JSON.parse(json);
  if ('error' in r) {
    const e = new Error(`in the page: ${r.error}\n  while running ${String(fn).slice(0, 300)}`);
    e.pageStack = r.stack;
    throw e;
  }
  return r.value;
}

/** Page-side error collection for the WebDriver engines, installed after each navigation. */
const LISTEN_FOR_ERRORS = `
  if (!window.__driverErrors) {
    window.__driverErrors = [];
    addEventListener('error', (e) => window.__driverErrors.push('pageerror: ' + (e.message || e.error)));
    addEventListener('unhandledrejection', (e) => window.__driverErrors.push('pageerror: unhandled rejection: ' + (e.reason && e.reason.message || e.reason)));
  }`;

// --- the engines

/**
 * The drivers and X servers this process started, each the leader of its own process group (the
 * browser and its content processes are in it): killed as groups when this process ends, however
 * it ends, so that a test killed at its timeout leaves no Firefox or MiniBrowser behind.
 */
const groups = new Set();
function spawnGroup(cmd, args, options) {
  const child = spawn(cmd, args, { ...options, detached: true });
  groups.add(child.pid);
  child.on('exit', () => groups.delete(child.pid));
  return child;
}
const killGroup = (pid, signal = 'SIGTERM') => { try { process.kill(-pid, signal); } catch { /* gone */ } };
process.on('exit', () => { for (const pid of groups) killGroup(pid, 'SIGKILL'); });
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(sig, () => { for (const pid of groups) killGroup(pid, 'SIGKILL'); process.exit(128 + os.constants.signals[sig]); });
}

/** A free TCP port on 127.0.0.1 for a driver to listen on. */
function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => { const { port } = s.address(); s.close(() => resolve(port)); });
    s.on('error', reject);
  });
}

async function waitForHttp(url, child, what, ms = 30_000) {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    if (child.exitCode !== null) throw new Error(`${what} exited (${child.exitCode}) before it answered`);
    try { if ((await fetch(url)).ok) return; } catch { /* not up yet */ }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${what} did not answer at ${url} within ${ms} ms`);
}

/** A private X server for MiniBrowser, which needs a display even when nobody looks at it. */
function startXvfb() {
  const x = spawnGroup(which('Xvfb'), ['-displayfd', '3', '-screen', '0', '1280x1024x24', '-nolisten', 'tcp'], { stdio: ['ignore', 'ignore', 'pipe', 'pipe'] });
  let err = '';
  x.stderr.on('data', (d) => { err += d; });
  return new Promise((resolve, reject) => {
    let out = '';
    x.stdio[3].on('data', (d) => { out += d; if (out.includes('\n')) resolve({ display: `:${out.trim()}`, kill: () => killGroup(x.pid) }); });
    x.on('exit', (code) => reject(new Error(`Xvfb exited (${code}): ${err.slice(-500)}`)));
  });
}

async function openChromium({ viewport }) {
  const { chromium } = await import('playwright-core');
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run', '--disable-sync'],
  });
  const context = await browser.newContext({ viewport });
  const page = await context.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(`pageerror: ${e.message}`));
  return {
    version: browser.version(),
    playwright: { browser, context, page },
    goto: (url) => page.goto(url),
    run: (expr) => page.evaluate(expr),
    errors: async () => errors,
    screenshot: (file) => page.screenshot({ path: file }),
    close: () => browser.close(),
  };
}

async function openWebDriver(engine, { viewport }) {
  const { Builder } = await import('selenium-webdriver');
  const port = await freePort();
  const stop = [];
  let driverProcess, capabilities;
  const log = [];
  try {
    if (engine === 'firefox') {
      driverProcess = spawnGroup(which('geckodriver'), ['--port', String(port), '--host', '127.0.0.1'], { stdio: ['ignore', 'pipe', 'pipe'] });
      capabilities = {
        browserName: 'firefox',
        'moz:firefoxOptions': {
          binary: FIREFOX,
          args: ['-headless', `--width=${viewport.width}`, `--height=${viewport.height}`],
          // nothing leaves the machine (its network is closed): no update, telemetry or portal checks
          prefs: {
            'app.update.enabled': false, 'network.captive-portal-service.enabled': false, 'network.connectivity-service.enabled': false,
            'datareporting.policy.dataSubmissionEnabled': false, 'toolkit.telemetry.enabled': false, 'browser.safebrowsing.malware.enabled': false,
            'browser.safebrowsing.phishing.enabled': false, 'extensions.update.enabled': false, 'browser.shell.checkDefaultBrowser': false,
          },
        },
      };
    } else {
      let display = process.env.DISPLAY;
      if (!display) { const x = await startXvfb(); stop.push(x.kill); display = x.display; }
      driverProcess = spawnGroup(which('WebKitWebDriver'), [`--port=${port}`], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, DISPLAY: display } });
      capabilities = {
        browserName: 'MiniBrowser',
        'webkitgtk:browserOptions': { binary: MINIBROWSER, args: ['--automation'] },
      };
    }
    for (const s of [driverProcess.stdout, driverProcess.stderr]) s.on('data', (d) => { log.push(String(d)); if (log.length > 200) log.shift(); });
    // after quit: the driver, and whatever of the browser is left in its group
    stop.unshift(() => killGroup(driverProcess.pid));
    await waitForHttp(`http://127.0.0.1:${port}/status`, driverProcess, engine === 'firefox' ? 'geckodriver' : 'WebKitWebDriver');
    const driver = await new Builder().usingServer(`http://127.0.0.1:${port}`).withCapabilities(capabilities).build();
    stop.unshift(() => driver.quit());
    await driver.manage().setTimeouts({ script: 600_000, pageLoad: 120_000 });
    if (engine === 'webkit') await driver.manage().window().setRect({ width: viewport.width, height: viewport.height });
    const caps = await driver.getCapabilities();
    return {
      version: caps.get('browserVersion'),
      webdriver: driver,
      async goto(url) { await driver.get(url); await driver.executeScript(LISTEN_FOR_ERRORS); },
      run: (expr) => driver.executeAsyncScript(`const done = arguments[arguments.length - 1]; ${expr}.then(done);`),
      errors: () => driver.executeScript('return window.__driverErrors || []'),
      async screenshot(file) { fs.writeFileSync(file, Buffer.from(await driver.takeScreenshot(), 'base64')); },
      async close() { for (const f of stop) { try { await f(); } catch { /* already gone */ } } },
      driverLog: () => log.join(''),
    };
  } catch (e) {
    for (const f of stop) { try { await f(); } catch { /* already gone */ } }
    throw new Error(`${engine} did not start: ${e.message}\n${log.join('').slice(-2000)}`);
  }
}

/**
 * Opens `engine` ('chromium', 'firefox', 'webkit') on a fresh profile. `origin` is where relative
 * URLs given to goto() point (the site's `origin` or `altOrigin`). The page object:
 *   name, version, origin
 *   goto(url)                    navigates and waits for the load event
 *   evaluate(fn, arg)            runs fn(arg, { q, qa, mod }) in the page, awaits it, returns a JSON
 *                                copy; fn is sent as source text, so it sees no variable of the test
 *   waitFor(fn, arg, opts)       polls evaluate until it returns something truthy, and returns it;
 *                                opts: { timeout (ms, 30 s), what (for the failure message) }
 *   click(sel), fill(sel, value), text(sel), count(sel), attr(sel, name)
 *   setFile(sel, url, name)      the page fetches url and hands it to the file input `sel` as a
 *                                picked File (DataTransfer), firing change: the widget's own path
 *   screenshot(file, sel)        a PNG of the viewport (what WebDriver gives), scrolled to `sel` if given
 *   errors()                     page errors seen (Chromium: all of them; WebDriver engines: those
 *                                after each load event)
 *   close()
 * and, for engine-specific needs, `playwright` ({browser, context, page}) or `webdriver`.
 */
export async function open(engine, { origin, viewport = { width: 1100, height: 900 } } = {}) {
  const why = missing(engine);
  if (why) throw new Error(why);
  const b = engine === 'chromium' ? await openChromium({ viewport }) : await openWebDriver(engine, { viewport });
  const page = {
    ...b,
    name: engine,
    origin,
    goto: (url) => b.goto(origin ? new URL(url, origin).href : url),
    async evaluate(fn, arg) { return unwrap(await b.run(pageExpression(fn, arg)), fn); },
    async waitFor(fn, arg, { timeout = 30_000, what, interval = 100 } = {}) {
      const until = Date.now() + timeout;
      let last;
      for (;;) {
        last = await page.evaluate(fn, arg);
        if (last) return last;
        if (Date.now() > until) throw new Error(`${engine}: timed out after ${timeout} ms waiting for ${what ?? String(fn)} (last: ${JSON.stringify(last)})`);
        await new Promise((r) => setTimeout(r, interval));
      }
    },
    click: (sel) => page.evaluate((s, { q }) => {
      const el = q(s);
      if (!el) throw new Error(`no element ${s}`);
      el.click();
    }, sel),
    fill: (sel, value) => page.evaluate(([s, v], { q }) => {
      const el = q(s);
      if (!el) throw new Error(`no element ${s}`);
      el.value = v;
      el.dispatchEvent(new Event('input', { bubbles: true, composed: true }));
      el.dispatchEvent(new Event('change', { bubbles: true, composed: true }));
    }, [sel, String(value)]),
    text: (sel) => page.evaluate((s, { q }) => q(s)?.textContent ?? null, sel),
    count: (sel) => page.evaluate((s, { qa }) => qa(s).length, sel),
    attr: (sel, name) => page.evaluate(([s, n], { q }) => q(s)?.getAttribute(n) ?? null, [sel, name]),
    async screenshot(file, sel) {
      if (sel) await page.evaluate((s, { q }) => q(s)?.scrollIntoView({ block: 'start' }), sel);
      await b.screenshot(file);
    },
    setFile: (sel, url, name) => page.evaluate(async ([s, u, n], { q }) => {
      const input = q(s);
      if (!input) throw new Error(`no element ${s}`);
      const r = await fetch(u);
      if (!r.ok) throw new Error(`${u}: HTTP ${r.status}`);
      const dt = new DataTransfer();
      dt.items.add(new File([await r.arrayBuffer()], n, { type: 'application/octet-stream' }));
      input.files = dt.files;
      input.dispatchEvent(new Event('change', { bubbles: true }));
    }, [sel, url, name ?? url.split('/').pop()]),
  };
  return page;
}

/** The version line of each installed engine, for the README and the test log. */
export function versions() {
  const v = (cmd, args) => { try { return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim(); } catch { return null; } };
  return {
    chromium: v(CHROMIUM, ['--version']),
    firefox: v(FIREFOX, ['--version']),
    geckodriver: which('geckodriver') && v(which('geckodriver'), ['--version'])?.split('\n')[0],
    webkit: v('dpkg-query', ['-W', '-f=${Version}', 'libwebkit2gtk-4.1-0']),
  };
}
