// The export stage: every student to each configured format, each artifact checked against the in-memory
// student on held-out data (parity) and measured for test accuracy in its own runtime.
import { headRows } from '../data/rows.ts';
import { readFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { dirname, join, relative } from 'node:path';
import type { DataConfig } from '../data/schema.ts';
import type { Datasets } from '../data/dataset.ts';
import type { TrainedStudent } from '../distill/trained.ts';
import { EdgeDistillError } from '../errors.ts';
import { concatBytes, f32Bytes, sha256, writeAtomic } from '../util/fsutil.ts';
import type { Progress } from '../util/progress.ts';
import type { ArtifactResult, MicroBundleResult, ParityGroup, RuntimeParity } from '../report/types.ts';
import { accuracy } from '../distill/train.ts';
import { exportOnnx } from '../../exporters/onnx.ts';
import { exportTfjsLayers } from '../../exporters/tfjs-layers.ts';
import { exportTfjsGraph } from '../../exporters/tfjs-graph.ts';
import { exportTflite } from '../../exporters/tflite.ts';
import { WEIGHTS_FILE } from '../../exporters/tfjs-io.ts';
import { loadRuntime, type RuntimeName } from '../../runtimes/registry.ts';
import { predictAll } from '../../runtimes/measure.ts';
import type { Runtime } from '../../runtimes/runtime.ts';
import { fileURLToPath } from 'node:url';
import { DEPLOY_FILE, FEATURIZER_FILE, IMAGE_PREPROCESS_FILE, TFLITE_BATCH, deployDescriptor, withDeployMetadata, type ArtifactFormatName, type DeployContext } from '../../exporters/deploy.ts';
import type { StudentSpec } from '../student/spec.ts';
import { TOOL_VERSION } from '../util/versions.ts';

export const PARITY_TOLERANCE = 1e-4;
/** Debian's Chromium, where the config names none (bench.chromium). */
export const DEFAULT_CHROMIUM = '/usr/bin/chromium';
export const PARITY_EXAMPLES = 1000;

/** Runtimes that exist only in the browser: artifacts checked on them run in headless Chromium (runtimes/browser/). */
export const BROWSER_ONLY_RUNTIMES = ['litert-wasm'] as const;
export type ParityRuntime = RuntimeName | (typeof BROWSER_ONLY_RUNTIMES)[number];
const browserOnly = (r: ParityRuntime): r is (typeof BROWSER_ONLY_RUNTIMES)[number] => (BROWSER_ONLY_RUNTIMES as readonly string[]).includes(r);

/**
 * Probabilities of an artifact on a browser-only runtime for a split: every example once, in a headless Chromium page
 * (the bench harness in 'outputs' mode, at the artifact's fixed batch).
 */
export async function browserArtifactProbs(runtime: (typeof BROWSER_ONLY_RUNTIMES)[number], file: string, split: Pick<Datasets['test'], 'x' | 'n' | 'features'>, chromium: string, batch: number): Promise<Float32Array> {
  const { runInChromium } = await import('../../runtimes/browser/harness.ts');
  const x = split.x.read(0, split.n);
  const [o] = await runInChromium(
    [{ id: 'parity', modelFile: file, format: 'tflite', runtime, mode: 'outputs', cpuThrottle: 1, threads: 1, batch, warmup: 0, runs: 1, minDurationMs: 0, inputs: { x, n: split.n, exampleShape: [split.features], name: 'input' } }],
    { chromium, jobTimeoutMs: 600_000 },
  );
  if (!o!.ok) throw new EdgeDistillError('E_RUNTIME', `${file} did not run on ${runtime} in Chromium: ${o!.reason}`, 'Check that Chromium runs headless here (`apt-get install chromium`), or leave tflite out of export.formats.');
  return o!.outputs!;
}

/** Probabilities of an artifact on its runtime for the whole test split. */
export async function artifactProbs(runtime: Runtime, file: string, data: Pick<Datasets, 'test'>): Promise<Float32Array> {
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
  format: ArtifactFormatName;
  file: string;
  files: string[];
  /** An exact (fp32) export of its spec: must match it within PARITY_TOLERANCE. Quantized exports are not. */
  exact: boolean;
}

type TfjsFiles = { modelJson: string; weights: Uint8Array };

/**
 * The artifact formats: where each one's bundle lives and which runtimes must load it. The first runtime measures
 * the artifact's test accuracy; every one is checked for parity.
 */
export const FORMATS = {
  onnx: { dir: 'onnx', model: 'model.onnx', runtimes: ['onnxruntime-node', 'onnxruntime-web'] },
  'tfjs-layers': { dir: 'tfjs-layers', model: 'model.json', runtimes: ['tfjs-wasm'] },
  'tfjs-graph': { dir: 'tfjs-graph', model: 'model.json', runtimes: ['tfjs-graph-wasm'] },
  tflite: { dir: 'tflite', model: 'model.tflite', runtimes: ['litert-wasm'] },
} as const satisfies Record<ArtifactFormatName, { dir: string; model: string; runtimes: readonly ParityRuntime[] }>;

/** The fp32 export of a spec in each format (compressed variants call their own exporters). */
export const EXPORTERS = {
  onnx: (spec: StudentSpec) => exportOnnx(spec, { producerVersion: TOOL_VERSION }),
  'tfjs-layers': (spec: StudentSpec) => exportTfjsLayers(spec),
  'tfjs-graph': (spec: StudentSpec) => exportTfjsGraph(spec),
  tflite: (spec: StudentSpec) => exportTflite(spec),
} satisfies Record<ArtifactFormatName, (spec: StudentSpec) => Uint8Array | Promise<TfjsFiles>>;

/**
 * Write one artifact as a bundle folder `<dir>/<format>[-<variant>]/`: the model file(s) and deploy.json. The deploy
 * descriptor is also embedded in the model's metadata, so `build` receives the spec that carries it.
 */
export async function writeArtifact(o: {
  dir: string;
  student: string;
  variant: string;
  format: ArtifactFormatName;
  spec: StudentSpec;
  deploy: DeployContext;
  build: (spec: StudentSpec) => Uint8Array | Promise<Uint8Array | TfjsFiles>;
}): Promise<WrittenArtifact> {
  const f = FORMATS[o.format];
  const sub = join(o.dir, o.variant === 'fp32' ? f.dir : `${f.dir}-${o.variant}`);
  const name = o.variant === 'fp32' ? `${o.student}.${o.format}` : `${o.student}.${o.variant}.${o.format}`;
  const files = o.format === 'onnx' || o.format === 'tflite' ? [f.model] : [f.model, WEIGHTS_FILE];
  const shipped = o.deploy.featurizer ? [...files, FEATURIZER_FILE] : o.deploy.image ? [...files, IMAGE_PREPROCESS_FILE] : files;
  const deploy = deployDescriptor(o.spec, o.deploy, { name, format: o.format, variant: o.variant, model: f.model, files: shipped, runtimes: [...f.runtimes] });
  const built = await o.build(withDeployMetadata(o.spec, deploy));
  if (built instanceof Uint8Array) {
    writeAtomic(join(sub, f.model), built);
  } else {
    // Weights first: a model.json is only ever on disk beside complete weights.
    writeAtomic(join(sub, WEIGHTS_FILE), built.weights);
    writeAtomic(join(sub, f.model), built.modelJson);
  }
  // Text bundles ship the very featurizer training used, so the app's input is the training input.
  if (o.deploy.featurizer) writeAtomic(join(sub, FEATURIZER_FILE), readFileSync(FEATURIZER_SOURCE));
  // Image bundles ship the very preprocessing training used, so the app's input is the training input.
  if (o.deploy.image) writeAtomic(join(sub, IMAGE_PREPROCESS_FILE), readFileSync(IMAGE_PREPROCESS_SOURCE));
  writeAtomic(join(sub, DEPLOY_FILE), JSON.stringify(deploy, null, 2) + '\n');
  return { name, variant: o.variant, format: o.format, file: join(sub, f.model), files: files.map((x) => join(sub, x)), exact: o.variant === 'fp32' };
}

/** What deploy.json says about this run's inputs. */
export function deployContext(cfg: DataConfig, data: Datasets, teacherSha256: string | null): DeployContext {
  return { rawShape: data.train.featureShape, preprocess: cfg.preprocess, classNames: cfg.classNames ?? null, teacherSha256, featurizer: data.train.texts && cfg.featurizer ? { ...cfg.featurizer } : null, image: data.train.image };
}

const FEATURIZER_SOURCE = fileURLToPath(new URL('../text/featurizer.js', import.meta.url));
const IMAGE_PREPROCESS_SOURCE = fileURLToPath(new URL('../data/image-preprocess.js', import.meta.url));

/** What evaluateArtifacts found: one result per artifact, and the cross-runtime comparison of the exact ones. */
export interface Evaluation {
  artifacts: ArtifactResult[];
  parity: ParityGroup[];
  /** Microcontroller bundles written beside the artifacts (compress stage, tflite micro). */
  micro?: MicroBundleResult[];
}

/**
 * Load each artifact in every runtime of its format: the first measures test accuracy on the whole test split, and
 * each is compared with the in-memory student `s` on the first PARITY_EXAMPLES test examples. The exact (fp32)
 * artifacts are also compared with each other across all their runtimes, and must agree within PARITY_TOLERANCE
 * (else E_PARITY: an exporter or runtime bug); compressed ones are judged by their accuracy drop against
 * `maxAccuracyDrop` points instead.
 */
export async function evaluateArtifacts(
  s: TrainedStudent,
  written: WrittenArtifact[],
  data: Datasets,
  opts: { staging: string; progress: Progress; baseAccuracy: number; maxAccuracyDrop: number | null; chromium?: string },
): Promise<Evaluation> {
  const chromium = opts.chromium ?? DEFAULT_CHROMIUM;
  const probsOn = async (r: ParityRuntime, file: string, split: Datasets['test']) =>
    browserOnly(r) ? browserArtifactProbs(r, file, split, chromium, TFLITE_BATCH) : artifactProbs(await loadRuntime(r), file, { test: split });
  const C = s.spec.classes;
  const n = Math.min(PARITY_EXAMPLES, data.test.n);
  const parityX = { ...data.test, x: headRows(data.test.x, n), n };
  const reference = s.predict(parityX.x, n);
  const results: ArtifactResult[] = [];
  const exactOutputs: { label: string; probs: Float32Array }[] = [{ label: `${s.name} (in-memory student)`, probs: reference }];
  for (const w of written) {
    const [first, ...others] = FORMATS[w.format].runtimes;
    const probs = await probsOn(first, w.file, data.test);
    const parity: RuntimeParity[] = [];
    const check = (runtime: string, p: Float32Array) => {
      const r = { runtime, examples: n, ...compareProbs(reference, p, n, C) };
      parity.push(r);
      if (w.exact) exactOutputs.push({ label: `${w.name} on ${runtime}`, probs: p });
      if (w.exact && !(r.maxAbsDiff <= PARITY_TOLERANCE)) {
        throw new EdgeDistillError('E_PARITY', `${w.name} on ${runtime} differs from the in-memory student by ${r.maxAbsDiff.toExponential(2)} (tolerance ${PARITY_TOLERANCE}) on ${n} test examples`, 'This is a bug in an exporter or runtime: please report it with the run\'s config.');
      }
    };
    check(first, probs.subarray(0, n * C));
    for (const r of others) check(r, await probsOn(r, w.file, parityX));
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
      deploy: relative(opts.staging, join(dirname(w.file), DEPLOY_FILE)),
      bytes,
      gzipBytes: gzipSync(shipped).length,
      sha256: sha256(shipped),
      accuracy: acc,
      accuracyDrop: drop,
      accuracyRuntime: first,
      parity,
      rejected,
    });
    const worst = Math.max(...parity.map((p) => p.maxAbsDiff));
    opts.progress.note(`${w.name}: ${bytes} bytes, accuracy ${(acc * 100).toFixed(2)} %, max |Δp| ${worst.toExponential(1)} on ${parity.map((p) => p.runtime).join(', ')}${rejected ? ` — REJECTED: ${rejected}` : ''}`);
  }
  return { artifacts: results, parity: exactOutputs.length > 1 ? [crossParity(s.name, written[0]?.variant ?? 'fp32', exactOutputs, n, C)] : [] };
}

