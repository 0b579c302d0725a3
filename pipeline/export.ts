// The export stage: every student to each configured format, each artifact checked against the in-memory
// student on held-out data (parity) and measured for test accuracy in its own runtime.
import { readFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { join, relative } from 'node:path';
import type { Config } from './config.ts';
import type { Datasets } from './data/dataset.ts';
import type { TrainedStudent } from './distill.ts';
import { EdgeDistillError } from './errors.ts';
import { concatBytes, f32Bytes, sha256, writeAtomic } from './fsutil.ts';
import type { Progress } from './progress.ts';
import type { ArtifactResult } from './report.ts';
import { accuracy } from './train.ts';
import { exportOnnx } from '../exporters/onnx.ts';
import { exportTfjsLayers } from '../exporters/tfjs-layers.ts';
import { runtimes } from '../runtimes/registry.ts';
import { predictAll } from '../runtimes/measure.ts';
import type { Runtime } from '../runtimes/runtime.ts';
import { TOOL_VERSION } from './versions.ts';

export const PARITY_TOLERANCE = 1e-4;
export const PARITY_EXAMPLES = 1000;

/** Probabilities of an artifact on its runtime for the whole test split. */
export async function artifactProbs(runtime: Runtime, file: string, data: Datasets): Promise<Float32Array> {
  await runtime.ready();
  const session = await runtime.load(file, { threads: 1 });
  try {
    const parts = await predictAll(session, data.test.x, data.test.n, data.test.features);
    return new Float32Array(concatBytes(parts.map(f32Bytes)).buffer);
  } finally {
    await session.dispose();
  }
}

export function compareProbs(a: Float32Array, b: Float32Array, n: number, C: number): { maxAbsDiff: number; agreement: number } {
  let max = 0;
  let agree = 0;
  for (let i = 0; i < n; i++) {
    let ia = 0;
    let ib = 0;
    for (let c = 0; c < C; c++) {
      max = Math.max(max, Math.abs(a[i * C + c]! - b[i * C + c]!));
      if (a[i * C + c]! > a[i * C + ia]!) ia = c;
      if (b[i * C + c]! > b[i * C + ib]!) ib = c;
    }
    if (ia === ib) agree++;
  }
  return { maxAbsDiff: max, agreement: n ? agree / n : 1 };
}

/** An artifact written to the staging folder: `file` is what a runtime loads, `files` all a deployment ships. */
export interface WrittenArtifact {
  name: string;
  variant: string;
  format: ArtifactResult['format'];
  file: string;
  files: string[];
  /** An exact (fp32) export of its spec: must match it within PARITY_TOLERANCE. Quantized exports are not. */
  exact: boolean;
}

const RUNTIME_OF = { onnx: 'onnxruntime-node', 'tfjs-layers': 'tfjs-wasm' } as const;

export function writeOnnxArtifact(dir: string, student: string, variant: string, bytes: Uint8Array): WrittenArtifact {
  const file = join(dir, variant === 'fp32' ? 'model.onnx' : `model.${variant}.onnx`);
  writeAtomic(file, bytes);
  return { name: variant === 'fp32' ? `${student}.onnx` : `${student}.${variant}.onnx`, variant, format: 'onnx', file, files: [file], exact: variant === 'fp32' };
}

export function writeTfjsArtifact(dir: string, student: string, variant: string, tfjs: { modelJson: string; weights: Uint8Array }): WrittenArtifact {
  const sub = join(dir, variant === 'fp32' ? 'tfjs' : `tfjs-${variant}`);
  const weightsFile = join(sub, 'weights.bin');
  writeAtomic(weightsFile, tfjs.weights);
  const file = join(sub, 'model.json');
  writeAtomic(file, tfjs.modelJson);
  return { name: variant === 'fp32' ? `${student}.tfjs-layers` : `${student}.${variant}.tfjs-layers`, variant, format: 'tfjs-layers', file, files: [file, weightsFile], exact: variant === 'fp32' };
}

/**
 * Load each artifact in its runtime, measure test accuracy and agreement with the in-memory student `s`.
 * fp32 artifacts must match within PARITY_TOLERANCE (else E_PARITY: an exporter bug); compressed ones are judged
 * by their accuracy drop against `maxAccuracyDrop` points instead.
 */
export async function evaluateArtifacts(
  s: TrainedStudent,
  written: WrittenArtifact[],
  data: Datasets,
  opts: { staging: string; progress: Progress; baseAccuracy: number; maxAccuracyDrop: number | null },
): Promise<ArtifactResult[]> {
  const C = s.spec.classes;
  const n = Math.min(PARITY_EXAMPLES, data.test.n);
  const reference = s.predict(data.test.x.subarray(0, n * data.test.features), n);
  const results: ArtifactResult[] = [];
  for (const w of written) {
    const runtimeName = RUNTIME_OF[w.format];
    const probs = await artifactProbs(runtimes[runtimeName], w.file, data);
    const parity = { examples: n, ...compareProbs(reference, probs, n, C) };
    if (w.exact && !(parity.maxAbsDiff <= PARITY_TOLERANCE)) {
      throw new EdgeDistillError('E_PARITY', `${w.name} differs from the in-memory student by ${parity.maxAbsDiff.toExponential(2)} (tolerance ${PARITY_TOLERANCE}) on ${n} test examples`, 'This is a bug in an exporter or runtime: please report it with the run\'s config.');
    }
    const shipped = concatBytes(w.files.map((f) => readFileSync(f)));
    const bytes = shipped.length;
    const acc = accuracy(probs, data.test.labels!, C);
    const drop = (opts.baseAccuracy - acc) * 100;
    const rejected = opts.maxAccuracyDrop !== null && drop > opts.maxAccuracyDrop ? `accuracy drop ${drop.toFixed(2)} points exceeds the budget of ${opts.maxAccuracyDrop}` : null;
    results.push({
      name: w.name,
      method: s.name,
      variant: w.variant,
      format: w.format,
      path: relative(opts.staging, w.file),
      bytes,
      gzipBytes: gzipSync(shipped).length,
      sha256: sha256(shipped),
      accuracy: acc,
      accuracyDrop: drop,
      accuracyRuntime: runtimeName,
      parity,
      rejected,
    });
    opts.progress.note(`${w.name}: ${bytes} bytes, accuracy ${(acc * 100).toFixed(2)} %, max |Δp| ${parity.maxAbsDiff.toExponential(1)}${rejected ? ` — REJECTED: ${rejected}` : ''}`);
  }
  return results;
}

export async function exportStudent(s: TrainedStudent, cfg: Config, data: Datasets, opts: { staging: string; progress: Progress; baseAccuracy: number }): Promise<ArtifactResult[]> {
  const dir = join(opts.staging, 'artifacts', s.name);
  const written: WrittenArtifact[] = [];
  if (cfg.export.formats.includes('onnx')) written.push(writeOnnxArtifact(dir, s.name, 'fp32', exportOnnx(s.spec, { producerVersion: TOOL_VERSION })));
  if (cfg.export.formats.includes('tfjs')) written.push(writeTfjsArtifact(dir, s.name, 'fp32', await exportTfjsLayers(s.spec)));
  return evaluateArtifacts(s, written, data, { ...opts, maxAccuracyDrop: null });
}
