// A static file server for the site: the right MIME types (application/wasm), COOP/COEP headers
// so the page is cross-origin isolated (threads), CORS so that other origins can embed the
// widgets. No dependencies.
//   node www/serve.mjs [port]     serves the repository root
import http from 'node:http';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { precache } from './precache.mjs';

const TYPES = {
  '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8', '.json': 'application/json', '.wasm': 'application/wasm', '.png': 'image/png',
  '.svg': 'image/svg+xml', '.gguf': 'application/octet-stream', '.md': 'text/markdown; charset=utf-8', '.txt': 'text/plain; charset=utf-8',
};

/**
 * The site's Content-Security-Policy, sent with every response and repeated in index.html's meta
 * (a static host that sends no headers still gets it; a test keeps the two equal). No inline
 * script or style; wasm may compile ('wasm-unsafe-eval'); workers from the site or a blob (the
 * embedding shim, see client.js); connections to the site, and to https and local servers for a
 * model the reader asks for by URL.
 */
export const CSP = [
  "default-src 'self'", "script-src 'self' 'wasm-unsafe-eval'", "worker-src 'self' blob:",
  "connect-src 'self' https: http://localhost:* http://127.0.0.1:*", "img-src 'self' data:", "style-src 'self'",
  "object-src 'none'", "base-uri 'self'", "form-action 'self'",
].join('; ');

/**
 * Serves `root`. `plain: true` sends only the content headers, as a bare static host does (no
 * COOP/COEP, CORS or CSP): the tests of the service worker's isolation use it.
 */
export function serve(root, port = 8080, host = '127.0.0.1', { plain = false } = {}) {
  root = path.resolve(root);
  const server = http.createServer((req, res) => {
    const url = new URL(req.url, 'http://x');
    let name;
    try { name = decodeURIComponent(url.pathname); } catch { res.writeHead(400).end('bad request: malformed %-escape'); return; }
    if (name.includes('\0')) { res.writeHead(400).end('bad request'); return; }
    let file = path.resolve(root, '.' + path.posix.normalize('/' + name));
    // inside the root itself, not a sibling folder whose name starts like it (/site-private)
    if (file !== root && !file.startsWith(root + path.sep)) { res.writeHead(403).end('forbidden'); return; }
    if (fs.existsSync(file) && fs.statSync(file).isDirectory()) file = path.join(file, 'index.html');
    // the service worker's version, computed from the files as they are now (see precache.mjs)
    if (file === path.join(root, 'www', 'precache.js') && fs.existsSync(path.join(root, 'www', 'precache.mjs'))) {
      const body = precache(root).text;
      res.writeHead(200, { 'Content-Type': TYPES['.js'], 'Cache-Control': 'no-cache', ...(plain ? {} : { 'Content-Security-Policy': CSP }) }).end(body);
      return;
    }
    fs.stat(file, (err, st) => {
      const headers = plain ? { 'Cache-Control': 'no-cache' } : {
        'Cross-Origin-Opener-Policy': 'same-origin',
        'Cross-Origin-Embedder-Policy': 'require-corp',
        // the widgets can be embedded in pages of other origins: their scripts, wasm and models
        // are fetched with CORS there, and may be loaded by a page that is itself isolated
        'Access-Control-Allow-Origin': '*',
        'Cross-Origin-Resource-Policy': 'cross-origin',
        'Content-Security-Policy': CSP,
        'Cache-Control': 'no-cache',
      };
      if (err || !st.isFile()) {
        res.writeHead(404, { ...headers, 'Content-Type': 'text/html' }).end('<!doctype html><h1>404 Not Found</h1>');
        return;
      }
      res.writeHead(200, { ...headers, 'Content-Type': TYPES[path.extname(file)] ?? 'application/octet-stream', 'Content-Length': st.size });
      if (req.method === 'HEAD') res.end();
      else fs.createReadStream(file).pipe(res);
    });
  });
  return new Promise((resolve) => server.listen(port, host, () => resolve(server)));
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
  const port = Number(process.argv[2] || process.env.PORT || 8080);
  serve(root, port).then(() => console.log(`Inside GPT is served at http://localhost:${port}/`));
}
