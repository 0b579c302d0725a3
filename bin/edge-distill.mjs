#!/usr/bin/env node
// Entry point of the edge-distill CLI: the compiled JavaScript in dist/ (`npm run build`, which `npm ci` and `npm pack`
// run). In a source checkout whose dist/ is missing or older than a source file, the TypeScript sources run instead,
// through tsx (a devDependency), so that an edit is never shadowed by a stale build.
import { existsSync, readdirSync, statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const stamp = `${root}dist/.build-stamp`;
const sources = existsSync(`${root}pipeline/cli.ts`);

function newestSource() {
  let newest = 0;
  const walk = (dir) => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      if (e.isDirectory()) walk(`${dir}/${e.name}`);
      else if (/\.(ts|js|html|json)$/.test(e.name)) newest = Math.max(newest, statSync(`${dir}/${e.name}`).mtimeMs);
    }
  };
  for (const top of ['pipeline', 'exporters', 'runtimes']) walk(`${root}${top}`);
  return newest;
}

let main;
if (existsSync(stamp) && !(sources && newestSource() > statSync(stamp).mtimeMs)) {
  ({ main } = await import('../dist/pipeline/cli.js'));
} else {
  const { register } = await import('tsx/esm/api');
  register();
  ({ main } = await import('../pipeline/cli.ts'));
}
process.exitCode = await main(process.argv.slice(2));
