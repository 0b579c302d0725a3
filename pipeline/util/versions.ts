// Versions of the tool and of the packages that shape its results, recorded in every manifest.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const require = createRequire(import.meta.url);
const ROOT = fileURLToPath(new URL('../..', import.meta.url));

export const TOOL_NAME = 'edge-distill';
export const TOOL_VERSION: string = JSON.parse(readFileSync(`${ROOT}package.json`, 'utf8')).version;

const TRACKED = ['onnxruntime-node', 'onnxruntime-web', '@tensorflow/tfjs-core', '@tensorflow/tfjs-layers', '@tensorflow/tfjs-backend-wasm', '@tensorflow/tfjs-node', 'onnx-proto', 'ml-matrix'];

export function packageVersions(): Record<string, string> {
  const out: Record<string, string> = { node: process.version };
  for (const p of TRACKED) {
    try {
      out[p] = JSON.parse(readFileSync(require.resolve(`${p}/package.json`), 'utf8')).version;
    } catch {
      out[p] = 'not installed';
    }
  }
  return out;
}
