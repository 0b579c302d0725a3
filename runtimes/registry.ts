// The one table of runtimes, keyed by the names the config and CLI accept. Entries load their implementation on
// first use: importing a runtime has side effects (onnxruntime-web and -node register backends in a shared
// onnxruntime-common; TF.js backends register kernels), and a benchmark process must load only the one it measures.
import type { ArtifactFormat, Runtime } from './runtime.ts';

/** Runtimes in Node, each benchmark in a child process of its own. tfjs-node is used only when it is installed. */
export const RUNTIMES = ['onnxruntime-node', 'onnxruntime-web', 'tfjs-wasm', 'tfjs-cpu', 'tfjs-node', 'tfjs-graph-wasm'] as const;
export type RuntimeName = (typeof RUNTIMES)[number];

/**
 * `singleThreaded`: the runtime ignores the requested thread count in Node (TF.js's wasm backend disables wasm threads
 * there, tfjs issue 3830; the cpu backend is plain JS), so benchmarks report 1.
 */
export const RUNTIME_TABLE = {
  'onnxruntime-node': { formats: ['onnx'], singleThreaded: false, load: async () => (await import('./onnxruntime-node.ts')).onnxruntimeNode },
  'onnxruntime-web': { formats: ['onnx'], singleThreaded: false, load: async () => (await import('./onnxruntime-web.ts')).onnxruntimeWeb },
  'tfjs-wasm': { formats: ['tfjs-layers'], singleThreaded: true, load: async () => (await import('./tfjs.ts')).tfjsRuntime('wasm') },
  'tfjs-cpu': { formats: ['tfjs-layers'], singleThreaded: true, load: async () => (await import('./tfjs.ts')).tfjsRuntime('cpu') },
  // The native TensorFlow backend, when the optional @tensorflow/tfjs-node loads.
  'tfjs-node': { formats: ['tfjs-layers'], singleThreaded: false, load: async () => (await import('./tfjs.ts')).tfjsRuntime('tensorflow') },
  'tfjs-graph-wasm': { formats: ['tfjs-graph'], singleThreaded: true, load: async () => (await import('./tfjs-graph.ts')).tfjsGraphRuntime('wasm') },
} as const satisfies Record<RuntimeName, { formats: readonly ArtifactFormat[]; singleThreaded: boolean; load: () => Promise<Runtime> }>;

const loaded = new Map<RuntimeName, Promise<Runtime>>();

export function loadRuntime(name: RuntimeName): Promise<Runtime> {
  if (!loaded.has(name)) loaded.set(name, RUNTIME_TABLE[name].load());
  return loaded.get(name)!;
}

export function runtimeLoads(name: RuntimeName, format: string): boolean {
  return (RUNTIME_TABLE[name].formats as readonly string[]).includes(format);
}
