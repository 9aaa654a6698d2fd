// Loaded by driver.mjs into a page under test as <script type="module" src=".../page-import.js?m=URL">:
// imports URL in the page's own realm, so a test reaches the page's own instance of a module (the
// client.js whose worker holds the model), and leaves it on window for the test's script. Firefox
// runs WebDriver scripts in a sandbox whose import() would load a second, separate instance, and
// the site's Content-Security-Policy allows no inline script: a same-origin file is the way in.
const url = new URL(import.meta.url).searchParams.get('m');
const done = (detail) => dispatchEvent(new CustomEvent('inside-gpt-driver-module', { detail }));
import(url).then(
  (ns) => { (window.__driverModules ??= {})[url] = ns; done({ url }); },
  (e) => done({ url, error: String(e?.message ?? e) }),
);
