// Builds the browser module into ../build/web: app.js and admin.js (esbuild bundles of
// src/main.js and src/admin.js) and
// htmx.min.js (copied from the pinned htmx.org package). Run by `make web` after `npm ci`.
import { build } from 'esbuild';
import { copyFile, mkdir } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const out = resolve(process.env.WEB_BUILD_DIR ?? resolve(here, '..', 'build', 'web'));
await mkdir(out, { recursive: true });
for (const [entry, output] of [['main.js', 'app.js'], ['admin.js', 'admin.js']]) {
  await build({
    entryPoints: [resolve(here, 'src', entry)],
    bundle: true,
    format: 'esm',
    target: ['es2022'],
    minify: true,
    legalComments: 'none',
    outfile: resolve(out, output),
    logLevel: 'warning',
  });
}
await copyFile(resolve(here, 'node_modules', 'htmx.org', 'dist', 'htmx.min.js'), resolve(out, 'htmx.min.js'));
console.log(`browser module built in ${out}`);
