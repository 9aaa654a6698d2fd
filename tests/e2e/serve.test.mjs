// The dev server's path handling: a bare % is a 400 (it used to crash the server), nothing outside
// the root is served (not a sibling folder whose name starts like the root), and the site still is.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import http from 'node:http';
import { serve } from '../../www/serve.mjs';

let dir, server, port;
before(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'serve-'));
  fs.mkdirSync(path.join(dir, 'site'));
  fs.mkdirSync(path.join(dir, 'site-private'));
  fs.writeFileSync(path.join(dir, 'site', 'index.html'), '<!doctype html><title>ok</title>');
  fs.writeFileSync(path.join(dir, 'site-private', 'secret.txt'), 'secret');
  fs.writeFileSync(path.join(dir, 'secret.txt'), 'secret');
  server = await serve(path.join(dir, 'site'), 0);
  port = server.address().port;
});
after(() => { server?.close(); fs.rmSync(dir, { recursive: true, force: true }); });

/** A raw GET (no URL normalisation by the client), as a hostile client sends it. */
function get(rawPath) {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path: rawPath, method: 'GET' }, (res) => {
      let body = '';
      res.on('data', (c) => { body += c; });
      res.on('end', () => resolve({ status: res.statusCode, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

test('a bare % is a 400 and the server keeps serving', async () => {
  assert.equal((await get('/%')).status, 400);
  assert.equal((await get('/%E0%A4%A')).status, 400);
  assert.equal((await get('/index.html')).status, 200);
});

test('nothing outside the root is served: parent, sibling folder, encoded dots, NUL', async () => {
  for (const p of ['/../secret.txt', '/..%2fsecret.txt', '/%2e%2e/secret.txt', '/../site-private/secret.txt', '/..%2Fsite-private%2Fsecret.txt', '/index.html%00.txt']) {
    const r = await get(p);
    assert.notEqual(r.status, 200, `${p} was served`);
    assert.doesNotMatch(r.body, /secret/, p);
  }
  assert.equal((await get('/')).status, 200, 'the root folder serves its index.html');
});
