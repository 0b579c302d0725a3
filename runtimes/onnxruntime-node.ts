// onnxruntime-node (native CPU execution provider): the runtime of Node back ends and Electron apps.
import './ort-telemetry.ts';
import * as ort from 'onnxruntime-node';
import { readFileSync } from 'node:fs';
import type { Runtime, RuntimeSession } from './runtime.ts';
import { wrapOrtSession } from './ort-session.ts';

export const onnxruntimeNode: Runtime = {
  description: 'onnxruntime-node (cpu execution provider)',
  ready: async () => {},
  async load(path, { threads }): Promise<RuntimeSession> {
    const session = await ort.InferenceSession.create(readFileSync(path), {
      executionProviders: ['cpu'],
      intraOpNumThreads: threads,
      interOpNumThreads: 1,
      graphOptimizationLevel: 'all',
    });
    return wrapOrtSession(session, (x, dims) => new ort.Tensor('float32', x, dims), path);
  },
};
