// The one table of runtimes, keyed by the names the config and CLI accept.
import type { RUNTIMES } from '../pipeline/config.ts';
import { onnxruntimeNode } from './onnxruntime-node.ts';
import { onnxruntimeWeb } from './onnxruntime-web.ts';
import { tfjsRuntime } from './tfjs.ts';
import { tfjsGraphRuntime } from './tfjs-graph.ts';
import type { Runtime } from './runtime.ts';

export type RuntimeName = (typeof RUNTIMES)[number];

export const runtimes = {
  'onnxruntime-node': onnxruntimeNode,
  'onnxruntime-web': onnxruntimeWeb,
  'tfjs-wasm': tfjsRuntime('wasm'),
  'tfjs-cpu': tfjsRuntime('cpu'),
  'tfjs-graph-wasm': tfjsGraphRuntime('wasm'),
} as const satisfies Record<RuntimeName, Runtime>;
