// The export stage: every student to each configured format, each artifact checked against the in-memory
// student on held-out data (parity) and measured for test accuracy in its own runtime.
import { readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import type { Config } from './config.ts';
import type { Datasets } from './data/dataset.ts';
import type { TrainedStudent } from './distill.ts';
import { EdgeDistillError } from './errors.ts';
import { sha256, writeAtomic } from './fsutil.ts';
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

const concat = (parts: Float32Array[]) => {
  const out = new Float32Array(parts.reduce((a, p) => a + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
};

/** Probabilities of an artifact on its runtime for the whole test split. */
export async function artifactProbs(runtime: Runtime, file: string, data: Datasets): Promise<Float32Array> {
  await runtime.ready();
  const session = await runtime.load(file, { threads: 1 });
  try {
    return concat(await predictAll(session, data.test.x, data.test.n, data.test.features));
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

export async function exportStudent(s: TrainedStudent, cfg: Config, data: Datasets, opts: { staging: string; progress: Progress }): Promise<ArtifactResult[]> {
  const dir = join(opts.staging, 'artifacts', s.name);
  // `file` is what a runtime loads; `files` is everything a deployment must ship (counted in bytes).
  const written: { format: ArtifactResult['format']; file: string; files: string[]; runtime: Runtime; runtimeName: string }[] = [];
  if (cfg.export.formats.includes('onnx')) {
    const file = join(dir, 'model.onnx');
    writeAtomic(file, exportOnnx(s.spec, { producerVersion: TOOL_VERSION }));
    written.push({ format: 'onnx', file, files: [file], runtime: runtimes['onnxruntime-node'], runtimeName: 'onnxruntime-node' });
  }
  if (cfg.export.formats.includes('tfjs')) {
    const { modelJson, weights } = await exportTfjsLayers(s.spec);
    const weightsFile = join(dir, 'tfjs', 'weights.bin');
    writeAtomic(weightsFile, weights);
    const file = join(dir, 'tfjs', 'model.json');
    writeAtomic(file, modelJson);
    written.push({ format: 'tfjs-layers', file, files: [file, weightsFile], runtime: runtimes['tfjs-wasm'], runtimeName: 'tfjs-wasm' });
  }
  const C = s.spec.classes;
  const n = Math.min(PARITY_EXAMPLES, data.test.n);
  const reference = s.predict(data.test.x.subarray(0, n * data.test.features), n);
  const results: ArtifactResult[] = [];
  for (const w of written) {
    const probs = await artifactProbs(w.runtime, w.file, data);
    const parity = { examples: n, ...compareProbs(reference, probs, n, C) };
    const name = `${s.name}.${w.format}`;
    if (!(parity.maxAbsDiff <= PARITY_TOLERANCE)) {
      throw new EdgeDistillError('E_PARITY', `${name} differs from the in-memory student by ${parity.maxAbsDiff.toExponential(2)} (tolerance ${PARITY_TOLERANCE}) on ${n} test examples`, 'This is a bug in an exporter or runtime: please report it with the run\'s config.');
    }
    const contents = w.files.map((f) => readFileSync(f));
    const bytes = contents.reduce((a, b) => a + b.length, 0);
    results.push({
      name,
      method: s.name,
      format: w.format,
      path: relative(opts.staging, w.file),
      bytes,
      sha256: sha256(Buffer.concat(contents)),
      accuracy: accuracy(probs, data.test.labels!, C),
      accuracyRuntime: w.runtimeName,
      parity,
    });
    opts.progress.note(`${name}: ${bytes} bytes, parity max |Δp| ${parity.maxAbsDiff.toExponential(1)}`);
  }
  return results;
}
