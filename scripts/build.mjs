// Compiles the library and CLI to dist/ (JavaScript + declarations, tsconfig.build.json) and copies the files the
// code reads at run time beside their modules (the browser page, the shipped featurizer and image preprocessing).
//   node scripts/build.mjs
import { execFileSync } from 'node:child_process';
import { cpSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const DIST = join(ROOT, 'dist');
const ASSETS = /(\.js|\.html|\.json|\.d\.ts)$/;

rmSync(DIST, { recursive: true, force: true });
execFileSync(process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', join(ROOT, 'tsconfig.build.json')], { stdio: 'inherit' });
const walk = (dir) => readdirSync(dir).flatMap((name) => (statSync(join(dir, name)).isDirectory() ? walk(join(dir, name)) : [join(dir, name)]));
for (const top of ['pipeline', 'exporters', 'runtimes']) {
  for (const file of walk(join(ROOT, top))) {
    // Hand-written JavaScript the modules load or ship (compiled .ts files are already there).
    if (ASSETS.test(file)) cpSync(file, join(DIST, relative(ROOT, file)));
  }
}
// The CLI runs dist/ only while no source file is newer than this.
writeFileSync(join(DIST, '.build-stamp'), `${new Date().toISOString()}\n`);
