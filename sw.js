// The site's service worker (scope: the whole site). It makes the page work offline after one
// visit, and cross-origin isolated (threads) on static hosts that cannot send headers.
// - Install: precaches every file of the page, both wasm builds included (the list and the
//   version come from www/precache.js, written by .ci/build; a new build is a new version).
// - Activate: deletes the caches of older versions, and takes over the open pages.
// - Fetch: same-origin files from the precache first, everything else from the network (the
//   models are cached by the model worker itself, in the Cache API, when first loaded). Every
//   same-origin response gets COOP/COEP, so the page is cross-origin isolated where the browser
//   can be; where it cannot (no SharedArrayBuffer), the worker runs the single-thread build.
// A classic script (importScripts): module service workers are missing from some browsers still.
importScripts('www/precache.js'); /* global PRECACHE */

const PREFIX = 'inside-gpt-site-';
const CACHE = PREFIX + PRECACHE.version;
const BASE = new URL('./', self.location.href);

self.addEventListener('install', (event) => {
  event.waitUntil((async () => {
    const cache = await caches.open(CACHE);
    // `cache: 'reload'`: the files themselves, not a copy in the HTTP cache from an older version
    await cache.addAll(PRECACHE.files.map((f) => new Request(new URL(f, BASE), { cache: 'reload' })));
  })());
});

self.addEventListener('activate', (event) => {
  event.waitUntil((async () => {
    for (const name of await caches.keys()) if (name.startsWith(PREFIX) && name !== CACHE) await caches.delete(name);
    await self.clients.claim();
  })());
});

// The page asks the new version to take over once the reader chose to reload.
self.addEventListener('message', (event) => {
  if (event.data === 'skipWaiting') self.skipWaiting();
});

/** A response with the isolation headers added (a page without them cannot use threads). */
function isolated(response) {
  if (response.type === 'opaque' || response.type === 'opaqueredirect' || response.status === 0) return response;
  const headers = new Headers(response.headers);
  headers.set('Cross-Origin-Opener-Policy', 'same-origin');
  headers.set('Cross-Origin-Embedder-Policy', 'require-corp');
  headers.set('Cross-Origin-Resource-Policy', 'cross-origin');
  return new Response(response.body, { status: response.status, statusText: response.statusText, headers });
}

self.addEventListener('fetch', (event) => {
  const req = event.request;
  const url = new URL(req.url);
  if (req.method !== 'GET' || url.origin !== self.location.origin) return;
  event.respondWith((async () => {
    const cache = await caches.open(CACHE);
    // the page itself: index.html for the site's root, whatever its query
    const key = req.mode === 'navigate' && url.pathname === BASE.pathname ? new URL('index.html', BASE).href : url.origin + url.pathname;
    const hit = await cache.match(key);
    if (hit) return isolated(hit);
    try {
      return isolated(await fetch(req));
    } catch (e) {
      if (req.mode === 'navigate') {
        const page = await cache.match(new URL('index.html', BASE).href);
        if (page) return isolated(page);
      }
      throw e;
    }
  })());
});
