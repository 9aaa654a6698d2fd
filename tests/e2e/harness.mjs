// Shared set-up for the browser tests: the site server, Debian's Chromium through playwright-core,
// a fixture model written by the native CLI, and a guard that no request leaves the page's origin.
import { chromium } from 'playwright-core';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { serve } from '../../www/serve.mjs';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const CLI = path.join(ROOT, 'target/release/inside-gpt');
export const ARTIFACTS = path.join(ROOT, 'tests/e2e/artifacts');
const FIXTURES = path.join(ROOT, 'tests/e2e/fixtures');

/** Runs the native CLI and returns its stdout. */
export function cli(...args) {
  return execFileSync(CLI, args, { encoding: 'utf8' });
}

/** A synthetic model written by the CLI (random weights from a seed): path on disk and URL path. */
export function fixture(name, ...args) {
  fs.mkdirSync(FIXTURES, { recursive: true });
  const file = path.join(FIXTURES, name);
  if (!fs.existsSync(file)) cli('synth', '--out', file, ...args);
  return { file, urlPath: `/tests/e2e/fixtures/${name}` };
}

/** Waits until the widget `widget`'s status line carries a `data-reason`, and returns it (then clears it, for the next run). */
export async function widgetFinished(page, widget) {
  const s = page.locator(`${widget} .status[data-reason]`);
  await s.waitFor();
  const reason = await s.getAttribute('data-reason');
  await page.locator(widget).evaluate((el) => { delete el.shadowRoot.querySelector('.status').dataset.reason; });
  return reason;
}

export async function start() {
  const server = await serve(ROOT, 0);
  const origin = `http://127.0.0.1:${server.address().port}`;
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run', '--disable-sync'],
  });
  const context = await browser.newContext({ viewport: { width: 1100, height: 900 } });
  const foreign = [];
  context.on('request', (r) => { if (!r.url().startsWith(origin) && !r.url().startsWith('blob:') && !r.url().startsWith('data:')) foreign.push(r.url()); });
  const page = await context.newPage();
  const logs = [];
  page.on('console', (m) => logs.push(`${m.type()}: ${m.text()}`));
  page.on('pageerror', (e) => logs.push(`pageerror: ${e.message}`));
  fs.mkdirSync(ARTIFACTS, { recursive: true });
  return {
    origin, page, context, foreign, logs, artifacts: ARTIFACTS, server,
    async screenshot(name) { await page.screenshot({ path: path.join(ARTIFACTS, `${name}.png`), fullPage: true }); },
    async close() { await browser.close(); server.close(); },
  };
}
