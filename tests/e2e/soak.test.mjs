// 500 generations and 50 model switches in one page: no error, and after warm-up the bytes the
// engine's heap holds and the page's JS heap grow at most 5% (warm-up: 200 generations, 20 switches); the wasm memory is reported (see soak.mjs). The figures are printed by soak.mjs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { soak } from './soak.mjs';

test('500 generations and 50 model switches: no error, memory flat after warm-up', async () => {
  const r = await soak({ generations: 500, switches: 50 });
  console.log(JSON.stringify(r));
  assert.equal(r.errors, 0);
  assert.deepEqual(r.pageErrors, []);
  assert.equal(r.switches, 50);
  assert.ok(r.heapGrowth <= 0.05, `the engine's heap grew ${(100 * r.heapGrowth).toFixed(1)}% after warm-up`);
  assert.ok(r.jsGrowth <= 0.05, `JS heap grew ${(100 * r.jsGrowth).toFixed(1)}% after warm-up`);
});
