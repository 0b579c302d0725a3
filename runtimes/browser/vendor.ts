// The browser builds of the runtimes that the benchmark page may load, served from this repo's node_modules.
// One table: the server serves exactly these files, and the page loads the scripts the job's runtime lists here.
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { EdgeDistillError } from '../../pipeline/errors.ts';
import type { BrowserRuntimeName } from './types.ts';
import VENDOR_PACKAGES from './vendor-packages.json' with { type: 'json' };

const require = createRequire(import.meta.url);

/**
 * Files per URL folder under /vendor/ (vendor-packages.json, which the example app's server reads too). An explicit
 * list rather than whole dist folders keeps the served surface small, and a missing file fails before Chromium starts
 * instead of as a 404 inside a runtime's loader. onnxruntime-web: the wasm-only UMD build (global `ort`) imports the
 * .mjs glue (also the worker script), which fetches the .wasm. tfjs-backend-wasm picks one binary by feature
 * detection; the threaded one only in a cross-origin-isolated page. LiteRT.js: an ES module (its import of
 * @litertjs/wasm-utils resolved by page.html's import map) whose loader picks one of its wasm builds. An entry's `dir`
 * is relative to the package's root (LiteRT.js keeps its wasm beside dist/, and wasm-utils's main is not its bundle);
 * without it, files sit beside the package's main entry.
 */
const PACKAGES: Record<string, { pkg: string; dir?: string; files: readonly string[] }> = VENDOR_PACKAGES;

type VendorFolder = keyof typeof VENDOR_PACKAGES;

const TFJS = ['tfjs-core/tf-core.min.js', 'tfjs-layers/tf-layers.min.js', 'tfjs-converter/tf-converter.min.js'] as const;

/** Classic scripts per runtime, in load order (tf-core defines the global `tf` the others extend). */
export const RUNTIME_SCRIPTS = {
  'onnxruntime-web': ['onnxruntime-web/ort.wasm.min.js'],
  'tfjs-wasm': [...TFJS, 'tfjs-backend-wasm/tf-backend-wasm.min.js'],
  'tfjs-webgl': [...TFJS, 'tfjs-backend-webgl/tf-backend-webgl.min.js'],
  // LiteRT.js is an ES module: page.js imports it (RUNTIME_MODULE) instead of loading classic scripts.
  'litert-wasm': [],
} as const satisfies Record<BrowserRuntimeName, readonly `${VendorFolder}/${string}`[]>;

/** ES modules the page imports for a runtime (their bare imports resolved by page.html's import map). */
export const RUNTIME_MODULE: Partial<Record<BrowserRuntimeName, `${VendorFolder}/${string}`>> = {
  'litert-wasm': 'litertjs-core/index.js',
};

/** The folder (under /vendor/) a runtime's wasm binaries are fetched from, for ort.env.wasm.wasmPaths / tf.wasm.setWasmPaths. */
export const WASM_FOLDER: Record<BrowserRuntimeName, VendorFolder | null> = {
  'onnxruntime-web': 'onnxruntime-web',
  'tfjs-wasm': 'tfjs-backend-wasm',
  'tfjs-webgl': null,
  'litert-wasm': 'litertjs-wasm',
};

/** URL path under /vendor/ -> absolute file, for exactly the listed files. Throws when a package is not installed. */
export function vendorFiles(): Map<string, string> {
  const table = new Map<string, string>();
  for (const [folder, { pkg, dir: sub, files }] of Object.entries(PACKAGES)) {
    let dir: string;
    try {
      // Hoisted or nested, as Node resolves the package: its main entry's folder, or `dir` under its root.
      dir = sub === undefined ? dirname(require.resolve(pkg)) : join(dirname(require.resolve(`${pkg}/package.json`)), sub);
    } catch (err) {
      throw new EdgeDistillError('E_RUNTIME', `${pkg} is not installed`, 'Run `npm ci` in the edge-distill folder.', { cause: err });
    }
    for (const file of files) {
      const path = join(dir, file);
      if (!existsSync(path)) throw new EdgeDistillError('E_RUNTIME', `${pkg} has no ${file} in ${dir}`, 'Run `npm ci` in the edge-distill folder.');
      table.set(`${folder}/${file}`, path);
    }
  }
  const unlisted = [...Object.values(RUNTIME_SCRIPTS).flat(), ...Object.values(RUNTIME_MODULE)].filter((script) => !table.has(script));
  if (unlisted.length) throw new Error(`RUNTIME_SCRIPTS names files PACKAGES does not list: ${unlisted.join(', ')}`);
  return table;
}
