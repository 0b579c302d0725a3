// The one table of runtimes, keyed by the names the config and CLI accept.
import type { RUNTIMES } from '../pipeline/config.ts';
import { onnxruntimeNode } from './onnxruntime-node.ts';
import { tfjsRuntime } from './tfjs.ts';
import type { Runtime } from './runtime.ts';

export type RuntimeName = (typeof RUNTIMES)[number];

export const runtimes = {
  'onnxruntime-node': onnxruntimeNode,
  'tfjs-wasm': tfjsRuntime('wasm'),
} as const satisfies Record<RuntimeName, Runtime>;
