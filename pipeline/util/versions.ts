// Versions of the tool and of the packages that shape its results, recorded in every manifest.
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { createRequire } from 'node:module';
import { PACKAGE_ROOT } from './package-root.ts';

const require = createRequire(import.meta.url);

export const TOOL_NAME = 'edge-distill';
export const TOOL_VERSION: string = JSON.parse(readFileSync(join(PACKAGE_ROOT, 'package.json'), 'utf8')).version;

const TRACKED = ['onnxruntime-node', 'onnxruntime-web', '@tensorflow/tfjs-core', '@tensorflow/tfjs-layers', '@tensorflow/tfjs-backend-wasm', '@tensorflow/tfjs-node', 'onnx-proto', 'ml-matrix'];

export function packageVersions(): Record<string, string> {
  const out: Record<string, string> = { node: process.version };
  for (const p of TRACKED) out[p] = installedVersion(p) ?? 'not installed';
  return out;
}

/**
 * A package's version from its package.json. Packages whose `exports` map hides `./package.json` (onnxruntime-web,
 * ml-matrix) are found from their entry point, walking up to the folder named like the package.
 */
function installedVersion(name: string): string | null {
  const read = (file: string) => (JSON.parse(readFileSync(file, 'utf8')) as { name?: string; version?: string });
  try {
    return read(require.resolve(`${name}/package.json`)).version ?? null;
  } catch {
    // fall through: the exports map does not list ./package.json
  }
  let entry: string;
  try {
    entry = require.resolve(name);
  } catch {
    return null;
  }
  for (let dir = dirname(entry); dir !== dirname(dir); dir = dirname(dir)) {
    const file = join(dir, 'package.json');
    if (existsSync(file) && read(file).name === name) return read(file).version ?? null;
  }
  return null;
}
