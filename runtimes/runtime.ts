// The runtime contract: interfaces only. Implementations live beside it and are registered in registry.ts.

export type ArtifactFormat = 'onnx' | 'tfjs-layers' | 'tfjs-graph';

export interface LoadOptions {
  /** Intra-op threads where the runtime lets us choose (onnxruntime); TF.js wasm in Node is single-threaded. */
  threads: number;
}

export interface RuntimeSession {
  /** Dims of one example of the model's input, after the batch dimension (ours: [features]). */
  exampleShape: number[];
  /** Run one batch of flat float32 inputs [batch, ...exampleShape]; returns the first output (ours: class probabilities). */
  run(x: Float32Array, batch: number): Promise<Float32Array>;
  dispose(): Promise<void>;
}

export interface Runtime {
  /** Human-readable description for reports. */
  description: string;
  /** Prepare the runtime (backend init); not counted in a model's init time. */
  ready(): Promise<void>;
  /** Load a model file (ONNX file, or a TF.js model.json) into a session. */
  load(path: string, opts: LoadOptions): Promise<RuntimeSession>;
}
