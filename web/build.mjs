// Builds the browser module into ../build/web: app.js and admin.js (esbuild bundles of
// src/main.js and src/admin.js; code only some pages need, such as the enclave attestation
// verifier and the contract checks, is split into content-named chunk-*.js files loaded on
// demand) and htmx.min.js (copied from the pinned htmx.org package). Run by `make web` after
// `npm ci`.
import { build } from 'esbuild';
import { copyFile, mkdir, readdir, rm } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const out = resolve(process.env.WEB_BUILD_DIR ?? resolve(here, '..', 'build', 'web'));
await mkdir(out, { recursive: true });
for (const name of await readdir(out)) {
  if (name.startsWith('chunk-')) await rm(resolve(out, name));
}
await build({
  entryPoints: { app: resolve(here, 'src', 'main.js'), admin: resolve(here, 'src', 'admin.js') },
  bundle: true,
  splitting: true,
  format: 'esm',
  target: ['es2022'],
  minify: true,
  legalComments: 'none',
  outdir: out,
  chunkNames: 'chunk-[hash]',
  logLevel: 'warning',
});
await copyFile(resolve(here, 'node_modules', 'htmx.org', 'dist', 'htmx.min.js'), resolve(out, 'htmx.min.js'));
console.log(`browser module built in ${out}`);
