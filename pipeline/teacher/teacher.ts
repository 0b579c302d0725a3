// The teacher: an ONNX model run with onnxruntime-node in batches. Owns role detection (which input, which
// output is the embedding and which the logits), the input-shape check, and the on-disk cache of its outputs.
import '../../runtimes/ort-telemetry.ts';
import * as ort from 'onnxruntime-node';
import { closeSync, existsSync, fstatSync, openSync, readFileSync, readSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { TeacherConfig } from './schema.ts';
import { EdgeDistillError, oneOf } from '../errors.ts';
import { atomicFile, f32Bytes, sha256, writeAllAt } from '../util/fsutil.ts';
import { asRows, FileRows, hashRows, MemoryRows, type Rows } from '../data/rows.ts';
import type { Progress } from '../util/progress.ts';
import type { Split } from '../data/dataset.ts';
import { featurizeMany } from '../text/featurizer.js';
import { readPrecomputed, type PrecomputedOutputs, type PrecomputedTeacherConfig } from './precomputed.ts';

export interface Teacher {
  path: string;
  sha256: string;
  input: string;
  /** Per-example input shape (batch dimension removed); symbolic dims are null. */
  inputShape: (number | null)[];
  embedding: string;
  logits: string;
  classes: number;
  embeddingDim: number;
  /** Human-readable notes on what was detected rather than configured. */
  detected: string[];
  /** The ONNX session; null for precomputed outputs. */
  session: ort.InferenceSession | null;
  /** Outputs computed elsewhere, matched to data rows by id (teacher.precomputed); null for an ONNX teacher. */
  precomputed: PrecomputedOutputs | null;
  batchSize: number;
}

export interface TeacherOutputs {
  logits: Float32Array; // [n, C]
  /** [n, D]: in memory, or read from the cache file when the data is streamed (see runTeacher). */
  embedding: Rows;
}

type Dim = number | string;
function dimsOf(meta: ort.InferenceSession.ValueMetadata): Dim[] | null {
  return meta.isTensor ? (meta.shape as Dim[]) : null;
}
const lastDim = (d: Dim[] | null) => (d && d.length === 2 && typeof d[1] === 'number' ? d[1] : null);

export async function openTeacher(cfg: TeacherConfig): Promise<Teacher> {
  // Shards are this model's own outputs computed elsewhere: the model is opened as usual, the pass reads them.
  const pre = cfg.precomputed;
  if (pre && pre.format !== 'shards') return openPrecomputed({ ...pre, format: pre.format }, cfg.batchSize);
  if (!cfg.model) {
    throw new EdgeDistillError('E_CONFIG', 'the config names no teacher: teacher.model and teacher.precomputed are both missing', 'Set teacher.model to an ONNX file (or train one with `edge-distill teacher train`), or give teacher.precomputed outputs.');
  }
  if (!existsSync(cfg.model)) {
    throw new EdgeDistillError('E_FILE_NOT_FOUND', `teacher model ${cfg.model} does not exist`, 'Check the teacher path: teacher.model in a config resolves against the config file\'s folder, --teacher against the working directory.');
  }
  if (statSync(cfg.model).isDirectory()) {
    throw new EdgeDistillError('E_MODEL_FORMAT', `teacher model ${cfg.model} is a folder, not a file`, 'Point teacher.model (or --teacher) at the .onnx file itself.');
  }
  const bytes = readFileSync(cfg.model);
  let session: ort.InferenceSession;
  try {
    session = await ort.InferenceSession.create(bytes, { executionProviders: ['cpu'], intraOpNumThreads: cfg.threads, interOpNumThreads: 1 });
  } catch (err) {
    throw new EdgeDistillError('E_MODEL_FORMAT', `teacher model ${cfg.model} is not a loadable ONNX model (${(err as Error).message.split('\n')[0]})`, 'Export the teacher to ONNX again (e.g. torch.onnx.export) and check it with onnx.checker.');
  }
  const detected: string[] = [];
  const named = (kind: string, name: string, names: readonly string[]) => {
    if (!names.includes(name)) {
      throw new EdgeDistillError('E_TEACHER_OUTPUT', `teacher ${kind} ${JSON.stringify(name)} is not in the model; it has ${oneOf(names)}`, `Set teacher.${kind} to one of those names.`);
    }
    return name;
  };
  let input: string;
  if (cfg.input) input = named('input', cfg.input, session.inputNames);
  else if (session.inputNames.length === 1) {
    input = session.inputNames[0]!;
    detected.push(`input "${input}" (the model's only input)`);
  } else {
    throw new EdgeDistillError('E_TEACHER_OUTPUT', `the teacher has ${session.inputNames.length} inputs (${oneOf(session.inputNames)}) and teacher.input is not set`, 'Name the image/feature input in teacher.input.');
  }
  const outDims = new Map(session.outputNames.map((n, i) => [n, dimsOf(session.outputMetadata[i]!)]));
  let { embedding, logits } = cfg;
  if (embedding) named('embedding', embedding, session.outputNames);
  if (logits) named('logits', logits, session.outputNames);
  if (!embedding || !logits) {
    const rest = session.outputNames.filter((n) => n !== embedding && n !== logits);
    const ok = session.outputNames.length === 2 && rest.every((n) => lastDim(outDims.get(n)!) !== null);
    const [a, b] = session.outputNames;
    const da = lastDim(outDims.get(a!) ?? null);
    const db = lastDim(outDims.get(b!) ?? null);
    if (!ok || da === null || db === null || da === db) {
      throw new EdgeDistillError(
        'E_TEACHER_OUTPUT',
        `cannot tell the teacher's embedding and logits outputs apart (outputs: ${session.outputNames.map((n) => `${n} ${JSON.stringify(outDims.get(n))}`).join(', ')})`,
        'Set teacher.embedding and teacher.logits to output names.',
      );
    }
    const [small, large] = da < db ? [a!, b!] : [b!, a!];
    logits ??= small === embedding ? large : small;
    embedding ??= logits === small ? large : small;
    detected.push(`logits "${logits}" and embedding "${embedding}" (by their widths)`);
  }
  const inDims = dimsOf(session.inputMetadata[session.inputNames.indexOf(input)]!) ?? [];
  const inputShape = inDims.slice(1).map((d) => (typeof d === 'number' ? d : null));
  const classes = lastDim(outDims.get(logits)!) ?? 0;
  const embeddingDim = lastDim(outDims.get(embedding)!) ?? 0;
  return { path: cfg.model, sha256: sha256(bytes), input, inputShape, embedding, logits, classes, embeddingDim, detected, session, precomputed: null, batchSize: cfg.batchSize };
}

async function openPrecomputed(cfg: PrecomputedTeacherConfig, batchSize: number): Promise<Teacher> {
  const outputs = await readPrecomputed(cfg);
  const path = cfg.path ?? cfg.logits ?? '(precomputed)';
  return {
    path, sha256: outputs.sha256, input: '(precomputed)', inputShape: [], embedding: outputs.embedding ? 'embedding' : '(none)', logits: 'logits',
    classes: outputs.classes, embeddingDim: outputs.embeddingDim, session: null, precomputed: outputs, batchSize,
    detected: [`${outputs.ids.length} precomputed teacher outputs (${outputs.classes} classes${outputs.embedding ? `, ${outputs.embeddingDim}-d embedding` : ', no embedding'}) matched to the data by id`],
  };
}

/** Reshape target for one example; throws E_SHAPE_MISMATCH when the data cannot feed the teacher's input. */
export function teacherInputShape(t: Teacher, featureShape: number[], features: number): number[] {
  const known = t.inputShape.every((d) => d !== null);
  const want = known ? (t.inputShape as number[]) : featureShape;
  const size = want.reduce((a, b) => a * b, 1);
  // With unknown dims the data's shape is fed as is, so it must have the input's rank and agree on the known dims
  // (onnxruntime reports a negative declared dim as unknown too); otherwise the session rejects it mid-run.
  const fits = known || (featureShape.length === t.inputShape.length && t.inputShape.every((d, i) => d === null || d === featureShape[i]));
  if (size !== features || !fits) {
    throw new EdgeDistillError(
      'E_SHAPE_MISMATCH',
      `data examples have shape [${featureShape}] (${features} values) but the teacher input "${t.input}" takes [${t.inputShape.map((d) => d ?? '?')}]${known ? ` (${size} values)` : ''}`,
      'Use data that matches the teacher, or the teacher that was trained on this data.',
    );
  }
  return want;
}

/**
 * What the teacher sees of a split: the student's input; for images, its own rows (teacher.image, NCHW by default);
 * for text with its own featurizer, that featurization.
 */
export function teacherInput(cfg: TeacherConfig, s: Split): { x: Rows; featureShape: number[] } {
  const featureShape = teacherFeatureShape(cfg, s);
  if (s.teacher) return { x: s.teacher.x, featureShape };
  if (!cfg.featurizer) return { x: s.x, featureShape };
  return { x: new MemoryRows(featurizeMany(s.texts!, cfg.featurizer), s.n, cfg.featurizer.buckets), featureShape };
}

/** The per-example shape teacherInput gives, without featurizing anything (for checking the teacher up front). */
export function teacherFeatureShape(cfg: TeacherConfig, s: Split): number[] {
  if (cfg.image && !s.image) throw new EdgeDistillError('E_CONFIG', 'teacher.image is set but the data is not images', 'Remove teacher.image, or use an image source ({"format": "images", "path": ...}).');
  if (s.teacher) return s.teacher.featureShape;
  const f = cfg.featurizer;
  if (!f) return s.featureShape;
  if (!s.texts) throw new EdgeDistillError('E_CONFIG', 'teacher.featurizer is set but the data is not text', 'Remove teacher.featurizer, or use a text source (text-csv, text-jsonl, spamassassin, sentiment).');
  return [f.buckets];
}

/**
 * Run the teacher over n examples in batches; results are cached on disk by model + data content hash. The rows are
 * read a block at a time and the outputs written to the cache file as they come. With `stream`, the embeddings are
 * then read from that file as needed (the logits, n x classes, are always in memory); otherwise they are in memory.
 */
export async function runTeacher(
  t: Teacher,
  input: Rows | Float32Array,
  n: number,
  opts: { featureShape: number[]; cacheDir: string; label: string; progress: Progress; stream?: boolean },
): Promise<TeacherOutputs & { cached: boolean }> {
  const x = asRows(input, n);
  const F = x.width;
  const shape = teacherInputShape(t, opts.featureShape, F);
  if (!t.session) throw new Error('runTeacher needs an ONNX teacher; precomputed outputs are matched by id instead');
  const cacheFile = teacherCacheFile(t, x, opts.cacheDir);
  const C = t.classes;
  const D = t.embeddingDim;
  const hit = readCache(cacheFile, n, C, D, opts.stream ?? false);
  if (hit) return { ...hit, cached: true };
  const step = opts.progress.step(`teacher pass (${opts.label})`, n);
  await writeTeacherCache(cacheFile, n, C, D, async (put) => {
    for await (const out of teacherBatches(t, x, shape, 0, n)) {
      put(out.from, out.logits, out.embedding);
      step.tick(out.count);
    }
  });
  step.done(`${n} examples`);
  return { ...readCache(cacheFile, n, C, D, opts.stream ?? false)!, cached: false };
}

/** Where the teacher's outputs on rows `x` are cached: keyed by the model, its roles and the rows' bytes. */
export function teacherCacheFile(t: Teacher, x: Rows, cacheDir: string): string {
  const key = sha256([t.sha256, t.input, t.logits, t.embedding, hashRows(x)].join(':'));
  return join(cacheDir, `teacher-${key.slice(0, 32)}.bin`);
}

/**
 * The teacher on rows [from, to) of `x`, a batch at a time. Batches start at multiples of the batch size counted from
 * row 0, whatever `from` is (a shard's range starts on such a multiple), so a row is always computed in the same batch
 * as in a single pass over all rows, and gets the same bytes.
 */
export async function* teacherBatches(t: Teacher, x: Rows, shape: number[], from: number, to: number): AsyncGenerator<{ from: number; count: number; logits: Float32Array; embedding: Float32Array }> {
  const session = t.session;
  if (!session) throw new Error('teacherBatches needs an ONNX teacher');
  for (let i = from; i < to; i += t.batchSize) {
    const b = Math.min(t.batchSize, to - i, x.n - i);
    const feeds = { [t.input]: new ort.Tensor('float32', x.read(i, b), [b, ...shape]) };
    const out = await session.run(feeds, [t.logits, t.embedding]);
    yield { from: i, count: b, logits: out[t.logits]!.data as Float32Array, embedding: out[t.embedding]!.data as Float32Array };
  }
}

/**
 * Writes a cache file atomically: `fill` hands over the outputs of rows starting at `from` in any order (logits are
 * gathered in memory, [n, C] floats; embeddings go straight to the file).
 */
export async function writeTeacherCache(cacheFile: string, n: number, C: number, D: number, fill: (put: (from: number, logits: Float32Array, embedding: Float32Array) => void) => Promise<void>): Promise<void> {
  const logits = new Float32Array(n * C);
  const file = atomicFile(cacheFile);
  try {
    writeAllAt(file.fd, cacheHeader(n, C, D), 0);
    await fill((from, l, e) => {
      logits.set(l, from * C);
      writeAllAt(file.fd, f32Bytes(e), 8 + (n * C + from * D) * 4);
    });
    writeAllAt(file.fd, f32Bytes(logits), 8);
    file.commit();
  } catch (err) {
    file.abort();
    throw err;
  }
}

/** Reads a cache file written by writeTeacherCache (null when absent or not of this shape). */
export function readTeacherCache(file: string, n: number, C: number, D: number, stream: boolean): TeacherOutputs | null {
  return readCache(file, n, C, D, stream);
}

// Cache file: 8-byte little-endian header (logits and embedding byte counts as uint32), then the logits [n, C], then
// the embeddings [n, D], all float32. (uint32 byte counts: a transfer set up to 4 GB of outputs per block.)
function cacheHeader(n: number, C: number, D: number): Uint8Array {
  const head = new Uint8Array(8);
  const dv = new DataView(head.buffer);
  dv.setUint32(0, n * C * 4, true);
  dv.setUint32(4, n * D * 4, true);
  return head;
}

function readCache(file: string, n: number, C: number, D: number, stream: boolean): TeacherOutputs | null {
  if (!existsSync(file)) return null;
  const fd = openSync(file, 'r');
  let keep = false;
  try {
    const head = new Uint8Array(8);
    readSync(fd, head, 0, 8, 0);
    const dv = new DataView(head.buffer);
    const lb = dv.getUint32(0, true);
    const eb = dv.getUint32(4, true);
    if (lb !== n * C * 4 || eb !== n * D * 4 || fstatSync(fd).size !== 8 + lb + eb) return null;
    const logits = new FileRows(fd, 8, n, C, false).read(0, n);
    const embedding = new FileRows(fd, 8 + lb, n, D, stream);
    if (stream) {
      keep = true;
      return { logits, embedding };
    }
    return { logits, embedding: new MemoryRows(embedding.read(0, n), n, D) };
  } finally {
    if (!keep) closeSync(fd);
  }
}
