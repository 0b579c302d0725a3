// Where edge-distill is installed: the folder holding its package.json, found from this module whether it runs from
// the TypeScript sources (pipeline/util/) or from the compiled dist/pipeline/util/. The bundled example and the
// package's version are read from there.
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

function findRoot(from: string): string {
  for (let dir = from; ; dir = dirname(dir)) {
    const file = join(dir, 'package.json');
    if (existsSync(file) && (JSON.parse(readFileSync(file, 'utf8')) as { name?: string }).name === 'edge-distill') return dir;
    if (dirname(dir) === dir) throw new Error(`internal: no edge-distill package.json above ${from}`);
  }
}

export const PACKAGE_ROOT = findRoot(dirname(fileURLToPath(import.meta.url)));
