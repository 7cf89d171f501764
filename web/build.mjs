// Builds the browser module into ../build/web: app.js (esbuild bundle of src/main.js) and
// htmx.min.js (copied from the pinned htmx.org package). Run by `make web` after `npm ci`.
import { build } from 'esbuild';
import { copyFile, mkdir } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const out = resolve(process.env.WEB_BUILD_DIR ?? resolve(here, '..', 'build', 'web'));
await mkdir(out, { recursive: true });
await build({
  entryPoints: [resolve(here, 'src', 'main.js')],
  bundle: true,
  format: 'esm',
  target: ['es2022'],
  minify: true,
  legalComments: 'none',
  outfile: resolve(out, 'app.js'),
  logLevel: 'warning',
});
await copyFile(resolve(here, 'node_modules', 'htmx.org', 'dist', 'htmx.min.js'), resolve(out, 'htmx.min.js'));
console.log(`browser module built in ${out}`);
