// onnxruntime-web on its wasm backend: what a browser app (or a web view on a phone) runs, measured in Node.
// Loading onnxruntime-node in the same process makes both share onnxruntime-common, and a web session without an
// explicit execution provider then silently runs natively — so the provider is always named, and benchmarks run
// this runtime in a process of its own (runtimes/bench-worker.ts).
import * as ort from 'onnxruntime-web';
import { readFileSync } from 'node:fs';
import type { Runtime, RuntimeSession } from './runtime.ts';
import { wrapOrtSession } from './ort-session.ts';

let configuredThreads: number | null = null;

/** wasm threads are fixed when the wasm module is instantiated (the first session); later requests cannot change them. */
function configureThreads(threads: number): void {
  if (configuredThreads === null) {
    ort.env.wasm.numThreads = threads;
    configuredThreads = threads;
  } else if (configuredThreads !== threads) {
    throw new Error(`onnxruntime-web was initialised with ${configuredThreads} wasm thread(s); ${threads} needs a new process`);
  }
}

export const onnxruntimeWeb: Runtime = {
  description: 'onnxruntime-web (wasm execution provider)',
  ready: async () => {},
  async load(path, { threads }): Promise<RuntimeSession> {
    configureThreads(threads);
    const session = await ort.InferenceSession.create(new Uint8Array(readFileSync(path)), {
      executionProviders: ['wasm'],
      graphOptimizationLevel: 'all',
    });
    return wrapOrtSession(session, (x, dims) => new ort.Tensor('float32', x, dims), path);
  },
};
