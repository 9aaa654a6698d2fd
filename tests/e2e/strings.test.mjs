// The string tables as source text (no browser): one object literal per language, each key once
// (a second copy of a key silently replaces the first, so one of the two is dead text that
// translators keep editing), the same keys in both languages, and the same {placeholders}.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { en, ko } from '../../www/strings.js';

const SOURCE = fs.readFileSync(path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../www/strings.js'), 'utf8');

/** The keys of the object literal whose `{` is at `open`, in source order (quoted or bare). */
function keysAt(src, open) {
  const keys = [];
  let depth = 0;
  let expectKey = false;
  for (let i = open; i < src.length; i++) {
    const c = src[i];
    if (c === '/' && src[i + 1] === '/') { i = src.indexOf('\n', i); continue; }
    if (c === '/' && src[i + 1] === '*') { i = src.indexOf('*/', i) + 1; continue; }
    if (c === '"' || c === "'" || c === '`') {
      let j = i + 1;
      let s = '';
      while (src[j] !== c) { if (src[j] === '\\') { s += src[j + 1]; j += 2; } else s += src[j++]; }
      if (depth === 1 && expectKey && /^\s*:/.test(src.slice(j + 1))) keys.push(s);
      expectKey = false;
      i = j;
      continue;
    }
    if (c === '{' || c === '[' || c === '(') { depth++; expectKey = depth === 1; continue; }
    if (c === '}' || c === ']' || c === ')') { if (--depth === 0) return keys; continue; }
    if (c === ',' && depth === 1) { expectKey = true; continue; }
    if (depth === 1 && expectKey && /[A-Za-z_$]/.test(c)) {
      const name = /^[\w$]+/.exec(src.slice(i))[0];
      if (/^\s*:/.test(src.slice(i + name.length))) keys.push(name);
      expectKey = false;
      i += name.length - 1;
    }
  }
  throw new Error('unterminated object literal');
}

/** Every object literal that adds keys to a language: `const en = {` and `Object.assign(en, {`. */
function tables(lang) {
  const re = new RegExp(`(?:const\\s+${lang}\\s*=\\s*|Object\\.assign\\(\\s*${lang}\\s*,\\s*)\\{`, 'g');
  return [...SOURCE.matchAll(re)].map((m) => keysAt(SOURCE, m.index + m[0].length - 1));
}

const duplicates = (keys) => [...new Set(keys.filter((k, i) => keys.indexOf(k) !== i))];

for (const lang of ['en', 'ko']) {
  test(`${lang}: one table, each key defined once`, () => {
    const found = tables(lang);
    const all = found.flat();
    assert.ok(all.length > 100, `${all.length} keys found: the parser lost its way`);
    assert.deepEqual(duplicates(all), [], `${lang}: keys defined more than once`);
    assert.equal(found.length, 1, `${lang} is built from ${found.length} object literals`);
    assert.equal(all.length, Object.keys(lang === 'en' ? en : ko).length, 'the parsed keys are the module\'s keys');
  });
}

test('both languages have the same keys and the same placeholders', () => {
  assert.deepEqual(tables('ko').flat().sort(), tables('en').flat().sort());
  const vars = (s) => [...s.matchAll(/\{(\w+)\}/g)].map((m) => m[1]).sort();
  for (const k of Object.keys(en)) assert.deepEqual(vars(ko[k]), vars(en[k]), k);
});
