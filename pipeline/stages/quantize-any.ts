// The compress stage for a model edge-distill did not make (`edge-distill quantize MODEL.onnx`): no teacher, no
// distillation. Each variant of the config's compress.onnx list is written (exporters/onnx-any-quantize.ts), judged
// on the test split — accuracy when the model is a classifier, else fidelity to float32 — given a per-layer error
// report, and, when it breaks the accuracy budget, kept partly in float (mixed precision) until it fits.
import { readFileSync } from 'node:fs';
import { basename, join, relative } from 'node:path';
import { gzipSync } from 'node:zlib';
import * as ort from 'onnxruntime-node';
import type { CompressConfig } from '../config.ts';
import type { Datasets, Split } from '../data/dataset.ts';
import { EdgeDistillError } from '../errors.ts';
import { concatBytes, f32Bytes, sha256, writeAtomic } from '../util/fsutil.ts';
import type { Progress } from '../util/progress.ts';
import type { ArtifactResult, LayerError, SourceModel } from '../report/types.ts';
import { minMax, percentileRange } from '../../exporters/calibrate.ts';
import { calibrationTensors, decodeOnnxModel, quantizeAnyOnnx, quantTargets, withOutputs, type QuantTarget } from '../../exporters/onnx-any-quantize.ts';
import type { ActivationRange, QuantMode } from '../../exporters/quantize-mode.ts';
import { quantVariant } from './compress.ts';

type Model = ReturnType<typeof decodeOnnxModel>;

/** A foreign model opened and checked against the data: what every later step reads. */
export interface ForeignModel {
  path: string;
  bytes: Uint8Array;
  model: Model;
  input: string;
  /** Per-example input dims (after the batch). */
  exampleShape: number[];
  /** A fixed batch size the model demands, or null for a dynamic batch dimension. */
  fixedBatch: number | null;
  outputs: string[];
  /** The output read as class scores, or null (then variants are judged by fidelity to float32). */
  classOutput: string | null;
  /** Classes of the class output (its last dim), or null. */
  classes: number | null;
  targets: QuantTarget[];
}

const dimsOf = (v: { type?: { tensorType?: { shape?: { dim?: { dimValue?: unknown; dimParam?: string | null }[] | null } | null; elemType?: number | null } | null } | null }) =>
  (v.type?.tensorType?.shape?.dim ?? []).map((d) => (d.dimValue !== undefined && d.dimValue !== null && Number(String(d.dimValue)) > 0 ? Number(String(d.dimValue)) : null));

/**
 * Opens `path` and decides how it is judged: `classOutput` names the class scores, else the one 2-D output when there
 * is exactly one. Every problem is a coded error before anything is computed.
 */
export function openForeignModel(path: string, classOutput: string | undefined): ForeignModel {
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new EdgeDistillError('E_MODEL_FORMAT', `cannot read the model ${path} (${code === 'EISDIR' ? 'a folder, not a file' : code ?? (err as Error).message})`, 'Pass the path of an .onnx file.', { cause: err });
  }
  const model = decodeOnnxModel(bytes, path);
  const g = model.graph!;
  const initNames = new Set((g.initializer ?? []).map((t) => t.name ?? ''));
  const inputs = (g.input ?? []).filter((i) => !initNames.has(i.name ?? ''));
  if (inputs.length !== 1 || inputs[0]!.type?.tensorType?.elemType !== 1) {
    throw new EdgeDistillError('E_MODEL_FORMAT', `${path} has ${inputs.length} inputs (${inputs.map((i) => i.name).join(', ')}); quantize judges models with one float32 input`, 'Export the model with a single float32 input.');
  }
  const dims = dimsOf(inputs[0]!);
  if (!dims.length || dims.slice(1).some((d) => d === null)) {
    throw new EdgeDistillError('E_MODEL_FORMAT', `${path}'s input ${inputs[0]!.name} has shape [${dims.map((d) => d ?? '?').join(', ')}]; only its first (batch) dimension may be dynamic`, 'Export the model with fixed per-example dimensions.');
  }
  const outputs = (g.output ?? []).map((o) => o.name ?? '');
  const twoD = (g.output ?? []).filter((o) => dimsOf(o).length === 2).map((o) => o.name ?? '');
  let cls: string | null = null;
  if (classOutput !== undefined) {
    if (!outputs.includes(classOutput)) throw new EdgeDistillError('E_CONFIG', `compress.classOutput ${JSON.stringify(classOutput)} is not an output of ${path}`, `Use one of: ${outputs.join(', ')}.`);
    cls = classOutput;
  } else if (twoD.length === 1) cls = twoD[0]!;
  const classDims = cls ? dimsOf((g.output ?? []).find((o) => o.name === cls)!) : null;
  const classes = classDims ? classDims.at(-1) ?? null : null;
  return { path, bytes, model, input: inputs[0]!.name!, exampleShape: dims.slice(1) as number[], fixedBatch: dims[0], outputs, classOutput: cls, classes, targets: quantTargets(model) };
}