/** Every pair of exact outputs compared: the largest difference and the lowest prediction agreement. */
function crossParity(student: string, variant: string, outputs: { label: string; probs: Float32Array }[], n: number, C: number): ParityGroup {
  let maxAbsDiff = 0;
  let agreement = 1;
  let worstPair: [string, string] = [outputs[0]!.label, outputs[0]!.label];
  for (let i = 0; i < outputs.length; i++) {
    for (let j = i + 1; j < outputs.length; j++) {
      const c = compareProbs(outputs[i]!.probs, outputs[j]!.probs, n, C);
      if (c.maxAbsDiff > maxAbsDiff) [maxAbsDiff, worstPair] = [c.maxAbsDiff, [outputs[i]!.label, outputs[j]!.label]];
      agreement = Math.min(agreement, c.agreement);
    }
  }
  if (!(maxAbsDiff <= PARITY_TOLERANCE)) {
    throw new EdgeDistillError('E_PARITY', `${worstPair[0]} and ${worstPair[1]} differ by ${maxAbsDiff.toExponential(2)} (tolerance ${PARITY_TOLERANCE}) on ${n} test examples`, 'This is a bug in an exporter or runtime: please report it with the run\'s config.');
  }
  return { student, variant, examples: n, compared: outputs.map((o) => o.label), maxAbsDiff, agreement, worstPair };
}

export async function exportStudent(s: TrainedStudent, formats: readonly ArtifactFormatName[], data: Datasets, opts: { staging: string; progress: Progress; baseAccuracy: number; deploy: DeployContext; chromium?: string }): Promise<Evaluation> {
  const dir = join(opts.staging, 'artifacts', s.name);
  const written: WrittenArtifact[] = [];
  for (const format of formats) {
    written.push(await writeArtifact({ dir, student: s.name, variant: 'fp32', format, spec: s.spec, deploy: opts.deploy, build: EXPORTERS[format] }));
  }
  return evaluateArtifacts(s, written, data, { ...opts, maxAccuracyDrop: null });
}
