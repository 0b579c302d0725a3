// The distill stage: one student per configured method, trained on the same transfer set and teacher outputs,
// evaluated in memory, and saved as a checkpoint (student.json + weights.bin) that `edge-distill export` reads.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Config, MethodConfig } from '../config.ts';
import type { Datasets } from '../data/dataset.ts';
import { EdgeDistillError } from '../errors.ts';
import { f32Bytes, sha256, writeAtomic } from '../util/fsutil.ts';
import { prepareMethod } from '../distill/losses.ts';
import type { Matrix } from 'ml-matrix';
import { runAuto } from '../distill/auto.ts';
import type { Progress } from '../util/progress.ts';
import type { StudentResult } from '../report/types.ts';
import type { LayerSpec, StudentSpec } from '../student/spec.ts';
import { buildStudent, parameterCount, toStudentSpec } from '../distill/architectures.ts';
import type { Teacher } from '../teacher/teacher.ts';
import { accuracy, predictInBlocks, predictProbs, trainStudent } from '../distill/train.ts';
import { checkpointFile, checkpointKey } from '../distill/train-checkpoint.ts';
import { forwardSpec } from '../../exporters/reference-forward.ts';
import { TOOL_VERSION } from '../util/versions.ts';
import type { Rows } from '../data/rows.ts';

export interface TrainedStudent {
  /** Unique name within the run (the method name, suffixed when a method appears twice). */
  name: string;
  spec: StudentSpec;
  /** Class probabilities [n, C] from the in-memory student: the reference for exported artifacts. */
  predict(x: Rows | Float32Array, n: number): Float32Array;
  result: StudentResult | null;
  /** The method it was distilled with (the chosen candidate for `auto`); null for checkpoints that predate it. */
  method: MethodConfig | null;
  /** Frees the in-memory model (candidates that `auto` does not keep). */
  dispose(): void;
}

/** Hash of what determines the students: data, teacher, student, methods, training, seed (not outputs or stages). */
export function configHash(cfg: Config): string {
  const { data, teacher, student, methods, train, seed } = cfg;
  return sha256(JSON.stringify({ data, teacher, student, methods, train, seed }));
}

/** The teacher's outputs on the transfer set plus what methods need to know about it. */
export interface TransferSet {
  logits: Float32Array;
  /** [n, embeddingDim]: in memory or in the teacher cache file (streamed data). */
  embedding: Rows;
  groups: Int32Array;
  teacher: Teacher;
  /** The teacher's final linear layer from its graph, or null (LELP then fits it by least squares). */
  head: Matrix | null;
}

/** The width of the layer before a student's output layer (where FitNet's map starts). */
function penultimateWidth(cfg: Config['student'], features: number): number {
  if (cfg.arch === 'mlp') return cfg.hidden.at(-1)!;
  if (cfg.dense.length) return cfg.dense.at(-1)!;
  throw new EdgeDistillError('E_CONFIG', 'a cnn student without dense layers has no penultimate layer for FitNet', `Give student.dense at least one size (${features} inputs).`);
}

/** Train and evaluate one student with one method. Used by every method, by `auto` and by benchmarks/quality. */
export async function trainOne(
  cfg: Config,
  m: MethodConfig,
  name: string,
  data: Datasets,
  t: TransferSet,
  opts: { progress: Progress; seed?: number; progressLabel?: string; checkpoints?: Checkpoints },
): Promise<TrainedStudent & { result: StudentResult }> {
  const seed = opts.seed ?? cfg.seed;
  const { train, validation, test } = data;
  const C = t.teacher.classes;
  const F = train.features;
  const studentHidden = m.name === 'fitnet' ? penultimateWidth(cfg.student, F) : 0;
  const prepared = prepareMethod(m, { n: train.n, classes: C, embeddingDim: t.teacher.embeddingDim, logits: t.logits, embedding: t.embedding, groups: t.groups, head: t.head, seed, studentHidden, spillDir: data.spillDir });
  const S = prepared.subclasses;
  const model = buildStudent(cfg.student, F, train.featureShape, C * S, seed);
  const labels = train.labels ?? t.groups;
  let checkpoint: { file: string; key: string } | undefined;
  if (opts.checkpoints) {
    // The teacher's outputs enter through the method's targets (and LELP's subclasses through the width).
    const key = checkpointKey({ method: m, name, label: opts.progressLabel ?? null, seed, student: cfg.student, train: cfg.train, featureShape: train.featureShape, teacher: t.teacher.sha256, subclasses: S, width: prepared.width }, [train.x, labels, prepared.targets ?? null]);
    checkpoint = { file: checkpointFile(opts.checkpoints.dir, key), key };
    opts.checkpoints.used.add(checkpoint.file);
  }
  let trainRes;
  try {
    trainRes = await trainStudent(model, { x: train.x, n: train.n, features: F, labels, classes: C }, prepared, cfg.train, { seed, progress: opts.progress, label: opts.progressLabel ?? name, checkpoint });
  } finally {
    prepared.targets?.close();
  }
  const predict = (x: Rows | Float32Array, n: number) => predictProbs(model, x, n, F, C, S);
  const acc = accuracy(predict(test.x, test.n), test.labels!, C);
  const valAcc = validation.labels ? accuracy(predict(validation.x, validation.n), validation.labels, C) : NaN;
  const spec = toStudentSpec(model, {
    features: F,
    featureShape: train.featureShape,
    arch: cfg.student,
    classes: C,
    subclasses: S,
    metadata: { 'edge-distill.method': name, 'edge-distill.version': TOOL_VERSION, 'edge-distill.config_sha256': configHash(cfg) },
  });
  const result: StudentResult = { method: name, accuracy: acc, validationAccuracy: valAcc, parameters: parameterCount(spec), subclasses: S, trainMs: Math.round(trainRes.ms), steps: trainRes.steps, finalLoss: trainRes.finalLoss, options: { ...(name !== m.name ? { method: m.name } : {}), ...prepared.notes } };
  return { name, spec, predict, result, method: m, dispose: () => model.dispose() };
}