/** The data must fit the model: as many features per example as its input takes. */
export function checkForeignData(m: ForeignModel, data: Pick<Datasets, 'test'>, what = 'the data'): void {
  const per = m.exampleShape.reduce((a, b) => a * b, 1);
  if (per !== data.test.features) {
    throw new EdgeDistillError('E_SHAPE_MISMATCH', `${m.path} takes ${per} values per example ([${m.exampleShape.join(', ')}]) but ${what} has ${data.test.features} features`, 'Point data at examples the model was trained on (and the same preprocess).');
  }
  if (m.classOutput && m.classes !== null && data.test.labels && m.classes < 2) {
    throw new EdgeDistillError('E_MODEL_FORMAT', `${m.path}'s class output ${m.classOutput} has ${m.classes} column(s)`, 'Name the class-score output with compress.classOutput.');
  }
}

/** Runs a model over `n` rows of a split, returning the named outputs (float32, row-major). */
export async function runOnnx(bytes: Uint8Array, m: ForeignModel, split: Split, n: number, names: readonly string[]): Promise<Map<string, Float32Array>> {
  const session = await ort.InferenceSession.create(bytes, { executionProviders: ['cpu'], graphOptimizationLevel: 'all' });
  try {
    const per = m.exampleShape.reduce((a, b) => a * b, 1);
    const batch = m.fixedBatch ?? 256;
    const parts = new Map<string, Float32Array[]>(names.map((k) => [k, []]));
    for (let at = 0; at < n; at += batch) {
      const rows = Math.min(batch, n - at);
      const x = new Float32Array(batch === rows || !m.fixedBatch ? rows * per : batch * per);
      x.set(split.x.read(at, rows));
      const b = m.fixedBatch ?? rows;
      const out = await session.run({ [m.input]: new ort.Tensor('float32', x, [b, ...m.exampleShape]) }, [...names]);
      for (const k of names) {
        const d = out[k]!.data as Float32Array;
        const width = d.length / b;
        parts.get(k)!.push(d.slice(0, rows * width));
      }
    }
    return new Map([...parts].map(([k, ps]) => [k, new Float32Array(concatBytes(ps.map(f32Bytes)).buffer)]));
  } finally {
    await session.release();
  }
}

/** What a variant is judged by: accuracy against the labels, or fidelity to the float32 model's outputs. */
interface Judge {
  /** The test rows used. */
  n: number;
  reference: Map<string, Float32Array>;
  labels: Int32Array | null;
}

function score(m: ForeignModel, j: Judge, out: Map<string, Float32Array>): { accuracy: number; fidelity: NonNullable<ArtifactResult['fidelity']> } {
  let sqnr = Infinity;
  let maxAbs = 0;
  for (const k of m.outputs) {
    const r = j.reference.get(k)!;
    const q = out.get(k)!;
    sqnr = Math.min(sqnr, sqnrDb(r, q));
    for (let i = 0; i < r.length; i++) maxAbs = Math.max(maxAbs, Math.abs(r[i]! - q[i]!));
  }
  const k = m.classOutput ?? m.outputs[0]!;
  const [r, q] = [j.reference.get(k)!, out.get(k)!];
  const width = r.length / j.n;
  let agree = 0;
  let correct = 0;
  for (let i = 0; i < j.n; i++) {
    const pq = argmax(q, i * width, width);
    if (argmax(r, i * width, width) === pq) agree++;
    if (j.labels && pq === j.labels[i]) correct++;
  }
  const accuracy = m.classOutput && j.labels ? correct / j.n : agree / j.n;
  return { accuracy, fidelity: { sqnrDb: sqnr, maxAbsError: maxAbs, agreement: agree / j.n } };
}

/** Signal-to-quantization-noise ratio in dB: 10·log10(Σ r² / Σ (r − q)²); Infinity when identical. */
export function sqnrDb(r: Float32Array, q: Float32Array): number {
  let s = 0;
  let e = 0;
  for (let i = 0; i < r.length; i++) {
    s += r[i]! * r[i]!;
    e += (r[i]! - q[i]!) ** 2;
  }
  return e === 0 ? Infinity : 10 * Math.log10(s / e);
}

