// The page's side of the service worker (sw.js at the site's root): registers it, so that after
// one visit the page works offline (and is cross-origin isolated on hosts that send no headers),
// and says when a new version of the site is ready, with a button that switches to it.
const SW = new URL('../sw.js', import.meta.url);

/** Registers the service worker; `notice` ({show(onReload)}) is told when a new version waits. */
export async function registerOffline(notice) {
  if (!('serviceWorker' in navigator) || !['https:', 'http:'].includes(location.protocol)) return null;
  let reg;
  try {
    reg = await navigator.serviceWorker.register(SW, { scope: new URL('./', SW).pathname });
  } catch (e) {
    console.info(`no offline support here: ${e.message}`);
    return null;
  }
  const offer = (w) => notice.show(() => {
    navigator.serviceWorker.addEventListener('controllerchange', () => location.reload(), { once: true });
    w.postMessage('skipWaiting');
  });
  // a version already waiting from an earlier visit, or one that arrives while the page is open
  if (reg.waiting && navigator.serviceWorker.controller) offer(reg.waiting);
  reg.addEventListener('updatefound', () => {
    const w = reg.installing;
    w?.addEventListener('statechange', () => {
      if (w.state === 'installed' && navigator.serviceWorker.controller) offer(w);
    });
  });
  return reg;
}
