// Chooses and initialises the TF.js backend used for training and for the TF.js runtime:
// tfjs-node when it is installed and loads (optional dependency), else the wasm backend, else pure-JS cpu.
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
// The gradient table registers as a side effect of tfjs-layers' Node bundle (core's own ESM dist cannot be
// imported directly in Node); training needs it even where no layer is used.
import '@tensorflow/tfjs-layers';
import '@tensorflow/tfjs-backend-wasm';
import { EdgeDistillError, oneOf } from '../errors.ts';

// PROD silences the cpu backend's console banner about tfjs-node; we report the backend in the manifest instead.
tf.env().set('PROD', true);

export { tf };

export const TFJS_BACKENDS = ['auto', 'tensorflow', 'wasm', 'cpu'] as const;
export type TfjsBackendName = (typeof TFJS_BACKENDS)[number];

let nodeBindingTried = false;
let nodeBindingError: string | null = null;

/** tfjs-node registers the 'tensorflow' backend on import; its native binding is missing on most machines here. */
async function tryTfjsNode(): Promise<boolean> {
  if (!nodeBindingTried) {
    nodeBindingTried = true;
    try {
      // A variable specifier: the package is optional, so neither TypeScript nor a bundler may require it.
      const optional = '@tensorflow/tfjs-node';
      await import(optional);
    } catch (err) {
      nodeBindingError = err instanceof Error ? err.message.split('\n')[0]! : String(err);
    }
  }
  return tf.findBackend('tensorflow') !== null;
}

/** Whether the optional tfjs-node loads here (tried once; the backend stays registered but not selected). */
export const tfjsNodeAvailable = tryTfjsNode;

/** Why tfjs-node is unavailable, or null when it loaded. */
export function tfjsNodeUnavailableReason(): string | null {
  return nodeBindingError;
}

/** Select a backend; 'auto' prefers tfjs-node, then wasm. Returns the backend actually in use. */
export async function useBackend(name: TfjsBackendName = 'auto'): Promise<string> {
  if (!TFJS_BACKENDS.includes(name)) {
    throw new EdgeDistillError('E_CONFIG', `unknown TF.js backend ${JSON.stringify(name)}`, `Use one of ${oneOf(TFJS_BACKENDS)}.`);
  }
  const order: string[] = name === 'auto' ? ['tensorflow', 'wasm', 'cpu'] : [name];
  const reasons: string[] = [];
  for (const b of order) {
    if (b === 'tensorflow' && !(await tryTfjsNode())) {
      reasons.push(`tensorflow: @tensorflow/tfjs-node not loadable (${nodeBindingError ?? 'not installed'})`);
      continue;
    }
    if (b === 'wasm') (await import('./tfjs-kernels.ts')).registerWasmTrainingKernels();
    if (tf.getBackend() === b) return b;
    try {
      if (await tf.setBackend(b)) {
        await tf.ready();
        return b;
      }
      reasons.push(`${b}: setBackend returned false`);
    } catch (err) {
      reasons.push(`${b}: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
  throw new EdgeDistillError('E_RUNTIME', `no TF.js backend could start (${reasons.join('; ')})`, 'Reinstall with `npm ci`, or choose another backend.');
}


/** Library entry points that touch TF.js call this, so they work without the CLI having chosen a backend. */
export async function ensureBackend(): Promise<void> {
  if (!tf.engine().backendName) await useBackend('auto');
}