interface ForeignOptions {
  staging: string;
  progress: Progress;
  /** What static quantization calibrates on: compress.calibration's rows, else the train split. */
  calibration: Split;
}

/** The float32 model and every configured variant, written under artifacts/<stem>/ and judged. */
export async function quantizeForeign(m: ForeignModel, c: CompressConfig, data: Datasets, opts: ForeignOptions): Promise<{ source: SourceModel; artifacts: ArtifactResult[] }> {
  const stem = basename(m.path).replace(/\.onnx$/i, '') || 'model';
  const dir = join(opts.staging, 'artifacts', stem);
  const labels = m.classOutput && data.test.labels ? data.test.labels : null;
  const judge: Judge = { n: data.test.n, reference: await runOnnx(m.bytes, m, data.test, data.test.n, m.outputs), labels };
  const fp32 = score(m, judge, judge.reference);
  const base = fp32.accuracy;
  const sourceSha256 = sha256(m.bytes);
  const judged = labels ? 'accuracy' : 'fidelity';
  opts.progress.note(`${m.path}: ${m.targets.length} quantizable node(s) (${[...new Set(m.targets.map((t) => t.op))].join(', ') || 'none'}); judged by ${judged === 'accuracy' ? `test accuracy of ${m.classOutput} (float32 ${(base * 100).toFixed(2)} %)` : 'fidelity to float32 (agreement of the first output\'s argmax, SQNR, max abs error)'}`);
  const artifacts: ArtifactResult[] = [];
  const write = (variant: string, bytes: Uint8Array, extra: Partial<ArtifactResult>, s: ReturnType<typeof score>): ArtifactResult => {
    const sub = join(dir, variant === 'fp32' ? 'onnx' : `onnx-${variant}`);
    const file = join(sub, 'model.onnx');
    writeAtomic(file, bytes);
    const name = variant === 'fp32' ? `${stem}.onnx` : `${stem}.${variant}.onnx`;
    const deploy = { name, format: 'onnx', variant, model: 'model.onnx', source: { path: m.path, sha256: sourceSha256 }, input: { name: m.input, shape: ['batch', ...m.exampleShape] }, outputs: m.outputs, classOutput: m.classOutput };
    writeAtomic(join(sub, 'deploy.json'), JSON.stringify(deploy, null, 2) + '\n');
    const drop = (base - s.accuracy) * 100;
    return {
      name, method: stem, variant, format: 'onnx', path: relative(opts.staging, file), deploy: relative(opts.staging, join(sub, 'deploy.json')),
      bytes: bytes.length, gzipBytes: gzipSync(bytes).length, sha256: sha256(bytes), accuracy: s.accuracy, accuracyDrop: Math.abs(drop) < 1e-9 ? 0 : drop, accuracyRuntime: 'onnxruntime-node',
      parity: [{ runtime: 'onnxruntime-node', examples: judge.n, maxAbsDiff: s.fidelity.maxAbsError, agreement: s.fidelity.agreement }], rejected: null, fidelity: s.fidelity, ...extra,
    };
  };
  artifacts.push(write('fp32', m.bytes, {}, fp32));
  // Computed once, for every int8 form's per-layer report.
  let reference: LayerReference | null = null;
  const calibrationRanges = new Map<string, Map<string, ActivationRange>>();
  for (const mode of c.onnx) {
    const variant = quantVariant(mode);
    let ranges: Map<string, ActivationRange> | undefined;
    if (mode.kind === 'static') {
      const key = `${mode.calibration}:${mode.percentile}`;
      if (!calibrationRanges.has(key)) {
        const n = Math.min(c.calibrationExamples, opts.calibration.n);
        opts.progress.note(`${variant}: calibrating ${calibrationTensors(m.targets).length} activation ranges (${mode.calibration}) on ${n} rows of ${c.calibration ? 'compress.calibration' : 'the train split'}`);
        calibrationRanges.set(key, await calibrateForeign(m, opts.calibration, n, mode.calibration, mode.percentile));
      }
      ranges = calibrationRanges.get(key);
    }
    const build = (o: { keepFloat?: Set<string>; only?: Set<string>; exposeOutputs?: string[] }) => quantizeAnyOnnx(m.model, mode as QuantMode, { ...(ranges ? { ranges } : {}), ...o });
    const evaluate = async (bytes: Uint8Array) => score(m, judge, await runOnnx(bytes, m, data.test, judge.n, m.outputs));
    let bytes = build({});
    let s = await evaluate(bytes);
    if (mode.kind !== 'float16') reference ??= await layerReference(m, data.test, Math.min(1000, data.test.n));
    const layers = mode.kind === 'float16' ? [] : await layerErrors(m, build, data.test, reference!);
    // Mixed precision: while over budget, the worst remaining layer (by its own error) goes back to float32.
    const keptFloat: string[] = [];
    for (const l of layers) {
      if ((base - s.accuracy) * 100 <= c.maxAccuracyDrop) break;
      keptFloat.push(l.node);
      bytes = build({ keepFloat: new Set(keptFloat) });
      s = await evaluate(bytes);
      opts.progress.note(`${stem}.${variant}: ${l.node} kept in float32 (its SQNR ${l.sqnrDb.toFixed(1)} dB): ${judged} ${(s.accuracy * 100).toFixed(2)} %`);
    }
    const drop = (base - s.accuracy) * 100;
    const rejected = drop > c.maxAccuracyDrop ? `${judged} drop ${drop.toFixed(2)} points > ${c.maxAccuracyDrop}${keptFloat.length ? ` with ${keptFloat.length} of ${layers.length} layers kept in float32` : ''}` : null;
    const a = write(variant, bytes, { rejected, ...(layers.length ? { layers } : {}), ...(keptFloat.length ? { keptFloat } : {}) }, s);
    artifacts.push(a);
    opts.progress.note(`${a.name}: ${a.bytes} bytes, ${judged} ${(a.accuracy * 100).toFixed(2)} % (drop ${a.accuracyDrop.toFixed(2)}), SQNR ${a.fidelity!.sqnrDb.toFixed(1)} dB${keptFloat.length ? `, ${keptFloat.join(', ')} in float32` : ''}${rejected ? ` — REJECTED: ${rejected}` : ''}`);
  }
  const source: SourceModel = {
    path: m.path, sha256: sourceSha256, bytes: m.bytes.length, input: m.input, exampleShape: m.exampleShape, outputs: m.outputs, classOutput: m.classOutput,
    judged, accuracy: base, quantizable: m.targets.map((t) => ({ node: t.id, op: t.op, weightElements: t.weightElements })),
  };
  return { source, artifacts };
}

