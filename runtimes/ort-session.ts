// What onnxruntime-node and onnxruntime-web sessions have in common (both implement onnxruntime-common's
// InferenceSession): wrapped once as our RuntimeSession. Our models take [batch, features] and output probs first.
import type { RuntimeSession } from './runtime.ts';

interface OrtSessionLike {
  inputNames: readonly string[];
  outputNames: readonly string[];
  inputMetadata: readonly unknown[];
  run(feeds: Record<string, unknown>, fetches: string[]): Promise<Record<string, { data: unknown }>>;
  release(): Promise<void>;
}

export function wrapOrtSession(session: OrtSessionLike, tensor: (x: Float32Array, dims: number[]) => unknown): RuntimeSession {
  const input = session.inputNames[0]!;
  const output = session.outputNames[0]!; // probs is always the first output of our models
  const features = (session.inputMetadata[0] as { shape: readonly (number | string)[] }).shape[1] as number;
  return {
    async run(x, batch) {
      const out = await session.run({ [input]: tensor(x, [batch, features]) }, [output]);
      return out[output]!.data as Float32Array;
    },
    dispose: () => session.release(),
  };
}
