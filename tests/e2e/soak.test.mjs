// 500 generations and 50 model switches in one page: no error, and after warm-up the worker's
// wasm memory and the page's JS heap grow at most 5% (warm-up: 200 generations, 20 switches). The figures are printed by soak.mjs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { soak } from './soak.mjs';

test('500 generations and 50 model switches: no error, memory flat after warm-up', async () => {
  const r = await soak({ generations: 500, switches: 50 });
  console.log(JSON.stringify(r));
  assert.equal(r.errors, 0);
  assert.deepEqual(r.pageErrors, []);
  assert.equal(r.switches, 50);
  assert.ok(r.wasmGrowth <= 0.05, `wasm memory grew ${(100 * r.wasmGrowth).toFixed(1)}% after warm-up`);
  assert.ok(r.jsGrowth <= 0.05, `JS heap grew ${(100 * r.jsGrowth).toFixed(1)}% after warm-up`);
});