/** The float32 model's output of every quantizable node on the first `n` test rows: what each layer's error is measured against. */
interface LayerReference {
  n: number;
  outputs: Map<string, Float32Array>;
}

async function layerReference(m: ForeignModel, split: Split, n: number): Promise<LayerReference> {
  const outs = [...new Set(m.targets.map((t) => t.output))];
  return { n, outputs: await runOnnx(withOutputs(m.model, outs), m, split, n, outs) };
}

/**
 * Each quantized node's own error: the model with only that node quantized (its inputs are the float32 model's),
 * its output compared with the float32 model's on `n` test rows. Worst (lowest SQNR) first.
 */
async function layerErrors(m: ForeignModel, build: (o: { only: Set<string>; exposeOutputs: string[] }) => Uint8Array, split: Split, ref: LayerReference): Promise<LayerError[]> {
  const n = ref.n;
  const rows: LayerError[] = [];
  for (const t of m.targets) {
    const q = await runOnnx(build({ only: new Set([t.id]), exposeOutputs: [t.output] }), m, split, n, [t.output]);
    const [r, v] = [ref.outputs.get(t.output)!, q.get(t.output)!];
    let maxAbs = 0;
    for (let i = 0; i < r.length; i++) maxAbs = Math.max(maxAbs, Math.abs(r[i]! - v[i]!));
    rows.push({ node: t.id, op: t.op, output: t.output, sqnrDb: sqnrDb(r, v), maxAbsError: maxAbs, floatBytes: t.weightElements * 4 });
  }
  return rows.sort((a, b) => a.sqnrDb - b.sqnrDb);
}

/** Static ranges of every tensor the static form quantizes, from the float32 model on `n` training rows. */
async function calibrateForeign(m: ForeignModel, split: Split, n: number, method: 'minmax' | 'percentile', percentile: number): Promise<Map<string, ActivationRange>> {
  const names = calibrationTensors(m.targets);
  const out = await runOnnx(withOutputs(m.model, names), m, split, n, names);
  return new Map(names.map((k) => [k, method === 'minmax' ? minMax(out.get(k)!) : percentileRange(out.get(k)!, percentile)]));
}

function argmax(v: Float32Array, at: number, width: number): number {
  let best = 0;
  for (let c = 1; c < width; c++) if (v[at + c]! > v[at + best]!) best = c;
  return best;
}
