// Writes www/precache.js for the service worker (sw.js): the files that make the page, both wasm
// builds included, and a version that is the hash of them all, so that a new build is a new
// version and replaces the old caches. Run by .ci/build after the wasm builds.
// The dev server (serve.mjs) answers www/precache.js with `precache(root)` itself, so that an
// edited file is a new version there too, without a build.
//   node www/precache.mjs
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The text of www/precache.js for the site at `ROOT`. */
export function precache(ROOT) {
const list = (dir, keep) => (fs.existsSync(path.join(ROOT, dir)) ? fs.readdirSync(path.join(ROOT, dir), { recursive: true }) : [])
  .map((f) => path.posix.join(dir, f.split(path.sep).join('/')))
  .filter((f) => fs.statSync(path.join(ROOT, f)).isFile() && keep(f));
const files = [
  'index.html',
  ...list('www', (f) => /^www\/[^/]+\.(js|css|html)$/.test(f) && !/serve\.mjs$|precache\.(js|mjs)$/.test(f)),
  ...list('www/widgets', (f) => f.endsWith('.js')),
  ...list('www/pkg', (f) => /\.(js|wasm)$/.test(f)),
  ...list('www/pkg-threads', (f) => /\.(js|wasm)$/.test(f)),
  ...['models.json', 'model-card.json', 'heldout-slice.txt'].map((f) => `www/models/${f}`).filter((f) => fs.existsSync(path.join(ROOT, f))),
].sort();
const hash = crypto.createHash('sha256');
for (const f of files) hash.update(f).update(fs.readFileSync(path.join(ROOT, f)));
const version = hash.digest('hex').slice(0, 16);
return { files, version, text: `// Written by www/precache.mjs (.ci/build): the service worker's precache list and version.\nself.PRECACHE = ${JSON.stringify({ version, files }, null, 1)};\n` };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
  const { files, version, text } = precache(root);
  fs.writeFileSync(path.join(root, 'www/precache.js'), text);
  console.log(`www/precache.js: ${files.length} files, version ${version}`);
}
