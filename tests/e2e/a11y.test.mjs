// Accessibility and languages: an axe-core scan of the whole page (shadow roots included) in both
// languages and in dark mode and on a phone-sized screen; the language switch changes every
// visible string; the two string tables have the same keys.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import { start, fixture } from './harness.mjs';
import { en, ko } from '../../www/strings.js';

const require = createRequire(import.meta.url);
const AXE = require.resolve('axe-core/axe.min.js');
let h;
const model = fixture('synth-q8_0.gguf', '--type', 'Q8_0', '--seed', '3', '--std', '0.1', '--layers', '4', '--width', '128', '--ctx', '512', '--vocab', '400');
const PAGE = `/index.html?model=${encodeURIComponent(model.urlPath)}`;

before(async () => { h = await start(); });
after(async () => { await h?.close(); });

test('the English and Korean string tables have the same keys, none empty', () => {
  assert.deepEqual(Object.keys(ko).sort(), Object.keys(en).sort());
  for (const [k, v] of Object.entries(ko)) assert.ok(v.length > 0, k);
});

async function ready(page) {
  await page.locator('gpt-model .status', { hasText: /Loaded|불러왔습니다/ }).waitFor();
  await page.locator('gpt-attention .thumb').first().waitFor();
  await page.locator('gpt-transformer fieldset').first().waitFor();
}

async function scan(page, name) {
  // evaluated, not added as an inline <script>: the page's CSP (rightly) refuses inline scripts
  await page.evaluate(fs.readFileSync(AXE, 'utf8'));
  const result = await page.evaluate(async () => {
    const r = await window.axe.run(document, { resultTypes: ['violations'] });
    return r.violations.map((v) => ({ id: v.id, impact: v.impact, nodes: v.nodes.slice(0, 3).map((n) => n.target.join(' ')), help: v.help }));
  });
  const bad = result.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  assert.deepEqual(bad, [], `${name}: ${JSON.stringify(bad, null, 1)}`);
  return result;
}

test('axe-core finds no serious or critical violations (English, light)', async () => {
  await h.page.goto(`${h.origin}${PAGE}&lang=en`);
  await ready(h.page);
  await scan(h.page, 'en');
});

test('the language switch changes every visible string, and Korean passes the scan in dark mode on a phone', async () => {
  const ctx = await h.page.context().browser().newContext({ viewport: { width: 390, height: 844 }, colorScheme: 'dark' });
  const page = await ctx.newPage();
  await page.goto(`${h.origin}${PAGE}&lang=en`);
  await ready(page);
  // every text node the reader sees, in the page and in every shadow root
  const visibleText = () => page.evaluate(() => {
    const out = [];
    const walk = (root) => {
      const it = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
      for (let n = it.nextNode(); n; n = it.nextNode()) {
        const el = n.parentElement;
        if (!el || el.closest('script, style, option, textarea, .tokens, pre.prompt, table.results, .explain, .readout, .detail, .parts, .hyper, .scale, .status, .losses, .speed, .sum, .out')) continue;
        const s = n.textContent.trim();
        if (s && el.getClientRects().length) out.push(s);
      }
      for (const e of root.querySelectorAll('*')) if (e.shadowRoot) walk(e.shadowRoot);
    };
    walk(document);
    return out;
  });
  const before = await visibleText();
  await page.selectOption('#lang', 'ko');
  await page.locator('gpt-model .status', { hasText: '불러왔습니다' }).waitFor();
  const after = await visibleText();
  const english = new Set(Object.values(en).map((s) => s.trim()));
  const untranslated = after.filter((s) => english.has(s) && ko[Object.keys(en).find((k) => en[k].trim() === s)] !== s);
  assert.deepEqual(untranslated, [], 'strings still in English after switching');
  assert.ok(before.length > 50 && after.length === before.length, `${before.length} vs ${after.length} strings`);
  assert.equal(await page.evaluate(() => document.documentElement.lang), 'ko');
  await page.screenshot({ path: `${h.artifacts}/korean-phone-dark.png`, fullPage: false });
  // nothing wider than the phone's screen
  assert.equal(await page.evaluate(() => document.documentElement.scrollWidth), 390);
  await scan(page, 'ko dark phone');
  await ctx.close();
});
