// Which browser runtime loads which artifact format: one table for the harness, the export stage's parity checks and
// the bench stage (kept apart from the harness so that reading it does not load playwright).
import type { BrowserJob, BrowserRuntimeName } from './types.ts';

/** Which browser runtimes load each artifact format (the bench stage and the parity checks both read it). */
export const RUNTIMES_FOR_FORMAT: Record<BrowserJob['format'], readonly BrowserRuntimeName[]> = {
  onnx: ['onnxruntime-web'],
  'tfjs-layers': ['tfjs-wasm', 'tfjs-webgl'],
  'tfjs-graph': ['tfjs-wasm', 'tfjs-webgl'],
  tflite: ['litert-wasm'],
};
