// onnxruntime-node (native CPU execution provider): the runtime of Node back ends and Electron apps.
import * as ort from 'onnxruntime-node';
import { readFileSync } from 'node:fs';
import type { Runtime, RuntimeSession } from './runtime.ts';

export const onnxruntimeNode: Runtime = {
  description: 'onnxruntime-node (cpu execution provider)',
  formats: ['onnx'],
  ready: async () => {},
  async load(path, { threads }): Promise<RuntimeSession> {
    const session = await ort.InferenceSession.create(readFileSync(path), {
      executionProviders: ['cpu'],
      intraOpNumThreads: threads,
      interOpNumThreads: 1,
      graphOptimizationLevel: 'all',
    });
    const input = session.inputNames[0]!;
    const output = session.outputNames[0]!; // probs is always the first output of our models
    const features = (session.inputMetadata[0] as unknown as { shape: readonly (number | string)[] }).shape[1] as number;
    return {
      async run(x, batch) {
        const out = await session.run({ [input]: new ort.Tensor('float32', x, [batch, features]) }, [output]);
        return out[output]!.data as Float32Array;
      },
      dispose: () => session.release(),
    };
  },
};
