// What onnxruntime-node and onnxruntime-web sessions have in common (both implement onnxruntime-common's
// InferenceSession): wrapped once as our RuntimeSession. Any model with one float32 input of fixed per-example
// shape works (ours: [batch, features]; e.g. a PyTorch CNN: [batch, 1, 28, 28]); the first output is returned.
import { exampleShapeOf } from './example-shape.ts';
import type { RuntimeSession } from './runtime.ts';

interface OrtSessionLike {
  inputNames: readonly string[];
  outputNames: readonly string[];
  inputMetadata: readonly unknown[];
  run(feeds: Record<string, unknown>, fetches: string[]): Promise<Record<string, { data: unknown }>>;
  release(): Promise<void>;
}

export function wrapOrtSession(session: OrtSessionLike, tensor: (x: Float32Array, dims: number[]) => unknown, what: string): RuntimeSession {
  const input = session.inputNames[0]!;
  const output = session.outputNames[0]!; // probs is always the first output of our models
  const exampleShape = exampleShapeOf((session.inputMetadata[0] as { shape: readonly (number | string)[] }).shape, what);
  return {
    exampleShape,
    async run(x, batch) {
      const out = await session.run({ [input]: tensor(x, [batch, ...exampleShape]) }, [output]);
      return out[output]!.data as Float32Array;
    },
    dispose: () => session.release(),
  };
}