/** Where training checkpoints go (the run's cache folder), and the files this run used (removed once it succeeds). */
export interface Checkpoints {
  dir: string;
  used: Set<string>;
}

export async function distillStudents(cfg: Config, data: Datasets, t: TransferSet, opts: { progress: Progress; staging: string; checkpoints?: Checkpoints }): Promise<TrainedStudent[]> {
  const seen = new Map<string, number>();
  const students: TrainedStudent[] = [];
  for (const m of cfg.methods) {
    const count = (seen.get(m.name) ?? 0) + 1;
    seen.set(m.name, count);
    const name = count === 1 ? m.name : `${m.name}-${count}`;
    const s = m.name === 'auto' ? await runAuto(cfg, m, name, data, t, opts) : await trainOne(cfg, m, name, data, t, opts);
    opts.progress.note(`${name}: test accuracy ${(s.result.accuracy * 100).toFixed(2)} %, validation ${(s.result.validationAccuracy * 100).toFixed(2)} %`);
    writeCheckpoint(join(opts.staging, 'students', name), s.spec, s.result, s.method);
    students.push(s);
  }
  return students;
}

// A checkpoint is the StudentSpec as JSON with every Float32Array replaced by a [offset, length] slice of weights.bin.
type Slice = { offset: number; length: number };

function writeCheckpoint(dir: string, spec: StudentSpec, result: StudentResult, method: MethodConfig | null): void {
  const chunks: Float32Array[] = [];
  let offset = 0;
  const slice = (a: Float32Array): Slice => {
    chunks.push(a);
    const s = { offset, length: a.length };
    offset += a.length;
    return s;
  };
  const layers = spec.layers.map((l) => (l.kind === 'dense' || l.kind === 'conv2d' ? { ...l, kernel: slice(l.kernel), bias: slice(l.bias) } : l));
  const weights = new Float32Array(offset);
  let o = 0;
  for (const c of chunks) {
    weights.set(c, o);
    o += c.length;
  }
  writeAtomic(join(dir, 'weights.bin'), f32Bytes(weights));
  writeAtomic(join(dir, 'student.json'), JSON.stringify({ format: 'edge-distill-student', version: 1, spec: { ...spec, layers }, result, method }, null, 2) + '\n');
}

/** A student's predict() from its weights alone: the float64 reference forward pass, a block of rows at a time. */
export function referencePredict(spec: StudentSpec): TrainedStudent['predict'] {
  return (x, n) => predictInBlocks(x, n, spec.features, spec.classes, (b, k) => forwardSpec(spec, b, k).probs);
}

export function loadStudentCheckpoint(dir: string): TrainedStudent {
  const file = join(dir, 'student.json');
  if (!existsSync(file)) {
    throw new EdgeDistillError('E_FILE_NOT_FOUND', `${file} does not exist`, 'Point --student at a folder written by `edge-distill distill` (out/students/<method>).');
  }
  let doc: { format: string; spec: StudentSpec & { layers: unknown[] }; result: StudentResult; method?: MethodConfig };
  try {
    doc = JSON.parse(readFileSync(file, 'utf8'));
    if (doc.format !== 'edge-distill-student') throw new Error(`format is ${JSON.stringify(doc.format)}`);
  } catch (err) {
    throw new EdgeDistillError('E_MODEL_FORMAT', `${file} is not an edge-distill student checkpoint (${(err as Error).message})`, 'Point --student at a folder written by `edge-distill distill`.');
  }
  const raw = readFileSync(join(dir, 'weights.bin'));
  const w = new Float32Array(raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.byteLength));
  const take = (s: Slice) => {
    if (s.offset + s.length > w.length) throw new EdgeDistillError('E_MODEL_FORMAT', `${dir}/weights.bin is shorter than student.json says`, 'Re-run `edge-distill distill`.');
    return w.slice(s.offset, s.offset + s.length);
  };
  const layers = (doc.spec.layers as (LayerSpec & { kernel?: Slice; bias?: Slice })[]).map((l) =>
    l.kind === 'dense' || l.kind === 'conv2d' ? { ...l, kernel: take(l.kernel as unknown as Slice), bias: take(l.bias as unknown as Slice) } : l,
  ) as LayerSpec[];
  const spec: StudentSpec = { ...doc.spec, layers };
  return { name: doc.result.method, spec, predict: referencePredict(spec), result: null, method: doc.method ?? null, dispose: () => {} };
}
